//! The flow hash of the decide stage: a Toeplitz hash of the 104-bit tuple under the 128-bit key
//! the host wrote to the table block (`vsnic_contract::hash`). Bit `i` of the index is the parity
//! of `tuple & key[i +: 104]`: one AND-XOR tree per bit, no carries.
//!
//! RustHDL's HDL generator cannot assign single bits of a signal in a loop, so this block's
//! Verilog is generated here (one `^(tuple & key[i +: 104])` line per bit) and its simulation
//! is the contract's function on native integers — the same definition twice, checked against
//! each other below, through Verilator in the co-simulation test, and by yosys in synthesis.
//! It only re-evaluates when the tuple or the key changed.

use rust_hdl::prelude::*;
use std::fmt::Write;
use vsnic_contract::hash;

/// Index bits computed (the widest table the core supports).
pub const INDEX_BITS: usize = 16;
/// Bits of the tuple (the entry's key field).
pub const TUPLE_BITS: usize = 104;
/// Bits of the key.
pub const KEY_BITS: usize = 128;

#[derive(LogicBlock, Default)]
pub struct FlowHash {
    pub tuple: Signal<In, Bits<TUPLE_BITS>>,
    pub key: Signal<In, Bits<KEY_BITS>>,
    pub index: Signal<Out, Bits<INDEX_BITS>>,
    _evaluated: bool,
}

/// The key as the contract's four words.
fn key_words(k: u128) -> hash::HashKey {
    [
        k as u32,
        (k >> 32) as u32,
        (k >> 64) as u32,
        (k >> 96) as u32,
    ]
}

impl Logic for FlowHash {
    fn update(&mut self) {
        if self._evaluated && !super::eval_always() && !super::changed!(self; tuple, key) {
            return;
        }
        self._evaluated = true;
        let t = self.tuple.val().to_u128();
        let k = key_words(self.key.val().to_u128());
        self.index.next = (hash::toeplitz(t, &k, INDEX_BITS as u32) as u64).into();
    }
    fn connect(&mut self) {
        self.index.connect();
    }
    fn hdl(&self) -> Verilog {
        let mut v = String::from("always @(*) begin\n");
        for i in 0..INDEX_BITS {
            let _ = writeln!(v, "    index[{i}] = ^(tuple & key[{i} +: {TUPLE_BITS}]);");
        }
        v.push_str("end\n");
        Verilog::Custom(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsnic_contract::hash::{self, HashKey};

    fn to_bits<const N: usize>(v: u128) -> Bits<N> {
        let mut b = Bits::<N>::default();
        for i in 0..N.min(128) {
            b = b.replace_bit(i, (v >> i) & 1 == 1);
        }
        b
    }

    fn key_bits(k: &HashKey) -> u128 {
        k.iter()
            .enumerate()
            .fold(0u128, |acc, (i, w)| acc | (*w as u128) << (32 * i))
    }

    #[test]
    fn the_circuit_is_the_contract_hash() {
        let mut h = FlowHash::default();
        h.connect_all();
        let keys = [
            hash::DEFAULT_KEY,
            [0x2545_f491, 0x4f6c_dd1d, 0x1b87_3593, 0xcc9e_2d51],
        ];
        for k in keys {
            for (flow, _) in hash::VECTORS {
                let t = hash::tuple(flow);
                h.tuple.next = to_bits(t);
                h.key.next = to_bits(key_bits(&k));
                assert!(simulate(&mut h, 10));
                assert_eq!(
                    h.index.val().index() as u32,
                    hash::toeplitz(t, &k, INDEX_BITS as u32),
                    "{flow:?} under {k:x?}"
                );
            }
        }
        // the shared vectors, under the default key
        for (flow, full) in hash::VECTORS {
            h.tuple.next = to_bits(hash::tuple(flow));
            h.key.next = to_bits(key_bits(&hash::DEFAULT_KEY));
            assert!(simulate(&mut h, 10));
            assert_eq!(h.index.val().index() as u32, full & 0xffff);
        }
    }
}
