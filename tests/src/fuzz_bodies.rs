//! The bodies of the fuzz targets, as plain functions over `&[u8]`: the cargo-fuzz targets in
//! `tests/fuzz/` call them under libFuzzer (nightly), and `tests/tests/fuzz_smoke.rs` runs them
//! on stable over the seed corpora plus a bounded number of deterministic mutations.
//!
//! Each body decodes its input into a scenario (see each function), runs it through the public
//! API, and panics when an invariant fails — a panic is what both drivers report as a crash.
//!
//! | target | what it drives |
//! |---|---|
//! | [`ftp_parser`] | FTP line assembly and parsing, and the app layer's `AppBinding::pkt` on both directions of an FTP control connection, in arbitrary segmentations |
//! | [`exception_frame`] | `net::parse` and `Daemon::handle_exception` / `Daemon::poll` on the fake backend, with any reason and metadata |
//! | [`control_request`] | the control socket's line parser, `vsnicadm`'s argument parser and the `-R` rules parser, then `Daemon::handle_request` |
//! | [`nic_model`] | the hardware reference model with a few table entries |

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use vsnic_contract::entry::{Entry, WORDS};
use vsnic_contract::exception::NUM_REASONS;
use vsnic_contract::{hash, stream, FlowKey, Reason};
use vsnic_host::app::frame::{self, MAX_FRAME};
use vsnic_host::app::ftp::{
    self, parse_227, parse_229, parse_command, parse_extended, parse_host_port, reply_line,
    FtpConfig, LineAssembler, LineEvent, ReplyLine,
};
use vsnic_host::app::{self, AppAction, AppRegistry, ConnCtx, Dir, SeqFix, PROTO_TCP};
use vsnic_host::backend::fake::{FakeConfig, FakeNic};
use vsnic_host::daemon::{RealConfig, ServiceConfig};
use vsnic_host::driver::DriverConfig;
use vsnic_host::service::ForwardMethod;
use vsnic_host::{cli, control, net, Daemon, DaemonConfig, Driver, ExceptionFrame, PortConfig};
use vsnic_hw::model::{Model, Verdict};

use crate::packets::{self, Tcp, ACK, CLIENT, FIN, PORT0_ADDR, PORT1_ADDR, REAL, RST, VIP};

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target: name and body.
pub const TARGETS: &[(&str, Body)] = &[
    ("ftp_parser", ftp_parser),
    ("exception_frame", exception_frame),
    ("control_request", control_request),
    ("nic_model", nic_model),
];

/// Reads an input front to back; past the end it yields zeros and empty slices.
struct Reader<'a> {
    d: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(d: &'a [u8]) -> Reader<'a> {
        Reader { d }
    }
    fn is_empty(&self) -> bool {
        self.d.is_empty()
    }
    fn u8(&mut self) -> u8 {
        match self.d.split_first() {
            Some((&b, rest)) => {
                self.d = rest;
                b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.d.split_at(n.min(self.d.len()));
        self.d = b;
        a
    }
}

// ---------------------------------------------------------------------------------------------
// ftp_parser

/// The connection the FTP body plays: client → VIP:21, scheduled on the real server's port 21.
fn ftp_ctx() -> ConnCtx {
    ConnCtx {
        protocol: PROTO_TCP,
        client: SocketAddr::new(IpAddr::V4(CLIENT), 40000),
        vip: SocketAddr::new(IpAddr::V4(VIP), 21),
        real: SocketAddr::new(IpAddr::V4(REAL), 21),
    }
}

/// One step of an FTP scenario.
#[derive(Debug, Clone)]
enum Step<'a> {
    /// The next bytes of `dir`'s stream, in one segment (`sack`: with a SACK option).
    Data {
        dir: usize,
        payload: &'a [u8],
        sack: bool,
    },
    /// The last segment of `dir` again, unchanged.
    Retransmit { dir: usize },
    /// `n` bytes of `dir`'s stream are lost (never seen by the host).
    Gap { dir: usize, n: u32 },
    /// The held tail of `dir` is flushed (the rest of the line did not come in time).
    Flush { dir: usize },
    /// A segment with FIN or RST (`flags`) and payload.
    Close {
        dir: usize,
        flags: u8,
        payload: &'a [u8],
    },
}

/// Decode an FTP scenario: byte 0 options (bit 0 allow foreign addresses, bit 1 `SeqFix::Nic`,
/// bit 2 a short line limit of `8 + (opts >> 3)`), then the two initial sequence numbers (4
/// bytes each), then steps: a control byte (bit 0 direction: 0 client → server, 1 server →
/// client; bits 1–3 kind: 0–2 data, 3 data ×6 length, 4 retransmit, 5 gap, 6 flush, 7 FIN/RST;
/// bit 4 SACK option), a length byte and that many payload bytes.
fn ftp_scenario(data: &[u8]) -> (u8, [u32; 2], Vec<Step<'_>>) {
    let mut r = Reader::new(data);
    let opts = r.u8();
    let isn = [r.u32(), r.u32()];
    let mut steps = Vec::new();
    while !r.is_empty() && steps.len() < 256 {
        let ctl = r.u8();
        let dir = (ctl & 1) as usize;
        let n = r.u8() as usize;
        let step = match (ctl >> 1) & 7 {
            0..=2 => Step::Data {
                dir,
                payload: r.bytes(n),
                sack: ctl & 0x10 != 0,
            },
            3 => Step::Data {
                dir,
                payload: r.bytes((n * 6).min(1400)),
                sack: ctl & 0x10 != 0,
            },
            4 => Step::Retransmit { dir },
            5 => Step::Gap { dir, n: n as u32 },
            6 => Step::Flush { dir },
            _ => Step::Close {
                dir,
                flags: if ctl & 0x20 != 0 { RST } else { FIN | ACK },
                payload: r.bytes(n),
            },
        };
        steps.push(step);
    }
    (opts, isn, steps)
}

/// The ways a byte of a 227 tuple may look: digits and commas, six numbers of 1–3 digits, each
/// at most 255.
fn check_host_port_text(t: &[u8]) {
    let parts: Vec<&[u8]> = t.split(|&c| c == b',').collect();
    assert_eq!(
        parts.len(),
        6,
        "host-port tuple {:?}",
        String::from_utf8_lossy(t)
    );
    for p in parts {
        assert!(
            (1..=3).contains(&p.len()) && p.iter().all(u8::is_ascii_digit),
            "tuple field {:?}",
            String::from_utf8_lossy(p)
        );
        let v: u32 = std::str::from_utf8(p).unwrap().parse().unwrap();
        assert!(v <= 255, "tuple number {v} > 255 accepted");
    }
}

/// Line-level invariants: the assembler's lines do not depend on how the stream is cut, and
/// what the parsers accept is in range.
fn ftp_lines(max_line: usize, stream: &[u8], cuts: &[usize], dir: usize) {
    let base = 0xffff_ff00u32; // sequence numbers wrap inside the stream
    let mut whole = Vec::new();
    LineAssembler::new(max_line).push(base, stream, &mut whole);
    let mut pieces = Vec::new();
    let mut la = LineAssembler::new(max_line);
    let mut at = 0;
    for &c in cuts {
        let c = c.min(stream.len()).max(at);
        la.push(base.wrapping_add(at as u32), &stream[at..c], &mut pieces);
        at = c;
    }
    la.push(base.wrapping_add(at as u32), &stream[at..], &mut pieces);
    assert_eq!(whole, pieces, "lines depend on the segmentation");
    if let Some((seq, p)) = la.partial() {
        assert!(p.len() <= max_line + 1, "partial line over the limit");
        assert!(!p.contains(&b'\n'));
        let off = seq.wrapping_sub(base) as usize;
        assert_eq!(
            &stream[off..off + p.len()],
            p,
            "partial line is not the stream's tail"
        );
    }
    for e in &whole {
        let LineEvent::Line { seq, bytes } = e else {
            continue;
        };
        assert!(
            bytes.len() <= max_line,
            "a line over the limit was delivered"
        );
        assert!(!bytes.contains(&b'\n'));
        let off = seq.wrapping_sub(base) as usize;
        assert!(
            stream[off..].starts_with(bytes),
            "line is not the stream's bytes"
        );
        if dir == 0 {
            match parse_command(bytes) {
                Ok(ftp::Command::Port(_, p)) | Ok(ftp::Command::Eprt(_, p)) => {
                    assert_ne!(p, 0, "port 0 accepted")
                }
                _ => {}
            }
        } else {
            let text = match reply_line(bytes) {
                ReplyLine::Final { text, .. } | ReplyLine::First { text, .. } => text,
                ReplyLine::Text(t) => t,
            };
            if let Ok((a, port, r)) = parse_227(text) {
                assert!(r.end <= text.len() && r.start <= r.end);
                check_host_port_text(&text[r.clone()]);
                assert_eq!(parse_host_port(&text[r.clone()]), Ok((a, port, r.len())));
                assert_ne!(port, 0);
            }
            if let Ok((_, port, r)) = parse_229(text) {
                assert!(r.end < text.len() && text[r.end] == b')');
                assert_ne!(port, 0);
                let (_, p2, n) = parse_extended(&text[r.clone()], true).expect("re-parses");
                assert_eq!((p2, n), (port, r.len()));
            }
        }
    }
}

/// Per-direction bookkeeping of the FTP body.
#[derive(Default)]
struct DirLog {
    /// Original stream bytes given to the binding (while `clean`).
    input: Vec<u8>,
    /// Payload bytes that came out, in order (while `clean`).
    output: Vec<u8>,
    /// Rewrites announced (original sequence numbers).
    rewrites: Vec<(u32, u32, Vec<u8>)>,
    /// Only new, in-order data so far: the stream invariants apply.
    clean: bool,
    /// Next original sequence number.
    next: u32,
    /// Next sequence number the receiver expects (with `SeqFix::Host`).
    out_next: u32,
    last: Option<Vec<u8>>,
}

fn check_out_frame(f: &[u8]) -> frame::TcpLayout {
    assert!(f.len() <= MAX_FRAME, "frame of {} bytes", f.len());
    let l = frame::layout(f).expect("an output frame is TCP/IPv4");
    assert_eq!(packets::ipv4_csum_ok(f), Some(true), "IPv4 checksum");
    assert_eq!(packets::l4_csum_ok(f), Some(true), "TCP checksum");
    l
}

/// FTP helper: [`ftp_scenario`] through the line layer and through an `AppBinding`.
pub fn ftp_parser(data: &[u8]) {
    let (opts, isn, steps) = ftp_scenario(data);
    let allow_foreign = opts & 1 != 0;
    let fix = if opts & 2 != 0 {
        SeqFix::Nic
    } else {
        SeqFix::Host
    };
    let max_line = if opts & 4 != 0 {
        8 + (opts >> 3) as usize
    } else {
        ftp::DEFAULT_MAX_LINE
    };

    // The line layer on each direction's whole stream, cut where the segments were.
    for dir in 0..2 {
        let mut stream = Vec::new();
        let mut cuts = Vec::new();
        for s in &steps {
            if let Step::Data {
                dir: d, payload, ..
            } = s
            {
                if *d == dir {
                    stream.extend_from_slice(payload);
                    cuts.push(stream.len());
                }
            }
        }
        ftp_lines(max_line, &stream, &cuts, dir);
    }

    // The app layer.
    let mut reg = AppRegistry::new();
    let ftp_app = app::register_ftp(
        &mut reg,
        FtpConfig {
            ports: vec![21],
            allow_foreign_addr: allow_foreign,
            max_line,
        },
    )
    .expect("ftp registers");
    let ctx = ftp_ctx();
    let mut b = reg.bind(ctx).expect("binds").expect("port 21 is FTP");
    let mut log: [DirLog; 2] = Default::default();
    for (d, l) in log.iter_mut().enumerate() {
        l.clean = true;
        l.next = isn[d];
        l.out_next = isn[d];
    }
    let ends = [
        ((CLIENT, 40000u16), (VIP, 21u16)),
        ((REAL, 21u16), (CLIENT, 40000u16)),
    ];
    let adir = [Dir::In, Dir::Out];
    let mut multiline_seen = false;

    let handle =
        |log: &mut [DirLog; 2], d: usize, frames: Vec<Vec<u8>>, actions: Vec<AppAction>| {
            for f in &frames {
                let l = check_out_frame(f);
                let info = frame::tcp_info(f, &l);
                let lg = &mut log[d];
                // A segment without payload (a pure ACK behind a held tail) may be ahead.
                if lg.clean && l.payload_len() > 0 {
                    if fix == SeqFix::Host {
                        assert_eq!(info.seq, lg.out_next, "output stream not contiguous");
                    }
                    lg.out_next = info.seq.wrapping_add(l.payload_len() as u32);
                    lg.output.extend_from_slice(&f[l.payload.clone()]);
                }
            }
            for a in actions {
                match a {
                    AppAction::Rewrite {
                        start,
                        end,
                        new_bytes,
                    } => {
                        assert_eq!(d, 1, "a client → server rewrite");
                        assert!(
                            new_bytes.iter().all(|c| (0x20..0x7f).contains(c)),
                            "rewrite to {new_bytes:?}"
                        );
                        log[d].rewrites.push((start, end, new_bytes));
                    }
                    AppAction::ExpectPassiveData {
                        client,
                        vip,
                        vport,
                        rip,
                        rport,
                    } => {
                        assert_eq!(d, 1);
                        assert_eq!((client, vip), (ctx.client.ip(), ctx.vip.ip()));
                        assert!(vport != 0 && rport != 0);
                        if !allow_foreign {
                            assert_eq!(rip, ctx.real.ip(), "passive data to a foreign host");
                        }
                    }
                    AppAction::ExpectActiveData {
                        client_addr,
                        client_port,
                        vip,
                        vport,
                        rip,
                        rport,
                    } => {
                        assert_eq!(d, 0);
                        assert_ne!(client_port, 0);
                        assert_eq!(
                            (vip, vport, rip, rport),
                            (ctx.vip.ip(), 20, ctx.real.ip(), 20)
                        );
                        if !allow_foreign {
                            assert_eq!(client_addr, ctx.client.ip(), "FTP bounce accepted");
                        }
                    }
                }
            }
        };

    for step in &steps {
        match *step {
            Step::Data { dir, payload, sack } => {
                let other = 1 - dir;
                let lg = &log[dir];
                let sack_opt;
                let opts: &[u8] = if sack {
                    let o = log[other].next;
                    let mut v = vec![1, 1, 5, 10];
                    v.extend_from_slice(&o.wrapping_sub(100).to_be_bytes());
                    v.extend_from_slice(&o.wrapping_add(100).to_be_bytes());
                    sack_opt = v;
                    &sack_opt
                } else {
                    &[]
                };
                let f = Tcp {
                    seq: lg.next,
                    ack: log[other].next,
                    opts,
                    ..Tcp::new(ends[dir].0, ends[dir].1, payload)
                }
                .build();
                if dir == 1
                    && payload
                        .split(|&c| c == b'\n')
                        .any(|l| l.len() > 3 && l[3] == b'-')
                {
                    multiline_seen = true;
                }
                let lg = &mut log[dir];
                if lg.clean {
                    lg.input.extend_from_slice(payload);
                }
                lg.next = lg.next.wrapping_add(payload.len() as u32);
                lg.last = Some(f.clone());
                let out = b.pkt(adir[dir], f, fix).expect("a well-formed frame");
                handle(&mut log, dir, out.frames, out.actions);
            }
            Step::Retransmit { dir } => {
                if let Some(f) = log[dir].last.clone() {
                    log[dir].clean = false;
                    let out = b.pkt(adir[dir], f, fix).expect("a well-formed frame");
                    handle(&mut log, dir, out.frames, out.actions);
                }
            }
            Step::Gap { dir, n } => {
                if n > 0 {
                    log[dir].clean = false;
                    log[dir].next = log[dir].next.wrapping_add(n);
                }
            }
            Step::Flush { dir } => {
                if let Some(f) = b.flush_held(adir[dir], fix) {
                    log[dir].clean = false;
                    check_out_frame(&f);
                }
            }
            Step::Close {
                dir,
                flags,
                payload,
            } => {
                log[dir].clean = false;
                let f = Tcp {
                    seq: log[dir].next,
                    ack: log[1 - dir].next,
                    flags,
                    ..Tcp::new(ends[dir].0, ends[dir].1, payload)
                }
                .build();
                log[dir].next = log[dir].next.wrapping_add(payload.len() as u32);
                let out = b.pkt(adir[dir], f, fix).expect("a well-formed frame");
                handle(&mut log, dir, out.frames, out.actions);
            }
        }
    }

    // A partial reply line that may need a rewrite is never sent before it completes.
    let lg = &log[1];
    if lg.clean && !multiline_seen {
        let tail_start = lg
            .output
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        let tail = &lg.output[tail_start..];
        let n = tail.len().min(3);
        let candidate = n > 0 && (tail[..n] == b"227"[..n] || tail[..n] == b"229"[..n]);
        let in_tail_start = lg
            .input
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |i| i + 1);
        let in_tail_len = lg.input.len() - in_tail_start;
        assert!(
            !(candidate && in_tail_len <= max_line),
            "a partial 227/229 line was sent: {:?}",
            String::from_utf8_lossy(tail)
        );
    }

    // Flush what is held, then compare each clean stream with its rewrites.
    let stats = b.stats();
    for d in 0..2 {
        if let Some(f) = b.flush_held(adir[d], fix) {
            let l = check_out_frame(&f);
            if log[d].clean {
                log[d].output.extend_from_slice(&f[l.payload.clone()]);
            }
        }
        let lg = &log[d];
        if !lg.clean || stats.unapplied > 0 {
            continue;
        }
        let mut want = Vec::new();
        let mut at = 0usize;
        let mut delta = 0i64;
        for (start, end, new) in &lg.rewrites {
            let s = start.wrapping_sub(isn[d]) as usize;
            let e = end.wrapping_sub(isn[d]) as usize;
            assert!(
                at <= s && s <= e && e <= lg.input.len(),
                "rewrite out of the stream"
            );
            let old = &lg.input[s..e];
            // Only a well-formed, in-range argument is ever replaced.
            if old.first().is_some_and(u8::is_ascii_digit) {
                check_host_port_text(old);
                check_host_port_text(new);
            } else {
                let (_, p, n) = parse_extended(old, true).expect("a 229 argument");
                assert_eq!(n, old.len());
                assert_ne!(p, 0);
                let (a, p2, _) = parse_extended(new, true).expect("a 229 rewrite");
                assert_eq!((a, p2), (None, p), "229 rewritten to another port");
            }
            want.extend_from_slice(&lg.input[at..s]);
            want.extend_from_slice(new);
            delta += new.len() as i64 - old.len() as i64;
            at = e;
        }
        want.extend_from_slice(&lg.input[at..]);
        assert_eq!(
            String::from_utf8_lossy(&lg.output),
            String::from_utf8_lossy(&want),
            "output stream ≠ input stream with its rewrites (dir {d})"
        );
        let adj = b.seq_adj();
        let off = if d == 0 {
            adj.in_seq.current_offset()
        } else {
            adj.out_seq.current_offset()
        };
        assert_eq!(
            off as i64, delta,
            "recorded delta ≠ length change (dir {d})"
        );
    }
    assert_eq!(
        ftp_app.stats().rewrites as usize,
        log[1].rewrites.len(),
        "rewrites counted ≠ rewrites announced"
    );
    drop(b);
    assert_eq!(reg.lookup(PROTO_TCP, 21).map(|i| i.use_count()), Some(0));
}

// ---------------------------------------------------------------------------------------------
// exception_frame

fn fuzz_daemon_config() -> DaemonConfig {
    let mut cfg = DaemonConfig::new(vec![
        PortConfig {
            mac: packets::PORT0_MAC,
            addr: PORT0_ADDR,
            prefix: 24,
        },
        PortConfig {
            mac: packets::PORT1_MAC,
            addr: PORT1_ADDR,
            prefix: 24,
        },
    ]);
    for (vport, rport) in [(80, 8080), (21, 21)] {
        cfg.services.push(ServiceConfig::tcp(
            SocketAddrV4::new(VIP, vport),
            vsnic_host::service::Scheduler::Rr,
            vec![RealConfig {
                addr: SocketAddrV4::new(REAL, rport),
                weight: 1,
                method: ForwardMethod::Masq,
                u_threshold: 0,
                l_threshold: 0,
            }],
        ));
    }
    cfg
}

/// A daemon on the fake NIC with two ports, a web service and an FTP service (both on the VIP,
/// one real server each).
pub fn fuzz_daemon() -> (Arc<FakeNic>, Daemon<FakeNic>) {
    let nic = Arc::new(FakeNic::new(FakeConfig {
        table_index_bits: 8,
        ..Default::default()
    }));
    let driver = Driver::open_with(
        nic.clone(),
        DriverConfig {
            // a fixed flow hash key: the tests' placements (and collisions) are deterministic
            hash_key: Some(vsnic_contract::hash::DEFAULT_KEY),
            ..Default::default()
        },
    )
    .expect("fake NIC opens");
    let d = Daemon::new(driver, fuzz_daemon_config()).expect("daemon starts");
    (nic, d)
}

/// Exceptions: records of a reason byte (code modulo the number of reasons), a port byte, a
/// flags byte (bit 0 hit, bit 1 through the ring and `Daemon::poll` instead of
/// `handle_exception`), an entry index (2 bytes), a length (2 bytes, little endian) and the
/// frame. Every frame goes through `net::parse` and the daemon; whatever it sends must be a
/// sane frame, and what it builds itself (bypass) must carry valid checksums.
pub fn exception_frame(data: &[u8]) {
    let _ = net::parse(data);
    let (nic, mut d) = fuzz_daemon();
    let mut r = Reader::new(data);
    let mut handled = 0u64;
    let mut records = 0;
    while !r.is_empty() && records < 64 {
        records += 1;
        let reason = Reason::from_code(r.u8() % NUM_REASONS as u8).expect("in range");
        let src_port = r.u8();
        let flags = r.u8();
        let index = r.u16() as u32;
        let len = r.u16() as usize;
        let bytes = r.bytes(len);
        let parsed = net::parse(bytes);
        let malformed_before = d.stats().malformed;
        if flags & 2 != 0 {
            // The way a frame really arrives: descriptor and frame in the ring, then poll.
            let delivered =
                nic.inject_exception(bytes, reason, src_port & 3, flags & 1 != 0, index);
            let n = d.poll().expect("poll on the fake NIC");
            assert_eq!(n, delivered as usize);
            handled += n as u64;
            if n == 0 {
                continue;
            }
        } else {
            d.handle_exception(ExceptionFrame {
                frame: bytes.to_vec(),
                reason,
                src_port,
                hit: flags & 1 != 0,
                index,
            });
            handled += 1;
        }
        assert_eq!(
            d.stats().malformed - malformed_before,
            parsed.is_err() as u64,
            "malformed count ≠ parse error"
        );
        for tx in nic.take_tx() {
            // A frame the NIC handed over (up to a slot) may go back as it came.
            assert!(
                !tx.frame.is_empty() && tx.frame.len() <= vsnic_contract::queue::MAX_FRAME,
                "sent a frame of {} bytes",
                tx.frame.len()
            );
            assert!(tx.port < 2, "sent to port {}", tx.port);
            if tx.bypass && packets::ipv4_csum_ok(&tx.frame).is_some() {
                assert_eq!(packets::ipv4_csum_ok(&tx.frame), Some(true));
                if let Some(ok) = packets::l4_csum_ok(&tx.frame) {
                    assert!(ok, "the host sent a frame with a bad TCP checksum");
                }
            }
        }
    }
    let total: u64 = d.stats().exceptions.iter().sum();
    assert_eq!(total, handled, "exceptions counted ≠ handled");
    d.tick(tokio::time::Instant::now() + std::time::Duration::from_secs(3600));
}

// ---------------------------------------------------------------------------------------------
// control_request

fn check_request(d: &mut Daemon<FakeNic>, req: control::Request) {
    let json = serde_json::to_string(&req).expect("a request serialises");
    let back = control::parse_request_line(&json).expect("a serialised request parses");
    assert_eq!(back, req, "JSON round trip");
    let resp = d.handle_request(req);
    let rj = serde_json::to_string(&resp).expect("a response serialises");
    let rb: control::Response = serde_json::from_str(&rj).expect("a response parses");
    assert_eq!(
        serde_json::to_string(&rb).expect("serialises"),
        rj,
        "response round trip"
    );
}

/// Control input: the whole input as a control-socket line, as `vsnicadm` arguments (split at
/// NUL bytes, or at whitespace when there is none) and as a `-R` rules file. What parses is
/// round-tripped through JSON and handed to a daemon on the fake NIC.
pub fn control_request(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (_nic, mut d) = fuzz_daemon();
    if let Ok(req) = control::parse_request_line(&text) {
        check_request(&mut d, req);
    }
    let args: Vec<&str> = if text.contains('\0') {
        text.split('\0').collect()
    } else {
        text.split_whitespace().collect()
    };
    if args.len() <= 64 {
        if let Ok(cmd) = cli::parse(std::iter::once("vsnicadm").chain(args)) {
            if let cli::Action::Request(req) = cmd.action {
                check_request(&mut d, req);
            }
        }
    }
    if text.lines().count() <= 64 {
        match cli::parse_rules(&text) {
            Ok(req @ control::Request::Batch { .. }) => check_request(&mut d, req),
            Ok(other) => panic!("rules parsed to {other:?}"),
            Err(cli::CliError::Usage(m)) => assert!(m.starts_with("line "), "{m}"),
            Err(cli::CliError::Clap(e)) => panic!("rules error not turned into a message: {e}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// nic_model

fn reason_is_classification(r: Reason) -> bool {
    !matches!(
        r,
        Reason::None | Reason::Miss | Reason::AppPayload | Reason::SeqHistory | Reason::AckOptions
    )
}

/// Reference model: a count byte (up to 4 entries), each entry as 16 little-endian words
/// (`Entry::from_words`; valid ones are installed at their key's bucket), then frames: a side
/// band byte (port, from host, bypass), a flags byte (bit 0: exception queue full; bit 1: give
/// the frame the 5-tuple of entry `flags >> 2 & 3` and fix its checksums), a length (2 bytes)
/// and the bytes.
pub fn nic_model(data: &[u8]) {
    const BITS: u32 = 8;
    let mut r = Reader::new(data);
    let mut m = Model::new(BITS);
    let mut keys: Vec<FlowKey> = Vec::new();
    for _ in 0..r.u8() % 5 {
        let mut w = [0u32; WORDS];
        for x in &mut w {
            *x = r.u32();
        }
        if let Some(e) = Entry::from_words(&w) {
            assert_eq!(
                Entry::from_words(&e.to_words()),
                Some(e),
                "entry round trip"
            );
            if e.valid {
                m.write_entry(hash::bucket(&e.key, BITS), e.to_words());
                keys.push(e.key);
            }
        } else {
            m.write_entry(r.u8() as u32, w);
        }
    }
    let mut frames = 0;
    while !r.is_empty() && frames < 64 {
        frames += 1;
        let user = r.u8() & 0x0f;
        let flags = r.u8();
        let len = r.u16() as usize % 9100;
        let mut f = r.bytes(len).to_vec();
        if f.is_empty() {
            continue;
        }
        if flags & 2 != 0 && !keys.is_empty() && f.len() >= 38 {
            let k = keys[(flags >> 2) as usize % keys.len()];
            f[12] = 0x08;
            f[13] = 0x00;
            f[14] = 0x45;
            f[23] = k.proto;
            f[26..30].copy_from_slice(&k.saddr);
            f[30..34].copy_from_slice(&k.daddr);
            f[34..36].copy_from_slice(&k.sport.to_be_bytes());
            f[36..38].copy_from_slice(&k.dport.to_be_bytes());
            f[20] &= 0x80; // not a fragment
            f[21] = 0;
            packets::fix_checksums(&mut f);
        }
        let exc_ready = flags & 1 == 0;
        let before = m.counters.clone();
        let class = Model::classify(&f);
        let from_host = user >> stream::FROM_HOST.start & 1 == 1;
        let v = m.process(&f, user, exc_ready);
        let c = &m.counters;
        assert_eq!(c.rx_frames, before.rx_frames.wrapping_add(1));
        match v {
            Verdict::Exception { frame, meta } => {
                assert!(!from_host, "a host frame became an exception");
                assert_ne!(meta.reason, Reason::None, "exception without a reason");
                assert_eq!(frame, f, "exception frame changed");
                assert_eq!(meta.len as usize, f.len());
                assert_eq!(meta.src_port, user & 3);
                assert!(meta.index < 1 << BITS);
                if reason_is_classification(meta.reason) {
                    assert_eq!(meta.reason, class);
                } else {
                    assert!(matches!(class, Reason::None));
                    assert_eq!(meta.hit, meta.reason != Reason::Miss, "{:?}", meta.reason);
                }
                assert_eq!(c.exc_frames, before.exc_frames + 1);
                assert_eq!(
                    c.exc_reason[meta.reason as usize],
                    before.exc_reason[meta.reason as usize] + 1
                );
            }
            Verdict::Dropped => {
                assert!(!from_host && !exc_ready, "dropped with room in the queue");
                assert_eq!(c.exc_drop, before.exc_drop + 1);
            }
            Verdict::Tx { port, frame } => {
                assert!(port < 4);
                assert_eq!(frame.len(), f.len(), "a forwarded frame changed length");
                assert_eq!(c.tx_frames, before.tx_frames + 1);
                let rewritten = frame.get(12..) != f.get(12..);
                if rewritten {
                    assert!(matches!(class, Reason::None | Reason::Syn));
                    // Checksums valid before stay valid (RFC 1624 updates).
                    assert_eq!(packets::ipv4_csum_ok(&frame), Some(true), "IPv4 checksum");
                    if packets::l4_csum_ok(&f) == Some(true) {
                        assert_eq!(packets::l4_csum_ok(&frame), Some(true), "L4 checksum");
                    }
                }
                if !from_host {
                    assert_eq!(class, Reason::None);
                    assert_eq!(c.fastpath, before.fastpath + 1);
                }
            }
        }
    }
}
