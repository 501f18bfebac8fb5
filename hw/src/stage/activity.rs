//! Stage 4 (beside `emit`): per-bucket activity records ([`vsnic_contract::activity`]).
//!
//! Every frame produces one decision in `decide` (`d_*`: whether it hit, its bucket, its TCP
//! SYN/FIN/RST flags) and one length in the parser (`f_*`: its bytes as received, known at its
//! last beat). The two arrive in frame order but at different times (the decision first for a
//! frame longer than the header window, the length first for a short one), so each goes into a
//! small FIFO and a frame's update is started when both heads are there: at most one update per
//! cycle, never a stall (a frame takes at least one beat, so neither FIFO fills: see
//! [`LEN_FIFO_BITS`]).
//!
//! The update is a read-modify-write of the bucket's record in the activity RAM, four register
//! stages long:
//! * **a0**: the update's bucket addresses the RAM (from a register);
//! * **a1**: the old record leaves the RAM and is registered as it is; the bucket is compared
//!   with the three updates ahead of it (a2, a3, a4);
//! * **a2**: the new record: the old one (or, when one of the three updates ahead wrote the same
//!   bucket, that update's result: **read-after-write forwarding**, newest first) plus one
//!   packet, the frame's bytes and flags;
//! * **a3**: written back, with `last_seen` = the `now` input of this cycle.
//!
//! Forwarding depth 3: the update three ahead writes on the very edge this one's read samples
//! (the RAM is read-before-write there, and real block RAMs are undefined on such a collision),
//! the two after it have not written yet. So back-to-back hits on one bucket (every cycle at 512
//! bits with one-beat frames) are all counted.
//!
//! The host reads records through a second copy of the RAM ("shadow"): written by the same
//! write-back, read at `rd_index` (the table's host index) with the same one-cycle latency as
//! the table's host port, so `CMD_READ` loads the entry and its record together and a host read
//! never takes a cycle from the updates. Each copy is simple dual-port (one read, one write),
//! the kind every FPGA block RAM is.

use super::fifo::Fifo;
use rust_hdl::prelude::*;
use vsnic_contract::activity;

/// One activity record as the RAMs store it.
pub type Record = Bits<{ activity::BITS }>;

/// Cycles from an update's start (both FIFO heads present) to its write into the RAMs: the
/// record is visible to a host read command issued this many cycles later.
pub const UPDATE_CYCLES: usize = 4;
/// Cycles from a decision at the input (`d_valid`) to the start of its update when the frame's
/// length is already there (the decision FIFO's write-to-read delay).
pub const FIFO_CYCLES: usize = 2;
/// The length FIFO holds 2^this frames. Lengths wait for decisions at most the decision's
/// latency behind the parser (about a dozen frames of one beat each); more than that would
/// lose a length, so the size is checked against `decide`'s latency.
pub const LEN_FIFO_BITS: usize = 4;
/// The decision FIFO holds 2^this decisions (only a frame still streaming in makes one wait).
pub const DEC_FIFO_BITS: usize = 2;

const _: () = assert!(
    (1 << LEN_FIFO_BITS) > super::decide::LATENCY + FIFO_CYCLES + 3,
    "the length FIFO must hold every frame between the parser and decide's output"
);
// The field widths the logic below is written for.
const _: () = assert!(activity::BITS == 128);
const _: () = assert!(activity::PACKETS.end - activity::PACKETS.start == 32);
const _: () = assert!(activity::BYTES.end - activity::BYTES.start == 40);
const _: () = assert!(activity::LAST_SEEN.end - activity::LAST_SEEN.start == 32);
const _: () = assert!(activity::SYNS.end - activity::SYNS.start == 8);
const _: () = assert!(activity::FINS.end - activity::FINS.start == 8);
const _: () = assert!(activity::RSTS.end - activity::RSTS.start == 8);

/// Bit positions of a decision FIFO word.
mod dw {
    pub const INDEX: usize = 0; // 16 bits
    pub const HIT: usize = 16;
    pub const FLAGS: usize = 17; // 3 bits: SYN, FIN, RST
}

/// Bits of the TCP flags word `d_flags` and of the update registers' flags.
pub mod flag {
    pub const SYN: usize = 0;
    pub const FIN: usize = 1;
    pub const RST: usize = 2;
}

/// A simple dual-port block RAM of records: one synchronous read port, one write port, both on
/// one clock; the read samples the memory before the same edge's write. Zero at configuration.
#[derive(LogicBlock)]
pub struct RecordRam<const T: usize> {
    pub read_clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<T>>,
    pub read_data: Signal<Out, Record>,
    pub write_clock: Signal<In, Clock>,
    pub write_address: Signal<In, Bits<T>>,
    pub write_data: Signal<In, Record>,
    pub write_enable: Signal<In, Bit>,
    _mem: Vec<Record>,
}

impl<const T: usize> Default for RecordRam<T> {
    fn default() -> Self {
        RecordRam {
            read_clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_clock: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            write_enable: Default::default(),
            _mem: vec![Record::default(); 1 << T],
        }
    }
}

impl<const T: usize> Logic for RecordRam<T> {
    fn update(&mut self) {
        if self.read_clock.pos_edge() {
            self.read_data.next = self._mem[self.read_address.val().index()];
        }
        if self.write_clock.pos_edge() && self.write_enable.val() {
            self._mem[self.write_address.val().index()] = self.write_data.val();
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
reg [{msb}:0] mem [0:{last}];
integer i;

initial begin
    for (i = 0; i <= {last}; i = i + 1) begin
        mem[i] = {bits}'d0;
    end
end

always @(posedge read_clock) begin
    read_data <= mem[read_address];
end

always @(posedge write_clock) begin
    if (write_enable) begin
        mem[write_address] <= write_data;
    end
end
",
            msb = activity::BITS - 1,
            bits = activity::BITS,
            last = (1usize << T) - 1,
        ))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![
            TimingInfo {
                name: "activity_read".into(),
                clock: "read_clock".into(),
                inputs: vec!["read_address".into()],
                outputs: vec!["read_data".into()],
            },
            TimingInfo {
                name: "activity_write".into(),
                clock: "write_clock".into(),
                inputs: vec![
                    "write_address".into(),
                    "write_data".into(),
                    "write_enable".into(),
                ],
                outputs: vec![],
            },
        ]
    }
}

#[derive(LogicBlock)]
pub struct Activity<const T: usize> {
    pub clock: Signal<In, Clock>,
    /// One decision per frame, in frame order (`decide`).
    pub d_valid: Signal<In, Bit>,
    pub d_hit: Signal<In, Bit>,
    pub d_index: Signal<In, Bits<16>>,
    /// TCP flags of the frame ([`flag`]; zero for UDP).
    pub d_flags: Signal<In, Bits<3>>,
    /// One length per frame, in frame order (the parser, after each frame's last beat).
    pub f_valid: Signal<In, Bit>,
    pub f_len: Signal<In, Bits<16>>,
    /// NIC time (`last_seen` of the records written this cycle).
    pub now: Signal<In, Bits<32>>,
    /// Host read: the record at `rd_index` appears on `rd_data` one cycle later.
    pub rd_index: Signal<In, Bits<T>>,
    pub rd_data: Signal<Out, Record>,
    /// Write-back strobe (observed by the test driver; unused by the core).
    pub wb_valid: Signal<Out, Bit>,
    dec_fifo: Fifo<Bits<20>, DEC_FIFO_BITS>,
    len_fifo: Fifo<Bits<16>, LEN_FIFO_BITS>,
    ram: RecordRam<T>,
    shadow: RecordRam<T>,
    a0_valid: DFF<Bit>,
    a0_index: DFF<Bits<T>>,
    a0_len: DFF<Bits<16>>,
    a0_flags: DFF<Bits<3>>,
    a1_valid: DFF<Bit>,
    a1_index: DFF<Bits<T>>,
    a1_len: DFF<Bits<16>>,
    a1_flags: DFF<Bits<3>>,
    a2_valid: DFF<Bit>,
    a2_index: DFF<Bits<T>>,
    a2_len: DFF<Bits<16>>,
    a2_flags: DFF<Bits<3>>,
    a2_old: DFF<Record>,
    a2_fw1: DFF<Bit>,
    a2_fw2: DFF<Bit>,
    a2_fw3: DFF<Bit>,
    a3_valid: DFF<Bit>,
    a3_index: DFF<Bits<T>>,
    a3_rec: DFF<Record>,
    a4_valid: DFF<Bit>,
    a4_index: DFF<Bits<T>>,
    a4_rec: DFF<Record>,
    a5_rec: DFF<Record>,
    start: Signal<Local, Bit>,
    head: Signal<Local, Bits<20>>,
    old: Signal<Local, Record>,
    n_packets: Signal<Local, Bits<32>>,
    n_bytes: Signal<Local, Bits<40>>,
    n_syns: Signal<Local, Bits<8>>,
    n_fins: Signal<Local, Bits<8>>,
    n_rsts: Signal<Local, Bits<8>>,
    len40: Signal<Local, Bits<40>>,
    syn8: Signal<Local, Bits<8>>,
    fin8: Signal<Local, Bits<8>>,
    rst8: Signal<Local, Bits<8>>,
    wb_data: Signal<Local, Record>,
    o_packets: Constant<Bits<16>>,
    o_bytes: Constant<Bits<16>>,
    o_last_seen: Constant<Bits<16>>,
    o_syns: Constant<Bits<16>>,
    o_fins: Constant<Bits<16>>,
    o_rsts: Constant<Bits<16>>,
    keep_counters: Constant<Record>,
    w_index: Constant<Bits<16>>,
    w_hit: Constant<Bits<16>>,
    w_flags: Constant<Bits<16>>,
    f_syn: Constant<Bits<16>>,
    f_fin: Constant<Bits<16>>,
    f_rst: Constant<Bits<16>>,
    _evaluated: bool,
}

fn off(f: vsnic_contract::Field) -> Constant<Bits<16>> {
    c16(f.start)
}

fn c16(v: usize) -> Constant<Bits<16>> {
    Constant::new((v as u64).into())
}

impl<const T: usize> Default for Activity<T> {
    fn default() -> Self {
        assert!(T <= 16, "table index is at most 16 bits");
        let mut keep = Record::default();
        for b in 0..activity::BITS {
            if !activity::LAST_SEEN.contains(&b) {
                keep = keep.replace_bit(b, true);
            }
        }
        Self {
            clock: Default::default(),
            d_valid: Default::default(),
            d_hit: Default::default(),
            d_index: Default::default(),
            d_flags: Default::default(),
            f_valid: Default::default(),
            f_len: Default::default(),
            now: Default::default(),
            rd_index: Default::default(),
            rd_data: Default::default(),
            wb_valid: Default::default(),
            dec_fifo: Default::default(),
            len_fifo: Default::default(),
            ram: Default::default(),
            shadow: Default::default(),
            a0_valid: Default::default(),
            a0_index: Default::default(),
            a0_len: Default::default(),
            a0_flags: Default::default(),
            a1_valid: Default::default(),
            a1_index: Default::default(),
            a1_len: Default::default(),
            a1_flags: Default::default(),
            a2_valid: Default::default(),
            a2_index: Default::default(),
            a2_len: Default::default(),
            a2_flags: Default::default(),
            a2_old: Default::default(),
            a2_fw1: Default::default(),
            a2_fw2: Default::default(),
            a2_fw3: Default::default(),
            a3_valid: Default::default(),
            a3_index: Default::default(),
            a3_rec: Default::default(),
            a4_valid: Default::default(),
            a4_index: Default::default(),
            a4_rec: Default::default(),
            a5_rec: Default::default(),
            start: Default::default(),
            head: Default::default(),
            old: Default::default(),
            n_packets: Default::default(),
            n_bytes: Default::default(),
            n_syns: Default::default(),
            n_fins: Default::default(),
            n_rsts: Default::default(),
            len40: Default::default(),
            syn8: Default::default(),
            fin8: Default::default(),
            rst8: Default::default(),
            wb_data: Default::default(),
            o_packets: off(activity::PACKETS),
            o_bytes: off(activity::BYTES),
            o_last_seen: off(activity::LAST_SEEN),
            o_syns: off(activity::SYNS),
            o_fins: off(activity::FINS),
            o_rsts: off(activity::RSTS),
            keep_counters: Constant::new(keep),
            w_index: c16(dw::INDEX),
            w_hit: c16(dw::HIT),
            w_flags: c16(dw::FLAGS),
            f_syn: c16(flag::SYN),
            f_fin: c16(flag::FIN),
            f_rst: c16(flag::RST),
            _evaluated: false,
        }
    }
}

impl<const T: usize> Logic for Activity<T> {
    super::settled_update!(self; clocks: dec_fifo.clock, len_fifo.clock, ram.read_clock,
        ram.write_clock, shadow.read_clock, shadow.write_clock, a0_valid.clock, a0_index.clock,
        a0_len.clock, a0_flags.clock, a1_valid.clock, a1_index.clock, a1_len.clock,
        a1_flags.clock, a2_valid.clock, a2_index.clock, a2_len.clock, a2_flags.clock,
        a2_old.clock, a2_fw1.clock, a2_fw2.clock, a2_fw3.clock, a3_valid.clock, a3_index.clock,
        a3_rec.clock, a4_valid.clock, a4_index.clock, a4_rec.clock, a5_rec.clock;
        reads: d_valid, d_hit, d_index, d_flags, f_valid, f_len, now, rd_index,
        dec_fifo.data_out, dec_fifo.empty, len_fifo.data_out, len_fifo.empty, ram.read_data,
        shadow.read_data, a0_valid.q, a0_index.q, a0_len.q, a0_flags.q, a1_valid.q, a1_index.q,
        a1_len.q, a1_flags.q, a2_valid.q, a2_index.q, a2_len.q, a2_flags.q, a2_old.q, a2_fw1.q,
        a2_fw2.q, a2_fw3.q, a3_valid.q, a3_index.q, a3_rec.q, a4_valid.q, a4_index.q, a4_rec.q,
        a5_rec.q, start, head, old, n_packets, n_bytes, n_syns, n_fins, n_rsts, len40, syn8,
        fin8, rst8, wb_data);
}

impl<const T: usize> Activity<T> {
    #[hdl_gen]
    fn logic(&mut self) {
        dff_setup!(
            self, clock, a0_valid, a0_index, a0_len, a0_flags, a1_valid, a1_index, a1_len,
            a1_flags, a2_valid, a2_index, a2_len, a2_flags, a2_old, a2_fw1, a2_fw2, a2_fw3,
            a3_valid, a3_index, a3_rec, a4_valid, a4_index, a4_rec, a5_rec
        );
        self.dec_fifo.clock.next = self.clock.val();
        self.len_fifo.clock.next = self.clock.val();
        self.ram.read_clock.next = self.clock.val();
        self.ram.write_clock.next = self.clock.val();
        self.shadow.read_clock.next = self.clock.val();
        self.shadow.write_clock.next = self.clock.val();

        // ---- pairing: a frame's decision with its length ----
        self.dec_fifo.write.next = self.d_valid.val();
        self.dec_fifo.data_in.next = (bit_cast::<20, 16>(self.d_index.val()) << self.w_index.val())
            | (bit_cast::<20, 1>(self.d_hit.val().into()) << self.w_hit.val())
            | (bit_cast::<20, 3>(self.d_flags.val()) << self.w_flags.val());
        self.len_fifo.write.next = self.f_valid.val();
        self.len_fifo.data_in.next = self.f_len.val();
        self.start.next = !self.dec_fifo.empty.val() & !self.len_fifo.empty.val();
        self.dec_fifo.read.next = self.start.val();
        self.len_fifo.read.next = self.start.val();
        self.head.next = self.dec_fifo.data_out.val();

        // ---- a0: address the RAM ----
        self.a0_valid.d.next = self.start.val() & self.head.val().get_bit(self.w_hit.val().index());
        self.a0_index.d.next = self.head.val().get_bits::<T>(self.w_index.val().index());
        self.a0_flags.d.next = self.head.val().get_bits::<3>(self.w_flags.val().index());
        self.a0_len.d.next = self.len_fifo.data_out.val();
        self.ram.read_address.next = self.a0_index.q.val();

        // ---- a1: the old record, registered; compare with the three updates ahead ----
        self.a1_valid.d.next = self.a0_valid.q.val();
        self.a1_index.d.next = self.a0_index.q.val();
        self.a1_len.d.next = self.a0_len.q.val();
        self.a1_flags.d.next = self.a0_flags.q.val();
        self.a2_old.d.next = self.ram.read_data.val();
        self.a2_fw1.d.next =
            self.a2_valid.q.val() & (self.a2_index.q.val() == self.a1_index.q.val());
        self.a2_fw2.d.next =
            self.a3_valid.q.val() & (self.a3_index.q.val() == self.a1_index.q.val());
        self.a2_fw3.d.next =
            self.a4_valid.q.val() & (self.a4_index.q.val() == self.a1_index.q.val());
        self.a2_valid.d.next = self.a1_valid.q.val();
        self.a2_index.d.next = self.a1_index.q.val();
        self.a2_len.d.next = self.a1_len.q.val();
        self.a2_flags.d.next = self.a1_flags.q.val();

        // ---- a2: the new record (newest forwarded value first) ----
        if self.a2_fw1.q.val() {
            self.old.next = self.a3_rec.q.val();
        } else if self.a2_fw2.q.val() {
            self.old.next = self.a4_rec.q.val();
        } else if self.a2_fw3.q.val() {
            self.old.next = self.a5_rec.q.val();
        } else {
            self.old.next = self.a2_old.q.val();
        }
        self.len40.next = bit_cast::<40, 16>(self.a2_len.q.val());
        self.syn8.next = bit_cast::<8, 1>(
            self.a2_flags
                .q
                .val()
                .get_bits::<1>(self.f_syn.val().index()),
        );
        self.fin8.next = bit_cast::<8, 1>(
            self.a2_flags
                .q
                .val()
                .get_bits::<1>(self.f_fin.val().index()),
        );
        self.rst8.next = bit_cast::<8, 1>(
            self.a2_flags
                .q
                .val()
                .get_bits::<1>(self.f_rst.val().index()),
        );
        self.n_packets.next = self.old.val().get_bits::<32>(self.o_packets.val().index()) + 1;
        self.n_bytes.next =
            self.old.val().get_bits::<40>(self.o_bytes.val().index()) + self.len40.val();
        self.n_syns.next =
            self.old.val().get_bits::<8>(self.o_syns.val().index()) + self.syn8.val();
        self.n_fins.next =
            self.old.val().get_bits::<8>(self.o_fins.val().index()) + self.fin8.val();
        self.n_rsts.next =
            self.old.val().get_bits::<8>(self.o_rsts.val().index()) + self.rst8.val();
        self.a3_rec.d.next = (bit_cast::<{ activity::BITS }, 32>(self.n_packets.val())
            << self.o_packets.val())
            | (bit_cast::<{ activity::BITS }, 40>(self.n_bytes.val()) << self.o_bytes.val())
            | (bit_cast::<{ activity::BITS }, 8>(self.n_syns.val()) << self.o_syns.val())
            | (bit_cast::<{ activity::BITS }, 8>(self.n_fins.val()) << self.o_fins.val())
            | (bit_cast::<{ activity::BITS }, 8>(self.n_rsts.val()) << self.o_rsts.val());
        self.a3_valid.d.next = self.a2_valid.q.val();
        self.a3_index.d.next = self.a2_index.q.val();

        // ---- a3: write back to both copies, stamped with this cycle's time ----
        self.wb_data.next = (self.a3_rec.q.val() & self.keep_counters.val())
            | (bit_cast::<{ activity::BITS }, 32>(self.now.val()) << self.o_last_seen.val());
        self.ram.write_enable.next = self.a3_valid.q.val();
        self.ram.write_address.next = self.a3_index.q.val();
        self.ram.write_data.next = self.wb_data.val();
        self.shadow.write_enable.next = self.a3_valid.q.val();
        self.shadow.write_address.next = self.a3_index.q.val();
        self.shadow.write_data.next = self.wb_data.val();
        self.wb_valid.next = self.a3_valid.q.val();
        // the results of the updates ahead, for forwarding
        self.a4_valid.d.next = self.a3_valid.q.val();
        self.a4_index.d.next = self.a3_index.q.val();
        self.a4_rec.d.next = self.a3_rec.q.val();
        self.a5_rec.d.next = self.a4_rec.q.val();

        // ---- host read (the shadow copy) ----
        self.shadow.read_address.next = self.rd_index.val();
        self.rd_data.next = self.shadow.read_data.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsnic_contract::activity::{Activity as Rec, HitFlags};

    fn rec(b: Record) -> Rec {
        let v = b.to_u128();
        let w = [
            v as u32,
            (v >> 32) as u32,
            (v >> 64) as u32,
            (v >> 96) as u32,
        ];
        Rec::from_words(&w)
    }

    /// The stage alone, driven cycle by cycle: `events[c]` is the decision (and length) given
    /// on cycle `c` (lengths and decisions together, as for frames of one beat).
    struct Bench<const T: usize> {
        s: Activity<T>,
        cycle: u32,
    }

    impl<const T: usize> Bench<T> {
        fn new() -> Self {
            let mut s = Activity::<T>::default();
            s.connect_all();
            Bench { s, cycle: 0 }
        }

        /// One cycle with optionally one frame (hit or not).
        fn step(&mut self, ev: Option<(bool, u32, u16, u8)>) {
            let s = &mut self.s;
            s.d_valid.next = ev.is_some();
            s.f_valid.next = ev.is_some();
            let (hit, index, len, flags) = ev.unwrap_or_default();
            s.d_hit.next = hit;
            s.d_index.next = (index as u64).into();
            s.f_len.next = (len as u64).into();
            s.d_flags.next = (flags as u64).into();
            s.now.next = (1000 + self.cycle as u64).into();
            s.clock.next = false.into();
            assert!(simulate(s, 100));
            s.clock.next = true.into();
            assert!(simulate(s, 100));
            self.cycle += 1;
        }

        fn read(&mut self, index: u32) -> Rec {
            self.s.rd_index.next = (index as u64).into();
            self.step(None);
            rec(self.s.rd_data.val())
        }
    }

    fn flags_of(f: u8) -> HitFlags {
        HitFlags {
            syn: f & 1 != 0,
            fin: f & 2 != 0,
            rst: f & 4 != 0,
        }
    }

    /// Runs `events` one per cycle (None: an idle cycle), then checks every touched bucket
    /// against the contract's `Activity::record` applied in order, `last_seen` included (the
    /// bench's `now` is 1000 + cycle).
    fn run_and_check(events: &[Option<(bool, u32, u16, u8)>]) {
        let mut b = Bench::<4>::new();
        let mut want = [Rec::default(); 16];
        let mut hits = 0;
        for (cycle, ev) in events.iter().enumerate() {
            b.step(*ev);
            if let Some((true, i, len, f)) = ev {
                // written back FIFO_CYCLES + UPDATE_CYCLES cycles after the event's cycle
                let at = 1000 + (cycle + FIFO_CYCLES + UPDATE_CYCLES) as u32;
                want[*i as usize] = want[*i as usize].record(*len as u32, flags_of(*f), at);
                hits += 1;
            }
        }
        for _ in 0..8 {
            b.step(None);
        }
        for i in 0..16 {
            assert_eq!(b.read(i), want[i as usize], "bucket {i}");
        }
        assert!(hits > 0);
    }

    #[test]
    fn back_to_back_hits_on_one_bucket_are_all_counted() {
        // every cycle the same bucket: each update needs the one just before it
        let evs: Vec<_> = (0..40)
            .map(|i| Some((true, 5, 60 + i as u16, (i % 8) as u8)))
            .collect();
        run_and_check(&evs);
    }

    #[test]
    fn alternating_and_spaced_buckets_are_all_counted() {
        // distance 2 and 3 between hits on one bucket (the older forwarding sources), misses
        // in between, and gaps of every length up to 4
        let mut evs = Vec::new();
        for i in 0..30u32 {
            evs.push(Some((true, i % 2, 64, 1)));
        }
        for i in 0..30u32 {
            evs.push(Some((true, 7 + i % 3, 1514, 2)));
        }
        for i in 0..30u32 {
            evs.push(Some((i % 4 != 1, 3, 100, 4)));
            for _ in 0..(i % 5) {
                evs.push(None);
            }
        }
        run_and_check(&evs);
    }

    #[test]
    fn counters_wrap() {
        // 256 SYNs wrap the 8-bit counter back to zero, the 32-bit packet count to 256
        let evs: Vec<_> = (0..256).map(|_| Some((true, 9, 0xFFFF, 1))).collect();
        run_and_check(&evs);
    }

    #[test]
    fn a_decision_waits_for_its_length() {
        // decisions first, lengths later (a frame longer than the header window)
        let mut b = Bench::<4>::new();
        b.s.d_valid.next = true;
        b.s.d_hit.next = true;
        b.s.d_index.next = 2.into();
        b.s.d_flags.next = 0.into();
        b.s.f_valid.next = false;
        b.s.clock.next = false.into();
        assert!(simulate(&mut b.s, 100));
        b.s.clock.next = true.into();
        assert!(simulate(&mut b.s, 100));
        for _ in 0..20 {
            b.step(None);
        }
        assert_eq!(b.read(2), Rec::default(), "no update without its length");
        b.s.f_valid.next = true;
        b.s.f_len.next = 1514.into();
        b.s.d_valid.next = false;
        b.s.clock.next = false.into();
        assert!(simulate(&mut b.s, 100));
        b.s.clock.next = true.into();
        assert!(simulate(&mut b.s, 100));
        for _ in 0..8 {
            b.step(None);
        }
        let r = b.read(2);
        assert_eq!((r.packets, r.bytes), (1, 1514));
    }

    #[test]
    fn verilog_is_the_inference_template() {
        let r = RecordRam::<4>::default();
        let Verilog::Custom(v) = r.hdl() else {
            panic!("custom Verilog expected")
        };
        assert!(v.contains("reg [127:0] mem [0:15];"));
        assert!(v.contains("read_data <= mem[read_address];"));
    }
}
