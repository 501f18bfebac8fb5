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
//! | 13 | seq (or ack) older than the entry's delta history (`FLOOR`) | `SeqHistory` |
//! | 14 | ack needs a delta and the segment has TCP options other than exactly NOP, NOP, Timestamps (SACK edges to fix) | `AckOptions` |
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
    /// An ack needing a delta on a segment with TCP options (SACK blocks): the host fixes it.
    AckOptions = 11,
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
    use super::*;
    #[test]
    fn codes_round_trip() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
            assert_eq!(Reason::from_code(i as u8), Some(*r));
        }
        assert_eq!(Reason::from_code(NUM_REASONS as u8), None);
    }
}
