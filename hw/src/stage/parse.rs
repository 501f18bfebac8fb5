//! Stage 1: capture the header window of each frame.
//!
//! Input beats carry frame bytes in lane order (byte 0 in bits 0..8). The first
//! [`HDR_BYTES`](super::HDR_BYTES) bytes of a frame are gathered into `hdr` (lane order too), the
//! next [`OPT_BYTES`](super::OPT_BYTES) into `opt` (the option window: the rest of the longest
//! TCP header, where SACK edges sit); one cycle after the beat that completes both, or after the
//! last beat of a shorter frame, `hdr_valid` pulses for one cycle with the windows, their length
//! (the frame length if the frame ended inside them, else their size; bytes past it are
//! undefined) and the frame's side band. Never stalls: one beat per cycle, any mix of frame
//! sizes.

use super::{HDR_BITS, HDR_BYTES, OPT_BITS, OPT_BYTES};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Parser<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub s_valid: Signal<In, Bit>,
    pub s_data: Signal<In, Bits<W>>,
    pub s_last: Signal<In, Bit>,
    pub s_bytes: Signal<In, Bits<7>>,
    pub s_user: Signal<In, Bits<8>>,
    pub hdr_valid: Signal<Out, Bit>,
    pub hdr: Signal<Out, Bits<HDR_BITS>>,
    pub opt: Signal<Out, Bits<OPT_BITS>>,
    pub hdr_len: Signal<Out, Bits<16>>,
    pub hdr_user: Signal<Out, Bits<8>>,
    /// Pulses with the first beat of every frame (for the RX counter).
    pub frame_start: Signal<Out, Bit>,
    /// Pulses one cycle after each frame's last beat with the frame's length in bytes (for the
    /// activity records: the whole frame as received, not only its window).
    pub f_valid: Signal<Out, Bit>,
    pub f_len: Signal<Out, Bits<16>>,
    beat: DFF<Bits<16>>,
    win: DFF<Bits<HDR_BITS>>,
    owin: DFF<Bits<OPT_BITS>>,
    done: DFF<Bit>,
    len: DFF<Bits<16>>,
    user: DFF<Bits<8>>,
    fdone: DFF<Bit>,
    flen: DFF<Bits<16>>,
    shamt: Signal<Local, Bits<16>>,
    wide: Signal<Local, Bits<HDR_BITS>>,
    oshamt: Signal<Local, Bits<16>>,
    owide: Signal<Local, Bits<HDR_BITS>>,
    hdr_beats: Constant<Bits<16>>,
    cap_beats: Constant<Bits<16>>,
    last_cap_beat: Constant<Bits<16>>,
    log2_w: Constant<Bits<16>>,
    log2_bytes: Constant<Bits<16>>,
    win_bytes: Constant<Bits<16>>,
    beat_max: Constant<Bits<16>>,
    _evaluated: bool,
}

impl<const W: usize> Default for Parser<W> {
    fn default() -> Self {
        assert!(
            W.is_power_of_two() && (64..=HDR_BITS).contains(&W),
            "W must be 64..=512"
        );
        let beats = (HDR_BITS / W) as u64;
        // beats holding the header and option windows (the option window is at most a beat)
        let cap = ((HDR_BITS + OPT_BITS).div_ceil(W)) as u64;
        Self {
            clock: Default::default(),
            s_valid: Default::default(),
            s_data: Default::default(),
            s_last: Default::default(),
            s_bytes: Default::default(),
            s_user: Default::default(),
            hdr_valid: Default::default(),
            hdr: Default::default(),
            opt: Default::default(),
            hdr_len: Default::default(),
            hdr_user: Default::default(),
            frame_start: Default::default(),
            f_valid: Default::default(),
            f_len: Default::default(),
            fdone: Default::default(),
            flen: Default::default(),
            beat: Default::default(),
            win: Default::default(),
            owin: Default::default(),
            done: Default::default(),
            len: Default::default(),
            user: Default::default(),
            shamt: Default::default(),
            wide: Default::default(),
            oshamt: Default::default(),
            owide: Default::default(),
            hdr_beats: Constant::new(beats.into()),
            cap_beats: Constant::new(cap.into()),
            last_cap_beat: Constant::new((cap - 1).into()),
            log2_w: Constant::new((W.trailing_zeros() as u64).into()),
            log2_bytes: Constant::new(((W / 8).trailing_zeros() as u64).into()),
            win_bytes: Constant::new(((HDR_BYTES + OPT_BYTES) as u64).into()),
            beat_max: Constant::new(0xFFFF_u64.into()),
            _evaluated: false,
        }
    }
}

impl<const W: usize> Logic for Parser<W> {
    super::settled_update!(self; clocks: beat.clock, win.clock, owin.clock, done.clock, len.clock, user.clock,
        fdone.clock, flen.clock;
        reads: s_valid, s_data, s_last, s_bytes, s_user, shamt, wide, oshamt, owide,
        beat.q, win.q, owin.q, done.q, len.q, user.q, fdone.q, flen.q);
}

impl<const W: usize> Parser<W> {
    #[hdl_gen]
    fn logic(&mut self) {
        dff_setup!(self, clock, beat, win, owin, done, len, user, fdone, flen);
        self.done.d.next = false;
        self.fdone.d.next = self.s_valid.val() & self.s_last.val();
        if self.s_valid.val() & self.s_last.val() {
            self.flen.d.next = (self.beat.q.val() << self.log2_bytes.val())
                + bit_cast::<16, 7>(self.s_bytes.val());
        }
        self.frame_start.next = self.s_valid.val() & (self.beat.q.val() == 0);
        self.shamt.next = self.beat.q.val() << self.log2_w.val();
        self.wide.next = bit_cast::<HDR_BITS, W>(self.s_data.val()) << self.shamt.val();
        self.oshamt.next = (self.beat.q.val() - self.hdr_beats.val()) << self.log2_w.val();
        self.owide.next = bit_cast::<HDR_BITS, W>(self.s_data.val()) << self.oshamt.val();
        if self.s_valid.val() {
            if self.beat.q.val() == 0 {
                self.win.d.next = self.wide.val();
                self.user.d.next = self.s_user.val();
            } else if self.beat.q.val() < self.hdr_beats.val() {
                self.win.d.next = self.win.q.val() | self.wide.val();
            }
            if self.beat.q.val() == self.hdr_beats.val() {
                self.owin.d.next = self.owide.val().get_bits::<OPT_BITS>(0);
            } else if (self.beat.q.val() > self.hdr_beats.val())
                & (self.beat.q.val() < self.cap_beats.val())
            {
                self.owin.d.next = self.owin.q.val() | self.owide.val().get_bits::<OPT_BITS>(0);
            }
            if self.s_last.val() {
                self.beat.d.next = 0.into();
            } else if self.beat.q.val() != self.beat_max.val() {
                self.beat.d.next = self.beat.q.val() + 1;
            }
            if (self.beat.q.val() < self.cap_beats.val())
                & (self.s_last.val() | (self.beat.q.val() == self.last_cap_beat.val()))
            {
                self.done.d.next = true;
                if self.s_last.val() {
                    self.len.d.next = (self.beat.q.val() << self.log2_bytes.val())
                        + bit_cast::<16, 7>(self.s_bytes.val());
                } else {
                    self.len.d.next = self.win_bytes.val();
                }
            }
        }
        self.hdr_valid.next = self.done.q.val();
        self.hdr.next = self.win.q.val();
        self.opt.next = self.owin.q.val();
        self.hdr_len.next = self.len.q.val();
        self.hdr_user.next = self.user.q.val();
        self.f_valid.next = self.fdone.q.val();
        self.f_len.next = self.flen.q.val();
    }
}
