//! pcap in → pcap out through the simulated NIC, against a golden expectation.
//!
//! Two captures are replayed: client → VIP traffic on port 0 and real server → client traffic on
//! port 1, with a connection's two table entries installed through the register space (as the
//! daemon would). Each port's output capture must be frame for frame the golden file
//! `golden/pcap_replay.txt` (hex of every frame), and the frames the NIC could not finish (a
//! miss, ARP, a SYN, a bad IPv4 checksum) must have gone to the exception path — here dropped
//! and counted by the core, since no host serves the exception ring.
//!
//! `VSNIC_BLESS=1 cargo test -p vsnic-tests --test sim_pcap_replay` rewrites the golden file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vsnic_contract::entry::{Action, Entry};
use vsnic_contract::regs::{counters, table};
use vsnic_contract::{hash, FlowKey};
use vsnic_sim::attach::PortSpec;
use vsnic_sim::pcap::{read_frames, write_frames};
use vsnic_sim::{SimConfig, Simulator};

const CLIENT: [u8; 4] = [10, 0, 0, 2];
const VIP: [u8; 4] = [10, 0, 0, 100];
const REAL: [u8; 4] = [10, 1, 0, 2];
const CLIENT_MAC: [u8; 6] = [0x02, 0x43, 0, 0, 0, 2];
const REAL_MAC: [u8; 6] = [0x02, 0x53, 0, 0, 0, 2];
const PORT0_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 1];
const PORT1_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 1, 1];
const CPORT: u16 = 40000;
const TABLE_BITS: usize = 8;

fn ones_sum(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32)
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// An Ethernet/IPv4/TCP frame with correct checksums.
#[allow(clippy::too_many_arguments)]
fn tcp_frame(
    dmac: [u8; 6],
    smac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dmac);
    f.extend_from_slice(&smac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.0);
    ip.extend_from_slice(&dst.0);
    let c = fold(ones_sum(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&src.1.to_be_bytes());
    tcp.extend_from_slice(&dst.1.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&1000u32.to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.0);
    pseudo.extend_from_slice(&dst.0);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    let c = fold(ones_sum(&pseudo) + ones_sum(&tcp));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&tcp);
    f
}

const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const SYN: u8 = 0x02;

fn body(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// (port-0 input, port-1 input, frames expected to take the exception path).
fn inputs() -> (Vec<Vec<u8>>, Vec<Vec<u8>>, u64) {
    let to_vip = |seq, flags, p: &[u8]| {
        tcp_frame(
            PORT0_MAC,
            CLIENT_MAC,
            (CLIENT, CPORT),
            (VIP, 80),
            seq,
            flags,
            p,
        )
    };
    let from_real = |seq, flags, p: &[u8]| {
        tcp_frame(
            PORT1_MAC,
            REAL_MAC,
            (REAL, 8080),
            (CLIENT, CPORT),
            seq,
            flags,
            p,
        )
    };
    let mut bad_csum = to_vip(7, ACK, &body(10, 9));
    bad_csum[24] ^= 0x40;
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&CLIENT_MAC);
    arp.extend_from_slice(&CLIENT);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&VIP);
    arp.resize(60, 0);
    let miss = tcp_frame(
        PORT0_MAC,
        CLIENT_MAC,
        (CLIENT, CPORT + 1),
        (VIP, 80),
        5,
        ACK,
        &body(20, 1),
    );
    let port0 = vec![
        arp,
        to_vip(1, SYN, &[]),
        to_vip(2, ACK, &[]),
        to_vip(2, PSH_ACK, &body(100, 3)),
        miss,
        to_vip(102, PSH_ACK, &body(1460, 4)),
        bad_csum,
        to_vip(1562, ACK | 0x01, &[]),
    ];
    let port1 = vec![
        from_real(500, ACK, &[]),
        from_real(500, PSH_ACK, &body(333, 5)),
        from_real(833, PSH_ACK, &body(1460, 6)),
        from_real(2293, ACK | 0x01, &[]),
    ];
    // ARP, SYN, the miss and the bad checksum
    (port0, port1, 4)
}

fn install(sim: &Simulator, e: &Entry) {
    let index = hash::bucket(&e.key, TABLE_BITS as u32);
    sim.with_nic(|n| {
        for (i, w) in e.to_words().iter().enumerate() {
            n.write32(table::BASE + table::DATA0 + 4 * i as u32, *w);
        }
        n.write32(table::BASE + table::CMD, table::CMD_WRITE | index);
    });
}

fn hex(f: &[u8]) -> String {
    f.iter().map(|b| format!("{b:02x}")).collect()
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/pcap_replay.txt")
}

#[test]
fn pcap_replay_matches_golden() {
    let dir = std::env::temp_dir().join(format!("vsnic-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (in0, in1, expected_exc) = inputs();
    let ts = |i: usize| Duration::from_micros(1_000_000 + 20 * i as u64);
    write_frames(
        &dir.join("in0.pcap"),
        in0.iter().enumerate().map(|(i, f)| (ts(i), f.as_slice())),
    )
    .unwrap();
    write_frames(
        &dir.join("in1.pcap"),
        in1.iter()
            .enumerate()
            .map(|(i, f)| (ts(i) + Duration::from_micros(5), f.as_slice())),
    )
    .unwrap();

    let sim = Simulator::start(&SimConfig {
        width: 64,
        table_bits: TABLE_BITS,
        clock_hz: 156.25e6,
        ..Default::default()
    })
    .unwrap();
    let key = FlowKey {
        saddr: CLIENT,
        daddr: VIP,
        sport: CPORT,
        dport: 80,
        proto: 6,
    };
    install(
        &sim,
        &Entry {
            key,
            valid: true,
            action: Action::Dnat,
            egress_port: 1,
            nat_addr: REAL,
            nat_port: 8080,
            dmac: REAL_MAC,
            smac: PORT1_MAC,
            ..Default::default()
        },
    );
    install(
        &sim,
        &Entry {
            key: FlowKey {
                saddr: REAL,
                daddr: CLIENT,
                sport: 8080,
                dport: CPORT,
                proto: 6,
            },
            valid: true,
            action: Action::Snat,
            egress_port: 0,
            nat_addr: VIP,
            nat_port: 80,
            dmac: CLIENT_MAC,
            smac: PORT0_MAC,
            ..Default::default()
        },
    );
    let mut progress = Vec::new();
    for (port, spec) in [
        (
            0,
            format!(
                "pcap:{},{}",
                dir.join("in0.pcap").display(),
                dir.join("out0.pcap").display()
            ),
        ),
        (
            1,
            format!(
                "pcap:{},{}",
                dir.join("in1.pcap").display(),
                dir.join("out1.pcap").display()
            ),
        ),
    ] {
        let spec: PortSpec = spec.parse().unwrap();
        match spec.open(sim.waker()).unwrap() {
            vsnic_sim::portspec::Opened::Pcap(p) => {
                progress.push(p.progress.clone());
                sim.attach(port, Box::new(p)).unwrap();
            }
            _ => unreachable!(),
        }
    }
    // Replayed, and every frame out of the NIC.
    let expected_out = (in0.len() + in1.len()) as u64 - expected_exc;
    let t0 = Instant::now();
    loop {
        let s = sim.stats();
        let out: u64 = s.tx_frames.iter().sum();
        let written: u64 = progress
            .iter()
            .map(|p| p.written.load(std::sync::atomic::Ordering::Relaxed))
            .sum();
        if progress.iter().all(|p| p.replay_done()) && out >= expected_out && written >= out {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "replay stuck: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // A few more cycles for anything late, then the core's own counters.
    std::thread::sleep(Duration::from_millis(20));
    let stats = sim.stats();
    let counter = |off: u32| sim.with_nic(|n| n.read32(counters::BASE + off)) as u64;
    let (rx, fastpath, exc_frames, exc_drop) = (
        counter(counters::RX_FRAMES),
        counter(counters::FASTPATH),
        counter(counters::EXC_FRAMES),
        counter(counters::EXC_DROP),
    );
    // per port: [rx, tx, exc, exc_drop]
    let port = |p: u32| {
        [
            counters::PORT_RX,
            counters::PORT_TX,
            counters::PORT_EXC,
            counters::PORT_EXC_DROP,
        ]
        .map(|r| counter(counters::port(p, r)))
    };
    let (port0, port1) = (port(0), port(1));
    drop(sim); // closes (flushes) the output captures

    // The core's per-port counters agree with what the simulator's MACs carried.
    assert_eq!(port0[0], in0.len() as u64, "port 0 rx");
    assert_eq!(port1[0], in1.len() as u64, "port 1 rx");
    assert_eq!(
        [port0[1], port1[1]],
        [stats.tx_frames[0], stats.tx_frames[1]]
    );
    assert_eq!(port0[2] + port0[3], expected_exc, "port 0's exceptions");
    assert_eq!([port1[2], port1[3]], [0, 0], "port 1 raises none");
    assert_eq!(port0[3], exc_drop);

    assert_eq!(
        stats.tx_frames.iter().sum::<u64>(),
        expected_out,
        "{stats:?}"
    );
    assert_eq!(rx, (in0.len() + in1.len()) as u64);
    assert_eq!(fastpath, expected_out);
    // No host serves the exception ring: the core drops those frames and counts them.
    assert_eq!(exc_frames + exc_drop, expected_exc, "{stats:?}");
    assert_eq!(stats.exceptions, exc_frames);
    let out0 = read_frames(&dir.join("out0.pcap")).unwrap();
    let out1 = read_frames(&dir.join("out1.pcap")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    // What the NIC did, checked independently of the golden file.
    assert_eq!(out1.len(), in0.len() - expected_exc as usize);
    assert_eq!(out0.len(), in1.len());
    for (_, f) in &out1 {
        assert_eq!(&f[0..6], &REAL_MAC);
        assert_eq!(
            &f[30..34],
            &REAL,
            "destination rewritten to the real server"
        );
        assert_eq!(&f[36..38], &8080u16.to_be_bytes());
        assert_valid_checksums(f);
    }
    for (_, f) in &out0 {
        assert_eq!(&f[0..6], &CLIENT_MAC);
        assert_eq!(&f[26..30], &VIP, "source rewritten to the VIP");
        assert_eq!(&f[34..36], &80u16.to_be_bytes());
        assert_valid_checksums(f);
    }
    // Output timestamps are simulated time, in order.
    for out in [&out0, &out1] {
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    let mut text = String::from(
        "# vsnic: pcap replay golden output (tests/tests/sim_pcap_replay.rs); one line per frame\n",
    );
    for (port, out) in [(0, &out0), (1, &out1)] {
        for (i, (_, f)) in out.iter().enumerate() {
            text.push_str(&format!(
                "port {port} frame {i} len {} {}\n",
                f.len(),
                hex(f)
            ));
        }
    }
    if std::env::var_os("VSNIC_BLESS").is_some() {
        std::fs::create_dir_all(golden_path().parent().unwrap()).unwrap();
        std::fs::write(golden_path(), &text).unwrap();
    }
    let golden =
        std::fs::read_to_string(golden_path()).expect("golden file (create it with VSNIC_BLESS=1)");
    for (i, (g, t)) in golden.lines().zip(text.lines()).enumerate() {
        assert_eq!(g, t, "line {} differs from the golden file", i + 1);
    }
    assert_eq!(golden.lines().count(), text.lines().count(), "frame count");
}

fn assert_valid_checksums(f: &[u8]) {
    assert_eq!(fold(ones_sum(&f[14..34])), 0, "IPv4 header checksum");
    let tcp = &f[34..];
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&f[26..34]);
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    assert_eq!(fold(ones_sum(&pseudo) + ones_sum(tcp)), 0, "TCP checksum");
}
