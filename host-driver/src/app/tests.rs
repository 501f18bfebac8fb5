//! Registry and scripted control-session tests of the app layer and the FTP helper.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use etherparse::PacketBuilder;

use super::frame::tests::verify;
use super::ftp::{FtpApp, FtpConfig};
use super::*;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const RIP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const CPORT: u16 = 40000;

fn ctx() -> ConnCtx {
    ConnCtx {
        protocol: PROTO_TCP,
        client: SocketAddr::new(CLIENT.into(), CPORT),
        vip: SocketAddr::new(VIP.into(), 21),
        real: SocketAddr::new(RIP.into(), 21),
    }
}

#[derive(Clone, Copy, Default)]
struct Flags {
    syn: bool,
    fin: bool,
}

/// A segment as it reaches the host (before NAT): in = client→VIP, out = real server→client.
fn seg_f(dir: Dir, seq: u32, ack: u32, payload: &[u8], sack: &[(u32, u32)], f: Flags) -> Vec<u8> {
    let (src, dst, sp, dp) = match dir {
        Dir::In => (CLIENT, VIP, CPORT, 21),
        Dir::Out => (RIP, CLIENT, 21, CPORT),
    };
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(sp, dp, seq, 64240)
        .ack(ack);
    if f.syn {
        b = b.syn();
    }
    if f.fin {
        b = b.fin();
    }
    if !sack.is_empty() {
        use etherparse::TcpOptionElement::*;
        let rest = [sack.get(1), sack.get(2), sack.get(3)].map(|o| o.copied());
        b = b
            .options(&[Noop, Noop, SelectiveAcknowledgement(sack[0], rest)])
            .unwrap();
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn seg(dir: Dir, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    seg_f(dir, seq, ack, payload, &[], Flags::default())
}

fn new_binding() -> (Arc<FtpApp>, AppBinding, AppRegistry) {
    let mut reg = AppRegistry::new();
    let app = register_ftp(&mut reg, FtpConfig::default()).unwrap();
    let b = reg.bind(ctx()).unwrap().expect("port 21 is FTP");
    (app, b, reg)
}

/// Send one frame through, expecting exactly one frame out; returns (seq, ack, payload).
fn one(b: &mut AppBinding, dir: Dir, f: Vec<u8>) -> ((u32, u32, Vec<u8>), Vec<AppAction>) {
    let out = b.pkt(dir, f, SeqFix::Host).unwrap();
    assert_eq!(out.frames.len(), 1, "{out:?}");
    (verify(&out.frames[0]), out.actions)
}

const REPLY_227: &[u8] = b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n";
const REWRITTEN_227: &[u8] = b"227 Entering Passive Mode (10,0,0,100,156,64).\r\n";

fn passive_expect() -> AppAction {
    AppAction::ExpectPassiveData {
        client: CLIENT.into(),
        vip: VIP.into(),
        vport: 40000,
        rip: RIP.into(),
        rport: 40000,
    }
}

fn handshake(b: &mut AppBinding) {
    let syn = Flags {
        syn: true,
        ..Flags::default()
    };
    b.pkt(Dir::In, seg_f(Dir::In, 999, 0, b"", &[], syn), SeqFix::Host)
        .unwrap();
    b.pkt(
        Dir::Out,
        seg_f(Dir::Out, 4999, 1000, b"", &[], syn),
        SeqFix::Host,
    )
    .unwrap();
    let ((s, _, p), a) = one(b, Dir::Out, seg(Dir::Out, 5000, 1000, b"220 hi\r\n"));
    assert_eq!((s, p.as_slice(), a.len()), (5000, &b"220 hi\r\n"[..], 0));
}

#[test]
fn scripted_control_session() {
    let (app, mut b, _reg) = new_binding();
    handshake(&mut b);

    // PASV: nothing to do
    let ((s, a, p), act) = one(&mut b, Dir::In, seg(Dir::In, 1000, 5008, b"PASV\r\n"));
    assert_eq!(
        (s, a, p.as_slice(), act),
        (1000, 5008, &b"PASV\r\n"[..], vec![])
    );

    // 227: rewritten to the VIP (+2 bytes), passive data expected
    let ((s, a, p), act) = one(&mut b, Dir::Out, seg(Dir::Out, 5008, 1006, REPLY_227));
    assert_eq!((s, a), (5008, 1006));
    assert_eq!(p, REWRITTEN_227);
    assert_eq!(act.len(), 2);
    assert!(
        matches!(&act[0], AppAction::Rewrite { start, end, new_bytes }
        if *start == 5008 + 27 && *end == 5008 + 42 && new_bytes == b"10,0,0,100,156,64")
    );
    assert_eq!(act[1], passive_expect());
    let out_level = b.seq_adj().out_seq.newest().unwrap();
    assert_eq!(
        out_level,
        seq::SeqLevel {
            position: 5008 + 27,
            offset_before: 0,
            offset_after: 2
        }
    );
    let end_227 = 5008 + REPLY_227.len() as u32;

    // the client acks the rewritten (longer) reply: fixed back; SACK edges too
    let ((s, a, _), act) = one(
        &mut b,
        Dir::In,
        seg_f(
            Dir::In,
            1006,
            end_227 + 2,
            b"",
            &[(end_227 + 12, end_227 + 22)],
            Flags::default(),
        ),
    );
    assert_eq!((s, a, act), (1006, end_227, vec![]));

    // a retransmitted 227: rewritten again identically, delta not counted twice, no new action
    let before = *b.seq_adj();
    let ((s, _, p), act) = one(&mut b, Dir::Out, seg(Dir::Out, 5008, 1006, REPLY_227));
    assert_eq!((s, p.as_slice(), act), (5008, REWRITTEN_227, vec![]));
    assert_eq!(*b.seq_adj(), before);
    assert_eq!(b.stats().replayed, 1);

    // later server data moves by +2
    let ((s, _, p), _) = one(
        &mut b,
        Dir::Out,
        seg(Dir::Out, end_227, 1006, b"150 ok\r\n"),
    );
    assert_eq!((s, p.as_slice()), (end_227 + 2, &b"150 ok\r\n"[..]));

    // active mode: PORT from the client's own address
    let ((s, _, p), act) = one(
        &mut b,
        Dir::In,
        seg(Dir::In, 1006, end_227 + 10, b"PORT 10,0,0,2,4,1\r\n"),
    );
    assert_eq!((s, p.as_slice()), (1006, &b"PORT 10,0,0,2,4,1\r\n"[..]));
    assert_eq!(
        act,
        vec![AppAction::ExpectActiveData {
            client_addr: CLIENT.into(),
            client_port: 1025,
            vip: VIP.into(),
            vport: 20,
            rip: RIP.into(),
            rport: 20,
        }]
    );
    // a PORT naming another host: forwarded, not expected, counted
    let ((_, _, p), act) = one(
        &mut b,
        Dir::In,
        seg(Dir::In, 1025, end_227 + 10, b"PORT 192,168,9,9,4,1\r\n"),
    );
    assert_eq!(
        (p.as_slice(), act),
        (&b"PORT 192,168,9,9,4,1\r\n"[..], vec![])
    );
    assert_eq!(app.stats().bounce_refused, 1);

    // a second 227 with a different address length (shrinks by 1: "10,1,0,22" -> "10,0,0,100" is
    // +1; use a server saying the VIP itself: no rewrite) then one with a longer RIP text
    let s2 = end_227 + 8;
    let r2: &[u8] = b"227 Entering Passive Mode (10,0,0,100,156,65)\r\n";
    let ((s, _, p), act) = one(&mut b, Dir::Out, seg(Dir::Out, s2, 1047, r2));
    assert_eq!((s, p.as_slice()), (s2 + 2, r2));
    assert_eq!(act.len(), 1, "no rewrite, one expectation: {act:?}");
    let s3 = s2 + r2.len() as u32;
    let r3: &[u8] = b"227 =10,1,0,2,156,66\r\n";
    let ((s, _, p), _) = one(&mut b, Dir::Out, seg(Dir::Out, s3, 1047, r3));
    assert_eq!(
        (s, p.as_slice()),
        (s3 + 2, &b"227 =10,0,0,100,156,66\r\n"[..])
    );
    assert_eq!(b.seq_adj().out_seq.levels().len(), 2);
    assert_eq!(b.seq_adj().out_seq.current_offset(), 4);
    // a retransmission of the 150 (older than the last rewrite) still gets +2, not +4
    let ((s, _, _), _) = one(
        &mut b,
        Dir::Out,
        seg(Dir::Out, end_227, 1006, b"150 ok\r\n"),
    );
    assert_eq!(s, end_227 + 2);
    // and acks on either side of the second rewrite map back
    let ((_, a, _), _) = one(&mut b, Dir::In, seg(Dir::In, 1047, s3 + 2, b""));
    assert_eq!(a, s3);
    let s4 = s3 + r3.len() as u32;
    let ((_, a, _), _) = one(&mut b, Dir::In, seg(Dir::In, 1047, s4 + 4, b""));
    assert_eq!(a, s4);

    let st = app.stats();
    assert_eq!(
        (st.rewrites, st.passive_expected, st.active_expected),
        (2, 3, 1)
    );
    assert_eq!(b.stats().unapplied, 0);
}

#[test]
fn nic_mode_keeps_numbers_and_programs_the_delta() {
    let (_, mut b, _reg) = new_binding();
    handshake(&mut b);
    let out = b
        .pkt(Dir::Out, seg(Dir::Out, 5008, 1006, REPLY_227), SeqFix::Nic)
        .unwrap();
    let (s, _, p) = verify(&out.frames[0]);
    assert_eq!((s, p.as_slice()), (5008, REWRITTEN_227));
    let out = b
        .pkt(
            Dir::Out,
            seg(Dir::Out, 5008 + 47, 1006, b"150\r\n"),
            SeqFix::Nic,
        )
        .unwrap();
    assert_eq!(verify(&out.frames[0]).0, 5008 + 47, "the NIC fixes it");
    let words = b.seq_adj().out_seq.to_words();
    assert_eq!(words[0], 1);
    assert_eq!(words[3], 2);
}

/// Collects the payload of the frames of one direction, checking they are contiguous.
fn run_split(
    reply: &[u8],
    cut: &[usize],
) -> (Vec<u8>, Vec<AppAction>, seq::ConnSeqAdj, BindingStats) {
    let (_, mut b, _reg) = new_binding();
    handshake(&mut b);
    let mut stream = Vec::new();
    let mut actions = Vec::new();
    let mut next = 5008u32;
    let mut at = 0;
    let mut points = cut.to_vec();
    points.push(reply.len());
    for p in points {
        let f = seg(Dir::Out, 5008 + at as u32, 1006, &reply[at..p]);
        let out = b.pkt(Dir::Out, f, SeqFix::Host).unwrap();
        for f in &out.frames {
            let (s, _, pl) = verify(f);
            assert_eq!(s, next, "contiguous after cut {cut:?}");
            next = next.wrapping_add(pl.len() as u32);
            stream.extend_from_slice(&pl);
        }
        actions.extend(out.actions);
        at = p;
    }
    assert!(!b.is_holding(Dir::Out));
    (stream, actions, *b.seq_adj(), b.stats())
}

#[test]
fn replies_split_anywhere_give_the_same_result() {
    let whole: &[u8] = b"200 ok\r\n227 Entering Passive Mode (10,1,0,2,156,64).\r\n150 go\r\n";
    let (s0, a0, q0, st0) = run_split(whole, &[]);
    assert_eq!(
        s0,
        b"200 ok\r\n227 Entering Passive Mode (10,0,0,100,156,64).\r\n150 go\r\n"
    );
    assert_eq!(st0.rewrites, 1);
    for i in 1..whole.len() {
        let (s, a, q, st) = run_split(whole, &[i]);
        assert_eq!(s, s0, "cut at {i}");
        assert_eq!(a, a0, "cut at {i}");
        assert_eq!(q, q0, "cut at {i}");
        assert_eq!(st.unapplied, 0, "cut at {i}");
        if (9..8 + 46).contains(&i) {
            assert_eq!(
                (st.held, st.merged),
                (1, 1),
                "cut at {i}: the 227 tail is held back"
            );
        }
    }
    // three pieces
    for i in (1..whole.len()).step_by(3) {
        for j in (i + 1..whole.len()).step_by(5) {
            let (s, a, q, _) = run_split(whole, &[i, j]);
            assert_eq!((s, a, q), (s0.clone(), a0.clone(), q0), "cuts {i} {j}");
        }
    }
}

#[test]
fn split_commands_are_reassembled() {
    let whole: &[u8] = b"PASV\r\nPORT 10,0,0,2,4,1\r\nEPRT |1|10.0.0.2|6000|\r\n";
    for i in 0..=whole.len() {
        let (app, mut b, _reg) = new_binding();
        handshake(&mut b);
        let mut actions = Vec::new();
        for (off, part) in [(0, &whole[..i]), (i, &whole[i..])] {
            if part.is_empty() {
                continue;
            }
            let out = b
                .pkt(
                    Dir::In,
                    seg(Dir::In, 1000 + off as u32, 5008, part),
                    SeqFix::Host,
                )
                .unwrap();
            assert_eq!(verify(&out.frames[0]).2, part, "commands are never changed");
            actions.extend(out.actions);
        }
        let ports: Vec<u16> = actions
            .iter()
            .map(|a| match a {
                AppAction::ExpectActiveData { client_port, .. } => *client_port,
                _ => panic!("{a:?}"),
            })
            .collect();
        assert_eq!(ports, vec![1025, 6000], "cut at {i}");
        assert_eq!(app.stats().commands, 3);
    }
}

fn replies(b: &mut AppBinding, data: &[u8]) -> (Vec<u8>, Vec<AppAction>) {
    let out = b
        .pkt(Dir::Out, seg(Dir::Out, 5008, 1006, data), SeqFix::Host)
        .unwrap();
    let mut p = Vec::new();
    for f in &out.frames {
        p.extend(verify(f).2);
    }
    (p, out.actions)
}

#[test]
fn multi_line_replies() {
    // a features list whose text lines look like 227 replies: not touched
    let (_, mut b, _reg) = new_binding();
    handshake(&mut b);
    let feat: &[u8] =
        b"211-Features:\r\n 227 (10,1,0,2,1,2)\r\n227 Entering Passive Mode (10,1,0,2,1,2)\r\n211 End\r\n";
    assert_eq!(replies(&mut b, feat), (feat.to_vec(), vec![]));

    // a multi-line 227 with the address on its first line
    let (_, mut b, _reg) = new_binding();
    handshake(&mut b);
    let (p, a) = replies(
        &mut b,
        b"227-Entering Passive Mode (10,1,0,2,156,64)\r\n227 OK\r\n",
    );
    assert_eq!(
        p,
        b"227-Entering Passive Mode (10,0,0,100,156,64)\r\n227 OK\r\n"
    );
    assert_eq!(a.len(), 2);

    // ... or on a continuation line
    let (_, mut b, _reg) = new_binding();
    handshake(&mut b);
    let (p, a) = replies(&mut b, b"227-Passive\r\n (10,1,0,2,156,64)\r\n227 OK\r\n");
    assert_eq!(p, b"227-Passive\r\n (10,0,0,100,156,64)\r\n227 OK\r\n");
    assert_eq!(a[1], passive_expect());
}

#[test]
fn epsv_and_229() {
    let (app, mut b, _reg) = new_binding();
    handshake(&mut b);
    // |||port| needs no rewrite, only the expectation
    let r: &[u8] = b"229 Entering Extended Passive Mode (|||40000|)\r\n";
    assert_eq!(replies(&mut b, r), (r.to_vec(), vec![passive_expect()]));
    // an address in the reply is removed (shrinks)
    let (_, mut b, _reg) = new_binding();
    handshake(&mut b);
    let (p, a) = replies(
        &mut b,
        b"229 Entering Extended Passive Mode (|1|10.1.0.2|40000|)\r\n",
    );
    assert_eq!(p, b"229 Entering Extended Passive Mode (|||40000|)\r\n");
    assert_eq!(a[1], passive_expect());
    assert_eq!(b.seq_adj().out_seq.current_offset(), -9);
    // a 229 naming another host is refused
    let (_, mut b, _reg) = new_binding();
    handshake(&mut b);
    let r: &[u8] = b"229 Entering Extended Passive Mode (|1|10.9.9.9|40000|)\r\n";
    assert_eq!(replies(&mut b, r), (r.to_vec(), vec![]));
    assert!(app.stats().rewrites == 0);
}

#[test]
fn bad_input_is_counted_never_missed() {
    let (app, mut b, _reg) = new_binding();
    handshake(&mut b);
    let mut data = vec![b'A'; 600];
    data.extend_from_slice(
        b"\r\nPORT 10,0,0,2,4,1\r\nPORT 300,0,0,2,4,1\r\nEPSV ALL\r\n\0\0\0\r\n",
    );
    let out = b
        .pkt(Dir::In, seg(Dir::In, 1000, 5008, &data), SeqFix::Host)
        .unwrap();
    assert_eq!(verify(&out.frames[0]).2, data);
    assert_eq!(out.actions.len(), 1);
    let st = app.stats();
    assert_eq!(
        (st.overlong_lines, st.malformed, st.control_bytes),
        (1, 1, 1)
    );
    // a bad 227: forwarded as is, counted
    let r: &[u8] = b"227 Entering Passive Mode (10,1,0,2,300,1)\r\n";
    assert_eq!(replies(&mut b, r), (r.to_vec(), vec![]));
    assert_eq!(app.stats().malformed, 2);
    // a gap in the stream: resynchronised at the next line, counted
    let out = b
        .pkt(
            Dir::In,
            seg(
                Dir::In,
                9000,
                5008,
                b"10,0,0,2,4,1\r\nPORT 10,0,0,2,4,2\r\n",
            ),
            SeqFix::Host,
        )
        .unwrap();
    assert_eq!(out.actions.len(), 1);
    assert_eq!(app.stats().stream_gaps, 1);
    // not a TCP/IPv4 frame: refused, nothing changed
    assert!(b.pkt(Dir::In, vec![0; 20], SeqFix::Host).is_err());
}

#[test]
fn foreign_port_allowed_when_configured() {
    let mut reg = AppRegistry::new();
    let cfg = FtpConfig {
        allow_foreign_addr: true,
        ..FtpConfig::default()
    };
    register_ftp(&mut reg, cfg).unwrap();
    let mut b = reg.bind(ctx()).unwrap().unwrap();
    let out = b
        .pkt(
            Dir::In,
            seg(Dir::In, 1, 1, b"PORT 192,168,9,9,4,1\r\n"),
            SeqFix::Host,
        )
        .unwrap();
    assert!(
        matches!(out.actions[0], AppAction::ExpectActiveData { client_addr, .. }
        if client_addr == IpAddr::V4(Ipv4Addr::new(192, 168, 9, 9)))
    );
}

/// A test app counting its hooks.
#[derive(Default)]
struct Probe {
    inits: AtomicUsize,
    unbinds: AtomicUsize,
    dones: AtomicUsize,
}

impl App for Probe {
    type Conn = u32;
    fn name(&self) -> &str {
        "probe"
    }
    fn protocol(&self) -> u8 {
        PROTO_TCP
    }
    fn init_conn(&self, _: &ConnCtx) -> Result<u32, AppError> {
        self.inits.fetch_add(1, Ordering::SeqCst);
        Ok(0)
    }
    fn unbind_conn(&self, _: &ConnCtx, _: &mut u32) {
        self.unbinds.fetch_add(1, Ordering::SeqCst);
    }
    fn done_conn(&self, _: &ConnCtx, _: u32) {
        self.dones.fetch_add(1, Ordering::SeqCst);
    }
    fn pkt_in(&self, _: &ConnCtx, n: &mut u32, c: &Chunk<'_>) -> AppOutput {
        *n += c.data.len() as u32;
        AppOutput::default()
    }
    fn pkt_out(&self, _: &ConnCtx, _: &mut u32, _: &Chunk<'_>) -> AppOutput {
        AppOutput::default()
    }
}

#[test]
fn registry_binds_by_virtual_port_and_unregisters_safely() {
    let mut reg = AppRegistry::new();
    let probe = reg.register_app(Probe::default()).unwrap();
    assert!(matches!(
        reg.register_app(Probe::default()),
        Err(AppError::AppExists(_))
    ));
    reg.set_ports("probe", &[21, 2121]).unwrap();
    assert!(matches!(
        reg.register_incarnation("probe", 21),
        Err(AppError::PortTaken { .. })
    ));
    assert!(matches!(
        reg.register_incarnation("nope", 1),
        Err(AppError::NoApp(_))
    ));
    let mut c = ctx();
    c.vip.set_port(80);
    assert!(reg.bind(c).unwrap().is_none(), "no app on port 80");
    c.protocol = 17;
    c.vip.set_port(21);
    assert!(reg.bind(c).unwrap().is_none(), "no UDP app");

    let mut b1 = reg.bind(ctx()).unwrap().unwrap();
    let b2 = reg.bind(ctx()).unwrap().unwrap();
    let inc = reg.lookup(PROTO_TCP, 21).unwrap().clone();
    assert_eq!(inc.use_count(), 2);
    assert_eq!(probe.inits.load(Ordering::SeqCst), 2);

    // unregister with live connections: they keep working, nothing new binds
    reg.unregister_incarnation(PROTO_TCP, 21).unwrap();
    assert!(inc.is_retired());
    assert!(reg.bind(ctx()).unwrap().is_none());
    assert!(matches!(inc.bind(ctx()), Err(AppError::Retired { .. })));
    assert_eq!(inc.use_count(), 2);
    b1.pkt(Dir::In, seg(Dir::In, 1, 1, b"hello"), SeqFix::Host)
        .unwrap();
    let listed = reg.list();
    assert!(listed
        .iter()
        .any(|i| i.port == 21 && i.retired && i.use_count == 2));
    // the port can be registered again at once; old connections keep the old incarnation
    reg.register_incarnation("probe", 21).unwrap();
    let b3 = reg.bind(ctx()).unwrap().unwrap();
    assert!(!Arc::ptr_eq(b3.incarnation(), &inc));
    drop(b1);
    drop(b2);
    assert_eq!(inc.use_count(), 0);
    assert_eq!(probe.unbinds.load(Ordering::SeqCst), 2);
    assert_eq!(probe.dones.load(Ordering::SeqCst), 2);
    reg.gc();
    assert_eq!(reg.list().iter().filter(|i| i.retired).count(), 0);

    // unregistering the template retires every incarnation; b3 lives on
    reg.unregister_app("probe").unwrap();
    assert!(reg.list().iter().all(|i| i.retired));
    assert!(b3.incarnation().is_retired());
    drop(b3);
    assert_eq!(probe.dones.load(Ordering::SeqCst), 3);
    reg.gc();
    assert!(reg.list().is_empty());
}

#[test]
fn ftp_ports_are_settable() {
    let mut reg = AppRegistry::new();
    let cfg = FtpConfig {
        ports: vec![21, 2121],
        ..FtpConfig::default()
    };
    register_ftp(&mut reg, cfg).unwrap();
    assert!(reg.lookup(PROTO_TCP, 2121).is_some());
    reg.set_ports("ftp", &[2121, 990]).unwrap();
    assert!(reg.lookup(PROTO_TCP, 21).is_none());
    assert!(reg.lookup(PROTO_TCP, 990).is_some());
    assert_eq!(
        reg.lookup(PROTO_TCP, 990).unwrap().timeouts()[0].state,
        "EXPECT"
    );
}
