//! The daemon: the control plane of the NIC load balancer.
//!
//! The NIC forwards established connections on its own; everything else comes to us as an
//! exception. The event loop ([`Daemon::run_with`]) waits for the exception interrupt, a periodic
//! tick, a control-socket or metrics request, a configuration reload or shutdown. Each exception
//! is handled synchronously ([`Daemon::handle_exception`]):
//!
//! * ARP request for one of our port addresses or a VIP → ARP reply out of the arrival port.
//! * ARP reply → learn the neighbour; SYNs parked waiting for it are released.
//! * TCP SYN (no ACK) to a TCP VIP:port, or the first datagram of a (client, VIP:port) flow to
//!   a UDP service (it reaches us as a lookup miss) → a new connection: admitted by the
//!   new-connection token bucket, scheduled (through the service's persistence template if it
//!   has one), and once the real server's MAC is known its NIC entries are installed and the
//!   frame is re-injected for the NIC to rewrite. An unknown MAC parks the frame (bounded) and
//!   sends an ARP request. A retransmitted SYN for an existing connection is simply re-injected.
//!   The entries depend on the forwarding method ([`NicEntries::for_method`]): masquerading
//!   (NAT) gets a DNAT entry client → VIP and an SNAT entry real server → client; direct
//!   routing gets one forward entry client → VIP that rewrites only the MACs (the real server
//!   answers the client directly, from the VIP). Tunnelling (IPIP) gets no NIC entry: the
//!   NIC cannot encapsulate, so the client's frames keep missing and the host sends each one
//!   to the real server inside an outer IPv4 header ([`crate::tunnel`]). A full table is refused and
//!   counted (`table_full`, and `table_collisions` when every way of a set the connection's
//!   entries need is taken).
//! * Another TCP segment of a known connection (FIN/RST when the NIC hands them over, a miss
//!   racing an install) → drives the TCP state machine and is re-injected. A UDP datagram of a
//!   known flow that missed (racing the install) → entries re-written, re-injected, the UDP
//!   timer re-armed. UDP connections have no state: listed as `UDP`, they expire the UDP
//!   timeout (`--set … udp`, 300 s) after their last host-visible datagram.
//! * Anything else is counted by reason and dropped (UDP to a VIP that the NIC cannot rewrite —
//!   a fragment, IP options — or with no UDP service on its port: `udp_not_forwarded`).
//!
//! The tick polls per-entry NIC state ([`crate::nicstate`]) into the TCP state machine
//! ([`crate::state`]), expires connections (removing their NIC entries) and persistence
//! templates, and runs the rate estimator. Time is `tokio::time::Instant`, so tests can pause
//! the clock.

use std::collections::VecDeque;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};
use vsnic_contract::exception::NUM_REASONS;
use vsnic_contract::Reason;

use crate::admission::TokenBucket;
use crate::app::{self, AppBinding, AppRegistry, ConnCtx, SeqFix};
use crate::appnat::{self, ExpectKind, Expectation};
use crate::backend::NicBackend;
use crate::conn::{
    ConnError, ConnKey, ConnTable, Connection, FastMap, NicEntries, Side, TemplateKey,
};
use crate::control::{self, ControlMsg, Request, Response};
use crate::driver::{Driver, DriverError, ExceptionFrame, TxMode};
use crate::metrics;
use crate::net::{self, Arp, ArpOp, Mac, MacFmt, Tcp, Udp, L3};
use crate::nicstate::{ActivityTracker, EntryActivity, NicStateSource, NoNicState};
use crate::sched::{SchedFlags, Scheduler};
use crate::service::{
    ForwardMethod, Pick, Protocol, RealSpec, ServiceError, ServiceKey, ServiceSpec, Services,
};
use crate::state::{self, Dir, Event, TcpState, Timeouts};
use crate::tunnel::{self, Encapsulated, Tunnel};

mod restore;
pub use restore::Restored;

/// Exceptions taken from the ring per batch.
const POLL_BATCH: usize = 64;
/// Activity records the event loop's tick reads between two drains of the exception ring: the
/// sweep (up to `activity_reads_per_tick` records, ~65 ms on PCIe and seconds on the cycle
/// simulator) never leaves the ring unserved for longer than this many reads.
const READS_BETWEEN_POLLS: usize = 32;
/// A persistence template whose time is up while it still controls connections waits this long.
const TEMPLATE_REARM: Duration = Duration::from_secs(60);

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
    #[serde(default)]
    pub u_threshold: u32,
    #[serde(default)]
    pub l_threshold: u32,
}

impl RealConfig {
    pub fn spec(&self) -> RealSpec {
        RealSpec {
            addr: self.addr,
            weight: self.weight,
            method: self.method,
            u_threshold: self.u_threshold,
            l_threshold: self.l_threshold,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceConfig {
    pub vip: SocketAddrV4,
    #[serde(default = "defaults::proto")]
    pub protocol: Protocol,
    #[serde(default)]
    pub scheduler: Scheduler,
    #[serde(default)]
    pub sched_flags: SchedFlags,
    /// Persistence timeout in seconds.
    #[serde(default)]
    pub persistent: Option<u32>,
    #[serde(default)]
    pub netmask: Option<Ipv4Addr>,
    #[serde(default)]
    pub reals: Vec<RealConfig>,
}

impl ServiceConfig {
    /// A TCP service with defaults.
    pub fn tcp(vip: SocketAddrV4, scheduler: Scheduler, reals: Vec<RealConfig>) -> ServiceConfig {
        ServiceConfig {
            vip,
            protocol: Protocol::Tcp,
            scheduler,
            sched_flags: SchedFlags::default(),
            persistent: None,
            netmask: None,
            reals,
        }
    }

    pub fn key(&self) -> ServiceKey {
        ServiceKey {
            proto: self.protocol,
            vip: self.vip,
        }
    }

    pub fn spec(&self) -> ServiceSpec {
        ServiceSpec {
            key: self.key(),
            scheduler: self.scheduler,
            flags: self.sched_flags,
            persistent: self.persistent,
            netmask: self.netmask.unwrap_or(Ipv4Addr::BROADCAST),
        }
    }
}

/// `--set`-style timeouts in the config file (seconds; absent or 0 keeps IPVS's default), and
/// the other TCP states' timeouts, which ipvsadm cannot set (Linux had them as
/// `/proc/sys/net/ipv4/vs/timeout_*`): `syn_recv`, `syn_sent`, `time_wait`, `close`,
/// `close_wait`, `last_ack`, `listen`, `synack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutConfig {
    #[serde(default)]
    pub tcp: u32,
    #[serde(default)]
    pub tcpfin: u32,
    #[serde(default)]
    pub udp: u32,
    #[serde(default)]
    pub syn_recv: u32,
    #[serde(default)]
    pub syn_sent: u32,
    #[serde(default)]
    pub time_wait: u32,
    #[serde(default)]
    pub close: u32,
    #[serde(default)]
    pub close_wait: u32,
    #[serde(default)]
    pub last_ack: u32,
    #[serde(default)]
    pub listen: u32,
    #[serde(default)]
    pub synack: u32,
}

impl TimeoutConfig {
    /// Apply the timeouts given to `t`.
    pub fn apply(&self, t: &mut Timeouts) {
        t.set(self.tcp, self.tcpfin, self.udp);
        for (state, secs) in [
            (TcpState::SynRecv, self.syn_recv),
            (TcpState::SynSent, self.syn_sent),
            (TcpState::TimeWait, self.time_wait),
            (TcpState::Close, self.close),
            (TcpState::CloseWait, self.close_wait),
            (TcpState::LastAck, self.last_ack),
            (TcpState::Listen, self.listen),
            (TcpState::SynAck, self.synack),
        ] {
            t.set_state(state, secs);
        }
    }
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
    /// Where to serve Prometheus metrics over HTTP (none: not served).
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// Period of the housekeeping tick.
    #[serde(default = "defaults::tick_ms")]
    pub tick_ms: u64,
    /// SYNs (and first UDP datagrams) waiting for ARP, at most.
    #[serde(default = "defaults::max_parked")]
    pub max_parked: usize,
    /// A parked SYN older than this is dropped.
    #[serde(default = "defaults::park_timeout_ms")]
    pub park_timeout_ms: u64,
    /// Connections at most (none: half the NIC table, each connection taking two entries).
    #[serde(default)]
    pub max_connections: Option<usize>,
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    /// Virtual ports whose connections the FTP helper watches (masquerading real servers only).
    #[serde(default = "defaults::ftp_ports")]
    pub ftp_ports: Vec<u16>,
    /// Where to keep the state snapshot a restarted daemon rebuilds from with the NIC's table
    /// ([`crate::persist`]); none: a restart rebuilds from the NIC's table alone.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    /// The snapshot is written at most this often (when something changed), and at a stop.
    #[serde(default = "defaults::state_interval_ms")]
    pub state_interval_ms: u64,
    /// Exceptions handled per wakeup at most; then the loop serves its other work (control
    /// socket, ticks) before it takes more from the ring.
    #[serde(default = "defaults::poll_budget")]
    pub poll_budget: usize,
    /// New connections admitted per second at most (token bucket; 0: unlimited). SYNs over the
    /// limit are dropped and counted (`syn_rate_limited`); installed connections are not
    /// affected.
    #[serde(default = "defaults::new_conn_rate")]
    pub new_conn_rate: u32,
    /// Burst of new connections admitted at once (the bucket's size).
    #[serde(default = "defaults::new_conn_burst")]
    pub new_conn_burst: u32,
    /// Activity records read per tick at most (NIC table 1.2): connections are swept in turn
    /// until each has been read, then the sweep starts again. A connection about to expire is
    /// always read first, so the budget bounds how soon FIN/RST and statistics are seen, never
    /// whether a busy connection is kept.
    #[serde(default = "defaults::activity_reads_per_tick")]
    pub activity_reads_per_tick: usize,
    /// IP MTU towards tunnelled (IPIP) real servers: a tunnelled packet whose outer packet
    /// would be longer is fragmented, or answered with ICMP "fragmentation needed" when DF is
    /// set. At least 576.
    #[serde(default = "defaults::tunnel_mtu")]
    pub tunnel_mtu: u16,
}

mod defaults {
    use crate::service::Protocol;
    pub fn tick_ms() -> u64 {
        1000
    }
    pub fn max_parked() -> usize {
        256
    }
    pub fn park_timeout_ms() -> u64 {
        3000
    }
    pub fn proto() -> Protocol {
        Protocol::Tcp
    }
    pub fn ftp_ports() -> Vec<u16> {
        vec![crate::app::ftp::FTP_PORT]
    }
    pub fn state_interval_ms() -> u64 {
        1000
    }
    /// One default exception ring's worth.
    pub fn poll_budget() -> usize {
        256
    }
    /// Each admitted connection is two NIC entry writes (~17 register writes each): 50 k/s
    /// bounds that to 1.7 M register writes per second.
    pub fn new_conn_rate() -> u32 {
        50_000
    }
    pub fn new_conn_burst() -> u32 {
        5_000
    }
    /// A record is a command write and four reads: 16 k of them are ~65 ms of a tick on PCIe
    /// (~1 µs per read) and a sweep of 64 k connections (128 k buckets) every 8 s.
    pub fn activity_reads_per_tick() -> usize {
        16_384
    }
    /// Ethernet's.
    pub fn tunnel_mtu() -> u16 {
        1500
    }
}

impl DaemonConfig {
    pub fn new(ports: Vec<PortConfig>) -> DaemonConfig {
        DaemonConfig {
            ports,
            services: Vec::new(),
            control_socket: None,
            metrics_listen: None,
            tick_ms: defaults::tick_ms(),
            max_parked: defaults::max_parked(),
            park_timeout_ms: defaults::park_timeout_ms(),
            max_connections: None,
            timeouts: TimeoutConfig::default(),
            ftp_ports: defaults::ftp_ports(),
            state_file: None,
            state_interval_ms: defaults::state_interval_ms(),
            poll_budget: defaults::poll_budget(),
            new_conn_rate: defaults::new_conn_rate(),
            new_conn_burst: defaults::new_conn_burst(),
            activity_reads_per_tick: defaults::activity_reads_per_tick(),
            tunnel_mtu: defaults::tunnel_mtu(),
        }
    }
}

/// What the daemon did, for `vsnicadm`, the metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
    /// Connections removed because their timer ran out (their NIC entries with them).
    pub connections_expired: u64,
    /// New connections refused because a table bucket was taken.
    pub table_collisions: u64,
    /// New connections refused because the connection table is full.
    pub table_full: u64,
    /// Frames sent to tunnelled (IPIP) real servers by the host (outer packets and fragments).
    pub tunnel_sent: u64,
    /// Tunnelled packets too big for the MTU, sent as fragments of the outer packet.
    pub tunnel_fragmented: u64,
    /// Tunnelled packets too big for the MTU with DF set: dropped, the client sent ICMP
    /// "fragmentation needed".
    pub tunnel_frag_needed: u64,
    /// Tunnelled packets dropped because the real server's MAC was unknown (after a restart);
    /// an ARP request went out.
    pub tunnel_no_neighbour: u64,
    /// Tunnelled frames that could not be encapsulated (not IPv4, over-long).
    pub tunnel_errors: u64,
    /// UDP frames for a VIP dropped: no UDP service on that port, or a datagram the NIC's fast
    /// path cannot rewrite (a fragment, IP options, a bad header checksum).
    pub udp_not_forwarded: u64,
    /// UDP datagrams of a flow waiting for its real server's MAC replaced by a newer one (one
    /// datagram per flow waits).
    pub udp_parked_replaced: u64,
    /// SYNs re-injected for an existing connection (retransmissions).
    pub syn_retransmits: u64,
    /// SYNs with a new sequence number on the addresses of an existing connection (the client
    /// reused its port): the old connection was removed, with its NIC entries and helper
    /// state, and the SYN scheduled as a new connection.
    pub connections_reused: u64,
    /// Other segments (and UDP datagrams) of known connections re-injected.
    pub segments_reinjected: u64,
    /// NIC entries written again after a miss for a known connection.
    pub entries_repaired: u64,
    /// New connections waiting for ARP. The `syn_*` counters count a UDP flow's first
    /// datagram as its SYN.
    pub syn_parked: u64,
    /// SYNs dropped because the park queue was full.
    pub syn_park_full_drops: u64,
    /// Parked SYNs dropped because ARP did not answer in time.
    pub syn_park_expired: u64,
    /// SYNs for a service without an available real server.
    pub syn_no_real_server: u64,
    /// SYNs whose real server is on no port's subnet.
    pub syn_no_route: u64,
    pub templates_created: u64,
    pub templates_expired: u64,
    /// TCP state changes applied (from exceptions and from NIC entry state).
    pub state_transitions: u64,
    pub config_reloads: u64,
    pub config_reload_errors: u64,
    pub tx_errors: u64,
    pub table_write_errors: u64,
    /// Connections bound to an application helper (FTP control connections).
    pub app_bound: u64,
    /// Segments of bound connections run through their helper (reason `AppPayload`).
    pub app_segments: u64,
    /// Segments of bound connections whose seq/ack the host fixed because the NIC could not
    /// (reasons `SeqHistory`, `AckOptions`).
    pub app_host_fixed: u64,
    /// Payload rewrites done by helpers (first transmissions and retransmissions).
    pub app_rewrites: u64,
    /// Times both NIC entries of a bound connection were rewritten with new deltas.
    pub app_delta_updates: u64,
    /// Frames of bound connections sent by the host (NAT and seq/ack applied in software).
    pub app_frames_sent: u64,
    /// Held segment tails sent unmerged after a tick.
    pub app_held_flushed: u64,
    /// Segments a helper could not parse (forwarded through the NIC unchanged).
    pub app_errors: u64,
    /// Data connections expected (passive, active), claimed by their SYN, expired unclaimed.
    pub data_expected_passive: u64,
    pub data_expected_active: u64,
    pub data_connections: u64,
    pub data_expect_expired: u64,
    /// Connections removed (expired, reused, flushed, ...).
    pub connections_removed: u64,
    /// At start: connections rebuilt from the NIC's table, unpaired NIC entries cleared,
    /// snapshot records the NIC no longer had.
    pub connections_restored: u64,
    pub restore_orphans_cleared: u64,
    pub restore_stale_records: u64,
    /// State snapshots written; snapshot reads or writes that failed.
    pub state_saves: u64,
    pub state_errors: u64,
    /// New connections refused by the admission rate limit (`new_conn_rate`): SYN (or a UDP
    /// flow's first datagram) dropped.
    pub syn_rate_limited: u64,
    /// Wakeups that stopped at `poll_budget` exceptions with more possibly waiting in the ring.
    pub poll_budget_exhausted: u64,
    /// NIC activity records read (per-entry state, NIC table 1.2), reads that failed, and
    /// connections kept at their expiry because the NIC had carried traffic the host had not
    /// read yet.
    pub activity_reads: u64,
    pub activity_read_errors: u64,
    pub expiry_saved_by_activity: u64,
    /// Exception-ring drains the tick made between its activity reads.
    pub housekeeping_polls: u64,
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
    #[error("metrics endpoint {addr}: {source}")]
    Metrics {
        addr: SocketAddr,
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
    id: ConnKey,
    real: SocketAddrV4,
    method: ForwardMethod,
    template: Option<TemplateKey>,
    client_port: u8,
    client_mac: Mac,
    server_port: u8,
    since: Instant,
    /// The control connection of a data connection.
    controller: Option<ConnKey>,
    /// The port the SYN arrived on (the server side for an active-mode data connection).
    syn_port: u8,
}

pub struct Daemon<B: NicBackend> {
    driver: Driver<B>,
    cfg: DaemonConfig,
    services: Services,
    conns: ConnTable,
    timeouts: Timeouts,
    nic_state: Box<dyn NicStateSource>,
    /// Baselines of the NIC's per-bucket activity records, when the NIC keeps them (table 1.2)
    /// and no other source was set ([`Daemon::set_nic_state`]).
    activity: Option<ActivityTracker>,
    /// Where the next tick's activity sweep starts in the connection list.
    sweep_cursor: usize,
    /// Activity records read since the exception ring was last drained.
    reads_since_poll: usize,
    /// Connections this tick's sweep has read, with `housekeeping_polls` at the time: while no
    /// drain came after the read, the record is current and their expiry needs no second read.
    swept: FastMap<ConnKey, u64>,
    neighbours: FastMap<Ipv4Addr, Neighbour>,
    parked: VecDeque<Pending>,
    stats: DaemonStats,
    apps: AppRegistry,
    /// Connections bound to an application helper, by id.
    bindings: FastMap<ConnKey, AppBinding>,
    /// The time of the exception batch being handled (one clock read per batch, not per frame).
    batch_now: Option<Instant>,
    /// Data connections announced by a control connection, not yet claimed by their SYN.
    expects: Vec<Expectation>,
    /// Bound connections that held a segment tail at the last tick.
    holding: Vec<(ConnKey, app::Dir)>,
    /// The state fingerprint of the last snapshot written (or restored from), and when.
    last_saved: Option<u64>,
    last_save_at: Option<Instant>,
    /// What the restore at start found.
    restored: Restored,
    /// New-connection admission (`new_conn_rate`, `new_conn_burst`).
    admission: TokenBucket,
    /// The last poll stopped at its budget: the ring may hold more.
    backlog: bool,
    /// Identification of the next outer IPIP packet.
    tunnel_id: u16,
}

fn build_services(cfg: &DaemonConfig) -> Result<Services, ServiceError> {
    let mut services = Services::new();
    for s in &cfg.services {
        services.add_service(s.spec())?;
        for r in &s.reals {
            services.add_real(s.key(), r.spec())?;
        }
    }
    Ok(services)
}

/// The sequence number of a TCP SYN frame (`None` if it is not one the frame layer parses).
fn syn_seq(frame: &[u8]) -> Option<u32> {
    let l = app::frame::layout(frame).ok()?;
    Some(app::frame::tcp_info(frame, &l).seq)
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
        if cfg.tunnel_mtu < tunnel::MIN_MTU {
            return Err(DaemonError::Config(format!(
                "tunnel_mtu {} is below IPv4's minimum of {}",
                cfg.tunnel_mtu,
                tunnel::MIN_MTU
            )));
        }
        if let Some(p) = cfg.ports.iter().find(|p| p.prefix > 32) {
            return Err(DaemonError::Config(format!(
                "port {}: prefix /{} is not IPv4",
                p.addr, p.prefix
            )));
        }
        let services = build_services(&cfg).map_err(|e| DaemonError::Config(e.to_string()))?;
        let conns = ConnTable::with_geometry(driver.info().geometry(), driver.hash_key());
        let activity = driver
            .activity_readable()
            .then(|| ActivityTracker::new(driver.info().table_size() as usize));
        let mut timeouts = Timeouts::default();
        cfg.timeouts.apply(&mut timeouts);
        let mut apps = AppRegistry::new();
        app::register_ftp(
            &mut apps,
            app::ftp::FtpConfig {
                ports: cfg.ftp_ports.clone(),
                ..Default::default()
            },
        )
        .map_err(|e| DaemonError::Config(format!("ftp_ports: {e}")))?;
        let mut d = Daemon {
            driver,
            services,
            conns,
            timeouts,
            nic_state: Box::new(NoNicState),
            activity,
            sweep_cursor: 0,
            reads_since_poll: 0,
            swept: FastMap::default(),
            neighbours: FastMap::default(),
            parked: VecDeque::new(),
            stats: DaemonStats::default(),
            apps,
            bindings: FastMap::default(),
            batch_now: None,
            expects: Vec::new(),
            holding: Vec::new(),
            last_saved: None,
            last_save_at: None,
            restored: Restored::default(),
            admission: TokenBucket::new(cfg.new_conn_rate, cfg.new_conn_burst),
            backlog: false,
            tunnel_id: 0,
            cfg,
        };
        d.restore();
        Ok(d)
    }

    /// What the restore at start found (connections the NIC kept, rebuilt).
    pub fn restored(&self) -> Restored {
        self.restored
    }

    /// Use `source` for per-entry NIC state instead of the NIC's activity records (default:
    /// the records when the NIC keeps them, else [`NoNicState`]).
    pub fn set_nic_state(&mut self, source: Box<dyn NicStateSource>) {
        self.nic_state = source;
        self.activity = None;
    }

    /// Whether the daemon learns per-entry state (flags, traffic) from the NIC: then a TCP
    /// connection goes through the handshake states and a busy one is kept by its traffic.
    pub fn reports_state(&self) -> bool {
        self.activity.is_some() || self.nic_state.reports_state()
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

    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
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

    /// The application registry (FTP incarnations).
    pub fn apps(&self) -> &AppRegistry {
        &self.apps
    }

    /// The helper binding of connection `id`, if it is bound.
    pub fn binding(&self, id: &ConnKey) -> Option<&AppBinding> {
        self.bindings.get(id)
    }

    /// Data connections expected and not yet claimed.
    pub fn expectations(&self) -> &[Expectation] {
        &self.expects
    }

    /// Whether the last [`Self::poll`] stopped at its budget (the ring may hold more).
    pub fn backlog(&self) -> bool {
        self.backlog
    }

    /// SYNs currently waiting for ARP.
    pub fn parked(&self) -> usize {
        self.parked.len()
    }

    fn max_connections(&self) -> usize {
        self.cfg
            .max_connections
            .unwrap_or(self.driver.info().table_size() as usize / 2)
    }

    /// Serve until `shutdown` completes (or the device fails).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        self.run_with(shutdown, None).await
    }

    /// Serve until `shutdown` completes (or the device fails), applying each configuration that
    /// arrives on `reloads` (what `vsnicd` sends on SIGHUP). On shutdown the NIC table is left as
    /// it is: the NIC keeps forwarding established connections while the daemon is down.
    pub async fn run_with(
        mut self,
        shutdown: impl Future<Output = ()>,
        mut reloads: Option<mpsc::Receiver<DaemonConfig>>,
    ) -> Result<(), DaemonError> {
        let backend = self.driver.backend().clone();
        let (req_tx, mut req_rx) = mpsc::channel::<ControlMsg>(16);
        let server = match self.cfg.control_socket.clone() {
            Some(path) => {
                let listener = control::bind(&path).map_err(|source| DaemonError::Control {
                    path: path.clone(),
                    source,
                })?;
                info!(path = %path.display(), "control socket ready");
                Some((path, tokio::spawn(control::serve(listener, req_tx.clone()))))
            }
            None => None,
        };
        let metrics_task = match self.cfg.metrics_listen {
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| DaemonError::Metrics { addr, source })?;
                info!(%addr, "metrics endpoint ready");
                Some(tokio::spawn(metrics::serve(listener, req_tx.clone())))
            }
            None => None,
        };
        drop(req_tx);
        let mut tick = tokio::time::interval(Duration::from_millis(self.cfg.tick_ms.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);

        let result = loop {
            // In this order, not at random: an operator's request or a reload waits for at most
            // one step however hard a flood drives the exception ring, and the tick (timers,
            // NIC state, expiry) is never starved by interrupts that keep coming. Requests cannot
            // starve the ring in turn: while more are queued, each one is followed by a poll.
            let step = tokio::select! {
                biased;
                _ = &mut shutdown => break Ok(()),
                Some(msg) = req_rx.recv() => {
                    let response = self.handle_request(msg.request);
                    let _ = msg.reply.send(response); // the client may have gone away
                    if req_rx.is_empty() {
                        Ok(())
                    } else {
                        self.poll().map(drop)
                    }
                }
                Some(cfg) = async {
                    match reloads.as_mut() {
                        Some(r) => r.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    self.reload(cfg);
                    Ok(())
                }
                _ = tick.tick() => {
                    // (the ring is drained between its reads, see READS_BETWEEN_POLLS)
                    self.housekeeping(Instant::now(), true)
                        // Also a safety net should an interrupt ever be lost.
                        .and_then(|()| self.poll().map(drop))
                }
                irq = backend.wait_irq() => match irq {
                    Ok(()) => self.poll().map(drop),
                    Err(e) => Err(DriverError::from(e)),
                },
                // The last poll stopped at its budget: take more once the other branches had
                // their turn (no new interrupt may come while the ring stays full).
                _ = tokio::task::yield_now(), if self.backlog => self.poll().map(drop),
            };
            if let Err(e) = step {
                break Err(e.into());
            }
            // Let the runtime run what this step woke: a control client's reply wakes the
            // control server's task into this worker's LIFO slot, which no other worker may
            // steal, and under a flood some branch is always ready, so without this the loop
            // would only give way when its coop budget runs out (~128 steps, seconds when
            // each step is a long poll).
            tokio::task::yield_now().await;
        };

        if let Some((path, task)) = server {
            task.abort();
            let _ = std::fs::remove_file(path);
        }
        if let Some(task) = metrics_task {
            task.abort();
        }
        self.save_state(Instant::now(), true);
        info!(
            connections = self.conns.len(),
            "daemon stopped; NIC entries left in place"
        );
        result
    }

    /// Apply a new configuration: services and real servers become exactly the configured ones
    /// (added, edited or deleted; connections in progress stay until they expire), timeouts and
    /// limits are taken over. Ports cannot change without a restart.
    pub fn reload(&mut self, cfg: DaemonConfig) {
        if cfg.ports != self.cfg.ports {
            warn!("config reload: port changes need a restart; ports kept");
        }
        let fresh = match build_services(&cfg) {
            Ok(s) => s,
            Err(e) => {
                self.stats.config_reload_errors += 1;
                warn!(error = %e, "config reload refused, configuration kept");
                return;
            }
        };
        let wanted: Vec<ServiceKey> = cfg.services.iter().map(|s| s.key()).collect();
        for old in self.services.list() {
            if !wanted.contains(&old.key()) {
                let _ = self.services.del_service(old.key());
            }
        }
        for s in &cfg.services {
            let key = s.key();
            let applied = if self.services.contains(key) {
                self.services.edit_service(s.spec())
            } else {
                self.services.add_service(s.spec())
            };
            if let Err(e) = applied {
                warn!(service = %key, error = %e, "config reload: service not applied");
                continue;
            }
            let have: Vec<SocketAddrV4> = self
                .services
                .list()
                .into_iter()
                .find(|i| i.key() == key)
                .map(|i| i.reals.iter().map(|r| r.addr).collect())
                .unwrap_or_default();
            for addr in &have {
                if !s.reals.iter().any(|r| r.addr == *addr) {
                    let _ = self.services.del_real(key, *addr);
                }
            }
            for r in &s.reals {
                let res = if have.contains(&r.addr) {
                    self.services.edit_real(key, r.spec())
                } else {
                    self.services.add_real(key, r.spec())
                };
                if let Err(e) = res {
                    warn!(service = %key, real = %r.addr, error = %e, "config reload: real server not applied");
                }
            }
        }
        drop(fresh);
        if let Err(e) = self.apps.set_ports("ftp", &cfg.ftp_ports) {
            warn!(error = %e, "config reload: FTP ports not applied");
        }
        self.apps.gc();
        self.timeouts = Timeouts::default();
        cfg.timeouts.apply(&mut self.timeouts);
        self.admission
            .reconfigure(cfg.new_conn_rate, cfg.new_conn_burst);
        let ports = std::mem::take(&mut self.cfg.ports);
        let control_socket = self.cfg.control_socket.take();
        let metrics_listen = self.cfg.metrics_listen.take();
        self.cfg = DaemonConfig {
            ports,
            control_socket,
            metrics_listen,
            ..cfg
        };
        self.stats.config_reloads += 1;
        info!(services = self.services.len(), "configuration reloaded");
    }

    /// Handle the frames waiting in the exception ring, at most `poll_budget` of them (a flood
    /// refills the ring as fast as it is drained). Returns how many were handled; when the
    /// budget ran out, [`Self::backlog`] is set and the event loop comes back for the rest
    /// after its other work.
    pub fn poll(&mut self) -> Result<usize, DriverError> {
        let budget = self.cfg.poll_budget.max(1);
        let mut total = 0;
        self.backlog = false;
        self.reads_since_poll = 0;
        while total < budget {
            let want = POLL_BATCH.min(budget - total);
            let batch = self.driver.poll_exceptions(want)?;
            let n = batch.len();
            self.batch_now = Some(Instant::now());
            for exc in batch {
                self.handle_exception(exc);
            }
            self.batch_now = None;
            total += n;
            if n < want {
                return Ok(total);
            }
        }
        self.backlog = true;
        self.stats.poll_budget_exhausted += 1;
        Ok(total)
    }

    /// Housekeeping at `now`: parked SYNs (expire, ask ARP again), NIC entry state into the
    /// state machine, connection and template expiry, rate estimation.
    pub fn tick(&mut self, now: Instant) {
        // without interleaved polls nothing here fails
        let _ = self.housekeeping(now, false);
    }

    /// [`Self::tick`]; with `interleave`, the exception ring is also drained after every
    /// [`READS_BETWEEN_POLLS`] activity records, so a long sweep does not leave a flood to the
    /// NIC's drop counter. Fails only when such a drain fails.
    fn housekeeping(&mut self, now: Instant, interleave: bool) -> Result<(), DriverError> {
        let timeout = Duration::from_millis(self.cfg.park_timeout_ms);
        let (keep, expired): (VecDeque<Pending>, VecDeque<Pending>) =
            std::mem::take(&mut self.parked)
                .into_iter()
                .partition(|p| now.saturating_duration_since(p.since) < timeout);
        self.parked = keep;
        if !expired.is_empty() {
            self.stats.syn_park_expired += expired.len() as u64;
            debug!(
                expired = expired.len(),
                "parked SYNs expired without an ARP reply"
            );
            for p in expired {
                if let Some(t) = p.template {
                    self.conns.release_template(&t);
                }
            }
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
        self.flush_held();
        self.poll_nic_state(now, interleave)?;
        self.expire(now, interleave)?;
        self.services.estimate(now);
        self.save_state(now, false);
        Ok(())
    }

    /// Between two activity reads of the tick: drain the exception ring when
    /// [`READS_BETWEEN_POLLS`] records were read since it last was.
    fn between_reads(&mut self, interleave: bool) -> Result<(), DriverError> {
        if interleave && self.reads_since_poll >= READS_BETWEEN_POLLS {
            self.stats.housekeeping_polls += 1;
            self.poll()?;
        }
        Ok(())
    }

    /// Remove connection `id` now: its NIC entries, its helper binding, the data connections
    /// it announced and nobody claimed, and its place in the real server's counters.
    fn remove_connection(&mut self, id: &ConnKey) -> Option<Connection> {
        let c = self.conns.remove(id)?;
        self.stats.connections_removed += 1;
        self.bindings.remove(id);
        self.holding.retain(|(h, _)| h != id);
        let before = self.expects.len();
        self.expects.retain(|e| e.controller != *id);
        self.stats.data_expect_expired += (before - self.expects.len()) as u64;
        if let Some(n) = &c.nic {
            // the client's direction first: nothing new reaches the server
            for (b, _) in n.entries().rev() {
                if let Err(e) = self.driver.clear_entry(b) {
                    self.stats.table_write_errors += 1;
                    warn!(bucket = b, error = %e, "clearing a connection's entry failed");
                }
                if let Some(t) = &mut self.activity {
                    t.released(b);
                }
            }
        }
        self.services.conn_closed(id.service(), c.real, c.active);
        Some(c)
    }

    /// Send segment tails a helper has held back since the last tick (the rest of the line did
    /// not come): a reply split across segments waits at most one tick.
    fn flush_held(&mut self) {
        let before = std::mem::take(&mut self.holding);
        let mut now_holding = Vec::new();
        for (id, b) in &self.bindings {
            for d in [app::Dir::In, app::Dir::Out] {
                if b.is_holding(d) {
                    now_holding.push((*id, d));
                }
            }
        }
        for (id, d) in now_holding {
            if !before.contains(&(id, d)) {
                self.holding.push((id, d));
                continue;
            }
            let Some(f) = self
                .bindings
                .get_mut(&id)
                .and_then(|b| b.flush_held(d, SeqFix::Host))
            else {
                continue;
            };
            self.stats.app_held_flushed += 1;
            self.send_app_frames(&id, d, vec![f]);
        }
    }

    /// Feed what the NIC saw on each entry since the last poll into the state machine and the
    /// statistics: first the buckets released since the last tick (their records become the
    /// next connections' baselines), then connections in turn, at most
    /// `activity_reads_per_tick` records per tick.
    fn poll_nic_state(&mut self, now: Instant, interleave: bool) -> Result<(), DriverError> {
        self.swept.clear();
        if !self.reports_state() {
            return Ok(());
        }
        let Some(nic_now) = self.nic_time() else {
            return Ok(());
        };
        let mut budget = self.cfg.activity_reads_per_tick.max(1);
        if let Some(t) = &self.activity {
            for b in t.released_buckets().into_iter().take(budget) {
                budget -= 1;
                self.between_reads(interleave)?;
                if let Some(rec) = self.read_record(b) {
                    if let Some(t) = &mut self.activity {
                        t.set_baseline(b, rec);
                    }
                }
            }
        }
        let keys = self.conns.keys();
        if keys.is_empty() {
            return Ok(());
        }
        let start = self.sweep_cursor % keys.len();
        let mut polled = 0;
        while polled < keys.len() && (self.activity.is_none() || budget > 0) {
            let id = keys[(start + polled) % keys.len()];
            polled += 1;
            let buckets = self
                .conns
                .get(&id)
                .and_then(|c| c.nic.as_ref())
                .map_or(0, |n| 1 + n.out_bucket().is_some() as usize);
            budget = budget.saturating_sub(buckets);
            self.between_reads(interleave)?;
            self.poll_connection(&id, nic_now, now);
            if self.activity.is_some() {
                self.swept.insert(id, self.stats.housekeeping_polls);
            }
        }
        self.sweep_cursor = (start + polled) % keys.len();
        Ok(())
    }

    /// The NIC's time, when its activity records are read (`Some(0)` for another source).
    fn nic_time(&mut self) -> Option<u32> {
        if self.activity.is_none() {
            return Some(0);
        }
        match self.driver.nic_time() {
            Ok(t) => Some(t),
            Err(e) => {
                self.stats.activity_read_errors += 1;
                warn!(error = %e, "reading the NIC's time failed");
                None
            }
        }
    }

    /// Read bucket `b`'s activity record from the NIC.
    fn read_record(&mut self, b: u32) -> Option<vsnic_contract::activity::Activity> {
        match self.driver.read_activity(b) {
            Ok(rec) => {
                self.stats.activity_reads += 1;
                self.reads_since_poll += 1;
                Some(rec)
            }
            Err(e) => {
                self.stats.activity_read_errors += 1;
                debug!(bucket = b, error = %e, "reading an activity record failed");
                None
            }
        }
    }

    /// Before a new connection's entries are written: the records of its buckets as they are
    /// (what earlier connections left there), where not known yet.
    fn take_baselines(&mut self, n: &NicEntries) {
        let Some(t) = &self.activity else { return };
        let want: Vec<u32> = n
            .entries()
            .map(|(b, _)| b)
            .filter(|&b| t.needs_baseline(b))
            .collect();
        for b in want {
            if let Some(rec) = self.read_record(b) {
                if let Some(t) = &mut self.activity {
                    t.set_baseline(b, rec);
                }
            }
        }
    }

    /// What the NIC saw on `bucket` since the last read.
    fn bucket_activity(
        &mut self,
        bucket: u32,
        nic_now: u32,
        now: Instant,
    ) -> Option<EntryActivity> {
        if self.activity.is_none() {
            return self.nic_state.read(bucket);
        }
        let rec = self.read_record(bucket)?;
        self.activity
            .as_mut()
            .and_then(|t| t.advance(bucket, rec, nic_now, now))
    }

    /// One connection's activity into the state machine and the statistics. The flags of one
    /// poll period are applied phase by phase — SYNs, then ACKs, then FINs, then RSTs, client
    /// side before server side in each — which is the order a connection goes through them.
    fn poll_connection(&mut self, id: &ConnKey, nic_now: u32, now: Instant) {
        let Some(c) = self.conns.get(id) else {
            return;
        };
        let Some(n) = &c.nic else { return };
        let (inb, outb) = (n.in_bucket(), n.out_bucket());
        let a_in = self.bucket_activity(inb, nic_now, now);
        let a_out = outb.and_then(|b| self.bucket_activity(b, nic_now, now));
        if a_in.is_none() && a_out.is_none() {
            return;
        }
        let id = *id;
        let a_in = a_in.unwrap_or_default();
        let a_out = a_out.unwrap_or_default();
        let at = a_in.last_seen.max(a_out.last_seen).unwrap_or(now).min(now);
        let has = |a: &EntryActivity, e: Event| match e {
            Event::Syn => a.flags.syn,
            Event::Ack => a.flags.ack,
            Event::Fin => a.flags.fin,
            Event::Rst => a.flags.rst,
        };
        let events = if id.proto == Protocol::Tcp {
            &[Event::Syn, Event::Ack, Event::Fin, Event::Rst][..]
        } else {
            &[] // UDP has no state
        };
        for &e in events {
            for (dir, a) in [(Dir::In, &a_in), (Dir::Out, &a_out)] {
                if has(a, e) {
                    self.apply_event(&id, dir, e, at);
                }
            }
        }
        if a_in.packets + a_out.packets > 0 {
            // traffic without a state change still keeps the connection alive
            if let Some(c) = self.conns.get_mut(&id) {
                c.expires = c.expires.max(at + self.timeouts.conn(id.proto, c.state));
            }
        }
        let real = self.conns.get(&id).map(|c| c.real);
        if let Some(real) = real {
            self.services.traffic(
                id.service(),
                real,
                a_in.packets,
                a_in.bytes,
                a_out.packets,
                a_out.bytes,
            );
        }
    }

    /// One TCP event on a connection: new state, timer re-armed from `at`, active/inactive
    /// accounting.
    fn apply_event(&mut self, id: &ConnKey, dir: Dir, event: Event, at: Instant) {
        let Some(c) = self.conns.get_mut(id) else {
            return;
        };
        let dir = match (dir, c.method) {
            (Dir::In, ForwardMethod::Route | ForwardMethod::Tunnel) => Dir::InOnly,
            (d, _) => d,
        };
        let new = state::next(c.state, dir, event);
        if new != c.state {
            self.stats.state_transitions += 1;
            debug!(client = %id.client, vip = %id.vip, from = c.state.name(), to = new.name(), "state");
        }
        c.state = new;
        c.expires = at + self.timeouts.tcp_state(new);
        if new.is_active() != c.active {
            c.active = new.is_active();
            let (svc, real, active) = (id.service(), c.real, c.active);
            self.services.conn_activity(svc, real, active);
        }
    }

    /// Remove connections whose timer ran out (NIC entries first) and idle templates.
    fn expire(&mut self, now: Instant, interleave: bool) -> Result<(), DriverError> {
        let (gone, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.expects)
            .into_iter()
            .partition(|e| e.expires <= now);
        self.expects = keep;
        self.stats.data_expect_expired += gone.len() as u64;
        let expired = self.conns.expired(now);
        let nic_now = if expired.is_empty() || self.activity.is_none() {
            None
        } else {
            self.nic_time()
        };
        for id in expired {
            self.between_reads(interleave)?;
            // (a frame handled in that drain may have renewed or removed it)
            if self.conns.get(&id).is_none_or(|c| c.expires > now) {
                continue;
            }
            // What the NIC carried since it was last read first: a busy connection stays. (A
            // sweep read counts only if no ring drain came after it: a drain makes it old.)
            let current = self.swept.get(&id) == Some(&self.stats.housekeeping_polls);
            if let Some(nic_now) = nic_now.filter(|_| !current) {
                self.poll_connection(&id, nic_now, now);
                if self.conns.get(&id).is_some_and(|c| c.expires > now) {
                    self.stats.expiry_saved_by_activity += 1;
                    continue;
                }
            }
            // A control connection outlives its data connections and expectations.
            let controls = self.conns.get(&id).is_some_and(|c| c.controlled > 0)
                || self.expects.iter().any(|e| e.controller == id);
            if controls {
                if let Some(c) = self.conns.get_mut(&id) {
                    c.expires = now + self.timeouts.conn(id.proto, c.state);
                }
                continue;
            }
            if let Some(c) = self.remove_connection(&id) {
                self.stats.connections_expired += 1;
                debug!(client = %id.client, vip = %id.vip, state = c.state.name(), "connection expired");
            }
        }
        for (k, t) in self.conns.expire_templates(now, TEMPLATE_REARM) {
            self.services.persist_changed(k.service, t.real, false);
            self.stats.templates_expired += 1;
        }
        self.apps.gc();
        Ok(())
    }

    /// Handle one frame the NIC sent us.
    /// Now, for handling exceptions: the batch's time inside [`Self::poll`].
    fn now(&self) -> Instant {
        self.batch_now.unwrap_or_else(Instant::now)
    }

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
            L3::Tcp(tcp) => self.handle_segment(exc.frame, exc.src_port, exc.reason, &tcp),
            L3::Udp(udp) => {
                self.handle_udp(exc.frame, exc.src_port, exc.reason, parsed.eth_src, &udp)
            }
            L3::Ipv4 { dst, proto: 17, .. } if self.services.is_vip(dst) => {
                self.stats.udp_not_forwarded += 1;
                debug!(%dst, "UDP fragment for a VIP dropped: the NIC cannot rewrite fragments");
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

    /// Pick the real server for a new connection, through the persistence template when the
    /// service is persistent. Returns the pick and the template it counts against.
    fn choose(
        &mut self,
        svc: ServiceKey,
        client: SocketAddrV4,
        now: Instant,
    ) -> Option<(Pick, Option<TemplateKey>)> {
        let spec = self.services.spec(svc)?;
        let Some(secs) = spec.persistent else {
            return self.services.schedule(svc, client, now).map(|p| (p, None));
        };
        let timeout = Duration::from_secs(secs as u64);
        let tk = TemplateKey::new(svc, *client.ip(), spec.netmask);
        if let Some(t) = self.conns.template(&tk) {
            // As IPVS: a template keeps its server while that server exists, even quiescent.
            match self.services.real(svc, t.real) {
                Some(r) => {
                    let pick = Pick {
                        real: r.addr,
                        method: r.method,
                    };
                    self.conns.use_template(tk, pick.real, timeout, now);
                    return Some((pick, Some(tk)));
                }
                None => {
                    if let Some(t) = self.conns.drop_template(&tk) {
                        self.services.persist_changed(svc, t.real, false);
                    }
                }
            }
        }
        let pick = self.services.schedule(svc, client, now)?;
        if self.conns.use_template(tk, pick.real, timeout, now) {
            self.stats.templates_created += 1;
            self.services.persist_changed(svc, pick.real, true);
        }
        Some((pick, Some(tk)))
    }

    fn handle_syn(&mut self, frame: Vec<u8>, port: u8, eth_src: Mac, tcp: &Tcp) {
        let client = SocketAddrV4::new(tcp.src, tcp.sport);
        let vip = SocketAddrV4::new(tcp.dst, tcp.dport);
        let svc = ServiceKey::tcp(vip);
        let id = ConnKey {
            proto: Protocol::Tcp,
            client,
            vip,
        };
        let now = self.now();
        // A retransmission (of the client's SYN, or of the real server's for an active-mode
        // FTP data connection): the entries exist, the NIC only needs the frame again.
        let existing = if self.conns.get(&id).is_some() {
            Some((id, Dir::In))
        } else {
            self.conns
                .by_reply(Protocol::Tcp, client, vip)
                .map(|k| (*k, Dir::Out))
        };
        if let Some((eid, dir)) = existing {
            let isn = self.conns.get(&eid).and_then(|c| c.isn);
            match (isn, syn_seq(&frame)) {
                (Some(old), Some(new)) if old != new => {
                    // Not a retransmission: a new connection on the old one's addresses. The
                    // old one is over (its helper state and sequence deltas belong to another
                    // byte stream): remove it, then schedule this SYN like any new one.
                    self.stats.connections_reused += 1;
                    debug!(client = %eid.client, vip = %eid.vip, "addresses reused by a new connection; the old one is removed");
                    self.remove_connection(&eid);
                }
                _ => {
                    self.stats.syn_retransmits += 1;
                    self.apply_event(&eid, dir, Event::Syn, now);
                    self.forward(&eid, &frame, port);
                    return;
                }
            }
        }
        if self.claim_expectation(&frame, port, client, vip, now) {
            return;
        }
        if !self.services.contains(svc) {
            self.stats.ignored += 1;
            return;
        }
        if let Some(p) = self.parked.iter_mut().find(|p| p.id == id) {
            p.frame = frame; // a retransmission while waiting for ARP: keep the newest
            self.stats.syn_retransmits += 1;
            return;
        }
        self.new_connection(id, frame, port, eth_src, now);
    }

    /// The first frame of a new connection `id` (a client's SYN, or the first datagram of a
    /// UDP flow) arrived on `port` from next hop `eth_src`: admit it, schedule a real server,
    /// and install the connection once the server's MAC is known (parked until then).
    fn new_connection(
        &mut self,
        id: ConnKey,
        frame: Vec<u8>,
        port: u8,
        eth_src: Mac,
        now: Instant,
    ) {
        let (client, vip, svc) = (id.client, id.vip, id.service());
        if self.conns.len() >= self.max_connections() {
            self.stats.table_full += 1;
            debug!(%client, %vip, "connection table full, new connection dropped");
            return;
        }
        if !self.admission.admit(now) {
            self.stats.syn_rate_limited += 1;
            debug!(%client, %vip, "new-connection rate limit, new connection dropped");
            return;
        }
        let Some((pick, template)) = self.choose(svc, client, now) else {
            self.stats.syn_no_real_server += 1;
            debug!(%vip, "no real server available");
            return;
        };
        let Some(server_port) = self.port_for(*pick.real.ip()) else {
            self.stats.syn_no_route += 1;
            if let Some(t) = template {
                self.conns.release_template(&t);
            }
            warn!(real = %pick.real, "real server is on no port's subnet");
            return;
        };
        let pending = Pending {
            frame,
            id,
            real: pick.real,
            method: pick.method,
            template,
            client_port: port,
            client_mac: eth_src,
            server_port,
            since: now,
            controller: None,
            syn_port: port,
        };
        match self.neighbours.get(pick.real.ip()) {
            Some(n) => {
                let mac = n.mac;
                self.install(pending, mac)
            }
            None => self.park(pending),
        }
    }

    /// A UDP datagram the NIC handed over. The first datagram of a (client, VIP:port) flow to a
    /// UDP service reaches us as a lookup miss and opens a connection, as IPVS does; one of a
    /// known flow (a miss racing the install) gets its entries written again and goes back
    /// through the NIC. Only a miss is taken: the NIC rewrites a re-injected datagram only if
    /// its fast path classifies it (no IP options, not a fragment), which a miss shows.
    fn handle_udp(&mut self, frame: Vec<u8>, port: u8, reason: Reason, eth_src: Mac, udp: &Udp) {
        let src = SocketAddrV4::new(udp.src, udp.sport);
        let dst = SocketAddrV4::new(udp.dst, udp.dport);
        let forward = ConnKey {
            proto: Protocol::Udp,
            client: src,
            vip: dst,
        };
        let known = if self.conns.get(&forward).is_some() {
            Some(forward)
        } else {
            self.conns.by_reply(Protocol::Udp, src, dst).copied()
        };
        let svc = forward.service();
        let now = self.now();
        if let Some(id) = known.filter(|id| self.is_tunnelled(id)) {
            // the host carries every datagram of a tunnelled flow, whatever the NIC's reason
            self.rearm(&id, now);
            self.forward(&id, &frame, port);
            return;
        }
        let for_us = known.is_some() || self.services.contains(svc);
        if reason != Reason::Miss || !for_us {
            if for_us || self.services.is_vip(udp.dst) {
                self.stats.udp_not_forwarded += 1;
                debug!(%src, %dst, reason = reason.name(), "UDP for a VIP dropped");
            } else {
                self.stats.ignored += 1;
            }
            return;
        }
        if let Some(id) = known {
            let nic = self.conns.get(&id).and_then(|c| c.nic.clone());
            if let Some(n) = nic {
                if self.write_entries(&n).is_err() {
                    self.stats.table_write_errors += 1;
                    return;
                }
                self.stats.entries_repaired += 1;
            }
            self.rearm(&id, now);
            self.stats.segments_reinjected += 1;
            self.send(&frame, TxMode::Lookup { port });
            return;
        }
        if let Some(p) = self.parked.iter_mut().find(|p| p.id == forward) {
            p.frame = frame; // one datagram per flow waits for ARP: the newest
            self.stats.udp_parked_replaced += 1;
            return;
        }
        self.new_connection(forward, frame, port, eth_src, now);
    }

    /// A frame of connection `id` seen by the host at `now`: its timer runs at least its
    /// state's timeout from now.
    fn rearm(&mut self, id: &ConnKey, now: Instant) {
        if let Some(c) = self.conns.get_mut(id) {
            c.expires = c.expires.max(now + self.timeouts.conn(id.proto, c.state));
        }
    }

    /// Write all of a connection's NIC entries (the return path first).
    fn write_entries(&mut self, n: &NicEntries) -> Result<(), DriverError> {
        for (b, e) in n.entries() {
            self.driver.write_entry(b, e)?;
        }
        Ok(())
    }

    /// A non-SYN TCP segment the NIC handed over: if it belongs to a known connection, drive
    /// its state and send it back through the NIC (re-writing the entries first after a miss).
    fn handle_segment(&mut self, frame: Vec<u8>, port: u8, reason: Reason, tcp: &Tcp) {
        let src = SocketAddrV4::new(tcp.src, tcp.sport);
        let dst = SocketAddrV4::new(tcp.dst, tcp.dport);
        let forward = ConnKey {
            proto: Protocol::Tcp,
            client: src,
            vip: dst,
        };
        let (id, dir) = if self.conns.get(&forward).is_some() {
            (forward, Dir::In)
        } else if let Some(id) = self.conns.by_reply(Protocol::Tcp, src, dst) {
            (*id, Dir::Out)
        } else {
            self.stats.ignored += 1;
            debug!(%src, %dst, reason = reason.name(), "segment of no known connection dropped");
            return;
        };
        let now = self.now();
        if let Some(e) = Event::of(tcp.flags) {
            self.apply_event(&id, dir, e, now);
        }
        if self.is_tunnelled(&id) {
            // every segment of a tunnelled connection: the host encapsulates it
            self.rearm(&id, now);
            self.forward(&id, &frame, port);
            return;
        }
        if reason == Reason::Miss {
            let nic = self.conns.get(&id).and_then(|c| c.nic.clone());
            if let Some(n) = nic {
                if self.write_entries(&n).is_err() {
                    self.stats.table_write_errors += 1;
                    return;
                }
                self.stats.entries_repaired += 1;
            }
        }
        if self.bindings.contains_key(&id) {
            self.app_segment(id, dir, frame, reason, port);
            return;
        }
        // Host frames sent with lookup are rewritten by the NIC, never handed back.
        self.stats.segments_reinjected += 1;
        self.send(&frame, TxMode::Lookup { port });
    }

    /// A segment of a connection bound to a helper: the helper sees it (and may rewrite its
    /// payload), the NIC entries get the new deltas, then the host sends the result itself with
    /// NAT, seq, ack and SACK applied in software (see [`crate::appnat`]).
    fn app_segment(&mut self, id: ConnKey, dir: Dir, frame: Vec<u8>, reason: Reason, port: u8) {
        let ad = match dir {
            Dir::Out => app::Dir::Out,
            Dir::In | Dir::InOnly => app::Dir::In,
        };
        match reason {
            Reason::AppPayload => self.stats.app_segments += 1,
            Reason::SeqHistory | Reason::AckOptions => self.stats.app_host_fixed += 1,
            _ => {}
        }
        let Some(b) = self.bindings.get_mut(&id) else {
            return;
        };
        let done = |s: app::BindingStats| s.rewrites + s.replayed;
        let before = done(b.stats());
        let out = match b.pkt(ad, frame.clone(), SeqFix::Host) {
            Ok(o) => o,
            Err(e) => {
                self.stats.app_errors += 1;
                debug!(error = %e, "helper refused a segment; forwarded unchanged");
                self.send(&frame, TxMode::Lookup { port });
                return;
            }
        };
        self.stats.app_rewrites += done(b.stats()) - before;
        let adj = *b.seq_adj();
        let expect_for = b
            .incarnation()
            .timeouts()
            .iter()
            .find(|t| t.state == "EXPECT")
            .map_or(Duration::from_secs(120), |t| t.timeout);
        // The new deltas reach the NIC before the rewritten segment leaves: the peer's ACK of
        // the rewritten bytes must meet them (codesign §3).
        let mut update = None;
        if let Some(n) = self
            .conns
            .get_mut(&id)
            .and_then(|c| c.nic.as_mut())
            .and_then(NicEntries::as_nat_mut)
        {
            if appnat::program_deltas(n, &adj) {
                update = Some(n.clone());
            }
        }
        if let Some(n) = update {
            let ok = self
                .driver
                .write_entry(n.out_bucket, &n.out_entry)
                .and_then(|()| self.driver.write_entry(n.in_bucket, &n.in_entry));
            match ok {
                Ok(()) => self.stats.app_delta_updates += 1,
                Err(e) => {
                    self.stats.table_write_errors += 1;
                    warn!(error = %e, "writing sequence deltas failed");
                }
            }
        }
        let now = self.now();
        for a in &out.actions {
            let Some(kind) = appnat::expect_kind(a) else {
                continue;
            };
            match kind {
                ExpectKind::Passive { .. } => self.stats.data_expected_passive += 1,
                ExpectKind::Active { .. } => self.stats.data_expected_active += 1,
            }
            debug!(?kind, controller = %id.client, "data connection expected");
            let expires = now + expect_for;
            match self
                .expects
                .iter_mut()
                .find(|e| e.kind == kind && e.controller == id)
            {
                Some(e) => e.expires = expires,
                None => self.expects.push(Expectation {
                    kind,
                    controller: id,
                    expires,
                }),
            }
        }
        self.send_app_frames(&id, ad, out.frames);
    }

    /// Send frames of a bound connection around the NIC: NAT of `dir`'s entry applied here.
    fn send_app_frames(&mut self, id: &ConnKey, dir: app::Dir, frames: Vec<Vec<u8>>) {
        let Some(n) = self
            .conns
            .get(id)
            .and_then(|c| c.nic.as_ref())
            .and_then(NicEntries::as_nat)
        else {
            return;
        };
        let e = match dir {
            app::Dir::In => n.in_entry,
            app::Dir::Out => n.out_entry,
        };
        for mut f in frames {
            if appnat::nat_in_software(&mut f, &e).is_err() {
                self.stats.app_errors += 1;
                continue;
            }
            if self.send(
                &f,
                TxMode::Bypass {
                    port: e.egress_port,
                },
            ) {
                self.stats.app_frames_sent += 1;
            }
        }
    }

    /// A SYN that claims an expected FTP data connection: install it (controlled by its control
    /// connection, on the same ports and next hops) and re-inject the SYN. Returns whether it
    /// was claimed.
    fn claim_expectation(
        &mut self,
        frame: &[u8],
        port: u8,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        now: Instant,
    ) -> bool {
        let Some(i) = self
            .expects
            .iter()
            .position(|e| e.kind.claim(src, dst).is_some())
        else {
            return false;
        };
        let e = self.expects.remove(i);
        let Some((client, vip, real)) = e.kind.claim(src, dst) else {
            return false;
        };
        let Some(nic) = self
            .conns
            .get(&e.controller)
            .and_then(|c| c.nic.as_ref())
            .and_then(NicEntries::as_nat)
            .cloned()
        else {
            return false;
        };
        let (cs, ss) = (nic.client_side(), nic.server_side());
        let pending = Pending {
            frame: frame.to_vec(),
            id: ConnKey {
                proto: Protocol::Tcp,
                client,
                vip,
            },
            real,
            method: ForwardMethod::Masq,
            template: None,
            client_port: cs.port,
            client_mac: cs.next_hop_mac,
            server_port: ss.port,
            since: now,
            controller: Some(e.controller),
            syn_port: port,
        };
        debug!(%client, %vip, %real, "data connection claimed");
        self.stats.data_connections += 1;
        self.install(pending, ss.next_hop_mac);
        true
    }

    fn park(&mut self, p: Pending) {
        if self.parked.len() >= self.cfg.max_parked {
            self.stats.syn_park_full_drops += 1;
            if let Some(t) = p.template {
                self.conns.release_template(&t);
            }
            debug!(client = %p.id.client, "park queue full, SYN dropped");
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

    /// Install the connection's entries (as its method needs them) and re-inject its first
    /// frame.
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
        let release = |d: &mut Self| {
            if let Some(t) = p.template {
                d.conns.release_template(&t);
            }
        };
        // A tunnelled connection has no entries (the NIC cannot encapsulate): its frames miss
        // and the host forwards them.
        let mut nic = NicEntries::for_method(
            p.method,
            &p.id,
            p.real,
            client_side,
            server_side,
            self.conns.index_bits(),
            self.conns.hash_key(),
        );
        if let Some(nic) = &mut nic {
            match self.conns.assign(&p.id, nic) {
                Ok(()) => {}
                Err(ConnError::Exists { .. }) => {
                    release(self);
                    self.stats.syn_retransmits += 1;
                    self.send(&p.frame, TxMode::Lookup { port: p.syn_port });
                    return;
                }
                Err(e @ ConnError::Collision { .. }) => {
                    release(self);
                    self.stats.table_collisions = self.conns.collisions();
                    info!(client = %p.id.client, vip = %p.id.vip, real = %p.real, "connection refused: {e}");
                    return;
                }
            }
        }
        // A control connection of a helped application (FTP) binds to it; its payload then
        // goes to the host in both directions. Helpers need NAT (IPVS binds them to
        // masqueraded TCP connections only): a DR connection's replies never reach us.
        let helpable = p.id.proto == Protocol::Tcp
            && p.method == ForwardMethod::Masq
            && nic.as_ref().is_some_and(|n| n.as_nat().is_some());
        let binding = if p.controller.is_none() && helpable {
            match self.apps.bind(ConnCtx {
                protocol: app::PROTO_TCP,
                client: p.id.client.into(),
                vip: p.id.vip.into(),
                real: p.real.into(),
            }) {
                Ok(b) => b,
                Err(e) => {
                    warn!(error = %e, "application bind refused; connection not helped");
                    None
                }
            }
        } else {
            None
        };
        if let (Some(_), Some(pair)) = (&binding, nic.as_mut().and_then(|n| n.as_nat_mut())) {
            pair.in_entry.app_bound = true;
            pair.out_entry.app_bound = true;
        }
        if let Some(nic) = &nic {
            self.take_baselines(nic);
            // Return path first: once the client's frames are rewritten, the replies must be too.
            if let Err(e) = self.write_entries(nic) {
                release(self);
                self.stats.table_write_errors += 1;
                warn!(error = %e, "table write failed, connection dropped");
                for (b, _) in nic.entries().rev() {
                    let _ = self.driver.clear_entry(b);
                }
                return;
            }
        }
        debug!(client = %p.id.client, vip = %p.id.vip, real = %p.real, method = %p.method, in_bucket = ?nic.as_ref().map(|n| n.in_bucket()), out_bucket = ?nic.as_ref().and_then(|n| n.out_bucket()), "connection installed");
        // The client's SYN. Without per-entry NIC state the handshake's progress is invisible:
        // the connection is taken as established (its timeout is then ESTABLISHED's).
        // An active-mode FTP data connection starts with the real server's SYN.
        let syn_dir = if p.syn_port == p.server_port && p.controller.is_some() {
            Dir::Out
        } else {
            Dir::In
        };
        let state = match p.id.proto {
            // UDP has no state: a UDP connection stays NONE (inactive, as in IPVS)
            Protocol::Udp => TcpState::None,
            Protocol::Tcp if self.reports_state() => {
                state::next(TcpState::None, syn_dir, Event::Syn)
            }
            Protocol::Tcp => TcpState::Established,
        };
        let now = self.now();
        self.services
            .conn_opened(p.id.service(), p.real, state.is_active());
        let c = Connection {
            id: p.id,
            real: p.real,
            method: p.method,
            nic,
            state,
            active: state.is_active(),
            expires: now + self.timeouts.conn(p.id.proto, state),
            template: p.template,
            controller: p.controller,
            controlled: 0,
            isn: match p.id.proto {
                Protocol::Tcp => syn_seq(&p.frame),
                Protocol::Udp => None,
            },
        };
        if self.conns.insert(c).is_ok() {
            self.stats.connections_created += 1;
            if let Some(b) = binding {
                self.stats.app_bound += 1;
                self.bindings.insert(p.id, b);
            }
        }
        self.forward(&p.id, &p.frame, p.syn_port);
    }

    /// Whether connection `id` is tunnelled: its method is one the NIC does not forward, so
    /// the host does.
    fn is_tunnelled(&self, id: &ConnKey) -> bool {
        self.conns
            .get(id)
            .is_some_and(|c| !c.method.nic_supported())
    }

    /// Send a frame of connection `id` that arrived on `port` on its way: back through the NIC
    /// to be rewritten, or, for a tunnelled connection, encapsulated by us.
    fn forward(&mut self, id: &ConnKey, frame: &[u8], port: u8) {
        if self.is_tunnelled(id) {
            self.tunnel(id, frame, port);
        } else {
            self.send(frame, TxMode::Lookup { port });
        }
    }

    /// Encapsulate a client's frame of tunnelled connection `id` (it arrived on `port`) and
    /// send it to the real server, or answer the client that it is too big.
    fn tunnel(&mut self, id: &ConnKey, frame: &[u8], port: u8) {
        let Some(real) = self.conns.get(id).map(|c| c.real) else {
            return;
        };
        let Some(sp) = self.port_for(*real.ip()) else {
            self.stats.syn_no_route += 1;
            return;
        };
        let Some(mac) = self.neighbours.get(real.ip()).map(|n| n.mac) else {
            // a restarted daemon has not learnt it yet: ask; TCP sends the segment again
            self.stats.tunnel_no_neighbour += 1;
            self.send_arp_request(sp, *real.ip());
            return;
        };
        let (ours, theirs) = (self.cfg.ports[sp as usize], self.cfg.ports[port as usize]);
        let t = Tunnel {
            icmp_src: theirs.addr,
            src: ours.addr,
            dst: *real.ip(),
            src_mac: ours.mac,
            dst_mac: mac,
            mtu: self.cfg.tunnel_mtu,
        };
        self.tunnel_id = self.tunnel_id.wrapping_add(1);
        match tunnel::encapsulate(frame, &t, self.tunnel_id) {
            Ok(Encapsulated::Frames(frames)) => {
                if frames.len() > 1 {
                    self.stats.tunnel_fragmented += 1;
                }
                for f in &frames {
                    if self.send(f, TxMode::Bypass { port: sp }) {
                        self.stats.tunnel_sent += 1;
                    }
                }
                self.services
                    .traffic(id.service(), real, 1, frame.len() as u64, 0, 0);
            }
            Ok(Encapsulated::TooBig(icmp)) => {
                self.stats.tunnel_frag_needed += 1;
                let client_mac = net::parse(frame).map_or(net::BROADCAST, |f| f.eth_src);
                let icmp = tunnel::ethernet(client_mac, theirs.mac, &icmp);
                self.send(&icmp, TxMode::Bypass { port });
            }
            Err(e) => {
                self.stats.tunnel_errors += 1;
                debug!(client = %id.client, error = %e, "frame not tunnelled");
            }
        }
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
            Request::AddService { spec } => self.services.add_service(spec).map(|()| Response::Ok),
            Request::EditService { spec } => {
                self.services.edit_service(spec).map(|()| Response::Ok)
            }
            Request::DelService { service } => {
                self.services.del_service(service).map(|()| Response::Ok)
            }
            Request::AddReal { service, real } => {
                self.services.add_real(service, real).map(|()| Response::Ok)
            }
            Request::EditReal { service, real } => self
                .services
                .edit_real(service, real)
                .map(|()| Response::Ok),
            Request::DelReal { service, addr } => {
                self.services.del_real(service, addr).map(|()| Response::Ok)
            }
            Request::Clear => {
                self.services.clear();
                Ok(Response::Ok)
            }
            Request::Zero { service } => self.services.zero(service).map(|()| Response::Ok),
            Request::SetTimeouts { tcp, tcpfin, udp } => {
                self.timeouts.set(tcp, tcpfin, udp);
                Ok(Response::Ok)
            }
            Request::Timeouts => {
                let (tcp, tcpfin, udp) = self.timeouts.listed();
                Ok(Response::Timeouts { tcp, tcpfin, udp })
            }
            Request::Batch { requests } => {
                for r in requests {
                    let resp = self.handle_request(r);
                    if matches!(resp, Response::Error { .. }) {
                        return resp;
                    }
                }
                Ok(Response::Ok)
            }
            Request::List => Ok(Response::Services {
                table_size: self.driver.info().table_size(),
                services: self.services.list(),
            }),
            Request::Connections => Ok(Response::Connections {
                connections: self.conns.list(Instant::now()),
            }),
            Request::Counters => {
                return match self.driver.counters() {
                    Ok(nic) => Response::Counters {
                        nic: Box::new(nic),
                        daemon: Box::new(self.stats.clone()),
                        device: self.driver.backend().device_figures(),
                    },
                    Err(e) => Response::Error {
                        message: e.to_string(),
                    },
                }
            }
            Request::Metrics => {
                let nic = self.driver.counters().ok();
                Ok(Response::Metrics {
                    text: metrics::render(
                        nic.as_ref(),
                        &self.driver.backend().device_figures(),
                        &self.stats,
                        &self.services.list(),
                        self.conns.len(),
                        self.conns.templates_len(),
                    ),
                })
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
    fn cid(client: &str) -> ConnKey {
        ConnKey {
            proto: Protocol::Tcp,
            client: sa(client),
            vip: sa("10.0.0.100:80"),
        }
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
        cfg.services.push(ServiceConfig::tcp(
            sa("10.0.0.100:80"),
            Scheduler::Rr,
            vec![RealConfig {
                addr: sa("10.1.0.2:8080"),
                weight: 1,
                method: ForwardMethod::Masq,
                u_threshold: 0,
                l_threshold: 0,
            }],
        ));
        cfg
    }

    fn setup(cfg: DaemonConfig) -> (Arc<FakeNic>, Daemon<FakeNic>) {
        let nic = Arc::new(FakeNic::new(FakeConfig {
            table_index_bits: BITS,
            ..Default::default()
        }));
        let driver = Driver::open_with(
            nic.clone(),
            crate::driver::DriverConfig {
                // a fixed flow hash key: the tests' placements (and collisions) are deterministic
                hash_key: Some(vsnic_contract::hash::DEFAULT_KEY),
                ..Default::default()
            },
        )
        .unwrap();
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
        let in_bucket = hash::bucket_keyed(&in_key, BITS, &nic.hash_key());
        let out_bucket = hash::bucket_keyed(&out_key, BITS, &nic.hash_key());
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
                ..Entry::default()
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
                ..Entry::default()
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

        let c = d.connections().get(&cid("10.0.0.2:40000")).unwrap();
        assert_eq!(
            (
                c.real,
                c.nic.as_ref().unwrap().in_bucket(),
                c.nic.as_ref().unwrap().out_bucket().unwrap()
            ),
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
            .get(&cid("10.0.0.2:40000"))
            .unwrap()
            .nic
            .clone()
            .unwrap()
            .as_nat()
            .cloned()
            .unwrap();
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
                let b_in = hash::bucket_keyed(&k_in, BITS, &nic.hash_key());
                let k_out = FlowKey {
                    saddr: real.ip().octets(),
                    daddr: c.ip().octets(),
                    sport: 8080,
                    dport: c.port(),
                    proto: 6,
                };
                let b_out = hash::bucket_keyed(&k_out, BITS, &nic.hash_key());
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
        assert!(d.connections().get(&cid(&colliding.to_string())).is_none());
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

    /// The real server 10.1.0.2 answers the daemon's ARP request (its MAC becomes known).
    fn learn_real_server(d: &mut Daemon<FakeNic>) {
        let rs_arp = Arp {
            op: ArpOp::Request,
            sender_mac: P1_MAC,
            sender_ip: ip("10.1.0.1"),
            target_mac: [0; 6],
            target_ip: ip("10.1.0.2"),
        };
        d.handle_exception(exc(net::arp_reply(&rs_arp, RS_MAC), Reason::NonIpv4, 1));
    }

    fn ftp_config() -> DaemonConfig {
        let mut cfg = config();
        cfg.services[0] = ServiceConfig::tcp(
            sa("10.0.0.100:21"),
            Scheduler::Rr,
            vec![RealConfig {
                addr: sa("10.1.0.2:21"),
                weight: 1,
                method: ForwardMethod::Masq,
                u_threshold: 0,
                l_threshold: 0,
            }],
        );
        cfg
    }

    /// A daemon that stops without a word (its memory gone, as after SIGKILL) and a new one on
    /// the same NIC: the FTP control connection with a sequence delta is rebuilt from the NIC's
    /// table and the snapshot — same entries, helper bound again with the same history, the
    /// pending data connection still expected — and the next reply is rewritten on top of
    /// the restored delta. Without the snapshot the NIC's table alone still gives the
    /// connection and its newest delta. Unpaired entries are cleared.
    #[test]
    fn a_restarted_daemon_rebuilds_connections_from_the_nic_and_the_snapshot() {
        let dir = std::env::temp_dir().join(format!("vsnic-restore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("state.json");
        let _ = std::fs::remove_file(&state);
        let mut cfg = ftp_config();
        cfg.state_file = Some(state.clone());
        let (nic, mut d) = setup(cfg.clone());
        learn_real_server(&mut d);
        let client = (ip("10.0.0.2"), 40000);
        let vip = (ip("10.0.0.100"), 21);
        let id = ConnKey {
            proto: Protocol::Tcp,
            client: sa("10.0.0.2:40000"),
            vip: sa("10.0.0.100:21"),
        };
        d.handle_exception(exc(
            net::tcp_frame(CLIENT_MAC, P0_MAC, client, vip, SYN, 1000, &[]),
            Reason::Syn,
            0,
        ));
        let ack = TcpFlags {
            ack: true,
            ..Default::default()
        };
        let reply = |seq: u32, text: &[u8]| {
            net::tcp_frame(RS_MAC, P1_MAC, (ip("10.1.0.2"), 21), client, ack, seq, text)
        };
        d.handle_exception(exc(
            reply(5000, b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n"),
            Reason::AppPayload,
            1,
        ));
        let before = d.connections().get(&id).unwrap().clone();
        let adj = *d.binding(&id).unwrap().seq_adj();
        assert!(!adj.out_seq.is_empty());
        d.save_state(Instant::now(), true);
        assert_eq!(d.stats().state_saves, 1);
        // a half-installed connection (only its return entry made it) left behind
        let stray = Entry {
            key: FlowKey {
                saddr: [10, 1, 0, 9],
                daddr: [10, 0, 0, 9],
                sport: 80,
                dport: 5555,
                proto: 6,
            },
            valid: true,
            action: Action::Snat,
            nat_addr: [10, 0, 0, 100],
            nat_port: 80,
            ..Entry::default()
        };
        let stray_bucket = hash::bucket_keyed(&stray.key, BITS, &hash::DEFAULT_KEY);
        let mut drv = Driver::open_with(
            nic.clone(),
            crate::driver::DriverConfig {
                clear_table: false,
                ..Default::default()
            },
        )
        .unwrap();
        drv.write_entry(stray_bucket, &stray).unwrap();
        drop(drv);
        let mut d2 = super::ipvs_tests::reopen(&nic, d, cfg.clone());
        let r = d2.restored();
        assert_eq!(
            (
                r.connections,
                r.from_snapshot,
                r.bindings,
                r.orphans_cleared
            ),
            (1, 1, 1, 1)
        );
        assert_eq!(
            Entry::from_words(&nic.table_words(stray_bucket)),
            Some(Entry::default())
        );
        let c = d2.connections().get(&id).unwrap();
        assert_eq!(
            (c.real, c.isn, c.state),
            (before.real, before.isn, before.state)
        );
        assert_eq!(c.nic, before.nic, "the same entries");
        assert_eq!(*d2.binding(&id).unwrap().seq_adj(), adj, "the same history");
        assert_eq!(
            d2.expectations().len(),
            1,
            "the data connection is still expected"
        );
        assert_eq!(d2.services().list()[0].reals[0].active_conns, 1);
        assert_eq!(d2.neighbour(ip("10.1.0.2")), Some(RS_MAC));
        // the session goes on: a second 227 is rewritten on top of the restored delta
        nic.take_tx();
        let next = 5000 + b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n".len() as u32;
        d2.handle_exception(exc(
            reply(next, b"227 Entering Passive Mode (10,1,0,2,156,65).\r\n"),
            Reason::AppPayload,
            1,
        ));
        assert_eq!(d2.stats().app_rewrites, 1);
        let levels = d2.binding(&id).unwrap().seq_adj().out_seq.levels().len();
        assert_eq!(levels, 2, "a second level on top of the restored one");
        let sent = nic.take_tx();
        assert_eq!(sent.len(), 1);
        let f = &sent[0].frame;
        let seq = app::frame::tcp_info(f, &app::frame::layout(f).unwrap()).seq;
        assert_eq!(seq, next + 2, "numbered after the first rewrite's +2 bytes");

        // without the snapshot: the NIC's table alone gives the connection and its delta
        std::fs::remove_file(&state).unwrap();
        let d3 = super::ipvs_tests::reopen(&nic, d2, cfg);
        let r = d3.restored();
        assert_eq!((r.connections, r.from_snapshot, r.bindings), (1, 0, 1));
        let newest = d3.binding(&id).unwrap().seq_adj().out_seq.newest();
        assert!(newest.is_some_and(|l| l.offset_after == 4), "{newest:?}");
        assert_eq!(
            d3.connections().get(&id).unwrap().state,
            TcpState::Established
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An FTP control connection whose addresses a new connection reuses (the client bound the
    /// same local port again; vsftpd closes first, so the client's side is free at once): the
    /// new SYN has another sequence number. It must get a fresh connection — new NIC entries
    /// without the old deltas, a new helper binding — not the old one's state, whose deltas
    /// and stream positions belong to the old byte stream. A retransmitted SYN (same sequence
    /// number) still only re-injects.
    #[test]
    fn syn_reusing_addresses_is_a_new_connection() {
        let (nic, mut d) = setup(ftp_config());
        learn_real_server(&mut d);
        let client = (ip("10.0.0.2"), 40000);
        let vip = (ip("10.0.0.100"), 21);
        let id = ConnKey {
            proto: Protocol::Tcp,
            client: sa("10.0.0.2:40000"),
            vip: sa("10.0.0.100:21"),
        };
        let syn_with = |seq| net::tcp_frame(CLIENT_MAC, P0_MAC, client, vip, SYN, seq, &[]);
        d.handle_exception(exc(syn_with(1000), Reason::Syn, 0));
        assert_eq!(d.stats().app_bound, 1);
        // the server's 227 is rewritten (10.1.0.2 → 10.0.0.100: two bytes longer)
        let reply = net::tcp_frame(
            RS_MAC,
            P1_MAC,
            (ip("10.1.0.2"), 21),
            client,
            TcpFlags {
                ack: true,
                ..Default::default()
            },
            5000,
            b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n",
        );
        d.handle_exception(exc(reply, Reason::AppPayload, 1));
        assert_eq!(d.stats().app_rewrites, 1);
        assert!(!d.binding(&id).unwrap().seq_adj().is_empty());
        assert_eq!(d.expectations().len(), 1);
        let old = d
            .connections()
            .get(&id)
            .unwrap()
            .nic
            .clone()
            .unwrap()
            .as_nat()
            .cloned()
            .unwrap();
        assert!(old.out_entry.seq.is_some() && old.in_entry.ack.is_some());
        nic.take_tx();

        // a retransmission of the first SYN: re-injected, nothing else
        d.handle_exception(exc(syn_with(1000), Reason::Syn, 0));
        assert_eq!(
            (d.stats().syn_retransmits, d.stats().connections_reused),
            (1, 0)
        );
        assert!(!d.binding(&id).unwrap().seq_adj().is_empty());
        assert_eq!(nic.take_tx().len(), 1);

        // a new connection on the same addresses
        d.handle_exception(exc(syn_with(7_000_000), Reason::Syn, 0));
        assert_eq!(
            (d.stats().syn_retransmits, d.stats().connections_reused),
            (1, 1)
        );
        assert_eq!(d.stats().app_bound, 2, "bound afresh");
        assert!(d.binding(&id).unwrap().seq_adj().is_empty());
        assert!(d.expectations().is_empty(), "the old session's expectation");
        let c = d.connections().get(&id).unwrap();
        assert_eq!(c.isn, Some(7_000_000));
        let n = c.nic.clone().unwrap().as_nat().cloned().unwrap();
        assert_eq!((n.in_bucket, n.out_bucket), (old.in_bucket, old.out_bucket));
        for b in [n.in_bucket, n.out_bucket] {
            let e = Entry::from_words(&nic.table_words(b)).unwrap();
            assert!(e.valid && e.app_bound, "bucket {b}: {e:?}");
            assert_eq!((e.seq, e.ack), (None, None), "bucket {b}: old deltas");
        }
        assert_eq!(d.connections().len(), 1);
        assert_eq!(d.services().list()[0].reals[0].active_conns, 1);
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 1, "the new SYN re-injected");
        assert_eq!(tcp_seq_of(&tx[0].frame), 7_000_000);
    }

    fn tcp_seq_of(frame: &[u8]) -> u32 {
        syn_seq(frame).unwrap()
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

    /// An exception nobody answers (an ARP request for an address that is not ours).
    fn noise() -> Vec<u8> {
        net::arp_request(CLIENT_MAC, ip("10.0.0.2"), ip("10.0.0.7"))
    }

    #[test]
    fn poll_is_bounded_and_leaves_the_rest_for_later() {
        let mut cfg = config();
        cfg.poll_budget = 10;
        let (nic, mut d) = setup(cfg);
        for _ in 0..25 {
            assert!(nic.inject_exception(&noise(), Reason::NonIpv4, 0, false, 0));
        }
        assert_eq!(d.poll().unwrap(), 10);
        assert!(d.backlog());
        assert_eq!(d.poll().unwrap(), 10);
        assert!(d.backlog());
        assert_eq!(d.poll().unwrap(), 5);
        assert!(!d.backlog(), "the ring is empty");
        assert_eq!(d.poll().unwrap(), 0);
        assert_eq!(d.stats().poll_budget_exhausted, 2);
        assert_eq!(d.stats().exceptions[Reason::NonIpv4 as usize], 25);
        // a budget of 0 is taken as 1: a poll always makes progress
        let mut cfg = config();
        cfg.poll_budget = 0;
        let (nic, mut d) = setup(cfg);
        nic.inject_exception(&noise(), Reason::NonIpv4, 0, false, 0);
        nic.inject_exception(&noise(), Reason::NonIpv4, 0, false, 0);
        assert_eq!((d.poll().unwrap(), d.backlog()), (1, true));
        assert_eq!((d.poll().unwrap(), d.backlog()), (1, true));
        assert_eq!((d.poll().unwrap(), d.backlog()), (0, false));
    }

    /// The event loop comes back for a backlog by itself: the interrupt and the tick each bring
    /// at most one budget's worth, and neither comes again here (the tick is an hour away).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_takes_a_backlog_without_another_interrupt() {
        let dir = std::env::temp_dir().join(format!("vsnic-backlog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("vsnicd.sock");
        let mut cfg = config();
        cfg.poll_budget = 8;
        cfg.tick_ms = 3_600_000;
        cfg.control_socket = Some(sock.clone());
        let (nic, d) = setup(cfg);
        for _ in 0..200 {
            assert!(nic.inject_exception(&noise(), Reason::NonIpv4, 0, false, 0));
        }
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(d.run(async {
            let _ = stop_rx.await;
        }));
        let mut seen = (0, 0);
        for _ in 0..1000 {
            let s = sock.clone();
            let r = tokio::task::spawn_blocking(move || control::call(&s, &Request::Counters))
                .await
                .unwrap();
            if let Ok(Response::Counters { daemon, .. }) = r {
                seen = (
                    daemon.exceptions[Reason::NonIpv4 as usize],
                    daemon.poll_budget_exhausted,
                );
                if seen.0 == 200 {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(seen.0, 200, "every exception handled");
        assert!(seen.1 >= 200 / 8, "{} polls stopped at the budget", seen.1);
        stop_tx.send(()).unwrap();
        task.await.unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_config_is_rejected() {
        let nic = Arc::new(FakeNic::default());
        let mut cfg = config();
        cfg.ports.extend_from_slice(&[cfg.ports[0]; 2]);
        let err = Daemon::new(
            Driver::open_with(
                nic.clone(),
                crate::driver::DriverConfig {
                    // a fixed flow hash key: the tests' placements (and collisions) are deterministic
                    hash_key: Some(vsnic_contract::hash::DEFAULT_KEY),
                    ..Default::default()
                },
            )
            .unwrap(),
            cfg,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .contains("4 ports configured, the device has 2"),
            "{err}"
        );
        let mut cfg = config();
        cfg.services[0].reals[0].weight = 70_000;
        assert!(Daemon::new(
            Driver::open_with(
                nic.clone(),
                crate::driver::DriverConfig {
                    // a fixed flow hash key: the tests' placements (and collisions) are deterministic
                    hash_key: Some(vsnic_contract::hash::DEFAULT_KEY),
                    ..Default::default()
                },
            )
            .unwrap(),
            cfg
        )
        .is_err());
    }
}

#[cfg(test)]
mod ipvs_tests {
    //! The IPVS core on the in-memory NIC with a paused clock: state machine and expiry driven
    //! by per-entry NIC state, persistence, refusals, reload, metrics.
    use super::*;
    use crate::backend::fake::{FakeConfig, FakeNic};
    use crate::nicstate::FakeNicState;
    use std::sync::Arc;
    use vsnic_contract::activity::HitFlags;

    const P0_MAC: Mac = [2, 0, 0, 0, 0, 1];
    const P1_MAC: Mac = [2, 0, 0, 0, 1, 1];
    const CLIENT_MAC: Mac = [2, 0, 0, 0, 0, 0x10];
    const VIP: &str = "10.0.0.100:80";

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    fn flags(syn: bool, ack: bool, fin: bool, rst: bool) -> net::TcpFlags {
        net::TcpFlags { syn, ack, fin, rst }
    }

    fn real(addr: &str, weight: u32, method: ForwardMethod) -> RealConfig {
        RealConfig {
            addr: sa(addr),
            weight,
            method,
            u_threshold: 0,
            l_threshold: 0,
        }
    }

    fn config(service: ServiceConfig) -> DaemonConfig {
        let mut cfg = DaemonConfig::new(vec![
            PortConfig {
                mac: P0_MAC,
                addr: "10.0.0.1".parse().unwrap(),
                prefix: 24,
            },
            PortConfig {
                mac: P1_MAC,
                addr: "10.1.0.1".parse().unwrap(),
                prefix: 24,
            },
        ]);
        cfg.services.push(service);
        cfg
    }

    fn two_reals(sched: Scheduler) -> ServiceConfig {
        ServiceConfig::tcp(
            sa(VIP),
            sched,
            vec![
                real("10.1.0.2:80", 1, ForwardMethod::Masq),
                real("10.1.0.3:80", 1, ForwardMethod::Masq),
            ],
        )
    }

    /// A daemon whose real servers are already known by ARP.
    fn setup(cfg: DaemonConfig) -> (Arc<FakeNic>, Daemon<FakeNic>) {
        setup_nic(cfg, FakeConfig::default())
    }

    /// A daemon on a NIC without per-entry activity (table block 1.1): an installed TCP
    /// connection counts as established.
    fn setup_without_activity(cfg: DaemonConfig) -> (Arc<FakeNic>, Daemon<FakeNic>) {
        let fake = FakeConfig {
            table_version: vsnic_contract::regs::table::VERSION & !0xFFFF
                | vsnic_contract::regs::table::MINOR_READ,
            ..FakeConfig::default()
        };
        let (nic, d) = setup_nic(cfg, fake);
        assert!(!d.reports_state());
        (nic, d)
    }

    fn setup_nic(cfg: DaemonConfig, fake: FakeConfig) -> (Arc<FakeNic>, Daemon<FakeNic>) {
        let nic = Arc::new(FakeNic::new(fake));
        let mut d = Daemon::new(
            Driver::open_with(
                nic.clone(),
                crate::driver::DriverConfig {
                    // a fixed flow hash key: the tests' placements (and collisions) are deterministic
                    hash_key: Some(vsnic_contract::hash::DEFAULT_KEY),
                    ..Default::default()
                },
            )
            .unwrap(),
            cfg,
        )
        .unwrap();
        for last in 2..=4u8 {
            let arp = Arp {
                op: ArpOp::Request,
                sender_mac: P1_MAC,
                sender_ip: "10.1.0.1".parse().unwrap(),
                target_mac: [0; 6],
                target_ip: Ipv4Addr::new(10, 1, 0, last),
            };
            d.handle_exception(exc(
                net::arp_reply(&arp, [2, 0, 0, 0, 1, last]),
                Reason::NonIpv4,
                1,
            ));
        }
        nic.take_tx();
        (nic, d)
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

    fn segment(src: &str, dst: &str, f: net::TcpFlags) -> Vec<u8> {
        let (s, d) = (sa(src), sa(dst));
        net::tcp_frame(
            CLIENT_MAC,
            P0_MAC,
            (*s.ip(), s.port()),
            (*d.ip(), d.port()),
            f,
            1,
            &[],
        )
    }

    fn syn(d: &mut Daemon<FakeNic>, client: &str) {
        d.handle_exception(exc(
            segment(client, VIP, flags(true, false, false, false)),
            Reason::Syn,
            0,
        ));
    }

    fn id(client: &str) -> ConnKey {
        ConnKey {
            proto: Protocol::Tcp,
            client: sa(client),
            vip: sa(VIP),
        }
    }

    fn pair(d: &Daemon<FakeNic>, client: &str) -> (u32, u32) {
        let n = d
            .connections()
            .get(&id(client))
            .unwrap()
            .nic
            .clone()
            .unwrap()
            .as_nat()
            .cloned()
            .unwrap();
        (n.in_bucket, n.out_bucket)
    }

    const HIT_SYN: HitFlags = HitFlags {
        syn: true,
        fin: false,
        rst: false,
    };
    const HIT_FIN: HitFlags = HitFlags {
        syn: false,
        fin: true,
        rst: false,
    };
    const HIT_DATA: HitFlags = HitFlags {
        syn: false,
        fin: false,
        rst: false,
    };

    /// The handshake as the NIC counts it: the re-injected SYN, the SYN+ACK, the ACK.
    fn handshake_on_the_nic(nic: &FakeNic, (inb, outb): (u32, u32)) {
        nic.record_activity(inb, 60, HIT_SYN);
        nic.record_activity(outb, 60, HIT_SYN);
        nic.record_activity(inb, 54, HIT_DATA);
    }

    /// Each client's SYN through the daemon, then its handshake on the NIC.
    fn establish<S: AsRef<str>>(nic: &FakeNic, d: &mut Daemon<FakeNic>, clients: &[S]) {
        for c in clients {
            syn(d, c.as_ref());
            handshake_on_the_nic(nic, pair(d, c.as_ref()));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_nics_activity_records_drive_the_state_machine_and_keep_busy_connections() {
        // one real server: the same client's next connection lands in the same two buckets
        let one_real = ServiceConfig::tcp(
            sa(VIP),
            Scheduler::Rr,
            vec![real("10.1.0.2:80", 1, ForwardMethod::Masq)],
        );
        let (nic, mut d) = setup(config(one_real));
        assert!(
            d.reports_state(),
            "table 1.2: the NIC keeps activity records"
        );
        // whatever earlier users of the table left in the records (a previous daemon's
        // connections) is the new connections' baseline, not their traffic
        for b in 0..1u32 << FakeConfig::default().table_index_bits {
            nic.record_activity(b, 60, HIT_FIN);
        }
        nic.set_now(1_000);
        let c = "10.0.0.2:40000";
        syn(&mut d, c);
        assert_eq!(
            d.connections().get(&id(c)).unwrap().state,
            TcpState::SynRecv
        );
        let buckets = pair(&d, c);
        handshake_on_the_nic(&nic, buckets);
        d.tick(Instant::now());
        let conn = d.connections().get(&id(c)).unwrap();
        assert_eq!(conn.state, TcpState::Established, "not FIN_WAIT: old FINs");
        assert_eq!(conn.expires - Instant::now(), Duration::from_secs(900));

        // 40 minutes of a download the NIC alone carries: the host sees no exception, the
        // records keep the connection (ESTABLISHED times out after 900 s of silence)
        let (inb, outb) = buckets;
        for minute in 1..=40u32 {
            tokio::time::advance(Duration::from_secs(60)).await;
            nic.set_now(1_000 + minute * 57_220); // ~60 s of 1.048576 ms ticks
            for _ in 0..10 {
                nic.record_activity(outb, 1514, HIT_DATA);
                nic.record_activity(inb, 54, HIT_DATA);
            }
            d.tick(Instant::now());
            assert!(d.connections().get(&id(c)).is_some(), "minute {minute}");
        }
        let st = &d.services().list()[0].stats;
        assert_eq!((st.inpkts, st.outpkts), (400 + 2, 400 + 1));
        assert_eq!(st.outbytes, 400 * 1514 + 60);

        // both sides close on the NIC: TIME_WAIT, gone 120 s later, its entries with it
        nic.record_activity(inb, 54, HIT_FIN);
        nic.record_activity(outb, 54, HIT_FIN);
        d.tick(Instant::now());
        assert_eq!(
            d.connections().get(&id(c)).unwrap().state,
            TcpState::TimeWait
        );
        tokio::time::advance(Duration::from_secs(121)).await;
        d.tick(Instant::now());
        assert!(d.connections().get(&id(c)).is_none());
        assert!(nic.valid_buckets().is_empty());
        // a FIN retransmitted into the old entry just before it went, counted after
        nic.record_activity(inb, 54, HIT_FIN);
        d.tick(Instant::now());

        // the same client again, in the same buckets: it starts from what the last one left
        let reads = d.stats().activity_reads;
        syn(&mut d, c);
        assert_eq!(pair(&d, c), buckets);
        assert_eq!(
            d.stats().activity_reads,
            reads,
            "the released buckets' records were read at the tick, not at the install"
        );
        handshake_on_the_nic(&nic, buckets);
        d.tick(Instant::now());
        assert_eq!(
            d.connections().get(&id(c)).unwrap().state,
            TcpState::Established
        );
        assert_eq!(d.stats().activity_read_errors, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_due_to_expire_is_read_first_whatever_the_sweep_budget() {
        let mut cfg = config(two_reals(Scheduler::Rr));
        cfg.activity_reads_per_tick = 1;
        let (nic, mut d) = setup(cfg);
        let clients = ["10.0.0.2:1", "10.0.0.2:2", "10.0.0.2:3", "10.0.0.2:4"];
        establish(&nic, &mut d, &clients);
        // one connection per tick: four ticks read them all
        for _ in 0..4 {
            d.tick(Instant::now());
        }
        for c in clients {
            let conn = d.connections().get(&id(c)).unwrap();
            assert_eq!(conn.state, TcpState::Established, "{c}");
        }
        // the first three carry traffic the sweep has not reached when their timer runs out
        tokio::time::advance(Duration::from_secs(800)).await;
        for c in &clients[..3] {
            nic.record_activity(pair(&d, c).0, 100, HIT_DATA);
        }
        tokio::time::advance(Duration::from_secs(101)).await;
        d.tick(Instant::now());
        for c in &clients[..3] {
            assert!(d.connections().get(&id(c)).is_some(), "{c} kept");
        }
        assert!(
            d.connections().get(&id(clients[3])).is_none(),
            "idle: expired"
        );
        assert!(d.stats().expiry_saved_by_activity >= 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_event_loops_sweep_drains_the_exception_ring_between_its_reads() {
        let (nic, mut d) = setup(config(two_reals(Scheduler::Rr)));
        let clients: Vec<String> = (1..=40).map(|p| format!("10.0.0.2:{p}")).collect();
        establish(&nic, &mut d, &clients);
        let late = "10.0.0.3:7";
        let waiting = segment(late, VIP, flags(true, false, false, false));
        assert!(nic.inject_exception(&waiting, Reason::Syn, 0, false, 0));
        // a bare tick (as tests and tools call it) only sweeps: the SYN is still in the ring
        let reads = d.stats().activity_reads;
        d.tick(Instant::now());
        assert!(d.stats().activity_reads - reads >= 80, "two records each");
        assert_eq!(d.stats().housekeeping_polls, 0);
        assert!(d.connections().get(&id(late)).is_none());
        // the event loop's tick drains it after its first READS_BETWEEN_POLLS records
        d.housekeeping(Instant::now(), true).unwrap();
        let polls = d.stats().housekeeping_polls;
        // (reads the bare tick made since the last drain count towards the first one)
        let every = (80 / READS_BETWEEN_POLLS) as u64;
        assert!((every..=every + 1).contains(&polls), "{:?}", d.stats());
        assert!(d.connections().get(&id(late)).is_some());
        for c in &clients {
            let conn = d.connections().get(&id(c.as_str())).unwrap();
            assert_eq!(conn.state, TcpState::Established, "{c}: the sweep went on");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_reads_again_only_the_connections_a_ring_drain_came_after() {
        let (nic, mut d) = setup(config(two_reals(Scheduler::Rr)));
        let clients: Vec<String> = (1..=10).map(|p| format!("10.0.0.2:{p}")).collect();
        establish(&nic, &mut d, &clients);
        d.tick(Instant::now());
        tokio::time::advance(Duration::from_secs(901)).await;
        // the sweep's first ring drain falls after its fifth connection (two records each)
        d.reads_since_poll = READS_BETWEEN_POLLS - 10;
        let reads = d.stats().activity_reads;
        let polls = d.stats().housekeeping_polls;
        d.housekeeping(Instant::now(), true).unwrap();
        assert_eq!(d.stats().housekeeping_polls - polls, 1, "{:?}", d.stats());
        for c in &clients {
            assert!(d.connections().get(&id(c)).is_none(), "{c}: idle, expired");
        }
        // the sweep reads all 20 records; expiry reads again only the 5 connections read
        // before the drain (whose frames may have renewed them), and trusts the other 5
        assert_eq!(d.stats().activity_reads - reads, 20 + 10, "{:?}", d.stats());
        assert_eq!(d.stats().connections_expired, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn state_machine_and_expiry_follow_the_nic() {
        let (nic, mut d) = setup(config(two_reals(Scheduler::Rr)));
        let state = FakeNicState::new();
        d.set_nic_state(Box::new(state.clone()));
        let c = "10.0.0.2:40000";
        syn(&mut d, c);
        let conn = d.connections().get(&id(c)).unwrap();
        assert_eq!(conn.state, TcpState::SynRecv);
        assert_eq!(
            conn.expires - Instant::now(),
            Duration::from_secs(60),
            "SYN_RECV timeout"
        );
        let (inb, outb) = pair(&d, c);
        let svc = ServiceKey::tcp(sa(VIP));
        let real = conn.real;
        assert_eq!(d.services().real(svc, real).unwrap().active_conns, 1);

        // the handshake completes on the NIC: SYN+ACK out, ACK in
        tokio::time::advance(Duration::from_millis(10)).await;
        let t = Instant::now();
        state.record(outb, flags(true, true, false, false), 60, t);
        state.record(inb, flags(false, true, false, false), 60, t);
        d.tick(Instant::now());
        let conn = d.connections().get(&id(c)).unwrap();
        assert_eq!(conn.state, TcpState::Established);
        assert_eq!(conn.expires, t + Duration::from_secs(900));
        let listed = d.connections().list(Instant::now());
        assert_eq!(
            (listed[0].state.as_str(), listed[0].expires_in),
            ("ESTABLISHED", 900)
        );

        // idle for 899 s: still there; traffic then re-arms it
        tokio::time::advance(Duration::from_secs(899)).await;
        d.tick(Instant::now());
        assert!(d.connections().get(&id(c)).is_some());
        state.record(inb, flags(false, true, false, false), 1000, Instant::now());
        d.tick(Instant::now());
        tokio::time::advance(Duration::from_secs(10)).await;
        d.tick(Instant::now());
        assert!(d.connections().get(&id(c)).is_some());
        let stats = &d.services().list()[0];
        assert_eq!((stats.stats.inpkts, stats.stats.outpkts), (2, 1));
        assert_eq!(stats.stats.inbytes, 1060);

        // the client closes, the server closes: TIME_WAIT, inactive, gone after 120 s
        state.record(inb, flags(false, true, true, false), 60, Instant::now());
        state.record(outb, flags(false, true, true, false), 60, Instant::now());
        d.tick(Instant::now());
        let conn = d.connections().get(&id(c)).unwrap();
        assert_eq!(conn.state, TcpState::TimeWait);
        assert!(!conn.active);
        let r = d.services().real(svc, real).unwrap();
        assert_eq!((r.active_conns, r.inactive_conns), (0, 1));
        assert_eq!(nic.valid_buckets().len(), 2);
        tokio::time::advance(Duration::from_secs(119)).await;
        d.tick(Instant::now());
        assert_eq!(d.connections().len(), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        d.tick(Instant::now());
        assert_eq!(d.connections().len(), 0);
        assert!(
            nic.valid_buckets().is_empty(),
            "expiry removes the NIC entries"
        );
        let r = d.services().real(svc, real).unwrap();
        assert_eq!((r.active_conns, r.inactive_conns), (0, 0));
        assert_eq!(d.stats().connections_expired, 1);
        assert!(d.stats().state_transitions >= 3);
    }

    #[tokio::test(start_paused = true)]
    async fn exceptions_drive_the_state_too_and_timeouts_are_settable() {
        let (nic, mut d) = setup_without_activity(config(two_reals(Scheduler::Rr)));
        // no entry state: an installed connection counts as established
        d.handle_request(Request::SetTimeouts {
            tcp: 30,
            tcpfin: 5,
            udp: 0,
        });
        let c = "10.0.0.2:40001";
        syn(&mut d, c);
        let conn = d.connections().get(&id(c)).unwrap().clone();
        assert_eq!(conn.state, TcpState::Established);
        assert_eq!(conn.expires - Instant::now(), Duration::from_secs(30));
        nic.take_tx();
        // the server's FIN reaches the host (as a miss, say): FIN_WAIT, re-injected, entries
        // re-written
        let f = segment(&conn.real.to_string(), c, flags(false, true, true, false));
        d.handle_exception(exc(f.clone(), Reason::Miss, 1));
        let conn = d.connections().get(&id(c)).unwrap();
        assert_eq!(conn.state, TcpState::FinWait);
        assert_eq!(conn.expires - Instant::now(), Duration::from_secs(5));
        let tx = nic.take_tx();
        assert_eq!((tx.len(), tx[0].bypass, &tx[0].frame), (1, false, &f));
        assert_eq!(d.stats().entries_repaired, 1);
        // a client RST: CLOSE (10 s)
        d.handle_exception(exc(
            segment(c, VIP, flags(false, false, false, true)),
            Reason::Miss,
            0,
        ));
        assert_eq!(d.connections().get(&id(c)).unwrap().state, TcpState::Close);
        assert_eq!(nic.take_tx().len(), 1);
        tokio::time::advance(Duration::from_secs(11)).await;
        d.tick(Instant::now());
        assert!(d.connections().is_empty());
        assert!(nic.valid_buckets().is_empty());
        // a segment of no connection is dropped
        d.handle_exception(exc(
            segment(c, VIP, flags(false, true, false, false)),
            Reason::Miss,
            0,
        ));
        assert!(nic.take_tx().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn persistence_templates() {
        let mut svc = two_reals(Scheduler::Rr);
        svc.persistent = Some(300);
        svc.netmask = Some(Ipv4Addr::new(255, 255, 255, 0));
        let (_nic, mut d) = setup(config(svc));
        d.handle_request(Request::SetTimeouts {
            tcp: 100,
            tcpfin: 0,
            udp: 0,
        });
        let skey = ServiceKey::tcp(sa(VIP));
        // clients of one /24 all go where the first went; another /24 gets the other server
        syn(&mut d, "10.0.0.2:1000");
        let first = d.connections().get(&id("10.0.0.2:1000")).unwrap().real;
        for (k, c) in ["10.0.0.2:31337", "10.0.0.3:1000", "10.0.0.250:9"]
            .iter()
            .enumerate()
        {
            syn(&mut d, c);
            let got = d.connections().get(&id(c)).map(|c| c.real);
            assert_eq!(got, Some(first), "{k} {:?}", d.stats());
        }
        let other = Ipv4Addr::new(10, 0, 1, 2);
        d.cfg.ports[0].prefix = 16; // the other /24 must be reachable on port 0 too
        syn(&mut d, &format!("{other}:1000"));
        assert_ne!(
            d.connections()
                .get(&id(&format!("{other}:1000")))
                .unwrap()
                .real,
            first
        );
        assert_eq!(d.stats().templates_created, 2);
        assert_eq!(d.services().real(skey, first).unwrap().persist_conns, 1);
        let listed = d.connections().list(Instant::now());
        let tpl: Vec<_> = listed.iter().filter(|c| c.template).collect();
        assert_eq!(tpl.len(), 2);
        assert_eq!(tpl[0].client.to_string(), "10.0.0.0:0");
        assert_eq!((tpl[0].state.as_str(), tpl[0].expires_in), ("NONE", 300));
        // a quiesced server keeps its persistent clients
        d.handle_request(Request::EditReal {
            service: skey,
            real: RealSpec {
                addr: first,
                weight: 0,
                method: ForwardMethod::Masq,
                u_threshold: 0,
                l_threshold: 0,
            },
        });
        syn(&mut d, "10.0.0.7:1");
        assert_eq!(d.connections().get(&id("10.0.0.7:1")).unwrap().real, first);
        // connections expire at 100 s, templates at 300 s after their last use
        tokio::time::advance(Duration::from_secs(101)).await;
        d.tick(Instant::now());
        assert!(d.connections().is_empty());
        assert_eq!(d.connections().templates_len(), 2);
        tokio::time::advance(Duration::from_secs(200)).await;
        d.tick(Instant::now());
        assert_eq!(d.connections().templates_len(), 0);
        assert_eq!(d.services().real(skey, first).unwrap().persist_conns, 0);
        assert_eq!(d.stats().templates_expired, 2);
        // now the quiesced server gets nobody
        syn(&mut d, "10.0.0.2:2000");
        assert_ne!(
            d.connections().get(&id("10.0.0.2:2000")).unwrap().real,
            first
        );
    }

    /// The daemon of `setup` stops without a word; a new one opens the same NIC keeping its
    /// table (and its flow hash key).
    pub(super) fn reopen(
        nic: &Arc<FakeNic>,
        d: Daemon<FakeNic>,
        cfg: DaemonConfig,
    ) -> Daemon<FakeNic> {
        std::mem::forget(d); // no clean stop: nothing more is written
        let driver = Driver::open_with(
            nic.clone(),
            crate::driver::DriverConfig {
                clear_table: false,
                ..Default::default()
            },
        )
        .unwrap();
        Daemon::new(driver, cfg).unwrap()
    }

    fn dr_service() -> ServiceConfig {
        ServiceConfig::tcp(
            sa(VIP),
            Scheduler::Rr,
            vec![
                real("10.1.0.2:80", 1, ForwardMethod::Route),
                real("10.1.0.3:80", 1, ForwardMethod::Tunnel),
            ],
        )
    }

    #[tokio::test(start_paused = true)]
    async fn direct_routing_installs_one_forward_entry_and_tunnels_none() {
        let (nic, mut d) = setup_without_activity(config(dr_service()));
        d.handle_request(Request::SetTimeouts {
            tcp: 30,
            tcpfin: 0,
            udp: 0,
        });
        for p in 1..=4 {
            syn(&mut d, &format!("10.0.0.2:{p}"));
        }
        // rr alternates: the DR server's two SYNs go back through the NIC, the tunnel's two
        // are encapsulated by the host and sent as they are
        assert_eq!(d.connections().len(), 4);
        assert_eq!(d.stats().tunnel_sent, 2);
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 4);
        let c = "10.0.0.2:1";
        let sent = segment(c, VIP, flags(true, false, false, false));
        assert_eq!((tx[0].port, tx[0].bypass, &tx[0].frame), (0, false, &sent));
        assert_eq!((tx[1].port, tx[1].bypass), (1, true));
        assert_eq!(tx[1].frame[23], 4, "IP-in-IP");
        let conn = d.connections().get(&id(c)).unwrap().clone();
        assert_eq!(
            (conn.real, conn.method, conn.state),
            (
                sa("10.1.0.2:80"),
                ForwardMethod::Route,
                TcpState::Established
            )
        );
        let n = conn.nic.clone().unwrap();
        assert_eq!(n.out_bucket(), None);
        let key = vsnic_contract::FlowKey {
            saddr: [10, 0, 0, 2],
            daddr: [10, 0, 0, 100],
            sport: 1,
            dport: 80,
            proto: 6,
        };
        let b =
            vsnic_contract::hash::bucket_keyed(&key, d.connections().index_bits(), &nic.hash_key());
        assert_eq!(n.in_bucket(), b);
        // MACs only: to the real server's MAC (learned by ARP), from our port-1 MAC, out of
        // port 1; the address and port fields only record the real server
        assert_eq!(
            vsnic_contract::Entry::from_words(&nic.table_words(b)).unwrap(),
            vsnic_contract::Entry {
                key,
                valid: true,
                action: vsnic_contract::Action::Forward,
                egress_port: 1,
                nat_addr: [10, 1, 0, 2],
                nat_port: 80,
                dmac: [2, 0, 0, 0, 1, 2],
                smac: P1_MAC,
                ..Default::default()
            }
        );
        assert_eq!(
            nic.valid_buckets().len(),
            2,
            "one entry per DR connection, none for tunnels"
        );
        // the real server answers the client directly: nothing maps back to the connection
        assert!(d
            .connections()
            .by_reply(Protocol::Tcp, conn.real, conn.id.client)
            .is_none());
        let svc = ServiceKey::tcp(sa(VIP));
        assert_eq!(d.services().real(svc, conn.real).unwrap().active_conns, 2);
        // listed with its method
        let listed = d.connections().list(Instant::now());
        assert_eq!(
            (listed[0].method, listed[0].out_bucket),
            (ForwardMethod::Route, None)
        );
        let text = crate::cli::format_connections(&listed);
        assert!(
            text.contains("TCP 00:30  ESTABLISHED 10.0.0.2:1         10.0.0.100:80      10.1.0.2:80        Route\n"),
            "{text}"
        );
        // a retransmitted SYN is re-injected, nothing re-written
        syn(&mut d, c);
        assert_eq!(nic.take_tx().len(), 1);
        assert_eq!(d.stats().syn_retransmits, 1);
        // expiry clears the one entry
        tokio::time::advance(Duration::from_secs(31)).await;
        d.tick(Instant::now());
        assert!(d.connections().is_empty());
        assert!(nic.valid_buckets().is_empty());
        assert_eq!(d.stats().connections_expired, 4);
        assert_eq!(d.services().real(svc, conn.real).unwrap().active_conns, 0);
    }

    /// The outer IPv4 header of a tunnelled frame: checksum valid, our port-1 address to the
    /// real server, protocol 4; returns the inner packet.
    fn decapsulate(f: &[u8], real: Ipv4Addr) -> Vec<u8> {
        let outer = etherparse::Ipv4Slice::from_slice(&f[14..]).unwrap();
        let h = outer.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!((h.source, h.destination), ([10, 1, 0, 1], real.octets()));
        assert_eq!(h.protocol, etherparse::IpNumber::IPV4);
        outer.payload().payload.to_vec()
    }

    #[tokio::test(start_paused = true)]
    async fn a_tunnelled_connection_is_carried_by_the_host_segment_by_segment() {
        let svc = ServiceConfig::tcp(
            sa(VIP),
            Scheduler::Rr,
            vec![real("10.1.0.3:80", 1, ForwardMethod::Tunnel)],
        );
        let mut cfg = config(svc);
        cfg.tunnel_mtu = 600;
        let (nic, mut d) = setup(cfg);
        let c = "10.0.0.2:1";
        syn(&mut d, c);
        // no NIC entry: the SYN leaves encapsulated, as it is, towards the real server's MAC
        assert!(nic.valid_buckets().is_empty());
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 1);
        assert_eq!((tx[0].port, tx[0].bypass), (1, true));
        assert_eq!(
            &tx[0].frame[..12],
            &[[2, 0, 0, 0, 1, 3], P1_MAC].concat()[..]
        );
        let sent = segment(c, VIP, flags(true, false, false, false));
        let ip_len = u16::from_be_bytes([sent[16], sent[17]]) as usize;
        assert_eq!(
            decapsulate(&tx[0].frame, Ipv4Addr::new(10, 1, 0, 3)),
            &sent[14..14 + ip_len]
        );
        let conn = d.connections().get(&id(c)).unwrap().clone();
        assert_eq!(conn.state, TcpState::SynRecv);
        assert!(conn.nic.is_none());
        // the client's ACK misses the NIC's table like every segment of it: the host sends it
        // on and the input-only state machine sees the connection established
        let ack = segment(c, VIP, flags(false, true, false, false));
        d.handle_exception(exc(ack.clone(), Reason::Miss, 0));
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 1);
        assert_eq!(
            decapsulate(&tx[0].frame, Ipv4Addr::new(10, 1, 0, 3)),
            &ack[14..14 + ip_len]
        );
        let conn = d.connections().get(&id(c)).unwrap().clone();
        assert_eq!(conn.state, TcpState::Established);
        assert_eq!((d.stats().tunnel_sent, d.stats().entries_repaired), (2, 0));
        let svc = ServiceKey::tcp(sa(VIP));
        assert_eq!(d.services().real(svc, conn.real).unwrap().active_conns, 1);
        // a segment too big for the tunnel with DF set: the client hears "fragmentation
        // needed" from our port-0 address, with the MTU the tunnel leaves
        let (s, v) = (sa(c), sa(VIP));
        let big = |df: bool| {
            let mut f = net::tcp_frame(
                CLIENT_MAC,
                P0_MAC,
                (*s.ip(), s.port()),
                (*v.ip(), v.port()),
                flags(false, true, false, false),
                1,
                &[0x5a; 560],
            );
            let mut h = etherparse::Ipv4Slice::from_slice(&f[14..])
                .unwrap()
                .header()
                .to_header();
            h.dont_fragment = df;
            h.header_checksum = h.calc_header_checksum();
            f[14..34].copy_from_slice(&h.to_bytes());
            f
        };
        d.handle_exception(exc(big(true), Reason::Miss, 0));
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 1);
        assert_eq!((tx[0].port, tx[0].bypass), (0, true));
        assert_eq!(&tx[0].frame[..12], &[CLIENT_MAC, P0_MAC].concat()[..]);
        let icmp = etherparse::Ipv4Slice::from_slice(&tx[0].frame[14..]).unwrap();
        assert_eq!(icmp.header().source(), [10, 0, 0, 1]);
        assert_eq!(icmp.header().destination(), [10, 0, 0, 2]);
        let body = icmp.payload().payload;
        assert_eq!((body[0], body[1]), (3, 4));
        assert_eq!(u16::from_be_bytes([body[6], body[7]]), 580);
        assert_eq!(d.stats().tunnel_frag_needed, 1);
        // without DF the same segment is split into outer fragments
        d.handle_exception(exc(big(false), Reason::Miss, 0));
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 2);
        assert!(tx.iter().all(|t| (t.port, t.bypass) == (1, true)));
        assert_eq!(d.stats().tunnel_fragmented, 1);
        // the client's FIN moves it on; its timer runs out like any connection's
        d.handle_exception(exc(
            segment(c, VIP, flags(false, true, true, false)),
            Reason::Miss,
            0,
        ));
        assert_eq!(
            d.connections().get(&id(c)).unwrap().state,
            TcpState::FinWait
        );
        assert_eq!(d.services().real(svc, conn.real).unwrap().active_conns, 0);
        tokio::time::advance(Duration::from_secs(121)).await;
        d.tick(Instant::now());
        assert!(d.connections().is_empty());
        assert_eq!(d.stats().connections_expired, 1);
        // a frame claiming to be the connection's but cut short is counted, not sent
        syn(&mut d, "10.0.0.2:2");
        nic.take_tx();
        let mut bad = segment("10.0.0.2:2", VIP, flags(false, true, false, false));
        bad[16..18].copy_from_slice(&2000u16.to_be_bytes()); // total length past the frame
        d.handle_exception(exc(bad, Reason::Miss, 0));
        assert!(nic.take_tx().is_empty());
        assert_eq!(d.stats().malformed, 1);
    }

    /// A tunnelled connection has nothing in the NIC: a restarted daemon gets it back from its
    /// snapshot and carries on tunnelling it.
    #[tokio::test(start_paused = true)]
    async fn a_tunnelled_connection_survives_a_restart_through_the_snapshot() {
        let dir = std::env::temp_dir().join(format!("vsnic-tunnel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let state = dir.join("state.json");
        let _ = std::fs::remove_file(&state);
        let mut cfg = config(ServiceConfig::tcp(
            sa(VIP),
            Scheduler::Rr,
            vec![real("10.1.0.3:80", 1, ForwardMethod::Tunnel)],
        ));
        cfg.state_file = Some(state.clone());
        let (nic, mut d) = setup(cfg.clone());
        let c = "10.0.0.2:1";
        syn(&mut d, c);
        let ack = segment(c, VIP, flags(false, true, false, false));
        d.handle_exception(exc(ack.clone(), Reason::Miss, 0));
        d.save_state(Instant::now(), true);
        nic.take_tx();
        let mut d2 = reopen(&nic, d, cfg.clone());
        let r = d2.restored();
        assert_eq!((r.connections, r.from_snapshot), (1, 1));
        let conn = d2.connections().get(&id(c)).unwrap();
        assert_eq!(
            (conn.real, conn.method, conn.state),
            (
                sa("10.1.0.3:80"),
                ForwardMethod::Tunnel,
                TcpState::Established
            )
        );
        assert_eq!(
            d2.services()
                .real(ServiceKey::tcp(sa(VIP)), sa("10.1.0.3:80"))
                .unwrap()
                .active_conns,
            1
        );
        // the real server's MAC is asked for again at once; a segment before the answer is
        // dropped (TCP sends it again) and counted
        let is_arp =
            |t: &crate::backend::fake::TxFrame| t.port == 1 && t.frame[12..14] == [0x08, 0x06];
        assert!(nic.take_tx().iter().any(is_arp));
        d2.handle_exception(exc(ack.clone(), Reason::Miss, 0));
        assert!(nic.take_tx().iter().all(is_arp));
        assert_eq!(d2.stats().tunnel_no_neighbour, 1);
        // once it answers, segments are tunnelled as before
        let arp = Arp {
            op: ArpOp::Request,
            sender_mac: P1_MAC,
            sender_ip: "10.1.0.1".parse().unwrap(),
            target_mac: [0; 6],
            target_ip: Ipv4Addr::new(10, 1, 0, 3),
        };
        d2.handle_exception(exc(
            net::arp_reply(&arp, [2, 0, 0, 0, 1, 3]),
            Reason::NonIpv4,
            1,
        ));
        d2.handle_exception(exc(ack, Reason::Miss, 0));
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 1);
        assert_eq!(tx[0].frame[23], 4, "IP-in-IP");
        assert_eq!(d2.stats().tunnel_sent, 1);
        // without the snapshot the connection is gone (nothing in the NIC to rebuild it from)
        std::fs::remove_file(&state).unwrap();
        let d3 = reopen(&nic, d2, cfg);
        assert_eq!(d3.restored().connections, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ftp_helper_does_not_bind_direct_routing() {
        let mut svc = dr_service();
        svc.vip = sa("10.0.0.100:21");
        svc.reals = vec![real("10.1.0.2:21", 1, ForwardMethod::Route)];
        let (nic, mut d) = setup(config(svc));
        let c = sa("10.0.0.2:4000");
        d.handle_exception(exc(
            segment(
                "10.0.0.2:4000",
                "10.0.0.100:21",
                flags(true, false, false, false),
            ),
            Reason::Syn,
            0,
        ));
        let id = ConnKey {
            proto: Protocol::Tcp,
            client: c,
            vip: sa("10.0.0.100:21"),
        };
        let n = d.connections().get(&id).unwrap().nic.clone().unwrap();
        assert!(d.binding(&id).is_none());
        assert_eq!(d.stats().app_bound, 0);
        let e = vsnic_contract::Entry::from_words(&nic.table_words(n.in_bucket())).unwrap();
        assert_eq!(
            (e.action, e.app_bound),
            (vsnic_contract::Action::Forward, false)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_restarted_daemon_rebuilds_direct_routing_connections() {
        let cfg = config(dr_service());
        let (nic, mut d) = setup(cfg.clone());
        syn(&mut d, "10.0.0.2:1");
        let before = d.connections().get(&id("10.0.0.2:1")).unwrap().clone();
        // a forward entry of no configured service: nobody's, cleared
        let stray = vsnic_contract::Entry {
            key: vsnic_contract::FlowKey {
                saddr: [10, 0, 0, 9],
                daddr: [10, 0, 0, 100],
                sport: 7,
                dport: 8080,
                proto: 6,
            },
            valid: true,
            action: vsnic_contract::Action::Forward,
            egress_port: 1,
            nat_addr: [10, 1, 0, 2],
            nat_port: 8080,
            ..Default::default()
        };
        let stray_bucket = vsnic_contract::hash::bucket_keyed(
            &stray.key,
            d.connections().index_bits(),
            &nic.hash_key(),
        );
        assert_ne!(stray_bucket, before.nic.as_ref().unwrap().in_bucket());
        d.driver_mut().write_entry(stray_bucket, &stray).unwrap();
        let mut d2 = reopen(&nic, d, cfg);
        assert_eq!(
            (d2.restored().connections, d2.restored().orphans_cleared),
            (1, 1)
        );
        let c = d2.connections().get(&id("10.0.0.2:1")).unwrap().clone();
        assert_eq!(
            (c.real, c.method, &c.nic, c.state),
            (
                before.real,
                ForwardMethod::Route,
                &before.nic,
                TcpState::Established
            )
        );
        assert_eq!(d2.neighbour(*c.real.ip()), Some([2, 0, 0, 0, 1, 2]));
        assert_eq!(
            nic.valid_buckets(),
            vec![c.nic.as_ref().unwrap().in_bucket()]
        );
        // the restored connection expires like any other, with its one entry
        tokio::time::advance(Duration::from_secs(901)).await;
        d2.tick(Instant::now());
        assert!(d2.connections().is_empty());
        assert!(nic.valid_buckets().is_empty());
    }

    #[test]
    fn full_table_is_refused_and_counted() {
        let mut cfg = config(two_reals(Scheduler::Wlc));
        cfg.max_connections = Some(3);
        let (_nic, mut d) = setup(cfg);
        for p in 1..=5 {
            syn(&mut d, &format!("10.0.0.2:{p}"));
        }
        assert_eq!(d.connections().len() as u64 + d.stats().table_collisions, 3);
        assert_eq!(d.stats().table_full, 2);
        // wlc spread them
        let l = d.services().list();
        let act: Vec<u32> = l[0].reals.iter().map(|r| r.active_conns).collect();
        assert!(act.iter().all(|a| *a >= 1), "{act:?}");
        let m = match d.handle_request(Request::Metrics) {
            Response::Metrics { text } => text,
            r => panic!("{r:?}"),
        };
        assert!(m.contains("vsnic_daemon_table_full_total 2\n"), "{m}");
        assert!(m.contains("# TYPE vsnic_connections gauge\n"));
        assert!(m.contains("vsnic_nic_exceptions_total "));
        assert!(m.contains(r#"vsnic_real_active_connections{protocol="TCP",vip="10.0.0.100:80",real="10.1.0.2:80"} "#));
    }

    #[tokio::test(start_paused = true)]
    async fn new_connections_are_rate_limited_and_established_ones_are_not() {
        let mut cfg = config(two_reals(Scheduler::Rr));
        cfg.new_conn_rate = 100;
        cfg.new_conn_burst = 10;
        let (nic, mut d) = setup(cfg);
        // a flood of 50 SYNs at one instant: the burst is admitted, the rest refused
        for p in 1..=50 {
            syn(&mut d, &format!("10.0.0.2:{p}"));
        }
        assert_eq!(d.stats().syn_rate_limited, 40);
        assert_eq!(
            d.connections().len() as u64 + d.stats().table_collisions,
            10
        );
        let installed = d.connections().len();
        assert_eq!(
            nic.take_tx().len(),
            installed,
            "only admitted SYNs are re-injected"
        );
        assert_eq!(
            nic.valid_buckets().len(),
            2 * installed,
            "refused ones wrote nothing"
        );
        // an admitted connection's retransmitted SYN and its other segments need no token
        let first = d.connections().list(Instant::now())[0].client.to_string();
        syn(&mut d, &first);
        d.handle_exception(exc(
            segment(&first, VIP, flags(false, true, true, false)),
            Reason::Miss,
            0,
        ));
        assert_eq!(nic.take_tx().len(), 2);
        assert_eq!(d.stats().syn_retransmits, 1);
        assert_eq!(d.stats().syn_rate_limited, 40);
        // 100/s: after 50 ms, five more
        tokio::time::advance(Duration::from_millis(50)).await;
        for p in 51..=60 {
            syn(&mut d, &format!("10.0.0.2:{p}"));
        }
        assert_eq!(d.stats().syn_rate_limited, 45);
        assert_eq!(
            d.stats().connections_created + d.stats().table_collisions,
            15
        );
        let m = match d.handle_request(Request::Metrics) {
            Response::Metrics { text } => text,
            r => panic!("{r:?}"),
        };
        assert!(
            m.contains("vsnic_daemon_syn_rate_limited_total 45\n"),
            "{m}"
        );
        assert!(m.contains("vsnic_daemon_poll_budget_exhausted_total 0\n"));
        // a reload takes the new limit (0: unlimited)
        let mut cfg = config(two_reals(Scheduler::Rr));
        cfg.new_conn_rate = 0;
        d.reload(cfg);
        for p in 61..=100 {
            syn(&mut d, &format!("10.0.0.2:{p}"));
        }
        assert_eq!(d.stats().syn_rate_limited, 45);
        assert_eq!(
            d.stats().connections_created + d.stats().table_collisions,
            55
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_refuses_before_the_rate_limit_takes_a_token() {
        let mut cfg = config(two_reals(Scheduler::Rr));
        cfg.max_connections = Some(2);
        cfg.new_conn_rate = 1;
        cfg.new_conn_burst = 3;
        let (_nic, mut d) = setup(cfg.clone());
        for p in 1..=6 {
            syn(&mut d, &format!("10.0.0.2:{p}"));
        }
        let s = d.stats().clone();
        // (under the tests' fixed hash key these clients do not collide)
        assert_eq!((d.connections().len(), s.table_collisions), (2, 0));
        assert_eq!((s.table_full, s.syn_rate_limited), (4, 0), "{s:?}");
        // room again: the token the refused SYNs did not take admits one more, then the
        // bucket is empty (the clock stands still)
        cfg.max_connections = Some(10);
        d.reload(cfg);
        for p in 7..=9 {
            syn(&mut d, &format!("10.0.0.2:{p}"));
        }
        assert_eq!(d.connections().len(), 3);
        assert_eq!(d.stats().syn_rate_limited, 2);
    }

    const UVIP: &str = "10.0.0.100:53";

    fn udp_config() -> DaemonConfig {
        let mut cfg = config(two_reals(Scheduler::Rr));
        let mut u = two_reals(Scheduler::Rr);
        u.protocol = Protocol::Udp;
        u.vip = sa(UVIP);
        cfg.services.push(u);
        cfg
    }

    fn datagram(src: &str, dst: &str, src_mac: Mac, dst_mac: Mac) -> Vec<u8> {
        let (s, d) = (sa(src), sa(dst));
        let f = etherparse::PacketBuilder::ethernet2(src_mac, dst_mac)
            .ipv4(s.ip().octets(), d.ip().octets(), 64)
            .udp(s.port(), d.port());
        let mut frame = Vec::new();
        f.write(&mut frame, b"query").unwrap();
        frame
    }

    fn from_client(d: &mut Daemon<FakeNic>, client: &str, dst: &str, reason: Reason) {
        let f = datagram(client, dst, CLIENT_MAC, P0_MAC);
        d.handle_exception(exc(f, reason, 0));
    }

    fn uid(client: &str) -> ConnKey {
        ConnKey {
            proto: Protocol::Udp,
            client: sa(client),
            vip: sa(UVIP),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn udp_flows_are_scheduled_installed_and_expire() {
        let (nic, mut d) = setup(udp_config());
        d.handle_request(Request::SetTimeouts {
            tcp: 0,
            tcpfin: 0,
            udp: 10,
        });
        let (a, b) = ("10.0.0.2:5000", "10.0.0.3:5000");
        // the first datagram of a flow reaches the host as a lookup miss
        from_client(&mut d, a, UVIP, Reason::Miss);
        let ca = d.connections().get(&uid(a)).unwrap().clone();
        assert_eq!(ca.real, sa("10.1.0.2:80"));
        let tx = nic.take_tx();
        assert_eq!(tx.len(), 1);
        assert_eq!(
            (tx[0].port, tx[0].bypass, &tx[0].frame),
            (0, false, &datagram(a, UVIP, CLIENT_MAC, P0_MAC)),
            "re-injected with lookup for the NIC to rewrite"
        );
        // the NAT pair, proto 17
        let pair = ca.nic.as_ref().unwrap().as_nat().unwrap().clone();
        let words = |b: u32| vsnic_contract::Entry::from_words(&nic.table_words(b)).unwrap();
        let (ein, eout) = (words(pair.in_bucket), words(pair.out_bucket));
        assert_eq!((ein, eout), (pair.in_entry, pair.out_entry));
        assert_eq!(
            (
                ein.key.proto,
                ein.action,
                ein.nat_addr,
                ein.nat_port,
                ein.egress_port
            ),
            (17, vsnic_contract::Action::Dnat, [10, 1, 0, 2], 80, 1)
        );
        assert_eq!((ein.key.dport, ein.dmac), (53, [2, 0, 0, 0, 1, 2]));
        assert_eq!(
            (
                eout.key.proto,
                eout.action,
                eout.nat_addr,
                eout.nat_port,
                eout.egress_port
            ),
            (17, vsnic_contract::Action::Snat, [10, 0, 0, 100], 53, 0)
        );
        assert_eq!(eout.dmac, CLIENT_MAC);
        // another client: the scheduler's next server
        from_client(&mut d, b, UVIP, Reason::Miss);
        assert_eq!(
            d.connections().get(&uid(b)).unwrap().real,
            sa("10.1.0.3:80")
        );
        assert_eq!(nic.take_tx().len(), 1);
        assert_eq!(nic.valid_buckets().len(), 4);
        // listed as UDP, counted inactive as IPVS does
        let listed = d.connections().list(Instant::now());
        assert!(listed
            .iter()
            .all(|c| c.proto == Protocol::Udp && c.state == "UDP" && c.expires_in == 10));
        let usvc = ServiceKey {
            proto: Protocol::Udp,
            vip: sa(UVIP),
        };
        let r = d.services().real(usvc, ca.real).unwrap();
        assert_eq!((r.active_conns, r.inactive_conns), (0, 1));
        assert_eq!(d.stats().connections_created, 2);

        // 5 s later a datagram of flow a misses (racing its install, say): entries written
        // again, re-injected, the UDP timer re-armed; no new connection
        tokio::time::advance(Duration::from_secs(5)).await;
        from_client(&mut d, a, UVIP, Reason::Miss);
        assert_eq!(d.stats().connections_created, 2);
        assert_eq!(d.stats().entries_repaired, 1);
        assert_eq!(nic.take_tx().len(), 1);
        // the server's answer missing too goes back through the NIC on the server's port
        let reply = datagram("10.1.0.2:80", a, [2, 0, 0, 0, 1, 2], P1_MAC);
        d.handle_exception(exc(reply.clone(), Reason::Miss, 1));
        let tx = nic.take_tx();
        assert_eq!((tx.len(), tx[0].port, tx[0].bypass), (1, 1, false));
        assert_eq!(d.stats().segments_reinjected, 2);

        // b expires at 10 s with its entries; a (re-armed at 5 s) at 15 s
        tokio::time::advance(Duration::from_secs(6)).await;
        d.tick(Instant::now());
        assert!(d.connections().get(&uid(b)).is_none());
        assert!(d.connections().get(&uid(a)).is_some());
        assert_eq!(nic.valid_buckets().len(), 2);
        tokio::time::advance(Duration::from_secs(5)).await;
        d.tick(Instant::now());
        assert!(d.connections().is_empty());
        assert!(nic.valid_buckets().is_empty());
        assert_eq!(d.stats().connections_expired, 2);
        let r = d.services().real(usvc, ca.real).unwrap();
        assert_eq!((r.active_conns, r.inactive_conns), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn udp_flows_of_a_persistent_service_stick_to_their_server() {
        let mut cfg = udp_config();
        cfg.services[1].persistent = Some(60);
        let (_nic, mut d) = setup(cfg);
        for c in ["10.0.0.2:5000", "10.0.0.2:5001", "10.0.0.2:5002"] {
            from_client(&mut d, c, UVIP, Reason::Miss);
        }
        let reals: Vec<SocketAddrV4> = ["10.0.0.2:5000", "10.0.0.2:5001", "10.0.0.2:5002"]
            .iter()
            .map(|c| d.connections().get(&uid(c)).unwrap().real)
            .collect();
        assert_eq!(reals, [reals[0]; 3], "rr alone would alternate");
        assert_eq!(d.stats().templates_created, 1);
        let listed = d.connections().list(Instant::now());
        let t: Vec<_> = listed.iter().filter(|c| c.template).collect();
        assert_eq!(
            (t.len(), t[0].proto, t[0].state.as_str(), t[0].expires_in),
            (1, Protocol::Udp, "UDP", 60)
        );
    }

    #[test]
    fn udp_to_a_direct_routing_server_gets_one_forward_entry() {
        let mut cfg = config(two_reals(Scheduler::Rr));
        let mut u = dr_service();
        u.protocol = Protocol::Udp;
        u.vip = sa(UVIP);
        u.reals = vec![real("10.1.0.2:53", 1, ForwardMethod::Route)];
        cfg.services.push(u);
        let (nic, mut d) = setup(cfg);
        from_client(&mut d, "10.0.0.2:5000", UVIP, Reason::Miss);
        let c = d.connections().get(&uid("10.0.0.2:5000")).unwrap().clone();
        assert_eq!(c.method, ForwardMethod::Route);
        let n = c.nic.unwrap();
        let e = vsnic_contract::Entry::from_words(&nic.table_words(n.in_bucket())).unwrap();
        assert_eq!(
            (e.key.proto, e.action, e.egress_port, e.dmac, e.smac),
            (
                17,
                vsnic_contract::Action::Forward,
                1,
                [2, 0, 0, 0, 1, 2],
                P1_MAC
            )
        );
        assert_eq!(nic.valid_buckets(), vec![n.in_bucket()]);
        let tx = nic.take_tx();
        assert_eq!((tx.len(), tx[0].port, tx[0].bypass), (1, 0, false));
        let l = d.connections().list(Instant::now());
        assert_eq!(
            (l[0].state.as_str(), l[0].method),
            ("UDP", ForwardMethod::Route)
        );
    }

    #[test]
    fn udp_the_nic_cannot_rewrite_or_with_no_service_is_dropped() {
        let (nic, mut d) = setup(udp_config());
        // a datagram the fast path did not classify (IP options, bad header checksum): the NIC
        // would send it back unchanged
        from_client(&mut d, "10.0.0.2:5000", UVIP, Reason::IpOptions);
        // no UDP service on that port of the VIP
        from_client(&mut d, "10.0.0.2:5000", "10.0.0.100:54", Reason::Miss);
        // a UDP fragment for the VIP
        let mut frag = datagram("10.0.0.2:5000", UVIP, CLIENT_MAC, P0_MAC);
        frag[20] = 0x20; // more fragments
        d.handle_exception(exc(frag, Reason::Fragment, 0));
        assert_eq!(d.stats().udp_not_forwarded, 3);
        // not for a VIP at all
        from_client(&mut d, "10.0.0.2:5000", "10.0.0.7:53", Reason::Miss);
        assert_eq!(d.stats().udp_not_forwarded, 3);
        assert_eq!(d.stats().ignored, 1);
        // nor a TCP service's port over UDP
        from_client(&mut d, "10.0.0.2:5000", VIP, Reason::Miss);
        assert_eq!(d.stats().udp_not_forwarded, 4);
        assert!(d.connections().is_empty());
        assert!(nic.take_tx().is_empty());
        assert!(nic.valid_buckets().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn new_udp_flows_take_admission_tokens_and_park_for_arp() {
        let mut cfg = udp_config();
        cfg.new_conn_rate = 100;
        cfg.new_conn_burst = 3;
        let (nic, mut d) = setup(cfg);
        for p in 1..=10 {
            from_client(&mut d, &format!("10.0.0.2:{p}"), UVIP, Reason::Miss);
        }
        assert_eq!(d.stats().syn_rate_limited, 7);
        assert_eq!(d.connections().len(), 3);
        assert_eq!(nic.take_tx().len(), 3);
        // known flows need no token
        from_client(&mut d, "10.0.0.2:1", UVIP, Reason::Miss);
        assert_eq!(nic.take_tx().len(), 1);
        assert_eq!(d.stats().syn_rate_limited, 7);

        // a real server whose MAC is not known yet: the datagram waits (the newest per flow)
        let mut cfg = udp_config();
        cfg.services[1].reals = vec![real("10.1.0.9:53", 1, ForwardMethod::Masq)];
        cfg.new_conn_rate = 0;
        d.reload(cfg);
        let c = "10.0.0.5:7";
        from_client(&mut d, c, UVIP, Reason::Miss);
        from_client(&mut d, c, UVIP, Reason::Miss);
        assert_eq!((d.parked(), d.stats().udp_parked_replaced), (1, 1));
        let tx = nic.take_tx();
        assert_eq!((tx.len(), tx[0].bypass), (1, true), "one ARP request");
        let arp = Arp {
            op: ArpOp::Request,
            sender_mac: P1_MAC,
            sender_ip: "10.1.0.1".parse().unwrap(),
            target_mac: [0; 6],
            target_ip: "10.1.0.9".parse().unwrap(),
        };
        d.handle_exception(exc(
            net::arp_reply(&arp, [2, 0, 0, 0, 1, 9]),
            Reason::NonIpv4,
            1,
        ));
        assert_eq!(d.parked(), 0);
        assert_eq!(
            d.connections().get(&uid(c)).unwrap().real,
            sa("10.1.0.9:53")
        );
        let tx = nic.take_tx();
        assert_eq!((tx.len(), tx[0].bypass), (1, false));
    }

    #[tokio::test(start_paused = true)]
    async fn a_restarted_daemon_rebuilds_udp_connections() {
        let cfg = udp_config();
        let (nic, mut d) = setup(cfg.clone());
        from_client(&mut d, "10.0.0.2:5000", UVIP, Reason::Miss);
        syn(&mut d, "10.0.0.2:6000");
        let before = d.connections().get(&uid("10.0.0.2:5000")).unwrap().clone();
        let mut d2 = reopen(&nic, d, cfg);
        assert_eq!(d2.restored().connections, 2);
        let c = d2.connections().get(&uid("10.0.0.2:5000")).unwrap().clone();
        assert_eq!(
            (c.real, &c.nic, c.active),
            (before.real, &before.nic, false)
        );
        assert_eq!(
            d2.connections().get(&id("10.0.0.2:6000")).unwrap().state,
            TcpState::Established
        );
        let listed = d2.connections().list(Instant::now());
        let u = listed.iter().find(|l| l.proto == Protocol::Udp).unwrap();
        assert_eq!((u.state.as_str(), u.expires_in), ("UDP", 300));
        // the UDP connection goes at the UDP timeout, the TCP one stays
        tokio::time::advance(Duration::from_secs(301)).await;
        d2.tick(Instant::now());
        assert_eq!(d2.connections().len(), 1);
        assert_eq!(nic.valid_buckets().len(), 2);
    }

    #[test]
    fn reload_applies_the_new_configuration() {
        let (_nic, mut d) = setup(config(two_reals(Scheduler::Rr)));
        syn(&mut d, "10.0.0.2:1");
        let mut cfg = config(ServiceConfig::tcp(
            sa(VIP),
            Scheduler::Wlc,
            vec![
                real("10.1.0.3:80", 5, ForwardMethod::Masq),
                real("10.1.0.4:80", 1, ForwardMethod::Route),
            ],
        ));
        let mut extra = two_reals(Scheduler::Sh);
        extra.vip = sa("10.0.0.101:443");
        cfg.services.push(extra);
        cfg.timeouts.tcp = 60;
        d.reload(cfg.clone());
        let l = d.services().list();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].scheduler, Scheduler::Wlc);
        let reals: Vec<_> = l[0]
            .reals
            .iter()
            .map(|r| (r.addr.to_string(), r.weight))
            .collect();
        assert_eq!(
            reals,
            [
                ("10.1.0.3:80".to_string(), 5),
                ("10.1.0.4:80".to_string(), 1)
            ]
        );
        assert_eq!(d.timeouts().listed().0, 60);
        assert_eq!(d.connections().len(), 1, "connections survive a reload");
        assert_eq!(d.stats().config_reloads, 1);
        // a bad configuration is refused whole
        cfg.services[0].reals[0].weight = 1 << 20;
        d.reload(cfg);
        assert_eq!(d.stats().config_reload_errors, 1);
        assert_eq!(d.services().list()[0].reals[0].weight, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_with_reloads_and_serves_metrics() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let mut cfg = config(two_reals(Scheduler::Rr));
        cfg.metrics_listen = Some(addr);
        let (_nic, d) = setup(cfg.clone());
        let (reload_tx, reload_rx) = mpsc::channel(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(d.run_with(
            async {
                let _ = stop_rx.await;
            },
            Some(reload_rx),
        ));
        cfg.services[0].scheduler = Scheduler::Lc;
        reload_tx.send(cfg).await.unwrap();
        let mut body = String::new();
        for _ in 0..200 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
                s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .unwrap();
                body.clear();
                s.read_to_string(&mut body).await.unwrap();
                if body.contains("vsnic_daemon_config_reloads_total 1") {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
        assert!(body.contains("text/plain; version=0.0.4"));
        assert!(
            body.contains("vsnic_daemon_config_reloads_total 1\n"),
            "{body}"
        );
        stop_tx.send(()).unwrap();
        task.await.unwrap().unwrap();
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
