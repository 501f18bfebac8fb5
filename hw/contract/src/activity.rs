//! Per-entry activity: what the NIC saw on each table bucket, for the host's TCP state machine,
//! timeouts and statistics (IPVS runs them per packet; here the host reads them per bucket).
//!
//! Every table bucket has one activity record beside its entry. The NIC updates it for every
//! frame whose lookup **hits** the bucket's valid entry (the decision's `HIT` bit), whatever the
//! frame's fate next: forwarded on the fast path or sent to the host (app-bound payload, old seq
//! history, ack options...). Host-injected frames that take the lookup count too. Frames that
//! never reach a hit (misses, SYNs to an empty bucket, truncated, options, fragments...) do not.
//!
//! The record is **absolute and never written by the host**: counters start at zero when the NIC
//! is configured and wrap; the host keeps the last value it read per bucket and works with the
//! wrapping differences ([`Activity::since`]). When a connection leaves a bucket the host reads
//! the bucket's final record (once the invalidation has settled, [`SETTLE_CYCLES`]) and keeps it
//! as the baseline of the bucket's next connection. So the NIC needs no host write port to the
//! activity RAM and a host read never races a counter reset.
//!
//! Read path: `table::CMD_READ` loads the bucket's record into the table block's `ACT0..ACT3`
//! words together with the entry into `DATA0..`; `table::NOW` is the NIC's time, in the same
//! unit as [`LAST_SEEN`].

use crate::{get_bits, set_bits, Layout, NamedField};

/// Width of one activity record in bits.
pub const BITS: usize = 128;
/// Number of 32-bit words of one record (`ACT0..ACT3`).
pub const WORDS: usize = BITS / 32;

/// Frames that hit the entry (wraps at 2^32).
pub const PACKETS: crate::Field = 0..32;
/// Their bytes: each frame's length as the core received it, Ethernet header to the end of
/// the payload, no FCS (wraps at 2^40).
pub const BYTES: crate::Field = 32..72;
/// NIC time ([`TICK_NS_LOG2`]) of the last hit; 0 before the first.
pub const LAST_SEEN: crate::Field = 72..104;
/// TCP segments with SYN set that hit (wraps at 2^8).
pub const SYNS: crate::Field = 104..112;
/// TCP segments with FIN set that hit (wraps at 2^8).
pub const FINS: crate::Field = 112..120;
/// TCP segments with RST set that hit (wraps at 2^8).
pub const RSTS: crate::Field = 120..128;

/// NIC time counts units of 2^20 ns (1.048576 ms): an integer number of core cycles at every
/// clock the boards use (62.5 MHz: 65 536; 156.25 MHz: 163 840; 250 MHz: 262 144), and 32 bits
/// of it last 52 days. The board's time source (or the simulator's clock) drives the core's
/// `now` input; `table::NOW` reads it.
pub const TICK_NS_LOG2: u32 = 20;

/// Core cycles per NIC time unit at a clock of `clock_hz` (rounded down; exact for the boards'
/// clocks above).
pub fn cycles_per_tick(clock_hz: u64) -> u64 {
    (clock_hz << TICK_NS_LOG2) / 1_000_000_000
}

/// A frame's record update is written at most this many core cycles after both its lookup and
/// its last beat (the frame's length is known only then: a 1514-byte frame at 64 bits is ~190
/// beats long). A host read of a bucket issued at least this long after the write that
/// invalidated the bucket's entry, plus one maximum-size frame's beats, sees every frame that
/// hit the old entry; the daemon reads a released bucket a tick later (milliseconds).
pub const SETTLE_CYCLES: u32 = 16;

/// The layout, for documentation and the overlap test.
pub const LAYOUT: Layout = Layout {
    name: "activity",
    width: BITS,
    fields: &[
        NamedField {
            name: "packets",
            bits: PACKETS,
            doc: "frames that hit the entry (wrapping)",
        },
        NamedField {
            name: "bytes",
            bits: BYTES,
            doc: "their bytes, Ethernet header to payload end, no FCS (wrapping)",
        },
        NamedField {
            name: "last_seen",
            bits: LAST_SEEN,
            doc: "NIC time of the last hit (units of 2^20 ns); 0 before the first",
        },
        NamedField {
            name: "syns",
            bits: SYNS,
            doc: "TCP segments with SYN that hit (wrapping)",
        },
        NamedField {
            name: "fins",
            bits: FINS,
            doc: "TCP segments with FIN that hit (wrapping)",
        },
        NamedField {
            name: "rsts",
            bits: RSTS,
            doc: "TCP segments with RST that hit (wrapping)",
        },
    ],
};

/// One bucket's activity record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Activity {
    pub packets: u32,
    /// 40 bits.
    pub bytes: u64,
    pub last_seen: u32,
    pub syns: u8,
    pub fins: u8,
    pub rsts: u8,
}

/// The TCP flags of one frame that the record counts (all false for UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HitFlags {
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
}

/// Wrapping differences between two reads of one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActivityDelta {
    pub packets: u32,
    pub bytes: u64,
    pub syns: u8,
    pub fins: u8,
    pub rsts: u8,
    /// `last_seen` of the later read, when it saw any packet.
    pub last_seen: Option<u32>,
}

const BYTES_MASK: u64 = (1 << 40) - 1;

impl Activity {
    /// The record after one more hit: a frame of `len` bytes with `flags` at NIC time `now`.
    /// The reference semantics of the hardware's update (the model and the fakes use it).
    pub fn record(&self, len: u32, flags: HitFlags, now: u32) -> Activity {
        Activity {
            packets: self.packets.wrapping_add(1),
            bytes: self.bytes.wrapping_add(len as u64) & BYTES_MASK,
            last_seen: now,
            syns: self.syns.wrapping_add(flags.syn as u8),
            fins: self.fins.wrapping_add(flags.fin as u8),
            rsts: self.rsts.wrapping_add(flags.rst as u8),
        }
    }

    /// What happened between `earlier` (a previous read of the same bucket) and `self`.
    pub fn since(&self, earlier: &Activity) -> ActivityDelta {
        let packets = self.packets.wrapping_sub(earlier.packets);
        ActivityDelta {
            packets,
            bytes: self.bytes.wrapping_sub(earlier.bytes) & BYTES_MASK,
            syns: self.syns.wrapping_sub(earlier.syns),
            fins: self.fins.wrapping_sub(earlier.fins),
            rsts: self.rsts.wrapping_sub(earlier.rsts),
            last_seen: (packets != 0).then_some(self.last_seen),
        }
    }

    /// The record as the `ACT0..ACT3` words.
    pub fn to_words(&self) -> [u32; WORDS] {
        let mut w = [0u32; WORDS];
        set_bits(&mut w, PACKETS, self.packets as u64);
        set_bits(&mut w, BYTES, self.bytes & BYTES_MASK);
        set_bits(&mut w, LAST_SEEN, self.last_seen as u64);
        set_bits(&mut w, SYNS, self.syns as u64);
        set_bits(&mut w, FINS, self.fins as u64);
        set_bits(&mut w, RSTS, self.rsts as u64);
        w
    }

    /// The record from the `ACT0..ACT3` words (every bit pattern is a record).
    pub fn from_words(w: &[u32; WORDS]) -> Activity {
        Activity {
            packets: get_bits(w, PACKETS) as u32,
            bytes: get_bits(w, BYTES),
            last_seen: get_bits(w, LAST_SEEN) as u32,
            syns: get_bits(w, SYNS) as u8,
            fins: get_bits(w, FINS) as u8,
            rsts: get_bits(w, RSTS) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_consistent() {
        assert_eq!(LAYOUT.check(), Ok(()));
        let end = LAYOUT.fields.iter().map(|f| f.bits.end).max().unwrap();
        assert_eq!(end, BITS);
    }

    #[test]
    fn words_round_trip() {
        let a = Activity {
            packets: 0xdead_beef,
            bytes: 0xab_cdef_0123,
            last_seen: 0x1234_5678,
            syns: 1,
            fins: 0xfe,
            rsts: 0x80,
        };
        assert_eq!(Activity::from_words(&a.to_words()), a);
    }

    #[test]
    fn differences_wrap() {
        let before = Activity {
            packets: u32::MAX,
            bytes: BYTES_MASK - 10,
            last_seen: 5,
            syns: 255,
            fins: 255,
            rsts: 0,
        };
        let fin = HitFlags {
            fin: true,
            ..HitFlags::default()
        };
        let after = before
            .record(60, fin, 9)
            .record(1514, HitFlags::default(), 11);
        let d = after.since(&before);
        assert_eq!(d.packets, 2);
        assert_eq!(d.bytes, 1574);
        assert_eq!(d.fins, 1);
        assert_eq!(d.syns, 0);
        assert_eq!(d.last_seen, Some(11));
        assert_eq!(after.since(&after).last_seen, None);
    }

    #[test]
    fn board_clocks_have_whole_ticks() {
        for (hz, cycles) in [
            (62_500_000u64, 65_536u64),
            (156_250_000, 163_840),
            (250_000_000, 262_144),
        ] {
            assert_eq!(cycles_per_tick(hz), cycles);
            assert_eq!((cycles * 1_000_000_000) % hz, 0);
        }
    }
}
