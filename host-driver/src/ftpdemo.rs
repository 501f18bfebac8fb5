//! The FTP scenario: a minimal FTP server and client, in-process on smoltcp, on the simulated
//! NIC's ports, talking through the daemon's FTP helper. The client downloads a file once in
//! passive mode (PASV, the 227 reply rewritten to the VIP) and once in active mode (PORT, the
//! server connects back from port 20). The real server's address (10.1.0.2) and the VIP
//! (10.0.0.100) differ in length, so the 227 rewrite changes the control stream's length and
//! the NIC's seq/ack fixup carries the rest of the connection.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};
use vsnic_sim::attach::{Attachment, Recorder};
use vsnic_sim::nic::SimStats;
use vsnic_sim::{SimConfig, Simulator};

use crate::backend::sim::SimBackend;
use crate::control::{self, Request, Response};
use crate::daemon::{Daemon, DaemonConfig, DaemonStats, PortConfig, RealConfig, ServiceConfig};
use crate::driver::{Driver, DriverConfig, NicCounters};
use crate::service::{ForwardMethod, Scheduler};

pub const FTP_VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 100), 21);
pub const FTP_REAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 2), 21);
pub const FTP_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// First passive data port the server hands out.
const PASV_BASE: u16 = 50000;
const FILE_NAME: &str = "pub/data.bin";

/// The file the server serves: deterministic bytes.
pub fn file_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2654435761).rotate_left(7) as u8)
        .collect()
}

// ----- a queue-backed smoltcp device and host --------------------------------------------------

#[derive(Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = vec![0; len];
        let r = f(&mut b);
        self.0.push_back(b);
        r
    }
}

impl Device for Queues {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: SInstant) -> Option<(Rx, Tx<'_>)> {
        let f = self.rx.pop_front()?;
        Some((Rx(f), Tx(&mut self.tx)))
    }
    fn transmit(&mut self, _: SInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = 1514;
        c
    }
}

fn socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 16384]),
        tcp::SocketBuffer::new(vec![0; 16384]),
    );
    s.set_timeout(Some(smoltcp::time::Duration::from_secs(30)));
    s
}

/// Complete CRLF/LF-terminated lines received on `h`, appended to `buf` first.
fn read_lines(sockets: &mut SocketSet<'static>, h: SocketHandle, buf: &mut Vec<u8>) -> Vec<String> {
    let s = sockets.get_mut::<tcp::Socket>(h);
    while s.can_recv() {
        let mut tmp = [0u8; 1024];
        match s.recv_slice(&mut tmp) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    let mut lines = Vec::new();
    while let Some(i) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=i).collect();
        let t = String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        lines.push(t);
    }
    lines
}

fn say(sockets: &mut SocketSet<'static>, h: SocketHandle, line: &str) {
    let s = sockets.get_mut::<tcp::Socket>(h);
    let _ = s.send_slice(format!("{line}\r\n").as_bytes());
}

/// `h1,h2,h3,h4,p1,p2`.
fn host_port(a: SocketAddrV4) -> String {
    let o = a.ip().octets();
    format!(
        "{},{},{},{},{},{}",
        o[0],
        o[1],
        o[2],
        o[3],
        a.port() >> 8,
        a.port() & 0xff
    )
}

fn parse_host_port(s: &str) -> Option<SocketAddrV4> {
    let n: Vec<u16> = s
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    if n.len() != 6 || n.iter().any(|&x| x > 255) {
        return None;
    }
    Some(SocketAddrV4::new(
        Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8),
        n[4] << 8 | n[5],
    ))
}

// ----- the server ------------------------------------------------------------------------------

struct ServerSession {
    /// The 220 greeting went out (once the handshake completed).
    greeted: bool,
    ctrl: SocketHandle,
    buf: Vec<u8>,
    data: Option<SocketHandle>,
    /// Active mode: where to connect for the next transfer.
    port_target: Option<SocketAddrV4>,
    /// A RETR is in progress: bytes queued so far.
    sending: Option<usize>,
    quit: bool,
}

/// A minimal FTP server: USER, PASS, TYPE, PASV, PORT, RETR (of one file), QUIT.
pub struct FtpServer {
    listener: SocketHandle,
    sessions: Vec<ServerSession>,
    file: Vec<u8>,
    next_pasv: u16,
    /// The replies it sent, in order.
    pub replies: Vec<String>,
    /// Completed transfers.
    pub transfers: usize,
}

// ----- the client ------------------------------------------------------------------------------

/// How the client opens its data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Passive,
    Active,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    Running,
    Done,
    Failed,
}

/// One scripted session: log in, one data transfer, QUIT.
#[derive(Debug)]
pub struct FtpSession {
    pub mode: Mode,
    pub ctrl_port: u16,
    pub data_port: u16,
    pub status: ClientStatus,
    /// Every reply line received.
    pub replies: Vec<String>,
    /// The data connection's address as the 227 reply gave it (passive).
    pub pasv_addr: Option<SocketAddrV4>,
    pub received: Vec<u8>,
    ctrl: Option<SocketHandle>,
    data: Option<SocketHandle>,
    buf: Vec<u8>,
    step: usize,
    data_done: bool,
}

/// The node on one NIC port: a smoltcp host running a server or client sessions.
pub struct FtpHost {
    iface: Interface,
    dev: Queues,
    sockets: SocketSet<'static>,
    pub server: Option<FtpServer>,
    pub sessions: Vec<FtpSession>,
}

impl FtpHost {
    pub fn new(mac: [u8; 6], addr: Ipv4Addr, gateway: Option<Ipv4Addr>) -> FtpHost {
        let mut dev = Queues::default();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        config.random_seed =
            u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]);
        let mut iface = Interface::new(config, &mut dev, SInstant::from_micros(0));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(addr.into(), 24)).expect("room");
        });
        if let Some(gw) = gateway {
            iface.routes_mut().add_default_ipv4_route(gw).expect("room");
        }
        FtpHost {
            iface,
            dev,
            sockets: SocketSet::new(vec![]),
            server: None,
            sessions: Vec::new(),
        }
    }

    /// Serve `file` on port 21.
    pub fn serve(&mut self, file: Vec<u8>) {
        let mut s = socket();
        s.listen(21).expect("listen");
        let listener = self.sockets.add(s);
        self.server = Some(FtpServer {
            listener,
            sessions: Vec::new(),
            file,
            next_pasv: PASV_BASE,
            replies: Vec::new(),
            transfers: 0,
        });
    }

    /// Start a session to `server` (control from `ctrl_port`, data on `data_port`).
    pub fn start_session(
        &mut self,
        server: SocketAddrV4,
        mode: Mode,
        ctrl_port: u16,
        data_port: u16,
    ) {
        let mut s = socket();
        let ok = s.connect(self.iface.context(), server, ctrl_port).is_ok();
        let ctrl = ok.then(|| self.sockets.add(s));
        self.sessions.push(FtpSession {
            mode,
            ctrl_port,
            data_port,
            status: if ok {
                ClientStatus::Running
            } else {
                ClientStatus::Failed
            },
            replies: Vec::new(),
            pasv_addr: None,
            received: Vec::new(),
            ctrl,
            data: None,
            buf: Vec::new(),
            step: 0,
            data_done: false,
        });
    }

    fn poll(&mut self, now: SInstant) {
        for _ in 0..64 {
            self.iface.poll(now, &mut self.dev, &mut self.sockets);
            let before = self.dev.tx.len();
            self.run_apps();
            self.iface.poll(now, &mut self.dev, &mut self.sockets);
            if self.dev.tx.len() == before && self.dev.rx.is_empty() {
                break;
            }
        }
    }

    fn run_apps(&mut self) {
        if let Some(srv) = self.server.as_mut() {
            srv.run(&mut self.sockets, &mut self.iface);
        }
        for s in &mut self.sessions {
            s.run(&mut self.sockets, &mut self.iface);
        }
    }
}

impl FtpServer {
    fn run(&mut self, sockets: &mut SocketSet<'static>, iface: &mut Interface) {
        if !sockets.get::<tcp::Socket>(self.listener).is_listening() {
            let ctrl = self.listener;
            self.sessions.push(ServerSession {
                greeted: false,
                ctrl,
                buf: Vec::new(),
                data: None,
                port_target: None,
                sending: None,
                quit: false,
            });
            let mut s = socket();
            s.listen(21).expect("listen");
            self.listener = sockets.add(s);
        }
        for sess in &mut self.sessions {
            let mut out: Vec<String> = Vec::new();
            if !sess.greeted {
                if !sockets.get::<tcp::Socket>(sess.ctrl).may_send() {
                    continue;
                }
                sess.greeted = true;
                out.push("220 vsnic test FTP server".into());
            }
            for line in read_lines(sockets, sess.ctrl, &mut sess.buf) {
                let (cmd, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                match cmd.to_ascii_uppercase().as_str() {
                    "USER" => out.push("331 Any password will do".into()),
                    "PASS" => out.push("230 Logged in".into()),
                    "TYPE" => out.push("200 Type set".into()),
                    "PASV" => {
                        let port = self.next_pasv;
                        self.next_pasv += 1;
                        let mut s = socket();
                        s.listen(port).expect("listen");
                        sess.data = Some(sockets.add(s));
                        sess.port_target = None;
                        out.push(format!(
                            "227 Entering Passive Mode ({}).",
                            host_port(SocketAddrV4::new(FTP_REAL.ip().to_owned(), port))
                        ));
                    }
                    "PORT" => match parse_host_port(arg) {
                        Some(a) => {
                            sess.port_target = Some(a);
                            out.push("200 PORT command successful".into());
                        }
                        None => out.push("501 Bad PORT".into()),
                    },
                    "RETR" => {
                        if let Some(t) = sess.port_target.take() {
                            let mut s = socket();
                            if s.connect(iface.context(), t, FTP_REAL.port() - 1).is_ok() {
                                sess.data = Some(sockets.add(s));
                            }
                        }
                        if sess.data.is_some() && arg == FILE_NAME {
                            sess.sending = Some(0);
                            out.push(format!("150 Opening BINARY mode data connection for {arg}"));
                        } else {
                            out.push("550 No such file or no data connection".into());
                        }
                    }
                    "QUIT" => {
                        out.push("221 Goodbye".into());
                        sess.quit = true;
                    }
                    _ => out.push("502 Not implemented".into()),
                }
            }
            // The transfer: push the file, close, then 226 once the peer has everything.
            if let (Some(h), Some(sent)) = (sess.data, sess.sending) {
                let s = sockets.get_mut::<tcp::Socket>(h);
                let mut sent = sent;
                if s.may_send() {
                    while sent < self.file.len() && s.can_send() {
                        match s.send_slice(&self.file[sent..]) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => sent += n,
                        }
                    }
                    if sent == self.file.len() && s.send_queue() == 0 {
                        s.close();
                    }
                }
                sess.sending = Some(sent);
                let st = s.state();
                if sent == self.file.len() && matches!(st, State::Closed | State::TimeWait) {
                    sess.sending = None;
                    sess.data = None;
                    self.transfers += 1;
                    out.push("226 Transfer complete".into());
                }
            }
            for l in out {
                say(sockets, sess.ctrl, &l);
                self.replies.push(l);
            }
            if sess.quit && sockets.get::<tcp::Socket>(sess.ctrl).send_queue() == 0 {
                sockets.get_mut::<tcp::Socket>(sess.ctrl).close();
            }
        }
    }
}

impl FtpSession {
    fn run(&mut self, sockets: &mut SocketSet<'static>, iface: &mut Interface) {
        if self.status != ClientStatus::Running {
            return;
        }
        let Some(ctrl) = self.ctrl else { return };
        // the data connection: read until the server's FIN, then close our side
        if let Some(h) = self.data {
            let s = sockets.get_mut::<tcp::Socket>(h);
            let mut tmp = [0u8; 4096];
            while s.can_recv() {
                match s.recv_slice(&mut tmp) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => self.received.extend_from_slice(&tmp[..n]),
                }
            }
            if s.state() == State::CloseWait && !s.can_recv() {
                s.close();
                self.data_done = true;
            }
        }
        for line in read_lines(sockets, ctrl, &mut self.buf) {
            self.replies.push(line.clone());
            // continuation lines of a multi-line reply are not steps
            if line.len() < 4 || line.as_bytes()[3] != b' ' {
                continue;
            }
            let code: u16 = line[..3].parse().unwrap_or(0);
            if code >= 400 {
                self.status = ClientStatus::Failed;
                return;
            }
            let cmd = match (self.step, code) {
                (0, 220) => "USER anonymous".to_string(),
                (1, 331) => "PASS guest@".to_string(),
                (2, 230) => "TYPE I".to_string(),
                (3, 200) if self.mode == Mode::Passive => "PASV".to_string(),
                (3, 200) => {
                    let mut s = socket();
                    if s.listen(self.data_port).is_err() {
                        self.status = ClientStatus::Failed;
                        return;
                    }
                    self.data = Some(sockets.add(s));
                    format!(
                        "PORT {}",
                        host_port(SocketAddrV4::new(FTP_CLIENT, self.data_port))
                    )
                }
                (4, 227) => {
                    let addr = line
                        .split_once('(')
                        .and_then(|(_, r)| r.split_once(')'))
                        .and_then(|(a, _)| parse_host_port(a));
                    let Some(addr) = addr else {
                        self.status = ClientStatus::Failed;
                        return;
                    };
                    self.pasv_addr = Some(addr);
                    // Connect to the address in the reply (as curl --no-ftp-skip-pasv-ip): only
                    // an FTP-aware load balancer makes it reachable.
                    let mut s = socket();
                    if s.connect(iface.context(), addr, self.data_port).is_err() {
                        self.status = ClientStatus::Failed;
                        return;
                    }
                    self.data = Some(sockets.add(s));
                    format!("RETR {FILE_NAME}")
                }
                (4, 200) => format!("RETR {FILE_NAME}"),
                (5, 150) => continue,
                (5, 226) => "QUIT".to_string(),
                (6, 221) => {
                    self.status = ClientStatus::Done;
                    sockets.get_mut::<tcp::Socket>(ctrl).close();
                    return;
                }
                _ => continue,
            };
            say(sockets, ctrl, &cmd);
            self.step += 1;
        }
        if sockets.get::<tcp::Socket>(ctrl).state() == State::Closed {
            self.status = ClientStatus::Failed;
        }
    }
}

// ----- the attachment and the scenario ---------------------------------------------------------

/// An [`FtpHost`] on a simulated NIC port.
pub struct FtpNode(pub Arc<Mutex<FtpHost>>);

fn sinstant(d: Duration) -> SInstant {
    SInstant::from_micros(d.as_micros() as i64)
}

impl Attachment for FtpNode {
    fn to_wire(&mut self, frame: &[u8]) {
        self.0
            .lock()
            .expect("ftp host")
            .dev
            .rx
            .push_back(frame.to_vec());
    }
    fn poll(&mut self, now: Duration, out: &mut Vec<Vec<u8>>) {
        let mut h = self.0.lock().expect("ftp host");
        h.poll(sinstant(now));
        out.extend(h.dev.tx.drain(..));
    }
    fn next_poll(&mut self, now: Duration) -> Option<Duration> {
        let mut h = self.0.lock().expect("ftp host");
        if !h.dev.rx.is_empty() {
            return Some(Duration::ZERO);
        }
        let h = &mut *h;
        h.iface
            .poll_delay(sinstant(now), &h.sockets)
            .map(|d| Duration::from_micros(d.total_micros()))
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct FtpDemoConfig {
    pub sim: SimConfig,
    /// Size of the file downloaded in each mode.
    pub file_len: usize,
    /// Give up on a session after this much real time.
    pub timeout: Duration,
}

impl Default for FtpDemoConfig {
    fn default() -> Self {
        FtpDemoConfig {
            sim: SimConfig::default(),
            file_len: 6000,
            timeout: Duration::from_secs(120),
        }
    }
}

/// One client session's outcome.
#[derive(Debug, Clone)]
pub struct SessionReport {
    pub mode: Mode,
    pub status: ClientStatus,
    pub replies: Vec<String>,
    /// Passive: the data address the client got from the (rewritten) 227.
    pub pasv_addr: Option<SocketAddrV4>,
    pub received_len: usize,
    /// The downloaded bytes are exactly the file.
    pub received_ok: bool,
}

/// Everything the FTP scenario observed.
#[derive(Debug, Clone)]
pub struct FtpReport {
    pub sessions: Vec<SessionReport>,
    /// The replies as the real server sent them (before the rewrite).
    pub server_replies: Vec<String>,
    pub server_transfers: usize,
    /// The control stream's length change of the 227 rewrite (VIP text minus RS text).
    pub rewrite_delta: i32,
    /// Client → real server pure ACKs on the server-side wire (passive control connection) that
    /// acknowledge a reply from the rewritten 227 on, in the server's numbering: the NIC's ack
    /// fixup on the fast path.
    pub fixed_pure_acks: usize,
    /// The same ACKs with the client's (unfixed) number: must be none.
    pub unfixed_pure_acks: usize,
    pub nic: NicCounters,
    pub daemon: DaemonStats,
    pub sim: SimStats,
    pub wire_frames: [usize; 2],
    pub wire_bad_checksums: usize,
    pub elapsed: Duration,
}

impl FtpReport {
    pub fn all_ok(&self) -> bool {
        self.sessions.len() == 2
            && self
                .sessions
                .iter()
                .all(|s| s.status == ClientStatus::Done && s.received_ok)
            && self.fixed_pure_acks > 0
            && self.unfixed_pure_acks == 0
            && self.wire_bad_checksums == 0
    }
}

struct TcpView {
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: Option<u32>,
    payload: Vec<u8>,
}

fn tcp_view(f: &[u8]) -> Option<TcpView> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let p = SlicedPacket::from_ethernet(f).ok()?;
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let Some(TransportSlice::Tcp(t)) = &p.transport else {
        return None;
    };
    let h = ip.header();
    Some(TcpView {
        src: SocketAddrV4::new(h.source_addr(), t.source_port()),
        dst: SocketAddrV4::new(h.destination_addr(), t.destination_port()),
        seq: t.sequence_number(),
        ack: t.ack().then(|| t.acknowledgment_number()),
        payload: t.payload().to_vec(),
    })
}

/// Run the passive then the active session through the daemon on the simulated NIC.
pub async fn run(cfg: FtpDemoConfig) -> Result<FtpReport, String> {
    let started = Instant::now();
    let sim = Arc::new(Simulator::start(&cfg.sim)?);
    let file = file_bytes(cfg.file_len);
    let server = Arc::new(Mutex::new(FtpHost::new(
        [0x02, 0x53, 0, 0, 0, 2],
        *FTP_REAL.ip(),
        Some(Ipv4Addr::new(10, 1, 0, 1)),
    )));
    server.lock().map_err(|_| "lock")?.serve(file.clone());
    let client = Arc::new(Mutex::new(FtpHost::new(
        [0x02, 0x43, 0, 0, 0, 2],
        FTP_CLIENT,
        None,
    )));
    sim.attach(1, Box::new(FtpNode(server.clone())))?;
    sim.attach(0, Box::new(FtpNode(client.clone())))?;
    let rec: [Recorder; 2] = Default::default();
    let wire = [rec[0].to_wire.clone(), rec[1].to_wire.clone()];
    for (p, r) in rec.into_iter().enumerate() {
        sim.attach(p, Box::new(r))?;
    }

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
    let sock = std::env::temp_dir().join(format!("vsnic-ftp-{}-{run}.sock", std::process::id()));
    let mut dcfg = DaemonConfig::new(vec![
        PortConfig {
            mac: [0x02, 0x5e, 0, 0, 0, 1],
            addr: Ipv4Addr::new(10, 0, 0, 1),
            prefix: 24,
        },
        PortConfig {
            mac: [0x02, 0x5e, 0, 0, 1, 1],
            addr: Ipv4Addr::new(10, 1, 0, 1),
            prefix: 24,
        },
    ]);
    dcfg.tick_ms = 100;
    dcfg.control_socket = Some(sock.clone());
    dcfg.services.push(ServiceConfig::tcp(
        FTP_VIP,
        Scheduler::Rr,
        vec![RealConfig {
            addr: FTP_REAL,
            weight: 1,
            method: ForwardMethod::Masq,
            u_threshold: 0,
            l_threshold: 0,
        }],
    ));
    let daemon = Daemon::new(driver, dcfg).map_err(|e| format!("starting the daemon: {e}"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(daemon.run(async {
        let _ = stop_rx.await;
    }));

    for (i, mode) in [Mode::Passive, Mode::Active].into_iter().enumerate() {
        client.lock().map_err(|_| "lock")?.start_session(
            FTP_VIP,
            mode,
            40021 + i as u16,
            40100 + i as u16,
        );
        sim.waker().wake();
        let t0 = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let st = client.lock().map_err(|_| "lock")?.sessions[i].status;
            if st != ClientStatus::Running || t0.elapsed() > cfg.timeout {
                break;
            }
        }
    }
    // let the last ACKs and FINs cross
    tokio::time::sleep(Duration::from_millis(200)).await;

    let s2 = sock.clone();
    let resp = tokio::task::spawn_blocking(move || control::call(&s2, &Request::Counters))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("control socket: {e}"))?;
    let Response::Counters { nic, daemon, .. } = resp else {
        return Err(format!("unexpected control response {resp:?}"));
    };
    let _ = stop_tx.send(());
    task.await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("daemon: {e}"))?;
    let _ = std::fs::remove_file(&sock);

    // The simulator first, then the host locks (the runner holds the simulator while polling).
    let sim_stats = sim.stats();
    let frames: [Vec<Vec<u8>>; 2] = [
        wire[0].lock().map_err(|_| "rec")?.clone(),
        wire[1].lock().map_err(|_| "rec")?.clone(),
    ];
    let rewrite_delta = host_port(SocketAddrV4::new(*FTP_VIP.ip(), 0)).len() as i32
        - host_port(SocketAddrV4::new(*FTP_REAL.ip(), 0)).len() as i32;
    // The server's replies from the 227 on as the client got them (client numbering), and the
    // client's pure ACKs of them as the server got them: each must carry the server's numbering.
    let mut fixed_pure_acks = 0;
    let mut unfixed_pure_acks = 0;
    let to_client: Vec<TcpView> = frames[0].iter().filter_map(|f| tcp_view(f)).collect();
    if let Some(r227) = to_client
        .iter()
        .find(|f| f.src == FTP_VIP && f.payload.starts_with(b"227 "))
    {
        let ctrl_client = r227.dst;
        let ends: Vec<u32> = to_client
            .iter()
            .filter(|f| f.src == FTP_VIP && f.dst == ctrl_client && !f.payload.is_empty())
            .filter(|f| (f.seq.wrapping_sub(r227.seq) as i32) >= 0)
            .map(|f| f.seq.wrapping_add(f.payload.len() as u32))
            .collect();
        for a in frames[1].iter().filter_map(|f| tcp_view(f)) {
            if a.dst != FTP_REAL || a.src != ctrl_client || !a.payload.is_empty() {
                continue;
            }
            let Some(ack) = a.ack else { continue };
            if ends
                .iter()
                .any(|e| e.wrapping_sub(rewrite_delta as u32) == ack)
            {
                fixed_pure_acks += 1;
            } else if ends.contains(&ack) {
                unfixed_pure_acks += 1;
            }
        }
    }
    let (server_replies, server_transfers) = {
        let s = server.lock().map_err(|_| "lock")?;
        let srv = s.server.as_ref().ok_or("no server")?;
        (srv.replies.clone(), srv.transfers)
    };
    let sessions = client
        .lock()
        .map_err(|_| "lock")?
        .sessions
        .iter()
        .map(|s| SessionReport {
            mode: s.mode,
            status: s.status,
            replies: s.replies.clone(),
            pasv_addr: s.pasv_addr,
            received_len: s.received.len(),
            received_ok: s.received == file,
        })
        .collect();
    Ok(FtpReport {
        sessions,
        server_replies,
        server_transfers,
        rewrite_delta,
        fixed_pure_acks,
        unfixed_pure_acks,
        nic: *nic,
        daemon: *daemon,
        sim: sim_stats,
        wire_frames: [frames[0].len(), frames[1].len()],
        wire_bad_checksums: crate::demo::bad_checksums(&frames[0])
            + crate::demo::bad_checksums(&frames[1]),
        elapsed: started.elapsed(),
    })
}

/// Print an FTP report for people.
pub fn print(r: &FtpReport) {
    println!("vsnic FTP demo: client {FTP_CLIENT} -> VIP {FTP_VIP} -> real server {FTP_REAL} (masquerade), file {FILE_NAME}");
    for s in &r.sessions {
        println!(
            "  {:?} session: {:?}, downloaded {} B ({})",
            s.mode,
            s.status,
            s.received_len,
            if s.received_ok { "verified" } else { "WRONG" }
        );
        for l in s
            .replies
            .iter()
            .filter(|l| l.starts_with("227") || l.starts_with("200 PORT"))
        {
            println!("    client got: {l}");
        }
    }
    for l in r.server_replies.iter().filter(|l| l.starts_with("227")) {
        println!("    server sent: {l}");
    }
    let d = &r.daemon;
    println!(
        "helper: {} control connection(s) bound, {} payload segments through the helper, {} rewrite(s) (length {:+}), {} NIC delta update(s), {} frames sent by the host",
        d.app_bound, d.app_segments, d.app_rewrites, r.rewrite_delta, d.app_delta_updates, d.app_frames_sent
    );
    println!(
        "data connections: {} passive + {} active expected, {} created, {} expired unclaimed; seq/ack fixed by the host: {}",
        d.data_expected_passive, d.data_expected_active, d.data_connections, d.data_expect_expired, d.app_host_fixed
    );
    println!(
        "NIC fast path: {} client pure ACKs of replies from the rewritten 227 on reached the server with the ack fixed by the NIC ({} unfixed)",
        r.fixed_pure_acks, r.unfixed_pure_acks
    );
    let n = &r.nic;
    let reasons: Vec<String> = vsnic_contract::Reason::ALL
        .iter()
        .filter(|x| n.exc_reason[**x as usize] > 0)
        .map(|x| format!("{} {}", x.name(), n.exc_reason[*x as usize]))
        .collect();
    println!(
        "NIC counters: rx {} frames, tx {}, fast path {}, exceptions {} ({})",
        n.rx_frames,
        n.tx_frames,
        n.fastpath,
        n.exc_frames,
        reasons.join(", ")
    );
    println!(
        "wire: {} + {} frames, {} bad checksums; result: {} in {:.1} s",
        r.wire_frames[0],
        r.wire_frames[1],
        r.wire_bad_checksums,
        if r.all_ok() { "OK" } else { "FAILED" },
        r.elapsed.as_secs_f64()
    );
}
