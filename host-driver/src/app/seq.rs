//! Sequence-delta bookkeeping for connections whose payload an application helper resized.
//!
//! When a helper replaces `L` bytes of one direction's stream with `L + d` bytes, every later
//! sequence number of that direction moves by `d` for the receiver, and every acknowledgement
//! (and SACK edge) the receiver sends back must move by `-d` before the sender sees it.
//!
//! [`SeqAdj`] is the state for **one direction of data** (a connection has two: see
//! [`ConnSeqAdj`]). It is a list of up to [`SEQ_HISTORY`] *levels*, oldest first, each
//! `{position, offset_before, offset_after}` exactly as in `docs` / codesign §2:
//!
//! * a segment with original sequence `s` of this direction becomes
//!   `s + offset_after` of the **newest** level with `after(s, position)`, or the oldest level's
//!   `offset_before` when there is none ([`SeqAdj::fix_seq`]);
//! * an ack (or SACK edge) `a` travelling the other way, in the receiver's numbering, becomes
//!   `a - offset_after` of the newest level with `after(a - offset_before, position)`, or the
//!   oldest level's `offset_before` ([`SeqAdj::fix_ack`]) — netfilter's form, comparing in the
//!   sender's numbering;
//! * all comparisons are modulo 2³² ([`after`]: `(x - y) as i32 > 0`).
//!
//! Recording a rewrite at original sequence `s0` with length change `d` ([`SeqAdj::record`])
//! adds a level `{s0, prev_after, prev_after + d}` only if there is no level yet or
//! `after(s0, newest.position)`. So a retransmission that rewrites again at the same `s0` does not
//! add `d` twice, and neither does any rewrite older than the newest one.
//!
//! `s0` should be the original sequence number of the **first rewritten byte** (this is what
//! the app layer passes). Linux keys on the sequence number of the segment instead; keying on the
//! rewrite itself also numbers correctly a retransmission that was cut into segments differently
//! (a segment starting between the old segment start and the rewrite keeps the old offset).
//! A segment starting exactly at `s0` keeps the old offset (`after(s0, s0)` is false), so a
//! rewritten segment is numbered correctly whether its seq is fixed before or after the update
//! (codesign §3).
//!
//! **History.** Linux keeps one level, so a retransmission from before the second-to-last rewrite
//! gets the wrong offset. Here a segment older than the newest rewrite finds the level it belongs
//! to, as long as it is newer than the oldest kept level. When a [`SEQ_HISTORY`]+1-th level is
//! recorded the oldest is dropped (its `offset_after` lives on as the new oldest level's
//! `offset_before`), and a level more than 2³⁰ behind the newest is dropped too, since a modulo
//! 2³² comparison with it would soon be meaningless.
//!
//! **Encoding.** This is a plain `Copy` value of `u32` positions and `i32` offsets, meant to be
//! programmed into the NIC as is: [`SeqAdj::levels`] gives the valid levels oldest first, and
//! [`SeqAdj::to_words`] / [`SeqAdj::from_words`] a fixed layout of 32-bit words.

/// Levels of history kept per direction.
pub const SEQ_HISTORY: usize = 4;

/// Words in [`SeqAdj::to_words`]: one count word, then three per level.
pub const SEQ_WORDS: usize = 1 + 3 * SEQ_HISTORY;

/// A level older than this (in sequence space) behind the newest one is dropped.
const MAX_LEVEL_AGE: u32 = 1 << 30;

/// `x` is after `y` modulo 2³² (strictly).
#[inline]
pub fn after(x: u32, y: u32) -> bool {
    (x.wrapping_sub(y) as i32) > 0
}

/// `x` is before `y` modulo 2³² (strictly).
#[inline]
pub fn before(x: u32, y: u32) -> bool {
    after(y, x)
}

/// One rewrite boundary: sequence numbers after `position` move by `offset_after`, those at or
/// before it by `offset_before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqLevel {
    pub position: u32,
    pub offset_before: i32,
    pub offset_after: i32,
}

/// The sequence-delta state of one direction of data. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqAdj {
    len: u8,
    levels: [SeqLevel; SEQ_HISTORY],
}

/// What [`SeqAdj::record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// A new level was added.
    Added,
    /// `d` was 0: nothing to do.
    NoChange,
    /// `s0` is not after the newest level: a retransmission (or an older rewrite), already
    /// counted.
    Duplicate,
}

impl SeqAdj {
    /// No delta: every number is left as it is.
    pub const fn new() -> SeqAdj {
        SeqAdj {
            len: 0,
            levels: [SeqLevel {
                position: 0,
                offset_before: 0,
                offset_after: 0,
            }; SEQ_HISTORY],
        }
    }

    /// A history given as its levels, oldest first (as [`SeqAdj::levels`] lists them; a
    /// restarted daemon reads them back from its snapshot). `None` unless they form one: at
    /// most [`SEQ_HISTORY`] levels, positions strictly increasing (mod 2^32), each level
    /// starting from the offset the one before it ended with.
    pub fn from_levels(levels: &[SeqLevel]) -> Option<SeqAdj> {
        if levels.len() > SEQ_HISTORY {
            return None;
        }
        for w in levels.windows(2) {
            if !after(w[1].position, w[0].position) || w[1].offset_before != w[0].offset_after {
                return None;
            }
        }
        let mut a = SeqAdj::new();
        a.levels[..levels.len()].copy_from_slice(levels);
        a.len = levels.len() as u8;
        Some(a)
    }

    /// Whether any rewrite changed the length in this direction.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The valid levels, oldest first.
    pub fn levels(&self) -> &[SeqLevel] {
        &self.levels[..self.len as usize]
    }

    /// The newest level (what a one-level implementation would hold).
    pub fn newest(&self) -> Option<SeqLevel> {
        self.levels().last().copied()
    }

    /// The total offset applied to new data (after every recorded rewrite).
    pub fn current_offset(&self) -> i32 {
        self.newest().map_or(0, |l| l.offset_after)
    }

    /// The offset for a segment of this direction with original sequence number `s`.
    pub fn seq_offset(&self, s: u32) -> i32 {
        let levels = self.levels();
        for l in levels.iter().rev() {
            if after(s, l.position) {
                return l.offset_after;
            }
        }
        levels.first().map_or(0, |l| l.offset_before)
    }

    /// `s` (this direction, sender's numbering) in the receiver's numbering.
    pub fn fix_seq(&self, s: u32) -> u32 {
        s.wrapping_add(self.seq_offset(s) as u32)
    }

    /// The offset to subtract from an ack `a` (the other direction, acknowledging this
    /// direction's data, in the receiver's numbering).
    pub fn ack_offset(&self, a: u32) -> i32 {
        let levels = self.levels();
        for l in levels.iter().rev() {
            if after(a.wrapping_sub(l.offset_before as u32), l.position) {
                return l.offset_after;
            }
        }
        levels.first().map_or(0, |l| l.offset_before)
    }

    /// Ack (or SACK edge) `a` in the sender's numbering.
    pub fn fix_ack(&self, a: u32) -> u32 {
        a.wrapping_sub(self.ack_offset(a) as u32)
    }

    /// Record that the bytes starting at original sequence `s0` were rewritten with a length
    /// change of `d`.
    pub fn record(&mut self, s0: u32, d: i32) -> Recorded {
        if d == 0 {
            return Recorded::NoChange;
        }
        let prev = match self.newest() {
            None => 0,
            Some(n) if after(s0, n.position) => n.offset_after,
            Some(_) => return Recorded::Duplicate,
        };
        // Drop levels too old to compare with, and make room.
        let keep_from = self
            .levels()
            .iter()
            .position(|l| s0.wrapping_sub(l.position) <= MAX_LEVEL_AGE)
            .unwrap_or(self.len as usize);
        let mut drop = keep_from;
        if self.len as usize - drop == SEQ_HISTORY {
            drop += 1;
        }
        if drop > 0 {
            self.levels.copy_within(drop..self.len as usize, 0);
            self.len -= drop as u8;
        }
        self.levels[self.len as usize] = SeqLevel {
            position: s0,
            offset_before: prev,
            offset_after: prev.wrapping_add(d),
        };
        self.len += 1;
        Recorded::Added
    }

    /// The fixed NIC layout: word 0 is the number of valid levels, then `position`,
    /// `offset_before`, `offset_after` (two's complement) for each of [`SEQ_HISTORY`] levels,
    /// oldest first; unused levels are zero.
    pub fn to_words(&self) -> [u32; SEQ_WORDS] {
        let mut w = [0u32; SEQ_WORDS];
        w[0] = self.len as u32;
        for (i, l) in self.levels().iter().enumerate() {
            w[1 + 3 * i] = l.position;
            w[2 + 3 * i] = l.offset_before as u32;
            w[3 + 3 * i] = l.offset_after as u32;
        }
        w
    }

    /// The inverse of [`SeqAdj::to_words`]; `None` if the count is out of range.
    pub fn from_words(w: &[u32; SEQ_WORDS]) -> Option<SeqAdj> {
        if w[0] as usize > SEQ_HISTORY {
            return None;
        }
        let mut s = SeqAdj::new();
        s.len = w[0] as u8;
        for i in 0..s.len as usize {
            s.levels[i] = SeqLevel {
                position: w[1 + 3 * i],
                offset_before: w[2 + 3 * i] as i32,
                offset_after: w[3 + 3 * i] as i32,
            };
        }
        Some(s)
    }
}

/// The two directions of a connection (IPVS `in_seq` / `out_seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnSeqAdj {
    /// Data from the client to the server (rewrites of commands).
    pub in_seq: SeqAdj,
    /// Data from the server to the client (rewrites of replies).
    pub out_seq: SeqAdj,
}

impl ConnSeqAdj {
    /// Whether neither direction has a delta (no seq stage needed on the NIC).
    pub fn is_empty(&self) -> bool {
        self.in_seq.is_empty() && self.out_seq.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wrap_safe_comparisons() {
        assert!(after(1, 0));
        assert!(after(0, u32::MAX));
        assert!(after(5, u32::MAX - 5));
        assert!(!after(0, 0));
        assert!(before(u32::MAX, 3));
        assert!(!after(0x8000_0000, 0), "exactly half way is not after");
    }

    #[test]
    fn one_rewrite_like_codesign() {
        let mut a = SeqAdj::new();
        assert_eq!(a.fix_seq(1000), 1000);
        assert_eq!(a.record(1000, 3), Recorded::Added);
        assert_eq!(
            a.newest(),
            Some(SeqLevel {
                position: 1000,
                offset_before: 0,
                offset_after: 3
            })
        );
        // the rewritten segment itself (starts at s0) keeps the old offset
        assert_eq!(a.fix_seq(1000), 1000);
        assert_eq!(a.fix_seq(999), 999);
        assert_eq!(a.fix_seq(1050), 1053);
        // the receiver acks 1053 (end of the rewritten segment) -> 1050
        assert_eq!(a.fix_ack(1053), 1050);
        assert_eq!(a.fix_ack(1000), 1000);
        // a retransmission rewriting again at 1000 does not add the delta twice
        assert_eq!(a.record(1000, 3), Recorded::Duplicate);
        assert_eq!(a.record(900, 3), Recorded::Duplicate);
        assert_eq!(a.record(2000, 0), Recorded::NoChange);
        assert_eq!(a.fix_seq(1050), 1053);
        assert_eq!(a.current_offset(), 3);
    }

    #[test]
    fn retransmission_older_than_last_rewrite_is_fixed() {
        // Rewrites at 100 (+5) and at 200 (-2): a retransmission of a segment at 150 (between
        // the two rewrites) must get +5. One level of history (Linux) would give it the newest
        // level's offset_before, which is also +5 here — so add a third rewrite to show the
        // difference: with one level, 150 would get 3 (the offset before the rewrite at 300).
        let mut a = SeqAdj::new();
        a.record(100, 5);
        a.record(200, -2);
        a.record(300, 4);
        assert_eq!(a.levels().len(), 3);
        assert_eq!(a.seq_offset(50), 0);
        assert_eq!(a.seq_offset(150), 5);
        assert_eq!(a.seq_offset(250), 3);
        assert_eq!(a.seq_offset(350), 7);
        let one_level = a.newest().unwrap();
        assert_eq!(
            one_level.offset_before, 3,
            "what a single level would give 150"
        );
        // acks: the receiver's 155 (= original 150) maps back to 150
        assert_eq!(a.fix_ack(155), 150);
        assert_eq!(a.fix_ack(253), 250);
        assert_eq!(a.fix_ack(357), 350);
        assert_eq!(a.fix_ack(50), 50);
    }

    #[test]
    fn history_is_bounded() {
        let mut a = SeqAdj::new();
        for i in 0..(SEQ_HISTORY as u32 + 2) {
            assert_eq!(a.record(1000 * (i + 1), 1), Recorded::Added);
        }
        assert_eq!(a.levels().len(), SEQ_HISTORY);
        assert_eq!(a.levels()[0].position, 3000);
        assert_eq!(a.levels()[0].offset_before, 2);
        assert_eq!(a.current_offset(), SEQ_HISTORY as i32 + 2);
        // far in the future: the old levels are dropped
        a.record(1000 + (1 << 31) - 7, 1);
        assert_eq!(a.levels().len(), 1);
        assert_eq!(a.current_offset(), SEQ_HISTORY as i32 + 3);
    }

    #[test]
    fn words_round_trip() {
        let mut a = SeqAdj::new();
        a.record(u32::MAX - 3, -7);
        a.record(10, 12);
        let w = a.to_words();
        assert_eq!(w[0], 2);
        assert_eq!(w[1], u32::MAX - 3);
        assert_eq!(w[3] as i32, -7);
        assert_eq!(SeqAdj::from_words(&w), Some(a));
        let mut bad = w;
        bad[0] = SEQ_HISTORY as u32 + 1;
        assert_eq!(SeqAdj::from_words(&bad), None);
    }

    /// A stream of rewrites: gaps between them, each replacing `old_len` bytes by
    /// `old_len + d` bytes.
    fn rewrites() -> impl Strategy<Value = (u32, Vec<(u32, u32, i32)>)> {
        (
            any::<u32>(),
            prop::collection::vec((1u32..5000, 1u32..60, -40i32..40), 1..=SEQ_HISTORY),
        )
            .prop_map(|(base, v)| {
                let v = v
                    .into_iter()
                    .map(|(gap, len, d)| (gap, len, d.max(-(len as i32))))
                    .collect();
                (base, v)
            })
    }

    proptest! {
        /// Against a reference: the offset of original byte boundary x is the sum of d over the
        /// rewrites that end at or before x (boundaries inside a rewritten region are skipped).
        /// Checked for seq, and ack(seq(x)) == x, for x all around the rewrites, across 2^32.
        #[test]
        fn seq_and_ack_match_reference((base, rw) in rewrites(), probes in prop::collection::vec(any::<u32>(), 20)) {
            let mut a = SeqAdj::new();
            let mut regions = Vec::new(); // (start, len, d) relative to base
            let mut at = 0u32;
            for (gap, len, d) in &rw {
                at += gap;
                regions.push((at, *len, *d));
                let r = a.record(base.wrapping_add(at), *d);
                prop_assert_eq!(r, if *d == 0 { Recorded::NoChange } else { Recorded::Added });
                // a retransmission rewriting the same bytes again counts nothing
                prop_assert_ne!(a.record(base.wrapping_add(at), *d), Recorded::Added);
                at += len;
            }
            let span = at + 1000;
            let reference = |x: u32| -> Option<i32> {
                let mut off = 0;
                for &(s, len, d) in &regions {
                    if x > s && x < s + len { return None; }
                    if x >= s + len { off += d; }
                }
                Some(off)
            };
            for p in probes {
                let x = p % span;
                let Some(off) = reference(x) else { continue };
                let s = base.wrapping_add(x);
                prop_assert_eq!(a.seq_offset(s), off, "x={}", x);
                let fixed = a.fix_seq(s);
                prop_assert_eq!(fixed, s.wrapping_add(off as u32));
                // the receiver acks exactly that boundary: maps back (a rewrite to an empty
                // string makes the boundary ambiguous; skip that degenerate case)
                if regions.iter().all(|&(_, len, d)| len as i32 + d > 0) {
                    prop_assert_eq!(a.fix_ack(fixed), s, "x={}", x);
                }
            }
        }

        /// Monotonic: the translation keeps the order of boundaries that are not inside a
        /// rewritten region (the receiver sees a consistent stream).
        #[test]
        fn translation_keeps_order((base, rw) in rewrites()) {
            let mut a = SeqAdj::new();
            let mut at = 0u32;
            let mut inside = Vec::new();
            for (gap, len, d) in &rw {
                at += gap;
                a.record(base.wrapping_add(at), *d);
                inside.push((at, at + len));
                at += len;
            }
            let mut prev: Option<u32> = None;
            for x in (0..at + 10).step_by(7) {
                if inside.iter().any(|&(s, e)| x > s && x < e) { continue; }
                let y = a.fix_seq(base.wrapping_add(x)).wrapping_sub(base);
                if let Some(p) = prev { prop_assert!((y as i32).wrapping_sub(p as i32) >= 0); }
                prev = Some(y);
            }
        }
    }
}
