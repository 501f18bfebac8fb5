//! Pipeline benchmark of the core: initiation interval under worst-case frame mixes, latency
//! from a frame's first beat in to its first beat out, packets per cycle at minimum size, and
//! the simulator's cycles per second, at 64 and 512 bits. Results: `docs/pipeline-bench.md`.
//!
//! ```sh
//! cargo run --release -p vsnic-hw --example pipeline_bench -- [--width 64|512] [--frames N] [--speed-cycles N] [--seed S]
//! ```
//!
//! Each run builds a fresh core (table 2^8 buckets) through [`Harness`], writes a random flow
//! hash key and both entries of [`CONNS`] NAT connections (client→VIP DNAT, real server→client
//! SNAT) through the register bus as the host driver does, then offers one beat on every cycle,
//! with no idle gap, for the whole mix. A sampler reads the core's stream ports after every
//! falling edge (inputs of the cycle applied, outputs settled), so "cycle" below is the clock
//! cycle a beat is on the bus; latency 0 would be a combinational path.
//!
//! The mixes: all 60-byte frames (the minimum without FCS), all 1518, 60/1518 alternating, 65
//! and 129 (one-byte last beats at both widths), random 60..=1518; each as hits only (both
//! directions), exceptions only (miss, SYN, non-IPv4, bad IPv4 checksum in turn) and mixed; and
//! random sizes, mixed, with the host's exception queue ready on half of the cycles (exceptions
//! may be dropped and counted in `EXC_DROP`, fast-path frames never). Then the simulator's speed:
//! random sizes, mixed, at least `--speed-cycles` beats, no sampler (as the simulator runs the
//! core), timed over the cycles the input is busy.
//!
//! Every output is checked while measuring: frame for frame against the reference model
//! ([`Model`]), every forwarded frame's IPv4 and TCP checksums recomputed from scratch, every
//! input beat accounted for on the outputs (a beat the core lost, i.e. refused, shows up here:
//! the core has no `s_ready`), the outputs in input order, and the counter block against the
//! model. Any failure is printed as `PIPELINE ERROR` and the exit status is 1.

use etherparse::PacketBuilder;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rust_hdl::prelude::*;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use vsnic_contract::entry::{Action, Entry, WORDS};
use vsnic_contract::regs::counters as ct;
use vsnic_contract::{hash, stream, FlowKey};
use vsnic_hw::driver::{ExcFrame, Harness};
use vsnic_hw::model::{ones_sum, Model, Verdict};
use vsnic_hw::stage::{decide, HDR_BYTES};

/// Table index bits of the benchmarked cores.
const TABLE_BITS: usize = 8;
/// NAT connections installed (two entries each).
const CONNS: usize = 8;
/// The virtual service.
const VIP: [u8; 4] = [10, 0, 0, 100];
const VPORT: u16 = 80;
const RS_PORT: u16 = 8080;
/// Idle cycles after the last input beat: more than the data FIFO (32 beats) plus the header
/// window and the decision latency.
const DRAIN: u64 = 256;
/// Clocks of the boards at each width, and the line rates they serve.
const CLOCK_64: f64 = 156.25e6;
const CLOCK_512: f64 = 250e6;
/// Minimum-size frames per second on the wire: 64 bytes with FCS + 20 of preamble and IFG.
const LINE_10G_PPS: f64 = 10e9 / (84.0 * 8.0);
const LINE_100G_PPS: f64 = 100e9 / (84.0 * 8.0);

/// One cycle of the core's stream ports.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    cycle: u64,
    s_valid: bool,
    s_last: bool,
    tx_valid: bool,
    tx_last: bool,
    exc_valid: bool,
    exc_last: bool,
}

/// Reads the handshake signals of the core's own ports (depth 1 of the block tree; the
/// sub-blocks have signals of the same names).
#[derive(Default)]
struct PortProbe {
    depth: usize,
    s: Sample,
}

impl Probe for PortProbe {
    fn visit_start_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth += 1;
    }
    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth -= 1;
    }
    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        if self.depth != 1 {
            return;
        }
        let slot = match name {
            "s_valid" => &mut self.s.s_valid,
            "s_last" => &mut self.s.s_last,
            "m_tx_valid" => &mut self.s.tx_valid,
            "m_tx_last" => &mut self.s.tx_last,
            "m_exc_valid" => &mut self.s.exc_valid,
            "m_exc_last" => &mut self.s.exc_last,
            _ => return,
        };
        *slot = signal.verilog().as_usize() == 1;
    }
}

/// The installed connections: the hash key and both directions' keys and entries.
struct Setup {
    hash_key: hash::HashKey,
    /// (client→VIP key, real server→client key)
    conns: Vec<(FlowKey, FlowKey)>,
    entries: Vec<(u32, [u32; WORDS])>,
}

fn setup(rng: &mut StdRng) -> Setup {
    let hash_key: hash::HashKey = rng.gen();
    let bucket = |k: &FlowKey| hash::bucket_keyed(k, TABLE_BITS as u32, &hash_key);
    let mut conns = Vec::new();
    let mut entries: Vec<(u32, [u32; WORDS])> = Vec::new();
    while conns.len() < CONNS {
        let client = [10, 0, rng.gen_range(1..255), rng.gen_range(1..255)];
        let cport = rng.gen_range(1024..65535);
        let rs = [10, 1, 0, 2 + (conns.len() % 4) as u8];
        let fwd = FlowKey {
            saddr: client,
            daddr: VIP,
            sport: cport,
            dport: VPORT,
            proto: 6,
        };
        let rev = FlowKey {
            saddr: rs,
            daddr: client,
            sport: RS_PORT,
            dport: cport,
            proto: 6,
        };
        let (bf, br) = (bucket(&fwd), bucket(&rev));
        if bf == br || entries.iter().any(|(b, _)| *b == bf || *b == br) {
            continue; // the host would chain or refuse; here every entry gets its own bucket
        }
        let n = conns.len() as u8;
        let dnat = Entry {
            key: fwd,
            valid: true,
            action: Action::Dnat,
            egress_port: 1,
            nat_addr: rs,
            nat_port: RS_PORT,
            dmac: [2, 0x10, 0, 0, 0, 2 + n % 4],
            smac: [2, 0x5, 0, 0, 0, 1],
            ..Default::default()
        };
        let snat = Entry {
            key: rev,
            valid: true,
            action: Action::Snat,
            egress_port: 0,
            nat_addr: VIP,
            nat_port: VPORT,
            dmac: [2, 0xc, 0, 0, 0, n],
            smac: [2, 0x5, 0, 0, 0, 0],
            ..Default::default()
        };
        entries.push((bf, dnat.to_words()));
        entries.push((br, snat.to_words()));
        conns.push((fwd, rev));
    }
    Setup {
        hash_key,
        conns,
        entries,
    }
}

/// A TCP/IPv4 frame of exactly `len` bytes (no FCS, as the MAC hands it over).
fn tcp(rng: &mut StdRng, key: &FlowKey, syn: bool, len: usize) -> Vec<u8> {
    assert!(len >= 54, "a TCP frame is at least 54 bytes");
    let b = PacketBuilder::ethernet2([2, 0xa, 0, 0, 0, 1], [2, 0x5, 0, 0, 0, 0])
        .ipv4(key.saddr, key.daddr, 64)
        .tcp(key.sport, key.dport, rng.gen(), 65535);
    let b = if syn { b.syn() } else { b.ack(rng.gen()).psh() };
    let payload: Vec<u8> = (0..len - 54).map(|_| rng.gen()).collect();
    let mut out = Vec::with_capacity(len);
    b.write(&mut out, &payload).expect("frame builds");
    assert_eq!(out.len(), len);
    out
}

#[derive(Debug, Clone, Copy)]
enum Sizes {
    Fixed(usize),
    Alternate(usize, usize),
    /// Sizes that leave a one-byte last beat at both widths (65 = 64 + 1, 129 = 128 + 1).
    OneByteLast,
    Random,
}

impl Sizes {
    fn name(&self) -> String {
        match self {
            Sizes::Fixed(n) => format!("all {n}"),
            Sizes::Alternate(a, b) => format!("{a}/{b} alternating"),
            Sizes::OneByteLast => "65/129 (1-byte last beat)".into(),
            Sizes::Random => "random 60..=1518".into(),
        }
    }
    fn pick(&self, i: usize, rng: &mut StdRng) -> usize {
        match *self {
            Sizes::Fixed(n) => n,
            Sizes::Alternate(a, b) => [a, b][i % 2],
            Sizes::OneByteLast => [65, 129][i % 2],
            Sizes::Random => rng.gen_range(60..=1518),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Paths {
    Hits,
    Exceptions,
    Mixed,
}

/// One frame of a mix and its stream side band.
fn frame(s: &Setup, paths: Paths, size: usize, i: usize, rng: &mut StdRng) -> (Vec<u8>, u8) {
    let hit = match paths {
        Paths::Hits => true,
        Paths::Exceptions => false,
        Paths::Mixed => rng.gen_bool(0.5),
    };
    let (fwd, rev) = s.conns[rng.gen_range(0..s.conns.len())];
    if hit {
        // both directions: client→VIP arrives on port 0, real server→client on port 1
        return if rng.gen_bool(0.5) {
            (tcp(rng, &fwd, false, size), stream::user(0, false, false))
        } else {
            (tcp(rng, &rev, false, size), stream::user(1, false, false))
        };
    }
    let user = stream::user(0, false, false);
    let f = match i % 4 {
        // a table miss: a client port nobody installed
        0 => {
            let mut k = fwd;
            k.sport ^= 0x8000;
            tcp(rng, &k, false, size)
        }
        // a new connection's SYN (a hit on its bucket or not, it is the host's)
        1 => tcp(rng, &fwd, true, size),
        // not IPv4 (ARP ethertype)
        2 => {
            let mut f = tcp(rng, &fwd, false, size);
            f[12..14].copy_from_slice(&[0x08, 0x06]);
            f
        }
        // a bad IPv4 header checksum (TTL changed without fixing it)
        _ => {
            let mut f = tcp(rng, &fwd, false, size);
            f[22] ^= 0x01;
            f
        }
    };
    (f, user)
}

fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// The IPv4 header checksum and the TCP checksum of `f`, recomputed from scratch.
fn checksums_ok(f: &[u8]) -> bool {
    if f.len() < 54 || be16(f, 12) != 0x0800 || f[14] != 0x45 || f[23] != 6 {
        return false;
    }
    let ip_len = be16(f, 16) as usize;
    if 14 + ip_len > f.len() || ip_len < 40 {
        return false;
    }
    let segment = &f[34..14 + ip_len];
    let mut sum = Vec::with_capacity(12 + segment.len());
    sum.extend_from_slice(&f[26..34]);
    sum.extend_from_slice(&[0, 6]);
    sum.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    sum.extend_from_slice(segment);
    ones_sum(&f[14..34]) == 0xffff && ones_sum(&sum) == 0xffff
}

/// What one run measured.
#[derive(Default)]
struct Run {
    name: String,
    frames: usize,
    in_beats: u64,
    /// Cycles from the first input beat to the last, inclusive.
    in_span: u64,
    out_beats: u64,
    /// Cycles from the first output beat to the last, inclusive.
    out_span: u64,
    out_frames: u64,
    tx: usize,
    exc: usize,
    dropped: usize,
    exc_drop_counter: u32,
    lat_fast: Vec<u64>,
    lat_exc: Vec<u64>,
    /// Busy cycles (input valid) and their wall time.
    busy_cycles: u64,
    busy_secs: f64,
    errors: Vec<String>,
}

fn stats(v: &[u64]) -> String {
    if v.is_empty() {
        return "–".into();
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    format!("{} / {} / {}", s[0], s[s.len() / 2], s[s.len() - 1])
}

impl Run {
    fn row(&self) -> String {
        let r = |a: u64, b: u64| {
            if b == 0 {
                "–".to_string()
            } else {
                format!("{:.3}", a as f64 / b as f64)
            }
        };
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} | {} |",
            self.name,
            self.frames,
            self.in_beats,
            r(self.in_beats, self.in_span),
            r(self.out_beats, self.out_span),
            r(self.out_frames, self.out_span),
            stats(&self.lat_fast),
            stats(&self.lat_exc),
            self.tx,
            self.exc,
            self.dropped,
            self.exc_drop_counter,
            if self.errors.is_empty() {
                "ok".to_string()
            } else {
                format!("**{} errors**", self.errors.len())
            }
        )
    }
}

/// Drive `frames` back to back through a fresh core; `backpressure`: the host's exception
/// queue is ready on a random half of the cycles (else always); `sample`: record the ports for
/// the timing figures (off for the speed run).
fn run<const W: usize>(
    name: String,
    s: &Setup,
    frames: &[(Vec<u8>, u8)],
    backpressure: bool,
    sample: bool,
    rng: &mut StdRng,
) -> Run {
    let mut out = Run {
        name,
        frames: frames.len(),
        ..Default::default()
    };
    let mut h = Harness::<W, TABLE_BITS>::new();
    let mut m = Model::new(TABLE_BITS as u32);
    h.set_hash_key(&s.hash_key);
    m.hash_key = s.hash_key;
    for (b, w) in &s.entries {
        h.write_entry(*b, w);
        m.write_entry(*b, *w);
    }
    for _ in 0..4 {
        h.step(false);
    }
    // the model with the exception queue always ready; drops under backpressure are found below
    let want: Vec<Verdict> = frames.iter().map(|(f, u)| m.process(f, *u, true)).collect();
    for (f, u) in frames {
        h.push_frame(f, *u);
    }
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    if sample {
        let rec = samples.clone();
        h.set_sampler(Some(Box::new(move |cycle, half, core| {
            if !half {
                return;
            }
            let mut p = PortProbe::default();
            core.accept("top", &mut p);
            let x = &p.s;
            if x.s_valid || x.tx_valid || x.exc_valid {
                let mut x = p.s;
                x.cycle = cycle;
                rec.lock().expect("sampler lock").push(x);
            }
        })));
    }
    let t = Instant::now();
    let c0 = h.cycle;
    while h.input_pending() > 0 {
        if backpressure {
            h.exc_ready = rng.gen_bool(0.5);
        }
        h.step(true);
    }
    out.busy_cycles = h.cycle - c0;
    out.busy_secs = t.elapsed().as_secs_f64();
    for _ in 0..DRAIN {
        if backpressure {
            h.exc_ready = rng.gen_bool(0.5);
        }
        h.step(false);
    }
    h.set_sampler(None);
    let err = |out: &mut Run, e: String| {
        eprintln!("PIPELINE ERROR [{} @ {W} bit]: {e}", out.name);
        out.errors.push(e);
    };

    // Frame contents, per stream, against the model.
    let beats = |f: &[u8]| f.len().div_ceil(W / 8) as u64;
    let got_tx: Vec<(u8, Vec<u8>)> = h.tx.drain(..).collect();
    let mut got_exc: VecDeque<ExcFrame> = h.exc.drain(..).collect();
    let mut tx_idx = Vec::new(); // input index of each forwarded frame, in output order
    let mut exc_idx = Vec::new(); // input index of each delivered exception
    let mut dropped_beats = 0;
    let mut txi = 0;
    for (i, w) in want.iter().enumerate() {
        match w {
            Verdict::Tx { port, frame } => {
                match got_tx.get(txi) {
                    Some((p, f)) if p == port && f == frame => {
                        if !checksums_ok(f) {
                            err(&mut out, format!("frame {i}: forwarded with a bad checksum"));
                        }
                    }
                    Some((p, f)) => err(
                        &mut out,
                        format!(
                            "frame {i}: forwarded to port {p} as {:02x?}…, model: port {port} {:02x?}…",
                            &f[..f.len().min(54)],
                            &frame[..frame.len().min(54)]
                        ),
                    ),
                    None => err(&mut out, format!("frame {i}: forwarded frame missing")),
                }
                txi += 1;
                tx_idx.push(i);
            }
            Verdict::Exception { frame, meta } => {
                let want = ExcFrame {
                    frame: frame.clone(),
                    meta: *meta,
                };
                if got_exc.front() == Some(&want) {
                    got_exc.pop_front();
                    exc_idx.push(i);
                } else if backpressure {
                    out.dropped += 1;
                    dropped_beats += beats(frame);
                } else {
                    err(
                        &mut out,
                        format!("frame {i}: exception {meta:?} missing or different"),
                    );
                }
            }
            Verdict::Dropped => unreachable!("the model's exception queue is always ready"),
        }
    }
    if got_tx.len() != txi {
        let e = format!("{} forwarded frames, model {txi}", got_tx.len());
        err(&mut out, e);
    }
    if !got_exc.is_empty() {
        let e = format!("{} exceptions the model does not have", got_exc.len());
        err(&mut out, e);
    }
    out.tx = got_tx.len();
    out.exc = exc_idx.len();

    // Counters against the model (under backpressure: delivered + dropped = the model's).
    let c = &m.counters;
    let rd = |h: &mut Harness<W, TABLE_BITS>, r: u32| h.csr_read(ct::BASE + r);
    let (rx, tx, fast, exc, drop) = (
        rd(&mut h, ct::RX_FRAMES),
        rd(&mut h, ct::TX_FRAMES),
        rd(&mut h, ct::FASTPATH),
        rd(&mut h, ct::EXC_FRAMES),
        rd(&mut h, ct::EXC_DROP),
    );
    out.exc_drop_counter = drop;
    if (rx, tx, fast) != (c.rx_frames, c.tx_frames, c.fastpath) {
        let e = format!(
            "counters rx/tx/fastpath {rx}/{tx}/{fast}, model {}/{}/{}",
            c.rx_frames, c.tx_frames, c.fastpath
        );
        err(&mut out, e);
    }
    if exc as usize != out.exc || drop as usize != out.dropped || exc + drop != c.exc_frames {
        let e = format!(
            "counters exc/drop {exc}/{drop}, seen {}/{}, model exceptions {}",
            out.exc, out.dropped, c.exc_frames
        );
        err(&mut out, e);
    }
    if !sample {
        return out;
    }

    // Timing from the sampled ports.
    let samples = samples.lock().expect("sampler lock");
    let mut in_starts = Vec::new();
    let (mut first_in, mut last_in) = (None, 0);
    let mut prev_last = true;
    for x in samples.iter().filter(|x| x.s_valid) {
        out.in_beats += 1;
        if prev_last {
            in_starts.push(x.cycle);
        }
        prev_last = x.s_last;
        first_in.get_or_insert(x.cycle);
        last_in = x.cycle;
    }
    out.in_span = first_in.map_or(0, |f| last_in - f + 1);
    // output frames in order: (exception?, first cycle, beats)
    let mut outs: Vec<(bool, u64, u64)> = Vec::new();
    let mut cur: Option<(bool, u64, u64)> = None;
    let (mut first_out, mut last_out) = (None, 0);
    for x in samples.iter() {
        if x.tx_valid && x.exc_valid {
            let e = format!("cycle {}: tx and exception streams both valid", x.cycle);
            err(&mut out, e);
        }
        if !(x.tx_valid || x.exc_valid) {
            continue;
        }
        let exc = x.exc_valid && !x.tx_valid;
        let last = if exc { x.exc_last } else { x.tx_last };
        out.out_beats += 1;
        first_out.get_or_insert(x.cycle);
        last_out = x.cycle;
        let f = cur.get_or_insert((exc, x.cycle, 0));
        if f.0 != exc {
            let e = format!("cycle {}: a frame changed streams mid-frame", x.cycle);
            err(&mut out, e);
        }
        f.2 += 1;
        if last {
            outs.push(cur.take().expect("frame in progress"));
        }
    }
    out.out_span = first_out.map_or(0, |f| last_out - f + 1);
    out.out_frames = outs.len() as u64;
    if in_starts.len() != frames.len() {
        let e = format!(
            "{} frames entered, {} offered",
            in_starts.len(),
            frames.len()
        );
        err(&mut out, e);
    }
    if out.in_span != out.in_beats {
        let e = format!(
            "input idle: {} beats over {} cycles",
            out.in_beats, out.in_span
        );
        err(&mut out, e);
    }
    let offered: u64 = frames.iter().map(|(f, _)| beats(f)).sum();
    if out.in_beats != offered || out.out_beats + dropped_beats != offered {
        let e = format!(
            "beats: offered {offered}, entered {}, out {} + dropped {dropped_beats}: the core lost beats",
            out.in_beats, out.out_beats
        );
        err(&mut out, e);
    }
    // match output frames to input frames: forwarded and exceptions in input order
    let (mut ti, mut ei, mut prev) = (0, 0, None);
    for &(exc, first, n) in &outs {
        let idx = if exc {
            ei += 1;
            exc_idx.get(ei - 1)
        } else {
            ti += 1;
            tx_idx.get(ti - 1)
        };
        let Some(&i) = idx else {
            err(&mut out, "more output frames than frames".to_string());
            break;
        };
        if prev.is_some_and(|p| p >= i) {
            err(&mut out, format!("frame {i} left out of order"));
        }
        prev = Some(i);
        if n != beats(&frames[i].0) {
            let e = format!("frame {i}: {n} beats out, {} in", beats(&frames[i].0));
            err(&mut out, e);
        }
        let Some(&start) = in_starts.get(i) else {
            continue;
        };
        if exc {
            out.lat_exc.push(first - start);
        } else {
            out.lat_fast.push(first - start);
        }
    }
    out
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// All runs at width `W`; returns whether every check passed.
fn width<const W: usize>(n: usize, speed_cycles: u64, seed: u64) -> bool {
    let mut rng = StdRng::seed_from_u64(seed ^ W as u64);
    let s = setup(&mut rng);
    let window = HDR_BYTES.div_ceil(W / 8);
    println!(
        "\n## {W} bit: table 2^{TABLE_BITS}, {} entries ({CONNS} NAT connections, both directions), {n} frames per mix, seed {seed}",
        s.entries.len()
    );
    println!(
        "header window {window} beats, decide::LATENCY {}; load average before: {}\n",
        decide::LATENCY,
        load()
    );
    println!("| sizes, paths | frames | beats in | in beats/cycle (II) | out beats/cycle | frames out/cycle | fast-path latency min/med/max | exception latency min/med/max | tx / exc / dropped | EXC_DROP | checks |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let sizes = [
        Sizes::Fixed(60),
        Sizes::Fixed(1518),
        Sizes::Alternate(60, 1518),
        Sizes::OneByteLast,
        Sizes::Random,
    ];
    let mut ok = true;
    let mut min_hits_fpc = 0.0;
    let mut mix = |sz: Sizes, paths: Paths, backpressure: bool, rng: &mut StdRng| {
        let frames: Vec<_> = (0..n)
            .map(|i| {
                let size = sz.pick(i, rng);
                frame(&s, paths, size, i, rng)
            })
            .collect();
        let name = format!(
            "{}, {}{}",
            sz.name(),
            match paths {
                Paths::Hits => "hits",
                Paths::Exceptions => "exceptions",
                Paths::Mixed => "mixed",
            },
            if backpressure {
                " (host ready 50 %)"
            } else {
                ""
            }
        );
        let r = run::<W>(name, &s, &frames, backpressure, true, rng);
        println!("{}", r.row());
        ok &= r.errors.is_empty();
        r
    };
    for sz in sizes {
        for paths in [Paths::Hits, Paths::Exceptions, Paths::Mixed] {
            let r = mix(sz, paths, false, &mut rng);
            if matches!(sz, Sizes::Fixed(60)) && paths == Paths::Hits {
                min_hits_fpc = r.out_frames as f64 / r.out_span.max(1) as f64;
            }
        }
    }
    mix(Sizes::Random, Paths::Mixed, true, &mut rng);
    let (clock, line, rate) = if W == 64 {
        (CLOCK_64, LINE_10G_PPS, "10G")
    } else {
        (CLOCK_512, LINE_100G_PPS, "100G")
    };
    println!(
        "\nminimum size (60 B, hits, back to back): {min_hits_fpc:.4} frames/cycle = {:.2} Mpps at {:.2} MHz; {rate} line rate {:.2} Mpps",
        min_hits_fpc * clock / 1e6,
        clock / 1e6,
        line / 1e6
    );

    // Simulator speed: the same kind of traffic with no sampler, as the simulator runs the core.
    let mut frames = Vec::new();
    let mut beats = 0;
    while beats < speed_cycles {
        let size = Sizes::Random.pick(frames.len(), &mut rng);
        let f = frame(&s, Paths::Mixed, size, frames.len(), &mut rng);
        beats += f.0.len().div_ceil(W / 8) as u64;
        frames.push(f);
    }
    let before = load();
    let r = run::<W>("speed".into(), &s, &frames, false, false, &mut rng);
    ok &= r.errors.is_empty();
    println!(
        "simulator: {} busy cycles in {:.2} s = {:.0} cycles/s ({:.0} frames/s; random 60..=1518, mixed; checks {}); load average before {before}, after {}",
        r.busy_cycles,
        r.busy_secs,
        r.busy_cycles as f64 / r.busy_secs,
        r.frames as f64 / r.busy_secs,
        if r.errors.is_empty() { "ok" } else { "FAILED" },
        load()
    );
    ok
}

fn main() {
    let mut widths = vec![64, 512];
    let mut n = 200;
    let mut seed = 1;
    let mut speed_cycles = 30_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().expect("option needs a value");
        match a.as_str() {
            "--width" => widths = vec![val().parse().expect("width")],
            "--frames" => n = val().parse().expect("frames"),
            "--seed" => seed = val().parse().expect("seed"),
            "--speed-cycles" => speed_cycles = val().parse().expect("cycles"),
            _ => {
                eprintln!("usage: pipeline_bench [--width 64|512] [--frames N] [--speed-cycles N] [--seed S]");
                std::process::exit(2);
            }
        }
    }
    let mut ok = true;
    for w in widths {
        ok &= match w {
            64 => width::<64>(n, speed_cycles, seed),
            512 => width::<512>(n, speed_cycles, seed),
            _ => {
                eprintln!("width 64 or 512");
                std::process::exit(2);
            }
        };
    }
    if !ok {
        eprintln!("PIPELINE ERROR: see above");
        std::process::exit(1);
    }
}
