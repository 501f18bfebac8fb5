//! Host queues: rings of fixed-size slots in host memory, filled and drained by the NIC's queue
//! engine (DMA). Each slot starts with a 16-byte descriptor followed by the frame bytes.
//!
//! * Exception queue (NIC → host): the NIC writes a frame and its descriptor into slot
//!   `head % size`, then advances `EXQ_HEAD`; the host consumes up to `head`, then writes
//!   `EXQ_TAIL`. The ring is full when `head - tail == size`; a further exception is dropped and
//!   counted. An interrupt (vector 0) is raised when `head` advances and `EXQ_IRQ_EN` is set.
//! * TX queue (host → NIC): the host writes a descriptor and frame into slot `head % size`, then
//!   `TXQ_HEAD`; the NIC injects the frame into the core and advances `TXQ_TAIL`.
//!
//! Indices are free-running 32-bit counters; the slot is the index modulo the ring size.

use crate::{Layout, NamedField};

/// Bytes per slot (descriptor + frame).
pub const SLOT_BYTES: usize = 2048;
/// Bytes of descriptor at the start of a slot.
pub const DESC_BYTES: usize = 16;
/// Largest frame a slot holds.
pub const MAX_FRAME: usize = SLOT_BYTES - DESC_BYTES;

/// Exception descriptor (little-endian bytes at the start of an exception slot), bit ranges.
pub mod exc_desc {
    use super::*;
    pub const LEN: crate::Field = 0..16;
    pub const REASON: crate::Field = 16..24;
    pub const SRC_PORT: crate::Field = 24..26;
    pub const HIT: crate::Field = 26..27;
    pub const ENTRY_INDEX: crate::Field = 32..64;
    pub const LAYOUT: Layout = Layout {
        name: "exc_desc",
        width: DESC_BYTES * 8,
        fields: &[
            NamedField {
                name: "len",
                bits: LEN,
                doc: "frame length in bytes",
            },
            NamedField {
                name: "reason",
                bits: REASON,
                doc: "Reason code",
            },
            NamedField {
                name: "src_port",
                bits: SRC_PORT,
                doc: "ingress port",
            },
            NamedField {
                name: "hit",
                bits: HIT,
                doc: "lookup hit an entry",
            },
            NamedField {
                name: "entry_index",
                bits: ENTRY_INDEX,
                doc: "bucket looked up",
            },
        ],
    };
}

/// TX descriptor (little-endian bytes at the start of a TX slot), bit ranges.
pub mod tx_desc {
    use super::*;
    pub const LEN: crate::Field = 0..16;
    pub const PORT: crate::Field = 16..18;
    pub const BYPASS: crate::Field = 18..19;
    pub const LAYOUT: Layout = Layout {
        name: "tx_desc",
        width: DESC_BYTES * 8,
        fields: &[
            NamedField {
                name: "len",
                bits: LEN,
                doc: "frame length in bytes",
            },
            NamedField {
                name: "port",
                bits: PORT,
                doc: "egress port when bypassing",
            },
            NamedField {
                name: "bypass",
                bits: BYPASS,
                doc: "1: send unchanged on `port`; 0: look up and rewrite like a received frame",
            },
        ],
    };
}

/// Descriptor as 32-bit words (what the helpers in the crate root pack into).
pub type DescWords = [u32; DESC_BYTES / 4];

pub fn desc_to_bytes(w: &DescWords) -> [u8; DESC_BYTES] {
    let mut b = [0u8; DESC_BYTES];
    for (i, word) in w.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    b
}

pub fn desc_from_bytes(b: &[u8]) -> DescWords {
    let mut w = [0u32; DESC_BYTES / 4];
    for (i, word) in w.iter_mut().enumerate() {
        *word = u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
    }
    w
}
