//! The host queue engine: the exception queue (NIC → host) and the TX queue (host → NIC), with
//! the registers, ring layout and descriptors of [`vsnic_contract::queue`] and
//! [`vsnic_contract::regs`]. On hardware this is the DMA shell around the core; here it moves
//! bytes between the core's streams and [`HostMem`].

use crate::hostmem::HostMem;
use vsnic_contract::queue::{self, desc_from_bytes, desc_to_bytes, exc_desc, tx_desc};
use vsnic_contract::regs::{self, exq, txq};
use vsnic_contract::{get_bits, set_bits, stream};

/// Largest ring: 2^16 slots.
const MAX_SIZE_LOG2: u32 = 16;

#[derive(Debug, Default, Clone)]
struct Ring {
    base: u64,
    size_log2: u32,
    enabled: bool,
    head: u32,
    tail: u32,
}

impl Ring {
    fn size(&self) -> u32 {
        1 << self.size_log2
    }
    fn used(&self) -> u32 {
        self.head.wrapping_sub(self.tail)
    }
    fn slot_iova(&self, index: u32) -> u64 {
        self.base + (index & (self.size() - 1)) as u64 * queue::SLOT_BYTES as u64
    }
}

/// The queue engine's state and counters.
#[derive(Debug, Default)]
pub struct Engine {
    exq: Ring,
    txq: Ring,
    exq_irq_en: bool,
    /// Exceptions dropped because the ring was full or unconfigured when they completed.
    pub ring_full_drops: u32,
    /// TX descriptors skipped: bad length or port, or a DMA fault.
    pub bad_desc: u32,
    /// Interrupts raised (exception ring advanced with IRQ_EN set).
    pub irqs: u64,
    irq_pending: bool,
    num_ports: u8,
}

impl Engine {
    pub fn new(num_ports: u8) -> Engine {
        Engine {
            num_ports,
            ..Default::default()
        }
    }

    /// Whether `addr` belongs to a block of the engine.
    pub fn owns(addr: u32) -> bool {
        (exq::BASE..exq::BASE + 0x100).contains(&addr)
            || (txq::BASE..txq::BASE + 0x100).contains(&addr)
    }

    pub fn read(&self, addr: u32) -> u32 {
        let (base, ring) = if addr >= txq::BASE {
            (txq::BASE, &self.txq)
        } else {
            (exq::BASE, &self.exq)
        };
        let is_tx = base == txq::BASE;
        match addr - base {
            regs::TYPE => {
                if is_tx {
                    txq::TYPE_ID
                } else {
                    exq::TYPE_ID
                }
            }
            regs::VERSION => {
                if is_tx {
                    txq::VERSION
                } else {
                    exq::VERSION
                }
            }
            regs::NEXT => regs::next_of(base),
            exq::BASE_LO => ring.base as u32,
            exq::BASE_HI => (ring.base >> 32) as u32,
            exq::SIZE_LOG2 => ring.size_log2,
            exq::HEAD => ring.head,
            exq::TAIL => ring.tail,
            exq::IRQ_EN if !is_tx => self.exq_irq_en as u32,
            exq::RING_FULL_DROPS if !is_tx => self.ring_full_drops,
            txq::BAD_DESC if is_tx => self.bad_desc,
            _ => 0,
        }
    }

    pub fn write(&mut self, addr: u32, val: u32) {
        let is_tx = addr >= txq::BASE;
        let off = addr - if is_tx { txq::BASE } else { exq::BASE };
        let ring = if is_tx { &mut self.txq } else { &mut self.exq };
        match off {
            exq::BASE_LO => ring.base = ring.base & !0xFFFF_FFFF | val as u64,
            exq::BASE_HI => ring.base = ring.base & 0xFFFF_FFFF | (val as u64) << 32,
            exq::SIZE_LOG2 => {
                ring.size_log2 = val.min(MAX_SIZE_LOG2);
                ring.enabled = val > 0 && val <= MAX_SIZE_LOG2;
                ring.head = 0;
                ring.tail = 0;
            }
            // the host owns TAIL of the exception ring and HEAD of the TX ring; a value that
            // would claim more than the ring holds is ignored
            exq::TAIL if !is_tx && ring.head.wrapping_sub(val) <= ring.size() => ring.tail = val,
            txq::HEAD if is_tx && val.wrapping_sub(ring.tail) <= ring.size() => ring.head = val,
            exq::IRQ_EN if !is_tx => self.exq_irq_en = val & 1 == 1,
            _ => {}
        }
    }

    /// Room for one more exception frame.
    pub fn exc_ready(&self) -> bool {
        self.exq.enabled && self.exq.used() < self.exq.size()
    }

    /// Write an exception frame and its descriptor into the next slot.
    pub fn deliver_exception(
        &mut self,
        mem: &mut HostMem,
        frame: &[u8],
        meta: &vsnic_hw::model::ExcMeta,
    ) {
        if !self.exc_ready() || frame.len() > queue::MAX_FRAME {
            self.ring_full_drops = self.ring_full_drops.wrapping_add(1);
            return;
        }
        let mut d = [0u32; queue::DESC_BYTES / 4];
        set_bits(&mut d, exc_desc::LEN, frame.len() as u64);
        set_bits(&mut d, exc_desc::REASON, meta.reason as u64);
        set_bits(&mut d, exc_desc::SRC_PORT, meta.src_port as u64);
        set_bits(&mut d, exc_desc::HIT, meta.hit as u64);
        set_bits(&mut d, exc_desc::ENTRY_INDEX, meta.index as u64);
        let slot = self.exq.slot_iova(self.exq.head);
        let ok = mem
            .dma_write(slot + queue::DESC_BYTES as u64, frame)
            .is_ok()
            && mem.dma_write(slot, &desc_to_bytes(&d)).is_ok();
        if !ok {
            self.ring_full_drops = self.ring_full_drops.wrapping_add(1);
            return;
        }
        self.exq.head = self.exq.head.wrapping_add(1);
        if self.exq_irq_en {
            self.irqs += 1;
            self.irq_pending = true;
        }
    }

    /// Whether the host has queued TX frames.
    pub fn tx_pending(&self) -> bool {
        self.txq.enabled && self.txq.used() > 0
    }

    /// Take the next host frame: (frame, stream side band). Bad descriptors are skipped.
    pub fn next_tx(&mut self, mem: &mut HostMem) -> Option<(Vec<u8>, u8)> {
        while self.tx_pending() {
            let slot = self.txq.slot_iova(self.txq.tail);
            self.txq.tail = self.txq.tail.wrapping_add(1);
            let mut db = [0u8; queue::DESC_BYTES];
            if mem.dma_read(slot, &mut db).is_err() {
                self.bad_desc = self.bad_desc.wrapping_add(1);
                continue;
            }
            let d = desc_from_bytes(&db);
            let len = get_bits(&d, tx_desc::LEN) as usize;
            let port = get_bits(&d, tx_desc::PORT) as u8;
            let bypass = get_bits(&d, tx_desc::BYPASS) == 1;
            if len == 0 || len > queue::MAX_FRAME || port >= self.num_ports {
                self.bad_desc = self.bad_desc.wrapping_add(1);
                continue;
            }
            let mut frame = vec![0u8; len];
            if mem
                .dma_read(slot + queue::DESC_BYTES as u64, &mut frame)
                .is_err()
            {
                self.bad_desc = self.bad_desc.wrapping_add(1);
                continue;
            }
            return Some((frame, stream::user(port, true, bypass)));
        }
        None
    }

    /// Take the pending interrupt, if any.
    pub fn take_irq(&mut self) -> bool {
        std::mem::take(&mut self.irq_pending)
    }
}
