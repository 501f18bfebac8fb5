//! The IPVS application layer: helpers for protocols whose payload names other connections
//! (FTP), and what they need from the host — an application registry, a TCP stream layer that
//! feeds them ordered bytes, the payload-replace primitive and sequence-delta bookkeeping.
//!
//! * [`App`] — an application *template*: a name, a protocol, a timeout table and the hooks
//!   (`init_conn`, `done_conn`, `bind_conn`, `unbind_conn`, `pkt_in`, `pkt_out`) over a
//!   per-connection state ([`App::Conn`]).
//! * [`AppRegistry`] — templates registered once by name, and *incarnations* of them per
//!   (protocol, port). A new connection binds to the incarnation of its virtual port
//!   ([`AppRegistry::bind`]) and gets an [`AppBinding`], which it keeps for its life.
//! * [`AppBinding`] — one connection's tie to its incarnation: the app's state, the stream
//!   layer (in-order delivery, retransmission replay of rewrites, holding back a split reply),
//!   and the connection's [`seq::ConnSeqAdj`]. [`AppBinding::pkt`] takes a frame and returns the
//!   frames to send and the [`AppAction`]s for the daemon.
//!
//! **Unregistering safely** (the bug behind CVE-2025-40018 was an incarnation freed while
//! connections still pointed at it). An incarnation is an `Arc`; each binding holds a clone and
//! the incarnation's use count. Unregistering removes it from the registry and marks it
//! *retired*: it accepts no new binds, but every bound connection keeps using it until it
//! unbinds (drop of the [`AppBinding`], which calls `unbind_conn` then `done_conn`). A port can
//! be registered again at once; old connections keep the old incarnation, new ones get the new.
//! The template likewise lives as long as any incarnation of it.

pub mod frame;
pub mod ftp;
pub mod seq;

#[cfg(test)]
mod fixtures;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tracing::debug;

use self::frame::{FrameError, Splice, TcpLayout};
use self::seq::{after, before, ConnSeqAdj, SeqAdj};

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;

/// Rewrites remembered per direction, to rewrite retransmissions again.
pub const REWRITE_HISTORY: usize = 8;

/// The direction of a segment, IPVS style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Client → server (IPVS "in", through DNAT).
    In,
    /// Server → client (IPVS "out", through SNAT).
    Out,
}

/// What an app knows of its connection. Addresses are IPv4 or IPv6 (the frame layer is IPv4
/// only today; the FTP parser handles both families).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnCtx {
    pub protocol: u8,
    pub client: SocketAddr,
    pub vip: SocketAddr,
    pub real: SocketAddr,
}

/// New, in-order bytes of one direction of the stream.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    /// Original sequence number of `data[0]`.
    pub seq: u32,
    pub data: &'a [u8],
    /// Bytes before `seq` were missed (a gap in the stream): resynchronise.
    pub gap: bool,
}

/// What a hook asks the daemon (or the app layer) to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppAction {
    /// Passive data connection: the client (port unknown until its SYN) will connect to
    /// `vip:vport`; send it to `rip:rport`. The control connection is its controller.
    ExpectPassiveData {
        client: IpAddr,
        vip: IpAddr,
        vport: u16,
        rip: IpAddr,
        rport: u16,
    },
    /// Active data connection: the real server will connect from `rip:rport` (control port − 1)
    /// to `client_addr:client_port`; its source is to be translated to `vip:vport` (virtual
    /// control port − 1). The first packet is a SYN from the server side.
    ExpectActiveData {
        client_addr: IpAddr,
        client_port: u16,
        vip: IpAddr,
        vport: u16,
        rip: IpAddr,
        rport: u16,
    },
    /// Replace the bytes with original sequence numbers `start..end` (of the hook's direction)
    /// with `new_bytes`. Applied by the app layer, which also records the sequence delta; it is
    /// passed on to the daemon only for information.
    Rewrite {
        start: u32,
        end: u32,
        new_bytes: Vec<u8>,
    },
}

/// A hook's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppOutput {
    pub actions: Vec<AppAction>,
    /// Bytes from this sequence number on may still need a rewrite once more data arrives (a
    /// reply split across segments): the app layer holds them back, if they are in this segment.
    pub hold_from: Option<u32>,
}

/// A per-state timeout an app sets for its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateTimeout {
    pub state: &'static str,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("application {0} is already registered")]
    AppExists(String),
    #[error("no application {0}")]
    NoApp(String),
    #[error("protocol {proto} port {port} already has an application")]
    PortTaken { proto: u8, port: u16 },
    #[error("no application on protocol {proto} port {port}")]
    NoIncarnation { proto: u8, port: u16 },
    #[error("application incarnation {name} on port {port} is being unregistered")]
    Retired { name: String, port: u16 },
    #[error("protocol mismatch: the application is for protocol {app}, the connection {conn}")]
    Protocol { app: u8, conn: u8 },
    #[error("{0}")]
    Init(String),
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// An application template. Hooks other than `init_conn`/`pkt_in`/`pkt_out` default to nothing.
pub trait App: Send + Sync + 'static {
    /// Per-connection state.
    type Conn: Send + 'static;
    fn name(&self) -> &str;
    /// IP protocol number.
    fn protocol(&self) -> u8;
    /// Timeouts the app sets (e.g. for the data connections it expects).
    fn timeouts(&self) -> &[StateTimeout] {
        &[]
    }
    /// A connection is being bound: make its state.
    fn init_conn(&self, ctx: &ConnCtx) -> Result<Self::Conn, AppError>;
    /// Called right after `init_conn`.
    fn bind_conn(&self, _ctx: &ConnCtx, _conn: &mut Self::Conn) {}
    /// Called when the connection goes away, before `done_conn`.
    fn unbind_conn(&self, _ctx: &ConnCtx, _conn: &mut Self::Conn) {}
    /// Called last, with the state.
    fn done_conn(&self, _ctx: &ConnCtx, _conn: Self::Conn) {}
    /// New client → server bytes.
    fn pkt_in(&self, ctx: &ConnCtx, conn: &mut Self::Conn, chunk: &Chunk<'_>) -> AppOutput;
    /// New server → client bytes.
    fn pkt_out(&self, ctx: &ConnCtx, conn: &mut Self::Conn, chunk: &Chunk<'_>) -> AppOutput;
}

/// The type-erased template (what the registry stores).
trait AnyApp: Send + Sync {
    fn name(&self) -> &str;
    fn protocol(&self) -> u8;
    fn timeouts(&self) -> &[StateTimeout];
    fn attach(&self, ctx: &ConnCtx) -> Result<Box<dyn ConnHooks>, AppError>;
}

/// The type-erased per-connection hooks.
trait ConnHooks: Send {
    fn pkt(&mut self, ctx: &ConnCtx, dir: Dir, chunk: &Chunk<'_>) -> AppOutput;
    fn detach(&mut self, ctx: &ConnCtx);
}

struct Typed<A: App>(Arc<A>);

struct TypedConn<A: App> {
    app: Arc<A>,
    state: Option<A::Conn>,
}

impl<A: App> AnyApp for Typed<A> {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn protocol(&self) -> u8 {
        self.0.protocol()
    }
    fn timeouts(&self) -> &[StateTimeout] {
        self.0.timeouts()
    }
    fn attach(&self, ctx: &ConnCtx) -> Result<Box<dyn ConnHooks>, AppError> {
        let mut state = self.0.init_conn(ctx)?;
        self.0.bind_conn(ctx, &mut state);
        Ok(Box::new(TypedConn {
            app: self.0.clone(),
            state: Some(state),
        }))
    }
}

impl<A: App> ConnHooks for TypedConn<A> {
    fn pkt(&mut self, ctx: &ConnCtx, dir: Dir, chunk: &Chunk<'_>) -> AppOutput {
        let Some(st) = self.state.as_mut() else {
            return AppOutput::default();
        };
        match dir {
            Dir::In => self.app.pkt_in(ctx, st, chunk),
            Dir::Out => self.app.pkt_out(ctx, st, chunk),
        }
    }
    fn detach(&mut self, ctx: &ConnCtx) {
        if let Some(mut st) = self.state.take() {
            self.app.unbind_conn(ctx, &mut st);
            self.app.done_conn(ctx, st);
        }
    }
}

/// An application bound to one (protocol, port).
pub struct Incarnation {
    app: Arc<dyn AnyApp>,
    protocol: u8,
    port: u16,
    usecnt: AtomicUsize,
    retired: AtomicBool,
}

impl fmt::Debug for Incarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incarnation")
            .field("app", &self.app.name())
            .field("protocol", &self.protocol)
            .field("port", &self.port)
            .field("usecnt", &self.use_count())
            .field("retired", &self.is_retired())
            .finish()
    }
}

impl Incarnation {
    pub fn name(&self) -> &str {
        self.app.name()
    }
    pub fn protocol(&self) -> u8 {
        self.protocol
    }
    pub fn port(&self) -> u16 {
        self.port
    }
    pub fn timeouts(&self) -> &[StateTimeout] {
        self.app.timeouts()
    }
    /// Connections bound to it now.
    pub fn use_count(&self) -> usize {
        self.usecnt.load(Ordering::SeqCst)
    }
    /// Unregistered: no new binds; alive while bound connections remain.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }

    /// Bind a connection to this incarnation (refused once retired).
    pub fn bind(self: &Arc<Self>, ctx: ConnCtx) -> Result<AppBinding, AppError> {
        if ctx.protocol != self.protocol {
            return Err(AppError::Protocol {
                app: self.protocol,
                conn: ctx.protocol,
            });
        }
        // Count first, then check: a retire that races with us either sees the count or we
        // see the flag.
        self.usecnt.fetch_add(1, Ordering::SeqCst);
        if self.is_retired() {
            self.usecnt.fetch_sub(1, Ordering::SeqCst);
            return Err(AppError::Retired {
                name: self.name().to_string(),
                port: self.port,
            });
        }
        match self.app.attach(&ctx) {
            Ok(hooks) => Ok(AppBinding {
                inc: self.clone(),
                ctx,
                hooks,
                seq: ConnSeqAdj::default(),
                streams: [Stream::default(), Stream::default()],
                stats: BindingStats::default(),
            }),
            Err(e) => {
                self.usecnt.fetch_sub(1, Ordering::SeqCst);
                Err(e)
            }
        }
    }
}

/// A registered incarnation as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncarnationInfo {
    pub name: String,
    pub protocol: u8,
    pub port: u16,
    pub use_count: usize,
    pub retired: bool,
}

/// Templates by name and incarnations by (protocol, port). Owned by the daemon (`&mut self`
/// for changes); bindings may live on other threads.
#[derive(Default)]
pub struct AppRegistry {
    apps: BTreeMap<String, Arc<dyn AnyApp>>,
    incs: BTreeMap<(u8, u16), Arc<Incarnation>>,
    /// Unregistered incarnations that still have bound connections (for listing).
    retired: Vec<Arc<Incarnation>>,
}

impl fmt::Debug for AppRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppRegistry")
            .field("apps", &self.apps.keys().collect::<Vec<_>>())
            .field("incarnations", &self.list())
            .finish()
    }
}

impl AppRegistry {
    pub fn new() -> AppRegistry {
        AppRegistry::default()
    }

    /// Register a template. Returns it shared, for the caller's typed access (stats, config).
    pub fn register_app<A: App>(&mut self, app: A) -> Result<Arc<A>, AppError> {
        let name = app.name().to_string();
        if self.apps.contains_key(&name) {
            return Err(AppError::AppExists(name));
        }
        let app = Arc::new(app);
        self.apps.insert(name, Arc::new(Typed(app.clone())));
        Ok(app)
    }

    /// Register an incarnation of template `name` on `port` (of the template's protocol).
    pub fn register_incarnation(&mut self, name: &str, port: u16) -> Result<(), AppError> {
        let app = self
            .apps
            .get(name)
            .ok_or_else(|| AppError::NoApp(name.to_string()))?
            .clone();
        let proto = app.protocol();
        if self.incs.contains_key(&(proto, port)) {
            return Err(AppError::PortTaken { proto, port });
        }
        let inc = Incarnation {
            app,
            protocol: proto,
            port,
            usecnt: AtomicUsize::new(0),
            retired: AtomicBool::new(false),
        };
        debug!(
            app = name,
            proto, port, "application incarnation registered"
        );
        self.incs.insert((proto, port), Arc::new(inc));
        Ok(())
    }

    /// Unregister the incarnation on (`proto`, `port`): it takes no new binds; connections bound
    /// to it keep it until they unbind. Returns it.
    pub fn unregister_incarnation(
        &mut self,
        proto: u8,
        port: u16,
    ) -> Result<Arc<Incarnation>, AppError> {
        let inc = self
            .incs
            .remove(&(proto, port))
            .ok_or(AppError::NoIncarnation { proto, port })?;
        inc.retired.store(true, Ordering::SeqCst);
        self.retired.push(inc.clone());
        self.gc();
        Ok(inc)
    }

    /// Unregister a template and all its incarnations (each retired as above).
    pub fn unregister_app(&mut self, name: &str) -> Result<(), AppError> {
        if self.apps.remove(name).is_none() {
            return Err(AppError::NoApp(name.to_string()));
        }
        let keys: Vec<_> = self
            .incs
            .iter()
            .filter(|(_, i)| i.name() == name)
            .map(|(k, _)| *k)
            .collect();
        for (proto, port) in keys {
            self.unregister_incarnation(proto, port)?;
        }
        Ok(())
    }

    /// Make template `name`'s ports exactly `ports`: new ones registered, missing ones retired.
    pub fn set_ports(&mut self, name: &str, ports: &[u16]) -> Result<(), AppError> {
        let proto = self
            .apps
            .get(name)
            .ok_or_else(|| AppError::NoApp(name.to_string()))?
            .protocol();
        for &p in ports {
            if let Some(i) = self.incs.get(&(proto, p)) {
                if i.name() != name {
                    return Err(AppError::PortTaken { proto, port: p });
                }
            }
        }
        let old: Vec<u16> = self
            .incs
            .values()
            .filter(|i| i.name() == name && !ports.contains(&i.port))
            .map(|i| i.port)
            .collect();
        for p in old {
            self.unregister_incarnation(proto, p)?;
        }
        for &p in ports {
            if !self.incs.contains_key(&(proto, p)) {
                self.register_incarnation(name, p)?;
            }
        }
        Ok(())
    }

    /// The incarnation serving (`proto`, `port`), if any.
    pub fn lookup(&self, proto: u8, port: u16) -> Option<&Arc<Incarnation>> {
        self.incs.get(&(proto, port))
    }

    /// Bind a new connection to the incarnation of its virtual port. `Ok(None)`: no application
    /// on that port (the common case).
    pub fn bind(&self, ctx: ConnCtx) -> Result<Option<AppBinding>, AppError> {
        match self.incs.get(&(ctx.protocol, ctx.vip.port())) {
            Some(inc) => inc.bind(ctx).map(Some),
            None => Ok(None),
        }
    }

    /// Forget retired incarnations no connection uses any more.
    pub fn gc(&mut self) {
        self.retired.retain(|i| i.use_count() > 0);
    }

    /// Registered incarnations, then retired ones still in use.
    pub fn list(&self) -> Vec<IncarnationInfo> {
        self.incs
            .values()
            .chain(self.retired.iter().filter(|i| i.use_count() > 0))
            .map(|i| IncarnationInfo {
                name: i.name().to_string(),
                protocol: i.protocol,
                port: i.port,
                use_count: i.use_count(),
                retired: i.is_retired(),
            })
            .collect()
    }
}

/// Register the FTP template and an incarnation per configured port. Returns the template (for
/// its stats).
pub fn register_ftp(
    reg: &mut AppRegistry,
    config: ftp::FtpConfig,
) -> Result<Arc<ftp::FtpApp>, AppError> {
    let ports = config.ports.clone();
    let app = reg.register_app(ftp::FtpApp::new(config))?;
    if let Err(e) = reg.set_ports("ftp", &ports) {
        let _ = reg.unregister_app("ftp");
        return Err(e);
    }
    Ok(app)
}

/// Who fixes sequence and ack numbers of the frames [`AppBinding::pkt`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqFix {
    /// The host: frames come out in the receiver's numbering (they bypass the NIC's seq stage).
    Host,
    /// The NIC's seq stage: frames keep the original numbering. Program
    /// [`AppBinding::seq_adj`] into the NIC before sending them (with lookup).
    Nic,
}

/// A rewrite applied once, to apply again to retransmissions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Applied {
    start: u32,
    end: u32,
    new_bytes: Vec<u8>,
}

/// A segment's tail held back (a reply split across segments).
#[derive(Debug, Clone)]
struct Held {
    /// The original frame, payload cut to the held bytes, original numbering.
    frame: Vec<u8>,
    seq: u32,
    len: u32,
}

#[derive(Debug, Clone, Default)]
struct Stream {
    /// Next original sequence number expected.
    next: Option<u32>,
    applied: VecDeque<Applied>,
    held: Option<Held>,
}

/// What the stream layer did, per binding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindingStats {
    /// Rewrites applied to first transmissions.
    pub rewrites: u64,
    /// Rewrites applied again to retransmissions.
    pub replayed: u64,
    /// Rewrites that could not be applied (their bytes span segments already sent, or a
    /// retransmission cut them), or that would make the frame too big. Counted, never silent.
    pub unapplied: u64,
    /// Segment tails held back / merged with the next segment / sent unmerged.
    pub held: u64,
    pub merged: u64,
    pub flushed: u64,
    /// Segments with payload after a gap in the stream.
    pub gaps: u64,
}

/// The result of [`AppBinding::pkt`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PktOutput {
    /// Frames to send, in order (none when the whole segment is held back; two when a held
    /// segment had to be flushed first).
    pub frames: Vec<Vec<u8>>,
    /// Data connections to expect, and the rewrites done (for information).
    pub actions: Vec<AppAction>,
}

/// One connection's tie to its application incarnation. Dropping it unbinds.
pub struct AppBinding {
    inc: Arc<Incarnation>,
    ctx: ConnCtx,
    hooks: Box<dyn ConnHooks>,
    seq: ConnSeqAdj,
    streams: [Stream; 2],
    stats: BindingStats,
}

impl fmt::Debug for AppBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppBinding")
            .field("inc", &self.inc)
            .field("ctx", &self.ctx)
            .field("seq", &self.seq)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Drop for AppBinding {
    fn drop(&mut self) {
        self.hooks.detach(&self.ctx);
        self.inc.usecnt.fetch_sub(1, Ordering::SeqCst);
    }
}

fn idx(dir: Dir) -> usize {
    match dir {
        Dir::In => 0,
        Dir::Out => 1,
    }
}

fn seq_in(x: u32, start: u32, end: u32) -> bool {
    !before(x, start) && !after(x, end)
}

fn set_seq(frame: &mut [u8], l: &TcpLayout, seq: u32) {
    frame[l.tcp + 4..l.tcp + 8].copy_from_slice(&seq.to_be_bytes());
    frame::fill_checksums(frame, l);
}

impl AppBinding {
    pub fn incarnation(&self) -> &Arc<Incarnation> {
        &self.inc
    }
    pub fn ctx(&self) -> &ConnCtx {
        &self.ctx
    }
    /// The sequence deltas of both directions: what the NIC's seq stage is programmed with.
    pub fn seq_adj(&self) -> &ConnSeqAdj {
        &self.seq
    }

    /// Take over the sequence deltas of a connection bound before a daemon restart (the
    /// stream state — retransmission replays, held tails — starts afresh).
    pub fn restore_seq(&mut self, seq: ConnSeqAdj) {
        self.seq = seq;
    }
    pub fn stats(&self) -> BindingStats {
        self.stats
    }
    /// Whether a segment tail of `dir` is held back.
    pub fn is_holding(&self, dir: Dir) -> bool {
        self.streams[idx(dir)].held.is_some()
    }

    /// Send a held-back segment tail as it is (the rest of the line did not come in time). Its
    /// rewrite, if one was due, is then missed and counted.
    pub fn flush_held(&mut self, dir: Dir, fix: SeqFix) -> Option<Vec<u8>> {
        let h = self.streams[idx(dir)].held.take()?;
        self.stats.flushed += 1;
        let mut f = h.frame;
        self.fix_numbers(dir, fix, &mut f);
        Some(f)
    }

    fn fix_numbers(&self, dir: Dir, fix: SeqFix, f: &mut [u8]) {
        if fix == SeqFix::Nic || self.seq.is_empty() {
            return;
        }
        let (this, other): (&SeqAdj, &SeqAdj) = match dir {
            Dir::In => (&self.seq.in_seq, &self.seq.out_seq),
            Dir::Out => (&self.seq.out_seq, &self.seq.in_seq),
        };
        // The frame was checked by `layout` before; a failure leaves it unchanged.
        let _ = frame::fix_seq_ack(f, |s| this.fix_seq(s), |a| other.fix_ack(a));
    }

    /// Process one TCP frame of this connection travelling in `dir`, as it arrived (before NAT).
    /// Returns the frames to send (payload rewritten, and with `SeqFix::Host` seq/ack/SACK
    /// fixed) and the actions. On `Err` the frame was not understood; nothing changed.
    pub fn pkt(&mut self, dir: Dir, frame: Vec<u8>, fix: SeqFix) -> Result<PktOutput, AppError> {
        let l = frame::layout(&frame)?;
        let info = frame::tcp_info(&frame, &l);
        let mut out = PktOutput::default();
        let d = idx(dir);
        let mut frame = frame;
        let mut l = l;
        let mut s = info.seq;
        let n = l.payload_len() as u32;

        if info.syn {
            self.streams[d].next = Some(s.wrapping_add(1));
        }
        let payload_seq = if info.syn { s.wrapping_add(1) } else { s };

        // A held tail: merge with its successor, keep absorbing its retransmission, or flush.
        if n > 0 && !info.syn && !info.rst {
            if let Some(h) = self.streams[d].held.take() {
                let h_end = h.seq.wrapping_add(h.len);
                if s == h_end {
                    let held_payload = {
                        let hl = frame::layout(&h.frame)?;
                        h.frame[hl.payload].to_vec()
                    };
                    let mut merged = frame.clone();
                    if frame::replace_payload(&mut merged, 0, 0, &held_payload).is_ok() {
                        let ml = frame::layout(&merged)?;
                        set_seq(&mut merged, &ml, h.seq);
                        self.stats.merged += 1;
                        frame = merged;
                        l = ml;
                        s = h.seq;
                    } else {
                        out.frames.extend(self.flush_frame(dir, fix, h.frame));
                    }
                } else if s == h.seq && n <= h.len {
                    // A retransmission of what we hold: keep holding the newest copy.
                    self.streams[d].held = Some(Held { frame, ..h });
                    return Ok(out);
                } else {
                    out.frames.extend(self.flush_frame(dir, fix, h.frame));
                }
            }
        }
        let n = l.payload_len() as u32;
        let end = s.wrapping_add(n);

        // Which bytes are new.
        let mut new_from = None;
        if n > 0 && !info.rst {
            let start = if info.syn { payload_seq } else { s };
            let next = *self.streams[d].next.get_or_insert(start);
            if after(end, next) {
                let (from, gap) = if after(start, next) {
                    (start, true)
                } else {
                    (next, false)
                };
                if gap {
                    self.stats.gaps += 1;
                }
                new_from = Some((from, gap));
                self.streams[d].next = Some(end);
            }
        }

        // The app sees the new bytes.
        let mut app_out = AppOutput::default();
        if let Some((from, gap)) = new_from {
            let k = from.wrapping_sub(s) as usize;
            let chunk = Chunk {
                seq: from,
                data: &frame[l.payload.start + k..l.payload.end],
                gap,
            };
            app_out = self.hooks.pkt(&self.ctx, dir, &chunk);
        }

        // Rewrites for this frame: remembered ones it carries again, then new ones.
        let mut todo: Vec<(Applied, bool)> = Vec::new();
        for a in &self.streams[d].applied {
            let inside = seq_in(a.start, s, end) && seq_in(a.end, s, end);
            let touches = before(a.start, end) && after(a.end, s);
            if inside && new_from.is_none_or(|(f, _)| !after(a.end, f)) {
                todo.push((a.clone(), true));
            } else if touches && !inside {
                self.stats.unapplied += 1;
            }
        }
        for act in &app_out.actions {
            if let AppAction::Rewrite {
                start,
                end: rend,
                new_bytes,
            } = act
            {
                if seq_in(*start, s, end) && seq_in(*rend, s, end) && !after(*start, *rend) {
                    todo.push((
                        Applied {
                            start: *start,
                            end: *rend,
                            new_bytes: new_bytes.clone(),
                        },
                        false,
                    ));
                } else {
                    self.stats.unapplied += 1;
                    debug!(
                        start,
                        end = rend,
                        seg = s,
                        "app: rewrite spans an earlier segment"
                    );
                }
            }
        }
        todo.sort_by_key(|(a, _)| a.start.wrapping_sub(s));

        // Hold back a partial line that may need a rewrite, if it starts in this frame.
        let mut hold_at = None;
        if let Some(h) = app_out.hold_from {
            if !info.fin && !info.rst && seq_in(h, s, end) && h != end {
                hold_at = Some(h.wrapping_sub(s) as usize);
            }
        }
        if let Some(k) = hold_at {
            let mut held = frame.clone();
            frame::replace_payload(&mut held, 0, k, b"")?;
            let hl = frame::layout(&held)?;
            let hseq = s.wrapping_add(k as u32);
            set_seq(&mut held, &hl, hseq);
            self.streams[d].held = Some(Held {
                frame: held,
                seq: hseq,
                len: n - k as u32,
            });
            self.stats.held += 1;
        }

        // Apply the rewrites (and cut the held tail off).
        let splices: Vec<Splice<'_>> = todo
            .iter()
            .map(|(a, _)| Splice {
                start: a.start.wrapping_sub(s) as usize,
                end: a.end.wrapping_sub(s) as usize,
                new_bytes: &a.new_bytes,
            })
            .collect();
        let mut applied_ok = false;
        if !splices.is_empty() {
            let mut all = splices.clone();
            if let Some(k) = hold_at {
                all.push(Splice {
                    start: k,
                    end: n as usize,
                    new_bytes: b"",
                });
            }
            match frame::replace_many(&mut frame, &all) {
                Ok(_) => applied_ok = true,
                Err(e) => {
                    self.stats.unapplied += todo.len() as u64;
                    debug!(error = %e, "app: rewrite refused");
                }
            }
        }
        if !applied_ok {
            if let Some(k) = hold_at {
                frame::replace_payload(&mut frame, k, n as usize, b"")?;
            }
        }
        if applied_ok {
            let delta_of = |a: &Applied| {
                (a.new_bytes.len() as i64 - a.end.wrapping_sub(a.start) as i64) as i32
            };
            // More length changes in one frame than the history holds would push out the level
            // this frame's own sequence number needs (found by fuzzing: five 227 replies in one
            // segment sent it 2 bytes ahead): the first ones are merged into one level.
            let changing = todo.iter().filter(|(a, _)| delta_of(a) != 0).count();
            let mut merge = (changing + 1).saturating_sub(seq::SEQ_HISTORY);
            let mut merged: Option<(u32, i32)> = None;
            for (a, replay) in &todo {
                let delta = delta_of(a);
                let sa = match dir {
                    Dir::In => &mut self.seq.in_seq,
                    Dir::Out => &mut self.seq.out_seq,
                };
                if delta != 0 && merge > 0 {
                    merge -= 1;
                    let m = merged.get_or_insert((a.start, 0));
                    m.1 = m.1.wrapping_add(delta);
                    if merge == 0 {
                        sa.record(m.0, m.1);
                    }
                } else {
                    sa.record(a.start, delta);
                }
                if *replay {
                    self.stats.replayed += 1;
                } else {
                    self.stats.rewrites += 1;
                    let st = &mut self.streams[d];
                    if st.applied.len() == REWRITE_HISTORY {
                        st.applied.pop_front();
                    }
                    st.applied.push_back(a.clone());
                }
            }
        }

        // Send what is left (nothing if the whole payload is held).
        if hold_at != Some(0) {
            self.fix_numbers(dir, fix, &mut frame);
            out.frames.push(frame);
        }
        out.actions = app_out.actions;
        Ok(out)
    }

    fn flush_frame(&mut self, dir: Dir, fix: SeqFix, mut f: Vec<u8>) -> Option<Vec<u8>> {
        self.stats.flushed += 1;
        self.fix_numbers(dir, fix, &mut f);
        Some(f)
    }
}

#[cfg(test)]
mod tests;
