//! The daemon on the bundled simulator, with in-process clients and servers: connections to the
//! virtual service are scheduled by the host on their SYN and then carried by the NIC's fast path.

use vsnic_contract::Reason;
use vsnic_host::demo::{self, DemoConfig, DemoReport};
use vsnic_sim::endpoint::Status;
use vsnic_sim::vcd::Window;
use vsnic_sim::{SimConfig, VcdTrace};

fn check(r: &DemoReport, cfg: &DemoConfig) {
    demo::print(r, cfg);
    // Bytes both ways, verified at both ends.
    for c in &r.clients {
        assert_eq!(c.status, Status::Done, "client {}", c.local_port);
        assert_eq!(c.bytes_sent, cfg.upload as u64);
        assert_eq!(c.bytes_received, cfg.download as u64);
        assert!(c.response_ok, "client {} got wrong bytes", c.local_port);
    }
    let sessions: Vec<_> = r.servers.iter().flat_map(|s| s.sessions.iter()).collect();
    assert_eq!(sessions.len(), cfg.clients);
    for (peer, n, ok) in &sessions {
        assert_eq!(*n, cfg.upload as u64);
        assert!(*ok, "a server received bytes no client sent");
        // NAT mode keeps the client's address: the server sees the real client
        assert_eq!(
            peer.map(|p| p.ip()),
            Some(std::net::Ipv4Addr::new(10, 0, 0, 2).into())
        );
    }
    // Round robin over the real servers.
    for s in &r.servers {
        assert_eq!(
            s.sessions.len(),
            cfg.clients / cfg.servers,
            "server {} sessions",
            s.addr
        );
    }
    // Only the first packet of each connection (and ARP) went to the host.
    let n = &r.nic;
    let syn = n.exc_reason[Reason::Syn as usize] as u64;
    assert_eq!(syn, cfg.clients as u64 + r.daemon.syn_retransmits);
    for reason in Reason::ALL {
        if !matches!(reason, Reason::Syn | Reason::NonIpv4) {
            assert_eq!(
                n.exc_reason[reason as usize],
                0,
                "unexpected {} exceptions",
                reason.name()
            );
        }
    }
    assert_eq!(n.exc_drop, 0);
    assert_eq!(r.daemon.connections_created, cfg.clients as u64);
    // everything else took the fast path: received frames = fast path + exceptions + host frames
    assert_eq!(
        n.rx_frames as u64,
        n.fastpath as u64 + n.exc_frames as u64 + r.sim.host_tx_frames
    );
    let data_frames = (cfg.upload + cfg.download) / 1460 * cfg.clients;
    assert!(
        n.fastpath as usize >= data_frames,
        "fast path {} < data frames {data_frames}",
        n.fastpath
    );
    // Every IPv4/TCP frame the NIC put on the wire has valid checksums.
    assert_eq!(r.wire_bad_checksums, 0);
    assert!(r.wire_frames[0] > 0 && r.wire_frames[1] > 0);
    // The simulator's live figures reached the control socket (what `vsnicadm --nic-stats`
    // prints): taken before the final snapshot, so never ahead of it.
    let fig = |name: &str| -> Vec<u64> {
        r.device
            .iter()
            .filter(|f| f.name == name)
            .map(|f| f.value)
            .collect()
    };
    let cycles = fig("sim_cycles_total");
    assert!(cycles.len() == 1 && cycles[0] > 0 && cycles[0] <= r.sim.cycles);
    assert!(fig("sim_cycles_per_second")[0] > 0);
    let rx = fig("sim_port_rx_frames_total");
    assert_eq!(rx.len(), 2, "one figure per port");
    assert!(rx
        .iter()
        .zip(r.sim.rx_frames)
        .all(|(a, b)| *a > 0 && *a <= b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_through_the_simulated_nic_64bit() {
    let cfg = DemoConfig {
        clients: 4,
        servers: 2,
        upload: 20_000,
        download: 30_000,
        ..Default::default()
    };
    // with waveforms of the first 3000 cycles (the ARP and SYN exchanges)
    let dir = std::env::temp_dir().join(format!("vsnic-e2e-vcd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let vcd = dir.join("core.vcd");
    let cfg = DemoConfig {
        sim: SimConfig {
            vcd: Some(VcdTrace {
                path: vcd.clone(),
                window: Window {
                    start: 0,
                    cycles: 3000,
                },
            }),
            ..cfg.sim
        },
        ..cfg
    };
    let r = demo::run(cfg.clone()).await.expect("scenario runs");
    check(&r, &cfg);
    let text = std::fs::read_to_string(&vcd).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(text.contains("$enddefinitions") && text.contains("s_valid"));
    let last: u64 = text
        .lines()
        .filter_map(|l| l.strip_prefix('#')?.parse().ok())
        .max()
        .unwrap();
    assert_eq!(
        last,
        2999 * 6400 + 3200,
        "the window ends after cycle 2999 (6.4 ns cycles)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_through_the_simulated_nic_512bit() {
    let cfg = DemoConfig {
        sim: SimConfig {
            width: 512,
            table_bits: 8,
            clock_hz: 250e6,
            ..Default::default()
        },
        clients: 2,
        servers: 2,
        upload: 5_000,
        download: 8_000,
        ..Default::default()
    };
    let r = demo::run(cfg.clone()).await.expect("scenario runs");
    check(&r, &cfg);
}
