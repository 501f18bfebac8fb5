//! `FakeNic`: an in-memory [`NicBackend`] that answers the contract's register blocks the way the
//! NIC does, for driver and daemon tests.
//!
//! What it models:
//! * the block chain (`TYPE`/`VERSION`/`NEXT`) at the contract's bases, optionally without one
//!   block (to test discovery errors);
//! * the ID block values (configurable), the table block (staging words + `CMD` write, landing
//!   in [`FakeNic::table_words`]; `CMD_READ` with the bucket's activity record in `ACT0..`,
//!   `NOW`), the counters block;
//! * the queue engine's EXQ and TXQ registers over DMA buffers from [`NicBackend::dma_alloc`].
//!
//! The test hooks stand in for the network side: [`FakeNic::inject_exception`] is a frame the
//! core sent to the host, [`FakeNic::record_activity`] a frame it forwarded through an entry,
//! [`FakeNic::take_tx`] is the queue engine draining the TX ring (the fake
//! only drains when asked, so tests can fill the ring).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use vsnic_contract::activity::{self, Activity, HitFlags};
use vsnic_contract::exception::NUM_REASONS;
use vsnic_contract::queue::{self, exc_desc, tx_desc};
use vsnic_contract::regs::{self, counters, exq, id, table, txq};
use vsnic_contract::{entry, get_bits, set_bits, Reason};

use super::{BackendError, DmaBuf, NicBackend};

/// Size of the register window (BAR0) the fake answers.
pub const BAR_BYTES: u32 = 0x1000;
/// IOVA of the first DMA buffer.
const IOVA_START: u64 = 0x1_0020_0000;

/// What the fake NIC reports about itself.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    pub design_id: u32,
    pub hw_version: u32,
    pub data_width: u32,
    pub table_index_bits: u32,
    pub num_ports: u32,
    /// Type ids of blocks left out of the chain.
    pub omit_blocks: Vec<u32>,
    /// The table block's version (older NICs: 1.1 reads entries back but keeps no activity).
    pub table_version: u32,
    /// log2 of the table's ways (`table::WAYS_LOG2`, read from minor `MINOR_WAYS` on). The
    /// fake defaults to a direct-mapped table, so tests can make collisions on purpose.
    pub table_ways_log2: u32,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            design_id: id::DESIGN_ID_VALUE,
            hw_version: id::HW_VERSION_VALUE,
            data_width: 64,
            table_index_bits: 12,
            num_ports: 2,
            omit_blocks: Vec::new(),
            table_version: table::VERSION,
            table_ways_log2: 0,
        }
    }
}

/// A frame the host queued on the TX ring, as the queue engine read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFrame {
    pub frame: Vec<u8>,
    /// The descriptor's `len` field.
    pub len: usize,
    pub port: u8,
    pub bypass: bool,
}

#[derive(Debug, Default, Clone, Copy)]
struct RingRegs {
    base: u64,
    size_log2: u32,
    head: u32,
    tail: u32,
}

impl RingRegs {
    fn slots(&self) -> u32 {
        1u32 << self.size_log2
    }
}

#[derive(Debug, Default)]
struct Counters {
    rx_frames: u32,
    tx_frames: u32,
    fastpath: u32,
    exc_frames: u32,
    exc_drop: u32,
    exc_reason: [u32; NUM_REASONS],
    /// Per port: rx, tx, exc, exc_drop (`counters::PORT_*`).
    port: [[u32; counters::PORT_REGS as usize]; counters::MAX_PORTS as usize],
}

struct State {
    cfg: FakeConfig,
    /// `(base, type_id, version, next)` of each block present in the chain.
    chain: Vec<(u32, u32, u32, u32)>,
    table: Vec<[u32; entry::WORDS]>,
    staging: [u32; entry::WORDS],
    /// Each bucket's activity record, and the `ACT` words of the last read command.
    activity: Vec<Activity>,
    act_staging: [u32; activity::WORDS],
    /// NIC time (`table::NOW`).
    now: u32,
    hash_key: vsnic_contract::hash::HashKey,
    counters: Counters,
    exq: RingRegs,
    exq_irq_en: u32,
    exq_ring_full_drops: u32,
    txq: RingRegs,
    txq_bad_desc: u32,
    dma: Vec<(u64, Vec<u8>)>,
    next_iova: u64,
}

/// The in-memory NIC. Share it as `Arc<FakeNic>`: one clone goes to the driver, the test keeps
/// the other for the hooks.
pub struct FakeNic {
    state: Mutex<State>,
    irq: Notify,
    irqs_raised: AtomicU64,
    closed: AtomicBool,
}

impl Default for FakeNic {
    fn default() -> Self {
        Self::new(FakeConfig::default())
    }
}

impl FakeNic {
    pub fn new(cfg: FakeConfig) -> FakeNic {
        // The fake is the NIC (core and queue engine), not a board: no board-top blocks.
        let present: Vec<_> = regs::BLOCKS
            .iter()
            .filter(|b| !b.implemented_by.starts_with("board"))
            .filter(|b| !cfg.omit_blocks.contains(&b.type_id))
            .collect();
        let chain = present
            .iter()
            .enumerate()
            .map(|(i, b)| {
                (
                    b.base,
                    b.type_id,
                    if b.type_id == table::TYPE_ID {
                        cfg.table_version
                    } else {
                        b.version
                    },
                    present.get(i + 1).map_or(0, |n| n.base),
                )
            })
            .collect();
        let buckets = 1usize << cfg.table_index_bits.min(16);
        FakeNic {
            state: Mutex::new(State {
                table: vec![[0; entry::WORDS]; buckets],
                activity: vec![Activity::default(); buckets],
                act_staging: [0; activity::WORDS],
                now: 0,
                cfg,
                chain,
                staging: [0; entry::WORDS],
                hash_key: vsnic_contract::hash::DEFAULT_KEY,
                counters: Counters::default(),
                exq: RingRegs::default(),
                exq_irq_en: 0,
                exq_ring_full_drops: 0,
                txq: RingRegs::default(),
                txq_bad_desc: 0,
                dma: Vec::new(),
                next_iova: IOVA_START,
            }),
            irq: Notify::new(),
            irqs_raised: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not make every other access fail.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The NIC carried a frame of `len` bytes with `flags` through `bucket`'s entry at its
    /// current time ([`FakeNic::set_now`]), as the core's activity stage counts it.
    pub fn record_activity(&self, bucket: u32, len: u32, flags: HitFlags) {
        let mut s = self.lock();
        let now = s.now;
        if let Some(a) = s.activity.get_mut(bucket as usize) {
            *a = a.record(len, flags, now);
        }
    }

    /// Set the NIC's time (`table::NOW`, units of 2^`activity::TICK_NS_LOG2` ns).
    pub fn set_now(&self, now: u32) {
        self.lock().now = now;
    }

    /// The activity record of `bucket`.
    pub fn activity(&self, bucket: u32) -> Activity {
        self.lock().activity[bucket as usize]
    }

    /// Deliver `frame` to the host as the queue engine would: descriptor and frame into slot
    /// `HEAD % size`, advance `HEAD`, raise the interrupt if enabled. Returns `false` (and counts
    /// the drop) when the ring is not set up, is full, or the frame does not fit a slot.
    pub fn inject_exception(
        &self,
        frame: &[u8],
        reason: Reason,
        src_port: u8,
        hit: bool,
        index: u32,
    ) -> bool {
        let raise = {
            let mut s = self.lock();
            s.counters.exc_frames = s.counters.exc_frames.wrapping_add(1);
            let r = &mut s.counters.exc_reason[reason as usize];
            *r = r.wrapping_add(1);
            let p = src_port as usize & (counters::MAX_PORTS as usize - 1);
            let ring = s.exq;
            if ring.base == 0 || frame.len() > queue::MAX_FRAME {
                s.counters.exc_drop = s.counters.exc_drop.wrapping_add(1);
                s.counters.port[p][3] = s.counters.port[p][3].wrapping_add(1);
                return false;
            }
            s.counters.port[p][2] = s.counters.port[p][2].wrapping_add(1);
            if ring.head.wrapping_sub(ring.tail) >= ring.slots() {
                s.exq_ring_full_drops = s.exq_ring_full_drops.wrapping_add(1);
                return false;
            }
            let mut d = [0u32; queue::DESC_BYTES / 4];
            set_bits(&mut d, exc_desc::LEN, frame.len() as u64);
            set_bits(&mut d, exc_desc::REASON, reason as u64);
            set_bits(&mut d, exc_desc::SRC_PORT, src_port as u64);
            set_bits(&mut d, exc_desc::HIT, hit as u64);
            set_bits(&mut d, exc_desc::ENTRY_INDEX, index as u64);
            let slot = (ring.head & (ring.slots() - 1)) as u64;
            let at = ring.base + slot * queue::SLOT_BYTES as u64;
            let ok = s.dma_slice(at, queue::SLOT_BYTES).map(|mem| {
                mem[..queue::DESC_BYTES].copy_from_slice(&queue::desc_to_bytes(&d));
                mem[queue::DESC_BYTES..queue::DESC_BYTES + frame.len()].copy_from_slice(frame);
            });
            if ok.is_none() {
                s.counters.exc_drop = s.counters.exc_drop.wrapping_add(1);
                return false;
            }
            s.exq.head = ring.head.wrapping_add(1);
            s.exq_irq_en & 1 == 1
        };
        if raise {
            self.irqs_raised.fetch_add(1, Ordering::Relaxed);
            self.irq.notify_one();
        }
        true
    }

    /// Drain the TX ring from `TAIL` to `HEAD` as the queue engine would. Descriptors with a bad
    /// length or port are skipped and counted in `BAD_DESC`.
    pub fn take_tx(&self) -> Vec<TxFrame> {
        let mut s = self.lock();
        let mut out = Vec::new();
        let ring = s.txq;
        if ring.base == 0 {
            return out;
        }
        let mut tail = ring.tail;
        while tail != ring.head {
            let slot = (tail & (ring.slots() - 1)) as u64;
            let at = ring.base + slot * queue::SLOT_BYTES as u64;
            let num_ports = s.cfg.num_ports;
            let parsed = s.dma_slice(at, queue::SLOT_BYTES).and_then(|mem| {
                let d = queue::desc_from_bytes(&mem[..queue::DESC_BYTES]);
                let len = get_bits(&d, tx_desc::LEN) as usize;
                let port = get_bits(&d, tx_desc::PORT) as u8;
                let bypass = get_bits(&d, tx_desc::BYPASS) == 1;
                if len == 0 || len > queue::MAX_FRAME || port as u32 >= num_ports {
                    return None;
                }
                let frame = mem[queue::DESC_BYTES..queue::DESC_BYTES + len].to_vec();
                Some(TxFrame {
                    frame,
                    len,
                    port,
                    bypass,
                })
            });
            match parsed {
                Some(f) => {
                    s.counters.rx_frames = s.counters.rx_frames.wrapping_add(1);
                    out.push(f)
                }
                None => s.txq_bad_desc = s.txq_bad_desc.wrapping_add(1),
            }
            tail = tail.wrapping_add(1);
        }
        s.txq.tail = tail;
        out
    }

    /// The flow hash key registers (test hook).
    pub fn hash_key(&self) -> vsnic_contract::hash::HashKey {
        self.lock().hash_key
    }

    /// The words of table bucket `index` (panics on an index outside the table: test hook).
    pub fn table_words(&self, index: u32) -> [u32; entry::WORDS] {
        self.lock().table[index as usize]
    }

    /// Buckets whose entry has the valid bit set.
    pub fn valid_buckets(&self) -> Vec<u32> {
        let s = self.lock();
        (0..s.table.len() as u32)
            .filter(|&i| get_bits(&s.table[i as usize], entry::VALID) == 1)
            .collect()
    }

    /// Set the EXQ's free-running indices (HEAD = TAIL = `v`), as after a long uptime.
    pub fn set_exq_indices(&self, v: u32) {
        let mut s = self.lock();
        s.exq.head = v;
        s.exq.tail = v;
    }

    /// Set the TXQ's free-running indices (HEAD = TAIL = `v`).
    pub fn set_txq_indices(&self, v: u32) {
        let mut s = self.lock();
        s.txq.head = v;
        s.txq.tail = v;
    }

    /// Set port `port`'s counters `[rx, tx, exc, exc_drop]` (what the core's fast path counts).
    pub fn set_port_counters(&self, port: u8, values: [u32; 4]) {
        self.lock().counters.port[port as usize & (counters::MAX_PORTS as usize - 1)] = values;
    }

    /// Set the core's fast-path counters (RX, TX, FASTPATH).
    pub fn set_core_counters(&self, rx: u32, tx: u32, fastpath: u32) {
        let mut s = self.lock();
        s.counters.rx_frames = rx;
        s.counters.tx_frames = tx;
        s.counters.fastpath = fastpath;
    }

    /// Number of interrupts raised so far.
    pub fn irqs_raised(&self) -> u64 {
        self.irqs_raised.load(Ordering::Relaxed)
    }

    /// Shut the backend down: pending and later `wait_irq` calls return [`BackendError::Closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.irq.notify_waiters();
        self.irq.notify_one();
    }

    fn check_open(&self) -> Result<(), BackendError> {
        if self.closed.load(Ordering::SeqCst) {
            Err(BackendError::Closed)
        } else {
            Ok(())
        }
    }
}

fn check_reg(off: u32) -> Result<(), BackendError> {
    if off & 3 != 0 || off >= BAR_BYTES {
        return Err(BackendError::Invalid(format!(
            "register offset {off:#x} outside BAR0 or unaligned"
        )));
    }
    Ok(())
}

impl State {
    /// The `len` bytes of DMA memory at `iova`, if one buffer holds all of them.
    fn dma_slice(&mut self, iova: u64, len: usize) -> Option<&mut [u8]> {
        self.dma.iter_mut().find_map(|(base, mem)| {
            let off = iova.checked_sub(*base)? as usize;
            mem.get_mut(off..off.checked_add(len)?)
        })
    }

    fn buf(&mut self, buf: &DmaBuf, off: usize, len: usize) -> Result<&mut [u8], BackendError> {
        let (base, mem) = self
            .dma
            .get_mut(buf.id)
            .ok_or_else(|| BackendError::Invalid(format!("no DMA buffer {}", buf.id)))?;
        if *base != buf.iova {
            return Err(BackendError::Invalid(format!(
                "DMA buffer {} has another IOVA",
                buf.id
            )));
        }
        let range = off..off.saturating_add(len);
        let total = mem.len();
        mem.get_mut(range).ok_or_else(|| {
            BackendError::Invalid(format!("DMA access {off}+{len} outside buffer of {total}"))
        })
    }

    fn read(&self, off: u32) -> u32 {
        for &(base, type_id, version, next) in &self.chain {
            let Some(rel) = off.checked_sub(base) else {
                continue;
            };
            if rel >= 0x100 {
                continue;
            }
            return match rel {
                regs::TYPE => type_id,
                regs::VERSION => version,
                regs::NEXT => next,
                _ => self.read_block(type_id, rel),
            };
        }
        0
    }

    fn read_block(&self, type_id: u32, rel: u32) -> u32 {
        let c = &self.counters;
        match (type_id, rel) {
            (id::TYPE_ID, id::DESIGN_ID) => self.cfg.design_id,
            (id::TYPE_ID, id::HW_VERSION) => self.cfg.hw_version,
            (id::TYPE_ID, id::DATA_WIDTH) => self.cfg.data_width,
            (id::TYPE_ID, id::TABLE_INDEX_BITS) => self.cfg.table_index_bits,
            (id::TYPE_ID, id::NUM_PORTS) => self.cfg.num_ports,
            (table::TYPE_ID, r)
                if (table::DATA0..table::DATA0 + 4 * entry::WORDS as u32).contains(&r) =>
            {
                self.staging[((r - table::DATA0) / 4) as usize]
            }
            (table::TYPE_ID, r) if (table::HASH_KEY0..table::HASH_KEY0 + 16).contains(&r) => {
                self.hash_key[((r - table::HASH_KEY0) / 4) as usize]
            }
            (table::TYPE_ID, r)
                if (table::ACT0..table::ACT0 + 4 * activity::WORDS as u32).contains(&r) =>
            {
                self.act_staging[((r - table::ACT0) / 4) as usize]
            }
            (table::TYPE_ID, table::NOW) => self.now,
            (table::TYPE_ID, table::WAYS_LOG2) => self.cfg.table_ways_log2,
            (counters::TYPE_ID, counters::RX_FRAMES) => c.rx_frames,
            (counters::TYPE_ID, counters::TX_FRAMES) => c.tx_frames,
            (counters::TYPE_ID, counters::FASTPATH) => c.fastpath,
            (counters::TYPE_ID, counters::EXC_FRAMES) => c.exc_frames,
            (counters::TYPE_ID, counters::EXC_DROP) => c.exc_drop,
            (counters::TYPE_ID, r)
                if (counters::PORT0..counters::port(counters::MAX_PORTS, 0)).contains(&r)
                    && (r - counters::PORT0) / counters::PORT_STRIDE < self.cfg.num_ports =>
            {
                let at = r - counters::PORT0;
                c.port[(at / counters::PORT_STRIDE) as usize]
                    [(at % counters::PORT_STRIDE / 4) as usize]
            }
            (counters::TYPE_ID, r)
                if (counters::EXC_REASON0..counters::EXC_REASON0 + 4 * NUM_REASONS as u32)
                    .contains(&r) =>
            {
                c.exc_reason[((r - counters::EXC_REASON0) / 4) as usize]
            }
            (exq::TYPE_ID, exq::BASE_LO) => self.exq.base as u32,
            (exq::TYPE_ID, exq::BASE_HI) => (self.exq.base >> 32) as u32,
            (exq::TYPE_ID, exq::SIZE_LOG2) => self.exq.size_log2,
            (exq::TYPE_ID, exq::HEAD) => self.exq.head,
            (exq::TYPE_ID, exq::TAIL) => self.exq.tail,
            (exq::TYPE_ID, exq::IRQ_EN) => self.exq_irq_en,
            (exq::TYPE_ID, exq::RING_FULL_DROPS) => self.exq_ring_full_drops,
            (txq::TYPE_ID, txq::BASE_LO) => self.txq.base as u32,
            (txq::TYPE_ID, txq::BASE_HI) => (self.txq.base >> 32) as u32,
            (txq::TYPE_ID, txq::SIZE_LOG2) => self.txq.size_log2,
            (txq::TYPE_ID, txq::HEAD) => self.txq.head,
            (txq::TYPE_ID, txq::TAIL) => self.txq.tail,
            (txq::TYPE_ID, txq::BAD_DESC) => self.txq_bad_desc,
            _ => 0,
        }
    }

    fn write(&mut self, off: u32, val: u32) {
        let Some(&(base, type_id, ..)) = self
            .chain
            .iter()
            .find(|(base, ..)| off.checked_sub(*base).is_some_and(|r| r < 0x100))
        else {
            return;
        };
        let rel = off - base;
        let lo = |b: u64| b & !0xFFFF_FFFF | val as u64;
        let hi = |b: u64| b & 0xFFFF_FFFF | (val as u64) << 32;
        match (type_id, rel) {
            (table::TYPE_ID, table::CMD) => {
                let index = (val & table::CMD_INDEX_MASK) as usize;
                if index < self.table.len() && val & table::CMD_WRITE != 0 {
                    self.table[index] = self.staging;
                } else if index < self.table.len() && val & table::CMD_READ != 0 {
                    self.staging = self.table[index];
                    self.act_staging = self.activity[index].to_words();
                }
            }
            (table::TYPE_ID, r)
                if (table::DATA0..table::DATA0 + 4 * entry::WORDS as u32).contains(&r) =>
            {
                self.staging[((r - table::DATA0) / 4) as usize] = val;
            }
            (table::TYPE_ID, r) if (table::HASH_KEY0..table::HASH_KEY0 + 16).contains(&r) => {
                self.hash_key[((r - table::HASH_KEY0) / 4) as usize] = val;
            }
            (exq::TYPE_ID, exq::BASE_LO) => self.exq.base = lo(self.exq.base),
            (exq::TYPE_ID, exq::BASE_HI) => self.exq.base = hi(self.exq.base),
            (exq::TYPE_ID, exq::SIZE_LOG2) => {
                self.exq.size_log2 = val.min(16);
                self.exq.head = 0;
                self.exq.tail = 0;
            }
            (exq::TYPE_ID, exq::TAIL) => self.exq.tail = val,
            (exq::TYPE_ID, exq::IRQ_EN) => self.exq_irq_en = val & 1,
            (txq::TYPE_ID, txq::BASE_LO) => self.txq.base = lo(self.txq.base),
            (txq::TYPE_ID, txq::BASE_HI) => self.txq.base = hi(self.txq.base),
            (txq::TYPE_ID, txq::SIZE_LOG2) => {
                self.txq.size_log2 = val.min(16);
                self.txq.head = 0;
                self.txq.tail = 0;
            }
            (txq::TYPE_ID, txq::HEAD) => self.txq.head = val,
            _ => {} // read-only or unimplemented: ignored, as by the hardware
        }
    }
}

impl NicBackend for FakeNic {
    fn read32(&self, off: u32) -> Result<u32, BackendError> {
        self.check_open()?;
        check_reg(off)?;
        Ok(self.lock().read(off))
    }

    fn write32(&self, off: u32, val: u32) -> Result<(), BackendError> {
        self.check_open()?;
        check_reg(off)?;
        self.lock().write(off, val);
        Ok(())
    }

    fn write32_burst(&self, writes: &[(u32, u32)]) -> Result<(), BackendError> {
        self.transact(writes, &[], &mut [])
    }

    fn transact(
        &self,
        writes: &[(u32, u32)],
        reads: &[u32],
        out: &mut [u32],
    ) -> Result<(), BackendError> {
        self.check_open()?;
        let mut s = self.lock();
        for &(off, val) in writes {
            check_reg(off)?;
            s.write(off, val);
        }
        for (w, &off) in out.iter_mut().zip(reads) {
            check_reg(off)?;
            *w = s.read(off);
        }
        Ok(())
    }

    fn dma_alloc(&self, len: usize) -> Result<DmaBuf, BackendError> {
        self.check_open()?;
        if len == 0 || len > 64 << 20 {
            return Err(BackendError::Invalid(format!(
                "DMA allocation of {len} bytes"
            )));
        }
        let mut s = self.lock();
        let iova = s.next_iova;
        s.next_iova += (len as u64).div_ceil(4096) * 4096 + 4096; // a guard page between buffers
        s.dma.push((iova, vec![0; len]));
        Ok(DmaBuf {
            id: s.dma.len() - 1,
            iova,
            len,
        })
    }

    fn dma_read(&self, buf: &DmaBuf, off: usize, out: &mut [u8]) -> Result<(), BackendError> {
        self.check_open()?;
        out.copy_from_slice(self.lock().buf(buf, off, out.len())?);
        Ok(())
    }

    fn dma_write(&self, buf: &DmaBuf, off: usize, data: &[u8]) -> Result<(), BackendError> {
        self.check_open()?;
        self.lock().buf(buf, off, data.len())?.copy_from_slice(data);
        Ok(())
    }

    async fn wait_irq(&self) -> Result<(), BackendError> {
        self.check_open()?;
        self.irq.notified().await;
        self.check_open()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_skips_omitted_block() {
        let nic = FakeNic::new(FakeConfig {
            omit_blocks: vec![counters::TYPE_ID],
            ..Default::default()
        });
        let read = |a| nic.read32(a);
        assert_eq!(
            regs::find(read, counters::TYPE_ID, counters::VERSION).unwrap(),
            None
        );
        assert_eq!(
            regs::find(read, txq::TYPE_ID, txq::VERSION).unwrap(),
            Some(txq::BASE)
        );
        assert!(nic.read32(3).is_err());
        assert!(nic.read32(BAR_BYTES).is_err());
    }

    #[tokio::test]
    async fn irq_is_remembered_and_close_wakes() {
        let nic = FakeNic::default();
        let buf = nic.dma_alloc(queue::SLOT_BYTES * 2).unwrap();
        nic.write32(exq::BASE + exq::BASE_LO, buf.iova as u32)
            .unwrap();
        nic.write32(exq::BASE + exq::BASE_HI, (buf.iova >> 32) as u32)
            .unwrap();
        nic.write32(exq::BASE + exq::SIZE_LOG2, 1).unwrap();
        nic.write32(exq::BASE + exq::IRQ_EN, 1).unwrap();
        assert!(nic.inject_exception(&[1; 60], Reason::Miss, 0, false, 5));
        nic.wait_irq().await.unwrap();
        assert_eq!(nic.irqs_raised(), 1);
        assert!(nic.inject_exception(&[2; 60], Reason::Miss, 0, false, 5));
        assert!(
            !nic.inject_exception(&[3; 60], Reason::Miss, 0, false, 5),
            "ring of 2 is full"
        );
        assert_eq!(nic.read32(exq::BASE + exq::RING_FULL_DROPS).unwrap(), 1);
        nic.close();
        assert!(matches!(nic.wait_irq().await, Err(BackendError::Closed)));
    }
}
