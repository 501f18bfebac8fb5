//! The daemon binary on the bundled simulator, driven by the `vsnicadm` binary: the NIC's port 0
//! replays a capture of SYNs from many clients (a `pcap:` attachment from the config's `[sim]`
//! section, starting a few seconds in, after the service is configured), two in-process real
//! servers sit on port 1. The test configures a wrr service with `vsnicadm`, waits until the
//! connections are listed by `vsnicadm -L -n -c`, checks their distribution over the real
//! servers, checks in the capture of port 0 that every server's SYN-ACK left through the NIC's
//! fast path rewritten to the VIP, and watches them expire.
//!
//! A second test fills the connection table (a small `max_connections`): the SYNs past the limit
//! are refused and counted (`table_full`), and the installed connections' traffic, replayed in
//! both directions afterwards, still goes through the NIC's fast path, rewritten, while the
//! refused clients' traffic is not forwarded.
//!
//! A third test runs a direct-routing TCP service, an IPIP-tunnelled one and a UDP (NAT)
//! service: the DR clients' SYNs leave on the real server's port with only the MACs changed;
//! the tunnelled clients' segments all reach the host and leave encapsulated; each UDP flow's
//! first datagram is installed by the host and re-injected, its second datagram and the
//! server's answer take the NIC's fast path, rewritten with valid checksums.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use vsnic_host::net::{self, TcpFlags};

const CLIENTS: u16 = 120;
/// When the first SYN arrives (simulated time, which follows real time while the NIC idles).
const FIRST_SYN: Duration = Duration::from_secs(4);
const P0_MAC: [u8; 6] = [2, 94, 0, 0, 0, 1];

struct Daemon {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn vsnicadm(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vsnicadm"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("vsnicadm runs")
}

fn ok(socket: &Path, args: &[&str]) -> String {
    let o = vsnicadm(socket, args);
    assert!(
        o.status.success(),
        "vsnicadm {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

/// A capture to replay: each frame at its time (replay is relative to the first frame).
/// Write the frames for port 0 and port 1 (sorted by time) as captures in `dir`, and the `[sim]`
/// attachments that replay them and capture what the NIC sends (`out0.pcap`, `out1.pcap`).
fn pcap_attachments(
    dir: &Path,
    mut p0: Vec<(Duration, Vec<u8>)>,
    mut p1: Vec<(Duration, Vec<u8>)>,
) -> String {
    p0.sort_by_key(|f| f.0);
    p1.sort_by_key(|f| f.0);
    write_pcap(&dir.join("p0.pcap"), &p0);
    write_pcap(&dir.join("p1.pcap"), &p1);
    format!(
        r#"attach = [
  "0=pcap:{d}/p0.pcap,{d}/out0.pcap",
  "1=pcap:{d}/p1.pcap,{d}/out1.pcap",
]"#,
        d = dir.display()
    )
}

fn write_pcap(path: &Path, frames: &[(Duration, Vec<u8>)]) {
    let mut w = PcapWriter::new(File::create(path).unwrap()).unwrap();
    for (ts, f) in frames {
        w.write_packet(&PcapPacket::new(*ts, f.len() as u32, f))
            .unwrap();
    }
}

/// The frames of a capture the simulator wrote (empty if it has not been created yet).
fn captured(path: &Path) -> Vec<Vec<u8>> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    let Ok(mut r) = PcapReader::new(file) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    while let Some(Ok(p)) = r.next_packet() {
        v.push(p.data.into_owned());
    }
    v
}

/// At 0 s a client on port 0 asks for the gateway (answered, harmless): the replay's origin.
fn origin_frame() -> (Duration, Vec<u8>) {
    let arp = net::arp_request(
        [2, 0, 0, 0, 0, 0x0f],
        Ipv4Addr::new(10, 0, 0, 9),
        Ipv4Addr::new(10, 0, 0, 1),
    );
    (Duration::ZERO, arp)
}

/// Client `k`'s address, port and MAC (60 addresses, one port each).
fn client(k: u16) -> ((Ipv4Addr, u16), [u8; 6]) {
    (
        (Ipv4Addr::new(10, 0, 0, 10 + (k % 60) as u8), 30000 + k),
        [2, 0, 0, 0, 0, 0x10 + (k % 60) as u8],
    )
}

/// Client `k`'s SYN to the VIP.
fn syn(k: u16) -> Vec<u8> {
    let (addr, mac) = client(k);
    let syn = TcpFlags {
        syn: true,
        ..Default::default()
    };
    net::tcp_frame(mac, P0_MAC, addr, (VIP, 80), syn, 1000 + k as u32, &[])
}

/// SYNs from `CLIENTS` clients to the VIP, 2 ms apart from FIRST_SYN.
fn write_syns(path: &Path) {
    let mut frames = vec![origin_frame()];
    for k in 0..CLIENTS {
        frames.push((FIRST_SYN + Duration::from_millis(2 * k as u64), syn(k)));
    }
    write_pcap(path, &frames);
}

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

fn start() -> Daemon {
    // the capture's clients never answer the servers' SYN-ACKs: their connections stay
    // SYN_RECV (the NIC's activity records show the SYN-ACK, no ACK), here for 4 s
    start_with("many", "[timeouts]\nsyn_recv = 4", |dir| {
        write_syns(&dir.join("clients.pcap"));
        format!(
            r#"attach = [
  "0=pcap:{d}/clients.pcap,{d}/out0.pcap",
  "1=server:10.1.0.2/24,gw=10.1.0.1",
  "1=server:10.1.0.3/24,gw=10.1.0.1",
]"#,
            d = dir.display()
        )
    })
}

/// `vsnicd --backend sim` in a fresh directory, once `vsnicadm -L` answers. `daemon` is extra
/// daemon configuration (top-level keys, then tables), `files` writes what the simulator
/// replays and returns the `[sim]` section's `attach = [...]`.
fn start_with(tag: &str, daemon: &str, files: impl FnOnce(&Path) -> String) -> Daemon {
    let dir = std::env::temp_dir().join(format!("vsnic-sim-daemon-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let attach = files(&dir);
    let config = format!(
        r#"tick_ms = 200
{daemon}

[sim]
width = 64
table_bits = 12
{attach}

[[ports]]
mac = [2, 94, 0, 0, 0, 1]
addr = "10.0.0.1"
prefix = 24

[[ports]]
mac = [2, 94, 0, 0, 1, 1]
addr = "10.1.0.1"
prefix = 24
"#
    );
    std::fs::write(dir.join("vsnicd.toml"), config).unwrap();
    let socket = dir.join("vsnicd.sock");
    let child = Command::new(env!("CARGO_BIN_EXE_vsnicd"))
        .args(["--backend", "sim", "--config"])
        .arg(dir.join("vsnicd.toml"))
        .arg("--socket")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vsnicd starts");
    let d = Daemon { child, dir, socket };
    let t0 = Instant::now();
    while vsnicadm(&d.socket, &["-L", "-n"]).status.code() != Some(0) {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "vsnicd did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    d
}

/// Connections listed by `-L -n -c`, as (client, real server).
fn listed(socket: &Path) -> Vec<(String, String)> {
    listed_with_state(socket)
        .into_iter()
        .map(|(client, real, _)| (client, real))
        .collect()
}

/// Connections listed by `-L -n -c`, as (client, real server, TCP state).
fn listed_with_state(socket: &Path) -> Vec<(String, String, String)> {
    ok(socket, &["-L", "-n", "-c"])
        .lines()
        .skip(2)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // pro expire state source virtual destination
            (f[3].to_string(), f[5].to_string(), f[2].to_string())
        })
        .collect()
}

fn stat(out: &str, name: &str) -> u64 {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{out}"))
}

#[test]
fn many_connections_through_the_simulated_nic() {
    let t0 = Instant::now();
    let d = start();
    let s = &d.socket;
    ok(s, &["-A", "-t", "10.0.0.100:80", "-s", "wrr"]);
    ok(
        s,
        &[
            "-a",
            "-t",
            "10.0.0.100:80",
            "-r",
            "10.1.0.2:80",
            "-m",
            "-w",
            "3",
        ],
    );
    ok(
        s,
        &[
            "-a",
            "-t",
            "10.0.0.100:80",
            "-r",
            "10.1.0.3:80",
            "-m",
            "-w",
            "1",
        ],
    );
    ok(s, &["--set", "3", "0", "0"]);
    assert!(
        t0.elapsed() < FIRST_SYN - Duration::from_millis(500),
        "configuring took {:?}: the capture's SYNs would arrive before the service",
        t0.elapsed()
    );

    // Every SYN becomes a connection (or a counted bucket collision). The 120 SYNs span 240 ms
    // of simulated time, but each costs the daemon host accesses the simulator clocks: on a
    // loaded 2-core machine they arrive over 2-5 s of real time, so the first may expire (4 s)
    // before the last is created. Every connection is listed at least once in its 4 s, so the
    // union of the listings is every connection; each listed one is SYN_RECV (the NIC reported
    // its SYN-ACK, and an ACK would make it ESTABLISHED).
    let mut seen = std::collections::BTreeMap::new();
    let (mut collisions, mut st) = (0, String::new());
    while t0.elapsed() < FIRST_SYN + Duration::from_secs(30) {
        for (client, real, state) in listed_with_state(s) {
            assert_eq!(state, "SYN_RECV", "{client} -> {real}");
            let was = seen.insert(client.clone(), real.clone());
            assert!(was.is_none_or(|r| r == real), "{client} moved to {real}");
        }
        st = ok(s, &["--nic-stats"]);
        collisions = stat(&st, "table_collisions");
        let created = stat(&st, "connections_created");
        if created + collisions >= CLIENTS as u64 && seen.len() as u64 >= created {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let conns: Vec<(String, String)> = seen.into_iter().collect();
    assert_eq!(
        conns.len() as u64 + collisions,
        CLIENTS as u64,
        "{} listed + {collisions} collisions\n{st}",
        conns.len()
    );
    // The table is direct-mapped; under the keyed flow hash (vsnicd keeps the simulated NIC's
    // table and so its reset key here) these structured clients (address and port stepping
    // together) collide like random keys: ~7 of 120 expected (240 entries in 4096 buckets).
    // Refusals are counted, never silent.
    assert!(collisions <= 20, "{collisions} collisions in 4096 buckets");
    let to = |rs: &str| conns.iter().filter(|(_, r)| r == rs).count();
    let (a, b) = (to("10.1.0.2:80"), to("10.1.0.3:80"));
    assert_eq!(a + b, conns.len(), "{conns:?}");
    // wrr 3:1: 90 and 30 scheduled; a collision refuses a scheduled one
    let c = collisions as usize;
    assert!(
        (90 - c..=90).contains(&a) && (30 - c.min(30)..=30).contains(&b),
        "{a} {b} with {c} collisions"
    );
    let st = ok(s, &["--nic-stats"]);
    assert_eq!(stat(&st, "connections_created"), conns.len() as u64);
    assert!(stat(&st, "sim_cycles") > 0);

    // the servers' SYN-ACKs went back through the NIC's fast path: from the VIP, to each
    // listed client, with valid checksums (the capture is written as frames leave port 0)
    let deadline = Instant::now() + Duration::from_secs(10);
    let answered = loop {
        let mut r = PcapReader::new(File::open(d.dir.join("out0.pcap")).unwrap()).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        while let Some(Ok(p)) = r.next_packet() {
            let Ok(h) = etherparse::SlicedPacket::from_ethernet(&p.data) else {
                continue;
            };
            let (Some(etherparse::NetSlice::Ipv4(ip)), Some(etherparse::TransportSlice::Tcp(t))) =
                (&h.net, &h.transport)
            else {
                continue;
            };
            if t.syn() && t.ack() && t.source_port() == 80 {
                assert_eq!(ip.header().source_addr(), Ipv4Addr::new(10, 0, 0, 100));
                let csum = t
                    .to_header()
                    .calc_checksum_ipv4(&ip.header().to_header(), t.payload())
                    .unwrap();
                assert_eq!(csum, t.checksum(), "TCP checksum of a NATed SYN-ACK");
                seen.insert(format!(
                    "{}:{}",
                    ip.header().destination_addr(),
                    t.destination_port()
                ));
            }
        }
        if seen.len() >= conns.len() || Instant::now() > deadline {
            break seen;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for (client, _) in &conns {
        assert!(answered.contains(client), "no SYN-ACK to {client}");
    }

    let st = ok(s, &["--nic-stats"]);
    assert!(
        stat(&st, "activity_reads") >= 2 * conns.len() as u64,
        "{st}"
    );
    // SYN_RECV lasts 4 s here: every connection expires, its NIC entries with it (the servers'
    // SYN-ACK retransmissions renew it, but smoltcp backs off past 4 s)
    let deadline = Instant::now() + Duration::from_secs(15);
    while !listed(s).is_empty() {
        assert!(Instant::now() < deadline, "connections did not expire");
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = ok(s, &["--nic-stats"]);
    assert_eq!(stat(&st, "connections_expired"), conns.len() as u64);
}

/// Connections the table holds in the table-full test.
const MAX_CONNS: u16 = 6;
/// Clients in the table-full test: `MAX_CONNS` first, the rest 2 s later.
const FULL_CLIENTS: u16 = 16;
/// Data segments per client and direction, replayed once both waves were handled.
const SEGMENTS: u32 = 3;
const REAL_MAC: [u8; 6] = [2, 0x53, 0, 0, 0, 2];
const P1_MAC: [u8; 6] = [2, 94, 0, 0, 1, 1];
const REAL: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);

fn data_segment(
    macs: ([u8; 6], [u8; 6]),
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    i: u32,
) -> Vec<u8> {
    let ack = TcpFlags {
        ack: true,
        ..Default::default()
    };
    let payload = [b'd'; 100];
    net::tcp_frame(macs.0, macs.1, src, dst, ack, 1 + 100 * i, &payload)
}

/// `(source, destination)` of an IPv4/TCP frame carrying 100 bytes of payload.
fn data_flow(f: &[u8]) -> Option<((Ipv4Addr, u16), (Ipv4Addr, u16))> {
    let p = etherparse::SlicedPacket::from_ethernet(f).ok()?;
    let (Some(etherparse::NetSlice::Ipv4(ip)), Some(etherparse::TransportSlice::Tcp(t))) =
        (&p.net, &p.transport)
    else {
        return None;
    };
    if t.payload().len() != 100 {
        return None;
    }
    let csum = t
        .to_header()
        .calc_checksum_ipv4(&ip.header().to_header(), t.payload())
        .ok()?;
    assert_eq!(csum, t.checksum(), "TCP checksum of a forwarded segment");
    Some((
        (ip.header().source_addr(), t.source_port()),
        (ip.header().destination_addr(), t.destination_port()),
    ))
}

#[test]
fn a_full_table_refuses_new_connections_and_keeps_forwarding_the_others() {
    let t0 = Instant::now();
    let second_wave = FIRST_SYN + Duration::from_secs(2);
    let data_at = FIRST_SYN + Duration::from_secs(4);
    let d = start_with(
        "full",
        &format!(
            r#"max_connections = {MAX_CONNS}

[[services]]
vip = "10.0.0.100:80"
scheduler = "rr"

[[services.reals]]
addr = "10.1.0.2:80"
weight = 1
method = "masq"
"#
        ),
        |dir| {
            // port 0: the clients' SYNs in two waves, then every client's data
            let mut p0 = vec![origin_frame()];
            for k in 0..FULL_CLIENTS {
                let at = if k < MAX_CONNS {
                    FIRST_SYN
                } else {
                    second_wave
                };
                p0.push((at + Duration::from_millis(2 * k as u64), syn(k)));
            }
            // port 1: the real server asks for our address (we learn its MAC) just before
            // the SYNs, and sends data to every client with the data of port 0
            let ask = net::arp_request(REAL_MAC, REAL, Ipv4Addr::new(10, 1, 0, 1));
            let mut p1 = vec![
                (Duration::ZERO, ask.clone()),
                (FIRST_SYN - Duration::from_millis(250), ask),
            ];
            for i in 0..SEGMENTS {
                for k in 0..FULL_CLIENTS {
                    let (addr, mac) = client(k);
                    let at = data_at + Duration::from_millis((i * 50 + k as u32) as u64);
                    p0.push((at, data_segment((mac, P0_MAC), addr, (VIP, 80), i)));
                    p1.push((at, data_segment((REAL_MAC, P1_MAC), (REAL, 80), addr, i)));
                }
            }
            pcap_attachments(dir, p0, p1)
        },
    );
    let s = &d.socket;
    assert!(
        t0.elapsed() < FIRST_SYN - Duration::from_millis(500),
        "starting took {:?}: the capture's SYNs would arrive before the daemon",
        t0.elapsed()
    );

    // Every SYN handled: installed, or refused and counted.
    let (mut st, mut conns) = (String::new(), Vec::new());
    let deadline = Instant::now() + data_at + Duration::from_secs(30);
    while Instant::now() < deadline {
        st = ok(s, &["--nic-stats"]);
        conns = listed(s);
        let refused = stat(&st, "table_full") + stat(&st, "table_collisions");
        if conns.len() as u64 + refused >= FULL_CLIENTS as u64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (full, collisions) = (stat(&st, "table_full"), stat(&st, "table_collisions"));
    assert_eq!(
        conns.len(),
        MAX_CONNS as usize,
        "the table is full: {conns:?}"
    );
    assert_eq!(
        full + collisions,
        (FULL_CLIENTS - MAX_CONNS) as u64,
        "every SYN past the limit refused and counted\n{st}"
    );
    assert!(full > 0, "{st}");
    assert_eq!(stat(&st, "connections_created"), MAX_CONNS as u64);
    assert!(conns.iter().all(|(_, real)| real == "10.1.0.2:80"));
    let installed: Vec<(Ipv4Addr, u16)> = conns
        .iter()
        .map(|(c, _)| {
            let a: std::net::SocketAddrV4 = c.parse().unwrap();
            (*a.ip(), a.port())
        })
        .collect();
    // (the first wave fills the table unless its buckets collide; then the second fills it)
    let first_wave = (0..MAX_CONNS).filter(|k| installed.contains(&client(*k).0));
    assert!(first_wave.count() as u64 + collisions >= MAX_CONNS as u64);

    // Then the data, both ways: the installed connections' segments go through the fast path,
    // rewritten; the refused clients' segments miss, reach the host and are dropped there.
    let total = (SEGMENTS * FULL_CLIENTS as u32) as usize;
    // the refused clients' segments, both ways: each misses and reaches the host
    let misses = 2 * SEGMENTS as u64 * (FULL_CLIENTS - MAX_CONNS) as u64;
    let (mut out0, mut out1) = (Vec::new(), Vec::new());
    while Instant::now() < deadline {
        st = ok(s, &["--nic-stats"]);
        let rx = |p: u32| stat(&st, &format!("sim_port_rx_frames{{port=\"{p}\"}}"));
        out0 = captured(&d.dir.join("out0.pcap"));
        out1 = captured(&d.dir.join("out1.pcap"));
        let forwarded = |out: &[Vec<u8>]| out.iter().filter(|f| data_flow(f).is_some()).count();
        let want = SEGMENTS as usize * MAX_CONNS as usize;
        // (a port counts a frame as it arrives; its decision is counted some cycles later, so
        // wait for the refused clients' misses too, or a snapshot can miss the last of them)
        if rx(0) as usize >= 1 + FULL_CLIENTS as usize + total
            && rx(1) as usize >= 2 + total
            && forwarded(&out0) >= want
            && forwarded(&out1) >= want
            && stat(&st, "miss") >= misses
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut to_real: Vec<_> = out1.iter().filter_map(|f| data_flow(f)).collect();
    let mut to_client: Vec<_> = out0.iter().filter_map(|f| data_flow(f)).collect();
    for c in &installed {
        let n = to_real.iter().filter(|(src, _)| src == c).count();
        assert_eq!(
            n, SEGMENTS as usize,
            "client {c:?}'s segments to the real server"
        );
        let n = to_client.iter().filter(|(_, dst)| dst == c).count();
        assert_eq!(n, SEGMENTS as usize, "the real server's segments to {c:?}");
    }
    to_real.sort();
    to_real.dedup();
    to_client.sort();
    to_client.dedup();
    assert!(to_real
        .iter()
        .all(|(src, dst)| installed.contains(src) && *dst == (REAL, 80)));
    assert!(to_client
        .iter()
        .all(|(src, dst)| *src == (VIP, 80) && installed.contains(dst)));
    assert_eq!(
        stat(&st, "miss"),
        misses,
        "only the refused clients' segments reached the host\n{st}"
    );
    // the refusals cost no table write and no re-injection
    assert_eq!(stat(&st, "table_write_errors"), 0);
    assert_eq!(stat(&st, "segments_reinjected"), 0);
    assert_eq!(listed(s).len(), MAX_CONNS as usize, "still installed");
    eprintln!(
        "table full: {MAX_CONNS} installed, {full} refused as table_full, {collisions} as bucket collisions; \
         {} + {} data segments of the installed connections forwarded by the NIC, {} of the refused clients' segments dropped by the host",
        SEGMENTS as usize * MAX_CONNS as usize,
        SEGMENTS as usize * MAX_CONNS as usize,
        stat(&st, "miss")
    );
}

/// Clients per kind in the DR + UDP test.
const FLOWS: u16 = 5;

/// A UDP datagram carrying `payload`.
fn datagram(
    macs: ([u8; 6], [u8; 6]),
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    payload: &[u8],
) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1);
    let mut f = Vec::new();
    b.write(&mut f, payload).unwrap();
    f
}

/// A datagram seen on the wire: source, destination, payload.
type Datagram = ((Ipv4Addr, u16), (Ipv4Addr, u16), Vec<u8>);

/// The [`Datagram`] of an IPv4/UDP frame, its checksums checked.
fn udp_flow(f: &[u8]) -> Option<Datagram> {
    let p = etherparse::SlicedPacket::from_ethernet(f).ok()?;
    let (Some(etherparse::NetSlice::Ipv4(ip)), Some(etherparse::TransportSlice::Udp(u))) =
        (&p.net, &p.transport)
    else {
        return None;
    };
    let h = ip.header().to_header();
    assert_eq!(h.calc_header_checksum(), h.header_checksum, "IPv4 checksum");
    let csum = u.to_header().calc_checksum_ipv4(&h, u.payload()).unwrap();
    assert_eq!(csum, u.checksum(), "UDP checksum of a rewritten datagram");
    Some((
        (ip.header().source_addr(), u.source_port()),
        (ip.header().destination_addr(), u.destination_port()),
        u.payload().to_vec(),
    ))
}

/// Client `k`'s SYN (or, `second`, its next segment with data) to the tunnelled VIP:8080.
fn tunnel_segment(k: u16, second: bool) -> Vec<u8> {
    let ((a, p), mac) = client(k);
    let flags = TcpFlags {
        syn: !second,
        ack: second,
        ..Default::default()
    };
    let data: &[u8] = if second {
        b"GET / HTTP/1.0\r\n\r\n"
    } else {
        b""
    };
    let seq = 7000 + k as u32 + second as u32;
    net::tcp_frame(mac, P0_MAC, (a, p + 2000), (VIP, 8080), flags, seq, data)
}

/// The inner packet of an IP-in-IP frame to the real server, its outer header checked.
fn decapsulated(f: &[u8]) -> Option<Vec<u8>> {
    let ip = etherparse::Ipv4Slice::from_slice(f.get(14..)?).ok()?;
    let h = ip.header().to_header();
    if h.protocol != etherparse::IpNumber::IPV4 {
        return None;
    }
    assert_eq!(
        h.calc_header_checksum(),
        h.header_checksum,
        "outer checksum"
    );
    assert_eq!((h.source, h.destination), ([10, 1, 0, 1], REAL.octets()));
    assert_eq!((&f[..6], &f[6..12]), (&REAL_MAC[..], &P1_MAC[..]));
    Some(ip.payload().payload.to_vec())
}

/// Direct routing and UDP through the simulated NIC. A DR service on VIP:80: each client's
/// SYN must leave on the real server's port with only the MACs changed (destination = the
/// real server's MAC learned by ARP, source = our port's MAC), every other byte as the client
/// sent it. A UDP service on VIP:53 (NAT): each flow's first datagram reaches the host, which
/// installs the pair and re-injects it; the flow's second datagram and the server's answer
/// take the NIC's fast path, rewritten with valid checksums. A tunnelled service on VIP:8080:
/// each client's SYN and next segment reach the host and leave encapsulated (IP-in-IP).
#[test]
fn direct_routing_and_udp_through_the_simulated_nic() {
    let t0 = Instant::now();
    let second = FIRST_SYN + Duration::from_secs(1);
    let udp_client = |k: u16| {
        let ((a, p), mac) = client(k);
        ((a, p + 1000), mac)
    };
    let d = start_with(
        "dr-udp",
        r#"
[[services]]
vip = "10.0.0.100:80"
scheduler = "rr"

[[services.reals]]
addr = "10.1.0.2:80"
weight = 1
method = "route"

[[services]]
vip = "10.0.0.100:8080"
scheduler = "rr"

[[services.reals]]
addr = "10.1.0.2:8080"
weight = 1
method = "tunnel"

[[services]]
vip = "10.0.0.100:53"
protocol = "udp"
scheduler = "rr"

[[services.reals]]
addr = "10.1.0.2:53"
weight = 1
method = "masq"
"#,
        |dir| {
            let mut p0 = vec![origin_frame()];
            let ask = net::arp_request(REAL_MAC, REAL, Ipv4Addr::new(10, 1, 0, 1));
            let mut p1 = vec![
                (Duration::ZERO, ask.clone()),
                (FIRST_SYN - Duration::from_millis(250), ask),
            ];
            for k in 0..FLOWS {
                let at = FIRST_SYN + Duration::from_millis(4 * k as u64);
                p0.push((at, syn(k)));
                let (addr, mac) = udp_client(k);
                let ms = Duration::from_millis(4 * k as u64 + 2);
                let q = |n: u8| datagram((mac, P0_MAC), addr, (VIP, 53), &[b'q', n, k as u8]);
                p0.push((FIRST_SYN + ms, q(1)));
                p0.push((second + ms, q(2)));
                let answer = datagram((REAL_MAC, P1_MAC), (REAL, 53), addr, &[b'a', k as u8]);
                p1.push((second + ms, answer));
                let ms = Duration::from_millis(4 * k as u64 + 1);
                p0.push((FIRST_SYN + ms, tunnel_segment(k, false)));
                p0.push((second + ms, tunnel_segment(k, true)));
            }
            pcap_attachments(dir, p0, p1)
        },
    );
    let s = &d.socket;
    assert!(
        t0.elapsed() < FIRST_SYN - Duration::from_millis(500),
        "starting took {:?}: the capture would arrive before the daemon",
        t0.elapsed()
    );
    let syns: Vec<Vec<u8>> = (0..FLOWS).map(syn).collect();
    let is_syn_out = |f: &Vec<u8>| syns.iter().any(|s| s[12..] == f[12..]);
    let deadline = Instant::now() + FIRST_SYN + Duration::from_secs(30);
    let (mut out0, mut out1, mut st) = (Vec::new(), Vec::new(), String::new());
    while Instant::now() < deadline {
        st = ok(s, &["--nic-stats"]);
        out0 = captured(&d.dir.join("out0.pcap"));
        out1 = captured(&d.dir.join("out1.pcap"));
        let syns_out = out1.iter().filter(|f| is_syn_out(f)).count();
        let udp_out = out1.iter().filter(|f| udp_flow(f).is_some()).count();
        let udp_back = out0.iter().filter(|f| udp_flow(f).is_some()).count();
        let tunnelled = out1.iter().filter(|f| f.get(23) == Some(&4)).count();
        if syns_out >= FLOWS as usize
            && udp_out >= 2 * FLOWS as usize
            && udp_back >= FLOWS as usize
            && tunnelled >= 2 * FLOWS as usize
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(stat(&st, "table_collisions"), 0, "{st}");
    assert_eq!(stat(&st, "connections_created"), 3 * FLOWS as u64, "{st}");

    // DR: the SYN as the client sent it, only the MACs changed, out of port 1
    for (k, want) in syns.iter().enumerate() {
        let got: Vec<&Vec<u8>> = out1.iter().filter(|f| f[12..] == want[12..]).collect();
        assert_eq!(got.len(), 1, "client {k}'s SYN on the server port");
        assert_eq!(&got[0][..6], &REAL_MAC, "to the real server's MAC");
        assert_eq!(&got[0][6..12], &P1_MAC, "from our port-1 MAC");
    }
    assert!(
        !out0.iter().any(|f| syns.iter().any(|s| s[12..] == f[12..])),
        "no SYN went back to the clients' side"
    );

    // UDP: both datagrams of each flow DNATed to the real server, its answer SNATed to the VIP
    let to_real: Vec<_> = out1.iter().filter_map(|f| udp_flow(f)).collect();
    let to_client: Vec<_> = out0.iter().filter_map(|f| udp_flow(f)).collect();
    for k in 0..FLOWS {
        let (addr, _) = udp_client(k);
        for n in [1u8, 2] {
            let q = vec![b'q', n, k as u8];
            assert!(
                to_real.contains(&(addr, (REAL, 53), q)),
                "flow {k}'s datagram {n} to the real server: {to_real:?}"
            );
        }
        assert!(
            to_client.contains(&((VIP, 53), addr, vec![b'a', k as u8])),
            "the answer to flow {k} from the VIP: {to_client:?}"
        );
    }
    // only the first datagram of each flow reached the host, the rest took the fast path;
    // the other misses are the tunnelled connections' second segments
    assert_eq!(stat(&st, "miss"), 2 * FLOWS as u64, "{st}");
    assert_eq!(stat(&st, "segments_reinjected"), 0, "{st}");
    assert_eq!(stat(&st, "udp_not_forwarded"), 0, "{st}");

    // IPIP: both segments of each tunnelled connection reached the host (no NIC entry) and
    // left on port 1 inside an outer header from our port-1 address, the inner packet intact
    let tunnelled: Vec<Vec<u8>> = out1.iter().filter_map(|f| decapsulated(f)).collect();
    for k in 0..FLOWS {
        for second in [false, true] {
            let f = tunnel_segment(k, second);
            let len = u16::from_be_bytes([f[16], f[17]]) as usize;
            let n = tunnelled
                .iter()
                .filter(|t| t[..] == f[14..14 + len])
                .count();
            assert_eq!(
                n, 1,
                "client {k}'s segment (second: {second}) tunnelled once"
            );
        }
    }
    assert_eq!(tunnelled.len(), 2 * FLOWS as usize);
    assert_eq!(stat(&st, "tunnel_sent"), 2 * FLOWS as u64, "{st}");
    assert_eq!(stat(&st, "tunnel_no_neighbour"), 0, "{st}");

    // listed: DR connections with their method, UDP ones in state UDP
    let listing = ok(s, &["-L", "-n", "-c"]);
    let rows: Vec<Vec<&str>> = listing
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let dr = rows
        .iter()
        .filter(|r| r[0] == "TCP" && r[5] == "10.1.0.2:80" && r.get(6) == Some(&"Route"))
        .count();
    let udp = rows
        .iter()
        .filter(|r| r[0] == "UDP" && r[2] == "UDP" && r[5] == "10.1.0.2:53" && r.len() == 6)
        .count();
    let tun = rows
        .iter()
        .filter(|r| r[0] == "TCP" && r[5] == "10.1.0.2:8080" && r.get(6) == Some(&"Tunnel"))
        .count();
    assert_eq!(
        (dr, udp, tun),
        (FLOWS as usize, FLOWS as usize, FLOWS as usize),
        "{listing}"
    );
}
