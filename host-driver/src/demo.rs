//! The built-in scenario: the daemon on the bundled simulator with in-process hosts — clients
//! on port 0, real servers on port 1 — load-balancing TCP connections to a virtual service.
//! `vsnicd --backend sim --demo` runs it and prints what happened, then runs the FTP scenario
//! ([`crate::ftpdemo`]: passive and active mode through the FTP helper); the end-to-end tests
//! run both and assert on the reports.

use crate::backend::sim::SimBackend;
use crate::backend::DeviceFigure;
use crate::control::{self, Request, Response};
use crate::daemon::{Daemon, DaemonConfig, DaemonStats, PortConfig, RealConfig, ServiceConfig};
use crate::driver::{Driver, DriverConfig, NicCounters};
use crate::service::{ForwardMethod, Scheduler};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vsnic_sim::attach::{EndpointAttachment, Recorder};
use vsnic_sim::endpoint::{self, ClientId, Host, ServerId, Status};
use vsnic_sim::nic::SimStats;
use vsnic_sim::{SimConfig, Simulator};

/// What to run.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub sim: SimConfig,
    /// Concurrent client connections.
    pub clients: usize,
    /// Real servers behind the virtual service.
    pub servers: usize,
    /// Bytes each client uploads.
    pub upload: usize,
    /// Bytes each server answers with.
    pub download: usize,
    /// Give up after this much real time.
    pub timeout: Duration,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            sim: SimConfig::default(),
            clients: 4,
            servers: 2,
            upload: 20_000,
            download: 30_000,
            timeout: Duration::from_secs(300),
        }
    }
}

pub const VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 100), 80);
const CLIENT_NET: [u8; 3] = [10, 0, 0];
const SERVER_NET: [u8; 3] = [10, 1, 0];

/// One client connection's outcome.
#[derive(Debug, Clone)]
pub struct ClientResult {
    pub local_port: u16,
    pub status: Status,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub response_ok: bool,
}

/// One real server's view.
#[derive(Debug, Clone)]
pub struct ServerResult {
    pub addr: Ipv4Addr,
    /// (peer as the server saw it, bytes received, whether they were exactly what a client sent).
    pub sessions: Vec<(Option<std::net::SocketAddr>, u64, bool)>,
}

/// Everything the scenario observed.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub clients: Vec<ClientResult>,
    pub servers: Vec<ServerResult>,
    pub nic: NicCounters,
    pub daemon: DaemonStats,
    pub sim: SimStats,
    /// The device figures the daemon reported over the control socket (`vsnicadm --nic-stats`).
    pub device: Vec<DeviceFigure>,
    /// Frames the NIC sent on each port, and how many of the IPv4/TCP ones had a bad checksum.
    pub wire_frames: [usize; 2],
    pub wire_bad_checksums: usize,
    pub elapsed: Duration,
}

impl DemoReport {
    pub fn all_ok(&self) -> bool {
        self.clients
            .iter()
            .all(|c| c.status == Status::Done && c.response_ok)
            && self.servers.iter().flat_map(|s| &s.sessions).all(|s| s.2)
            && self.wire_bad_checksums == 0
    }
}

fn mac(last: u8, port: u8) -> [u8; 6] {
    [0x02, 0x5e, 0, 0, port, last]
}

/// Count IPv4/TCP frames whose IP or TCP checksum is wrong.
pub fn bad_checksums(frames: &[Vec<u8>]) -> usize {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let mut bad = 0;
    for f in frames {
        let Ok(p) = SlicedPacket::from_ethernet(f) else {
            continue;
        };
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            continue;
        };
        let hdr = ip.header().to_header();
        if hdr.calc_header_checksum() != hdr.header_checksum {
            bad += 1;
            continue;
        }
        if let Some(TransportSlice::Tcp(tcp)) = &p.transport {
            match tcp.to_header().calc_checksum_ipv4(&hdr, tcp.payload()) {
                Ok(c) if c == tcp.checksum() => {}
                _ => bad += 1,
            }
        }
    }
    bad
}

/// Run the scenario.
pub async fn run(cfg: DemoConfig) -> Result<DemoReport, String> {
    let started = Instant::now();
    let sim = Arc::new(Simulator::start(&cfg.sim)?);
    let now = endpoint::Instant::from_micros(0);

    // Hosts on the wire.
    let mut servers: Vec<(Ipv4Addr, Arc<Mutex<Host>>, ServerId)> = Vec::new();
    for i in 0..cfg.servers {
        let ip = Ipv4Addr::new(SERVER_NET[0], SERVER_NET[1], SERVER_NET[2], 2 + i as u8);
        let mut h = Host::new(
            [0x02, 0x53, 0, 0, 0, 2 + i as u8],
            ip,
            24,
            Some(Ipv4Addr::new(10, 1, 0, 1)),
            now,
        );
        let id = h.add_server(VIP.port(), cfg.download);
        let h = Arc::new(Mutex::new(h));
        sim.attach(1, Box::new(EndpointAttachment { host: h.clone() }))?;
        servers.push((ip, h, id));
    }
    let client_ip = Ipv4Addr::new(CLIENT_NET[0], CLIENT_NET[1], CLIENT_NET[2], 2);
    let client = Arc::new(Mutex::new(Host::new(
        [0x02, 0x43, 0, 0, 0, 2],
        client_ip,
        24,
        None,
        now,
    )));
    sim.attach(
        0,
        Box::new(EndpointAttachment {
            host: client.clone(),
        }),
    )?;
    let rec: [Recorder; 2] = Default::default();
    let wire = [rec[0].to_wire.clone(), rec[1].to_wire.clone()];
    for (p, r) in rec.into_iter().enumerate() {
        sim.attach(p, Box::new(r))?;
    }

    // The daemon, on the simulator backend.
    let backend = Arc::new(SimBackend::new(sim.clone()));
    let driver = Driver::open_with(
        backend,
        DriverConfig {
            clear_table: false,
            ..Default::default()
        },
    )
    .map_err(|e| format!("opening the simulated NIC: {e}"))?;
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let sock = std::env::temp_dir().join(format!("vsnic-demo-{}-{run}.sock", std::process::id()));
    let mut dcfg = DaemonConfig::new(vec![
        PortConfig {
            mac: mac(1, 0),
            addr: Ipv4Addr::new(10, 0, 0, 1),
            prefix: 24,
        },
        PortConfig {
            mac: mac(1, 1),
            addr: Ipv4Addr::new(10, 1, 0, 1),
            prefix: 24,
        },
    ]);
    dcfg.tick_ms = 100;
    dcfg.control_socket = Some(sock.clone());
    dcfg.services.push(ServiceConfig::tcp(
        VIP,
        Scheduler::Rr,
        servers
            .iter()
            .map(|(ip, _, _)| RealConfig {
                addr: SocketAddrV4::new(*ip, VIP.port()),
                weight: 1,
                method: ForwardMethod::Masq,
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect(),
    ));
    let daemon = Daemon::new(driver, dcfg).map_err(|e| format!("starting the daemon: {e}"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(daemon.run(async {
        let _ = stop_rx.await;
    }));

    // Clients.
    let ids: Vec<(u16, ClientId)> = {
        let mut c = client.lock().map_err(|_| "client lock")?;
        (0..cfg.clients)
            .map(|i| {
                let port = 40000 + i as u16;
                (port, c.add_client(port, VIP, cfg.upload, i as u64 + 1))
            })
            .collect()
    };
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let done = {
            let c = client.lock().map_err(|_| "client lock")?;
            ids.iter()
                .all(|(_, id)| c.client(*id).status != Status::Running)
        };
        let servers_done = servers.iter().all(|(_, h, id)| {
            h.lock()
                .map(|h| {
                    h.server(*id)
                        .sessions
                        .iter()
                        .all(|s| s.status != Status::Running)
                })
                .unwrap_or(true)
        });
        if done && servers_done {
            break;
        }
        if started.elapsed() > cfg.timeout {
            break;
        }
    }

    // Counters through the control socket, as vsnicadm reads them.
    let s2 = sock.clone();
    let resp = tokio::task::spawn_blocking(move || control::call(&s2, &Request::Counters))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("control socket: {e}"))?;
    let Response::Counters {
        nic,
        daemon,
        device,
    } = resp
    else {
        return Err(format!("unexpected control response {resp:?}"));
    };
    let _ = stop_tx.send(());
    task.await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("daemon: {e}"))?;
    let _ = std::fs::remove_file(&sock);

    // Read the simulator before taking any host lock: its runner holds the simulator while it
    // polls the hosts, so the opposite order could deadlock.
    let sim_stats = sim.stats();
    let c = client.lock().map_err(|_| "client lock")?;
    let clients = ids
        .iter()
        .map(|(port, id)| {
            let r = c.client(*id);
            ClientResult {
                local_port: *port,
                status: r.status,
                bytes_sent: r.bytes_sent as u64,
                bytes_received: r.bytes_received as u64,
                response_ok: r.response_ok(cfg.download),
            }
        })
        .collect();
    let upload_hashes: Vec<u64> = (0..cfg.clients)
        .map(|i| endpoint::pattern_hash(i as u64 + 1, cfg.upload))
        .collect();
    let servers = servers
        .iter()
        .map(|(ip, h, id)| {
            let h = h.lock().expect("server lock");
            ServerResult {
                addr: *ip,
                sessions: h
                    .server(*id)
                    .sessions
                    .iter()
                    .map(|s| {
                        (
                            s.peer,
                            s.bytes_received as u64,
                            upload_hashes.contains(&s.rx_hash),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let frames: [Vec<Vec<u8>>; 2] = [
        wire[0].lock().expect("rec").clone(),
        wire[1].lock().expect("rec").clone(),
    ];
    Ok(DemoReport {
        clients,
        servers,
        nic: *nic,
        daemon: *daemon,
        sim: sim_stats,
        device,
        wire_frames: [frames[0].len(), frames[1].len()],
        wire_bad_checksums: bad_checksums(&frames[0]) + bad_checksums(&frames[1]),
        elapsed: started.elapsed(),
    })
}

/// Print a report for people.
pub fn print(r: &DemoReport, cfg: &DemoConfig) {
    println!("vsnic demo: {} client connections to VIP {VIP} over {} real servers, on the simulated NIC ({}-bit core)", cfg.clients, cfg.servers, cfg.sim.width);
    for c in &r.clients {
        println!(
            "  client 10.0.0.2:{:<5} {:?}: sent {} B, received {} B ({})",
            c.local_port,
            c.status,
            c.bytes_sent,
            c.bytes_received,
            if c.response_ok { "verified" } else { "WRONG" }
        );
    }
    for s in &r.servers {
        for (peer, n, ok) in &s.sessions {
            let peer = peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            println!(
                "  server {}:80 served {peer}: {n} B in ({})",
                s.addr,
                if *ok { "verified" } else { "WRONG" }
            );
        }
    }
    let n = &r.nic;
    println!(
        "NIC counters: rx {} frames, tx {}, fast path {}, exceptions {} (dropped {})",
        n.rx_frames, n.tx_frames, n.fastpath, n.exc_frames, n.exc_drop
    );
    let reasons: Vec<String> = vsnic_contract::Reason::ALL
        .iter()
        .filter(|r| n.exc_reason[**r as usize] > 0)
        .map(|r| format!("{} {}", r.name(), n.exc_reason[*r as usize]))
        .collect();
    println!(
        "  exceptions by reason: {}",
        if reasons.is_empty() {
            "none".into()
        } else {
            reasons.join(", ")
        }
    );
    let d = &r.daemon;
    println!(
        "daemon: {} connections installed, {} ARP replies, {} ARP requests, {} SYN retransmits, {} collisions",
        d.connections_created, d.arp_replies_sent, d.arp_requests_sent, d.syn_retransmits, d.table_collisions
    );
    let busy = r.sim.clocking_time.as_secs_f64();
    println!(
        "simulator: {} cycles ({:.0} cycles/s while clocking), {} exceptions DMA'd, {} host frames injected, {} interrupts; wire: {} + {} frames, {} bad checksums",
        r.sim.cycles,
        if busy > 0.0 { r.sim.cycles as f64 / busy } else { 0.0 },
        r.sim.exceptions, r.sim.host_tx_frames, r.sim.irqs, r.wire_frames[0], r.wire_frames[1], r.wire_bad_checksums
    );
    println!(
        "result: {} in {:.1} s",
        if r.all_ok() { "OK" } else { "FAILED" },
        r.elapsed.as_secs_f64()
    );
}
