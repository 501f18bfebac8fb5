//! The register map: a chain of self-describing blocks (Corundum style).
//!
//! Every block starts with three read-only words: `TYPE`, `VERSION` and `NEXT` (byte offset of
//! the next block from BAR start; 0 ends the chain). The chain starts at offset 0. The driver
//! discovers blocks by type and version ([`find`] over a register reader) and never hard-codes a
//! block's base address; `hw` and `sim` place the blocks at the bases given here.
//!
//! All registers are 32 bits wide and 4-byte aligned; offsets below are within their block.

/// Header word offsets common to every block.
pub const TYPE: u32 = 0x00;
pub const VERSION: u32 = 0x04;
pub const NEXT: u32 = 0x08;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Ro,
    Rw,
    Wo,
}

#[derive(Debug, Clone, Copy)]
pub struct Reg {
    pub name: &'static str,
    pub offset: u32,
    pub access: Access,
    pub doc: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Block {
    pub name: &'static str,
    pub base: u32,
    pub type_id: u32,
    pub version: u32,
    /// Which part of the design answers this block's addresses.
    pub implemented_by: &'static str,
    pub regs: &'static [Reg],
}

const fn reg(name: &'static str, offset: u32, access: Access, doc: &'static str) -> Reg {
    Reg {
        name,
        offset,
        access,
        doc,
    }
}

/// Identification.
pub mod id {
    pub const BASE: u32 = 0x0000;
    pub const TYPE_ID: u32 = 0x5653_0001;
    pub const VERSION: u32 = 0x0001_0000;
    pub const DESIGN_ID: u32 = 0x0C;
    pub const HW_VERSION: u32 = 0x10;
    pub const DATA_WIDTH: u32 = 0x14;
    pub const TABLE_INDEX_BITS: u32 = 0x18;
    pub const NUM_PORTS: u32 = 0x1C;
    /// Value of `DESIGN_ID` ("VSNC").
    pub const DESIGN_ID_VALUE: u32 = 0x5653_4E43;
    /// Value of `HW_VERSION` for this contract.
    pub const HW_VERSION_VALUE: u32 = 0x0000_0100;
}

/// Connection table access.
pub mod table {
    pub const BASE: u32 = 0x0100;
    pub const TYPE_ID: u32 = 0x5653_0002;
    /// 1.1 added [`CMD_READ`] (1.0 tables are write-only); 1.2 added per-bucket activity
    /// ([`ACT0`], [`NOW`], `crate::activity`); 1.3 made it set-associative ([`WAYS_LOG2`]).
    pub const VERSION: u32 = 0x0001_0003;
    /// The first minor version with [`CMD_READ`].
    pub const MINOR_READ: u32 = 1;
    /// The first minor version with [`ACT0`] and [`NOW`].
    pub const MINOR_ACTIVITY: u32 = 2;
    /// Command: bits 0..16 entry index, bit 31 write the staged entry to that index, else bit 30
    /// read that index's entry into the staging words.
    pub const CMD: u32 = 0x0C;
    pub const CMD_INDEX_MASK: u32 = 0xFFFF;
    pub const CMD_WRITE: u32 = 1 << 31;
    /// Load the entry at the index into `DATA0..` (they read as the entry from the next register
    /// access on; lookups are not disturbed: the host has its own port to the table).
    pub const CMD_READ: u32 = 1 << 30;
    /// First of the 4 flow-hash key words (`crate::hash::HashKey`, word i at `HASH_KEY0 + 4 * i`).
    /// They reset to `crate::hash::DEFAULT_KEY`. Changing the key moves every flow to another
    /// bucket: write it only while the table is empty.
    pub const HASH_KEY0: u32 = 0x10;
    /// First of `entry::WORDS` staging registers (word i at `DATA0 + 4 * i`).
    pub const DATA0: u32 = 0x20;
    /// First of `activity::WORDS` read-only words (word i at `ACT0 + 4 * i`): the activity
    /// record of the bucket of the last [`CMD_READ`], loaded with its entry.
    pub const ACT0: u32 = 0x60;
    /// The NIC's time, in units of 2^`activity::TICK_NS_LOG2` ns (read-only).
    pub const NOW: u32 = 0x70;
    /// The first minor version with [`WAYS_LOG2`].
    pub const MINOR_WAYS: u32 = 3;
    /// log2 of the ways per set (read-only; `crate::hash::Geometry`). Before minor
    /// [`MINOR_WAYS`] the table is direct-mapped.
    pub const WAYS_LOG2: u32 = 0x74;
}

/// Core counters (free-running, wrap at 2^32).
pub mod counters {
    pub const BASE: u32 = 0x0200;
    pub const TYPE_ID: u32 = 0x5653_0003;
    /// 1.1 added the per-port counters ([`PORT0`]).
    pub const VERSION: u32 = 0x0001_0001;
    /// The first minor version with the per-port counters.
    pub const MINOR_PORTS: u32 = 1;
    pub const RX_FRAMES: u32 = 0x0C;
    pub const TX_FRAMES: u32 = 0x10;
    pub const FASTPATH: u32 = 0x14;
    pub const EXC_FRAMES: u32 = 0x18;
    pub const EXC_DROP: u32 = 0x1C;
    /// Exceptions per reason code `r` at `EXC_REASON0 + 4 * r`.
    pub const EXC_REASON0: u32 = 0x20;
    /// Per-port counters: port `p`'s group of [`PORT_REGS`] registers is at
    /// `PORT0 + PORT_STRIDE * p`, for `p` below `id::NUM_PORTS` (at most [`MAX_PORTS`]).
    pub const PORT0: u32 = 0x80;
    pub const PORT_STRIDE: u32 = 0x10;
    /// The most ports the stream side band can name (`stream::PORT` is 2 bits).
    pub const MAX_PORTS: u32 = 4;
    /// Offsets in a port's group: frames received from the port's network side (host frames
    /// are not a port's), frames sent on it (fast path and host frames), exceptions raised by
    /// frames received on it, and those of them dropped because the exception stream was full.
    pub const PORT_RX: u32 = 0x0;
    pub const PORT_TX: u32 = 0x4;
    pub const PORT_EXC: u32 = 0x8;
    pub const PORT_EXC_DROP: u32 = 0xC;
    pub const PORT_REGS: u32 = 4;
    /// Address of port `p`'s register at offset `reg` (relative to the block's base).
    pub const fn port(p: u32, reg: u32) -> u32 {
        PORT0 + PORT_STRIDE * p + reg
    }
    const _: () = assert!(EXC_REASON0 + 4 * crate::exception::NUM_REASONS as u32 <= PORT0);
    const _: () = assert!(PORT_REGS * 4 == PORT_STRIDE);
    const _: () = assert!(MAX_PORTS == 1 << (crate::stream::PORT.end - crate::stream::PORT.start));
}

/// Exception queue (NIC → host), answered by the queue engine.
pub mod exq {
    pub const BASE: u32 = 0x0300;
    pub const TYPE_ID: u32 = 0x5653_0004;
    pub const VERSION: u32 = 0x0001_0000;
    pub const BASE_LO: u32 = 0x0C;
    pub const BASE_HI: u32 = 0x10;
    pub const SIZE_LOG2: u32 = 0x14;
    pub const HEAD: u32 = 0x18;
    pub const TAIL: u32 = 0x1C;
    pub const IRQ_EN: u32 = 0x20;
    pub const RING_FULL_DROPS: u32 = 0x24;
}

/// TX queue (host → NIC), answered by the queue engine.
pub mod txq {
    pub const BASE: u32 = 0x0400;
    pub const TYPE_ID: u32 = 0x5653_0005;
    pub const VERSION: u32 = 0x0001_0000;
    pub const BASE_LO: u32 = 0x0C;
    pub const BASE_HI: u32 = 0x10;
    pub const SIZE_LOG2: u32 = 0x14;
    pub const HEAD: u32 = 0x18;
    pub const TAIL: u32 = 0x1C;
    pub const BAD_DESC: u32 = 0x20;
}

/// Build identification, answered by the board top (absent in the simulator).
pub mod build {
    pub const BASE: u32 = 0x0500;
    pub const TYPE_ID: u32 = 0x5653_0006;
    pub const VERSION: u32 = 0x0001_0000;
    pub const BOARD_ID: u32 = 0x0C;
    pub const BUILD_TIME: u32 = 0x10;
    pub const GIT_HASH_HI: u32 = 0x14;
    pub const GIT_HASH_LO: u32 = 0x18;
    pub const FLAGS: u32 = 0x1C;
    pub const CORE_CLK_KHZ: u32 = 0x20;
}

/// Frame port of boards without a DMA shell (push frames into the core and read its outputs
/// over the register bus), answered by the board top. Registers: see
/// `firmware/rtl/common/vsnic_board_regs.v`.
pub mod frameport {
    pub const BASE: u32 = 0x0600;
    pub const TYPE_ID: u32 = 0x5653_0007;
    pub const VERSION: u32 = 0x0001_0000;
}

/// Addresses below this are answered by the hw core's CSR decoder; the rest by the queue engine.
pub const CORE_SPACE_END: u32 = 0x0300;

use Access::*;

/// Every block, in chain order.
pub const BLOCKS: &[Block] = &[
    Block {
        name: "id",
        base: id::BASE,
        type_id: id::TYPE_ID,
        version: id::VERSION,
        implemented_by: "hw core",
        regs: &[
            reg("DESIGN_ID", id::DESIGN_ID, Ro, "0x56534E43 (\"VSNC\")"),
            reg(
                "HW_VERSION",
                id::HW_VERSION,
                Ro,
                "contract version of the design",
            ),
            reg("DATA_WIDTH", id::DATA_WIDTH, Ro, "data-path width in bits"),
            reg(
                "TABLE_INDEX_BITS",
                id::TABLE_INDEX_BITS,
                Ro,
                "log2 of the number of table buckets",
            ),
            reg("NUM_PORTS", id::NUM_PORTS, Ro, "network ports"),
        ],
    },
    Block {
        name: "table",
        base: table::BASE,
        type_id: table::TYPE_ID,
        version: table::VERSION,
        implemented_by: "hw core",
        regs: &[
            reg(
                "CMD",
                table::CMD,
                Wo,
                "bits 0..16 index; bit 31 write the staged entry there in one cycle; else bit 30 read that entry into DATA0..DATA15 (visible to the next register access; lookups undisturbed)",
            ),
            reg(
                "HASH_KEY0..HASH_KEY3",
                table::HASH_KEY0,
                Rw,
                "flow hash key, 128 bits (hash.rs); resets to the default key; write only while the table is empty",
            ),
            reg(
                "DATA0..DATA15",
                table::DATA0,
                Rw,
                "entry staging words (see conn_entry layout); they keep their value across write commands, so a driver rewrites only the words that changed; a read command replaces them with the entry read",
            ),
            reg(
                "ACT0..ACT3",
                table::ACT0,
                Ro,
                "activity record (see activity layout) of the bucket of the last read command, loaded with its entry",
            ),
            reg(
                "NOW",
                table::NOW,
                Ro,
                "NIC time in units of 2^20 ns (the time base of activity.last_seen)",
            ),
            reg(
                "WAYS_LOG2",
                table::WAYS_LOG2,
                Ro,
                "log2 of the ways per set: a key may live in any bucket `way << (TABLE_INDEX_BITS - WAYS_LOG2) | set`, set = the low TABLE_INDEX_BITS - WAYS_LOG2 bits of its flow hash (hash.rs Geometry); all ways of a set are compared in one lookup, the lowest matching way wins",
            ),
        ],
    },
    Block {
        name: "counters",
        base: counters::BASE,
        type_id: counters::TYPE_ID,
        version: counters::VERSION,
        implemented_by: "hw core",
        regs: &[
            reg(
                "RX_FRAMES",
                counters::RX_FRAMES,
                Ro,
                "frames entering the core (network and host)",
            ),
            reg(
                "TX_FRAMES",
                counters::TX_FRAMES,
                Ro,
                "frames leaving on network ports",
            ),
            reg(
                "FASTPATH",
                counters::FASTPATH,
                Ro,
                "received frames forwarded by a table hit",
            ),
            reg(
                "EXC_FRAMES",
                counters::EXC_FRAMES,
                Ro,
                "frames delivered to the exception stream",
            ),
            reg(
                "EXC_DROP",
                counters::EXC_DROP,
                Ro,
                "exceptions dropped: exception stream not ready",
            ),
            reg(
                "EXC_REASON0..11",
                counters::EXC_REASON0,
                Ro,
                "exceptions per reason code",
            ),
            reg(
                "PORT<p>_RX",
                counters::PORT0 + counters::PORT_RX,
                Ro,
                "frames received on network port p (p < NUM_PORTS, group stride 0x10; host frames are no port's)",
            ),
            reg(
                "PORT<p>_TX",
                counters::PORT0 + counters::PORT_TX,
                Ro,
                "frames sent on port p (fast path and host frames)",
            ),
            reg(
                "PORT<p>_EXC",
                counters::PORT0 + counters::PORT_EXC,
                Ro,
                "exceptions raised by frames received on port p, delivered",
            ),
            reg(
                "PORT<p>_EXC_DROP",
                counters::PORT0 + counters::PORT_EXC_DROP,
                Ro,
                "exceptions of port p dropped: exception stream not ready",
            ),
        ],
    },
    Block {
        name: "exq",
        base: exq::BASE,
        type_id: exq::TYPE_ID,
        version: exq::VERSION,
        implemented_by: "queue engine",
        regs: &[
            reg("BASE_LO", exq::BASE_LO, Rw, "ring IOVA, low word"),
            reg("BASE_HI", exq::BASE_HI, Rw, "ring IOVA, high word"),
            reg(
                "SIZE_LOG2",
                exq::SIZE_LOG2,
                Rw,
                "log2 slots; writing it resets HEAD and TAIL",
            ),
            reg("HEAD", exq::HEAD, Ro, "producer index (NIC)"),
            reg("TAIL", exq::TAIL, Rw, "consumer index (host)"),
            reg(
                "IRQ_EN",
                exq::IRQ_EN,
                Rw,
                "bit 0: raise vector 0 when HEAD advances",
            ),
            reg(
                "RING_FULL_DROPS",
                exq::RING_FULL_DROPS,
                Ro,
                "exceptions dropped: ring full",
            ),
        ],
    },
    Block {
        name: "txq",
        base: txq::BASE,
        type_id: txq::TYPE_ID,
        version: txq::VERSION,
        implemented_by: "queue engine",
        regs: &[
            reg("BASE_LO", txq::BASE_LO, Rw, "ring IOVA, low word"),
            reg("BASE_HI", txq::BASE_HI, Rw, "ring IOVA, high word"),
            reg(
                "SIZE_LOG2",
                txq::SIZE_LOG2,
                Rw,
                "log2 slots; writing it resets HEAD and TAIL",
            ),
            reg("HEAD", txq::HEAD, Rw, "producer index (host)"),
            reg("TAIL", txq::TAIL, Ro, "consumer index (NIC)"),
            reg(
                "BAD_DESC",
                txq::BAD_DESC,
                Ro,
                "descriptors skipped: bad length or port",
            ),
        ],
    },
    Block {
        name: "build",
        base: build::BASE,
        type_id: build::TYPE_ID,
        version: build::VERSION,
        implemented_by: "board top",
        regs: &[
            reg("BOARD_ID", build::BOARD_ID, Ro, "board identifier"),
            reg(
                "BUILD_TIME",
                build::BUILD_TIME,
                Ro,
                "build time, Unix seconds",
            ),
            reg(
                "GIT_HASH_HI",
                build::GIT_HASH_HI,
                Ro,
                "git commit, first 4 bytes",
            ),
            reg(
                "GIT_HASH_LO",
                build::GIT_HASH_LO,
                Ro,
                "git commit, next 4 bytes",
            ),
            reg("FLAGS", build::FLAGS, Ro, "bit 0: built from a dirty tree"),
            reg("CORE_CLK_KHZ", build::CORE_CLK_KHZ, Ro, "core clock in kHz"),
        ],
    },
    Block {
        name: "frameport",
        base: frameport::BASE,
        type_id: frameport::TYPE_ID,
        version: frameport::VERSION,
        implemented_by: "board top (boards without DMA)",
        regs: &[],
    },
];

/// The `NEXT` value of the block at `base`: the following block's base, or 0 at the end.
pub fn next_of(base: u32) -> u32 {
    let i = BLOCKS
        .iter()
        .position(|b| b.base == base)
        .expect("not a block base");
    BLOCKS.get(i + 1).map_or(0, |b| b.base)
}

/// Walk the chain with `read` and return the base of the block of `type_id` whose major version
/// (upper 16 bits) matches `version`'s. Stops after 64 blocks (a corrupt chain cannot loop).
pub fn find<E>(
    mut read: impl FnMut(u32) -> Result<u32, E>,
    type_id: u32,
    version: u32,
) -> Result<Option<u32>, E> {
    let mut base = 0u32;
    for _ in 0..64 {
        if read(base + TYPE)? == type_id && read(base + VERSION)? >> 16 == version >> 16 {
            return Ok(Some(base));
        }
        let next = read(base + NEXT)?;
        if next == 0 || next <= base {
            return Ok(None);
        }
        base = next;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_staging_register_range_names_every_entry_word() {
        extern crate std;
        let b = BLOCKS.iter().find(|b| b.type_id == table::TYPE_ID).unwrap();
        let r = b.regs.iter().find(|r| r.offset == table::DATA0).unwrap();
        assert_eq!(
            r.name,
            std::format!("DATA0..DATA{}", crate::entry::WORDS - 1)
        );
    }

    #[test]
    fn the_activity_words_follow_the_staging_words() {
        assert_eq!(
            table::ACT0,
            table::DATA0 + 4 * crate::entry::WORDS as u32,
            "ACT0 right after DATA15"
        );
        assert_eq!(table::NOW, table::ACT0 + 4 * crate::activity::WORDS as u32);
    }

    #[test]
    fn blocks_are_ordered_and_disjoint() {
        for pair in BLOCKS.windows(2) {
            let a = &pair[0];
            let end = a.regs.iter().map(|r| r.offset).max().unwrap_or(0) + 4 * 10;
            assert!(
                a.base + end <= pair[1].base,
                "{} runs into {}",
                a.name,
                pair[1].name
            );
        }
        for b in BLOCKS {
            for r in b.regs {
                assert!(
                    r.offset >= 0x0C && r.offset % 4 == 0,
                    "{}.{}",
                    b.name,
                    r.name
                );
            }
        }
        assert_eq!(BLOCKS[2].base + 0x100, CORE_SPACE_END);
    }

    #[test]
    fn find_walks_the_chain() {
        let read = |a: u32| -> Result<u32, ()> {
            for b in BLOCKS {
                match a.checked_sub(b.base) {
                    Some(TYPE) => return Ok(b.type_id),
                    Some(VERSION) => return Ok(b.version),
                    Some(NEXT) => return Ok(next_of(b.base)),
                    _ => {}
                }
            }
            Ok(0xdead_beef)
        };
        assert_eq!(find(read, txq::TYPE_ID, txq::VERSION), Ok(Some(txq::BASE)));
        assert_eq!(find(read, 0x1234, 0), Ok(None));
        // a chain pointing back to itself ends
        assert_eq!(
            find(|a| Ok::<_, ()>(if a == NEXT { 0 } else { 7 }), 9, 0),
            Ok(None)
        );
    }
}
