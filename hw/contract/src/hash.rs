//! The flow hash: which table bucket a 5-tuple lives in.
//!
//! Computed by the NIC on every frame and by the host when it places an entry, so it must be
//! bit-identical in both. It works on wire-order values (see the crate docs) and uses only XOR,
//! rotations and shifts so it is one level of logic per output bit in hardware.
//! [`VECTORS`] are shared test vectors: the hw tests check the circuit against them.

use crate::entry::{addr_wire, port_wire, FlowKey};

/// Mix the wire-order key fields into 32 bits.
pub fn mix(saddr: u32, daddr: u32, sport: u16, dport: u16, proto: u8) -> u32 {
    let ports = sport as u32 | (dport as u32) << 16;
    let x = saddr ^ daddr.rotate_left(11) ^ ports.rotate_left(22) ^ (proto as u32) << 7;
    x ^ x >> 15 ^ x >> 23
}

/// The bucket of `key` in a table of `1 << index_bits` buckets.
pub fn bucket(key: &FlowKey, index_bits: u32) -> u32 {
    let h = mix(
        addr_wire(key.saddr),
        addr_wire(key.daddr),
        port_wire(key.sport),
        port_wire(key.dport),
        key.proto,
    );
    h & ((1u32 << index_bits) - 1)
}

/// (key, mix) pairs every implementation of the hash must reproduce.
pub const VECTORS: &[(FlowKey, u32)] = &[
    (
        FlowKey {
            saddr: [10, 0, 0, 2],
            daddr: [10, 0, 0, 100],
            sport: 40000,
            dport: 80,
            proto: 6,
        },
        0x2514_1A58,
    ),
    (
        FlowKey {
            saddr: [10, 1, 0, 2],
            daddr: [10, 0, 0, 2],
            sport: 80,
            dport: 40000,
            proto: 6,
        },
        0x0210_712A,
    ),
    (
        FlowKey {
            saddr: [255, 255, 255, 255],
            daddr: [0, 0, 0, 0],
            sport: 65535,
            dport: 0,
            proto: 17,
        },
        0x003F_F73F,
    ),
    (
        FlowKey {
            saddr: [0; 4],
            daddr: [0; 4],
            sport: 0,
            dport: 0,
            proto: 0,
        },
        0,
    ),
];

/// The full 32-bit mix of a key (what [`VECTORS`] records).
pub fn mix_key(key: &FlowKey) -> u32 {
    mix(
        addr_wire(key.saddr),
        addr_wire(key.daddr),
        port_wire(key.sport),
        port_wire(key.dport),
        key.proto,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_hold() {
        for (k, h) in VECTORS {
            assert_eq!(mix_key(k), *h, "{k:?} -> {:#x}", mix_key(k));
        }
    }

    #[test]
    fn directions_spread() {
        let k = VECTORS[0].0;
        assert_ne!(bucket(&k, 10), bucket(&k.reversed(), 10));
    }
}
