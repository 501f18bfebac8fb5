//! The FTP helper: watches the control connection and tells the daemon which data connections to
//! expect, rewriting the real server's address in passive replies to the virtual one.
//!
//! * Client → server ([`Dir::In`]): `PORT h1,h2,h3,h4,p1,p2` and `EPRT |af|addr|port|` announce
//!   an active data connection from the real server (control port − 1) to the client:
//!   [`AppAction::ExpectActiveData`]. Nothing is rewritten in this direction (IPVS NAT keeps the
//!   client's address). An address that is not the client's own is refused (FTP bounce) unless
//!   [`FtpConfig::allow_foreign_addr`]; the command still goes through — the server answers it.
//!   `PASV`, `EPSV [1|2|ALL]` are noted; `LPRT`/`LPSV` are counted as unsupported.
//! * Server → client ([`Dir::Out`]): a `227` reply's `h1,...,p2` is rewritten to the VIP (same
//!   port, as Linux) and a `229` reply's `(|af|addr|port|)` to `(|||port|)`:
//!   [`AppAction::Rewrite`] plus [`AppAction::ExpectPassiveData`] (client port unknown).
//!   The address in a 227/229 must be the real server's (or already the VIP); another address is
//!   refused unless [`FtpConfig::allow_foreign_addr`].
//!
//! The helper sees each direction as a byte stream (the app layer delivers only new, in-order
//! bytes with their sequence numbers), cuts it into lines (LF, optional CR) and parses only
//! complete lines at line starts, so commands and replies split across segments, several
//! commands in one segment, and multi-line replies (`ddd-` … `ddd `) are handled. A line longer
//! than [`FtpConfig::max_line`] is skipped and counted. Every number is range-checked (octets ≤
//! 255, ports 1..=65535). Every refusal or malformed line is counted in [`FtpStats`]; nothing is
//! silently missed, and no segment is ever dropped by the helper.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::debug;

use super::{App, AppAction, AppError, AppOutput, Chunk, ConnCtx, Dir, StateTimeout, PROTO_TCP};

/// The brief's name for the helper's outputs.
pub type FtpAction = AppAction;

/// The FTP control port registered by default.
pub const FTP_PORT: u16 = 21;
/// Default longest line (bytes, without the terminator) we parse.
pub const DEFAULT_MAX_LINE: usize = 512;

/// The helper's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FtpConfig {
    /// Virtual ports on which FTP is helped (one incarnation each).
    pub ports: Vec<u16>,
    /// Accept PORT/EPRT naming another host than the client, and 227/229 naming another host
    /// than the real server (FTP bounce / FXP). Off by default.
    pub allow_foreign_addr: bool,
    /// Longest line parsed; longer ones are skipped and counted.
    pub max_line: usize,
}

impl Default for FtpConfig {
    fn default() -> Self {
        FtpConfig {
            ports: vec![FTP_PORT],
            allow_foreign_addr: false,
            max_line: DEFAULT_MAX_LINE,
        }
    }
}

/// A parsed client command (the ones that matter to us).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `PORT h1,h2,h3,h4,p1,p2`.
    Port(Ipv4Addr, u16),
    /// `EPRT <d><af><d><addr><d><port><d>`.
    Eprt(IpAddr, u16),
    Pasv,
    Epsv(EpsvArg),
    /// `LPRT`/`LPSV` (RFC 1639): recognised, not supported.
    Long,
    /// Any other command, or a line that is not a command.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument.
    Any,
    /// `EPSV 1` (IPv4) or `EPSV 2` (IPv6).
    Family(u8),
    /// `EPSV ALL`.
    All,
}

/// Why an argument did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("missing argument")]
    Missing,
    #[error("not a number")]
    NotNumber,
    #[error("number out of range")]
    OutOfRange,
    #[error("wrong count of numbers")]
    Count,
    #[error("unexpected characters")]
    Trailing,
    #[error("bad delimiter")]
    Delimiter,
    #[error("unknown address family")]
    Family,
    #[error("bad address")]
    Address,
    #[error("port 0")]
    PortZero,
}

/// Strip leading Telnet IAC sequences (e.g. the `IAC IP IAC DM` before `ABOR`).
fn strip_telnet(mut l: &[u8]) -> &[u8] {
    while l.len() >= 2 && l[0] == 0xff {
        l = &l[2..];
    }
    l
}

/// Parse a decimal number of at most `max_digits` digits; `Err` if empty or not all digits.
fn number(s: &[u8], max_digits: usize) -> Result<u32, ParseError> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::NotNumber);
    }
    if s.len() > max_digits {
        return Err(ParseError::OutOfRange);
    }
    Ok(s.iter().fold(0u32, |a, &c| a * 10 + (c - b'0') as u32))
}

fn port_of(v: u32) -> Result<u16, ParseError> {
    match v {
        0 => Err(ParseError::PortZero),
        1..=65535 => Ok(v as u16),
        _ => Err(ParseError::OutOfRange),
    }
}

/// Parse `h1,h2,h3,h4,p1,p2` at the start of `s`. Returns the address, port and the length of
/// the tuple text.
pub fn parse_host_port(s: &[u8]) -> Result<(Ipv4Addr, u16, usize), ParseError> {
    let end = s
        .iter()
        .position(|c| !(c.is_ascii_digit() || *c == b','))
        .unwrap_or(s.len());
    let mut n = [0u32; 6];
    let mut count = 0;
    for part in s[..end].split(|&c| c == b',') {
        if count == 6 {
            return Err(ParseError::Count);
        }
        let v = number(part, 3)?;
        if v > 255 {
            return Err(ParseError::OutOfRange);
        }
        n[count] = v;
        count += 1;
    }
    if count != 6 {
        return Err(ParseError::Count);
    }
    let addr = Ipv4Addr::new(n[0] as u8, n[1] as u8, n[2] as u8, n[3] as u8);
    let port = port_of(n[4] * 256 + n[5])?;
    Ok((addr, port, end))
}

/// The RFC 2428 form `<d><af><d><addr><d><port><d>` at the start of `s` (`af`, `addr` may be
/// empty when `allow_empty_addr`, as in a 229 reply). Returns the address (if any), the port and
/// the length of the text.
pub fn parse_extended(
    s: &[u8],
    allow_empty_addr: bool,
) -> Result<(Option<IpAddr>, u16, usize), ParseError> {
    let d = *s.first().ok_or(ParseError::Missing)?;
    if !(33..=126).contains(&d) || d.is_ascii_digit() {
        return Err(ParseError::Delimiter);
    }
    let mut fields = [&s[0..0]; 3];
    let mut at = 1;
    for f in &mut fields {
        let len = s[at..]
            .iter()
            .position(|&c| c == d)
            .ok_or(ParseError::Delimiter)?;
        *f = &s[at..at + len];
        at += len + 1;
    }
    let [af, addr, port] = fields;
    let port = port_of(number(port, 5)?)?;
    let addr = match (af, addr) {
        (b"", b"") if allow_empty_addr => None,
        (b"1", a) => Some(IpAddr::V4(
            std::str::from_utf8(a)
                .ok()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
                .ok_or(ParseError::Address)?,
        )),
        (b"2", a) => Some(IpAddr::V6(
            std::str::from_utf8(a)
                .ok()
                .and_then(|a| a.parse::<Ipv6Addr>().ok())
                .ok_or(ParseError::Address)?,
        )),
        (b"", _) => return Err(ParseError::Address),
        _ => return Err(ParseError::Family),
    };
    Ok((addr, port, at))
}

/// The argument after the verb: everything after the spaces following it.
fn argument(rest: &[u8]) -> &[u8] {
    let i = rest.iter().position(|&c| c != b' ').unwrap_or(rest.len());
    &rest[i..]
}

fn trailing_ok(rest: &[u8]) -> Result<(), ParseError> {
    if rest.iter().all(|&c| c == b' ') {
        Ok(())
    } else {
        Err(ParseError::Trailing)
    }
}

/// Parse one command line (without its line terminator). Verbs are case-insensitive.
/// `Err` only for PORT/EPRT/EPSV with a malformed argument.
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let line = strip_telnet(line);
    let verb_end = line.iter().position(|&c| c == b' ').unwrap_or(line.len());
    let (verb, rest) = line.split_at(verb_end);
    let mut v = [0u8; 4];
    if verb.len() != 4 {
        return Ok(Command::Other);
    }
    for (o, c) in v.iter_mut().zip(verb) {
        *o = c.to_ascii_uppercase();
    }
    let arg = argument(rest);
    match &v {
        b"PORT" => {
            if arg.is_empty() {
                return Err(ParseError::Missing);
            }
            let (a, p, n) = parse_host_port(arg)?;
            trailing_ok(&arg[n..])?;
            Ok(Command::Port(a, p))
        }
        b"EPRT" => {
            let (a, p, n) = parse_extended(arg, false)?;
            trailing_ok(&arg[n..])?;
            Ok(Command::Eprt(a.ok_or(ParseError::Address)?, p))
        }
        b"PASV" => {
            trailing_ok(arg)?;
            Ok(Command::Pasv)
        }
        b"EPSV" => {
            let end = arg.iter().position(|&c| c == b' ').unwrap_or(arg.len());
            trailing_ok(&arg[end..])?;
            match &arg[..end] {
                b"" => Ok(Command::Epsv(EpsvArg::Any)),
                b"1" => Ok(Command::Epsv(EpsvArg::Family(1))),
                b"2" => Ok(Command::Epsv(EpsvArg::Family(2))),
                a if a.eq_ignore_ascii_case(b"ALL") => Ok(Command::Epsv(EpsvArg::All)),
                _ => Err(ParseError::Family),
            }
        }
        b"LPRT" | b"LPSV" => Ok(Command::Long),
        _ => Ok(Command::Other),
    }
}

/// A reply line's shape: `ddd ` (last line), `ddd-` (first of several), or text (continuation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyLine<'a> {
    /// `code` then space (or end of line): ends a reply.
    Final { code: [u8; 3], text: &'a [u8] },
    /// `code` then `-`: starts a multi-line reply.
    First { code: [u8; 3], text: &'a [u8] },
    /// Anything else (a continuation line, or garbage outside a reply).
    Text(&'a [u8]),
}

pub fn reply_line(line: &[u8]) -> ReplyLine<'_> {
    if line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit) {
        let code = [line[0], line[1], line[2]];
        match line.get(3) {
            None => {
                return ReplyLine::Final {
                    code,
                    text: &line[3..],
                }
            }
            Some(b' ') => {
                return ReplyLine::Final {
                    code,
                    text: &line[4..],
                }
            }
            Some(b'-') => {
                return ReplyLine::First {
                    code,
                    text: &line[4..],
                }
            }
            _ => {}
        }
    }
    ReplyLine::Text(line)
}

/// Find the host-port tuple in a 227 text: right after `(` if there is one (RFC 959), else at
/// the first run of digits that parses (RFC 1123 asks clients to scan). Returns the address,
/// port and the tuple's range in `text`.
pub fn parse_227(text: &[u8]) -> Result<(Ipv4Addr, u16, Range<usize>), ParseError> {
    if let Some(p) = text.iter().position(|&c| c == b'(') {
        let (a, port, n) = parse_host_port(&text[p + 1..])?;
        return Ok((a, port, p + 1..p + 1 + n));
    }
    let mut first_err = ParseError::Missing;
    for i in 0..text.len() {
        if text[i].is_ascii_digit() && (i == 0 || !text[i - 1].is_ascii_digit()) {
            match parse_host_port(&text[i..]) {
                Ok((a, port, n)) => return Ok((a, port, i..i + n)),
                Err(e) if first_err == ParseError::Missing => first_err = e,
                Err(_) => {}
            }
        }
    }
    Err(first_err)
}

/// The `(<d><af><d><addr><d><port><d>)` of a 229 text. Returns the address (if given), the port
/// and the range of the part between the parentheses.
pub fn parse_229(text: &[u8]) -> Result<(Option<IpAddr>, u16, Range<usize>), ParseError> {
    let p = text
        .iter()
        .position(|&c| c == b'(')
        .ok_or(ParseError::Missing)?;
    let (a, port, n) = parse_extended(&text[p + 1..], true)?;
    if text.get(p + 1 + n) != Some(&b')') {
        return Err(ParseError::Trailing);
    }
    Ok((a, port, p + 1..p + 1 + n))
}

/// Counters of what the helper did and refused (over all connections of one [`FtpApp`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FtpStats {
    pub commands: u64,
    pub replies: u64,
    pub passive_expected: u64,
    pub active_expected: u64,
    /// 227/229 rewrites (first transmissions).
    pub rewrites: u64,
    /// PORT/EPRT or 227/229 naming a foreign host, refused.
    pub bounce_refused: u64,
    /// PORT/EPRT/EPSV/227/229 whose argument did not parse (or an address family that does not
    /// fit the connection).
    pub malformed: u64,
    /// Lines longer than the limit, skipped.
    pub overlong_lines: u64,
    /// Lines containing NUL (or other control bytes) where a command/reply was expected.
    pub control_bytes: u64,
    /// LPRT/LPSV/228: not supported.
    pub unsupported: u64,
    /// Bytes missed (a gap in the stream): the parser resynchronised at the next line.
    pub stream_gaps: u64,
}

#[derive(Debug, Default)]
struct Counters {
    commands: AtomicU64,
    replies: AtomicU64,
    passive_expected: AtomicU64,
    active_expected: AtomicU64,
    rewrites: AtomicU64,
    bounce_refused: AtomicU64,
    malformed: AtomicU64,
    overlong_lines: AtomicU64,
    control_bytes: AtomicU64,
    unsupported: AtomicU64,
    stream_gaps: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The FTP application template. Register it once ([`super::AppRegistry::register_app`]), then
/// one incarnation per port in [`FtpConfig::ports`] (see [`super::register_ftp`]).
#[derive(Debug)]
pub struct FtpApp {
    config: FtpConfig,
    counters: Counters,
}

/// Data connections waiting for their first SYN (Linux: LISTEN, 120 s).
const TIMEOUTS: &[StateTimeout] = &[StateTimeout {
    state: "EXPECT",
    timeout: Duration::from_secs(120),
}];

impl FtpApp {
    pub fn new(config: FtpConfig) -> FtpApp {
        FtpApp {
            config,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &FtpConfig {
        &self.config
    }

    pub fn stats(&self) -> FtpStats {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FtpStats {
            commands: g(&c.commands),
            replies: g(&c.replies),
            passive_expected: g(&c.passive_expected),
            active_expected: g(&c.active_expected),
            rewrites: g(&c.rewrites),
            bounce_refused: g(&c.bounce_refused),
            malformed: g(&c.malformed),
            overlong_lines: g(&c.overlong_lines),
            control_bytes: g(&c.control_bytes),
            unsupported: g(&c.unsupported),
            stream_gaps: g(&c.stream_gaps),
        }
    }
}

/// What a [`LineAssembler`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineEvent {
    /// A complete line: the sequence number of its first byte, its bytes without LF and without
    /// one trailing CR.
    Line { seq: u32, bytes: Vec<u8> },
    /// A line longer than the limit (starting at `seq`) was skipped.
    Overlong { seq: u32 },
}

/// Cuts one direction's byte stream into lines, holding a partial line until it completes.
/// Bounded: a line longer than `max` is dropped (reported once) and skipped up to its LF.
#[derive(Debug, Clone)]
pub struct LineAssembler {
    max: usize,
    buf: Vec<u8>,
    line_seq: u32,
    skipping: bool,
}

impl LineAssembler {
    pub fn new(max: usize) -> LineAssembler {
        LineAssembler {
            max,
            buf: Vec::new(),
            line_seq: 0,
            skipping: false,
        }
    }

    /// The partial line held, with the sequence number of its first byte.
    pub fn partial(&self) -> Option<(u32, &[u8])> {
        (!self.skipping && !self.buf.is_empty()).then_some((self.line_seq, &self.buf[..]))
    }

    /// Bytes were missed: forget the partial line and skip to the next line start.
    pub fn resync(&mut self) {
        self.buf.clear();
        self.skipping = true;
    }

    /// Feed `data`, whose first byte has sequence number `seq`.
    pub fn push(&mut self, seq: u32, data: &[u8], out: &mut Vec<LineEvent>) {
        let mut at = 0;
        while at < data.len() {
            let nl = data[at..].iter().position(|&c| c == b'\n');
            let seg_end = nl.map_or(data.len(), |i| at + i);
            if self.skipping {
                if nl.is_some() {
                    self.skipping = false;
                }
            } else {
                if self.buf.is_empty() {
                    self.line_seq = seq.wrapping_add(at as u32);
                }
                let piece = &data[at..seg_end];
                // The buffer holds at most `max` bytes of line plus a CR that may precede LF.
                let total = self.buf.len() + piece.len();
                let overlong = total > self.max + 1
                    || (nl.is_some()
                        && total == self.max + 1
                        && piece.last().or(self.buf.last()) != Some(&b'\r'));
                if overlong {
                    out.push(LineEvent::Overlong { seq: self.line_seq });
                    self.buf.clear();
                    self.skipping = nl.is_none();
                } else {
                    self.buf.extend_from_slice(piece);
                    if nl.is_some() {
                        let mut bytes = std::mem::take(&mut self.buf);
                        if bytes.last() == Some(&b'\r') {
                            bytes.pop();
                        }
                        out.push(LineEvent::Line {
                            seq: self.line_seq,
                            bytes,
                        });
                    }
                }
            }
            at = seg_end + 1;
        }
    }
}

/// Per-connection state of the FTP helper.
#[derive(Debug, Clone)]
pub struct FtpConn {
    commands: LineAssembler,
    replies: LineAssembler,
    /// Inside a multi-line reply with this code.
    multi: Option<[u8; 3]>,
    /// The current 227/229 reply already had its address handled.
    reply_done: bool,
    /// The client sent `EPSV ALL`.
    pub epsv_all: bool,
    /// PASV/EPSV commands seen.
    pub passive_requests: u64,
}

impl FtpConn {
    fn new(max_line: usize) -> FtpConn {
        FtpConn {
            commands: LineAssembler::new(max_line),
            replies: LineAssembler::new(max_line),
            multi: None,
            reply_done: false,
            epsv_all: false,
            passive_requests: 0,
        }
    }

    /// The first byte of a partial reply line that may still need a rewrite: what the app layer
    /// holds back when a reply is split across segments.
    fn rewrite_candidate(&self) -> Option<u32> {
        let (seq, partial) = self.replies.partial()?;
        match self.multi {
            Some(code) if (code == *b"227" || code == *b"229") && !self.reply_done => Some(seq),
            Some(_) => None,
            None => {
                let n = partial.len().min(3);
                (b"227"[..n] == partial[..n] || b"229"[..n] == partial[..n]).then_some(seq)
            }
        }
    }
}

fn has_control_bytes(line: &[u8]) -> bool {
    line.iter().any(|&c| c < 0x20 && c != b'\t')
}

fn same_family(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4()
}

impl FtpApp {
    fn command(&self, ctx: &ConnCtx, st: &mut FtpConn, line: &[u8], out: &mut Vec<AppAction>) {
        inc(&self.counters.commands);
        let c = &self.counters;
        let cmd = match parse_command(line) {
            Ok(cmd) => cmd,
            Err(e) => {
                inc(&c.malformed);
                debug!(error = %e, line = %String::from_utf8_lossy(line), "ftp: malformed command");
                return;
            }
        };
        let (addr, port) = match cmd {
            Command::Port(a, p) => (IpAddr::V4(a), p),
            Command::Eprt(a, p) => (a, p),
            Command::Pasv | Command::Epsv(EpsvArg::Any | EpsvArg::Family(_)) => {
                st.passive_requests += 1;
                return;
            }
            Command::Epsv(EpsvArg::All) => {
                st.epsv_all = true;
                return;
            }
            Command::Long => {
                inc(&c.unsupported);
                return;
            }
            Command::Other => {
                if has_control_bytes(line) {
                    inc(&c.control_bytes);
                }
                return;
            }
        };
        let client = ctx.client.ip();
        if !same_family(addr, client) {
            inc(&c.malformed);
            debug!(%addr, "ftp: PORT/EPRT address family differs from the connection");
            return;
        }
        if addr != client && !self.config.allow_foreign_addr {
            inc(&c.bounce_refused);
            debug!(%addr, %client, "ftp: PORT/EPRT to a foreign address refused");
            return;
        }
        let (Some(rport), Some(vport)) = (
            ctx.real.port().checked_sub(1).filter(|&p| p != 0),
            ctx.vip.port().checked_sub(1).filter(|&p| p != 0),
        ) else {
            inc(&c.malformed);
            return;
        };
        inc(&c.active_expected);
        out.push(AppAction::ExpectActiveData {
            client_addr: addr,
            client_port: port,
            vip: ctx.vip.ip(),
            vport,
            rip: ctx.real.ip(),
            rport,
        });
    }

    /// Whether a 227/229 may name `addr`; returns the real server address to expect.
    fn passive_target(&self, ctx: &ConnCtx, addr: IpAddr) -> Option<IpAddr> {
        if addr == ctx.real.ip() || addr == ctx.vip.ip() {
            Some(ctx.real.ip())
        } else if self.config.allow_foreign_addr && same_family(addr, ctx.real.ip()) {
            Some(addr)
        } else {
            inc(&self.counters.bounce_refused);
            debug!(%addr, "ftp: passive reply names a foreign address, refused");
            None
        }
    }

    fn passive(
        &self,
        ctx: &ConnCtx,
        rip: IpAddr,
        port: u16,
        rewrite: Option<(u32, u32, Vec<u8>)>,
        out: &mut Vec<AppAction>,
    ) {
        if let Some((start, end, new_bytes)) = rewrite {
            inc(&self.counters.rewrites);
            out.push(AppAction::Rewrite {
                start,
                end,
                new_bytes,
            });
        }
        inc(&self.counters.passive_expected);
        out.push(AppAction::ExpectPassiveData {
            client: ctx.client.ip(),
            vip: ctx.vip.ip(),
            vport: port,
            rip,
            rport: port,
        });
    }

    /// A 227 or 229 line (`text` starts at sequence `text_seq`).
    fn passive_reply(
        &self,
        ctx: &ConnCtx,
        code: [u8; 3],
        text: &[u8],
        text_seq: u32,
        out: &mut Vec<AppAction>,
    ) -> Result<(), ParseError> {
        let at = |i: usize| text_seq.wrapping_add(i as u32);
        if code == *b"227" {
            let (addr, port, r) = parse_227(text)?;
            let IpAddr::V4(vip) = ctx.vip.ip() else {
                return Err(ParseError::Family);
            };
            let Some(rip) = self.passive_target(ctx, IpAddr::V4(addr)) else {
                return Ok(());
            };
            let o = vip.octets();
            let new = format!(
                "{},{},{},{},{},{}",
                o[0],
                o[1],
                o[2],
                o[3],
                port >> 8,
                port & 0xff
            );
            let rw = (new.as_bytes() != &text[r.clone()])
                .then(|| (at(r.start), at(r.end), new.into_bytes()));
            self.passive(ctx, rip, port, rw, out);
        } else {
            let (addr, port, r) = parse_229(text)?;
            let rip = match addr {
                Some(a) => match self.passive_target(ctx, a) {
                    Some(rip) => rip,
                    None => return Ok(()),
                },
                None => ctx.real.ip(),
            };
            let d = text[r.start] as char;
            let new = format!("{d}{d}{d}{port}{d}");
            let rw = (new.as_bytes() != &text[r.clone()])
                .then(|| (at(r.start), at(r.end), new.into_bytes()));
            self.passive(ctx, rip, port, rw, out);
        }
        Ok(())
    }

    fn reply(
        &self,
        ctx: &ConnCtx,
        st: &mut FtpConn,
        seq: u32,
        line: &[u8],
        out: &mut Vec<AppAction>,
    ) {
        let c = &self.counters;
        let shape = reply_line(line);
        // Which reply this line belongs to, and whether it may carry the passive address.
        let (code, text, text_off) = match (st.multi, shape) {
            (Some(m), ReplyLine::Final { code, text }) if code == m => {
                st.multi = None;
                (m, text, line.len() - text.len())
            }
            (Some(m), _) => (m, line, 0),
            (None, ReplyLine::First { code, text }) => {
                inc(&c.replies);
                st.multi = Some(code);
                st.reply_done = false;
                (code, text, 4)
            }
            (None, ReplyLine::Final { code, text }) => {
                inc(&c.replies);
                st.reply_done = false;
                (code, text, line.len() - text.len())
            }
            (None, ReplyLine::Text(t)) => {
                inc(&c.malformed);
                if has_control_bytes(t) {
                    inc(&c.control_bytes);
                }
                return;
            }
        };
        match &code {
            b"227" | b"229" if !st.reply_done => {
                let last = st.multi.is_none();
                let mut actions = Vec::new();
                match self.passive_reply(
                    ctx,
                    code,
                    text,
                    seq.wrapping_add(text_off as u32),
                    &mut actions,
                ) {
                    Ok(()) => {
                        st.reply_done = true;
                        out.append(&mut actions);
                    }
                    // In a multi-line reply the address may be on a later line.
                    Err(_) if !last => {}
                    Err(e) => {
                        st.reply_done = true;
                        inc(&c.malformed);
                        debug!(error = %e, line = %String::from_utf8_lossy(line), "ftp: passive reply not understood");
                    }
                }
            }
            b"228" => inc(&c.unsupported),
            _ => {}
        }
    }

    fn lines(&self, ctx: &ConnCtx, st: &mut FtpConn, dir: Dir, chunk: &Chunk<'_>) -> AppOutput {
        let mut events = Vec::new();
        if chunk.gap {
            inc(&self.counters.stream_gaps);
            match dir {
                Dir::In => st.commands.resync(),
                Dir::Out => st.replies.resync(),
            }
        }
        match dir {
            Dir::In => st.commands.push(chunk.seq, chunk.data, &mut events),
            Dir::Out => st.replies.push(chunk.seq, chunk.data, &mut events),
        }
        let mut actions = Vec::new();
        for e in events {
            match e {
                LineEvent::Overlong { seq } => {
                    inc(&self.counters.overlong_lines);
                    debug!(seq, ?dir, "ftp: overlong line skipped");
                    if dir == Dir::Out && st.multi.is_none() {
                        // An overlong line outside a multi-line reply was a reply: count it.
                        inc(&self.counters.replies);
                    }
                }
                LineEvent::Line { seq, bytes } => match dir {
                    Dir::In => self.command(ctx, st, &bytes, &mut actions),
                    Dir::Out => self.reply(ctx, st, seq, &bytes, &mut actions),
                },
            }
        }
        let hold_from = match dir {
            Dir::Out => st.rewrite_candidate(),
            Dir::In => None,
        };
        AppOutput { actions, hold_from }
    }
}

impl App for FtpApp {
    type Conn = FtpConn;

    fn name(&self) -> &str {
        "ftp"
    }

    fn protocol(&self) -> u8 {
        PROTO_TCP
    }

    fn timeouts(&self) -> &[StateTimeout] {
        TIMEOUTS
    }

    fn init_conn(&self, _ctx: &ConnCtx) -> Result<FtpConn, AppError> {
        Ok(FtpConn::new(self.config.max_line))
    }

    fn pkt_in(&self, ctx: &ConnCtx, st: &mut FtpConn, chunk: &Chunk<'_>) -> AppOutput {
        self.lines(ctx, st, Dir::In, chunk)
    }

    fn pkt_out(&self, ctx: &ConnCtx, st: &mut FtpConn, chunk: &Chunk<'_>) -> AppOutput {
        self.lines(ctx, st, Dir::Out, chunk)
    }
}
