//! A cycle driver for the core: steps the RustHDL circuit directly (no testbench threads),
//! feeds it frames as beats, collects its output frames, and runs CSR reads and writes on its
//! register bus. The circuit's tests and the simulator both drive the core through this.

use crate::core::{new_core, Core};
use crate::model::ExcMeta;
use rust_hdl::prelude::*;
use std::collections::VecDeque;
use vsnic_contract::activity::{self, Activity};
use vsnic_contract::exception::meta;
use vsnic_contract::regs::table;
use vsnic_contract::{get_bits, Reason};

/// One input beat.
#[derive(Debug, Clone)]
struct Beat {
    data: Vec<u8>,
    last: bool,
    user: u8,
}

/// A register bus operation for one cycle.
#[derive(Debug, Clone, Copy)]
enum CsrOp {
    Write(u32, u32),
    Read(u32),
}

/// An exception frame as the core emitted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcFrame {
    pub frame: Vec<u8>,
    pub meta: ExcMeta,
}

/// Decode the core's exception metadata word.
pub fn decode_meta(m: u64) -> ExcMeta {
    let w = [m as u32, (m >> 32) as u32];
    ExcMeta {
        reason: Reason::from_code(get_bits(&w, meta::REASON) as u8).unwrap_or(Reason::None),
        src_port: get_bits(&w, meta::SRC_PORT) as u8,
        hit: get_bits(&w, meta::HIT) == 1,
        index: get_bits(&w, meta::ENTRY_INDEX) as u32,
        len: get_bits(&w, meta::LEN) as u16,
    }
}

fn to_bits<const W: usize>(bytes: &[u8]) -> Bits<W> {
    let mut b = Bits::<W>::default();
    for (i, chunk) in bytes.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        let v: Bits<64> = u64::from_le_bytes(w).into();
        b = b | (bit_cast::<W, 64>(v) << (64 * i) as u64);
    }
    b
}

fn from_bits<const W: usize>(b: Bits<W>, n: usize, out: &mut Vec<u8>) {
    for i in 0..W / 64 {
        let v = b.get_bits::<64>(64 * i).to_u64().to_le_bytes();
        let take = n.saturating_sub(8 * i).min(8);
        out.extend_from_slice(&v[..take]);
    }
}

/// Drives a `Core<W, T>` cycle by cycle.
pub struct Harness<const W: usize, const T: usize> {
    core: Box<Core<W, T>>,
    /// Cycles stepped so far.
    pub cycle: u64,
    input: VecDeque<Beat>,
    csr: VecDeque<CsrOp>,
    tx_cur: Vec<u8>,
    exc_cur: Vec<u8>,
    /// Frames the core sent to network ports, as (port, bytes).
    pub tx: VecDeque<(u8, Vec<u8>)>,
    /// Frames the core sent to the exception stream.
    pub exc: VecDeque<ExcFrame>,
    /// Value of `m_exc_ready` (the queue engine's "room for a whole frame").
    pub exc_ready: bool,
    /// Results of CSR reads, in order.
    pub reads: VecDeque<u32>,
    read_pending: bool,
    /// Number of cycles the input was busy (for utilisation figures).
    pub busy_cycles: u64,
    sampler: Option<Sampler>,
    /// Value of the core's `now` input (NIC time), from the next cycle on.
    now: u32,
    /// Activity records written so far.
    pub act_writes: u64,
    /// Activity records written before the shadow copy was sampled by the last `CMD_READ`
    /// (what `ACT0..3` then reflect).
    pub act_read_mark: u64,
    /// The `now` of each activity write since the last [`Harness::take_act_stamps`] (for a
    /// reference model that applies the updates in the core's order and time), when
    /// [`Harness::log_activity`] is on.
    act_stamps: Option<VecDeque<u32>>,
}

/// Called after each clock edge has settled with the circuit (a waveform writer):
/// `(time_in_cycles, half, core)` where time is `cycle + 0.5` after the falling edge
/// (`half` true) and `cycle + 1` after the rising edge (`half` false), so times only grow.
pub type Sampler = Box<dyn FnMut(u64, bool, &dyn Block) + Send>;

impl<const W: usize, const T: usize> Default for Harness<W, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const W: usize, const T: usize> Harness<W, T> {
    pub fn new() -> Self {
        Self::with_core(new_core::<W, T>())
    }

    /// A harness around a core whose table has `2^ways_log2` ways.
    pub fn with_ways(ways_log2: usize) -> Self {
        Self::with_core(crate::core::new_core_ways::<W, T>(ways_log2))
    }

    fn with_core(core: Core<W, T>) -> Self {
        Harness {
            core: Box::new(core),
            cycle: 0,
            input: VecDeque::new(),
            csr: VecDeque::new(),
            tx_cur: Vec::new(),
            exc_cur: Vec::new(),
            tx: VecDeque::new(),
            exc: VecDeque::new(),
            exc_ready: true,
            reads: VecDeque::new(),
            read_pending: false,
            busy_cycles: 0,
            sampler: None,
            now: 0,
            act_writes: 0,
            act_read_mark: 0,
            act_stamps: None,
        }
    }

    /// Queue a frame (≥ 1 byte) for input right after the ones already queued.
    pub fn push_frame(&mut self, frame: &[u8], user: u8) {
        assert!(!frame.is_empty(), "empty frame");
        let n = W / 8;
        let chunks = frame.chunks(n).count();
        for (i, c) in frame.chunks(n).enumerate() {
            self.input.push_back(Beat {
                data: c.to_vec(),
                last: i + 1 == chunks,
                user,
            });
        }
    }

    /// Beats not yet accepted by the core.
    pub fn input_pending(&self) -> usize {
        self.input.len()
    }

    /// Queue a register write (performed on a later cycle, in order with other CSR operations).
    pub fn queue_write(&mut self, addr: u32, val: u32) {
        self.csr.push_back(CsrOp::Write(addr, val));
    }

    /// Queue a register read; its value appears in `reads`.
    pub fn queue_read(&mut self, addr: u32) {
        self.csr.push_back(CsrOp::Read(addr));
    }

    /// Write a register now (steps one cycle; traffic keeps flowing).
    pub fn csr_write(&mut self, addr: u32, val: u32) {
        self.queue_write(addr, val);
        while !self.csr.is_empty() {
            self.step(true);
        }
    }

    /// Read a register now (steps two cycles; traffic keeps flowing).
    pub fn csr_read(&mut self, addr: u32) -> u32 {
        self.queue_read(addr);
        while self.reads.is_empty() {
            self.step(true);
        }
        self.reads.pop_front().expect("read completed")
    }

    /// Write the flow hash key (`HASH_KEY0..3`) through the register bus.
    pub fn set_hash_key(&mut self, key: &vsnic_contract::hash::HashKey) {
        for (i, w) in key.iter().enumerate() {
            self.queue_write(table::BASE + table::HASH_KEY0 + 4 * i as u32, *w);
        }
        while !self.csr.is_empty() {
            self.step(true);
        }
    }

    /// Write a whole table entry through the staging registers.
    pub fn write_entry(&mut self, index: u32, words: &[u32; vsnic_contract::entry::WORDS]) {
        for (i, w) in words.iter().enumerate() {
            self.queue_write(table::BASE + table::DATA0 + 4 * i as u32, *w);
        }
        self.queue_write(table::BASE + table::CMD, table::CMD_WRITE | index);
        while !self.csr.is_empty() {
            self.step(true);
        }
    }

    /// Read a whole table entry back: the read command, then every staging word on the
    /// following cycles (back to back, as fast as the bus allows; traffic keeps flowing).
    pub fn read_entry(&mut self, index: u32) -> [u32; vsnic_contract::entry::WORDS] {
        self.queue_write(table::BASE + table::CMD, table::CMD_READ | index);
        for i in 0..vsnic_contract::entry::WORDS {
            self.queue_read(table::BASE + table::DATA0 + 4 * i as u32);
        }
        while self.reads.len() < vsnic_contract::entry::WORDS {
            self.step(true);
        }
        let mut words = [0; vsnic_contract::entry::WORDS];
        for w in words.iter_mut() {
            *w = self.reads.pop_front().expect("read completed");
        }
        words
    }

    /// Drive the core's `now` input (NIC time, units of 2^`activity::TICK_NS_LOG2` ns) with
    /// `now` from the next cycle on.
    pub fn set_now(&mut self, now: u32) {
        self.now = now;
    }

    /// The value driven on `now`.
    pub fn now(&self) -> u32 {
        self.now
    }

    /// Record the `now` of every activity write from here on (off: stop and forget them).
    pub fn log_activity(&mut self, on: bool) {
        self.act_stamps = on.then(VecDeque::new);
    }

    /// The `now` stamps of the activity writes since the last call, in write order.
    pub fn take_act_stamps(&mut self) -> Vec<u32> {
        self.act_stamps
            .as_mut()
            .map(|q| q.drain(..).collect())
            .unwrap_or_default()
    }

    /// Read a bucket back: the read command, then the entry's staging words and the activity
    /// words on the following cycles (traffic keeps flowing). `act_read_mark` tells how many
    /// activity writes the record reflects.
    pub fn read_bucket(&mut self, index: u32) -> ([u32; vsnic_contract::entry::WORDS], Activity) {
        use vsnic_contract::entry::WORDS;
        self.queue_write(table::BASE + table::CMD, table::CMD_READ | index);
        for i in 0..WORDS {
            self.queue_read(table::BASE + table::DATA0 + 4 * i as u32);
        }
        for i in 0..activity::WORDS {
            self.queue_read(table::BASE + table::ACT0 + 4 * i as u32);
        }
        while self.reads.len() < WORDS + activity::WORDS {
            self.step(true);
        }
        let mut words = [0; WORDS];
        for w in words.iter_mut() {
            *w = self.reads.pop_front().expect("read completed");
        }
        let mut act = [0; activity::WORDS];
        for w in act.iter_mut() {
            *w = self.reads.pop_front().expect("read completed");
        }
        (words, Activity::from_words(&act))
    }

    /// Whether the core may still hold frames (input queued or output in progress).
    pub fn busy(&self) -> bool {
        !self.input.is_empty() || !self.csr.is_empty() || self.read_pending
    }

    /// Step until the input is drained and no frame has been in flight for `quiet` cycles.
    pub fn run_until_idle(&mut self, max_cycles: u64) {
        let quiet = 24
            + crate::stage::decide::LATENCY as u64
            + 2 * (crate::stage::HDR_BITS + crate::stage::OPT_BITS).div_ceil(W) as u64;
        let mut idle = 0;
        let start = self.cycle;
        while self.cycle - start < max_cycles {
            let out_before = self.tx.len() + self.exc.len();
            let mid_frame = !self.tx_cur.is_empty() || !self.exc_cur.is_empty();
            self.step(true);
            let moved = self.tx.len() + self.exc.len() != out_before;
            if self.busy()
                || mid_frame
                || moved
                || !self.tx_cur.is_empty()
                || !self.exc_cur.is_empty()
            {
                idle = 0;
            } else {
                idle += 1;
                if idle >= quiet {
                    return;
                }
            }
        }
    }

    /// Observe the circuit after every clock edge (none: stop). Costs nothing when unset.
    pub fn set_sampler(&mut self, sampler: Option<Sampler>) {
        self.sampler = sampler;
    }

    /// One clock cycle. With `feed` false the input stays idle this cycle (an idle gap).
    pub fn step(&mut self, feed: bool) {
        let c = &mut self.core;
        // Inputs for this cycle.
        let beat = if feed { self.input.pop_front() } else { None };
        match &beat {
            Some(b) => {
                c.s_valid.next = true;
                c.s_data.next = to_bits::<W>(&b.data);
                c.s_last.next = b.last;
                c.s_bytes.next = (b.data.len() as u64).into();
                c.s_user.next = (b.user as u64).into();
                self.busy_cycles += 1;
            }
            None => {
                c.s_valid.next = false;
                c.s_last.next = false;
            }
        }
        c.m_exc_ready.next = self.exc_ready;
        c.now.next = (self.now as u64).into();
        c.csr_write.next = false;
        c.csr_read.next = false;
        let was_pending = self.read_pending;
        self.read_pending = false;
        match self.csr.pop_front() {
            Some(CsrOp::Write(a, v)) => {
                if a == table::BASE + table::CMD
                    && v & table::CMD_WRITE == 0
                    && v & table::CMD_READ != 0
                {
                    // the shadow copy is sampled at this cycle's edge, before its write
                    self.act_read_mark = self.act_writes;
                }
                c.csr_addr.next = (a as u64).into();
                c.csr_wdata.next = (v as u64).into();
                c.csr_write.next = true;
            }
            Some(CsrOp::Read(a)) => {
                c.csr_addr.next = (a as u64).into();
                c.csr_read.next = true;
                self.read_pending = true;
            }
            None => {}
        }
        c.clock.next = false.into();
        assert!(simulate(&mut **c, 200), "core did not settle");
        if let Some(f) = self.sampler.as_mut() {
            f(self.cycle, true, &**c);
        }
        // Outputs of this cycle.
        if c.act.wb_valid.val() {
            // an activity record is written at this cycle's edge, stamped with this `now`
            self.act_writes += 1;
            if let Some(q) = self.act_stamps.as_mut() {
                q.push_back(self.now);
            }
        }
        if was_pending {
            self.reads.push_back(c.csr_rdata.val().to_u32());
        }
        if c.m_tx_valid.val() {
            let n = c.m_tx_bytes.val().index();
            from_bits::<W>(c.m_tx_data.val(), n, &mut self.tx_cur);
            if c.m_tx_last.val() {
                let port = c.m_tx_port.val().index() as u8;
                self.tx.push_back((port, std::mem::take(&mut self.tx_cur)));
            }
        }
        if c.m_exc_valid.val() {
            let n = c.m_exc_bytes.val().index();
            from_bits::<W>(c.m_exc_data.val(), n, &mut self.exc_cur);
            if c.m_exc_last.val() {
                let meta = decode_meta(c.m_exc_meta.val().to_u64());
                let frame = std::mem::take(&mut self.exc_cur);
                self.exc.push_back(ExcFrame { frame, meta });
            }
        }
        c.clock.next = true.into();
        assert!(simulate(&mut **c, 200), "core did not settle");
        self.cycle += 1;
        if let Some(f) = self.sampler.as_mut() {
            f(self.cycle, false, &**c);
        }
    }
}
