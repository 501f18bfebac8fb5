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
pub const BITS: usize = 256;
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
/// The address written by the action (destination for DNAT, source for SNAT), wire order.
pub const NAT_ADDR: crate::Field = 112..144;
/// The port written by the action, wire order.
pub const NAT_PORT: crate::Field = 144..160;
/// Destination MAC address written into the frame, wire order (byte 0 in bits 0..8).
pub const DMAC: crate::Field = 160..208;
/// Source MAC address written into the frame, wire order.
pub const SMAC: crate::Field = 208..256;

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
            doc: "new dst (DNAT) or src (SNAT) address",
        },
        NamedField {
            name: "nat_port",
            bits: NAT_PORT,
            doc: "new dst (DNAT) or src (SNAT) port",
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
}

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
        };
        let w = e.to_words();
        assert_eq!(Entry::from_words(&w), Some(e));
        // wire order: the first address byte is the least significant byte of the field
        assert_eq!(get_bits(&w, KEY_SADDR) & 0xff, 10);
        assert_eq!(get_bits(&w, KEY_DPORT), 80 << 8);
    }

    #[test]
    fn undefined_action_is_rejected() {
        let mut w = Entry::default().to_words();
        set_bits(&mut w, ACTION, 3);
        assert_eq!(Entry::from_words(&w), None);
    }
}
