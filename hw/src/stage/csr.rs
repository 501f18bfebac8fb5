//! The core's register blocks: identification, table access and counters, at the addresses and
//! with the header words the contract gives ([`vsnic_contract::regs`]). Reads return data on the
//! cycle after `csr_read`; writes take effect at the clock edge.
//!
//! A table write is staged: the host writes the entry's words into `DATA0..`, then `CMD` with
//! the write bit and the index; the whole entry is written into the table RAM in that cycle.
//! A table read is the reverse: `CMD` with the read bit and the index loads the bucket's entry
//! into the staging words (from the table's host port, one cycle later; a register access in
//! that cycle already sees it), where the host reads it from `DATA0..`.
//! The read command also loads the bucket's activity record into `ACT0..3` (from the activity
//! stage's shadow copy, same timing). `NOW` reads the core's `now` input.
//! The staging words keep their value across commands (the contract says so; the driver relies
//! on it to write only the words that changed).

use rust_hdl::prelude::*;
use vsnic_contract::hash::DEFAULT_KEY;
use vsnic_contract::{activity, entry, regs, stream};

#[derive(LogicBlock)]
pub struct Csr<const W: usize, const T: usize> {
    pub clock: Signal<In, Clock>,
    pub csr_addr: Signal<In, Bits<16>>,
    pub csr_wdata: Signal<In, Bits<32>>,
    pub csr_write: Signal<In, Bit>,
    pub csr_read: Signal<In, Bit>,
    pub csr_rdata: Signal<Out, Bits<32>>,
    pub tw_enable: Signal<Out, Bit>,
    pub tw_index: Signal<Out, Bits<T>>,
    pub tw_entry: Signal<Out, Bits<{ entry::BITS }>>,
    /// The entry at `tw_index` of the previous cycle (the table's host port).
    pub tr_entry: Signal<In, Bits<{ entry::BITS }>>,
    /// The flow hash key (`HASH_KEY0..3`).
    pub hash_key: Signal<Out, Bits<128>>,
    /// The activity record at `tw_index` of the previous cycle (the activity stage's shadow
    /// copy), loaded into `ACT0..3` with the entry.
    pub tr_act: Signal<In, Bits<{ activity::BITS }>>,
    /// NIC time (`NOW`).
    pub now: Signal<In, Bits<32>>,
    pub ev_rx: Signal<In, Bit>,
    pub ev_tx: Signal<In, Bit>,
    pub ev_fastpath: Signal<In, Bit>,
    pub ev_exc: Signal<In, Bit>,
    pub ev_exc_drop: Signal<In, Bit>,
    pub ev_reason: Signal<In, Bits<8>>,
    /// The stream side band of the frame whose first beat `ev_rx` counts (its port, and
    /// whether it came from the host: host frames are no port's).
    pub ev_rx_user: Signal<In, Bits<8>>,
    /// The decision's port for `ev_tx` (egress) and `ev_exc` / `ev_exc_drop` (ingress).
    pub ev_port: Signal<In, Bits<2>>,
    rdata: DFF<Bits<32>>,
    staging: DFF<Bits<{ entry::BITS }>>,
    /// A read command was given last cycle: `tr_entry` is the entry read, to be staged.
    rd_pending: DFF<Bit>,
    /// The staging words as of this cycle (a read's entry forwarded before it is registered).
    staged_src: Signal<Local, Bits<{ entry::BITS }>>,
    /// `ACT0..3`: the record of the last read command's bucket.
    act: DFF<Bits<{ activity::BITS }>>,
    act_src: Signal<Local, Bits<{ activity::BITS }>>,
    a_tb_act0: Constant<Bits<16>>,
    a_tb_act1: Constant<Bits<16>>,
    a_tb_act2: Constant<Bits<16>>,
    a_tb_act3: Constant<Bits<16>>,
    a_tb_now: Constant<Bits<16>>,
    a_tb_ways: Constant<Bits<16>>,
    v_tb_ways: Constant<Bits<32>>,
    // HASH_KEYi, stored as (value XOR default word) so that the all-zero reset state of the
    // registers means the contract's default key
    hk0: DFF<Bits<32>>,
    hk1: DFF<Bits<32>>,
    hk2: DFF<Bits<32>>,
    hk3: DFF<Bits<32>>,
    hkey0: Signal<Local, Bits<32>>,
    hkey1: Signal<Local, Bits<32>>,
    hkey2: Signal<Local, Bits<32>>,
    hkey3: Signal<Local, Bits<32>>,
    d_hk0: Constant<Bits<32>>,
    d_hk1: Constant<Bits<32>>,
    d_hk2: Constant<Bits<32>>,
    d_hk3: Constant<Bits<32>>,
    a_hk0: Constant<Bits<16>>,
    a_hk1: Constant<Bits<16>>,
    a_hk2: Constant<Bits<16>>,
    a_hk3: Constant<Bits<16>>,
    c_rx: DFF<Bits<32>>,
    c_tx: DFF<Bits<32>>,
    c_fastpath: DFF<Bits<32>>,
    c_exc: DFF<Bits<32>>,
    c_exc_drop: DFF<Bits<32>>,
    c_r1: DFF<Bits<32>>,
    c_r2: DFF<Bits<32>>,
    c_r3: DFF<Bits<32>>,
    c_r4: DFF<Bits<32>>,
    c_r5: DFF<Bits<32>>,
    c_r6: DFF<Bits<32>>,
    c_r7: DFF<Bits<32>>,
    c_r8: DFF<Bits<32>>,
    c_r9: DFF<Bits<32>>,
    c_r10: DFF<Bits<32>>,
    c_r11: DFF<Bits<32>>,
    c_p0_rx: DFF<Bits<32>>,
    c_p0_tx: DFF<Bits<32>>,
    c_p0_exc: DFF<Bits<32>>,
    c_p0_drop: DFF<Bits<32>>,
    c_p1_rx: DFF<Bits<32>>,
    c_p1_tx: DFF<Bits<32>>,
    c_p1_exc: DFF<Bits<32>>,
    c_p1_drop: DFF<Bits<32>>,
    /// Per-port events of this cycle (the port decoded).
    rx_net: Signal<Local, Bit>,
    /// The reason or per-port counter at `csr_addr` (0 for any other address).
    ct_word: Signal<Local, Bits<32>>,
    /// Bit positions in the stream side band (`stream::FROM_HOST`, `stream::PORT`).
    u_from_host: Constant<Bits<8>>,
    u_port: Constant<Bits<8>>,
    counting: Signal<Local, Bit>,
    word_off: Signal<Local, Bits<16>>,
    word_shift: Signal<Local, Bits<16>>,
    word_mask: Signal<Local, Bits<{ entry::BITS }>>,
    staged_word: Signal<Local, Bits<{ entry::BITS }>>,
    in_data: Signal<Local, Bit>,
    ones: Constant<Bits<32>>,
    // identification block
    a_id_type: Constant<Bits<16>>,
    a_id_version: Constant<Bits<16>>,
    a_id_next: Constant<Bits<16>>,
    a_design_id: Constant<Bits<16>>,
    a_hw_version: Constant<Bits<16>>,
    a_data_width: Constant<Bits<16>>,
    a_index_bits: Constant<Bits<16>>,
    a_num_ports: Constant<Bits<16>>,
    v_id_type: Constant<Bits<32>>,
    v_id_version: Constant<Bits<32>>,
    v_id_next: Constant<Bits<32>>,
    v_design_id: Constant<Bits<32>>,
    v_hw_version: Constant<Bits<32>>,
    v_data_width: Constant<Bits<32>>,
    v_index_bits: Constant<Bits<32>>,
    v_num_ports: Constant<Bits<32>>,
    // table block
    a_tb_type: Constant<Bits<16>>,
    a_tb_version: Constant<Bits<16>>,
    a_tb_next: Constant<Bits<16>>,
    a_tb_cmd: Constant<Bits<16>>,
    a_tb_data0: Constant<Bits<16>>,
    a_tb_data_end: Constant<Bits<16>>,
    v_tb_type: Constant<Bits<32>>,
    v_tb_version: Constant<Bits<32>>,
    v_tb_next: Constant<Bits<32>>,
    // counters block
    a_ct_type: Constant<Bits<16>>,
    a_ct_version: Constant<Bits<16>>,
    a_ct_next: Constant<Bits<16>>,
    a_rx: Constant<Bits<16>>,
    a_tx: Constant<Bits<16>>,
    a_fastpath: Constant<Bits<16>>,
    a_exc: Constant<Bits<16>>,
    a_exc_drop: Constant<Bits<16>>,
    a_r1: Constant<Bits<16>>,
    a_r2: Constant<Bits<16>>,
    a_r3: Constant<Bits<16>>,
    a_r4: Constant<Bits<16>>,
    a_r5: Constant<Bits<16>>,
    a_r6: Constant<Bits<16>>,
    a_r7: Constant<Bits<16>>,
    a_r8: Constant<Bits<16>>,
    a_r9: Constant<Bits<16>>,
    a_r10: Constant<Bits<16>>,
    a_r11: Constant<Bits<16>>,
    a_p0_rx: Constant<Bits<16>>,
    a_p0_tx: Constant<Bits<16>>,
    a_p0_exc: Constant<Bits<16>>,
    a_p0_drop: Constant<Bits<16>>,
    a_p1_rx: Constant<Bits<16>>,
    a_p1_tx: Constant<Bits<16>>,
    a_p1_exc: Constant<Bits<16>>,
    a_p1_drop: Constant<Bits<16>>,
    v_ct_type: Constant<Bits<32>>,
    v_ct_version: Constant<Bits<32>>,
    v_ct_next: Constant<Bits<32>>,
    _evaluated: bool,
}

fn a(v: u32) -> Constant<Bits<16>> {
    Constant::new((v as u64).into())
}

fn v(v: u32) -> Constant<Bits<32>> {
    Constant::new((v as u64).into())
}

/// Number of network ports of the core (each has its group of per-port counters).
pub const NUM_PORTS: u32 = 2;
const _: () = assert!(
    NUM_PORTS == 2 && NUM_PORTS <= regs::counters::MAX_PORTS,
    "update Csr's per-port counters"
);

impl<const W: usize, const T: usize> Default for Csr<W, T> {
    fn default() -> Self {
        use regs::{counters as ct, id, table as tb, NEXT, TYPE, VERSION};
        let r = |base: u32, i: u32| a(base + ct::EXC_REASON0 + 4 * i);
        Self {
            clock: Default::default(),
            csr_addr: Default::default(),
            csr_wdata: Default::default(),
            csr_write: Default::default(),
            csr_read: Default::default(),
            csr_rdata: Default::default(),
            tw_enable: Default::default(),
            tw_index: Default::default(),
            tw_entry: Default::default(),
            tr_entry: Default::default(),
            hash_key: Default::default(),
            tr_act: Default::default(),
            now: Default::default(),
            act: Default::default(),
            act_src: Default::default(),
            a_tb_act0: a(tb::BASE + tb::ACT0),
            a_tb_act1: a(tb::BASE + tb::ACT0 + 4),
            a_tb_act2: a(tb::BASE + tb::ACT0 + 8),
            a_tb_act3: a(tb::BASE + tb::ACT0 + 12),
            a_tb_now: a(tb::BASE + tb::NOW),
            a_tb_ways: a(tb::BASE + tb::WAYS_LOG2),
            v_tb_ways: v(vsnic_contract::hash::WAYS_LOG2),
            hk0: Default::default(),
            hk1: Default::default(),
            hk2: Default::default(),
            hk3: Default::default(),
            hkey0: Default::default(),
            hkey1: Default::default(),
            hkey2: Default::default(),
            hkey3: Default::default(),
            d_hk0: v(DEFAULT_KEY[0]),
            d_hk1: v(DEFAULT_KEY[1]),
            d_hk2: v(DEFAULT_KEY[2]),
            d_hk3: v(DEFAULT_KEY[3]),
            a_hk0: a(tb::BASE + tb::HASH_KEY0),
            a_hk1: a(tb::BASE + tb::HASH_KEY0 + 4),
            a_hk2: a(tb::BASE + tb::HASH_KEY0 + 8),
            a_hk3: a(tb::BASE + tb::HASH_KEY0 + 12),
            ev_rx: Default::default(),
            ev_tx: Default::default(),
            ev_fastpath: Default::default(),
            ev_exc: Default::default(),
            ev_exc_drop: Default::default(),
            ev_reason: Default::default(),
            ev_rx_user: Default::default(),
            ev_port: Default::default(),
            rdata: Default::default(),
            staging: Default::default(),
            rd_pending: Default::default(),
            staged_src: Default::default(),
            c_rx: Default::default(),
            c_tx: Default::default(),
            c_fastpath: Default::default(),
            c_exc: Default::default(),
            c_exc_drop: Default::default(),
            c_r1: Default::default(),
            c_r2: Default::default(),
            c_r3: Default::default(),
            c_r4: Default::default(),
            c_r5: Default::default(),
            c_r6: Default::default(),
            c_r7: Default::default(),
            c_r8: Default::default(),
            c_r9: Default::default(),
            c_r10: Default::default(),
            c_r11: Default::default(),
            c_p0_rx: Default::default(),
            c_p0_tx: Default::default(),
            c_p0_exc: Default::default(),
            c_p0_drop: Default::default(),
            c_p1_rx: Default::default(),
            c_p1_tx: Default::default(),
            c_p1_exc: Default::default(),
            c_p1_drop: Default::default(),
            rx_net: Default::default(),
            ct_word: Default::default(),
            u_from_host: Constant::new((stream::FROM_HOST.start as u64).into()),
            u_port: Constant::new((stream::PORT.start as u64).into()),
            counting: Default::default(),
            word_off: Default::default(),
            word_shift: Default::default(),
            word_mask: Default::default(),
            staged_word: Default::default(),
            in_data: Default::default(),
            ones: v(0xFFFF_FFFF),
            a_id_type: a(id::BASE + TYPE),
            a_id_version: a(id::BASE + VERSION),
            a_id_next: a(id::BASE + NEXT),
            a_design_id: a(id::BASE + id::DESIGN_ID),
            a_hw_version: a(id::BASE + id::HW_VERSION),
            a_data_width: a(id::BASE + id::DATA_WIDTH),
            a_index_bits: a(id::BASE + id::TABLE_INDEX_BITS),
            a_num_ports: a(id::BASE + id::NUM_PORTS),
            v_id_type: v(id::TYPE_ID),
            v_id_version: v(id::VERSION),
            v_id_next: v(regs::next_of(id::BASE)),
            v_design_id: v(id::DESIGN_ID_VALUE),
            v_hw_version: v(id::HW_VERSION_VALUE),
            v_data_width: v(W as u32),
            v_index_bits: v(T as u32),
            v_num_ports: v(NUM_PORTS),
            a_tb_type: a(tb::BASE + TYPE),
            a_tb_version: a(tb::BASE + VERSION),
            a_tb_next: a(tb::BASE + NEXT),
            a_tb_cmd: a(tb::BASE + tb::CMD),
            a_tb_data0: a(tb::BASE + tb::DATA0),
            a_tb_data_end: a(tb::BASE + tb::DATA0 + 4 * entry::WORDS as u32),
            v_tb_type: v(tb::TYPE_ID),
            v_tb_version: v(tb::VERSION),
            v_tb_next: v(regs::next_of(tb::BASE)),
            a_ct_type: a(ct::BASE + TYPE),
            a_ct_version: a(ct::BASE + VERSION),
            a_ct_next: a(ct::BASE + NEXT),
            a_rx: a(ct::BASE + ct::RX_FRAMES),
            a_tx: a(ct::BASE + ct::TX_FRAMES),
            a_fastpath: a(ct::BASE + ct::FASTPATH),
            a_exc: a(ct::BASE + ct::EXC_FRAMES),
            a_exc_drop: a(ct::BASE + ct::EXC_DROP),
            a_r1: r(ct::BASE, 1),
            a_r2: r(ct::BASE, 2),
            a_r3: r(ct::BASE, 3),
            a_r4: r(ct::BASE, 4),
            a_r5: r(ct::BASE, 5),
            a_r6: r(ct::BASE, 6),
            a_r7: r(ct::BASE, 7),
            a_r8: r(ct::BASE, 8),
            a_r9: r(ct::BASE, 9),
            a_r10: r(ct::BASE, 10),
            a_r11: r(ct::BASE, 11),
            a_p0_rx: a(ct::BASE + ct::port(0, ct::PORT_RX)),
            a_p0_tx: a(ct::BASE + ct::port(0, ct::PORT_TX)),
            a_p0_exc: a(ct::BASE + ct::port(0, ct::PORT_EXC)),
            a_p0_drop: a(ct::BASE + ct::port(0, ct::PORT_EXC_DROP)),
            a_p1_rx: a(ct::BASE + ct::port(1, ct::PORT_RX)),
            a_p1_tx: a(ct::BASE + ct::port(1, ct::PORT_TX)),
            a_p1_exc: a(ct::BASE + ct::port(1, ct::PORT_EXC)),
            a_p1_drop: a(ct::BASE + ct::port(1, ct::PORT_EXC_DROP)),
            v_ct_type: v(ct::TYPE_ID),
            v_ct_version: v(ct::VERSION),
            v_ct_next: v(regs::next_of(ct::BASE)),
            _evaluated: false,
        }
    }
}

// ACT0..ACT3 are four words.
const _: () = assert!(activity::WORDS == 4, "update Csr's ACT words");

// The counter block has one register per reason code 1..=11 (code 0 is "no exception").
const _: () = assert!(
    vsnic_contract::exception::NUM_REASONS == 12,
    "update Csr's reason counters"
);

impl<const W: usize, const T: usize> Csr<W, T> {
    /// Report `2^ways_log2` ways in `WAYS_LOG2` (the decide stage's, `Decide::with_ways`).
    pub fn set_ways(&mut self, ways_log2: usize) {
        self.v_tb_ways = v(ways_log2 as u32);
    }
}

impl<const W: usize, const T: usize> Logic for Csr<W, T> {
    super::settled_update!(self; clocks: rdata.clock, staging.clock, rd_pending.clock, act.clock, hk0.clock, hk1.clock, hk2.clock, hk3.clock, c_rx.clock, c_tx.clock, c_fastpath.clock,
        c_exc.clock, c_exc_drop.clock, c_r1.clock, c_r2.clock, c_r3.clock, c_r4.clock, c_r5.clock,
        c_r6.clock, c_r7.clock, c_r8.clock, c_r9.clock, c_r10.clock, c_r11.clock, c_p0_rx.clock, c_p0_tx.clock, c_p0_exc.clock, c_p0_drop.clock, c_p1_rx.clock, c_p1_tx.clock, c_p1_exc.clock, c_p1_drop.clock;
        reads: csr_addr, csr_wdata, csr_write, csr_read, ev_rx, ev_tx,
        ev_fastpath, ev_exc, ev_exc_drop, ev_reason, ev_rx_user, ev_port, rx_net, ct_word, counting, word_off, word_shift, word_mask,
        staged_word, in_data, rdata.q, staging.q, rd_pending.q, staged_src, tr_entry, act.q, act_src, tr_act, now, hk0.q, hk1.q, hk2.q, hk3.q, hkey0, hkey1, hkey2, hkey3, c_rx.q, c_tx.q, c_fastpath.q, c_exc.q,
        c_exc_drop.q, c_r1.q, c_r2.q, c_r3.q, c_r4.q, c_r5.q, c_r6.q, c_r7.q, c_r8.q, c_r9.q, c_r10.q, c_r11.q, c_p0_rx.q, c_p0_tx.q, c_p0_exc.q, c_p0_drop.q, c_p1_rx.q, c_p1_tx.q, c_p1_exc.q, c_p1_drop.q);
}

impl<const W: usize, const T: usize> Csr<W, T> {
    #[hdl_gen]
    fn logic(&mut self) {
        dff_setup!(
            self, clock, rdata, staging, rd_pending, act, hk0, hk1, hk2, hk3, c_rx, c_tx,
            c_fastpath, c_exc, c_exc_drop, c_r1, c_r2, c_r3, c_r4, c_r5, c_r6, c_r7, c_r8, c_r9,
            c_r10, c_r11, c_p0_rx, c_p0_tx, c_p0_exc, c_p0_drop, c_p1_rx, c_p1_tx, c_p1_exc,
            c_p1_drop
        );
        // ---- counters ----
        if self.ev_rx.val() {
            self.c_rx.d.next = self.c_rx.q.val() + 1;
        }
        if self.ev_tx.val() {
            self.c_tx.d.next = self.c_tx.q.val() + 1;
        }
        if self.ev_fastpath.val() {
            self.c_fastpath.d.next = self.c_fastpath.q.val() + 1;
        }
        if self.ev_exc.val() {
            self.c_exc.d.next = self.c_exc.q.val() + 1;
        }
        if self.ev_exc_drop.val() {
            self.c_exc_drop.d.next = self.c_exc_drop.q.val() + 1;
        }
        // per port: receive (network side only), transmit, exceptions by ingress port
        self.rx_net.next = self.ev_rx.val()
            & !self
                .ev_rx_user
                .val()
                .get_bit(self.u_from_host.val().index());
        if self.rx_net.val()
            & (self
                .ev_rx_user
                .val()
                .get_bits::<2>(self.u_port.val().index())
                == 0)
        {
            self.c_p0_rx.d.next = self.c_p0_rx.q.val() + 1;
        }
        if self.ev_tx.val() & (self.ev_port.val() == 0) {
            self.c_p0_tx.d.next = self.c_p0_tx.q.val() + 1;
        }
        if self.ev_exc.val() & (self.ev_port.val() == 0) {
            self.c_p0_exc.d.next = self.c_p0_exc.q.val() + 1;
        }
        if self.ev_exc_drop.val() & (self.ev_port.val() == 0) {
            self.c_p0_drop.d.next = self.c_p0_drop.q.val() + 1;
        }
        if self.rx_net.val()
            & (self
                .ev_rx_user
                .val()
                .get_bits::<2>(self.u_port.val().index())
                == 1)
        {
            self.c_p1_rx.d.next = self.c_p1_rx.q.val() + 1;
        }
        if self.ev_tx.val() & (self.ev_port.val() == 1) {
            self.c_p1_tx.d.next = self.c_p1_tx.q.val() + 1;
        }
        if self.ev_exc.val() & (self.ev_port.val() == 1) {
            self.c_p1_exc.d.next = self.c_p1_exc.q.val() + 1;
        }
        if self.ev_exc_drop.val() & (self.ev_port.val() == 1) {
            self.c_p1_drop.d.next = self.c_p1_drop.q.val() + 1;
        }
        self.counting.next = self.ev_exc.val() | self.ev_exc_drop.val();
        if self.counting.val() & (self.ev_reason.val() == 1) {
            self.c_r1.d.next = self.c_r1.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 2) {
            self.c_r2.d.next = self.c_r2.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 3) {
            self.c_r3.d.next = self.c_r3.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 4) {
            self.c_r4.d.next = self.c_r4.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 5) {
            self.c_r5.d.next = self.c_r5.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 6) {
            self.c_r6.d.next = self.c_r6.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 7) {
            self.c_r7.d.next = self.c_r7.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 8) {
            self.c_r8.d.next = self.c_r8.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 9) {
            self.c_r9.d.next = self.c_r9.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 10) {
            self.c_r10.d.next = self.c_r10.q.val() + 1;
        }
        if self.counting.val() & (self.ev_reason.val() == 11) {
            self.c_r11.d.next = self.c_r11.q.val() + 1;
        }

        // ---- table staging and command ----
        self.word_off.next = self.csr_addr.val() - self.a_tb_data0.val();
        self.word_shift.next = self.word_off.val() << 3;
        self.word_mask.next =
            bit_cast::<{ entry::BITS }, 32>(self.ones.val()) << self.word_shift.val();
        // A read command's entry arrives from the table one cycle after the command; it is
        // forwarded to this cycle's register reads and writes and staged at the edge.
        self.rd_pending.d.next = false;
        self.staged_src.next = self.staging.q.val();
        self.act_src.next = self.act.q.val();
        if self.rd_pending.q.val() {
            self.staged_src.next = self.tr_entry.val();
            self.staging.d.next = self.tr_entry.val();
            // the bucket's activity record with it (the same port timing)
            self.act_src.next = self.tr_act.val();
            self.act.d.next = self.tr_act.val();
        }
        self.staged_word.next = self.staged_src.val() >> self.word_shift.val();
        self.in_data.next = (self.csr_addr.val() >= self.a_tb_data0.val())
            & (self.csr_addr.val() < self.a_tb_data_end.val());
        self.tw_enable.next = false;
        self.tw_index.next = self.csr_wdata.val().get_bits::<T>(0);
        self.tw_entry.next = self.staged_src.val();
        // ---- flow hash key ----
        self.hkey0.next = self.hk0.q.val() ^ self.d_hk0.val();
        self.hkey1.next = self.hk1.q.val() ^ self.d_hk1.val();
        self.hkey2.next = self.hk2.q.val() ^ self.d_hk2.val();
        self.hkey3.next = self.hk3.q.val() ^ self.d_hk3.val();
        self.hash_key.next = bit_cast::<128, 32>(self.hkey0.val())
            | (bit_cast::<128, 32>(self.hkey1.val()) << 32)
            | (bit_cast::<128, 32>(self.hkey2.val()) << 64)
            | (bit_cast::<128, 32>(self.hkey3.val()) << 96);
        if self.csr_write.val() {
            if (self.csr_addr.val() == self.a_tb_cmd.val()) & self.csr_wdata.val().get_bit(31) {
                self.tw_enable.next = true;
            }
            if (self.csr_addr.val() == self.a_tb_cmd.val())
                & !self.csr_wdata.val().get_bit(31)
                & self.csr_wdata.val().get_bit(30)
            {
                self.rd_pending.d.next = true;
            }
            if self.csr_addr.val() == self.a_hk0.val() {
                self.hk0.d.next = self.csr_wdata.val() ^ self.d_hk0.val();
            }
            if self.csr_addr.val() == self.a_hk1.val() {
                self.hk1.d.next = self.csr_wdata.val() ^ self.d_hk1.val();
            }
            if self.csr_addr.val() == self.a_hk2.val() {
                self.hk2.d.next = self.csr_wdata.val() ^ self.d_hk2.val();
            }
            if self.csr_addr.val() == self.a_hk3.val() {
                self.hk3.d.next = self.csr_wdata.val() ^ self.d_hk3.val();
            }
            if self.in_data.val() {
                self.staging.d.next = (self.staged_src.val() & !self.word_mask.val())
                    | (bit_cast::<{ entry::BITS }, 32>(self.csr_wdata.val())
                        << self.word_shift.val());
            }
        }

        // ---- read mux ----
        // The counters by reason and by port are selected in a mux of their own, ahead of the
        // main one: two shorter priority chains instead of one long one (a shallower mux for
        // timing; the WebAssembly yosys of the firmware flow ran out of stack in `opt_muxtree` on the
        // single 49-link chain).
        if self.csr_addr.val() == self.a_r1.val() {
            self.ct_word.next = self.c_r1.q.val();
        } else if self.csr_addr.val() == self.a_r2.val() {
            self.ct_word.next = self.c_r2.q.val();
        } else if self.csr_addr.val() == self.a_r3.val() {
            self.ct_word.next = self.c_r3.q.val();
        } else if self.csr_addr.val() == self.a_r4.val() {
            self.ct_word.next = self.c_r4.q.val();
        } else if self.csr_addr.val() == self.a_r5.val() {
            self.ct_word.next = self.c_r5.q.val();
        } else if self.csr_addr.val() == self.a_r6.val() {
            self.ct_word.next = self.c_r6.q.val();
        } else if self.csr_addr.val() == self.a_r7.val() {
            self.ct_word.next = self.c_r7.q.val();
        } else if self.csr_addr.val() == self.a_r8.val() {
            self.ct_word.next = self.c_r8.q.val();
        } else if self.csr_addr.val() == self.a_r9.val() {
            self.ct_word.next = self.c_r9.q.val();
        } else if self.csr_addr.val() == self.a_r10.val() {
            self.ct_word.next = self.c_r10.q.val();
        } else if self.csr_addr.val() == self.a_r11.val() {
            self.ct_word.next = self.c_r11.q.val();
        } else if self.csr_addr.val() == self.a_p0_rx.val() {
            self.ct_word.next = self.c_p0_rx.q.val();
        } else if self.csr_addr.val() == self.a_p0_tx.val() {
            self.ct_word.next = self.c_p0_tx.q.val();
        } else if self.csr_addr.val() == self.a_p0_exc.val() {
            self.ct_word.next = self.c_p0_exc.q.val();
        } else if self.csr_addr.val() == self.a_p0_drop.val() {
            self.ct_word.next = self.c_p0_drop.q.val();
        } else if self.csr_addr.val() == self.a_p1_rx.val() {
            self.ct_word.next = self.c_p1_rx.q.val();
        } else if self.csr_addr.val() == self.a_p1_tx.val() {
            self.ct_word.next = self.c_p1_tx.q.val();
        } else if self.csr_addr.val() == self.a_p1_exc.val() {
            self.ct_word.next = self.c_p1_exc.q.val();
        } else if self.csr_addr.val() == self.a_p1_drop.val() {
            self.ct_word.next = self.c_p1_drop.q.val();
        } else {
            self.ct_word.next = 0.into();
        }
        // main mux
        if self.csr_read.val() {
            if self.csr_addr.val() == self.a_id_type.val() {
                self.rdata.d.next = self.v_id_type.val();
            } else if self.csr_addr.val() == self.a_hk0.val() {
                self.rdata.d.next = self.hkey0.val();
            } else if self.csr_addr.val() == self.a_hk1.val() {
                self.rdata.d.next = self.hkey1.val();
            } else if self.csr_addr.val() == self.a_hk2.val() {
                self.rdata.d.next = self.hkey2.val();
            } else if self.csr_addr.val() == self.a_hk3.val() {
                self.rdata.d.next = self.hkey3.val();
            } else if self.csr_addr.val() == self.a_id_version.val() {
                self.rdata.d.next = self.v_id_version.val();
            } else if self.csr_addr.val() == self.a_id_next.val() {
                self.rdata.d.next = self.v_id_next.val();
            } else if self.csr_addr.val() == self.a_design_id.val() {
                self.rdata.d.next = self.v_design_id.val();
            } else if self.csr_addr.val() == self.a_hw_version.val() {
                self.rdata.d.next = self.v_hw_version.val();
            } else if self.csr_addr.val() == self.a_data_width.val() {
                self.rdata.d.next = self.v_data_width.val();
            } else if self.csr_addr.val() == self.a_index_bits.val() {
                self.rdata.d.next = self.v_index_bits.val();
            } else if self.csr_addr.val() == self.a_num_ports.val() {
                self.rdata.d.next = self.v_num_ports.val();
            } else if self.csr_addr.val() == self.a_tb_type.val() {
                self.rdata.d.next = self.v_tb_type.val();
            } else if self.csr_addr.val() == self.a_tb_version.val() {
                self.rdata.d.next = self.v_tb_version.val();
            } else if self.csr_addr.val() == self.a_tb_next.val() {
                self.rdata.d.next = self.v_tb_next.val();
            } else if self.in_data.val() {
                self.rdata.d.next = self.staged_word.val().get_bits::<32>(0);
            } else if self.csr_addr.val() == self.a_tb_act0.val() {
                self.rdata.d.next = self.act_src.val().get_bits::<32>(0);
            } else if self.csr_addr.val() == self.a_tb_act1.val() {
                self.rdata.d.next = self.act_src.val().get_bits::<32>(32);
            } else if self.csr_addr.val() == self.a_tb_act2.val() {
                self.rdata.d.next = self.act_src.val().get_bits::<32>(64);
            } else if self.csr_addr.val() == self.a_tb_act3.val() {
                self.rdata.d.next = self.act_src.val().get_bits::<32>(96);
            } else if self.csr_addr.val() == self.a_tb_ways.val() {
                self.rdata.d.next = self.v_tb_ways.val();
            } else if self.csr_addr.val() == self.a_tb_now.val() {
                self.rdata.d.next = self.now.val();
            } else if self.csr_addr.val() == self.a_ct_type.val() {
                self.rdata.d.next = self.v_ct_type.val();
            } else if self.csr_addr.val() == self.a_ct_version.val() {
                self.rdata.d.next = self.v_ct_version.val();
            } else if self.csr_addr.val() == self.a_ct_next.val() {
                self.rdata.d.next = self.v_ct_next.val();
            } else if self.csr_addr.val() == self.a_rx.val() {
                self.rdata.d.next = self.c_rx.q.val();
            } else if self.csr_addr.val() == self.a_tx.val() {
                self.rdata.d.next = self.c_tx.q.val();
            } else if self.csr_addr.val() == self.a_fastpath.val() {
                self.rdata.d.next = self.c_fastpath.q.val();
            } else if self.csr_addr.val() == self.a_exc.val() {
                self.rdata.d.next = self.c_exc.q.val();
            } else if self.csr_addr.val() == self.a_exc_drop.val() {
                self.rdata.d.next = self.c_exc_drop.q.val();
            } else {
                // the reason and per-port counters (their own mux: see `ct_word`)
                self.rdata.d.next = self.ct_word.val();
            }
        }
        self.csr_rdata.next = self.rdata.q.val();
    }
}
