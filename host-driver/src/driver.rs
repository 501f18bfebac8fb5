//! The device driver: block discovery, the host queues (exception ring in, TX ring out), the
//! connection table and the counters, over any [`NicBackend`].
//!
//! The driver never hard-codes a block base: it walks the chain ([`regs::find`]) once at
//! [`Driver::open`] and remembers the bases. Queue indices are free-running `u32`s (the contract's
//! `queue` module): the number of used slots is always `head.wrapping_sub(tail)`.

use std::sync::Arc;

use tracing::{debug, info, warn};
use vsnic_contract::activity::{self, Activity};
use vsnic_contract::exception::NUM_REASONS;
use vsnic_contract::hash::{self, HashKey};
use vsnic_contract::queue::{self, exc_desc, tx_desc};
use vsnic_contract::regs::{self, build, counters, exq, id, table, txq};
use vsnic_contract::{entry, get_bits, set_bits, Entry, Reason};

use crate::backend::{BackendError, DmaBuf, NicBackend};

/// Largest ring the driver allocates (2^12 slots of 2 KiB = 8 MiB).
pub const MAX_RING_LOG2: u32 = 12;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("backend: {0}")]
    Backend(#[from] BackendError),
    #[error(
        "not a vsnic device: DESIGN_ID is {found:#010x}, expected {:#010x}",
        id::DESIGN_ID_VALUE
    )]
    BadDesignId { found: u32 },
    #[error("register block `{name}` (type {type_id:#010x}, major version {major}) not found in the block chain")]
    MissingBlock {
        name: &'static str,
        type_id: u32,
        major: u32,
    },
    #[error("device reports an unusable {what}: {value}")]
    BadGeometry { what: &'static str, value: u32 },
    #[error("ring size 2^{0} out of range (0..={MAX_RING_LOG2})")]
    BadRingSize(u32),
    #[error("table index {index} outside the table of {size} buckets")]
    BadIndex { index: u32, size: u32 },
    #[error("table bucket {0} holds an undefined action code")]
    BadEntry(u32),
    #[error("frame of {0} bytes cannot be sent (1..={max} bytes)", max = queue::MAX_FRAME)]
    BadFrameLen(usize),
    #[error("port {port} does not exist (the device has {num_ports})")]
    BadPort { port: u8, num_ports: u32 },
    #[error(
        "the NIC's table block (version 1.{minor}) cannot read entries back (1.{} can)",
        table::MINOR_READ
    )]
    TableNotReadable { minor: u32 },
    #[error(
        "the NIC's table block (version 1.{minor}) keeps no per-entry activity (1.{} does)",
        table::MINOR_ACTIVITY
    )]
    NoActivity { minor: u32 },
    #[error("TX ring is full")]
    TxRingFull,
    #[error("exception ring HEAD {head} is {ahead} slots past TAIL {tail} (ring of {size})")]
    BadExqHead {
        head: u32,
        tail: u32,
        ahead: u32,
        size: u32,
    },
}

/// Ring sizes the driver asks for.
#[derive(Debug, Clone, Copy)]
pub struct DriverConfig {
    pub exq_size_log2: u32,
    pub txq_size_log2: u32,
    /// Invalidate every table bucket at open (one CMD write per bucket), so entries left by a
    /// previous run do not outlive the host's (empty) connection table.
    pub clear_table: bool,
    /// With `clear_table`: the flow hash key to program (none: a fresh random one, so bucket
    /// placement cannot be predicted from outside). Without `clear_table` the NIC's key is kept
    /// (read back), since the entries it holds were placed with it.
    pub hash_key: Option<HashKey>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            exq_size_log2: 8,
            txq_size_log2: 8,
            clear_table: true,
            hash_key: None,
        }
    }
}

/// What the ID block says about the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub hw_version: u32,
    pub data_width: u32,
    pub table_index_bits: u32,
    /// log2 of the table's ways per set (0: direct-mapped, as every table before table block
    /// minor `MINOR_WAYS`).
    pub table_ways_log2: u32,
    pub num_ports: u32,
    /// The board's build block, when the board has one (the simulator has none).
    pub build: Option<BuildInfo>,
}

/// What a board's build block says (`regs::build`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BuildInfo {
    pub board_id: u32,
    /// Unix seconds.
    pub build_time: u32,
    /// The first 8 bytes of the git commit.
    pub git_hash: u64,
    pub dirty: bool,
    pub core_clock_khz: u32,
}

impl DeviceInfo {
    pub fn table_size(&self) -> u32 {
        1 << self.table_index_bits
    }

    /// How the table's buckets group into sets.
    pub fn geometry(&self) -> hash::Geometry {
        hash::Geometry::new(self.table_index_bits, self.table_ways_log2)
    }
}

/// One frame the NIC handed to the host, with its descriptor fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionFrame {
    pub frame: Vec<u8>,
    pub reason: Reason,
    pub src_port: u8,
    pub hit: bool,
    pub index: u32,
}

/// How a host frame enters the NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxMode {
    /// Sent unchanged out of `port`.
    Bypass { port: u8 },
    /// Looked up and rewritten like a frame received on `port`.
    Lookup { port: u8 },
}

/// Every counter of the device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NicCounters {
    pub rx_frames: u32,
    pub tx_frames: u32,
    pub fastpath: u32,
    pub exc_frames: u32,
    pub exc_drop: u32,
    /// Exceptions per [`Reason`] code.
    pub exc_reason: [u32; NUM_REASONS],
    pub exq_ring_full_drops: u32,
    pub txq_bad_desc: u32,
    /// How many of [`NicCounters::ports`] the device reports: its port count, or 0 on a core
    /// whose counter block predates the per-port counters (before 1.[`counters::MINOR_PORTS`]).
    #[serde(default)]
    pub num_ports: u32,
    /// Per-port counters, for ports below `num_ports`.
    #[serde(default)]
    pub ports: [NicPortCounters; counters::MAX_PORTS as usize],
}

/// One network port's counters (`regs::counters::PORT_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NicPortCounters {
    /// Frames received from the port's network side.
    pub rx: u32,
    /// Frames sent on the port (fast path and host frames).
    pub tx: u32,
    /// Exceptions raised by frames received on the port, delivered.
    pub exc: u32,
    /// Those dropped because the exception stream was full.
    pub exc_drop: u32,
}

/// Base addresses of the blocks, found at open.
#[derive(Debug, Clone, Copy)]
struct Bases {
    table: u32,
    /// The table block's minor version ([`table::MINOR_READ`] and later can read entries back).
    table_minor: u32,
    /// The counter block's minor version ([`counters::MINOR_PORTS`] and later count per port).
    counters_minor: u32,
    counters: u32,
    exq: u32,
    txq: u32,
}

#[derive(Debug)]
struct Ring {
    buf: DmaBuf,
    size_log2: u32,
    /// The index the host owns (EXQ: TAIL, TXQ: HEAD).
    ours: u32,
    /// TXQ only: last TAIL read from the device (refreshed when the ring looks full).
    theirs: u32,
}

impl Ring {
    fn slots(&self) -> u32 {
        1 << self.size_log2
    }
    fn slot_offset(&self, index: u32) -> usize {
        (index & (self.slots() - 1)) as usize * queue::SLOT_BYTES
    }
}

/// The driver of one vsnic device.
pub struct Driver<B: NicBackend> {
    backend: Arc<B>,
    info: DeviceInfo,
    bases: Bases,
    exq: Ring,
    txq: Ring,
    /// Exception slots skipped because their descriptor made no sense.
    bad_exc_desc: u64,
    /// Each table bucket's words: what the driver last wrote there, or read back at open.
    shadow: Vec<[u32; entry::WORDS]>,
    /// What the table block's staging registers hold (they keep their words across commands),
    /// so a write sends only the words that differ; `None` when unknown (at open, after an
    /// error).
    staged: Option<[u32; entry::WORDS]>,
    /// Register writes spent on table entries (staging words + commands).
    pub table_reg_writes: u64,
    /// Buckets cleared at open because their entry did not decode.
    table_cleared_bad: u64,
    /// The flow hash key the NIC places entries with.
    hash_key: HashKey,
}

impl<B: NicBackend> Driver<B> {
    /// Discover the device with default ring sizes; see [`Driver::open_with`].
    pub fn open(backend: Arc<B>) -> Result<Self, DriverError> {
        Self::open_with(backend, DriverConfig::default())
    }

    /// Discover the blocks, check the ID block, allocate and program both rings and enable the
    /// exception interrupt.
    pub fn open_with(backend: Arc<B>, cfg: DriverConfig) -> Result<Self, DriverError> {
        for l in [cfg.exq_size_log2, cfg.txq_size_log2] {
            if l > MAX_RING_LOG2 {
                return Err(DriverError::BadRingSize(l));
            }
        }
        let find = |name, type_id: u32, version: u32| -> Result<u32, DriverError> {
            regs::find(|a| backend.read32(a), type_id, version)?.ok_or(DriverError::MissingBlock {
                name,
                type_id,
                major: version >> 16,
            })
        };
        let id_base = find("id", id::TYPE_ID, id::VERSION)?;
        let design = backend.read32(id_base + id::DESIGN_ID)?;
        if design != id::DESIGN_ID_VALUE {
            return Err(DriverError::BadDesignId { found: design });
        }
        let info = DeviceInfo {
            hw_version: backend.read32(id_base + id::HW_VERSION)?,
            data_width: backend.read32(id_base + id::DATA_WIDTH)?,
            table_index_bits: backend.read32(id_base + id::TABLE_INDEX_BITS)?,
            table_ways_log2: 0,
            num_ports: backend.read32(id_base + id::NUM_PORTS)?,
            build: match regs::find(|a| backend.read32(a), build::TYPE_ID, build::VERSION)? {
                Some(b) => Some(BuildInfo {
                    board_id: backend.read32(b + build::BOARD_ID)?,
                    build_time: backend.read32(b + build::BUILD_TIME)?,
                    git_hash: (backend.read32(b + build::GIT_HASH_HI)? as u64) << 32
                        | backend.read32(b + build::GIT_HASH_LO)? as u64,
                    dirty: backend.read32(b + build::FLAGS)? & 1 == 1,
                    core_clock_khz: backend.read32(b + build::CORE_CLK_KHZ)?,
                }),
                None => None,
            },
        };
        if let Some(b) = &info.build {
            info!(
                board = b.board_id,
                build_time = b.build_time,
                git = format_args!("{:016x}{}", b.git_hash, if b.dirty { "-dirty" } else { "" }),
                core_khz = b.core_clock_khz,
                "board build"
            );
        }
        if info.hw_version != id::HW_VERSION_VALUE {
            warn!(
                found = info.hw_version,
                expected = id::HW_VERSION_VALUE,
                "HW_VERSION differs from this driver's contract"
            );
        }
        // The CMD index field is 16 bits; the port fields are 2 bits.
        if !(1..=16).contains(&info.table_index_bits) {
            return Err(DriverError::BadGeometry {
                what: "TABLE_INDEX_BITS",
                value: info.table_index_bits,
            });
        }
        if !(1..=4).contains(&info.num_ports) {
            return Err(DriverError::BadGeometry {
                what: "NUM_PORTS",
                value: info.num_ports,
            });
        }
        let table_base = find("table", table::TYPE_ID, table::VERSION)?;
        let bases = Bases {
            table: table_base,
            table_minor: backend.read32(table_base + regs::VERSION)? & 0xFFFF,
            counters: find("counters", counters::TYPE_ID, counters::VERSION)?,
            counters_minor: 0,
            exq: find("exq", exq::TYPE_ID, exq::VERSION)?,
            txq: find("txq", txq::TYPE_ID, txq::VERSION)?,
        };
        let bases = Bases {
            counters_minor: backend.read32(bases.counters + regs::VERSION)? & 0xFFFF,
            ..bases
        };
        let info = DeviceInfo {
            table_ways_log2: if bases.table_minor >= table::MINOR_WAYS {
                backend.read32(bases.table + table::WAYS_LOG2)?
            } else {
                0
            },
            ..info
        };
        // at least two sets; no more than 16 ways (a set is searched by the host on insert)
        if info.table_ways_log2 >= info.table_index_bits || info.table_ways_log2 > 4 {
            return Err(DriverError::BadGeometry {
                what: "WAYS_LOG2",
                value: info.table_ways_log2,
            });
        }
        let exq = Self::setup_ring(&*backend, bases.exq, cfg.exq_size_log2)?;
        let txq = Self::setup_ring(&*backend, bases.txq, cfg.txq_size_log2)?;
        let mut drv = Driver {
            backend,
            info,
            bases,
            exq,
            txq,
            bad_exc_desc: 0,
            shadow: vec![[0; entry::WORDS]; info.table_size() as usize],
            staged: None,
            table_reg_writes: 0,
            table_cleared_bad: 0,
            hash_key: hash::DEFAULT_KEY,
        };
        if cfg.clear_table {
            // the key first: the table is emptied right after, so nothing was placed with the
            // old one
            let key = cfg.hash_key.unwrap_or_else(rand::random);
            for (i, w) in key.iter().enumerate() {
                drv.backend
                    .write32(bases.table + table::HASH_KEY0 + 4 * i as u32, *w)?;
            }
            drv.hash_key = key;
            drv.clear_table()?;
        } else {
            for i in 0..4 {
                drv.hash_key[i] = drv
                    .backend
                    .read32(bases.table + table::HASH_KEY0 + 4 * i as u32)?;
            }
            if drv.table_readable() {
                let n = drv.load_table()?;
                info!(entries = n, "kept the NIC's table: read it back");
            } else {
                warn!(
                    minor = bases.table_minor,
                    "kept the NIC's table, but this table block cannot read entries back"
                );
            }
        }
        drv.backend.write32(bases.exq + exq::IRQ_EN, 1)?;
        debug!(?info, "vsnic device opened");
        Ok(drv)
    }

    /// Allocate a ring and program BASE and SIZE (which resets both indices to 0). EXQ and TXQ
    /// share the register offsets of BASE_LO/BASE_HI/SIZE_LOG2.
    fn setup_ring(backend: &B, base: u32, size_log2: u32) -> Result<Ring, DriverError> {
        let buf = backend.dma_alloc(queue::SLOT_BYTES << size_log2)?;
        backend.write32(base + exq::BASE_LO, buf.iova as u32)?;
        backend.write32(base + exq::BASE_HI, (buf.iova >> 32) as u32)?;
        backend.write32(base + exq::SIZE_LOG2, size_log2)?;
        Ok(Ring {
            buf,
            size_log2,
            ours: 0,
            theirs: 0,
        })
    }

    pub fn backend(&self) -> &Arc<B> {
        &self.backend
    }

    pub fn info(&self) -> DeviceInfo {
        self.info
    }

    /// The flow hash key the NIC places entries with.
    pub fn hash_key(&self) -> HashKey {
        self.hash_key
    }

    /// The preferred table bucket of `key` on this NIC (the way its hash's high bits name; the
    /// host may place it in any way of its set, `DeviceInfo::geometry`).
    pub fn bucket(&self, key: &vsnic_contract::FlowKey) -> u32 {
        hash::bucket_keyed(key, self.info.table_index_bits, &self.hash_key)
    }

    /// Exception slots skipped so far because of an impossible descriptor.
    pub fn bad_exception_descriptors(&self) -> u64 {
        self.bad_exc_desc
    }

    /// Re-read the queue indices from the device (after another agent moved them, e.g. when
    /// taking over a running device).
    pub fn resync_queues(&mut self) -> Result<(), DriverError> {
        self.exq.ours = self.backend.read32(self.bases.exq + exq::TAIL)?;
        self.txq.ours = self.backend.read32(self.bases.txq + txq::HEAD)?;
        self.txq.theirs = self.backend.read32(self.bases.txq + txq::TAIL)?;
        Ok(())
    }

    /// Take up to `max` frames from the exception ring (TAIL towards HEAD), then hand the slots
    /// back by writing TAIL. Slots with an impossible descriptor (length beyond a slot, unknown
    /// reason) are skipped and counted.
    pub fn poll_exceptions(&mut self, max: usize) -> Result<Vec<ExceptionFrame>, DriverError> {
        let head = self.backend.read32(self.bases.exq + exq::HEAD)?;
        let tail = self.exq.ours;
        let ahead = head.wrapping_sub(tail);
        if ahead > self.exq.slots() {
            return Err(DriverError::BadExqHead {
                head,
                tail,
                ahead,
                size: self.exq.slots(),
            });
        }
        let n = (ahead as usize).min(max);
        let mut out = Vec::with_capacity(n);
        let mut desc = [0u8; queue::DESC_BYTES];
        for i in 0..n as u32 {
            let slot = self.exq.slot_offset(tail.wrapping_add(i));
            self.backend.dma_read(&self.exq.buf, slot, &mut desc)?;
            let d = queue::desc_from_bytes(&desc);
            let len = get_bits(&d, exc_desc::LEN) as usize;
            let reason = Reason::from_code(get_bits(&d, exc_desc::REASON) as u8);
            let (Some(reason), true) = (reason, len <= queue::MAX_FRAME) else {
                self.bad_exc_desc += 1;
                debug!(?d, "skipping exception slot with a bad descriptor");
                continue;
            };
            let mut frame = vec![0; len];
            self.backend
                .dma_read(&self.exq.buf, slot + queue::DESC_BYTES, &mut frame)?;
            out.push(ExceptionFrame {
                frame,
                reason,
                src_port: get_bits(&d, exc_desc::SRC_PORT) as u8,
                hit: get_bits(&d, exc_desc::HIT) == 1,
                index: get_bits(&d, exc_desc::ENTRY_INDEX) as u32,
            });
        }
        if n > 0 {
            self.exq.ours = tail.wrapping_add(n as u32);
            self.backend
                .write32(self.bases.exq + exq::TAIL, self.exq.ours)?;
        }
        Ok(out)
    }

    /// Queue `frame` on the TX ring. Errors (never panics) on a bad length or port or a full ring.
    pub fn transmit(&mut self, frame: &[u8], mode: TxMode) -> Result<(), DriverError> {
        if frame.is_empty() || frame.len() > queue::MAX_FRAME {
            return Err(DriverError::BadFrameLen(frame.len()));
        }
        let (port, bypass) = match mode {
            TxMode::Bypass { port } => (port, true),
            TxMode::Lookup { port } => (port, false),
        };
        if port as u32 >= self.info.num_ports {
            return Err(DriverError::BadPort {
                port,
                num_ports: self.info.num_ports,
            });
        }
        let head = self.txq.ours;
        if head.wrapping_sub(self.txq.theirs) >= self.txq.slots() {
            // Looks full with the cached TAIL: ask the device how far it got.
            self.txq.theirs = self.backend.read32(self.bases.txq + txq::TAIL)?;
            if head.wrapping_sub(self.txq.theirs) >= self.txq.slots() {
                return Err(DriverError::TxRingFull);
            }
        }
        let mut d = [0u32; queue::DESC_BYTES / 4];
        set_bits(&mut d, tx_desc::LEN, frame.len() as u64);
        set_bits(&mut d, tx_desc::PORT, port as u64);
        set_bits(&mut d, tx_desc::BYPASS, bypass as u64);
        let slot = self.txq.slot_offset(head);
        self.backend
            .dma_write(&self.txq.buf, slot + queue::DESC_BYTES, frame)?;
        self.backend
            .dma_write(&self.txq.buf, slot, &queue::desc_to_bytes(&d))?;
        self.txq.ours = head.wrapping_add(1);
        self.backend
            .write32(self.bases.txq + txq::HEAD, self.txq.ours)?;
        Ok(())
    }

    fn check_index(&self, index: u32) -> Result<(), DriverError> {
        let size = self.info.table_size();
        if index >= size {
            return Err(DriverError::BadIndex { index, size });
        }
        Ok(())
    }

    /// Write `e` into table bucket `index`: stage all words, then one CMD write (the NIC swaps the
    /// whole entry at once).
    pub fn write_entry(&mut self, index: u32, e: &Entry) -> Result<(), DriverError> {
        self.check_index(index)?;
        self.write_words(index, &e.to_words())
    }

    fn write_words(&mut self, index: u32, words: &[u32; entry::WORDS]) -> Result<(), DriverError> {
        // Forget the old copy first: if a register write fails, the bucket's content is unknown
        // and reads as invalid rather than as a stale entry.
        self.shadow[index as usize] = [0; entry::WORDS];
        // the staging words that differ from what the registers hold, then the command: one burst
        let held = self.staged.take();
        let mut burst = [(0u32, 0u32); entry::WORDS + 1];
        let mut n = 0;
        for (i, w) in words.iter().enumerate() {
            if held.is_some_and(|h| h[i] == *w) {
                continue;
            }
            burst[n] = (self.bases.table + table::DATA0 + 4 * i as u32, *w);
            n += 1;
        }
        burst[n] = (self.bases.table + table::CMD, table::CMD_WRITE | index);
        n += 1;
        self.table_reg_writes += n as u64;
        // on an error `staged` stays unknown
        self.backend.write32_burst(&burst[..n])?;
        self.staged = Some(*words);
        self.shadow[index as usize] = *words;
        Ok(())
    }

    /// Invalidate every bucket (a fresh start: the host's connection table starts empty). The
    /// zero entry is staged once; every later bucket costs only its command.
    pub fn clear_table(&mut self) -> Result<(), DriverError> {
        let zero = [0; entry::WORDS];
        for index in 0..self.info.table_size() {
            self.write_words(index, &zero)?;
        }
        Ok(())
    }

    /// Invalidate table bucket `index`.
    pub fn clear_entry(&mut self, index: u32) -> Result<(), DriverError> {
        self.write_entry(index, &Entry::default())
    }

    /// The entry of table bucket `index` as the driver knows it, without a bus access: the last
    /// words it wrote there, or read back at open (see [`Driver::fetch_entry`] for the device's).
    pub fn read_entry(&mut self, index: u32) -> Result<Entry, DriverError> {
        self.check_index(index)?;
        Entry::from_words(&self.shadow[index as usize]).ok_or(DriverError::BadEntry(index))
    }

    /// Whether the NIC's table block can read entries back (contract table 1.1 and later).
    pub fn table_readable(&self) -> bool {
        self.bases.table_minor >= table::MINOR_READ
    }

    /// Read table bucket `index` from the device: the read command, then the staging words.
    /// Only the word holding the valid bit is read for an empty bucket. The driver's copy of the
    /// bucket is updated. `None`: the bucket is empty.
    pub fn fetch_entry(&mut self, index: u32) -> Result<Option<Entry>, DriverError> {
        self.check_index(index)?;
        if !self.table_readable() {
            return Err(DriverError::TableNotReadable {
                minor: self.bases.table_minor,
            });
        }
        let t = self.bases.table;
        // the read replaces the staging words: until all are read back, they are unknown
        self.staged = None;
        // the command and the word holding the valid bit in one transaction; the rest only
        // for a valid entry (most buckets of a table being loaded are empty)
        let valid_word = entry::VALID.start / 32;
        let data = |i: usize| t + table::DATA0 + 4 * i as u32;
        let mut words = [0u32; entry::WORDS];
        self.backend.transact(
            &[(t + table::CMD, table::CMD_READ | index)],
            &[data(valid_word)],
            std::slice::from_mut(&mut words[valid_word]),
        )?;
        if get_bits(&words, entry::VALID) == 0 {
            self.shadow[index as usize] = [0; entry::WORDS];
            return Ok(None);
        }
        // all words (the valid one again: the registers hold what the command loaded)
        let offsets: [u32; entry::WORDS] = std::array::from_fn(data);
        self.backend.transact(&[], &offsets, &mut words)?;
        self.staged = Some(words);
        let e = Entry::from_words(&words).ok_or(DriverError::BadEntry(index))?;
        self.shadow[index as usize] = words;
        Ok(Some(e))
    }

    /// Whether the NIC keeps per-bucket activity records (contract table 1.2 and later).
    pub fn activity_readable(&self) -> bool {
        self.bases.table_minor >= table::MINOR_ACTIVITY
    }

    /// Read table bucket `index`'s activity record (`vsnic_contract::activity`): the read
    /// command, then the `ACT` words. The read command also loads the bucket's entry into the
    /// staging words, so they are taken as unknown afterwards (the next entry write stages every
    /// word).
    pub fn read_activity(&mut self, index: u32) -> Result<Activity, DriverError> {
        self.check_index(index)?;
        if !self.activity_readable() {
            return Err(DriverError::NoActivity {
                minor: self.bases.table_minor,
            });
        }
        let t = self.bases.table;
        self.staged = None;
        let reads: [u32; activity::WORDS] = std::array::from_fn(|i| t + table::ACT0 + 4 * i as u32);
        let mut words = [0u32; activity::WORDS];
        self.backend.transact(
            &[(t + table::CMD, table::CMD_READ | index)],
            &reads,
            &mut words,
        )?;
        Ok(Activity::from_words(&words))
    }

    /// The NIC's time (units of 2^`activity::TICK_NS_LOG2` ns), the time base of
    /// [`Activity::last_seen`].
    pub fn nic_time(&self) -> Result<u32, DriverError> {
        if !self.activity_readable() {
            return Err(DriverError::NoActivity {
                minor: self.bases.table_minor,
            });
        }
        Ok(self.backend.read32(self.bases.table + table::NOW)?)
    }

    /// Read the whole table back from the device into the driver's copy; returns how many
    /// buckets hold an entry. A bucket whose entry does not decode is cleared on the device
    /// (nothing can be forwarded by it correctly) and counted in [`Driver::table_cleared_bad`].
    pub fn load_table(&mut self) -> Result<usize, DriverError> {
        let mut n = 0;
        for index in 0..self.info.table_size() {
            match self.fetch_entry(index) {
                Ok(Some(_)) => n += 1,
                Ok(None) => {}
                Err(DriverError::BadEntry(i)) => {
                    warn!(bucket = i, "undecodable table entry cleared");
                    self.table_cleared_bad += 1;
                    self.clear_entry(i)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Every bucket holding an entry, as the driver knows them (after [`Driver::load_table`]:
    /// as the device holds them).
    pub fn entries(&self) -> impl Iterator<Item = (u32, Entry)> + '_ {
        self.shadow.iter().enumerate().filter_map(|(i, w)| {
            (get_bits(w, entry::VALID) == 1)
                .then(|| Entry::from_words(w).map(|e| (i as u32, e)))
                .flatten()
        })
    }

    /// Buckets cleared at [`Driver::load_table`] because their entry did not decode.
    pub fn table_cleared_bad(&self) -> u64 {
        self.table_cleared_bad
    }

    /// All device counters.
    pub fn counters(&self) -> Result<NicCounters, DriverError> {
        let b = &self.backend;
        let c = self.bases.counters;
        let mut exc_reason = [0u32; NUM_REASONS];
        for (i, r) in exc_reason.iter_mut().enumerate() {
            *r = b.read32(c + counters::EXC_REASON0 + 4 * i as u32)?;
        }
        let num_ports = if self.bases.counters_minor >= counters::MINOR_PORTS {
            self.info.num_ports.min(counters::MAX_PORTS)
        } else {
            0
        };
        let mut ports = [NicPortCounters::default(); counters::MAX_PORTS as usize];
        for (p, pc) in ports.iter_mut().enumerate().take(num_ports as usize) {
            let r = |reg| b.read32(c + counters::port(p as u32, reg));
            *pc = NicPortCounters {
                rx: r(counters::PORT_RX)?,
                tx: r(counters::PORT_TX)?,
                exc: r(counters::PORT_EXC)?,
                exc_drop: r(counters::PORT_EXC_DROP)?,
            };
        }
        Ok(NicCounters {
            num_ports,
            ports,
            rx_frames: b.read32(c + counters::RX_FRAMES)?,
            tx_frames: b.read32(c + counters::TX_FRAMES)?,
            fastpath: b.read32(c + counters::FASTPATH)?,
            exc_frames: b.read32(c + counters::EXC_FRAMES)?,
            exc_drop: b.read32(c + counters::EXC_DROP)?,
            exc_reason,
            exq_ring_full_drops: b.read32(self.bases.exq + exq::RING_FULL_DROPS)?,
            txq_bad_desc: b.read32(self.bases.txq + txq::BAD_DESC)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::{FakeConfig, FakeNic};
    use vsnic_contract::{Action, FlowKey};

    /// A board: the fake NIC plus the board top's build block.
    struct Board(FakeNic);

    impl NicBackend for Board {
        fn read32(&self, off: u32) -> Result<u32, BackendError> {
            // the queue engine's NEXT points at the board's blocks, as the contract chains them
            if off == txq::BASE + regs::NEXT {
                return Ok(regs::next_of(txq::BASE));
            }
            match off.checked_sub(build::BASE) {
                Some(regs::TYPE) => Ok(build::TYPE_ID),
                Some(regs::VERSION) => Ok(build::VERSION),
                Some(regs::NEXT) => Ok(0),
                Some(build::BOARD_ID) => Ok(0x5A),
                Some(build::BUILD_TIME) => Ok(1_790_000_000),
                Some(build::GIT_HASH_HI) => Ok(0x1234_5678),
                Some(build::GIT_HASH_LO) => Ok(0x9abc_def0),
                Some(build::FLAGS) => Ok(1),
                Some(build::CORE_CLK_KHZ) => Ok(62_500),
                _ => self.0.read32(off),
            }
        }
        fn write32(&self, off: u32, val: u32) -> Result<(), BackendError> {
            self.0.write32(off, val)
        }
        fn dma_alloc(&self, len: usize) -> Result<DmaBuf, BackendError> {
            self.0.dma_alloc(len)
        }
        fn dma_read(&self, b: &DmaBuf, off: usize, out: &mut [u8]) -> Result<(), BackendError> {
            self.0.dma_read(b, off, out)
        }
        fn dma_write(&self, b: &DmaBuf, off: usize, data: &[u8]) -> Result<(), BackendError> {
            self.0.dma_write(b, off, data)
        }
        async fn wait_irq(&self) -> Result<(), BackendError> {
            self.0.wait_irq().await
        }
    }

    #[test]
    fn reads_the_board_build_block() {
        let drv = Driver::open(Arc::new(Board(FakeNic::new(FakeConfig::default())))).unwrap();
        assert_eq!(
            drv.info().build,
            Some(BuildInfo {
                board_id: 0x5A,
                build_time: 1_790_000_000,
                git_hash: 0x1234_5678_9abc_def0,
                dirty: true,
                core_clock_khz: 62_500,
            })
        );
    }

    fn open(cfg: DriverConfig) -> (Arc<FakeNic>, Driver<FakeNic>) {
        let nic = Arc::new(FakeNic::default());
        let drv = Driver::open_with(nic.clone(), cfg).unwrap();
        (nic, drv)
    }

    /// The table's ways come from `WAYS_LOG2` from table minor 3 on; older tables are
    /// direct-mapped; a nonsensical value is refused.
    #[test]
    fn discovery_reads_the_ways() {
        let ways = |table_version, table_ways_log2| {
            let nic = Arc::new(FakeNic::new(FakeConfig {
                table_index_bits: 10,
                table_version,
                table_ways_log2,
                ..Default::default()
            }));
            Driver::open(nic).map(|d| d.info().geometry())
        };
        assert_eq!(ways(table::VERSION, 2).unwrap(), hash::Geometry::new(10, 2));
        assert_eq!(ways(table::VERSION, 0).unwrap().ways(), 1);
        assert_eq!(ways(0x0001_0002, 2).unwrap(), hash::Geometry::direct(10));
        assert!(matches!(
            ways(table::VERSION, 10),
            Err(DriverError::BadGeometry {
                what: "WAYS_LOG2",
                value: 10
            })
        ));
    }

    #[test]
    fn discovery_reads_geometry_and_programs_rings() {
        let nic = Arc::new(FakeNic::new(FakeConfig {
            table_index_bits: 10,
            num_ports: 4,
            ..Default::default()
        }));
        let drv = Driver::open(nic.clone()).unwrap();
        assert_eq!(
            drv.info(),
            DeviceInfo {
                hw_version: id::HW_VERSION_VALUE,
                data_width: 64,
                table_index_bits: 10,
                table_ways_log2: 0,
                num_ports: 4,
                build: None,
            }
        );
        assert_eq!(drv.info().table_size(), 1024);
        assert_eq!(nic.read32(exq::BASE + exq::SIZE_LOG2).unwrap(), 8);
        assert_eq!(nic.read32(exq::BASE + exq::IRQ_EN).unwrap(), 1);
        assert_ne!(nic.read32(exq::BASE + exq::BASE_LO).unwrap(), 0);
        assert_ne!(
            nic.read32(txq::BASE + txq::BASE_HI).unwrap(),
            0,
            "IOVAs above 4 GiB are split"
        );
    }

    #[test]
    fn missing_block_and_bad_design_id_are_reported() {
        let nic = FakeNic::new(FakeConfig {
            omit_blocks: vec![txq::TYPE_ID],
            ..Default::default()
        });
        let err = Driver::open(Arc::new(nic)).err().unwrap();
        assert!(
            matches!(err, DriverError::MissingBlock { name: "txq", .. }),
            "{err}"
        );
        assert!(err.to_string().contains("`txq`"), "{err}");

        let nic = FakeNic::new(FakeConfig {
            design_id: 0x1234,
            ..Default::default()
        });
        let err = Driver::open(Arc::new(nic)).err().unwrap();
        assert!(
            matches!(err, DriverError::BadDesignId { found: 0x1234 }),
            "{err}"
        );

        let nic = FakeNic::new(FakeConfig {
            num_ports: 0,
            ..Default::default()
        });
        assert!(matches!(
            Driver::open(Arc::new(nic)),
            Err(DriverError::BadGeometry { .. })
        ));
        let err = Driver::open_with(
            Arc::new(FakeNic::default()),
            DriverConfig {
                exq_size_log2: 20,
                ..Default::default()
            },
        );
        assert!(matches!(err, Err(DriverError::BadRingSize(20))));
    }

    #[test]
    fn a_fresh_start_programs_a_random_hash_key_and_a_resync_keeps_it() {
        let nic = Arc::new(FakeNic::default());
        assert_eq!(nic.hash_key(), hash::DEFAULT_KEY, "the NIC's reset value");
        let a = Driver::open(nic.clone()).unwrap().hash_key();
        assert_eq!(nic.hash_key(), a, "programmed");
        assert_ne!(a, hash::DEFAULT_KEY);
        let b = Driver::open(nic.clone()).unwrap().hash_key();
        assert_ne!(a, b, "a new key per fresh start");
        // keeping the table keeps its key
        let kept = Driver::open_with(
            nic.clone(),
            DriverConfig {
                clear_table: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(kept.hash_key(), b);
        assert_eq!(nic.hash_key(), b);
        // a given key, and the bucket the driver computes with it
        let k = [1, 2, 3, 4];
        let d = Driver::open_with(
            nic.clone(),
            DriverConfig {
                hash_key: Some(k),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(nic.hash_key(), k);
        let f = hash::VECTORS[0].0;
        assert_eq!(d.bucket(&f), hash::bucket_keyed(&f, 12, &k));
    }

    #[test]
    fn open_clears_entries_left_by_a_previous_run() {
        let nic = Arc::new(FakeNic::default());
        let mut drv = Driver::open(nic.clone()).unwrap();
        let e = Entry {
            valid: true,
            ..Default::default()
        };
        drv.write_entry(5, &e).unwrap();
        drv.write_entry(4095, &e).unwrap();
        assert_eq!(nic.valid_buckets(), vec![5, 4095]);
        let cfg = DriverConfig {
            clear_table: false,
            ..Default::default()
        };
        drop(Driver::open_with(nic.clone(), cfg).unwrap());
        assert_eq!(nic.valid_buckets(), vec![5, 4095], "kept when asked to");
        drop(Driver::open(nic.clone()).unwrap());
        assert!(nic.valid_buckets().is_empty());
    }

    /// Keeping the table reads it back from the device: the driver knows what a previous run
    /// (another process) installed. A bucket that does not decode is cleared and counted. After
    /// a read the staging words hold the entry read, and the next write still lands whole.
    #[test]
    fn keeping_the_table_reads_it_back_from_the_device() {
        let nic = Arc::new(FakeNic::default());
        let mut first = Driver::open(nic.clone()).unwrap();
        let e = |port: u16| Entry {
            key: FlowKey {
                saddr: [10, 0, 0, 2],
                daddr: [10, 0, 0, 100],
                sport: port,
                dport: 80,
                proto: 6,
            },
            valid: true,
            action: Action::Dnat,
            egress_port: 1,
            nat_addr: [10, 1, 0, 2],
            nat_port: 80,
            seq: Some(vsnic_contract::entry::SeqDelta {
                pos: 1000,
                before: 0,
                after: 3,
                floor: 900,
            }),
            ..Entry::default()
        };
        first.write_entry(7, &e(1)).unwrap();
        first.write_entry(4000, &e(2)).unwrap();
        // a bucket holding an undefined action code (written behind the driver's back)
        let mut bad = e(3).to_words();
        set_bits(&mut bad, entry::ACTION, 3);
        first.write_words(9, &bad).unwrap();
        drop(first);
        let mut second = Driver::open_with(
            nic.clone(),
            DriverConfig {
                clear_table: false,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(second.table_readable());
        let got: Vec<_> = second.entries().collect();
        assert_eq!(got, vec![(7, e(1)), (4000, e(2))]);
        assert_eq!(second.table_cleared_bad(), 1);
        assert_eq!(nic.valid_buckets(), vec![7, 4000]);
        assert_eq!(second.fetch_entry(8).unwrap(), None);
        assert_eq!(second.fetch_entry(4000).unwrap(), Some(e(2)));
        // the staging words now hold bucket 4000's entry; a write of another entry is whole
        second.write_entry(12, &e(5)).unwrap();
        assert_eq!(nic.table_words(12), e(5).to_words());
    }

    #[test]
    fn only_changed_staging_words_are_written() {
        let (nic, mut drv) = open(DriverConfig::default());
        let mut e = Entry {
            key: FlowKey {
                saddr: [10, 0, 0, 2],
                daddr: [10, 0, 0, 100],
                sport: 40000,
                dport: 80,
                proto: 6,
            },
            valid: true,
            action: Action::Dnat,
            nat_addr: [10, 1, 0, 2],
            nat_port: 80,
            ..Entry::default()
        };
        // open cleared the table: all words staged as zeros, then one command per bucket
        let start = drv.table_reg_writes;
        drv.write_entry(1, &e).unwrap();
        let nonzero = e.to_words().iter().filter(|w| **w != 0).count() as u64;
        assert_eq!(drv.table_reg_writes - start, nonzero + 1);
        // the same entry again: only the command
        let start = drv.table_reg_writes;
        drv.write_entry(2, &e).unwrap();
        assert_eq!(drv.table_reg_writes - start, 1);
        // one field changed: the words it lives in, and the command
        e.nat_port = 8080;
        let before = drv.read_entry(2).unwrap().to_words();
        let changed = e
            .to_words()
            .iter()
            .zip(before)
            .filter(|(a, b)| **a != *b)
            .count() as u64;
        assert!(changed >= 1);
        let start = drv.table_reg_writes;
        drv.write_entry(3, &e).unwrap();
        assert_eq!(drv.table_reg_writes - start, changed + 1);
        // whatever was skipped, every bucket holds exactly its entry
        e.nat_port = 80;
        assert_eq!(nic.table_words(1), e.to_words());
        assert_eq!(nic.table_words(2), e.to_words());
        e.nat_port = 8080;
        assert_eq!(nic.table_words(3), e.to_words());
        drv.clear_entry(2).unwrap();
        assert_eq!(nic.table_words(2), [0; entry::WORDS]);
        assert_eq!(nic.valid_buckets(), vec![1, 3]);
    }

    #[test]
    fn entry_round_trips_through_the_table_block() {
        let (nic, mut drv) = open(DriverConfig::default());
        let e = Entry {
            key: FlowKey {
                saddr: [10, 0, 0, 2],
                daddr: [10, 0, 0, 100],
                sport: 40000,
                dport: 80,
                proto: 6,
            },
            valid: true,
            action: Action::Dnat,
            egress_port: 1,
            nat_addr: [10, 1, 0, 2],
            nat_port: 8080,
            dmac: [2, 0, 0, 0, 1, 2],
            smac: [2, 0, 0, 0, 0, 1],
            ..Entry::default()
        };
        drv.write_entry(77, &e).unwrap();
        assert_eq!(
            nic.table_words(77),
            e.to_words(),
            "the write landed in the NIC table"
        );
        assert_eq!(nic.valid_buckets(), vec![77]);
        assert_eq!(drv.read_entry(77).unwrap(), e);
        assert_eq!(drv.read_entry(78).unwrap(), Entry::default());
        drv.clear_entry(77).unwrap();
        assert!(nic.valid_buckets().is_empty());
        assert!(matches!(
            drv.write_entry(4096, &e),
            Err(DriverError::BadIndex {
                index: 4096,
                size: 4096
            })
        ));
        assert!(matches!(
            drv.read_entry(u32::MAX),
            Err(DriverError::BadIndex { .. })
        ));
    }

    #[test]
    fn exception_ring_consumes_across_wrap_of_free_running_indices() {
        let (nic, mut drv) = open(DriverConfig {
            exq_size_log2: 2,
            txq_size_log2: 2,
            clear_table: true,
            ..Default::default()
        });
        // As after a long uptime: indices just below 2^32.
        nic.set_exq_indices(u32::MAX - 2);
        drv.resync_queues().unwrap();
        let mut next = 0u8;
        let mut seen = Vec::new();
        for round in 0..5 {
            for _ in 0..3 {
                let len = 60 + next as usize;
                assert!(nic.inject_exception(
                    &vec![next; len],
                    Reason::Miss,
                    round % 2,
                    round == 1,
                    next as u32
                ));
                next += 1;
            }
            // take in batches of 2 to leave some behind between polls
            loop {
                let got = drv.poll_exceptions(2).unwrap();
                if got.is_empty() {
                    break;
                }
                seen.extend(got);
            }
        }
        assert_eq!(seen.len(), 15);
        for (i, e) in seen.iter().enumerate() {
            assert_eq!(e.frame, vec![i as u8; 60 + i]);
            assert_eq!(e.index, i as u32);
            assert_eq!(e.reason, Reason::Miss);
            assert_eq!(e.src_port, (i / 3 % 2) as u8);
            assert_eq!(e.hit, i / 3 == 1);
        }
        let tail = nic.read32(exq::BASE + exq::TAIL).unwrap();
        assert_eq!(
            tail,
            (u32::MAX - 2).wrapping_add(15),
            "TAIL written back and wrapped"
        );
        assert_eq!(nic.read32(exq::BASE + exq::HEAD).unwrap(), tail);
        // a full ring is drained completely; the fifth is dropped by the NIC
        for i in 0..5 {
            nic.inject_exception(&[i; 64], Reason::Syn, 0, false, 0);
        }
        assert_eq!(drv.poll_exceptions(100).unwrap().len(), 4);
        assert_eq!(drv.counters().unwrap().exq_ring_full_drops, 1);
    }

    #[test]
    fn tx_ring_full_and_bad_frames_are_errors() {
        let (nic, mut drv) = open(DriverConfig {
            exq_size_log2: 2,
            txq_size_log2: 2,
            clear_table: true,
            ..Default::default()
        });
        nic.set_txq_indices(u32::MAX - 1);
        drv.resync_queues().unwrap();
        for i in 0..4u8 {
            drv.transmit(&[i; 64], TxMode::Bypass { port: i % 2 })
                .unwrap();
        }
        assert!(matches!(
            drv.transmit(&[9; 64], TxMode::Lookup { port: 0 }),
            Err(DriverError::TxRingFull)
        ));
        let sent = nic.take_tx();
        assert_eq!(sent.len(), 4);
        for (i, f) in sent.iter().enumerate() {
            assert_eq!(f.frame, vec![i as u8; 64]);
            assert_eq!((f.len, f.port, f.bypass), (64, i as u8 % 2, true));
        }
        drv.transmit(&[9; 100], TxMode::Lookup { port: 1 }).unwrap();
        let sent = nic.take_tx();
        assert_eq!((sent[0].len, sent[0].port, sent[0].bypass), (100, 1, false));

        assert!(matches!(
            drv.transmit(&[], TxMode::Bypass { port: 0 }),
            Err(DriverError::BadFrameLen(0))
        ));
        let big = vec![0u8; queue::MAX_FRAME + 1];
        assert!(matches!(
            drv.transmit(&big, TxMode::Bypass { port: 0 }),
            Err(DriverError::BadFrameLen(_))
        ));
        drv.transmit(&big[1..], TxMode::Bypass { port: 0 }).unwrap();
        assert!(matches!(
            drv.transmit(&[1; 60], TxMode::Bypass { port: 2 }),
            Err(DriverError::BadPort { .. })
        ));
        assert_eq!(nic.take_tx()[0].len, queue::MAX_FRAME);
    }

    #[test]
    fn counters_are_read() {
        let (nic, drv) = open(DriverConfig::default());
        nic.set_core_counters(10, 9, 8);
        nic.set_port_counters(1, [7, 6, 0, 0]);
        nic.inject_exception(&[0; 60], Reason::NonIpv4, 0, false, 0);
        nic.inject_exception(&[0; 60], Reason::Syn, 0, false, 0);
        nic.inject_exception(&[0; 60], Reason::Syn, 1, false, 0);
        let c = drv.counters().unwrap();
        assert_eq!(
            (c.rx_frames, c.tx_frames, c.fastpath, c.exc_frames),
            (10, 9, 8, 3)
        );
        assert_eq!(c.exc_reason[Reason::Syn as usize], 2);
        assert_eq!(c.exc_reason[Reason::NonIpv4 as usize], 1);
        assert_eq!(c.exc_drop, 0);
        // per port: the exceptions by ingress port, the fast path's figures as the core has them
        assert_eq!(c.num_ports, 2);
        let p = |rx, tx, exc, exc_drop| NicPortCounters {
            rx,
            tx,
            exc,
            exc_drop,
        };
        assert_eq!(c.ports[..2], [p(0, 0, 2, 0), p(7, 6, 1, 0)]);
        assert_eq!(c.ports[2], NicPortCounters::default());
    }
}
