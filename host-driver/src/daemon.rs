//! The daemon: the control plane of the NIC load balancer.
//!
//! The NIC forwards established connections on its own; everything else comes to us as an
//! exception. The event loop ([`Daemon::run`]) waits for the exception interrupt, a periodic tick,
//! a control-socket request or shutdown. Each exception is handled synchronously
//! ([`Daemon::handle_exception`]):
//!
//! * ARP request for one of our port addresses or a VIP → ARP reply out of the arrival port.
//! * ARP reply → learn the neighbour; SYNs parked waiting for it are released.
//! * TCP SYN (no ACK) to a VIP:port → schedule a real server, and once its MAC is known install
//!   the connection's two NIC entries and re-inject the SYN for the NIC to rewrite. An unknown MAC
//!   parks the SYN (bounded) and sends an ARP request. A retransmitted SYN for an existing
//!   connection is simply re-injected.
//! * Anything else is counted by reason and dropped.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use vsnic_contract::exception::NUM_REASONS;

use crate::backend::NicBackend;
use crate::conn::{ConnError, ConnTable, Connection, Side};
use crate::control::{self, ControlMsg, Request, Response};
use crate::driver::{Driver, DriverError, ExceptionFrame, TxMode};
use crate::net::{self, Arp, ArpOp, Mac, MacFmt, Tcp, L3};
use crate::service::{ForwardMethod, Scheduler, ServiceError, Services};

/// Exceptions taken from the ring per batch.
const POLL_BATCH: usize = 64;

/// One NIC port: our MAC and address on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortConfig {
    pub mac: Mac,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealConfig {
    pub addr: SocketAddrV4,
    pub weight: u32,
    #[serde(default)]
    pub method: ForwardMethod,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    pub vip: SocketAddrV4,
    #[serde(default)]
    pub scheduler: Scheduler,
    #[serde(default)]
    pub reals: Vec<RealConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonConfig {
    /// Port `i` of the NIC is `ports[i]`.
    pub ports: Vec<PortConfig>,
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// Where to serve the control socket (none: no control socket).
    #[serde(default)]
    pub control_socket: Option<PathBuf>,
    /// Period of the housekeeping tick.
    #[serde(default = "defaults::tick_ms")]
    pub tick_ms: u64,
    /// SYNs waiting for ARP, at most.
    #[serde(default = "defaults::max_parked")]
    pub max_parked: usize,
    /// A parked SYN older than this is dropped.
    #[serde(default = "defaults::park_timeout_ms")]
    pub park_timeout_ms: u64,
}

mod defaults {
    pub fn tick_ms() -> u64 {
        1000
    }
    pub fn max_parked() -> usize {
        256
    }
    pub fn park_timeout_ms() -> u64 {
        3000
    }
}

impl DaemonConfig {
    pub fn new(ports: Vec<PortConfig>) -> DaemonConfig {
        DaemonConfig {
            ports,
            services: Vec::new(),
            control_socket: None,
            tick_ms: defaults::tick_ms(),
            max_parked: defaults::max_parked(),
            park_timeout_ms: defaults::park_timeout_ms(),
        }
    }
}

/// What the daemon did, for `vsnicadm` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonStats {
    /// Exceptions received, by reason code.
    pub exceptions: [u64; NUM_REASONS],
    /// Exceptions that did not parse.
    pub malformed: u64,
    /// Exceptions that parsed but were not for us (counted here after `exceptions`).
    pub ignored: u64,
    pub arp_replies_sent: u64,
    pub arp_requests_sent: u64,
    pub neighbours_learned: u64,
    pub connections_created: u64,
    /// New connections refused because a table bucket was taken.
    pub table_collisions: u64,
    /// SYNs re-injected for an existing connection (retransmissions).
    pub syn_retransmits: u64,
    pub syn_parked: u64,
    /// SYNs dropped because the park queue was full.
    pub syn_park_full_drops: u64,
    /// Parked SYNs dropped because ARP did not answer in time.
    pub syn_park_expired: u64,
    /// SYNs for a service without a usable (weight > 0) real server.
    pub syn_no_real_server: u64,
    /// SYNs whose real server is on no port's subnet.
    pub syn_no_route: u64,
    pub tx_errors: u64,
    pub table_write_errors: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("config: {0}")]
    Config(String),
    #[error("control socket {path}: {source}")]
    Control {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Neighbour {
    mac: Mac,
    port: u8,
}

/// A SYN whose connection waits for the real server's MAC.
#[derive(Debug, Clone)]
struct Pending {
    frame: Vec<u8>,
    client: SocketAddrV4,
    vip: SocketAddrV4,
    real: SocketAddrV4,
    client_port: u8,
    client_mac: Mac,
    server_port: u8,
    since: Instant,
}

pub struct Daemon<B: NicBackend> {
    driver: Driver<B>,
    cfg: DaemonConfig,
    services: Services,
    conns: ConnTable,
    neighbours: HashMap<Ipv4Addr, Neighbour>,
    parked: VecDeque<Pending>,
    stats: DaemonStats,
}

impl<B: NicBackend> Daemon<B> {
    /// A daemon over an opened device. Checks the ports against the device and adds the
    /// configured services.
    pub fn new(driver: Driver<B>, cfg: DaemonConfig) -> Result<Self, DaemonError> {
        let num_ports = driver.info().num_ports as usize;
        if cfg.ports.is_empty() || cfg.ports.len() > num_ports {
            return Err(DaemonError::Config(format!(
                "{} ports configured, the device has {num_ports}",
                cfg.ports.len()
            )));
        }
        if let Some(p) = cfg.ports.iter().find(|p| p.prefix > 32) {
            return Err(DaemonError::Config(format!(
                "port {}: prefix /{} is not IPv4",
                p.addr, p.prefix
            )));
        }
        let mut services = Services::new();
        let config_err = |e: ServiceError| DaemonError::Config(e.to_string());
        for s in &cfg.services {
            services
                .add_service(s.vip, s.scheduler)
                .map_err(config_err)?;
            for r in &s.reals {
                services
                    .add_real(s.vip, r.addr, r.weight, r.method)
                    .map_err(config_err)?;
            }
        }
        let conns = ConnTable::new(driver.info().table_index_bits);
        Ok(Daemon {
            driver,
            cfg,
            services,
            conns,
            neighbours: HashMap::new(),
            parked: VecDeque::new(),
            stats: DaemonStats::default(),
        })
    }

    pub fn stats(&self) -> &DaemonStats {
        &self.stats
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    pub fn services_mut(&mut self) -> &mut Services {
        &mut self.services
    }

    pub fn connections(&self) -> &ConnTable {
        &self.conns
    }

    pub fn driver(&self) -> &Driver<B> {
        &self.driver
    }

    pub fn driver_mut(&mut self) -> &mut Driver<B> {
        &mut self.driver
    }

    /// The MAC learned for `ip`, if any.
    pub fn neighbour(&self, ip: Ipv4Addr) -> Option<Mac> {
        self.neighbours.get(&ip).map(|n| n.mac)
    }

    /// SYNs currently waiting for ARP.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    /// Serve until `shutdown` completes (or the device fails).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let backend = self.driver.backend().clone();
        let (req_tx, mut req_rx) = mpsc::channel::<ControlMsg>(16);
        let server = match self.cfg.control_socket.clone() {
            Some(path) => {
                let listener = control::bind(&path).map_err(|source| DaemonError::Control {
                    path: path.clone(),
                    source,
                })?;
                info!(path = %path.display(), "control socket ready");
                Some((path, tokio::spawn(control::serve(listener, req_tx))))
            }
            None => None,
        };
        let mut tick = tokio::time::interval(Duration::from_millis(self.cfg.tick_ms.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);

        let result = loop {
            let step = tokio::select! {
                _ = &mut shutdown => break Ok(()),
                irq = backend.wait_irq() => match irq {
                    Ok(()) => self.poll().map(drop),
                    Err(e) => Err(DriverError::from(e)),
                },
                _ = tick.tick() => {
                    self.tick(Instant::now());
                    // Also a safety net should an interrupt ever be lost.
                    self.poll().map(drop)
                }
                Some(msg) = req_rx.recv() => {
                    let response = self.handle_request(msg.request);
                    let _ = msg.reply.send(response); // the client may have gone away
                    Ok(())
                }
            };
            if let Err(e) = step {
                break Err(e.into());
            }
        };

        if let Some((path, task)) = server {
            task.abort();
            let _ = std::fs::remove_file(path);
        }
        result
    }

    /// Drain the exception ring, handling every frame. Returns how many were handled.
    pub fn poll(&mut self) -> Result<usize, DriverError> {
        let mut total = 0;
        loop {
            let batch = self.driver.poll_exceptions(POLL_BATCH)?;
            let n = batch.len();
            for exc in batch {
                self.handle_exception(exc);
            }
            total += n;
            if n < POLL_BATCH {
                return Ok(total);
            }
        }
    }

    /// Housekeeping: expire SYNs that waited too long for ARP and ask again for the rest.
    pub fn tick(&mut self, now: Instant) {
        let timeout = Duration::from_millis(self.cfg.park_timeout_ms);
        let before = self.parked.len();
        self.parked
            .retain(|p| now.saturating_duration_since(p.since) < timeout);
        let expired = before - self.parked.len();
        if expired > 0 {
            self.stats.syn_park_expired += expired as u64;
            debug!(expired, "parked SYNs expired without an ARP reply");
        }
        let mut asked: Vec<Ipv4Addr> = Vec::new();
        let waiting: Vec<(Ipv4Addr, u8)> = self
            .parked
            .iter()
            .map(|p| (*p.real.ip(), p.server_port))
            .collect();
        for (ip, port) in waiting {
            if !asked.contains(&ip) {
                asked.push(ip);
                self.send_arp_request(port, ip);
            }
        }
    }

    /// Handle one frame the NIC sent us.
    pub fn handle_exception(&mut self, exc: ExceptionFrame) {
        self.stats.exceptions[exc.reason as usize] += 1;
        let parsed = match net::parse(&exc.frame) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                debug!(reason = exc.reason.name(), port = exc.src_port, error = %e, "malformed exception frame");
                return;
            }
        };
        if exc.src_port as usize >= self.cfg.ports.len() {
            self.stats.ignored += 1;
            debug!(port = exc.src_port, "exception from an unconfigured port");
            return;
        }
        match parsed.l3 {
            L3::Arp(arp) => self.handle_arp(exc.src_port, &arp),
            L3::Tcp(tcp) if tcp.flags.syn && !tcp.flags.ack => {
                self.handle_syn(exc.frame, exc.src_port, parsed.eth_src, &tcp)
            }
            other => {
                self.stats.ignored += 1;
                debug!(reason = exc.reason.name(), port = exc.src_port, frame = ?other, "exception dropped");
            }
        }
    }

    fn handle_arp(&mut self, port: u8, arp: &Arp) {
        let ours = self.cfg.ports[port as usize];
        match arp.op {
            ArpOp::Request if arp.target_ip == ours.addr || self.services.is_vip(arp.target_ip) => {
                // Someone who talks to us will be talked to: learn it while we are at it.
                self.learn(port, arp.sender_ip, arp.sender_mac);
                let reply = net::arp_reply(arp, ours.mac);
                if self.send(&reply, TxMode::Bypass { port }) {
                    self.stats.arp_replies_sent += 1;
                }
            }
            ArpOp::Reply => self.learn(port, arp.sender_ip, arp.sender_mac),
            ArpOp::Request => self.stats.ignored += 1,
        }
    }

    /// Record `ip` at `mac` behind `port` if it is on that port's subnet, then release the SYNs
    /// waiting for it.
    fn learn(&mut self, port: u8, ip: Ipv4Addr, mac: Mac) {
        let p = self.cfg.ports[port as usize];
        let unicast = mac[0] & 1 == 0 && mac != [0; 6];
        if !unicast || ip.is_unspecified() || ip == p.addr || !net::in_subnet(ip, p.addr, p.prefix)
        {
            debug!(%ip, mac = %MacFmt(&mac), port, "not learning neighbour");
            return;
        }
        let n = Neighbour { mac, port };
        if self.neighbours.insert(ip, n) != Some(n) {
            self.stats.neighbours_learned += 1;
            debug!(%ip, mac = %MacFmt(&mac), port, "neighbour learned");
        }
        let (ready, waiting): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.parked)
            .into_iter()
            .partition(|p| *p.real.ip() == ip);
        self.parked = waiting;
        for p in ready {
            self.install(p, mac);
        }
    }

    fn handle_syn(&mut self, frame: Vec<u8>, port: u8, eth_src: Mac, tcp: &Tcp) {
        let client = SocketAddrV4::new(tcp.src, tcp.sport);
        let vip = SocketAddrV4::new(tcp.dst, tcp.dport);
        if !self.services.contains(vip) {
            self.stats.ignored += 1;
            return;
        }
        if self.conns.get(client, vip).is_some() {
            // A retransmission: the entries exist, the NIC only needs the frame again.
            self.stats.syn_retransmits += 1;
            self.send(&frame, TxMode::Lookup { port });
            return;
        }
        if let Some(p) = self
            .parked
            .iter_mut()
            .find(|p| p.client == client && p.vip == vip)
        {
            p.frame = frame; // a retransmission while waiting for ARP: keep the newest
            self.stats.syn_retransmits += 1;
            return;
        }
        let Some(real) = self.services.schedule(vip) else {
            self.stats.syn_no_real_server += 1;
            debug!(%vip, "no real server available");
            return;
        };
        let Some(server_port) = self.port_for(*real.ip()) else {
            self.stats.syn_no_route += 1;
            warn!(%real, "real server is on no port's subnet");
            return;
        };
        let pending = Pending {
            frame,
            client,
            vip,
            real,
            client_port: port,
            client_mac: eth_src,
            server_port,
            since: Instant::now(),
        };
        match self.neighbours.get(real.ip()) {
            Some(n) => {
                let mac = n.mac;
                self.install(pending, mac)
            }
            None => self.park(pending),
        }
    }

    fn park(&mut self, p: Pending) {
        if self.parked.len() >= self.cfg.max_parked {
            self.stats.syn_park_full_drops += 1;
            debug!(client = %p.client, "park queue full, SYN dropped");
            return;
        }
        let ask = !self.parked.iter().any(|q| q.real.ip() == p.real.ip());
        let (port, ip) = (p.server_port, *p.real.ip());
        self.parked.push_back(p);
        self.stats.syn_parked += 1;
        if ask {
            self.send_arp_request(port, ip);
        }
    }

    /// Install both entries of the connection and re-inject its SYN.
    fn install(&mut self, p: Pending, real_mac: Mac) {
        let client_side = Side {
            port: p.client_port,
            our_mac: self.cfg.ports[p.client_port as usize].mac,
            next_hop_mac: p.client_mac,
        };
        let server_side = Side {
            port: p.server_port,
            our_mac: self.cfg.ports[p.server_port as usize].mac,
            next_hop_mac: real_mac,
        };
        let c = Connection::new(
            p.client,
            p.vip,
            p.real,
            client_side,
            server_side,
            self.conns.index_bits(),
        );
        match self.conns.check(&c) {
            Ok(()) => {}
            Err(ConnError::Exists { .. }) => {
                self.stats.syn_retransmits += 1;
                self.send(
                    &p.frame,
                    TxMode::Lookup {
                        port: p.client_port,
                    },
                );
                return;
            }
            Err(e @ ConnError::Collision { .. }) => {
                self.stats.table_collisions = self.conns.collisions();
                info!(client = %c.client, vip = %c.vip, real = %c.real, "connection refused: {e}");
                return;
            }
        }
        // Return path first: once the client's frames are rewritten, the replies must be too.
        let written = self
            .driver
            .write_entry(c.out_bucket, &c.out_entry)
            .and_then(|()| self.driver.write_entry(c.in_bucket, &c.in_entry));
        if let Err(e) = written {
            self.stats.table_write_errors += 1;
            warn!(error = %e, "table write failed, connection dropped");
            let _ = self.driver.clear_entry(c.out_bucket);
            let _ = self.driver.clear_entry(c.in_bucket);
            return;
        }
        debug!(client = %c.client, vip = %c.vip, real = %c.real, c.in_bucket, c.out_bucket, "connection installed");
        self.services.conn_opened(c.vip, c.real);
        if self.conns.insert(c).is_ok() {
            self.stats.connections_created += 1;
        }
        self.send(
            &p.frame,
            TxMode::Lookup {
                port: p.client_port,
            },
        );
    }

    /// The port whose subnet holds `ip`.
    fn port_for(&self, ip: Ipv4Addr) -> Option<u8> {
        self.cfg
            .ports
            .iter()
            .position(|p| net::in_subnet(ip, p.addr, p.prefix))
            .map(|i| i as u8)
    }

    fn send_arp_request(&mut self, port: u8, ip: Ipv4Addr) {
        let ours = self.cfg.ports[port as usize];
        let req = net::arp_request(ours.mac, ours.addr, ip);
        if self.send(&req, TxMode::Bypass { port }) {
            self.stats.arp_requests_sent += 1;
        }
    }

    fn send(&mut self, frame: &[u8], mode: TxMode) -> bool {
        match self.driver.transmit(frame, mode) {
            Ok(()) => true,
            Err(e) => {
                self.stats.tx_errors += 1;
                warn!(error = %e, ?mode, "transmit failed");
                false
            }
        }
    }

    /// Answer one control request.
    pub fn handle_request(&mut self, req: Request) -> Response {
        let result = match req {
            Request::AddService {
                vip,
                port,
                scheduler,
            } => Scheduler::parse(&scheduler)
                .and_then(|s| self.services.add_service(SocketAddrV4::new(vip, port), s))
                .map(|()| Response::Ok),
            Request::AddReal {
                vip,
                port,
                rip,
                rport,
                weight,
                method,
            } => self
                .services
                .add_real(
                    SocketAddrV4::new(vip, port),
                    SocketAddrV4::new(rip, rport),
                    weight,
                    method,
                )
                .map(|()| Response::Ok),
            Request::List => Ok(Response::Services {
                table_size: self.driver.info().table_size(),
                services: self.services.list(),
            }),
            Request::Connections => Ok(Response::Connections {
                connections: self.conns.list(),
            }),
            Request::Counters => {
                return match self.driver.counters() {
                    Ok(nic) => Response::Counters {
                        nic: Box::new(nic),
                        daemon: Box::new(self.stats.clone()),
                    },
                    Err(e) => Response::Error {
                        message: e.to_string(),
                    },
                }
            }
        };
        result.unwrap_or_else(|e| Response::Error {
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::{FakeConfig, FakeNic, TxFrame};
    use crate::net::{Parsed, TcpFlags, BROADCAST};
    use std::sync::Arc;
    use vsnic_contract::{hash, Action, Entry, FlowKey, Reason};

    const P0_MAC: Mac = [2, 0, 0, 0, 0, 1];
    const P1_MAC: Mac = [2, 0, 0, 0, 1, 1];
    const CLIENT_MAC: Mac = [2, 0, 0, 0, 0, 0x10];
    const RS_MAC: Mac = [2, 0, 0, 0, 1, 0x20];
    const SYN: TcpFlags = TcpFlags {
        syn: true,
        ack: false,
        fin: false,
        rst: false,
    };
    const BITS: u32 = 12;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }
    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    fn config() -> DaemonConfig {
        let mut cfg = DaemonConfig::new(vec![
            PortConfig {
                mac: P0_MAC,
                addr: ip("10.0.0.1"),
                prefix: 24,
            },
            PortConfig {
                mac: P1_MAC,
                addr: ip("10.1.0.1"),
                prefix: 24,
            },
        ]);
        cfg.services.push(ServiceConfig {
            vip: sa("10.0.0.100:80"),
            scheduler: Scheduler::Rr,
            reals: vec![RealConfig {
                addr: sa("10.1.0.2:8080"),
                weight: 1,
                method: ForwardMethod::Masq,
            }],
        });
        cfg
    }

    fn setup(cfg: DaemonConfig) -> (Arc<FakeNic>, Daemon<FakeNic>) {
        let nic = Arc::new(FakeNic::new(FakeConfig {
            table_index_bits: BITS,
            ..Default::default()
        }));
        let driver = Driver::open(nic.clone()).unwrap();
        (nic, Daemon::new(driver, cfg).unwrap())
    }

    fn exc(frame: Vec<u8>, reason: Reason, port: u8) -> ExceptionFrame {
        ExceptionFrame {
            frame,
            reason,
            src_port: port,
            hit: false,
            index: 0,
        }
    }

    fn syn(client: &str) -> Vec<u8> {
        let c = sa(client);
        net::tcp_frame(
            CLIENT_MAC,
            P0_MAC,
            (*c.ip(), c.port()),
            (ip("10.0.0.100"), 80),
            SYN,
            1,
            &[],
        )
    }

    fn arp(tx: &TxFrame) -> Arp {
        match net::parse(&tx.frame).unwrap() {
            Parsed { l3: L3::Arp(a), .. } => a,
            p => panic!("not ARP: {p:?}"),
        }
    }

    #[test]
    fn arp_request_for_vip_and_port_address_is_answered() {
        let (nic, mut d) = setup(config());
        for (target, port, mac) in [
            ("10.0.0.100", 0, P0_MAC),
            ("10.0.0.1", 0, P0_MAC),
            ("10.1.0.1", 1, P1_MAC),
        ] {
            let req = net::arp_request(CLIENT_MAC, ip("10.0.0.2"), ip(target));
            d.handle_exception(exc(req, Reason::NonIpv4, port));
            let tx = nic.take_tx();
            assert_eq!(tx.len(), 1, "{target}");
            assert_eq!((tx[0].port, tx[0].bypass), (port, true));
            let a = arp(&tx[0]);
            assert_eq!(a.op, ArpOp::Reply);
            assert_eq!((a.sender_ip, a.sender_mac), (ip(target), mac));
            assert_eq!((a.target_ip, a.target_mac), (ip("10.0.0.2"), CLIENT_MAC));
            assert_eq!(&tx[0].frame[..6], &CLIENT_MAC);
        }
        // not ours: silence
        let req = net::arp_request(CLIENT_MAC, ip("10.0.0.2"), ip("10.0.0.7"));
        d.handle_exception(exc(req, Reason::NonIpv4, 0));
        assert!(nic.take_tx().is_empty());
        assert_eq!(d.stats().arp_replies_sent, 3);
        assert_eq!(d.stats().exceptions[Reason::NonIpv4 as usize], 4);
    }

    #[test]
    fn syn_arps_for_the_real_server_then_installs_and_reinjects() {
        let (nic, mut d) = setup(config());
        let syn_frame = syn("10.0.0.2:40000");
        d.handle_exception(exc(syn_frame.clone(), Reason::Syn, 0));

        // ARP request for the RS out of the server-side port
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 1);
        assert_eq!((tx[0].port, tx[0].bypass), (1, true));
        assert_eq!(&tx[0].frame[..6], &BROADCAST);
        let a = arp(&tx[0]);
        assert_eq!(a.op, ArpOp::Request);
        assert_eq!(
            (a.sender_mac, a.sender_ip, a.target_ip),
            (P1_MAC, ip("10.1.0.1"), ip("10.1.0.2"))
        );
        assert_eq!(d.parked(), 1);
        assert!(nic.valid_buckets().is_empty());

        // the reply installs the connection
        let reply = net::arp_reply(&a, RS_MAC);
        d.handle_exception(exc(reply, Reason::NonIpv4, 1));
        assert_eq!(d.parked(), 0);
        assert_eq!(d.neighbour(ip("10.1.0.2")), Some(RS_MAC));

        let in_key = FlowKey {
            saddr: [10, 0, 0, 2],
            daddr: [10, 0, 0, 100],
            sport: 40000,
            dport: 80,
            proto: 6,
        };
        let out_key = FlowKey {
            saddr: [10, 1, 0, 2],
            daddr: [10, 0, 0, 2],
            sport: 8080,
            dport: 40000,
            proto: 6,
        };
        let in_bucket = hash::bucket(&in_key, BITS);
        let out_bucket = hash::bucket(&out_key, BITS);
        let mut buckets = vec![in_bucket, out_bucket];
        buckets.sort();
        assert_eq!(nic.valid_buckets(), buckets);

        let e_in = Entry::from_words(&nic.table_words(in_bucket)).unwrap();
        assert_eq!(
            e_in,
            Entry {
                key: in_key,
                valid: true,
                action: Action::Dnat,
                egress_port: 1,
                nat_addr: [10, 1, 0, 2],
                nat_port: 8080,
                dmac: RS_MAC,
                smac: P1_MAC,
            }
        );
        let e_out = Entry::from_words(&nic.table_words(out_bucket)).unwrap();
        assert_eq!(
            e_out,
            Entry {
                key: out_key,
                valid: true,
                action: Action::Snat,
                egress_port: 0,
                nat_addr: [10, 0, 0, 100],
                nat_port: 80,
                dmac: CLIENT_MAC,
                smac: P0_MAC,
            }
        );
        // ... and the driver reads the same back
        assert_eq!(d.driver_mut().read_entry(in_bucket).unwrap(), e_in);

        // the SYN is re-injected for the NIC to rewrite
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 1);
        assert_eq!(
            (tx[0].port, tx[0].bypass, &tx[0].frame),
            (0, false, &syn_frame)
        );

        let c = d
            .connections()
            .get(sa("10.0.0.2:40000"), sa("10.0.0.100:80"))
            .unwrap();
        assert_eq!(
            (c.real, c.in_bucket, c.out_bucket),
            (sa("10.1.0.2:8080"), in_bucket, out_bucket)
        );
        assert_eq!(d.stats().connections_created, 1);
        assert_eq!(d.services().list()[0].reals[0].active_conns, 1);

        // a retransmitted SYN is only re-injected
        d.handle_exception(exc(syn_frame.clone(), Reason::Syn, 0));
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 1);
        assert_eq!((tx[0].bypass, &tx[0].frame), (false, &syn_frame));
        assert_eq!(d.connections().len(), 1);
        assert_eq!(d.stats().connections_created, 1);
        assert_eq!(d.stats().syn_retransmits, 1);
        assert_eq!(nic.valid_buckets().len(), 2);
    }

    #[test]
    fn retransmitted_syn_while_parked_is_not_scheduled_twice() {
        let (nic, mut d) = setup(config());
        d.handle_exception(exc(syn("10.0.0.2:40000"), Reason::Syn, 0));
        d.handle_exception(exc(syn("10.0.0.2:40000"), Reason::Syn, 0));
        assert_eq!(nic.take_tx().len(), 1, "one ARP request");
        assert_eq!(d.parked(), 1);
        // another client for the same RS waits too, without another ARP request
        d.handle_exception(exc(syn("10.0.0.3:40000"), Reason::Syn, 0));
        assert!(nic.take_tx().is_empty());
        assert_eq!(d.parked(), 2);
        let reply = net::arp_reply(
            &Arp {
                op: ArpOp::Request,
                sender_mac: P1_MAC,
                sender_ip: ip("10.1.0.1"),
                target_mac: [0; 6],
                target_ip: ip("10.1.0.2"),
            },
            RS_MAC,
        );
        d.handle_exception(exc(reply, Reason::NonIpv4, 1));
        assert_eq!(d.connections().len(), 2);
        assert_eq!(nic.take_tx().iter().filter(|t| !t.bypass).count(), 2);
        assert_eq!(d.stats().syn_retransmits, 1);
    }

    #[test]
    fn colliding_connection_is_refused_and_counted() {
        let (nic, mut d) = setup(config());
        // learn the RS first so connections install at once
        let reply = net::arp_reply(
            &Arp {
                op: ArpOp::Request,
                sender_mac: P1_MAC,
                sender_ip: ip("10.1.0.1"),
                target_mac: [0; 6],
                target_ip: ip("10.1.0.2"),
            },
            RS_MAC,
        );
        d.handle_exception(exc(reply, Reason::NonIpv4, 1));
        d.handle_exception(exc(syn("10.0.0.2:40000"), Reason::Syn, 0));
        let first = d
            .connections()
            .get(sa("10.0.0.2:40000"), sa("10.0.0.100:80"))
            .unwrap()
            .clone();
        let words_before = (
            nic.table_words(first.in_bucket),
            nic.table_words(first.out_bucket),
        );

        // find another client port whose entries land on one of the first connection's buckets
        let vip = sa("10.0.0.100:80");
        let real = sa("10.1.0.2:8080");
        let colliding = (1024..u16::MAX)
            .map(|p| SocketAddrV4::new(ip("10.0.0.2"), p))
            .find(|&c| {
                let k_in = FlowKey {
                    saddr: c.ip().octets(),
                    daddr: vip.ip().octets(),
                    sport: c.port(),
                    dport: 80,
                    proto: 6,
                };
                let b_in = hash::bucket(&k_in, BITS);
                let k_out = FlowKey {
                    saddr: real.ip().octets(),
                    daddr: c.ip().octets(),
                    sport: 8080,
                    dport: c.port(),
                    proto: 6,
                };
                let b_out = hash::bucket(&k_out, BITS);
                [b_in, b_out]
                    .iter()
                    .any(|b| *b == first.in_bucket || *b == first.out_bucket)
            })
            .unwrap();
        nic.take_tx();
        d.handle_exception(exc(syn(&colliding.to_string()), Reason::Syn, 0));
        assert!(
            nic.take_tx().is_empty(),
            "the SYN is dropped, not re-injected"
        );
        assert_eq!(d.stats().table_collisions, 1);
        assert_eq!(d.connections().len(), 1);
        assert!(d.connections().get(colliding, vip).is_none());
        assert_eq!(
            (
                nic.table_words(first.in_bucket),
                nic.table_words(first.out_bucket)
            ),
            words_before
        );
        assert_eq!(nic.valid_buckets().len(), 2);
    }

    #[test]
    fn park_queue_is_bounded_and_expires() {
        let mut cfg = config();
        cfg.max_parked = 2;
        let (nic, mut d) = setup(cfg);
        for port in 1..=3 {
            d.handle_exception(exc(syn(&format!("10.0.0.2:{port}")), Reason::Syn, 0));
        }
        assert_eq!(d.parked(), 2);
        assert_eq!(d.stats().syn_park_full_drops, 1);
        nic.take_tx();
        d.tick(Instant::now());
        assert_eq!(nic.take_tx().len(), 1, "ARP asked again once");
        d.tick(Instant::now() + Duration::from_secs(10));
        assert_eq!(d.parked(), 0);
        assert_eq!(d.stats().syn_park_expired, 2);
    }

    #[test]
    fn other_exceptions_are_counted_and_dropped() {
        let (nic, mut d) = setup(config());
        let ack = net::tcp_frame(
            CLIENT_MAC,
            P0_MAC,
            (ip("10.0.0.2"), 1),
            (ip("10.0.0.100"), 80),
            TcpFlags {
                ack: true,
                ..Default::default()
            },
            1,
            &[],
        );
        d.handle_exception(exc(ack, Reason::Miss, 0));
        let other_service = net::tcp_frame(
            CLIENT_MAC,
            P0_MAC,
            (ip("10.0.0.2"), 1),
            (ip("10.0.0.100"), 81),
            SYN,
            1,
            &[],
        );
        d.handle_exception(exc(other_service, Reason::Syn, 0));
        d.handle_exception(exc(vec![1, 2, 3], Reason::Truncated, 0));
        assert!(nic.take_tx().is_empty());
        assert_eq!(d.stats().exceptions[Reason::Miss as usize], 1);
        assert_eq!(d.stats().exceptions[Reason::Syn as usize], 1);
        assert_eq!(d.stats().exceptions[Reason::Truncated as usize], 1);
        assert_eq!((d.stats().ignored, d.stats().malformed), (2, 1));
    }

    #[test]
    fn garbage_never_panics() {
        let (nic, mut d) = setup(config());
        // a tiny xorshift PRNG: deterministic, no extra dependency
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let templates = [
            syn("10.0.0.2:40000"),
            net::arp_request(CLIENT_MAC, ip("10.0.0.2"), ip("10.0.0.100")),
            net::arp_reply(
                &Arp {
                    op: ArpOp::Request,
                    sender_mac: P1_MAC,
                    sender_ip: ip("10.1.0.1"),
                    target_mac: [0; 6],
                    target_ip: ip("10.1.0.2"),
                },
                RS_MAC,
            ),
        ];
        for i in 0..20_000 {
            let frame = if i % 2 == 0 {
                let len = (next() % 200) as usize;
                (0..len).map(|_| next() as u8).collect()
            } else {
                // mutate a valid frame: more interesting than pure noise
                let mut f = templates[i % 3].clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() as usize) % f.len();
                    f[at] = next() as u8;
                }
                f.truncate((next() as usize) % (f.len() + 1));
                f
            };
            let reason = Reason::from_code((next() % 10) as u8).unwrap();
            let e = ExceptionFrame {
                frame,
                reason,
                src_port: (next() % 4) as u8,
                hit: next() % 2 == 0,
                index: next() as u32,
            };
            d.handle_exception(e);
            if i % 64 == 0 {
                nic.take_tx();
                d.tick(Instant::now());
            }
        }
        assert_eq!(d.stats().exceptions.iter().sum::<u64>(), 20_000);
    }

    #[tokio::test]
    async fn run_drains_exceptions_on_interrupt_and_stops() {
        let (nic, d) = setup(config());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(d.run(async {
            let _ = stop_rx.await;
        }));
        let req = net::arp_request(CLIENT_MAC, ip("10.0.0.2"), ip("10.0.0.100"));
        assert!(nic.inject_exception(&req, Reason::NonIpv4, 0, false, 0));
        let mut replies = Vec::new();
        for _ in 0..200 {
            replies = nic.take_tx();
            if !replies.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(replies.len(), 1);
        assert_eq!(arp(&replies[0]).op, ArpOp::Reply);
        stop_tx.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[test]
    fn bad_config_is_rejected() {
        let nic = Arc::new(FakeNic::default());
        let mut cfg = config();
        cfg.ports.extend_from_slice(&[cfg.ports[0]; 2]);
        let err = Daemon::new(Driver::open(nic.clone()).unwrap(), cfg)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("4 ports configured, the device has 2"),
            "{err}"
        );
        let mut cfg = config();
        cfg.services[0].reals[0].method = ForwardMethod::Tunnel;
        assert!(Daemon::new(Driver::open(nic.clone()).unwrap(), cfg).is_err());
    }
}

#[cfg(test)]
mod config_file_tests {
    use super::*;

    #[test]
    fn example_config_parses() {
        let text = include_str!("../../docs/examples/vsnicd.toml");
        let cfg: DaemonConfig = toml::from_str(text).expect("docs/examples/vsnicd.toml parses");
        assert_eq!(cfg.ports.len(), 2);
        assert_eq!(cfg.services.len(), 1);
        assert_eq!(cfg.services[0].reals[0].method, ForwardMethod::Masq);
    }
}
