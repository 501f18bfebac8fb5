//! Overload: a SYN flood that fills the exception ring never stalls the fast path.
//!
//! The simulated NIC (64-bit core, its MAC ports, the queue engine writing a 64-slot exception
//! ring in host memory that the host never drains) holds one established connection. Port 0
//! receives a flood of SYNs from many sources — back to back, faster than 10 GbE line rate —
//! with the established client's segments mixed in; port 1 receives the real server's full-size
//! replies. Every established segment must come out rewritten; the SYNs fill the ring and the
//! rest are dropped and counted; and the core takes a beat every cycle it has one (no stall), so
//! the run takes no more cycles than the beats it carried.
//!
//! `through_the_daemon`: the same kind of flood into the daemon running on the simulator
//! backend (its event loop, control socket and new-connection rate limit), with established
//! connections carrying traffic both ways through it; see the module's test.

use std::net::Ipv4Addr;

use vsnic_contract::entry::Entry;
use vsnic_contract::regs::{counters, exq, table};
use vsnic_contract::{hash, queue};
use vsnic_sim::SimNic;
use vsnic_tests::packets::{web_entries, Tcp, ACK, CLIENT, PORT1_MAC, REAL, REAL_MAC, SYN, VIP};

const TABLE_BITS: u32 = 12;
const RING_LOG2: u32 = 6;
const CPORT: u16 = 40000;
/// Frames per port (the MAC's RX FIFO holds 1024).
const SYNS: usize = 900;
const CLIENT_SEGMENTS: usize = 100;
const SERVER_SEGMENTS: usize = 600;

fn install(nic: &mut SimNic, e: &Entry) {
    let index = hash::bucket(&e.key, TABLE_BITS);
    for (i, w) in e.to_words().iter().enumerate() {
        nic.write32(table::BASE + table::DATA0 + 4 * i as u32, *w);
    }
    nic.write32(table::BASE + table::CMD, table::CMD_WRITE | index);
}

#[test]
fn a_syn_flood_never_stalls_established_traffic() {
    let mut nic = SimNic::new(64, TABLE_BITS as usize).expect("core 64/12");
    let (_ring, iova) = nic.mem.alloc((1 << RING_LOG2) * queue::SLOT_BYTES);
    nic.write32(exq::BASE + exq::BASE_LO, iova as u32);
    nic.write32(exq::BASE + exq::BASE_HI, (iova >> 32) as u32);
    nic.write32(exq::BASE + exq::SIZE_LOG2, RING_LOG2);
    let (inbound, outbound) = web_entries(CPORT);
    install(&mut nic, &inbound);
    install(&mut nic, &outbound);
    let start = nic.stats();

    // Port 0: the flood, every 9th frame a segment of the established client.
    let request = [b'x'; 200];
    let mut beats = 0u64;
    let mut port0 = Vec::new();
    let mut syns = 0;
    let mut client = 0;
    while syns < SYNS || client < CLIENT_SEGMENTS {
        let f = if port0.len() % 9 == 8 && client < CLIENT_SEGMENTS {
            client += 1;
            Tcp::new((CLIENT, CPORT), (VIP, 80), &request).build()
        } else if syns < SYNS {
            let src = Ipv4Addr::new(172, 16, (syns / 250) as u8, (syns % 250) as u8);
            syns += 1;
            Tcp {
                flags: SYN,
                ..Tcp::new((src, 1024 + syns as u16), (VIP, 80), b"")
            }
            .build()
        } else {
            client += 1;
            Tcp::new((CLIENT, CPORT), (VIP, 80), &request).build()
        };
        beats += f.len().div_ceil(8) as u64;
        port0.push(f);
    }
    // Port 1: the real server's full-size replies.
    let reply = [b'y'; 1460];
    let port1: Vec<Vec<u8>> = (0..SERVER_SEGMENTS)
        .map(|i| {
            Tcp {
                smac: REAL_MAC,
                dmac: PORT1_MAC,
                seq: 1 + (i * reply.len()) as u32,
                flags: ACK,
                ..Tcp::new((REAL, 8080), (CLIENT, CPORT), &reply)
            }
            .build()
        })
        .collect();
    beats += port1
        .iter()
        .map(|f| f.len().div_ceil(8) as u64)
        .sum::<u64>();
    for f in &port0 {
        nic.receive(0, f.clone());
    }
    for f in &port1 {
        nic.receive(1, f.clone());
    }
    let c0 = nic.cycle();
    while nic.has_work() {
        nic.step();
    }
    let cycles = nic.cycle() - c0;

    // Every established segment came out, rewritten, on the right port; nothing else did.
    let to_server: Vec<_> = nic.ports[1].tx.drain(..).collect();
    let to_client: Vec<_> = nic.ports[0].tx.drain(..).collect();
    assert_eq!(
        to_server.len(),
        CLIENT_SEGMENTS,
        "client segments forwarded"
    );
    assert_eq!(
        to_client.len(),
        SERVER_SEGMENTS,
        "server segments forwarded"
    );
    assert!(to_server
        .iter()
        .all(|f| f[30..34] == REAL.octets() && f[36..38] == 8080u16.to_be_bytes()));
    assert!(to_client
        .iter()
        .all(|f| f[26..30] == VIP.octets() && f[34..36] == 80u16.to_be_bytes()));

    // The SYNs: the ring's 64 slots filled, every other SYN dropped and counted.
    let s = nic.stats();
    let delivered = s.exceptions - start.exceptions;
    let ring_drops = s.exc_ring_drops - start.exc_ring_drops;
    let core_drops = nic.read32(counters::BASE + counters::EXC_DROP) as u64;
    assert_eq!(s.rx_overflow, [0, 0], "the MACs took every frame");
    assert_eq!(
        delivered - ring_drops,
        1 << RING_LOG2,
        "exceptions in the ring"
    );
    assert_eq!(
        delivered - ring_drops + ring_drops + core_drops,
        SYNS as u64,
        "every SYN delivered or counted: {delivered} delivered ({ring_drops} of them dropped by the full ring), {core_drops} dropped by the core"
    );

    // No stall: the core carried a beat on (almost) every cycle of the run. The margin is the
    // pipeline's fill and drain and the arbiter's one-cycle turn between frames.
    let frames = (port0.len() + port1.len()) as u64;
    assert!(
        cycles <= beats + frames + 200,
        "{cycles} cycles for {beats} beats of {frames} frames"
    );
    // 64-byte SYNs take 8 beats: the flood arrived at 156.25 MHz / 9 cycles ≈ 17 M frames/s per
    // port, above 10 GbE line rate (14.88 M/s).
    eprintln!(
        "overload: {frames} frames ({SYNS} SYNs) in {cycles} cycles for {beats} beats; {} exceptions in the ring, {ring_drops} + {core_drops} SYNs dropped and counted",
        1 << RING_LOG2
    );
}

// ---------------------------------------------------------------------------------------------
// The same flood through the daemon: the simulated NIC on the simulator backend, the daemon's
// event loop with its control socket, SYNs at 10 GbE line rate on port 0.

mod through_the_daemon {
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use vsnic_contract::Reason;
    use vsnic_host::backend::sim::SimBackend;
    use vsnic_host::control::{self, Request, Response};
    use vsnic_host::daemon::{RealConfig, ServiceConfig};
    use vsnic_host::driver::{DriverConfig, NicCounters};
    use vsnic_host::net::{self, Arp, ArpOp};
    use vsnic_host::service::{ForwardMethod, Scheduler};
    use vsnic_host::{Daemon, DaemonConfig, DaemonStats, Driver, PortConfig};
    use vsnic_sim::attach::{Attachment, Recorder};
    use vsnic_sim::{SimConfig, Simulator};
    use vsnic_tests::packets::{
        ipv4_csum_ok, l4_csum_ok, Tcp, CLIENT, CLIENT_MAC, PORT0_ADDR, PORT0_MAC, PORT1_ADDR,
        PORT1_MAC, REAL, REAL_MAC, SYN, VIP,
    };

    /// Flood SYNs offered (the flood runs until this many have been sent).
    const FLOOD_SYNS: u64 = 12_000;
    /// Established connections carrying traffic through the flood.
    const CLIENTS: u16 = 4;
    const CPORT: u16 = 40000;
    /// Every 16th frame on port 0 is an established client's segment.
    const CLIENT_EVERY: u64 = 16;
    /// The real server sends a full-size segment this often (≈ 0.4 Gbit/s).
    const SERVER_GAP: Duration = Duration::from_micros(32);
    /// The admission limit under test: new connections per second and burst.
    const RATE: u32 = 20;
    const BURST: u32 = 50;
    const REQUEST: [u8; 200] = [b'q'; 200];
    const REPLY: [u8; 1460] = [b'r'; 1460];

    /// Time a frame of `len` bytes (without FCS) takes on a 10 GbE wire: FCS, preamble and
    /// inter-frame gap included (84 bytes for the smallest frame: 67.2 ns), rounded up.
    fn wire_time(len: usize) -> Duration {
        Duration::from_nanos(((len.max(60) + 24) as u64 * 8).div_ceil(10))
    }

    #[derive(Clone, Copy)]
    enum Pace {
        /// Back to back at 10 GbE line rate.
        LineRate,
        Every(Duration),
    }

    /// Frames made on the fly and sent at a pace in simulated time, until `limit` or `stop`.
    /// A late poll never sends more than 20 µs' worth at once, so the pace is a ceiling.
    struct Paced {
        make: Box<dyn FnMut(u64) -> Vec<u8> + Send>,
        pace: Pace,
        limit: u64,
        stop: Arc<AtomicBool>,
        sent: Arc<AtomicU64>,
        due: Option<Duration>,
    }

    impl Paced {
        fn new(pace: Pace, limit: u64, make: impl FnMut(u64) -> Vec<u8> + Send + 'static) -> Paced {
            Paced {
                make: Box::new(make),
                pace,
                limit,
                stop: Arc::new(AtomicBool::new(false)),
                sent: Arc::new(AtomicU64::new(0)),
                due: None,
            }
        }

        fn done(&self) -> bool {
            self.stop.load(Ordering::SeqCst) || self.sent.load(Ordering::SeqCst) >= self.limit
        }
    }

    impl Attachment for Paced {
        fn to_wire(&mut self, _frame: &[u8]) {}

        fn poll(&mut self, now: Duration, out: &mut Vec<Vec<u8>>) {
            const MAX_LAG: Duration = Duration::from_micros(20);
            let mut due = self.due.unwrap_or(now).max(now.saturating_sub(MAX_LAG));
            while due <= now && !self.done() {
                let n = self.sent.load(Ordering::SeqCst);
                let f = (self.make)(n);
                due += match self.pace {
                    Pace::LineRate => wire_time(f.len()),
                    Pace::Every(d) => d,
                };
                out.push(f);
                self.sent.store(n + 1, Ordering::SeqCst);
            }
            self.due = Some(due);
        }

        fn next_poll(&mut self, now: Duration) -> Option<Duration> {
            if self.done() {
                return None;
            }
            Some(self.due.map_or(Duration::ZERO, |d| d.saturating_sub(now)))
        }
    }

    fn client_segment(k: u16, i: u64) -> Vec<u8> {
        Tcp {
            seq: 1 + (i as u32) * REQUEST.len() as u32,
            ..Tcp::new((CLIENT, CPORT + k), (VIP, 80), &REQUEST)
        }
        .build()
    }

    fn server_segment(k: u16, i: u64) -> Vec<u8> {
        Tcp {
            smac: REAL_MAC,
            dmac: PORT1_MAC,
            seq: 1 + (i as u32) * REPLY.len() as u32,
            ..Tcp::new((REAL, 8080), (CLIENT, CPORT + k), &REPLY)
        }
        .build()
    }

    fn flood_syn(n: u64) -> Vec<u8> {
        let src = Ipv4Addr::new(172, 16, (n >> 8) as u8, n as u8);
        Tcp {
            flags: SYN,
            smac: [0x02, 0xee, 0, 0, (n >> 8) as u8, n as u8],
            ..Tcp::new((src, 1024 + (n % 50_000) as u16), (VIP, 80), b"")
        }
        .build()
    }

    /// A call during the flood: the simulator runs ~10^4 times slower than the NIC, so the
    /// answer may take longer than `vsnicadm`'s 10 s; 60 s is a hang guard.
    fn call(sock: &Path, r: Request) -> Response {
        control::call_within(sock, &r, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("control socket: {e}"))
    }

    fn counters(sock: &Path) -> (NicCounters, DaemonStats) {
        match call(sock, Request::Counters) {
            Response::Counters { nic, daemon, .. } => (*nic, *daemon),
            r => panic!("{r:?}"),
        }
    }

    /// Ask until `done` holds (a hang guard of 120 s, not a speed requirement).
    async fn wait_for(sock: &Path, what: &str, done: impl Fn(&NicCounters, &DaemonStats) -> bool) {
        let t0 = Instant::now();
        loop {
            let s = sock.to_path_buf();
            let got = tokio::task::spawn_blocking(move || control::call(&s, &Request::Counters))
                .await
                .unwrap();
            if let Ok(Response::Counters { nic, daemon, .. }) = &got {
                if done(nic, daemon) {
                    return;
                }
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "waiting for {what}: {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `(source, destination)` of an IPv4/TCP frame with `payload` bytes of TCP payload.
    fn tcp_flow(f: &[u8], payload: usize) -> Option<(SocketAddrV4, SocketAddrV4)> {
        if f.len() < 54 || f[12..14] != [0x08, 0x00] || f[23] != 6 {
            return None;
        }
        let ihl = (f[14] & 0xf) as usize * 4;
        let total = u16::from_be_bytes([f[16], f[17]]) as usize;
        let doff = (f[14 + ihl + 12] >> 4) as usize * 4;
        if total != ihl + doff + payload {
            return None;
        }
        let a = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
        let p = |at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
        let t = 14 + ihl;
        Some((
            SocketAddrV4::new(a(26), p(t)),
            SocketAddrV4::new(a(30), p(t + 2)),
        ))
    }

    fn config(sock: PathBuf) -> DaemonConfig {
        let mut cfg = DaemonConfig::new(vec![
            PortConfig {
                mac: PORT0_MAC,
                addr: PORT0_ADDR,
                prefix: 24,
            },
            PortConfig {
                mac: PORT1_MAC,
                addr: PORT1_ADDR,
                prefix: 24,
            },
        ]);
        cfg.control_socket = Some(sock);
        cfg.tick_ms = 100;
        cfg.new_conn_rate = RATE;
        cfg.new_conn_burst = BURST;
        cfg.services.push(ServiceConfig::tcp(
            SocketAddrV4::new(VIP, 80),
            Scheduler::Rr,
            vec![RealConfig {
                addr: SocketAddrV4::new(REAL, 8080),
                weight: 1,
                method: ForwardMethod::Masq,
                u_threshold: 0,
                l_threshold: 0,
            }],
        ));
        cfg
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_syn_flood_through_the_daemon_is_bounded_and_counted() {
        let dir = std::env::temp_dir().join(format!("vsnic-flood-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("vsnicd.sock");
        let sim_cfg = SimConfig::default();
        let sim = Arc::new(Simulator::start(&sim_cfg).expect("simulator"));
        let rec: [Recorder; 2] = Default::default();
        let wire: [Arc<Mutex<Vec<Vec<u8>>>>; 2] = [rec[0].to_wire.clone(), rec[1].to_wire.clone()];
        for (p, r) in rec.into_iter().enumerate() {
            sim.attach(p, Box::new(r)).unwrap();
        }
        // A small exception ring (16 slots): a flood fills it between two polls.
        let driver = Driver::open_with(
            Arc::new(SimBackend::new(sim.clone())),
            DriverConfig {
                exq_size_log2: 4,
                // a fixed flow hash key: the clients' buckets (no collision among them) are
                // part of the scenario; a random key made two of them collide now and then
                hash_key: Some(vsnic_contract::hash::DEFAULT_KEY),
                ..Default::default()
            },
        )
        .expect("driver on the simulated NIC");
        let daemon = Daemon::new(driver, config(sock.clone())).expect("daemon");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(daemon.run(async {
            let _ = stop_rx.await;
        }));
        wait_for(&sock, "the daemon", |_, _| true).await;

        // The real server announces itself; the clients connect (before the flood).
        let announce = net::arp_reply(
            &Arp {
                op: ArpOp::Request,
                sender_mac: PORT1_MAC,
                sender_ip: PORT1_ADDR,
                target_mac: [0; 6],
                target_ip: REAL,
            },
            REAL_MAC,
        );
        sim.attach(
            1,
            Box::new(Paced::new(Pace::LineRate, 1, move |_| announce.clone())),
        )
        .unwrap();
        wait_for(&sock, "the real server's MAC", |_, d| {
            d.neighbours_learned == 1
        })
        .await;
        sim.attach(
            0,
            Box::new(Paced::new(
                Pace::Every(Duration::from_micros(10)),
                CLIENTS as u64,
                |k| {
                    Tcp {
                        flags: SYN,
                        seq: 0,
                        ..Tcp::new((CLIENT, CPORT + k as u16), (VIP, 80), b"")
                    }
                    .build()
                },
            )),
        )
        .unwrap();
        wait_for(&sock, "the clients' connections", |_, d| {
            d.connections_created == CLIENTS as u64
        })
        .await;
        let (nic0, d0) = counters(&sock);
        let sim0 = sim.stats();

        // The flood: port 0 at line rate, every 16th frame an established client's segment;
        // the real server answers on port 1.
        let mut client_sent = 0u64;
        let flood = Paced::new(Pace::LineRate, u64::MAX, move |n| {
            if n % CLIENT_EVERY == CLIENT_EVERY - 1 {
                let (k, i) = (
                    (client_sent % CLIENTS as u64) as u16,
                    client_sent / CLIENTS as u64,
                );
                client_sent += 1;
                client_segment(k, i)
            } else {
                flood_syn(n - n / CLIENT_EVERY)
            }
        });
        let server = Paced::new(Pace::Every(SERVER_GAP), u64::MAX, |n| {
            server_segment((n % CLIENTS as u64) as u16, n / CLIENTS as u64)
        });
        let (flood_sent, flood_stop) = (flood.sent.clone(), flood.stop.clone());
        let (server_sent, server_stop) = (server.sent.clone(), server.stop.clone());
        let syns = |frames: u64| frames - frames / CLIENT_EVERY;
        let t0 = Instant::now();
        sim.attach(1, Box::new(server)).unwrap();
        sim.attach(0, Box::new(flood)).unwrap();

        // Once the flood is well under way, the control socket answers, while it goes on.
        while syns(flood_sent.load(Ordering::SeqCst)) < FLOOD_SYNS / 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // (the flood only stops once these calls have returned; 60 s is a hang guard)
        let s = sock.clone();
        let before = flood_sent.load(Ordering::SeqCst);
        let asked = Instant::now();
        let (listed, conns) = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::task::spawn_blocking(move || {
                (call(&s, Request::List), call(&s, Request::Connections))
            }),
        )
        .await
        .expect("the control socket answers during the flood")
        .unwrap();
        let after = flood_sent.load(Ordering::SeqCst);
        eprintln!(
            "control calls during the flood answered in {:?}",
            asked.elapsed()
        );
        assert!(!flood_stop.load(Ordering::SeqCst));
        let Response::Services { services, .. } = listed else {
            panic!("{listed:?}")
        };
        assert_eq!(services.len(), 1);
        let Response::Connections { connections } = conns else {
            panic!("{conns:?}")
        };
        for k in 0..CLIENTS {
            let c = SocketAddrV4::new(CLIENT, CPORT + k);
            assert!(
                connections.iter().any(|i| i.client == c),
                "{c} listed during the flood"
            );
        }

        while syns(flood_sent.load(Ordering::SeqCst)) < FLOOD_SYNS {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        flood_stop.store(true, Ordering::SeqCst);
        server_stop.store(true, Ordering::SeqCst);
        let flood_frames = flood_sent.load(Ordering::SeqCst);
        let offered = syns(flood_frames);
        let client_frames = flood_frames - offered;
        let server_frames = server_sent.load(Ordering::SeqCst);
        // Every flood SYN is handled by the daemon or dropped and counted by the NIC.
        wait_for(&sock, "every SYN accounted for", |n, d| {
            d.exceptions[Reason::Syn as usize] - d0.exceptions[Reason::Syn as usize]
                + (n.exc_drop - nic0.exc_drop) as u64
                + (n.exq_ring_full_drops - nic0.exq_ring_full_drops) as u64
                >= offered
        })
        .await;
        let wall = t0.elapsed();
        // the established clients' last frames leave the NIC
        let t = Instant::now();
        loop {
            let s = sim.stats();
            let out = (
                s.tx_frames[0] - sim0.tx_frames[0],
                s.tx_frames[1] - sim0.tx_frames[1],
            );
            if out.0 >= server_frames && out.1 >= client_frames {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(60), "{out:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (nic, d) = counters(&sock);
        let sim1 = sim.stats();
        stop_tx.send(()).unwrap();
        task.await.unwrap().unwrap();

        // The offered load fitted the core: no MAC dropped anything.
        assert_eq!(sim1.rx_overflow, [0, 0]);
        // Established traffic: every segment forwarded by the NIC, rewritten, checksums valid.
        let frames = |p: usize| wire[p].lock().unwrap().clone();
        let to_server: Vec<_> = frames(1)
            .into_iter()
            .filter(|f| tcp_flow(f, REQUEST.len()).is_some_and(|(s, _)| *s.ip() == CLIENT))
            .collect();
        assert_eq!(
            to_server.len() as u64,
            client_frames,
            "client segments forwarded"
        );
        let mut next = [0u32; CLIENTS as usize];
        for f in &to_server {
            let (s, d) = tcp_flow(f, REQUEST.len()).unwrap();
            assert_eq!(d, SocketAddrV4::new(REAL, 8080), "DNAT");
            assert_eq!((&f[0..6], &f[6..12]), (&REAL_MAC[..], &PORT1_MAC[..]));
            assert_eq!((ipv4_csum_ok(f), l4_csum_ok(f)), (Some(true), Some(true)));
            assert_eq!(&f[f.len() - REQUEST.len()..], &REQUEST[..]);
            let k = (s.port() - CPORT) as usize;
            let seq = u32::from_be_bytes([f[38], f[39], f[40], f[41]]);
            assert_eq!(
                seq,
                1 + next[k] * REQUEST.len() as u32,
                "client {k}: in order, none lost"
            );
            next[k] += 1;
        }
        let to_client: Vec<_> = frames(0)
            .into_iter()
            .filter(|f| tcp_flow(f, REPLY.len()).is_some())
            .collect();
        assert_eq!(
            to_client.len() as u64,
            server_frames,
            "server segments forwarded"
        );
        for f in &to_client {
            let (s, d) = tcp_flow(f, REPLY.len()).unwrap();
            assert_eq!(s, SocketAddrV4::new(VIP, 80), "SNAT");
            assert!(*d.ip() == CLIENT && (CPORT..CPORT + CLIENTS).contains(&d.port()));
            assert_eq!((&f[0..6], &f[6..12]), (&CLIENT_MAC[..], &PORT0_MAC[..]));
            assert_eq!((ipv4_csum_ok(f), l4_csum_ok(f)), (Some(true), Some(true)));
        }
        // ... and none of it reached the host: only SYNs (and the one ARP) did.
        for r in Reason::ALL {
            if !matches!(r, Reason::Syn | Reason::NonIpv4) {
                assert_eq!(nic.exc_reason[r as usize], 0, "{} exceptions", r.name());
            }
        }
        assert_eq!(d.segments_reinjected + d.entries_repaired, 0);

        // The flood, counted: handled by the daemon or dropped by the NIC (EXC_DROP when the
        // ring was full), and every SYN the daemon handled was admitted or refused.
        let handled = d.exceptions[Reason::Syn as usize] - d0.exceptions[Reason::Syn as usize];
        let exc_drop = (nic.exc_drop - nic0.exc_drop) as u64;
        let ring_drops = (nic.exq_ring_full_drops - nic0.exq_ring_full_drops) as u64;
        assert_eq!(handled + exc_drop + ring_drops, offered);
        let created = d.connections_created - d0.connections_created;
        let collisions = d.table_collisions - d0.table_collisions;
        assert_eq!(
            created + collisions + d.syn_rate_limited + d.table_full,
            handled,
            "{d:?}"
        );
        assert_eq!(d.table_full, 0);
        // The bucket admitted at most its burst plus its rate over the time the flood took.
        let limit = BURST as u64 + (RATE as f64 * wall.as_secs_f64()).ceil() as u64;
        assert!(
            created + collisions <= limit,
            "{created} + {collisions} admitted, limit {limit}"
        );
        assert!(
            d.syn_rate_limited > 0,
            "no SYN rate-limited: {handled} handled ({:.0}/s over {:.2} s wall), {created} admitted, \
             {collisions} collisions, NIC dropped {exc_drop} + {ring_drops} of {offered}; {d:?}",
            handled as f64 / wall.as_secs_f64(),
            wall.as_secs_f64(),
        );
        // The admitted ones were installed and re-injected (out on port 1 to the real server).
        let syns_out = || {
            frames(1)
                .iter()
                .filter(|f| f.len() >= 48 && f[47] == SYN && f[26] == 172)
                .count() as u64
        };
        let t = Instant::now();
        while syns_out() < created && t.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(syns_out(), created);

        let sim_time = (sim1.cycles - sim0.cycles) as f64 / sim_cfg.clock_hz;
        eprintln!(
            "flood through the daemon: {offered} SYNs + {client_frames} client segments on port 0 at line rate \
             ({:.1} M SYNs/s simulated over {:.2} ms), {server_frames} server segments on port 1; \
             {:.2} s wall ({:.0} SYNs/s offered in wall time); daemon handled {handled} \
             ({:.0}/s wall): {created} admitted, {collisions} bucket collisions, {} rate-limited; \
             NIC dropped {exc_drop} (EXC_DROP) + {ring_drops} (ring full); {} polls stopped at the budget; \
             control calls answered while the flood sent frames {before}..{after}; activity reads {}",
            offered as f64 / sim_time / 1e6,
            sim_time * 1e3,
            wall.as_secs_f64(),
            offered as f64 / wall.as_secs_f64(),
            handled as f64 / wall.as_secs_f64(),
            d.syn_rate_limited,
            d.poll_budget_exhausted,
            d.activity_reads,
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
