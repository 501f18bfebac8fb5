//! In-process Ethernet hosts for the simulator, built on smoltcp.
//!
//! A [`Host`] is a smoltcp `Interface` plus a `SocketSet` driving a queue-backed
//! `phy::Device`. The simulator owns the clock and the wire: it hands received
//! frames to [`Host::deliver`], calls [`Host::poll`] with the simulated time, and
//! drains [`Host::take_tx`]. Nothing here spawns threads or reads real time.
//!
//! Two small TCP applications run inside a host and are driven from `poll`:
//! a [`BulkServer`] (read everything until the peer's FIN, answer with a
//! deterministic pattern, close) and a [`BulkClient`] (upload a pattern,
//! half-close, read and verify the whole response).

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use smoltcp::iface::{
    Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet,
};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, State};
pub use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr, IpEndpoint};

/// Largest Ethernet frame (without FCS) the hosts send or accept: MSS is 1460.
pub const FRAME_MTU: usize = 1514;

/// TCP settings for the sockets a [`Host`] creates (see [`Host::set_tcp_config`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConfig {
    /// Receive and transmit buffer size per socket. Up to 65535 the window
    /// needs no scaling; smoltcp negotiates window scaling above that.
    pub buffer_size: usize,
    /// smoltcp aborts a connection after hearing nothing from the peer for
    /// this long, even an idle one (`None`: never).
    pub timeout: Option<Duration>,
    /// Delayed-ACK timer (smoltcp default 10 ms; a second full segment is
    /// ACKed at once). `None`: ACK every segment immediately.
    pub ack_delay: Option<Duration>,
    pub nagle: bool,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            buffer_size: 65535,
            timeout: Some(Duration::from_secs(60)),
            ack_delay: Some(Duration::from_millis(10)),
            nagle: true,
        }
    }
}

/// `poll_egress` emits at most one segment per socket, so `poll` repeats it;
/// this bounds the repeats of one `poll` call.
const MAX_EGRESS_ROUNDS: usize = 1024;

/// Frame queues standing in for a NIC.
#[derive(Default)]
struct QueueDevice {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
}

struct RxToken(Vec<u8>);
struct TxToken<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0; len];
        let r = f(&mut frame);
        self.0.push_back(frame);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken(&mut self.tx)))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME_MTU;
        caps
    }
}

/// Byte `i` of the deterministic stream for `seed`.
pub fn pattern_byte(seed: u64, i: u64) -> u8 {
    let mut z = seed
        .wrapping_mul(0xA076_1D64_78BD_642F)
        .wrapping_add(i >> 3)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> ((i & 7) * 8)) as u8
}

/// Fill `buf` with the stream for `seed` starting at byte `offset`.
pub fn fill_pattern(seed: u64, offset: u64, buf: &mut [u8]) {
    for (k, b) in buf.iter_mut().enumerate() {
        *b = pattern_byte(seed, offset + k as u64);
    }
}

/// FNV-1a 64 of the first `len` bytes of the stream for `seed`.
pub fn pattern_hash(seed: u64, len: usize) -> u64 {
    let mut h = Fnv64::default();
    let mut buf = [0u8; 4096];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(buf.len());
        fill_pattern(seed, off as u64, &mut buf[..n]);
        h.update(&buf[..n]);
        off += n;
    }
    h.finish()
}

/// Incremental FNV-1a 64.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    pub fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01B3);
        }
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

/// Progress of one TCP exchange. A server session is `Done` once every
/// response byte has been acknowledged and the connection closed; a client is
/// `Done` once it has read the server's whole response up to its FIN.
/// `Failed`: reset, refused, or aborted by the [`TcpConfig::timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Running,
    Done,
    Failed,
}

fn new_socket(cfg: &TcpConfig) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; cfg.buffer_size]),
        tcp::SocketBuffer::new(vec![0; cfg.buffer_size]),
    );
    s.set_timeout(cfg.timeout);
    s.set_ack_delay(cfg.ack_delay);
    s.set_nagle_enabled(cfg.nagle);
    s
}

fn to_socket_addr(ep: IpEndpoint) -> SocketAddr {
    SocketAddr::new(IpAddr::from(ep.addr), ep.port)
}

/// Drain the receive buffer into `sink`; returns bytes read.
fn drain(sock: &mut tcp::Socket, mut sink: impl FnMut(&[u8])) -> usize {
    let mut total = 0;
    while sock.can_recv() {
        match sock.recv(|buf| {
            sink(buf);
            (buf.len(), buf.len())
        }) {
            Ok(n) => total += n,
            Err(_) => break,
        }
    }
    total
}

/// Queue pattern bytes `[*sent, len)` of `seed` into the transmit buffer.
fn push_pattern(sock: &mut tcp::Socket, seed: u64, sent: &mut usize, len: usize) {
    while *sent < len && sock.can_send() {
        let off = *sent;
        match sock.send(|buf| {
            let n = buf.len().min(len - off);
            fill_pattern(seed, off as u64, &mut buf[..n]);
            (n, n)
        }) {
            Ok(0) | Err(_) => break,
            Ok(n) => *sent += n,
        }
    }
}

/// The peer has sent its FIN (the receive half is closed gracefully).
fn peer_fin_seen(state: State) -> bool {
    matches!(
        state,
        State::CloseWait | State::LastAck | State::Closing | State::TimeWait
    )
}

/// One connection accepted by a [`BulkServer`].
#[derive(Clone, Debug)]
pub struct ServerSession {
    /// Remote address and port of the client, as seen by the server.
    pub peer: Option<SocketAddr>,
    pub bytes_received: usize,
    /// FNV-1a 64 of the received bytes.
    pub rx_hash: u64,
    pub bytes_sent: usize,
    pub status: Status,
    hasher: Fnv64,
    handle: Option<SocketHandle>,
    closing: bool,
}

impl ServerSession {
    fn run(&mut self, sock: &mut tcp::Socket, response_len: usize) {
        if self.peer.is_none() {
            self.peer = sock.remote_endpoint().map(to_socket_addr);
        }
        let hasher = &mut self.hasher;
        self.bytes_received += drain(sock, |b| hasher.update(b));
        self.rx_hash = self.hasher.finish();
        let state = sock.state();
        if self.closing {
            if state == State::Closed {
                // LastAck -> Closed: our FIN, hence all our data, was acked.
                self.status = Status::Done;
            }
        } else if matches!(state, State::Closed | State::Listen) {
            self.status = Status::Failed;
        } else if peer_fin_seen(state) && !sock.can_recv() {
            let seed = self.bytes_received as u64;
            push_pattern(sock, seed, &mut self.bytes_sent, response_len);
            if self.bytes_sent == response_len && sock.send_queue() == 0 {
                sock.close();
                self.closing = true;
            }
        }
    }
}

/// A TCP server on one port: every connection is read until the client's FIN,
/// answered with `response_len` bytes of the pattern seeded by the number of
/// bytes received, then closed. A fresh listening socket is opened as soon as a
/// connection is accepted, so sequential (and even concurrent) clients work.
pub struct BulkServer {
    pub port: u16,
    pub response_len: usize,
    /// Every connection accepted so far, in accept order.
    pub sessions: Vec<ServerSession>,
    listener: SocketHandle,
}

impl BulkServer {
    fn listen(sockets: &mut SocketSet<'static>, port: u16, cfg: &TcpConfig) -> SocketHandle {
        let mut s = new_socket(cfg);
        s.listen(port).expect("listen on a non-zero port");
        sockets.add(s)
    }

    fn run(&mut self, sockets: &mut SocketSet<'static>, cfg: &TcpConfig) {
        if !sockets.get::<tcp::Socket>(self.listener).is_listening() {
            self.sessions.push(ServerSession {
                peer: None,
                bytes_received: 0,
                rx_hash: Fnv64::default().finish(),
                bytes_sent: 0,
                status: Status::Running,
                hasher: Fnv64::default(),
                handle: Some(self.listener),
                closing: false,
            });
            self.listener = Self::listen(sockets, self.port, cfg);
        }
        for sess in &mut self.sessions {
            let Some(h) = sess.handle else { continue };
            sess.run(sockets.get_mut::<tcp::Socket>(h), self.response_len);
            if sess.status != Status::Running {
                sockets.remove(h);
                sess.handle = None;
            }
        }
    }
}

/// A TCP client: uploads `upload_len` pattern bytes (seeded by `seed`),
/// half-closes, then reads the response until the server's FIN, checking it
/// against the pattern seeded by `upload_len` (what a [`BulkServer`] sends).
#[derive(Clone, Debug)]
pub struct BulkClient {
    pub local_port: u16,
    pub remote: SocketAddrV4,
    pub upload_len: usize,
    pub seed: u64,
    pub status: Status,
    pub bytes_sent: usize,
    pub bytes_received: usize,
    /// FNV-1a 64 of the received bytes.
    pub rx_hash: u64,
    /// Number of received bytes that differ from the expected pattern.
    pub mismatches: usize,
    hasher: Fnv64,
    handle: Option<SocketHandle>,
    fin_sent: bool,
    peer_fin: bool,
}

impl BulkClient {
    /// Done, and the response was exactly `expected_len` pattern bytes.
    pub fn response_ok(&self, expected_len: usize) -> bool {
        self.status == Status::Done
            && self.mismatches == 0
            && self.bytes_received == expected_len
            && self.rx_hash == pattern_hash(self.upload_len as u64, expected_len)
    }

    fn run(&mut self, sockets: &mut SocketSet<'static>) {
        let Some(h) = self.handle else { return };
        let sock = sockets.get_mut::<tcp::Socket>(h);
        if self.status == Status::Running {
            let (seed, mut off) = (self.upload_len as u64, self.bytes_received as u64);
            let (hasher, bad) = (&mut self.hasher, &mut self.mismatches);
            self.bytes_received += drain(sock, |b| {
                hasher.update(b);
                for &x in b {
                    *bad += usize::from(x != pattern_byte(seed, off));
                    off += 1;
                }
            });
            self.rx_hash = self.hasher.finish();
            push_pattern(sock, self.seed, &mut self.bytes_sent, self.upload_len);
            if self.bytes_sent == self.upload_len
                && sock.send_queue() == 0
                && !self.fin_sent
                && sock.may_send()
            {
                sock.close();
                self.fin_sent = true;
            }
            let state = sock.state();
            self.peer_fin |= peer_fin_seen(state);
            if self.peer_fin && self.fin_sent && !sock.can_recv() {
                self.status = Status::Done;
            } else if state == State::Closed {
                self.status = Status::Failed;
            }
        }
        // Keep the socket through TIME-WAIT so a lost final ACK can be redone.
        if self.status != Status::Running && sock.state() == State::Closed {
            sockets.remove(h);
            self.handle = None;
        }
    }
}

/// Index of a server on a [`Host`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerId(usize);
/// Index of a client on a [`Host`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientId(usize);

/// An Ethernet/IPv4 host with a smoltcp stack and bulk TCP apps.
pub struct Host {
    mac: [u8; 6],
    iface: Interface,
    dev: QueueDevice,
    sockets: SocketSet<'static>,
    servers: Vec<BulkServer>,
    clients: Vec<BulkClient>,
    tcp: TcpConfig,
}

impl Host {
    pub fn new(
        mac: [u8; 6],
        addr: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
        now: Instant,
    ) -> Host {
        let mut dev = QueueDevice::default();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        // Deterministic, but distinct per host (ISNs, ephemeral choices).
        config.random_seed = mac.iter().fold(0x5eed, |h, &b| (h << 8) ^ b as u64);
        let mut iface = Interface::new(config, &mut dev, now);
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(addr.into(), prefix_len))
                .expect("one address fits")
        });
        if let Some(gw) = gateway {
            iface
                .routes_mut()
                .add_default_ipv4_route(gw)
                .expect("route table has room");
        }
        Host {
            mac,
            iface,
            dev,
            sockets: SocketSet::new(vec![]),
            servers: vec![],
            clients: vec![],
            tcp: TcpConfig::default(),
        }
    }

    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// A frame from the wire to this host (processed at the next `poll`).
    pub fn deliver(&mut self, frame: &[u8]) {
        self.dev.rx.push_back(frame.to_vec());
    }

    /// Next frame this host transmits, oldest first.
    pub fn take_tx(&mut self) -> Option<Vec<u8>> {
        self.dev.tx.pop_front()
    }

    /// Frames waiting in `take_tx`.
    pub fn tx_pending(&self) -> usize {
        self.dev.tx.len()
    }

    /// Process every delivered frame, run the apps, and emit everything the
    /// stack may send now (all segments the windows allow, ACKs, ARP).
    pub fn poll(&mut self, now: Instant) {
        self.run_apps();
        loop {
            match self
                .iface
                .poll_ingress_single(now, &mut self.dev, &mut self.sockets)
            {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed => {}
                PollIngressSingleResult::SocketStateChanged => self.run_apps(),
            }
        }
        for _ in 0..MAX_EGRESS_ROUNDS {
            let r = self
                .iface
                .poll_egress(now, &mut self.dev, &mut self.sockets);
            self.run_apps();
            if r == PollResult::None {
                break;
            }
        }
    }

    /// How long until the host needs polling again if no frame arrives
    /// (`None`: only when a frame arrives). `Some(ZERO)` means "due now":
    /// poll at the next tick rather than again at the same instant.
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        if !self.dev.rx.is_empty() {
            return Some(Duration::ZERO);
        }
        self.iface.poll_delay(now, &self.sockets)
    }

    /// Settings for sockets created from now on (servers: after the next accept).
    pub fn set_tcp_config(&mut self, cfg: TcpConfig) {
        self.tcp = cfg;
    }

    pub fn add_server(&mut self, port: u16, response_len: usize) -> ServerId {
        let listener = BulkServer::listen(&mut self.sockets, port, &self.tcp);
        self.servers.push(BulkServer {
            port,
            response_len,
            sessions: vec![],
            listener,
        });
        ServerId(self.servers.len() - 1)
    }

    /// Start a connection now (the SYN, or the ARP for the next hop, leaves at
    /// the next `poll`). A connect error shows up as `Status::Failed`.
    pub fn add_client(
        &mut self,
        local_port: u16,
        remote: SocketAddrV4,
        upload_len: usize,
        seed: u64,
    ) -> ClientId {
        let mut sock = new_socket(&self.tcp);
        let ok = sock
            .connect(self.iface.context(), remote, local_port)
            .is_ok();
        self.clients.push(BulkClient {
            local_port,
            remote,
            upload_len,
            seed,
            status: if ok { Status::Running } else { Status::Failed },
            bytes_sent: 0,
            bytes_received: 0,
            rx_hash: Fnv64::default().finish(),
            mismatches: 0,
            hasher: Fnv64::default(),
            handle: ok.then(|| self.sockets.add(sock)),
            fin_sent: false,
            peer_fin: false,
        });
        ClientId(self.clients.len() - 1)
    }

    pub fn server(&self, id: ServerId) -> &BulkServer {
        &self.servers[id.0]
    }

    pub fn client(&self, id: ClientId) -> &BulkClient {
        &self.clients[id.0]
    }

    fn run_apps(&mut self) {
        for s in &mut self.servers {
            s.run(&mut self.sockets, &self.tcp);
        }
        for c in &mut self.clients {
            c.run(&mut self.sockets);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{
        ArpOperation, ArpPacket, ArpRepr, EthernetFrame, EthernetProtocol, EthernetRepr,
    };

    const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
    const IP_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const IP_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
    const STEP: Duration = Duration::from_micros(10);

    fn pair(now: Instant) -> (Host, Host) {
        (
            Host::new(MAC_A, IP_A, 24, None, now),
            Host::new(MAC_B, IP_B, 24, None, now),
        )
    }

    /// A back-to-back cable: at most `per_step` frames each way per step,
    /// each frame lost with probability `loss_pct` % (deterministic in `seed`).
    struct Wire {
        per_step: usize,
        loss_pct: u64,
        seed: u64,
        frames: u64,
    }

    fn wire(per_step: usize, loss_pct: u64, seed: u64) -> Wire {
        Wire {
            per_step,
            loss_pct,
            seed,
            frames: 0,
        }
    }

    impl Wire {
        fn carry(&mut self, from: &mut Host, to: &mut Host) -> bool {
            let mut moved = false;
            for _ in 0..self.per_step {
                let Some(f) = from.take_tx() else { break };
                self.frames += 1;
                if pattern_byte(self.seed, self.frames) as u64 * 100 >= self.loss_pct * 256 {
                    to.deliver(&f);
                }
                moved = true;
            }
            moved
        }

        /// Run until `done` or `limit` of simulated time, jumping over idle time.
        fn run(
            &mut self,
            a: &mut Host,
            b: &mut Host,
            now: &mut Instant,
            limit: Duration,
            done: impl Fn(&Host, &Host) -> bool,
        ) {
            let end = *now + limit;
            while *now < end && !done(a, b) {
                let moved = self.carry(a, b) | self.carry(b, a);
                a.poll(*now);
                b.poll(*now);
                let busy = moved || a.tx_pending() + b.tx_pending() > 0;
                let wait = [a.poll_delay(*now), b.poll_delay(*now)]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(limit);
                *now += if busy { STEP } else { wait.max(STEP) };
            }
        }
    }

    fn server_done(b: &Host, id: ServerId, n: usize) -> bool {
        let s = &b.server(id).sessions;
        s.len() == n && s.iter().all(|s| s.status != Status::Running)
    }

    /// 100 KB up, 50 KB down over `w`; returns the simulated time taken.
    fn bulk(mut w: Wire, cfg: TcpConfig) -> Instant {
        let mut now = Instant::from_millis(0);
        let (mut a, mut b) = pair(now);
        a.set_tcp_config(cfg);
        b.set_tcp_config(cfg);
        let srv = b.add_server(80, 50_000);
        let cli = a.add_client(40_000, SocketAddrV4::new(IP_B, 80), 100_000, 7);
        w.run(
            &mut a,
            &mut b,
            &mut now,
            Duration::from_secs(300),
            |a, b| a.client(cli).status != Status::Running && server_done(b, srv, 1),
        );
        let c = a.client(cli);
        assert_eq!(c.status, Status::Done);
        assert_eq!(c.bytes_sent, 100_000);
        assert_eq!(c.bytes_received, 50_000);
        assert_eq!(c.mismatches, 0);
        assert!(c.response_ok(50_000));
        let s = &b.server(srv).sessions[0];
        assert_eq!(s.status, Status::Done);
        assert_eq!(s.bytes_received, 100_000);
        assert_eq!(s.rx_hash, pattern_hash(7, 100_000));
        assert_eq!(s.bytes_sent, 50_000);
        assert_eq!(s.peer, Some(SocketAddr::from((IP_A, 40_000))));
        now
    }

    #[test]
    fn bulk_upload_and_download() {
        // The FIN waits for the ACK of the last data, which the delayed-ACK
        // timer may hold for 10 ms on each side.
        let t = bulk(wire(usize::MAX, 0, 0), TcpConfig::default());
        assert!(t <= Instant::from_millis(21), "took {t}");
        let quick = TcpConfig {
            ack_delay: None,
            ..TcpConfig::default()
        };
        let t = bulk(wire(usize::MAX, 0, 0), quick);
        assert!(t < Instant::from_millis(1), "took {t}");
        let big = TcpConfig {
            buffer_size: 256 * 1024,
            ..quick
        };
        let t = bulk(wire(1, 0, 0), big);
        assert!(t < Instant::from_millis(3), "took {t}");
    }

    #[test]
    fn bulk_over_slow_lossy_wire() {
        // 1 or 3 frames per 10 us each way (~1.2 or 3.6 Gbit/s), 2..10 % loss.
        for (per_step, loss_pct) in [(1, 2), (3, 5), (1, 10), (3, 10)] {
            for seed in 0..4 {
                let t = bulk(wire(per_step, loss_pct, seed), TcpConfig::default());
                assert!(
                    t < Instant::from_secs(60),
                    "{per_step}/{loss_pct}/{seed}: {t}"
                );
            }
        }
    }

    #[test]
    fn sequential_connections_reuse_server() {
        let mut now = Instant::from_millis(0);
        let (mut a, mut b) = pair(now);
        let srv = b.add_server(8080, 3000);
        for (i, len) in [20_000usize, 0, 70_000].into_iter().enumerate() {
            let port = 50_000 + i as u16;
            let cli = a.add_client(port, SocketAddrV4::new(IP_B, 8080), len, i as u64);
            wire(usize::MAX, 0, 0).run(&mut a, &mut b, &mut now, Duration::from_secs(5), |a, b| {
                a.client(cli).status != Status::Running && server_done(b, srv, i + 1)
            });
            assert!(a.client(cli).response_ok(3000), "{:?}", a.client(cli));
            let s = &b.server(srv).sessions[i];
            assert_eq!((s.status, s.bytes_received), (Status::Done, len));
            assert_eq!(s.rx_hash, pattern_hash(i as u64, len));
            assert_eq!(s.peer, Some(SocketAddr::from((IP_A, port))));
        }
    }

    #[test]
    fn refused_connection_fails() {
        let mut now = Instant::from_millis(0);
        let (mut a, mut b) = pair(now);
        b.add_server(80, 10);
        let cli = a.add_client(40_000, SocketAddrV4::new(IP_B, 81), 1000, 1);
        wire(usize::MAX, 0, 0).run(&mut a, &mut b, &mut now, Duration::from_secs(5), |a, _| {
            a.client(cli).status != Status::Running
        });
        assert_eq!(a.client(cli).status, Status::Failed);
        assert!(now < Instant::from_millis(1), "took {now}");
    }

    #[test]
    fn garbage_frames_are_ignored() {
        let now = Instant::from_millis(0);
        let mut h = Host::new(MAC_B, IP_B, 24, None, now);
        h.add_server(80, 10);
        let mut ipv4_junk = vec![0xff; 6];
        ipv4_junk.extend_from_slice(&MAC_A);
        ipv4_junk.extend_from_slice(&[0x08, 0x00]);
        ipv4_junk.extend((0..60u8).map(|i| i.wrapping_mul(37)));
        let mut arp_short = ipv4_junk[..14].to_vec();
        arp_short[12..14].copy_from_slice(&[0x08, 0x06]);
        arp_short.extend_from_slice(&[0, 1, 8, 0, 6]);
        let frames: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x42],
            (0..64u8).map(|i| i.wrapping_mul(91) ^ 0x5a).collect(),
            vec![0xff; 2000],
            ipv4_junk,
            arp_short,
        ];
        for f in &frames {
            h.deliver(f);
        }
        h.poll(now);
        assert_eq!(h.poll_delay(now), None);
        assert!(h.take_tx().is_none());
    }

    fn arp_of(frame: &[u8]) -> (EthernetRepr, ArpRepr) {
        let eth = EthernetFrame::new_checked(frame).unwrap();
        let repr = EthernetRepr::parse(&eth).unwrap();
        assert_eq!(repr.ethertype, EthernetProtocol::Arp);
        let arp = ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).unwrap()).unwrap();
        (repr, arp)
    }

    #[test]
    fn answers_arp() {
        let now = Instant::from_millis(0);
        let mut h = Host::new(MAC_B, IP_B, 24, None, now);
        let req = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr: EthernetAddress(MAC_A),
            source_protocol_addr: IP_A,
            target_hardware_addr: EthernetAddress([0; 6]),
            target_protocol_addr: IP_B,
        };
        let eth = EthernetRepr {
            src_addr: EthernetAddress(MAC_A),
            dst_addr: EthernetAddress::BROADCAST,
            ethertype: EthernetProtocol::Arp,
        };
        let mut buf = vec![0; eth.buffer_len() + req.buffer_len()];
        let mut frame = EthernetFrame::new_unchecked(&mut buf[..]);
        eth.emit(&mut frame);
        req.emit(&mut ArpPacket::new_unchecked(frame.payload_mut()));
        h.deliver(&buf);
        h.poll(now);
        let (e, arp) = arp_of(&h.take_tx().expect("an ARP reply"));
        assert_eq!(e.dst_addr, EthernetAddress(MAC_A));
        let expect = ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Reply,
            source_hardware_addr: EthernetAddress(MAC_B),
            source_protocol_addr: IP_B,
            target_hardware_addr: EthernetAddress(MAC_A),
            target_protocol_addr: IP_A,
        };
        assert_eq!(arp, expect);
    }

    #[test]
    fn off_subnet_peer_goes_via_gateway() {
        let now = Instant::from_millis(0);
        let gw = Ipv4Addr::new(10, 0, 0, 254);
        let mut h = Host::new(MAC_A, IP_A, 24, Some(gw), now);
        let cli = h.add_client(
            40_000,
            SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, 5), 80),
            10,
            1,
        );
        h.poll(now);
        let (e, arp) = arp_of(&h.take_tx().expect("an ARP request"));
        assert_eq!(e.dst_addr, EthernetAddress::BROADCAST);
        let ArpRepr::EthernetIpv4 {
            operation,
            source_hardware_addr,
            source_protocol_addr,
            target_protocol_addr,
            ..
        } = arp
        else {
            unreachable!()
        };
        assert_eq!(operation, ArpOperation::Request);
        assert_eq!(source_hardware_addr, EthernetAddress(MAC_A));
        assert_eq!(source_protocol_addr, IP_A);
        assert_eq!(target_protocol_addr, gw);
        assert_eq!(h.client(cli).status, Status::Running);
    }
}
