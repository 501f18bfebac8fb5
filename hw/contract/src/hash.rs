//! The flow hash: which table bucket a 5-tuple lives in.
//!
//! Computed by the NIC on every frame and by the host when it places an entry, so it must be
//! bit-identical in both. It is a Toeplitz hash (as in receive-side scaling) of the entry's
//! 104-bit key field — the wire-order 5-tuple, bit `j` of the tuple being bit `j` of
//! [`crate::entry::KEY_SADDR`]..[`crate::entry::KEY_PROTO`] — under a 128-bit secret
//! [`HashKey`]: bit `i` of the hash is the parity of `tuple & (key >> i)`.
//!
//! Why keyed: for a random key, two different tuples land in the same bucket of a `2^T`-bucket
//! table with probability exactly `2^-T` (the `T` parities are independent linear forms of the
//! key), whatever the tuples are — so neither structured traffic (addresses and ports stepping
//! together) nor an attacker who cannot read the key can pile flows into one bucket. The host
//! picks a random key when it starts with an empty table and writes it to the table block's
//! `HASH_KEY` registers; the NIC resets to [`DEFAULT_KEY`]. In hardware each hash bit is one
//! AND-XOR tree over the 104 tuple bits. [`VECTORS`] are shared test vectors (under
//! [`DEFAULT_KEY`]): the hw tests check the circuit against them.

use crate::entry::{addr_wire, port_wire, FlowKey};

/// The 128-bit hash key, as the four `HASH_KEY` register words (word 0 = bits 0..32).
pub type HashKey = [u32; 4];

/// The key the NIC holds after reset (any fixed value would do; these are the first 16 bytes of
/// the widely published RSS default key).
pub const DEFAULT_KEY: HashKey = [0x6d5a_56da, 0x255b_0ec2, 0x4167_253d, 0x43a3_8fb0];

/// Bits of the hash (the table index uses the low `index_bits` of them).
pub const HASH_BITS: u32 = 32;

/// The 104-bit tuple of `key`, as the entry's key field holds it.
pub fn tuple(key: &FlowKey) -> u128 {
    addr_wire(key.saddr) as u128
        | (addr_wire(key.daddr) as u128) << 32
        | (port_wire(key.sport) as u128) << 64
        | (port_wire(key.dport) as u128) << 80
        | (key.proto as u128) << 96
}

fn key_bits(k: &HashKey) -> u128 {
    k[0] as u128 | (k[1] as u128) << 32 | (k[2] as u128) << 64 | (k[3] as u128) << 96
}

/// The low `bits` bits of the hash of a 104-bit tuple under `key`.
pub fn toeplitz(tuple: u128, key: &HashKey, bits: u32) -> u32 {
    let k = key_bits(key);
    let mut h = 0u32;
    for i in 0..bits.min(HASH_BITS) {
        h |= ((tuple & (k >> i)).count_ones() & 1) << i;
    }
    h
}

/// The bucket of `key` in a table of `1 << index_bits` buckets, under hash key `hkey`.
pub fn bucket_keyed(key: &FlowKey, index_bits: u32, hkey: &HashKey) -> u32 {
    toeplitz(tuple(key), hkey, index_bits)
}

/// The bucket of `key` under [`DEFAULT_KEY`] (a NIC whose key was never written).
pub fn bucket(key: &FlowKey, index_bits: u32) -> u32 {
    bucket_keyed(key, index_bits, &DEFAULT_KEY)
}

/// (key, hash under [`DEFAULT_KEY`]) pairs every implementation of the hash must reproduce.
pub const VECTORS: &[(FlowKey, u32)] = &[
    (
        FlowKey {
            saddr: [10, 0, 0, 2],
            daddr: [10, 0, 0, 100],
            sport: 40000,
            dport: 80,
            proto: 6,
        },
        0xF044_61F1,
    ),
    (
        FlowKey {
            saddr: [10, 1, 0, 2],
            daddr: [10, 0, 0, 2],
            sport: 80,
            dport: 40000,
            proto: 6,
        },
        0x86F4_5707,
    ),
    (
        FlowKey {
            saddr: [255, 255, 255, 255],
            daddr: [0, 0, 0, 0],
            sport: 65535,
            dport: 0,
            proto: 17,
        },
        0xBCFD_9F37,
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

/// log2 of the ways per set this design's table has (the table block's `WAYS_LOG2` register
/// reports it; a NIC without that register has one way).
pub const WAYS_LOG2: u32 = 2;

/// How the table's `2^index_bits` buckets group into sets: a key hashes to one set of
/// `2^ways_log2` buckets, read together by one lookup, and may live in any of them. Bucket
/// (entry index) `way << set_bits | set`: the set is the low [`Geometry::set_bits`] bits of the
/// hash, the way the bucket's high bits, so each way is one block RAM addressed by the set.
/// `ways_log2 = 0` is a direct-mapped table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub index_bits: u32,
    pub ways_log2: u32,
}

impl Geometry {
    /// A table of `2^index_bits` buckets in sets of `2^ways_log2` (at most `index_bits`).
    pub fn new(index_bits: u32, ways_log2: u32) -> Geometry {
        Geometry {
            index_bits,
            ways_log2: ways_log2.min(index_bits),
        }
    }

    /// A direct-mapped table.
    pub fn direct(index_bits: u32) -> Geometry {
        Geometry::new(index_bits, 0)
    }

    pub fn ways(&self) -> u32 {
        1 << self.ways_log2
    }

    /// Bits of the set index.
    pub fn set_bits(&self) -> u32 {
        self.index_bits - self.ways_log2
    }

    /// The set `key` hashes to under `hkey`.
    pub fn set_of(&self, key: &FlowKey, hkey: &HashKey) -> u32 {
        bucket_keyed(key, self.set_bits(), hkey)
    }

    /// The bucket of `way` in `set`.
    pub fn bucket(&self, set: u32, way: u32) -> u32 {
        (way << self.set_bits()) | set
    }

    /// The set a bucket belongs to.
    pub fn set_of_bucket(&self, bucket: u32) -> u32 {
        bucket & ((1 << self.set_bits()) - 1)
    }

    /// The buckets `key` may live in, in the order a lookup prefers them (way 0 first).
    pub fn buckets(&self, key: &FlowKey, hkey: &HashKey) -> impl Iterator<Item = u32> {
        let (g, set) = (*self, self.set_of(key, hkey));
        (0..self.ways()).map(move |w| g.bucket(set, w))
    }
}

/// The full 32-bit hash of a key under [`DEFAULT_KEY`] (what [`VECTORS`] records).
pub fn mix_key(key: &FlowKey) -> u32 {
    toeplitz(tuple(key), &DEFAULT_KEY, HASH_BITS)
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

    #[test]
    fn geometry_places_a_key_in_its_set_only() {
        let g = Geometry::new(10, 2);
        let k = VECTORS[0].0;
        let set = g.set_of(&k, &DEFAULT_KEY);
        assert_eq!(set, bucket(&k, 8));
        let b: [u32; 4] = core::array::from_fn(|w| g.bucket(set, w as u32));
        for (w, x) in g.buckets(&k, &DEFAULT_KEY).enumerate() {
            assert_eq!(x, b[w]);
            assert_eq!(g.set_of_bucket(x), set);
            assert_eq!(x >> 8, w as u32);
        }
        // direct-mapped: the one way is the old bucket
        let d = Geometry::direct(10);
        assert_eq!(d.buckets(&k, &DEFAULT_KEY).next(), Some(bucket(&k, 10)));
        assert_eq!(d.buckets(&k, &DEFAULT_KEY).count(), 1);
        // more ways than buckets is clamped
        assert_eq!(Geometry::new(1, 3).ways(), 2);
    }

    /// Bit `i` is the parity of the tuple under the key window at `i`, bit by bit.
    #[test]
    fn toeplitz_matches_its_definition() {
        let key = [0x0123_4567, 0x89ab_cdef, 0xdead_beef, 0x0bad_f00d];
        let t = tuple(&VECTORS[0].0);
        let h = toeplitz(t, &key, 32);
        let kb = |n: u32| (key[(n / 32) as usize] >> (n % 32)) & 1;
        for i in 0..32 {
            let mut p = 0;
            for j in 0..104u32 {
                if (t >> j) & 1 == 1 && i + j < 128 {
                    p ^= kb(i + j);
                }
            }
            assert_eq!((h >> i) & 1, p, "bit {i}");
        }
    }

    /// Structured clients (address and port stepping together) spread like random keys:
    /// with a fixed key, ~2^-12 of pairs collide in 4096 buckets.
    #[test]
    fn structured_flows_spread() {
        let keys: [HashKey; 3] = [
            DEFAULT_KEY,
            [0x2545_f491, 0x4f6c_dd1d, 0x1b87_3593, 0xcc9e_2d51],
            [0x9e37_79b9, 0x7f4a_7c15, 0xf39c_c060, 0x5ced_c834],
        ];
        for hk in keys {
            let mut seen = [0u32; 4096];
            let n = 2000u32;
            for k in 0..n {
                let f = FlowKey {
                    saddr: [10, 0, (k / 250) as u8, (k % 250) as u8],
                    daddr: [10, 0, 0, 100],
                    sport: 30000 + k as u16,
                    dport: 80,
                    proto: 6,
                };
                seen[bucket_keyed(&f, 12, &hk) as usize] += 1;
            }
            let pairs: u32 = seen.iter().map(|c| c * c.saturating_sub(1) / 2).sum();
            // expected n^2 / 2 / 4096 = 488; a linear map of this structure could do far worse
            assert!(pairs < 700, "{pairs} colliding pairs under {hk:x?}");
        }
    }
}
