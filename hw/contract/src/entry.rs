//! The connection-table entry: one direction of one connection.
//!
//! A connection is installed as two entries (client→VIP and real server→client). The NIC matches
//! the 5-tuple key exactly in the bucket given by [`crate::hash::bucket`]; on a hit it applies the
//! action and forwards on `egress_port`.
//!
//! The host writes an entry by writing its [`WORDS`] 32-bit words into the table block's staging
//! registers and then the command register; the NIC copies the whole entry into the table in one
//! cycle, so a packet sees the old entry or the new one, never a mix.

use crate::{get_bits, set_bits, Layout, NamedField};

/// Width of one entry in bits.
pub const BITS: usize = 512;
/// Number of 32-bit words of one entry.
pub const WORDS: usize = BITS / 32;

/// Source IPv4 address of the key, wire order.
pub const KEY_SADDR: crate::Field = 0..32;
/// Destination IPv4 address of the key, wire order.
pub const KEY_DADDR: crate::Field = 32..64;
/// Source port of the key, wire order.
pub const KEY_SPORT: crate::Field = 64..80;
/// Destination port of the key, wire order.
pub const KEY_DPORT: crate::Field = 80..96;
/// IP protocol number of the key.
pub const KEY_PROTO: crate::Field = 96..104;
/// The entry is valid (matches).
pub const VALID: crate::Field = 104..105;
/// The [`Action`] applied on a hit.
pub const ACTION: crate::Field = 105..107;
/// NIC port the rewritten frame leaves on.
pub const EGRESS_PORT: crate::Field = 107..109;
/// Payload-carrying packets of this direction go to the host (application helper, e.g. FTP
/// control): reason `AppPayload`. Pure ACKs stay on the fast path.
pub const APP_BOUND: crate::Field = 109..110;
/// Fix this direction's sequence numbers with the `SEQ_*` delta.
pub const SEQ_EN: crate::Field = 110..111;
/// Fix this direction's acknowledgment numbers with the `ACK_*` delta (the other direction's
/// sequence delta).
pub const ACK_EN: crate::Field = 111..112;
/// The address written by the action (destination for DNAT, source for SNAT), wire order.
pub const NAT_ADDR: crate::Field = 112..144;
/// The port written by the action, wire order.
pub const NAT_PORT: crate::Field = 144..160;
/// Destination MAC address written into the frame, wire order (byte 0 in bits 0..8).
pub const DMAC: crate::Field = 160..208;
/// Source MAC address written into the frame, wire order.
pub const SMAC: crate::Field = 208..256;

/// Sequence delta of this direction (numbers, not wire order). A segment with sequence `s` is
/// renumbered `s + (after(s, POS) ? AFTER : BEFORE)`, comparisons modulo 2^32. `FLOOR` is the
/// position of the rewrite before `POS`: when `FLOOR != POS`, a segment at or before `FLOOR`
/// needs older history than the NIC holds and goes to the host (reason `SeqHistory`).
pub const SEQ_POS: crate::Field = 256..288;
pub const SEQ_BEFORE: crate::Field = 288..320;
pub const SEQ_AFTER: crate::Field = 320..352;
pub const SEQ_FLOOR: crate::Field = 352..384;
/// The other direction's sequence delta, applied to this direction's acks:
/// `a' = a - (after(a - BEFORE, POS) ? AFTER : BEFORE)`; history check on `a - BEFORE` vs `FLOOR`.
pub const ACK_POS: crate::Field = 384..416;
pub const ACK_BEFORE: crate::Field = 416..448;
pub const ACK_AFTER: crate::Field = 448..480;
pub const ACK_FLOOR: crate::Field = 480..512;

/// The layout, for documentation and the overlap test.
pub const LAYOUT: Layout = Layout {
    name: "conn_entry",
    width: BITS,
    fields: &[
        NamedField {
            name: "key_saddr",
            bits: KEY_SADDR,
            doc: "source IPv4 address (wire order)",
        },
        NamedField {
            name: "key_daddr",
            bits: KEY_DADDR,
            doc: "destination IPv4 address (wire order)",
        },
        NamedField {
            name: "key_sport",
            bits: KEY_SPORT,
            doc: "source port (wire order)",
        },
        NamedField {
            name: "key_dport",
            bits: KEY_DPORT,
            doc: "destination port (wire order)",
        },
        NamedField {
            name: "key_proto",
            bits: KEY_PROTO,
            doc: "IP protocol (6 = TCP)",
        },
        NamedField {
            name: "valid",
            bits: VALID,
            doc: "entry matches when set",
        },
        NamedField {
            name: "action",
            bits: ACTION,
            doc: "0 forward unchanged, 1 DNAT, 2 SNAT",
        },
        NamedField {
            name: "egress_port",
            bits: EGRESS_PORT,
            doc: "NIC port the frame leaves on",
        },
        NamedField {
            name: "nat_addr",
            bits: NAT_ADDR,
            doc: "new dst (DNAT) or src (SNAT) address; not applied by Forward (a DR entry records its real server here for the host)",
        },
        NamedField {
            name: "nat_port",
            bits: NAT_PORT,
            doc: "new dst (DNAT) or src (SNAT) port; not applied by Forward (as nat_addr)",
        },
        NamedField {
            name: "dmac",
            bits: DMAC,
            doc: "new destination MAC",
        },
        NamedField {
            name: "smac",
            bits: SMAC,
            doc: "new source MAC",
        },
    ],
};

/// What the NIC does to a frame that hits an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Action {
    /// Rewrite MACs only (the frame keeps its addresses).
    #[default]
    Forward = 0,
    /// Rewrite the destination address and port (client → VIP becomes client → real server).
    Dnat = 1,
    /// Rewrite the source address and port (real server → client becomes VIP → client).
    Snat = 2,
}

impl Action {
    pub fn from_bits(v: u64) -> Option<Action> {
        match v {
            0 => Some(Action::Forward),
            1 => Some(Action::Dnat),
            2 => Some(Action::Snat),
            _ => None,
        }
    }
}

/// One level of sequence delta with its history limit (see [`SEQ_POS`]). Offsets are two's
/// complement 32-bit values; all arithmetic is modulo 2^32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqDelta {
    pub pos: u32,
    pub before: u32,
    pub after: u32,
    /// Equal to `pos` when the NIC's level is the whole history.
    pub floor: u32,
}

/// `a` is after `b` in sequence space.
pub fn seq_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

impl SeqDelta {
    /// Renumber a sequence number; `None` if it needs older history than this level.
    pub fn fix_seq(&self, s: u32) -> Option<u32> {
        if self.floor != self.pos && !seq_after(s, self.floor) {
            return None;
        }
        let off = if seq_after(s, self.pos) {
            self.after
        } else {
            self.before
        };
        Some(s.wrapping_add(off))
    }

    /// Map an acknowledgment back; `None` if it needs older history than this level.
    pub fn fix_ack(&self, a: u32) -> Option<u32> {
        let orig = a.wrapping_sub(self.before);
        if self.floor != self.pos && !seq_after(orig, self.floor) {
            return None;
        }
        let off = if seq_after(orig, self.pos) {
            self.after
        } else {
            self.before
        };
        Some(a.wrapping_sub(off))
    }
}

/// The 5-tuple a frame is looked up by, in host values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct FlowKey {
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

/// A 16-bit port in wire order (as the NIC sees it in its lanes).
pub fn port_wire(port: u16) -> u16 {
    u16::from_le_bytes(port.to_be_bytes())
}

/// An IPv4 address in wire order.
pub fn addr_wire(addr: [u8; 4]) -> u32 {
    u32::from_le_bytes(addr)
}

/// A MAC address in wire order.
pub fn mac_wire(mac: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[..6].copy_from_slice(&mac);
    u64::from_le_bytes(b)
}

impl FlowKey {
    /// The key of the reverse direction.
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            saddr: self.daddr,
            daddr: self.saddr,
            sport: self.dport,
            dport: self.sport,
            proto: self.proto,
        }
    }
}

/// One decoded table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Entry {
    pub key: FlowKey,
    pub valid: bool,
    pub action: Action,
    pub egress_port: u8,
    pub nat_addr: [u8; 4],
    pub nat_port: u16,
    pub dmac: [u8; 6],
    pub smac: [u8; 6],
    /// Payload packets go to the host.
    pub app_bound: bool,
    /// This direction's sequence delta, if any.
    pub seq: Option<SeqDelta>,
    /// The other direction's delta, applied to this direction's acks, if any.
    pub ack: Option<SeqDelta>,
}

fn set_delta(w: &mut [u32], f: [crate::Field; 4], d: &SeqDelta) {
    set_bits(w, f[0].clone(), d.pos as u64);
    set_bits(w, f[1].clone(), d.before as u64);
    set_bits(w, f[2].clone(), d.after as u64);
    set_bits(w, f[3].clone(), d.floor as u64);
}

fn get_delta(w: &[u32], f: [crate::Field; 4]) -> SeqDelta {
    SeqDelta {
        pos: get_bits(w, f[0].clone()) as u32,
        before: get_bits(w, f[1].clone()) as u32,
        after: get_bits(w, f[2].clone()) as u32,
        floor: get_bits(w, f[3].clone()) as u32,
    }
}

const SEQ_FIELDS: [crate::Field; 4] = [SEQ_POS, SEQ_BEFORE, SEQ_AFTER, SEQ_FLOOR];
const ACK_FIELDS: [crate::Field; 4] = [ACK_POS, ACK_BEFORE, ACK_AFTER, ACK_FLOOR];

impl Entry {
    /// Encode into the words the host writes to the staging registers.
    pub fn to_words(&self) -> [u32; WORDS] {
        let mut w = [0u32; WORDS];
        set_bits(&mut w, KEY_SADDR, addr_wire(self.key.saddr) as u64);
        set_bits(&mut w, KEY_DADDR, addr_wire(self.key.daddr) as u64);
        set_bits(&mut w, KEY_SPORT, port_wire(self.key.sport) as u64);
        set_bits(&mut w, KEY_DPORT, port_wire(self.key.dport) as u64);
        set_bits(&mut w, KEY_PROTO, self.key.proto as u64);
        set_bits(&mut w, VALID, self.valid as u64);
        set_bits(&mut w, ACTION, self.action as u64);
        set_bits(&mut w, EGRESS_PORT, self.egress_port as u64);
        set_bits(&mut w, NAT_ADDR, addr_wire(self.nat_addr) as u64);
        set_bits(&mut w, NAT_PORT, port_wire(self.nat_port) as u64);
        set_bits(&mut w, DMAC, mac_wire(self.dmac));
        set_bits(&mut w, SMAC, mac_wire(self.smac));
        set_bits(&mut w, APP_BOUND, self.app_bound as u64);
        if let Some(d) = &self.seq {
            set_bits(&mut w, SEQ_EN, 1);
            set_delta(&mut w, SEQ_FIELDS, d);
        }
        if let Some(d) = &self.ack {
            set_bits(&mut w, ACK_EN, 1);
            set_delta(&mut w, ACK_FIELDS, d);
        }
        w
    }

    /// Decode from table words. `None` if the action code is not defined.
    pub fn from_words(w: &[u32; WORDS]) -> Option<Entry> {
        let addr = |f| (get_bits(w, f) as u32).to_le_bytes();
        let port = |f| u16::from_be_bytes((get_bits(w, f) as u16).to_le_bytes());
        let mac = |f| {
            let b = get_bits(w, f).to_le_bytes();
            [b[0], b[1], b[2], b[3], b[4], b[5]]
        };
        Some(Entry {
            key: FlowKey {
                saddr: addr(KEY_SADDR),
                daddr: addr(KEY_DADDR),
                sport: port(KEY_SPORT),
                dport: port(KEY_DPORT),
                proto: get_bits(w, KEY_PROTO) as u8,
            },
            valid: get_bits(w, VALID) == 1,
            action: Action::from_bits(get_bits(w, ACTION))?,
            egress_port: get_bits(w, EGRESS_PORT) as u8,
            nat_addr: addr(NAT_ADDR),
            nat_port: port(NAT_PORT),
            dmac: mac(DMAC),
            smac: mac(SMAC),
            app_bound: get_bits(w, APP_BOUND) == 1,
            seq: (get_bits(w, SEQ_EN) == 1).then(|| get_delta(w, SEQ_FIELDS)),
            ack: (get_bits(w, ACK_EN) == 1).then(|| get_delta(w, ACK_FIELDS)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips() {
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
            app_bound: true,
            seq: Some(SeqDelta {
                pos: 0xFFFF_FFF0,
                before: 0,
                after: 3,
                floor: 0xFFFF_FFF0,
            }),
            ack: Some(SeqDelta {
                pos: 7,
                before: (-2i32) as u32,
                after: 5,
                floor: 1,
            }),
        };
        let w = e.to_words();
        assert_eq!(Entry::from_words(&w), Some(e));
        // wire order: the first address byte is the least significant byte of the field
        assert_eq!(get_bits(&w, KEY_SADDR) & 0xff, 10);
        assert_eq!(get_bits(&w, KEY_DPORT), 80 << 8);
    }

    #[test]
    fn delta_semantics_across_the_wrap() {
        let d = SeqDelta {
            pos: 0xFFFF_FFF0,
            before: 2,
            after: 7,
            floor: 0xFFFF_FFF0,
        };
        assert_eq!(d.fix_seq(0xFFFF_FFF0), Some(0xFFFF_FFF2)); // at pos: before
        assert_eq!(d.fix_seq(0x10), Some(0x17)); // after pos, across the wrap
        assert_eq!(d.fix_ack(0x17), Some(0x10));
        assert_eq!(d.fix_ack(0xFFFF_FFF2), Some(0xFFFF_FFF0));
        let h = SeqDelta {
            floor: 0xFFFF_FF00,
            ..d
        };
        assert_eq!(h.fix_seq(0xFFFF_FF00), None); // older than the NIC's history
        assert_eq!(h.fix_seq(0xFFFF_FF01), Some(0xFFFF_FF03));
        assert_eq!(h.fix_ack(0xFFFF_FF02), None);
    }

    #[test]
    fn undefined_action_is_rejected() {
        let mut w = Entry::default().to_words();
        set_bits(&mut w, ACTION, 3);
        assert_eq!(Entry::from_words(&w), None);
    }
}
