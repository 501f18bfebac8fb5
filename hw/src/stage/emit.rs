//! Stage 3: hold each frame until its decision is known, then stream it out.
//!
//! Every received beat is written to the data FIFO (data) and the side FIFO (`last`, `bytes`);
//! every decision from `decide` to the decision FIFO and the header FIFO. When the head frame's
//! decision is present the frame streams out at one beat per cycle:
//! * **forward**: to `m_tx` with its egress port; beats inside the header window are taken from
//!   the rewritten window when the decision says so;
//! * **exception**: to `m_exc`, with the exception metadata on the last beat. `m_exc_ready` is
//!   sampled at the first beat: if low, the whole frame is dropped and counted; once a frame
//!   has started the consumer takes every beat (it asserts ready only with room for a whole frame).
//!
//! Because decisions arrive a fixed number of cycles after a frame's header window, the output
//! keeps up with the input at one beat per cycle for any mix of frame sizes; the FIFOs only
//! absorb the decision latency.

use super::decide::dec;
use super::fifo::Fifo;
use super::{HDR_BITS, OPT_BITS};
use rust_hdl::prelude::*;
use vsnic_contract::exception::meta;

#[derive(LogicBlock)]
pub struct Emit<const W: usize> {
    pub clock: Signal<In, Clock>,
    // beats in (same as the parser's)
    pub s_valid: Signal<In, Bit>,
    pub s_data: Signal<In, Bits<W>>,
    pub s_last: Signal<In, Bit>,
    pub s_bytes: Signal<In, Bits<7>>,
    // decisions in
    pub d_valid: Signal<In, Bit>,
    pub d_hdr: Signal<In, Bits<HDR_BITS>>,
    /// The frame's option window, patched in when the decision's `SACK` bit is set.
    pub d_opt: Signal<In, Bits<OPT_BITS>>,
    pub d_dec: Signal<In, Bits<64>>,
    // to the network ports
    pub m_tx_valid: Signal<Out, Bit>,
    pub m_tx_data: Signal<Out, Bits<W>>,
    pub m_tx_last: Signal<Out, Bit>,
    pub m_tx_bytes: Signal<Out, Bits<7>>,
    pub m_tx_port: Signal<Out, Bits<2>>,
    // to the host
    pub m_exc_valid: Signal<Out, Bit>,
    pub m_exc_data: Signal<Out, Bits<W>>,
    pub m_exc_last: Signal<Out, Bit>,
    pub m_exc_bytes: Signal<Out, Bits<7>>,
    pub m_exc_meta: Signal<Out, Bits<64>>,
    pub m_exc_ready: Signal<In, Bit>,
    // counter strobes (at each frame's last beat)
    pub ev_tx: Signal<Out, Bit>,
    pub ev_fastpath: Signal<Out, Bit>,
    pub ev_exc: Signal<Out, Bit>,
    pub ev_exc_drop: Signal<Out, Bit>,
    pub ev_reason: Signal<Out, Bits<8>>,
    /// The decision's port with the events (egress port of a sent frame, ingress port of an
    /// exception).
    pub ev_port: Signal<Out, Bits<2>>,
    data_fifo: Fifo<Bits<W>, 5>,
    side_fifo: Fifo<Bits<8>, 5>,
    dec_fifo: Fifo<Bits<64>, 4>,
    hdr_fifo: Fifo<Bits<HDR_BITS>, 4>,
    opt_fifo: Fifo<Bits<OPT_BITS>, 4>,
    beat: DFF<Bits<16>>,
    len: DFF<Bits<16>>,
    drop: DFF<Bit>,
    go: Signal<Local, Bit>,
    last: Signal<Local, Bit>,
    bytes: Signal<Local, Bits<7>>,
    is_exc: Signal<Local, Bit>,
    dropping: Signal<Local, Bit>,
    data: Signal<Local, Bits<W>>,
    frame_len: Signal<Local, Bits<16>>,
    shamt: Signal<Local, Bits<16>>,
    hdr_beat: Signal<Local, Bits<HDR_BITS>>,
    oshamt: Signal<Local, Bits<16>>,
    opt_beat: Signal<Local, Bits<HDR_BITS>>,
    hdr_beats: Constant<Bits<16>>,
    cap_beats: Constant<Bits<16>>,
    /// The bits of the option window's beat that come from the frame (at 512 bits, the beat's
    /// upper half past byte 96).
    opt_keep: Constant<Bits<W>>,
    d_sack: Constant<Bits<16>>,
    log2_w: Constant<Bits<16>>,
    beat_max: Constant<Bits<16>>,
    d_exc: Constant<Bits<16>>,
    d_rewrite: Constant<Bits<16>>,
    d_port: Constant<Bits<16>>,
    d_hit: Constant<Bits<16>>,
    d_fastpath: Constant<Bits<16>>,
    d_reason: Constant<Bits<16>>,
    d_index: Constant<Bits<16>>,
    m_reason: Constant<Bits<16>>,
    m_src_port: Constant<Bits<16>>,
    m_hit: Constant<Bits<16>>,
    m_index: Constant<Bits<16>>,
    m_len: Constant<Bits<16>>,
    _evaluated: bool,
}

/// Ones on the bits of the option window's beat past the option window (none below 512 bits).
fn opt_keep<const W: usize>() -> Bits<W> {
    let mut m: Bits<W> = Bits::default();
    if W > OPT_BITS {
        for b in OPT_BITS..W {
            m = m.replace_bit(b, true);
        }
    }
    m
}

impl<const W: usize> Default for Emit<W> {
    fn default() -> Self {
        let o = |f: vsnic_contract::Field| Constant::new((f.start as u64).into());
        let c = |bit: usize| Constant::new((bit as u64).into());
        Self {
            clock: Default::default(),
            s_valid: Default::default(),
            s_data: Default::default(),
            s_last: Default::default(),
            s_bytes: Default::default(),
            d_valid: Default::default(),
            d_hdr: Default::default(),
            d_opt: Default::default(),
            d_dec: Default::default(),
            m_tx_valid: Default::default(),
            m_tx_data: Default::default(),
            m_tx_last: Default::default(),
            m_tx_bytes: Default::default(),
            m_tx_port: Default::default(),
            m_exc_valid: Default::default(),
            m_exc_data: Default::default(),
            m_exc_last: Default::default(),
            m_exc_bytes: Default::default(),
            m_exc_meta: Default::default(),
            m_exc_ready: Default::default(),
            ev_tx: Default::default(),
            ev_fastpath: Default::default(),
            ev_exc: Default::default(),
            ev_exc_drop: Default::default(),
            ev_reason: Default::default(),
            ev_port: Default::default(),
            data_fifo: Default::default(),
            side_fifo: Default::default(),
            dec_fifo: Default::default(),
            hdr_fifo: Default::default(),
            opt_fifo: Default::default(),
            beat: Default::default(),
            len: Default::default(),
            drop: Default::default(),
            go: Default::default(),
            last: Default::default(),
            bytes: Default::default(),
            is_exc: Default::default(),
            dropping: Default::default(),
            data: Default::default(),
            frame_len: Default::default(),
            shamt: Default::default(),
            hdr_beat: Default::default(),
            oshamt: Default::default(),
            opt_beat: Default::default(),
            hdr_beats: Constant::new(((HDR_BITS / W) as u64).into()),
            cap_beats: Constant::new(((HDR_BITS + OPT_BITS).div_ceil(W) as u64).into()),
            opt_keep: Constant::new(opt_keep::<W>()),
            d_sack: c(dec::SACK),
            log2_w: Constant::new((W.trailing_zeros() as u64).into()),
            beat_max: Constant::new(0xFFFF_u64.into()),
            d_exc: c(dec::EXC),
            d_rewrite: c(dec::REWRITE),
            d_port: c(dec::PORT),
            d_hit: c(dec::HIT),
            d_fastpath: c(dec::FASTPATH),
            d_reason: c(dec::REASON),
            d_index: c(dec::INDEX),
            m_reason: o(meta::REASON),
            m_src_port: o(meta::SRC_PORT),
            m_hit: o(meta::HIT),
            m_index: o(meta::ENTRY_INDEX),
            m_len: o(meta::LEN),
            _evaluated: false,
        }
    }
}

impl<const W: usize> Logic for Emit<W> {
    super::settled_update!(self; clocks: beat.clock, len.clock, drop.clock, data_fifo.clock, side_fifo.clock,
        dec_fifo.clock, hdr_fifo.clock, opt_fifo.clock;
        reads: s_valid, s_data, s_last, s_bytes, d_valid, d_hdr, d_dec,
        d_opt, m_exc_ready, go, last, bytes, is_exc, dropping, data, frame_len, shamt, hdr_beat,
        oshamt, opt_beat, opt_fifo.data_out,
        data_fifo.data_out, data_fifo.empty, side_fifo.data_out, side_fifo.empty,
        dec_fifo.data_out, dec_fifo.empty, hdr_fifo.data_out, hdr_fifo.empty,
        beat.q, len.q, drop.q);
}

impl<const W: usize> Emit<W> {
    #[hdl_gen]
    fn logic(&mut self) {
        dff_setup!(self, clock, beat, len, drop);
        clock!(self, clock, data_fifo, side_fifo, dec_fifo, hdr_fifo, opt_fifo);
        // Inputs to the FIFOs.
        self.data_fifo.data_in.next = self.s_data.val();
        self.data_fifo.write.next = self.s_valid.val();
        self.side_fifo.data_in.next = (bit_cast::<8, 7>(self.s_bytes.val()) << 1)
            | bit_cast::<8, 1>(self.s_last.val().into());
        self.side_fifo.write.next = self.s_valid.val();
        self.dec_fifo.data_in.next = self.d_dec.val();
        self.dec_fifo.write.next = self.d_valid.val();
        self.hdr_fifo.data_in.next = self.d_hdr.val();
        self.hdr_fifo.write.next = self.d_valid.val();
        self.opt_fifo.data_in.next = self.d_opt.val();
        self.opt_fifo.write.next = self.d_valid.val();

        // Head frame.
        self.go.next = !self.dec_fifo.empty.val() & !self.data_fifo.empty.val();
        self.last.next = self.side_fifo.data_out.val().get_bit(0);
        self.bytes.next = self.side_fifo.data_out.val().get_bits::<7>(1);
        self.is_exc.next = self
            .dec_fifo
            .data_out
            .val()
            .get_bit(self.d_exc.val().index());
        if self.beat.q.val() == 0 {
            self.dropping.next = self.is_exc.val() & !self.m_exc_ready.val();
        } else {
            self.dropping.next = self.drop.q.val();
        }
        self.shamt.next = self.beat.q.val() << self.log2_w.val();
        self.hdr_beat.next = self.hdr_fifo.data_out.val() >> self.shamt.val();
        self.oshamt.next = (self.beat.q.val() - self.hdr_beats.val()) << self.log2_w.val();
        self.opt_beat.next =
            bit_cast::<HDR_BITS, OPT_BITS>(self.opt_fifo.data_out.val()) >> self.oshamt.val();
        if self
            .dec_fifo
            .data_out
            .val()
            .get_bit(self.d_rewrite.val().index())
            & (self.beat.q.val() < self.hdr_beats.val())
        {
            self.data.next = self.hdr_beat.val().get_bits::<W>(0);
        } else if self
            .dec_fifo
            .data_out
            .val()
            .get_bit(self.d_rewrite.val().index())
            & self
                .dec_fifo
                .data_out
                .val()
                .get_bit(self.d_sack.val().index())
            & (self.beat.q.val() >= self.hdr_beats.val())
            & (self.beat.q.val() < self.cap_beats.val())
        {
            // the option window's beats, with the moved SACK edges
            self.data.next = (self.data_fifo.data_out.val() & self.opt_keep.val())
                | self.opt_beat.val().get_bits::<W>(0);
        } else {
            self.data.next = self.data_fifo.data_out.val();
        }
        self.frame_len.next = self.len.q.val() + bit_cast::<16, 7>(self.bytes.val());

        self.data_fifo.read.next = self.go.val();
        self.side_fifo.read.next = self.go.val();
        self.dec_fifo.read.next = self.go.val() & self.last.val();
        self.hdr_fifo.read.next = self.go.val() & self.last.val();
        self.opt_fifo.read.next = self.go.val() & self.last.val();

        self.m_tx_valid.next = self.go.val() & !self.is_exc.val();
        self.m_tx_data.next = self.data.val();
        self.m_tx_last.next = self.last.val();
        self.m_tx_bytes.next = self.bytes.val();
        self.m_tx_port.next = self
            .dec_fifo
            .data_out
            .val()
            .get_bits::<2>(self.d_port.val().index());
        self.m_exc_valid.next = self.go.val() & self.is_exc.val() & !self.dropping.val();
        self.m_exc_data.next = self.data.val();
        self.m_exc_last.next = self.last.val();
        self.m_exc_bytes.next = self.bytes.val();
        self.m_exc_meta.next = (bit_cast::<64, 8>(
            self.dec_fifo
                .data_out
                .val()
                .get_bits::<8>(self.d_reason.val().index()),
        ) << self.m_reason.val())
            | (bit_cast::<64, 2>(
                self.dec_fifo
                    .data_out
                    .val()
                    .get_bits::<2>(self.d_port.val().index()),
            ) << self.m_src_port.val())
            | (bit_cast::<64, 1>(
                self.dec_fifo
                    .data_out
                    .val()
                    .get_bits::<1>(self.d_hit.val().index()),
            ) << self.m_hit.val())
            | (bit_cast::<64, 16>(
                self.dec_fifo
                    .data_out
                    .val()
                    .get_bits::<16>(self.d_index.val().index()),
            ) << self.m_index.val())
            | (bit_cast::<64, 16>(self.frame_len.val()) << self.m_len.val());

        self.ev_tx.next = false;
        self.ev_fastpath.next = false;
        self.ev_exc.next = false;
        self.ev_exc_drop.next = false;
        self.ev_port.next = self
            .dec_fifo
            .data_out
            .val()
            .get_bits::<2>(self.d_port.val().index());
        self.ev_reason.next = self
            .dec_fifo
            .data_out
            .val()
            .get_bits::<8>(self.d_reason.val().index());
        if self.go.val() {
            self.drop.d.next = self.dropping.val();
            if self.last.val() {
                self.beat.d.next = 0.into();
                self.len.d.next = 0.into();
                self.ev_tx.next = !self.is_exc.val();
                self.ev_fastpath.next = self
                    .dec_fifo
                    .data_out
                    .val()
                    .get_bit(self.d_fastpath.val().index());
                self.ev_exc.next = self.is_exc.val() & !self.dropping.val();
                self.ev_exc_drop.next = self.is_exc.val() & self.dropping.val();
            } else {
                if self.beat.q.val() != self.beat_max.val() {
                    self.beat.d.next = self.beat.q.val() + 1;
                }
                self.len.d.next = self.frame_len.val();
            }
        }
    }
}
