//! Exceptions: frames the fast path does not finish, sent to the host with a reason.
//!
//! The NIC classifies each frame in this order and the first rule that applies is the reason:
//! a frame from the host (TX injection) is never an exception.
//!
//! | order | condition | reason |
//! |---|---|---|
//! | 1 | frame shorter than an Ethernet header (14 bytes) | `Truncated` |
//! | 2 | EtherType is not IPv4 (ARP, IPv6, VLAN…) | `NonIpv4` |
//! | 3 | frame shorter than Ethernet + IPv4 header (34 bytes) | `Truncated` |
//! | 4 | IP version is not 4 | `NonIpv4` |
//! | 5 | IPv4 header length ≠ 20 bytes | `IpOptions` |
//! | 6 | IPv4 header checksum wrong | `BadChecksum` |
//! | 7 | fragment (MF set or offset ≠ 0) | `Fragment` |
//! | 8 | protocol is neither TCP nor UDP | `NonTcpUdp` |
//! | 9 | frame shorter than its L4 header (TCP: 54 bytes, UDP: 42) | `Truncated` |
//! | 10 | TCP SYN without ACK (a new connection) | `Syn` |
//! | 11 | no valid table entry with this 5-tuple in its bucket | `Miss` |
//! | 12 | entry is app-bound and the segment carries payload | `AppPayload` |
//! | 13 | seq, ack or (in a [`sack`] layout) a SACK edge older than the entry's delta history (`FLOOR`) | `SeqHistory` |
//! | 14 | ack needs a delta and the segment's TCP options are neither exactly NOP, NOP, Timestamps nor one of the [`sack`] layouts the NIC fixes (whole within the frame) | `AckOptions` |
//!
//! Rules 12–14 apply to frames that hit an entry; UDP frames never carry deltas.
//!
//! If the exception queue cannot take the frame it is dropped and counted
//! (`EXC_DROP`); the receive side never stalls.

use crate::{Layout, NamedField};

/// Why a frame went to the host. Codes are stable: they appear in descriptors and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Reason {
    /// Not an exception (fast path).
    None = 0,
    /// No connection-table entry for the 5-tuple.
    Miss = 1,
    /// A TCP SYN: a new connection is for the host to schedule.
    Syn = 2,
    /// Payload on a connection bound to an application helper.
    AppPayload = 3,
    /// IPv4 header with options.
    IpOptions = 4,
    /// IPv4 fragment.
    Fragment = 5,
    /// An IP protocol the fast path does not handle.
    NonTcpUdp = 6,
    /// Not IPv4 (ARP, IPv6, …).
    NonIpv4 = 7,
    /// IPv4 header checksum wrong.
    BadChecksum = 8,
    /// Frame ends inside its headers.
    Truncated = 9,
    /// A sequence or ack number older than the NIC's delta history: the host fixes it.
    SeqHistory = 10,
    /// An ack needing a delta on a segment whose TCP options the NIC does not fix (not one of
    /// the [`sack`] layouts): the host fixes it.
    AckOptions = 11,
}

/// The TCP option layouts whose SACK edges the NIC moves by the ack delta on the fast path
/// (every edge like the ack number itself: `FIX_ACK`, with the same history check). They are
/// the two Linux sends: SACK alone, and SACK behind timestamps. Any other option list on an ack
/// that needs a delta is an `AckOptions` exception for the host, which walks options in full.
pub mod sack {
    /// One recognised layout: the option bytes from the end of the fixed TCP header up to the
    /// first edge, and where the first edge starts (frame offset, untagged Ethernet + IPv4
    /// without options).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SackLayout {
        pub name: &'static str,
        /// The option bytes before the SACK option's length byte (kind 5 last).
        pub prefix: &'static [u8],
        /// Frame offset of the first SACK edge.
        pub first_edge: usize,
        /// Most SACK blocks the layout holds in 40 option bytes.
        pub max_blocks: usize,
    }

    /// Frame offset of the TCP options (14 + 20 + 20).
    pub const OPTIONS_AT: usize = 54;

    /// NOP, NOP, SACK(5, 2 + 8n): n = 1..4 blocks, the TCP header exactly that long.
    pub const SACK_ONLY: SackLayout = SackLayout {
        name: "nop,nop,sack",
        prefix: &[1, 1, 5],
        first_edge: 58,
        max_blocks: 4,
    };
    /// NOP, NOP, TS(8, 10), NOP, NOP, SACK(5, 2 + 8n): n = 1..3, the header exactly that long.
    pub const TS_SACK: SackLayout = SackLayout {
        name: "nop,nop,ts,nop,nop,sack",
        prefix: &[1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 5],
        first_edge: 70,
        max_blocks: 3,
    };
    /// Both, in the order the NIC tries them.
    pub const LAYOUTS: [SackLayout; 2] = [SACK_ONLY, TS_SACK];
    /// Bytes of the frame the NIC must see to fix any layout's edges: the largest TCP header
    /// (60 bytes) rounded up to whole 32-byte words past the 64-byte header window.
    pub const WINDOW_END: usize = 96;

    impl SackLayout {
        /// The option bytes are this layout's (bytes of the timestamps' values not compared),
        /// the TCP header ends exactly after the SACK option, and the frame holds the whole
        /// header. Returns the frame offsets of its edges (two per block).
        pub fn edges(&self, frame: &[u8]) -> Option<core::ops::Range<usize>> {
            if frame.len() < OPTIONS_AT {
                return None;
            }
            let tcp_hdr = (frame[46] >> 4) as usize * 4;
            let hdr_end = 34 + tcp_hdr;
            if frame.len() < hdr_end || hdr_end < self.first_edge {
                return None;
            }
            let ts = self.prefix.len() > 3;
            let matches = self.prefix.iter().enumerate().all(|(i, &b)| {
                let value_byte = ts && (4..12).contains(&i);
                value_byte || frame[OPTIONS_AT + i] == b
            });
            let len = frame[self.first_edge - 1] as usize;
            let blocks = len.saturating_sub(2) / 8;
            let ok = matches
                && (1..=self.max_blocks).contains(&blocks)
                && len == 2 + 8 * blocks
                && hdr_end == self.first_edge + 8 * blocks;
            ok.then(|| self.first_edge..self.first_edge + 8 * blocks)
        }
    }

    /// The edges' frame offsets if the frame's TCP options are a recognised SACK layout.
    pub fn edges(frame: &[u8]) -> Option<core::ops::Range<usize>> {
        LAYOUTS.iter().find_map(|l| l.edges(frame))
    }
}

/// Number of reason codes (counters are indexed by code).
pub const NUM_REASONS: usize = 12;

impl Reason {
    pub const ALL: [Reason; NUM_REASONS] = [
        Reason::None,
        Reason::Miss,
        Reason::Syn,
        Reason::AppPayload,
        Reason::IpOptions,
        Reason::Fragment,
        Reason::NonTcpUdp,
        Reason::NonIpv4,
        Reason::BadChecksum,
        Reason::Truncated,
        Reason::SeqHistory,
        Reason::AckOptions,
    ];

    pub fn from_code(code: u8) -> Option<Reason> {
        Reason::ALL.get(code as usize).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Reason::None => "none",
            Reason::Miss => "miss",
            Reason::Syn => "syn",
            Reason::AppPayload => "app_payload",
            Reason::IpOptions => "ip_options",
            Reason::Fragment => "fragment",
            Reason::NonTcpUdp => "non_tcp_udp",
            Reason::NonIpv4 => "non_ipv4",
            Reason::BadChecksum => "bad_checksum",
            Reason::Truncated => "truncated",
            Reason::SeqHistory => "seq_history",
            Reason::AckOptions => "ack_options",
        }
    }
}

/// Exception metadata the core emits with the last beat of an exception frame (`m_exc_meta`).
pub mod meta {
    use super::*;
    pub const WIDTH: usize = 64;
    pub const REASON: crate::Field = 0..8;
    pub const SRC_PORT: crate::Field = 8..10;
    pub const HIT: crate::Field = 10..11;
    pub const ENTRY_INDEX: crate::Field = 16..32;
    pub const LEN: crate::Field = 32..48;
    pub const LAYOUT: Layout = Layout {
        name: "exception_meta",
        width: WIDTH,
        fields: &[
            NamedField {
                name: "reason",
                bits: REASON,
                doc: "Reason code",
            },
            NamedField {
                name: "src_port",
                bits: SRC_PORT,
                doc: "NIC port the frame arrived on",
            },
            NamedField {
                name: "hit",
                bits: HIT,
                doc: "the lookup hit an entry",
            },
            NamedField {
                name: "entry_index",
                bits: ENTRY_INDEX,
                doc: "bucket looked up",
            },
            NamedField {
                name: "len",
                bits: LEN,
                doc: "frame length in bytes",
            },
        ],
    };
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn codes_round_trip() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert_eq!(Reason::from_code(i as u8), Some(*r));
        }
        assert_eq!(Reason::from_code(NUM_REASONS as u8), None);
    }

    /// A TCP/IPv4 frame with these option bytes (header length from them) and `extra` bytes.
    fn frame(opts: &[u8], extra: usize) -> Vec<u8> {
        let mut f = vec![0u8; 54];
        f[46] = (((20 + opts.len()) / 4) as u8) << 4;
        f.extend_from_slice(opts);
        f.extend(std::iter::repeat_n(0xAB, extra));
        f
    }

    #[test]
    fn sack_layouts_and_their_edges() {
        for n in 1..=4u8 {
            let mut o = vec![1, 1, 5, 2 + 8 * n];
            o.extend(vec![7; 8 * n as usize]);
            assert_eq!(sack::edges(&frame(&o, 0)), Some(58..58 + 8 * n as usize));
            // the frame must hold the whole header
            let f = frame(&o, 0);
            assert_eq!(sack::edges(&f[..f.len() - 1]), None);
        }
        for n in 1..=3u8 {
            let mut o = vec![1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 5, 2 + 8 * n];
            o.extend(vec![7; 8 * n as usize]);
            assert_eq!(sack::edges(&frame(&o, 3)), Some(70..70 + 8 * n as usize));
        }
        let bad: [&[u8]; 6] = [
            &[1, 1, 5, 11, 0, 0, 0, 0, 0, 0, 0, 0], // odd length
            &[1, 1, 5, 18, 0, 0, 0, 0, 0, 0, 0, 0], // longer than the header
            &[1, 1, 5, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0], // an option after it
            &[1, 5, 10, 1, 0, 0, 0, 0, 0, 0, 0, 0], // another order
            &[1, 1, 4, 10, 0, 0, 0, 0, 0, 0, 0, 0], // not SACK
            &[1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0], // timestamps only
        ];
        for o in bad {
            assert_eq!(sack::edges(&frame(o, 20)), None, "{o:?}");
        }
        assert!(sack::edges(&[0u8; 40]).is_none());
    }
}
