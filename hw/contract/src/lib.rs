//! The hardware/software contract of vsnic — the one source of truth.
//!
//! Everything the NIC and the host must agree on lives here as plain `const` data and small
//! encode/decode helpers: the register blocks (with Corundum-style self-describing headers), the
//! connection-table entry layout, the flow hash, the exception reason codes and metadata, the
//! stream side-band (`tuser`) layout and the host-queue descriptor formats.
//!
//! `hw` sizes its signals and decodes CSR writes from these constants, `sim` implements the
//! host-queue engine from them, and `host-driver` encodes entries and descriptors with them.
//! `docs/contract.md` is generated from this crate ([`doc::write_markdown`]) and a test fails if
//! the checked-in copy differs.
//!
//! Byte-order rule: packet-derived values in the table (addresses, ports) are stored in **wire
//! order**: the first byte on the wire is the least significant byte of the field (the order in
//! which an AXI-Stream carries bytes, lane 0 first). [`FlowKey`] converts from host values.
#![no_std]
#![forbid(unsafe_code)]

pub mod activity;
pub mod doc;
pub mod entry;
pub mod exception;
pub mod hash;
pub mod queue;
pub mod regs;
pub mod stream;

pub use entry::{Action, Entry, FlowKey};
pub use exception::Reason;

/// A bit range inside a packed structure (`start..end`, LSB = bit 0).
pub type Field = core::ops::Range<usize>;

/// A named field of a packed layout, for documentation and overlap checks.
#[derive(Debug, Clone)]
pub struct NamedField {
    pub name: &'static str,
    pub bits: Field,
    pub doc: &'static str,
}

/// A packed layout: its total width and its fields.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub name: &'static str,
    pub width: usize,
    pub fields: &'static [NamedField],
}

impl Layout {
    /// The first pair of fields that overlap, or a field that does not fit `width`.
    pub fn check(&self) -> Result<(), &'static str> {
        for (i, a) in self.fields.iter().enumerate() {
            if a.bits.start >= a.bits.end || a.bits.end > self.width {
                return Err(a.name);
            }
            for b in &self.fields[i + 1..] {
                if a.bits.start < b.bits.end && b.bits.start < a.bits.end {
                    return Err(b.name);
                }
            }
        }
        Ok(())
    }
}

/// Read `bits` (at most 64 wide) from a little-endian array of 32-bit words.
pub fn get_bits(words: &[u32], bits: Field) -> u64 {
    let mut v = 0u64;
    let mut bit = bits.start;
    while bit < bits.end {
        // the part of the field inside word `bit / 32`
        let lo = bit % 32;
        let n = (32 - lo).min(bits.end - bit);
        let part = (words[bit / 32] >> lo) as u64 & ((1u64 << n) - 1);
        v |= part << (bit - bits.start);
        bit += n;
    }
    v
}

/// Write `value` into `bits` (at most 64 wide) of a little-endian array of 32-bit words.
pub fn set_bits(words: &mut [u32], bits: Field, value: u64) {
    let mut bit = bits.start;
    while bit < bits.end {
        let lo = bit % 32;
        let n = (32 - lo).min(bits.end - bit);
        let mask = (((1u64 << n) - 1) as u32) << lo;
        let part = ((value >> (bit - bits.start)) as u32) << lo;
        let w = &mut words[bit / 32];
        *w = (*w & !mask) | (part & mask);
        bit += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bit-at-a-time definition the word-wise accessors must match.
    fn set_bits_slow(words: &mut [u32], bits: Field, value: u64) {
        for (n, bit) in bits.enumerate() {
            let mask = 1u32 << (bit % 32);
            if value >> n & 1 == 1 {
                words[bit / 32] |= mask;
            } else {
                words[bit / 32] &= !mask;
            }
        }
    }

    #[test]
    fn word_wise_accessors_match_the_bitwise_definition() {
        // every field position and width up to 64 bits in a 4-word array, a few patterns each
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for start in 0..64 {
            for width in 1..=64 {
                let f = start..start + width;
                for _ in 0..3 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let mut a = [x as u32, (x >> 32) as u32, !x as u32, 0x5a5a_a5a5];
                    let mut b = a;
                    let v = x.rotate_left(start as u32);
                    set_bits(&mut a, f.clone(), v);
                    set_bits_slow(&mut b, f.clone(), v);
                    assert_eq!(a, b, "set {f:?}");
                    let want = if width == 64 {
                        v
                    } else {
                        v & ((1 << width) - 1)
                    };
                    assert_eq!(get_bits(&a, f.clone()), want, "get {f:?}");
                }
            }
        }
    }

    #[test]
    fn every_layout_is_consistent() {
        for l in doc::LAYOUTS {
            assert_eq!(l.check(), Ok(()), "layout {}", l.name);
        }
    }

    #[test]
    fn overlap_is_detected() {
        const BAD: Layout = Layout {
            name: "bad",
            width: 16,
            fields: &[
                NamedField {
                    name: "a",
                    bits: 0..8,
                    doc: "",
                },
                NamedField {
                    name: "b",
                    bits: 7..9,
                    doc: "",
                },
            ],
        };
        assert_eq!(BAD.check(), Err("b"));
        const WIDE: Layout = Layout {
            name: "wide",
            width: 8,
            fields: &[NamedField {
                name: "a",
                bits: 0..9,
                doc: "",
            }],
        };
        assert_eq!(WIDE.check(), Err("a"));
    }

    #[test]
    fn bit_helpers_round_trip_across_words() {
        let mut w = [0u32; 4];
        set_bits(&mut w, 28..76, 0xABCD_1234_5678);
        assert_eq!(get_bits(&w, 28..76), 0xABCD_1234_5678);
        set_bits(&mut w, 30..34, 0);
        assert_eq!(get_bits(&w, 28..76), 0xABCD_1234_5640);
    }
}
