//! A fixed vector set through the core, for simulation speed and for the Verilator
//! co-simulation.
//!
//! The vector set is deterministic: 64 connection-table entries written through the register
//! bus, then `N` frames back to back (hits on DNAT and SNAT entries of every size, misses, SYNs,
//! non-IPv4), then idle cycles until everything is out. The core is stepped exactly as the
//! simulator steps it ([`crate::nic::new_core`]). [`run`] reports cycles, wall time, cycles/s and
//! a digest of every frame the core emitted (port + bytes, and exception frames). With a vectors
//! path the per-cycle inputs are written in the binary format that `sim/bench/tb.cpp` (the
//! Verilator testbench, built by `sim/bench/build-tb.sh`) reads, so both simulators run the same
//! cycles and must print the same digest (`sim/bench/verilator.sh`, `tests/tests/verilator_cosim.rs`).
//!
//! The frames end with a burst of back-to-back one-beat frames (at 512 bits) on one to three
//! flows, so the activity updates need their read-after-write forwarding.
//! Register reads are part of the set: activity records (`CMD_READ`, `ACT0..3`) and `NOW` read
//! back while the frames stream and at the end, with `now` driven by a value that changes; their
//! values go into the digest, so an activity path that differed between the simulators shows.
//!
//! Vector file: `b"VSNA"`, u32 width, u32 cycles, u32 0; then per cycle `flags` (bit 0 s_valid,
//! bit 1 s_last, bit 2 csr_write, bit 3 csr_read), `s_bytes`, `s_user`, 0, u32 csr_addr,
//! u32 csr_wdata, u32 now, and `width / 8` data bytes (lane order). All little-endian.

use std::fmt;
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use vsnic_contract::activity;
use vsnic_contract::entry::{self, Action, Entry};
use vsnic_contract::regs::table;
use vsnic_contract::{hash, stream, FlowKey};

/// The table size of the vector set (and of the Verilog it is compared with).
pub const TABLE_BITS: usize = 12;
/// Idle cycles after the last input beat (the pipeline's depth is far less).
const DRAIN: u64 = 512;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn csum(data: &[u8], init: u32) -> u16 {
    let mut s = init
        + data
            .chunks(2)
            .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
            .sum::<u32>();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn tcp_frame(key: &FlowKey, flags: u8, payload: usize, rng: &mut Rng) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0];
    ip[2..4].copy_from_slice(&((40 + payload) as u16).to_be_bytes());
    ip.extend_from_slice(&key.saddr);
    ip.extend_from_slice(&key.daddr);
    let c = csum(&ip, 0);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut tcp = Vec::with_capacity(20 + payload);
    tcp.extend_from_slice(&key.sport.to_be_bytes());
    tcp.extend_from_slice(&key.dport.to_be_bytes());
    tcp.extend_from_slice(&(rng.next() as u32).to_be_bytes());
    tcp.extend_from_slice(&(rng.next() as u32).to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend((0..payload).map(|_| rng.next() as u8));
    let mut pseudo = key.saddr.to_vec();
    pseudo.extend_from_slice(&key.daddr);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    let init = pseudo
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .sum();
    let c = csum(&tcp, init);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

/// One cycle's register bus operation.
#[derive(Clone, Copy)]
enum Op {
    Write(u32, u32),
    Read(u32),
}
/// Register writes (address, value).
type Writes = Vec<(u32, u32)>;
/// Frames with their stream side band.
type Frames = Vec<(Vec<u8>, u8)>;

/// The register writes and frames of the vector set.
fn vector_set(frames: usize) -> (Writes, Frames, Vec<u32>) {
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let mut flows: Vec<FlowKey> = Vec::new();
    let mut writes = Vec::new();
    // a non-default flow hash key first, as the host driver programs one at start
    let hkey: hash::HashKey = [0x2545_f491, 0x4f6c_dd1d, 0x1b87_3593, 0xcc9e_2d51];
    for (i, w) in hkey.iter().enumerate() {
        writes.push((table::BASE + table::HASH_KEY0 + 4 * i as u32, *w));
    }
    let bucket = |k: &FlowKey| hash::bucket_keyed(k, TABLE_BITS as u32, &hkey);
    while flows.len() < 64 {
        let key = FlowKey {
            saddr: [10, 0, rng.below(256) as u8, rng.below(256) as u8],
            daddr: [10, 1, rng.below(256) as u8, rng.below(256) as u8],
            sport: rng.below(65536) as u16,
            dport: 80,
            proto: 6,
        };
        let b = bucket(&key);
        if flows.iter().any(|k| bucket(k) == b) {
            continue;
        }
        let e = Entry {
            key,
            valid: true,
            action: if flows.len().is_multiple_of(2) {
                Action::Dnat
            } else {
                Action::Snat
            },
            egress_port: (flows.len() % 2) as u8,
            nat_addr: [10, 9, 0, flows.len() as u8],
            nat_port: 8080,
            dmac: [2, 0xd, 0, 0, 0, flows.len() as u8],
            smac: [2, 0x5, 0, 0, 0, 1],
            ..Default::default()
        };
        for (i, w) in e.to_words().iter().enumerate() {
            writes.push((table::BASE + table::DATA0 + 4 * i as u32, *w));
        }
        writes.push((table::BASE + table::CMD, table::CMD_WRITE | b));
        flows.push(key);
    }
    // The host's read port: the last 16 flows' entries are rebuilt from an earlier flow's entry
    // read back (CMD_READ), with only the words up to the valid bit written over (this flow's
    // key, valid, action Forward): their MACs are then the earlier flow's, which the output
    // frames show (read data that differed between the simulators would change the digest).
    for i in 48..64 {
        let from = bucket(&flows[i - 48]);
        writes.push((table::BASE + table::CMD, table::CMD_READ | from));
        let own = Entry {
            key: flows[i],
            valid: true,
            ..Default::default()
        }
        .to_words();
        for (w, v) in own.iter().enumerate().take(entry::VALID.start / 32 + 1) {
            writes.push((table::BASE + table::DATA0 + 4 * w as u32, *v));
        }
        writes.push((
            table::BASE + table::CMD,
            table::CMD_WRITE | bucket(&flows[i]),
        ));
    }
    let sizes = [0usize, 6, 64, 200, 512, 1000, 1460, 1460];
    let mut out = Vec::with_capacity(frames);
    for _ in 0..frames {
        let port = rng.below(2) as u8;
        let user = stream::user(port, false, false);
        let known = flows[rng.below(flows.len() as u64) as usize];
        let size = sizes[rng.below(sizes.len() as u64) as usize];
        let f = match rng.below(100) {
            0..=74 => tcp_frame(&known, 0x18, size, &mut rng),
            75..=77 => tcp_frame(&known, 0x11, size, &mut rng), // FIN
            78..=79 => tcp_frame(&known, 0x14, 0, &mut rng),    // RST
            80..=89 => {
                let mut k = known;
                k.sport ^= 0x5a5a;
                tcp_frame(&k, 0x10, size, &mut rng)
            }
            90..=94 => tcp_frame(&known, 0x02, 0, &mut rng),
            _ => {
                let mut f = tcp_frame(&known, 0x10, size, &mut rng);
                f[12] = 0x86;
                f[13] = 0xdd;
                f
            }
        };
        out.push((f, user));
    }
    // a burst of one-beat frames at 512 bits (54 bytes) on one, two and three flows, back to
    // back: the activity updates hit the same bucket 1, 2 and 3 updates apart (the forwarding)
    for i in 0..96usize {
        let k = [0usize, 0, 1, 0, 1, 2][i % 6] + 3 * (i / 48);
        out.push((
            tcp_frame(&flows[k], 0x10, 0, &mut rng),
            stream::user(0, false, false),
        ));
    }
    let buckets = flows.iter().map(bucket).collect();
    (writes, out, buckets)
}

/// A bucket's activity read back: the read command, its four words and `NOW`.
fn read_ops(bucket: u32) -> [Op; 2 + activity::WORDS] {
    let act = |i: u32| Op::Read(table::BASE + table::ACT0 + 4 * i);
    [
        Op::Write(table::BASE + table::CMD, table::CMD_READ | bucket),
        act(0),
        act(1),
        act(2),
        act(3),
        Op::Read(table::BASE + table::NOW),
    ]
}

/// The bus operation of every cycle: the table writes first, then activity reads of the flows'
/// buckets every 97 cycles while the frames stream, then (after the drain) every flow's bucket.
fn schedule(writes: &[(u32, u32)], buckets: &[u32], beats: u64) -> Vec<Option<Op>> {
    let mut ops: Vec<Option<Op>> = writes.iter().map(|&(a, v)| Some(Op::Write(a, v))).collect();
    let mut k = 0;
    while (ops.len() as u64) < beats {
        ops.extend(std::iter::repeat_n(None, 91));
        ops.extend(read_ops(buckets[k % buckets.len()]).map(Some));
        k += 1;
    }
    ops.extend(std::iter::repeat_n(None, DRAIN as usize));
    for &b in buckets {
        ops.extend(read_ops(b).map(Some));
    }
    ops.push(None); // the last read's data
    ops
}

/// NIC time on cycle `c`: moving on every 5 cycles, from just below the 32-bit wrap.
fn now_at(c: u64) -> u32 {
    0xFFFF_FF00u32.wrapping_add((c / 5) as u32)
}

/// FNV-1a over every output frame.
#[derive(Clone, Copy)]
struct Digest(u64);
impl Digest {
    fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

fn write_vectors(
    path: &Path,
    width: usize,
    ops: &[Option<Op>],
    frames: &[(Vec<u8>, u8)],
    cycles: u64,
) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    w.write_all(b"VSNA")?;
    for v in [width as u32, cycles as u32, 0] {
        w.write_all(&v.to_le_bytes())?;
    }
    let lanes = width / 8;
    let mut beats = frames.iter().flat_map(|(f, user)| {
        let n = f.chunks(lanes).count();
        f.chunks(lanes)
            .enumerate()
            .map(move |(i, c)| (c, i + 1 == n, *user))
    });
    let mut data = vec![0u8; lanes];
    for c in 0..cycles {
        let csr = ops.get(c as usize).copied().flatten();
        let beat = beats.next();
        let mut flags = 0u8;
        data.fill(0);
        let (mut bytes, mut user) = (0u8, 0u8);
        if let Some((c, last, u)) = beat {
            flags |= 1 | if last { 2 } else { 0 };
            data[..c.len()].copy_from_slice(c);
            bytes = c.len() as u8;
            user = u;
        }
        let (addr, val) = match csr {
            Some(Op::Write(a, v)) => {
                flags |= 4;
                (a, v)
            }
            Some(Op::Read(a)) => {
                flags |= 8;
                (a, 0)
            }
            None => (0, 0),
        };
        w.write_all(&[flags, bytes, user, 0])?;
        w.write_all(&addr.to_le_bytes())?;
        w.write_all(&val.to_le_bytes())?;
        w.write_all(&now_at(c).to_le_bytes())?;
        w.write_all(&data)?;
    }
    w.flush()
}

/// What one run of the vector set through the core gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub width: usize,
    pub frames: usize,
    pub cycles: u64,
    pub seconds: f64,
    pub tx_frames: u64,
    pub exc_frames: u64,
    pub reads: u64,
    pub active_reads: u64,
    /// The transmitted frames', the exception frames' and the register reads' digests, in hex
    /// (what `tb.cpp` prints as `digest=`).
    pub digest: String,
}

impl fmt::Display for Run {
    /// The line `sim/bench/verilator.sh` reads (`cycles_per_s=`, `digest=`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rusthdl width={} frames={} cycles={} seconds={:.3} cycles_per_s={:.0} tx_frames={} exc_frames={} reads={} active_reads={} digest={}",
            self.width,
            self.frames,
            self.cycles,
            self.seconds,
            self.cycles as f64 / self.seconds,
            self.tx_frames,
            self.exc_frames,
            self.reads,
            self.active_reads,
            self.digest
        )
    }
}

/// Run `frames` frames of the vector set through the core at `width` bits; with `vectors`, also
/// write the per-cycle inputs there for `tb.cpp`.
pub fn run(width: usize, frames: usize, vectors: Option<&Path>) -> Result<Run, String> {
    let (writes, set, buckets) = vector_set(frames);
    let lanes = width / 8;
    let beats: u64 = set
        .iter()
        .map(|(f, _)| f.len().div_ceil(lanes) as u64)
        .sum();
    // CSR operations and the first beats overlap (separate buses), as in the vector file.
    let ops = schedule(&writes, &buckets, beats);
    let cycles = (ops.len() as u64).max(beats + DRAIN);

    let mut core = crate::nic::new_core(width, TABLE_BITS)?;
    for (f, user) in &set {
        core.push_frame(f, *user);
    }
    let (mut tx, mut exc) = (Digest(0xcbf2_9ce4_8422_2325), Digest(0xcbf2_9ce4_8422_2325));
    let mut rd = Digest(0xcbf2_9ce4_8422_2325);
    let (mut ntx, mut nexc, mut nrd, mut active) = (0u64, 0u64, 0u64, 0u64);
    let t = Instant::now();
    for c in 0..cycles {
        match ops.get(c as usize).copied().flatten() {
            Some(Op::Write(a, v)) => core.queue_write(a, v),
            Some(Op::Read(a)) => core.queue_read(a),
            None => {}
        }
        core.set_now(now_at(c));
        core.step(true);
        while let Some(v) = core.take_read() {
            rd.add(&(c as u32).to_le_bytes());
            rd.add(&v.to_le_bytes());
            // ACT0 (packets) of a bucket that saw traffic (reads come in ACT0..3, NOW)
            active += (nrd % (1 + activity::WORDS as u64) == 0 && v != 0) as u64;
            nrd += 1;
        }
        // the cycle a frame completes on is part of the digest: the comparison is cycle-exact
        let at = (c as u32).to_le_bytes();
        while let Some((port, f)) = core.take_tx() {
            tx.add(&at);
            tx.add(&[port]);
            tx.add(&f);
            ntx += 1;
        }
        while let Some(e) = core.take_exc() {
            exc.add(&at);
            exc.add(&e.frame);
            nexc += 1;
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    if core.input_pending() != 0 {
        return Err("the vector set did not drain".into());
    }
    if active == 0 {
        return Err("no activity read back".into());
    }
    if let Some(p) = vectors {
        write_vectors(p, width, &ops, &set, cycles)
            .map_err(|e| format!("writing vectors to {}: {e}", p.display()))?;
    }
    Ok(Run {
        width,
        frames,
        cycles,
        seconds,
        tx_frames: ntx,
        exc_frames: nexc,
        reads: nrd,
        active_reads: active,
        digest: format!("{:016x}{:016x}{:016x}", tx.0, exc.0, rd.0),
    })
}
