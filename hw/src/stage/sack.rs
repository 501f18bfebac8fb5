//! One SACK edge's fix-up, a sub-block of [`super::decide`] (eight of them, one per edge slot).
//!
//! A SACK edge is an ack number like any other: the receiver names bytes in *its* numbering, so
//! an edge travelling against a payload rewrite moves back by the same per-direction delta as
//! the ack itself (`SeqDelta::fix_ack`: `orig = edge - before`; `edge - after` if
//! `after(orig, pos)`, else `orig`), with the same history check (`orig` at or before a
//! `floor` that differs from `pos` needs older history: the host fixes the frame).
//!
//! The block follows the ack's cycles in `decide`:
//! * **cycle 4** (inputs `old`: the edge, and the ack's `a_before`, `a_after`, `a_pos`, `a_floor`): both candidates `edge - before` and
//!   `edge - after`; the old edge's RFC 1624 term (its 16-bit lane words complemented, summed).
//! * **cycle 5**: `hist` (combinational, for the decision) and,
//!   registered, whether the edge is after the correction position and each candidate's whole
//!   checksum term (old words complemented plus the candidate's words).
//! * **cycle 6** (input `en`: the frame's SACK fix applies and this slot holds an edge): the
//!   fixed edge in lane order and its term (zero when not enabled).
//!
//! Numbers are host-order; `old` and `fixed` are lane order (the bytes as in the frame).

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct SackEdge {
    pub clock: Signal<In, Clock>,
    /// Cycle 4: the edge as it sits in the frame (lane order).
    pub old: Signal<In, Bits<32>>,
    pub a_before: Signal<In, Bits<32>>,
    pub a_after: Signal<In, Bits<32>>,
    pub a_pos: Signal<In, Bits<32>>,
    pub a_floor: Signal<In, Bits<32>>,
    /// Cycle 5: the edge's `orig` is at or before `a_floor` (the caller also checks that
    /// `a_floor != a_pos`, once for all edges).
    pub hist: Signal<Out, Bit>,
    /// Cycle 6.
    pub en: Signal<In, Bit>,
    /// Cycle 6: the fixed edge (lane order) and its checksum term, both zero unless `en`.
    pub fixed: Signal<Out, Bits<32>>,
    pub term: Signal<Out, Bits<20>>,
    // cycle 4 → 5
    c5_orig: DFF<Bits<32>>,
    c5_minus_after: DFF<Bits<32>>,
    c5_old_term: DFF<Bits<20>>,
    c5_pos: DFF<Bits<32>>,
    c5_floor: DFF<Bits<32>>,
    // cycle 5 → 6
    c6_after: DFF<Bit>,
    c6_orig_lane: DFF<Bits<32>>,
    c6_ma_lane: DFF<Bits<32>>,
    c6_term_orig: DFF<Bits<20>>,
    c6_term_ma: DFF<Bits<20>>,
    // combinational
    num4: Signal<Local, Bits<32>>,
    n_lo4: Signal<Local, Bits<16>>,
    n_hi4: Signal<Local, Bits<16>>,
    d_pos5: Signal<Local, Bits<32>>,
    d_floor5: Signal<Local, Bits<32>>,
    orig_lane5: Signal<Local, Bits<32>>,
    ma_lane5: Signal<Local, Bits<32>>,
    _evaluated: bool,
}

impl Logic for SackEdge {
    super::settled_update!(self; clocks: c5_orig.clock, c5_minus_after.clock, c5_old_term.clock, c5_pos.clock, c5_floor.clock,
        c6_after.clock, c6_orig_lane.clock, c6_ma_lane.clock, c6_term_orig.clock,
        c6_term_ma.clock;
        reads: old, a_before, a_after, a_pos, a_floor, en, c5_orig.q, c5_minus_after.q,
        c5_old_term.q, c5_pos.q, c5_floor.q, c6_after.q, c6_orig_lane.q, c6_ma_lane.q, c6_term_orig.q, c6_term_ma.q,
        num4, n_lo4, n_hi4, d_pos5, d_floor5, orig_lane5, ma_lane5);
}

impl SackEdge {
    #[hdl_gen]
    fn logic(&mut self) {
        dff_setup!(
            self,
            clock,
            c5_orig,
            c5_minus_after,
            c5_old_term,
            c5_pos,
            c5_floor,
            c6_after,
            c6_orig_lane,
            c6_ma_lane,
            c6_term_orig,
            c6_term_ma
        );
        // ---- cycle 4 ----
        self.num4.next = (bit_cast::<32, 8>(self.old.val().get_bits::<8>(0)) << 24)
            | (bit_cast::<32, 8>(self.old.val().get_bits::<8>(8)) << 16)
            | (bit_cast::<32, 8>(self.old.val().get_bits::<8>(16)) << 8)
            | bit_cast::<32, 8>(self.old.val().get_bits::<8>(24));
        self.c5_orig.d.next = self.num4.val() - self.a_before.val();
        self.c5_minus_after.d.next = self.num4.val() - self.a_after.val();
        self.n_lo4.next = !self.old.val().get_bits::<16>(0);
        self.n_hi4.next = !self.old.val().get_bits::<16>(16);
        self.c5_old_term.d.next =
            bit_cast::<20, 16>(self.n_lo4.val()) + bit_cast::<20, 16>(self.n_hi4.val());
        // the position and floor are registered here (not taken in cycle 5) so `hist` depends on
        // this block's registers only: no combinational path back into `decide`'s logic
        self.c5_pos.d.next = self.a_pos.val();
        self.c5_floor.d.next = self.a_floor.val();
        // ---- cycle 5 ----
        self.d_pos5.next = self.c5_orig.q.val() - self.c5_pos.q.val();
        self.d_floor5.next = self.c5_orig.q.val() - self.c5_floor.q.val();
        self.hist.next =
            self.d_floor5.val().get_bit(31) | (self.c5_orig.q.val() == self.c5_floor.q.val());
        self.c6_after.d.next =
            !self.d_pos5.val().get_bit(31) & (self.c5_orig.q.val() != self.c5_pos.q.val());
        self.orig_lane5.next = (bit_cast::<32, 8>(self.c5_orig.q.val().get_bits::<8>(0)) << 24)
            | (bit_cast::<32, 8>(self.c5_orig.q.val().get_bits::<8>(8)) << 16)
            | (bit_cast::<32, 8>(self.c5_orig.q.val().get_bits::<8>(16)) << 8)
            | bit_cast::<32, 8>(self.c5_orig.q.val().get_bits::<8>(24));
        self.ma_lane5.next = (bit_cast::<32, 8>(self.c5_minus_after.q.val().get_bits::<8>(0))
            << 24)
            | (bit_cast::<32, 8>(self.c5_minus_after.q.val().get_bits::<8>(8)) << 16)
            | (bit_cast::<32, 8>(self.c5_minus_after.q.val().get_bits::<8>(16)) << 8)
            | bit_cast::<32, 8>(self.c5_minus_after.q.val().get_bits::<8>(24));
        self.c6_orig_lane.d.next = self.orig_lane5.val();
        self.c6_ma_lane.d.next = self.ma_lane5.val();
        self.c6_term_orig.d.next = self.c5_old_term.q.val()
            + (bit_cast::<20, 16>(self.orig_lane5.val().get_bits::<16>(0))
                + bit_cast::<20, 16>(self.orig_lane5.val().get_bits::<16>(16)));
        self.c6_term_ma.d.next = self.c5_old_term.q.val()
            + (bit_cast::<20, 16>(self.ma_lane5.val().get_bits::<16>(0))
                + bit_cast::<20, 16>(self.ma_lane5.val().get_bits::<16>(16)));
        // ---- cycle 6 ----
        self.fixed.next = 0.into();
        self.term.next = 0.into();
        if self.en.val() {
            if self.c6_after.q.val() {
                self.fixed.next = self.c6_ma_lane.q.val();
                self.term.next = self.c6_term_ma.q.val();
            } else {
                self.fixed.next = self.c6_orig_lane.q.val();
                self.term.next = self.c6_term_orig.q.val();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use vsnic_contract::entry::SeqDelta;

    /// The block's three cycles for one edge against `SeqDelta::fix_ack` and the RFC 1624 sum
    /// of the model (host-order arithmetic, byte arrays).
    fn run(edge: u32, d: SeqDelta) -> (bool, u32, u32) {
        let mut b = SackEdge::default();
        b.connect_all();
        let lane = |v: u32| u32::from_le_bytes(v.to_be_bytes());
        let step = |b: &mut SackEdge| {
            for clock in [false, true] {
                b.clock.next = clock.into();
                assert!(simulate(b, 100));
            }
        };
        b.old.next = (lane(edge) as u64).into();
        b.a_before.next = (d.before as u64).into();
        b.a_after.next = (d.after as u64).into();
        b.a_pos.next = (d.pos as u64).into();
        b.a_floor.next = (d.floor as u64).into();
        step(&mut b);
        b.a_before.next = 0u64.into();
        b.a_pos.next = 0u64.into();
        b.a_floor.next = 0u64.into();
        assert!(simulate(&mut b, 100));
        let hist = b.hist.val();
        step(&mut b);
        b.en.next = true;
        assert!(simulate(&mut b, 100));
        let fixed = lane(b.fixed.val().get_bits::<32>(0).to_u64() as u32);
        let term = b.term.val().to_u64() as u32;
        (hist, fixed, term)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        /// Across the 2^32 wrap: deltas and positions anywhere, edges near the position and the
        /// floor as often as anywhere else.
        #[test]
        fn matches_fix_ack(pos: u32, back in 0u32..4, before: u32, after: u32,
                           near in 0u32..4, off in -3i32..=3, any: u32, floor_off: u32) {
            let floor = match back { 0 => pos, 1 => pos.wrapping_sub(1), _ => pos.wrapping_sub(floor_off) };
            let d = SeqDelta { pos, before, after, floor };
            let orig = match near {
                0 => pos.wrapping_add(off as u32),
                1 => floor.wrapping_add(off as u32),
                _ => any,
            };
            let edge = orig.wrapping_add(before);
            let (hist, fixed, term) = run(edge, d);
            let model_hist = d.floor != d.pos && d.fix_ack(edge).is_none();
            prop_assert_eq!(hist && d.floor != d.pos, model_hist);
            if let Some(want) = d.fix_ack(edge) {
                prop_assert_eq!(fixed, want);
            }
            // the term is the unfolded sum of ~old words and the new words, in lane order
            let w = |v: u32| {
                let l = u32::from_le_bytes(v.to_be_bytes());
                [l & 0xffff, l >> 16]
            };
            let want: u32 = w(edge).iter().map(|x| !*x & 0xffff).sum::<u32>()
                + w(fixed).iter().sum::<u32>();
            prop_assert_eq!(term, want);
        }
    }
}
