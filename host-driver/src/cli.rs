//! `vsnicadm`: ipvsadm's command line and output layout. Parsing and formatting live here (not
//! in the binary) so they are unit-tested.
//!
//! ```text
//! vsnicadm -A|-E -t|-u VIP:PORT [-s SCHED] [-b FLAGS] [-p [TIMEOUT]] [-M NETMASK]
//! vsnicadm -D -t|-u VIP:PORT
//! vsnicadm -C
//! vsnicadm -R                      (rules on stdin, as -S writes them)
//! vsnicadm -S [-n] [-t|-u VIP:PORT]
//! vsnicadm -a|-e -t|-u VIP:PORT -r RIP[:PORT] [-g|-m|-i] [-w WEIGHT] [-x UPPER] [-y LOWER]
//! vsnicadm -d -t|-u VIP:PORT -r RIP[:PORT]
//! vsnicadm -L|-l [-t|-u VIP:PORT] [-n] [-c] [--stats|--rate|--thresholds|--persistent-conn]
//!          [--exact] [--timeout]
//! vsnicadm -Z [-t|-u VIP:PORT]
//! vsnicadm --set TCP TCPFIN UDP
//! vsnicadm --nic-stats             (vsnic: NIC, device and daemon counters)
//! ```
//! As in ipvsadm: no command lists; the scheduler defaults to `wlc`, `-p` alone to 300 s, the
//! forwarding method to direct routing (`-g`), the weight to 1 and the real port to the service
//! port (always the service port for `-g` and `-i`: those frames keep their destination port).
//! Output is always numeric (`-n` is accepted). Usage errors exit with 2, errors from the daemon
//! with 1.

use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

use clap::Parser;

use vsnic_contract::Reason;

use crate::backend::DeviceFigure;
use crate::conn::ConnInfo;
use crate::control::{Request, DEFAULT_SOCKET};
use crate::daemon::DaemonStats;
use crate::driver::NicCounters;
use crate::sched::{SchedFlags, Scheduler};
use crate::service::{
    ForwardMethod, Protocol, RealSpec, ServiceInfo, ServiceKey, ServiceSpec, DEFAULT_PERSISTENCE,
    MAX_WEIGHT,
};

#[derive(Debug, Parser)]
#[command(
    name = "vsnicadm",
    about = "Administer vsnic virtual servers (ipvsadm syntax)",
    disable_version_flag = true
)]
struct Args {
    /// Add a virtual service.
    #[arg(short = 'A', long = "add-service")]
    add_service: bool,
    /// Edit a virtual service.
    #[arg(short = 'E', long = "edit-service")]
    edit_service: bool,
    /// Delete a virtual service.
    #[arg(short = 'D', long = "delete-service")]
    delete_service: bool,
    /// Clear the virtual server table.
    #[arg(short = 'C', long = "clear")]
    clear: bool,
    /// Restore rules from stdin.
    #[arg(short = 'R', long = "restore")]
    restore: bool,
    /// Save rules to stdout.
    #[arg(short = 'S', long = "save")]
    save: bool,
    /// Add a real server to a virtual service.
    #[arg(short = 'a', long = "add-server")]
    add_server: bool,
    /// Edit a real server.
    #[arg(short = 'e', long = "edit-server")]
    edit_server: bool,
    /// Delete a real server.
    #[arg(short = 'd', long = "delete-server")]
    delete_server: bool,
    /// List the table.
    #[arg(short = 'L', long = "list", visible_short_alias = 'l')]
    list: bool,
    /// Zero the counters of a service or all.
    #[arg(short = 'Z', long = "zero")]
    zero: bool,
    /// The NIC's counters, exceptions by reason, the device's own figures (the simulator's
    /// cycles, cycles/s, ports) and the daemon's counters (a vsnic extension).
    #[arg(long = "nic-stats")]
    nic_stats: bool,
    /// Set timeouts: TCP TCPFIN UDP seconds (0: unchanged).
    #[arg(long = "set", num_args = 3, value_names = ["TCP", "TCPFIN", "UDP"])]
    set: Option<Vec<String>>,
    /// TCP virtual service VIP:PORT.
    #[arg(short = 't', long = "tcp-service", value_name = "VIP:PORT")]
    tcp_service: Option<String>,
    /// UDP virtual service VIP:PORT.
    #[arg(short = 'u', long = "udp-service", value_name = "VIP:PORT")]
    udp_service: Option<String>,
    /// Scheduler: rr wrr lc wlc sh dh mh sed nq lblc lblcr fo ovf twos.
    #[arg(short = 's', long = "scheduler", value_name = "SCHEDULER")]
    scheduler: Option<String>,
    /// Scheduler flags (sh-fallback, sh-port, mh-fallback, mh-port).
    #[arg(short = 'b', long = "sched-flags", value_name = "FLAGS")]
    sched_flags: Option<String>,
    /// Persistent service, optionally with a timeout in seconds (default 300).
    #[arg(
        short = 'p',
        long = "persistent",
        value_name = "TIMEOUT",
        num_args = 0..=1,
        default_missing_value = "300"
    )]
    persistent: Option<String>,
    /// Persistence granularity netmask.
    #[arg(short = 'M', long = "netmask", value_name = "NETMASK")]
    netmask: Option<String>,
    /// Real server RIP[:PORT].
    #[arg(short = 'r', long = "real-server", value_name = "RIP[:PORT]")]
    real_server: Option<String>,
    /// Masquerading (NAT).
    #[arg(short = 'm', long = "masquerading")]
    masquerading: bool,
    /// Direct routing (the default): the NIC rewrites the MACs only.
    #[arg(short = 'g', long = "gatewaying")]
    gatewaying: bool,
    /// IP-in-IP tunnelling: the host encapsulates the client's packets.
    #[arg(short = 'i', long = "ipip")]
    ipip: bool,
    /// Real server weight, 0..65535.
    #[arg(
        short = 'w',
        long = "weight",
        value_name = "WEIGHT",
        allow_hyphen_values = true
    )]
    weight: Option<String>,
    /// Upper connection threshold.
    #[arg(
        short = 'x',
        long = "u-threshold",
        value_name = "UTHRESHOLD",
        allow_hyphen_values = true
    )]
    u_threshold: Option<String>,
    /// Lower connection threshold.
    #[arg(
        short = 'y',
        long = "l-threshold",
        value_name = "LTHRESHOLD",
        allow_hyphen_values = true
    )]
    l_threshold: Option<String>,
    /// Numeric output (the only kind vsnicadm has).
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
    /// With -L: list connections.
    #[arg(short = 'c', long = "connection")]
    connection: bool,
    /// With -L: statistics.
    #[arg(long = "stats")]
    stats: bool,
    /// With -L: rates.
    #[arg(long = "rate")]
    rate: bool,
    /// With -L: thresholds.
    #[arg(long = "thresholds")]
    thresholds: bool,
    /// With -L: persistent connection counts.
    #[arg(long = "persistent-conn")]
    persistent_conn: bool,
    /// With -L: exact numbers.
    #[arg(long = "exact")]
    exact: bool,
    /// With -L: the timeouts.
    #[arg(long = "timeout")]
    timeout: bool,
    /// With -L: sorted output (listings are always sorted).
    #[arg(long = "sort")]
    sort: bool,
    /// The daemon's control socket.
    #[arg(long = "socket", value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
}

/// How `-L` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListKind {
    #[default]
    Plain,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListOpts {
    pub service: Option<ServiceKey>,
    pub kind: ListKind,
    pub exact: bool,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Request(Request),
    /// `-L`: list services.
    List(ListOpts),
    /// `-L -c`.
    ListConnections,
    /// `-L --timeout`.
    ListTimeouts,
    /// `-S`.
    Save {
        service: Option<ServiceKey>,
    },
    /// `-R`: read rules from stdin.
    Restore,
    /// `--nic-stats`.
    NicStats,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub socket: PathBuf,
    pub action: Action,
}

#[derive(Debug)]
pub enum CliError {
    /// clap's own error (or --help); print it with its `exit()`.
    Clap(clap::Error),
    /// An ipvsadm-style message; exit code 2.
    Usage(String),
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

fn parse_addr(s: &str, default_port: Option<u16>, what: &str) -> Result<SocketAddrV4, CliError> {
    let bad = || usage(format!("Illegal {what} address[:port] specified"));
    let (ip, port) = match s.rsplit_once(':') {
        Some((ip, port)) => (ip, Some(port.parse::<u16>().map_err(|_| bad())?)),
        None => (s, None),
    };
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    match port.or(default_port) {
        Some(p) if p != 0 => Ok(SocketAddrV4::new(ip, p)),
        _ => Err(bad()),
    }
}

fn parse_u32(s: &str, max: u32, msg: &str) -> Result<u32, CliError> {
    s.parse::<u32>()
        .ok()
        .filter(|v| *v <= max)
        .ok_or_else(|| usage(msg.to_string()))
}

fn parse_netmask(s: &str) -> Result<Ipv4Addr, CliError> {
    let bad = || usage("Illegal netmask specified");
    let m = match s.parse::<Ipv4Addr>() {
        Ok(m) => m,
        Err(_) => {
            let bits: u32 = s.parse().map_err(|_| bad())?;
            if bits == 0 || bits > 32 {
                return Err(bad());
            }
            Ipv4Addr::from(u32::MAX << (32 - bits))
        }
    };
    let v = u32::from(m);
    if v == 0 || v.leading_ones() + v.trailing_zeros() != 32 {
        return Err(bad());
    }
    Ok(m)
}

/// Parse `vsnicadm` arguments (`args[0]` is the program name).
pub fn parse<I, T>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let a = Args::try_parse_from(args).map_err(CliError::Clap)?;
    let action = action(&a)?;
    Ok(Command {
        socket: a.socket,
        action,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    AddService,
    EditService,
    DelService,
    Clear,
    Restore,
    Save,
    AddReal,
    EditReal,
    DelReal,
    List,
    Zero,
    Set,
    NicStats,
}

fn action(a: &Args) -> Result<Action, CliError> {
    let flags = [
        (a.add_service, Cmd::AddService),
        (a.edit_service, Cmd::EditService),
        (a.delete_service, Cmd::DelService),
        (a.clear, Cmd::Clear),
        (a.restore, Cmd::Restore),
        (a.save, Cmd::Save),
        (a.add_server, Cmd::AddReal),
        (a.edit_server, Cmd::EditReal),
        (a.delete_server, Cmd::DelReal),
        (a.list, Cmd::List),
        (a.zero, Cmd::Zero),
        (a.set.is_some(), Cmd::Set),
        (a.nic_stats, Cmd::NicStats),
    ];
    let cmds: Vec<Cmd> = flags
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
    let cmd = match cmds.as_slice() {
        [] => Cmd::List, // ipvsadm with no command lists
        [c] => *c,
        _ => return Err(usage("Only one command may be specified")),
    };

    // Which options each command accepts (ipvsadm's option/command table, in spirit).
    let methods = [a.masquerading, a.gatewaying, a.ipip]
        .iter()
        .filter(|&&m| m)
        .count();
    if methods > 1 {
        return Err(usage(
            "Only one forwarding method (-m, -g or -i) may be specified",
        ));
    }
    let service_opts = a.scheduler.is_some()
        || a.persistent.is_some()
        || a.netmask.is_some()
        || a.sched_flags.is_some();
    let real_opts = a.real_server.is_some()
        || a.weight.is_some()
        || a.u_threshold.is_some()
        || a.l_threshold.is_some()
        || methods > 0;
    let list_opts = a.connection
        || a.stats
        || a.rate
        || a.thresholds
        || a.persistent_conn
        || a.exact
        || a.timeout
        || a.sort;
    let illegal = |opt: &str| usage(format!("Illegal option {opt} for this command"));
    let service_given = a.tcp_service.is_some() || a.udp_service.is_some();
    match cmd {
        Cmd::AddService | Cmd::EditService => {
            if real_opts {
                return Err(illegal("-r/-w/-x/-y/-g/-m/-i"));
            }
        }
        Cmd::AddReal | Cmd::EditReal | Cmd::DelReal => {
            if service_opts {
                return Err(illegal("-s/-p/-M/-b"));
            }
        }
        _ => {
            if service_opts || real_opts {
                return Err(illegal("-s/-p/-M/-b/-r/-w/-x/-y/-g/-m/-i"));
            }
        }
    }
    if cmd != Cmd::List && list_opts {
        return Err(illegal(
            "-c/--stats/--rate/--thresholds/--persistent-conn/--exact/--timeout",
        ));
    }
    if matches!(cmd, Cmd::Clear | Cmd::Restore | Cmd::Set | Cmd::NicStats) && service_given {
        return Err(illegal("-t/-u"));
    }

    let service = match (&a.tcp_service, &a.udp_service) {
        (Some(_), Some(_)) => return Err(usage("Only one service (-t or -u) may be specified")),
        (Some(s), None) => Some(ServiceKey {
            proto: Protocol::Tcp,
            vip: parse_addr(s, None, "virtual server")?,
        }),
        (None, Some(s)) => Some(ServiceKey {
            proto: Protocol::Udp,
            vip: parse_addr(s, None, "virtual server")?,
        }),
        (None, None) => None,
    };
    let need_service = || service.ok_or_else(|| usage("No service specified (-t or -u)"));

    Ok(match cmd {
        Cmd::AddService | Cmd::EditService => {
            let key = need_service()?;
            let name = a.scheduler.as_deref().unwrap_or("wlc");
            let scheduler = Scheduler::parse(name)
                .ok_or_else(|| usage(format!("Scheduler not found: {name}")))?;
            let flags = match &a.sched_flags {
                None => SchedFlags::default(),
                Some(f) => SchedFlags::parse(f)
                    .ok_or_else(|| usage(format!("Invalid scheduler flag: {f}")))?,
            };
            let persistent = match &a.persistent {
                None => None,
                Some(p) => Some(
                    p.parse::<u32>()
                        .ok()
                        .filter(|t| *t >= 1)
                        .ok_or_else(|| usage("Illegal timeout value"))?,
                ),
            };
            let netmask = match &a.netmask {
                None => Ipv4Addr::BROADCAST,
                Some(m) => parse_netmask(m)?,
            };
            let spec = ServiceSpec {
                key,
                scheduler,
                flags,
                persistent,
                netmask,
            };
            Action::Request(if cmd == Cmd::AddService {
                Request::AddService { spec }
            } else {
                Request::EditService { spec }
            })
        }
        Cmd::DelService => Action::Request(Request::DelService {
            service: need_service()?,
        }),
        Cmd::Clear => Action::Request(Request::Clear),
        Cmd::Restore => Action::Restore,
        Cmd::Save => Action::Save { service },
        Cmd::Zero => Action::Request(Request::Zero { service }),
        Cmd::NicStats => Action::NicStats,
        Cmd::Set => {
            let v = a.set.as_deref().unwrap_or_default();
            let t: Vec<u32> = v
                .iter()
                .map(|s| s.parse::<u32>().map_err(|_| usage("Illegal timeout value")))
                .collect::<Result<_, _>>()?;
            let [tcp, tcpfin, udp] = t[..] else {
                return Err(usage("--set needs three values: tcp tcpfin udp"));
            };
            Action::Request(Request::SetTimeouts { tcp, tcpfin, udp })
        }
        Cmd::AddReal | Cmd::EditReal | Cmd::DelReal => {
            let key = need_service()?;
            let rs = a
                .real_server
                .as_deref()
                .ok_or_else(|| usage("No real server specified (-r)"))?;
            let addr = parse_addr(rs, Some(key.vip.port()), "real server")?;
            if cmd == Cmd::DelReal {
                if a.weight.is_some() || a.u_threshold.is_some() || a.l_threshold.is_some() {
                    return Err(illegal("-w/-x/-y"));
                }
                return Ok(Action::Request(Request::DelReal { service: key, addr }));
            }
            let weight = match a.weight.as_deref() {
                None => 1,
                Some(w) => parse_u32(
                    w,
                    MAX_WEIGHT,
                    &format!("Illegal weight specified (0..{MAX_WEIGHT})"),
                )?,
            };
            let u_threshold = match a.u_threshold.as_deref() {
                None => 0,
                Some(x) => parse_u32(x, i32::MAX as u32, "Illegal upper threshold specified")?,
            };
            let l_threshold = match a.l_threshold.as_deref() {
                None => 0,
                Some(y) => parse_u32(y, i32::MAX as u32, "Illegal lower threshold specified")?,
            };
            if u_threshold != 0 && l_threshold > u_threshold {
                return Err(usage(
                    "Illegal lower threshold specified: above the upper threshold",
                ));
            }
            let method = if a.masquerading {
                ForwardMethod::Masq
            } else if a.ipip {
                ForwardMethod::Tunnel
            } else {
                ForwardMethod::Route
            };
            // As ipvsadm: a server reached by direct routing or tunnelling gets the frames with
            // their destination port unchanged, so its port is the service's.
            let addr = match method {
                ForwardMethod::Masq => addr,
                _ => SocketAddrV4::new(*addr.ip(), key.vip.port()),
            };
            let real = RealSpec {
                addr,
                weight,
                method,
                u_threshold,
                l_threshold,
            };
            Action::Request(if cmd == Cmd::AddReal {
                Request::AddReal { service: key, real }
            } else {
                Request::EditReal { service: key, real }
            })
        }
        Cmd::List => {
            let kinds = [
                a.stats,
                a.rate,
                a.thresholds,
                a.persistent_conn,
                a.connection,
                a.timeout,
            ]
            .iter()
            .filter(|&&k| k)
            .count();
            if kinds > 1 {
                return Err(usage(
                    "Only one of -c, --stats, --rate, --thresholds, --persistent-conn, --timeout may be specified",
                ));
            }
            if a.connection {
                Action::ListConnections
            } else if a.timeout {
                Action::ListTimeouts
            } else {
                let kind = if a.stats {
                    ListKind::Stats
                } else if a.rate {
                    ListKind::Rate
                } else if a.thresholds {
                    ListKind::Thresholds
                } else if a.persistent_conn {
                    ListKind::PersistentConn
                } else {
                    ListKind::Plain
                };
                Action::List(ListOpts {
                    service,
                    kind,
                    exact: a.exact,
                })
            }
        }
    })
}

/// `-R`: the rules of `text` (one ipvsadm command per line, as `-S` writes them; blank lines and
/// `#` comments skipped) as one batch. Errors name the line.
pub fn parse_rules(text: &str) -> Result<Request, CliError> {
    let mut requests = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let args = std::iter::once("vsnicadm").chain(line.split_whitespace());
        let cmd = parse(args).map_err(|e| match e {
            CliError::Usage(m) => usage(format!("line {}: {m}", n + 1)),
            CliError::Clap(e) => usage(format!("line {}: {}", n + 1, e.kind())),
        })?;
        match cmd.action {
            Action::Request(r) => requests.push(r),
            _ => {
                return Err(usage(format!(
                    "line {}: only -A, -E, -D, -a, -e, -d, -C, -Z, --set may be restored",
                    n + 1
                )))
            }
        }
    }
    Ok(Request::Batch { requests })
}

/// ipvsadm's number format for `--stats`/`--rate`: exact when asked or when it fits eight
/// columns, else scaled with K, M, G, T.
fn num(v: u64, exact: bool) -> String {
    if exact || v < 100_000_000 {
        return v.to_string();
    }
    let mut v = v;
    for suffix in ["K", "M", "G", "T", "P"] {
        v /= 1000;
        if v < 10_000_000 {
            return format!("{v}{suffix}");
        }
    }
    format!("{v}E")
}

fn service_line(s: &ServiceInfo) -> String {
    let mut line = format!("{}  {} {}", s.proto.label(), s.vip, s.scheduler.name());
    let flags = s.flags.names(s.scheduler);
    if !flags.is_empty() {
        let _ = write!(line, " ({flags})");
    }
    if let Some(p) = s.persistent {
        let _ = write!(line, " persistent {p}");
        if s.netmask != Ipv4Addr::BROADCAST {
            let _ = write!(line, " mask {}", s.netmask);
        }
    }
    line
}

/// `-L -n` (and `--stats`, `--rate`, `--thresholds`, `--persistent-conn`) in ipvsadm's layout.
pub fn format_services(table_size: u32, services: &[ServiceInfo], opts: &ListOpts) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "IP Virtual Server version 1.2.1 (size={table_size})");
    let stat_header = |o: &mut String, cols: [&str; 5]| {
        let _ = writeln!(
            o,
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "Prot LocalAddress:Port", cols[0], cols[1], cols[2], cols[3], cols[4]
        );
        let _ = writeln!(o, "  -> RemoteAddress:Port");
    };
    match opts.kind {
        ListKind::Plain => {
            let _ = writeln!(o, "Prot LocalAddress:Port Scheduler Flags");
            let _ = writeln!(
                o,
                "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
            );
        }
        ListKind::Stats => stat_header(
            &mut o,
            ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"],
        ),
        ListKind::Rate => stat_header(&mut o, ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]),
        ListKind::Thresholds => {
            let _ = writeln!(
                o,
                "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn"
            );
            let _ = writeln!(o, "  -> RemoteAddress:Port");
        }
        ListKind::PersistentConn => {
            let _ = writeln!(
                o,
                "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn"
            );
            let _ = writeln!(o, "  -> RemoteAddress:Port");
        }
    }
    let x = opts.exact;
    let five = |o: &mut String, first: String, v: [u64; 5]| {
        let _ = writeln!(
            o,
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}",
            first,
            num(v[0], x),
            num(v[1], x),
            num(v[2], x),
            num(v[3], x),
            num(v[4], x)
        );
    };
    for s in services
        .iter()
        .filter(|s| opts.service.is_none_or(|k| k == s.key()))
    {
        match opts.kind {
            ListKind::Plain => {
                let _ = writeln!(o, "{}", service_line(s));
            }
            ListKind::Stats => {
                let t = s.stats;
                five(
                    &mut o,
                    format!("{}  {}", s.proto.label(), s.vip),
                    [t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes],
                )
            }
            ListKind::Rate => {
                let r = s.rates;
                five(
                    &mut o,
                    format!("{}  {}", s.proto.label(), s.vip),
                    [r.cps, r.inpps, r.outpps, r.inbps, r.outbps],
                )
            }
            ListKind::Thresholds | ListKind::PersistentConn => {
                let _ = writeln!(o, "{}", service_line(s));
            }
        }
        for r in &s.reals {
            let addr = format!("  -> {}", r.addr);
            let line = match opts.kind {
                ListKind::Plain => format!(
                    "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                    r.addr.to_string(),
                    r.method.column(),
                    r.weight,
                    r.active_conns,
                    r.inactive_conns
                ),
                ListKind::Stats => {
                    let t = r.stats;
                    let mut l = String::new();
                    five(
                        &mut l,
                        addr,
                        [t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes],
                    );
                    l.trim_end().to_string()
                }
                ListKind::Rate => {
                    let t = r.rates;
                    let mut l = String::new();
                    five(&mut l, addr, [t.cps, t.inpps, t.outpps, t.inbps, t.outbps]);
                    l.trim_end().to_string()
                }
                ListKind::Thresholds => format!(
                    "  -> {:<28} {:<10} {:<10} {:<10} {:<10}",
                    r.addr.to_string(),
                    r.u_threshold,
                    r.l_threshold,
                    r.active_conns,
                    r.inactive_conns
                ),
                ListKind::PersistentConn => format!(
                    "  -> {:<28} {:<9} {:<11} {:<10} {:<10}",
                    r.addr.to_string(),
                    r.weight,
                    r.persist_conns,
                    r.active_conns,
                    r.inactive_conns
                ),
            };
            let _ = writeln!(o, "{}", line.trim_end());
        }
    }
    o
}

/// `-L -n -c` in ipvsadm's layout (templates show client port 0 and state NONE). ipvsadm does
/// not show how a connection is forwarded; a vsnic extension appends the forwarding method's
/// column name (`Route`) after the destination of a connection that is not masqueraded, so
/// NAT rows stay exactly ipvsadm's.
pub fn format_connections(conns: &[ConnInfo]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "IPVS connection entries");
    let _ = writeln!(
        o,
        "pro expire state       source             virtual            destination"
    );
    for c in conns {
        let dest = match c.method {
            ForwardMethod::Masq => c.real.to_string(),
            _ if c.template => c.real.to_string(),
            m => format!("{:<18} {}", c.real.to_string(), m.column()),
        };
        let line = format!(
            "{:<3} {:02}:{:02}  {:<11} {:<18} {:<18} {}",
            c.proto.label(),
            c.expires_in / 60,
            c.expires_in % 60,
            c.state,
            c.client.to_string(),
            c.vip.to_string(),
            dest
        );
        let _ = writeln!(o, "{line}");
    }
    o
}

/// `--nic-stats`: the NIC's counter block, its exceptions by reason, the device's own figures
/// and the daemon's counters, one `name value` per line under a heading per group.
pub fn format_nic_stats(
    nic: &NicCounters,
    daemon: &DaemonStats,
    device: &[DeviceFigure],
) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "NIC");
    for (name, v) in [
        ("rx_frames", nic.rx_frames),
        ("tx_frames", nic.tx_frames),
        ("fastpath", nic.fastpath),
        ("exceptions", nic.exc_frames),
        ("exception_drops", nic.exc_drop),
        ("exq_ring_full_drops", nic.exq_ring_full_drops),
        ("txq_bad_descriptors", nic.txq_bad_desc),
    ] {
        let _ = writeln!(o, "  {name:<32} {v:>12}");
    }
    if nic.num_ports > 0 {
        let _ = writeln!(o, "NIC ports");
        let _ = writeln!(
            o,
            "  {:<6} {:>12} {:>12} {:>12} {:>12}",
            "port", "rx_frames", "tx_frames", "exceptions", "exc_drops"
        );
        for (i, p) in nic.ports.iter().take(nic.num_ports as usize).enumerate() {
            let _ = writeln!(
                o,
                "  {i:<6} {:>12} {:>12} {:>12} {:>12}",
                p.rx, p.tx, p.exc, p.exc_drop
            );
        }
    }
    let _ = writeln!(o, "NIC exceptions by reason");
    for (code, v) in nic.exc_reason.iter().enumerate() {
        if let Some(r) = Reason::from_code(code as u8).filter(|_| *v > 0) {
            let _ = writeln!(o, "  {:<32} {v:>12}", r.name());
        }
    }
    if !device.is_empty() {
        let _ = writeln!(o, "Device");
        for f in device {
            let name = f.name.trim_end_matches("_total");
            let name = if f.labels.is_empty() {
                name.to_string()
            } else {
                format!("{name}{{{}}}", f.labels)
            };
            let _ = writeln!(o, "  {name:<32} {:>12}", f.value);
        }
    }
    let _ = writeln!(o, "Daemon");
    // every field of DaemonStats (sorted by name), so new counters show up by themselves
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(daemon) {
        for (k, v) in m {
            match v {
                serde_json::Value::Array(a) => {
                    for (code, x) in a.iter().enumerate() {
                        let n = x.as_u64().unwrap_or(0);
                        if n > 0 {
                            let r = Reason::from_code(code as u8).map_or("?", |r| r.name());
                            let _ = writeln!(o, "  {:<32} {n:>12}", format!("{k}{{{r}}}"));
                        }
                    }
                }
                v => {
                    let _ = writeln!(o, "  {k:<32} {:>12}", v.to_string());
                }
            }
        }
    }
    o
}

/// `-L --timeout`.
pub fn format_timeouts(tcp: u32, tcpfin: u32, udp: u32) -> String {
    format!("Timeout (tcp tcpfin udp): {tcp} {tcpfin} {udp}\n")
}

/// `-S`: the rules, in ipvsadm's save format (what `-R` reads back).
pub fn format_save(services: &[ServiceInfo], only: Option<ServiceKey>) -> String {
    let mut o = String::new();
    for s in services
        .iter()
        .filter(|s| only.is_none_or(|k| k == s.key()))
    {
        let svc = format!("{} {}", s.proto.option(), s.vip);
        let _ = write!(o, "-A {svc} -s {}", s.scheduler.name());
        let flags = s.flags.names(s.scheduler);
        if !flags.is_empty() {
            let _ = write!(o, " -b {flags}");
        }
        if let Some(p) = s.persistent {
            let _ = write!(o, " -p {p}");
            if s.netmask != Ipv4Addr::BROADCAST {
                let _ = write!(o, " -M {}", s.netmask);
            }
        }
        o.push('\n');
        for r in &s.reals {
            let _ = write!(
                o,
                "-a {svc} -r {} {} -w {}",
                r.addr,
                r.method.option(),
                r.weight
            );
            if r.u_threshold != 0 {
                let _ = write!(o, " -x {}", r.u_threshold);
            }
            if r.l_threshold != 0 {
                let _ = write!(o, " -y {}", r.l_threshold);
            }
            o.push('\n');
        }
    }
    o
}

/// `-p` without a value, for docs and tests.
pub const PERSISTENCE_DEFAULT: u32 = DEFAULT_PERSISTENCE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{RealServer, Stats};

    fn ok(args: &[&str]) -> Command {
        match parse(std::iter::once("vsnicadm").chain(args.iter().copied())) {
            Ok(c) => c,
            Err(e) => panic!("{args:?}: {e:?}"),
        }
    }

    fn usage_err(args: &[&str]) -> String {
        match parse(std::iter::once("vsnicadm").chain(args.iter().copied())) {
            Err(CliError::Usage(m)) => m,
            other => panic!("{args:?}: expected a usage error, got {other:?}"),
        }
    }

    fn tcp(s: &str) -> ServiceKey {
        ServiceKey::tcp(s.parse().unwrap())
    }

    #[test]
    fn service_commands() {
        let c = ok(&["-A", "-t", "10.0.0.100:80", "-s", "rr"]);
        assert_eq!(c.socket, PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(
            c.action,
            Action::Request(Request::AddService {
                spec: ServiceSpec::new(tcp("10.0.0.100:80"), Scheduler::Rr)
            })
        );
        // defaults: wlc; -p alone is 300 s
        let c = ok(&["-A", "-u", "10.0.0.100:53", "-p", "--socket", "/tmp/x.sock"]);
        assert_eq!(c.socket, PathBuf::from("/tmp/x.sock"));
        let Action::Request(Request::AddService { spec }) = c.action else {
            panic!()
        };
        assert_eq!(spec.key.proto, Protocol::Udp);
        assert_eq!(spec.scheduler, Scheduler::Wlc);
        assert_eq!(spec.persistent, Some(PERSISTENCE_DEFAULT));
        let c = ok(&[
            "-E",
            "-t",
            "10.0.0.100:80",
            "-s",
            "sh",
            "-b",
            "sh-port,sh-fallback",
            "-p",
            "60",
            "-M",
            "255.255.255.0",
        ]);
        let Action::Request(Request::EditService { spec }) = c.action else {
            panic!()
        };
        assert_eq!(
            (spec.scheduler, spec.flags, spec.persistent, spec.netmask),
            (
                Scheduler::Sh,
                SchedFlags {
                    fallback: true,
                    port: true
                },
                Some(60),
                Ipv4Addr::new(255, 255, 255, 0)
            )
        );
        let c = ok(&["-A", "-t", "10.0.0.100:80", "-p", "-M", "24"]);
        let Action::Request(Request::AddService { spec }) = c.action else {
            panic!()
        };
        assert_eq!(spec.netmask, Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(spec.persistent, Some(300));
        assert_eq!(
            ok(&["-D", "-t", "10.0.0.100:80"]).action,
            Action::Request(Request::DelService {
                service: tcp("10.0.0.100:80")
            })
        );
        assert_eq!(ok(&["-C"]).action, Action::Request(Request::Clear));
        assert_eq!(
            ok(&["-Z"]).action,
            Action::Request(Request::Zero { service: None })
        );
        assert_eq!(
            ok(&["-Z", "-t", "1.2.3.4:5"]).action,
            Action::Request(Request::Zero {
                service: Some(tcp("1.2.3.4:5"))
            })
        );
        assert_eq!(
            ok(&["--set", "3600", "0", "60"]).action,
            Action::Request(Request::SetTimeouts {
                tcp: 3600,
                tcpfin: 0,
                udp: 60
            })
        );
        assert_eq!(ok(&["-S", "-n"]).action, Action::Save { service: None });
        assert_eq!(ok(&["-R"]).action, Action::Restore);
        for s in crate::sched::ALL {
            ok(&["-A", "-t", "1.2.3.4:5", "-s", s.name()]);
        }
    }

    #[test]
    fn real_server_commands() {
        let c = ok(&[
            "-a",
            "-t",
            "10.0.0.100:80",
            "-r",
            "10.1.0.2:8080",
            "-m",
            "-w",
            "3",
            "-x",
            "100",
            "-y",
            "50",
        ]);
        assert_eq!(
            c.action,
            Action::Request(Request::AddReal {
                service: tcp("10.0.0.100:80"),
                real: RealSpec {
                    addr: "10.1.0.2:8080".parse().unwrap(),
                    weight: 3,
                    method: ForwardMethod::Masq,
                    u_threshold: 100,
                    l_threshold: 50,
                }
            })
        );
        // ipvsadm defaults: real port = service port, weight 1, direct routing
        let c = ok(&["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.2"]);
        assert!(matches!(
            c.action,
            Action::Request(Request::AddReal {
                real: RealSpec {
                    weight: 1,
                    method: ForwardMethod::Route,
                    ..
                },
                ..
            })
        ));
        // DR and tunnel servers take the service's port, as ipvsadm does
        let c = ok(&["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.2:8080", "-g"]);
        let Action::Request(Request::AddReal { real, .. }) = c.action else {
            panic!("{c:?}")
        };
        assert_eq!(real.addr, "10.1.0.2:80".parse().unwrap());
        let c = ok(&[
            "-e",
            "-t",
            "10.0.0.100:80",
            "-r",
            "10.1.0.2:8080",
            "-w",
            "0",
            "-i",
        ]);
        let Action::Request(Request::EditReal { real: ref r, .. }) = c.action else {
            panic!("{c:?}")
        };
        assert_eq!(r.addr, "10.1.0.2:80".parse().unwrap());
        assert!(matches!(
            c.action,
            Action::Request(Request::EditReal {
                real: RealSpec {
                    weight: 0,
                    method: ForwardMethod::Tunnel,
                    ..
                },
                ..
            })
        ));
        assert_eq!(
            ok(&["-d", "-t", "10.0.0.100:80", "-r", "10.1.0.2"]).action,
            Action::Request(Request::DelReal {
                service: tcp("10.0.0.100:80"),
                addr: "10.1.0.2:80".parse().unwrap()
            })
        );
    }

    #[test]
    fn list_commands() {
        let plain = Action::List(ListOpts::default());
        assert_eq!(ok(&[]).action, plain, "no command lists");
        assert_eq!(ok(&["-L", "-n"]).action, plain);
        assert_eq!(ok(&["-Ln"]).action, plain);
        assert_eq!(ok(&["-l"]).action, plain);
        assert_eq!(ok(&["--list", "--numeric"]).action, plain);
        assert_eq!(ok(&["-Lnc"]).action, Action::ListConnections);
        assert_eq!(ok(&["-L", "-n", "-c"]).action, Action::ListConnections);
        assert_eq!(ok(&["-L", "--timeout"]).action, Action::ListTimeouts);
        assert_eq!(ok(&["--nic-stats"]).action, Action::NicStats);
        assert!(usage_err(&["--nic-stats", "-t", "1.2.3.4:80"]).contains("Illegal option"));
        assert!(usage_err(&["--nic-stats", "-L"]).contains("Only one command"));
        assert_eq!(
            ok(&["-L", "-n", "--stats", "--exact", "-t", "1.2.3.4:80"]).action,
            Action::List(ListOpts {
                service: Some(tcp("1.2.3.4:80")),
                kind: ListKind::Stats,
                exact: true
            })
        );
        assert_eq!(
            ok(&["-L", "--rate"]).action,
            Action::List(ListOpts {
                kind: ListKind::Rate,
                ..Default::default()
            })
        );
        assert!(matches!(
            ok(&["-L", "--thresholds"]).action,
            Action::List(ListOpts {
                kind: ListKind::Thresholds,
                ..
            })
        ));
        assert!(matches!(
            ok(&["-L", "--persistent-conn"]).action,
            Action::List(ListOpts {
                kind: ListKind::PersistentConn,
                ..
            })
        ));
    }

    #[test]
    fn bad_arguments() {
        assert!(usage_err(&["-A"]).contains("No service specified"));
        assert!(usage_err(&["-a", "-r", "10.1.0.2:80"]).contains("No service specified"));
        for bad in [
            "10.0.0.300:80",
            "10.0.0.1",
            "10.0.0.1:0",
            "10.0.0.1:99999",
            "host:80",
        ] {
            assert_eq!(
                usage_err(&["-A", "-t", bad]),
                "Illegal virtual server address[:port] specified",
                "{bad}"
            );
        }
        assert!(usage_err(&["-a", "-t", "10.0.0.1:80"]).contains("No real server"));
        assert!(usage_err(&["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.x"])
            .contains("Illegal real server address"));
        for w in ["65536", "-1", "x", ""] {
            let m = usage_err(&["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.2", "-m", "-w", w]);
            assert!(m.contains("Illegal weight"), "{w}: {m}");
        }
        assert!(
            usage_err(&["-a", "-t", "1.2.3.4:80", "-r", "10.1.0.2", "-x", "-3"])
                .contains("Illegal upper threshold")
        );
        assert!(usage_err(&[
            "-a",
            "-t",
            "1.2.3.4:80",
            "-r",
            "10.1.0.2",
            "-x",
            "3",
            "-y",
            "4"
        ])
        .contains("Illegal lower threshold"));
        assert!(
            usage_err(&["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.2", "-m", "-g"])
                .contains("Only one forwarding method")
        );
        assert_eq!(
            usage_err(&["-A", "-t", "1.2.3.4:80", "-s", "nope"]),
            "Scheduler not found: nope"
        );
        assert!(usage_err(&["-A", "-t", "1.2.3.4:80", "-p", "0"]).contains("Illegal timeout"));
        assert!(
            usage_err(&["-A", "-t", "1.2.3.4:80", "-p", "-M", "255.0.255.0"])
                .contains("Illegal netmask")
        );
        assert!(usage_err(&["-A", "-t", "1.2.3.4:80", "-b", "zz"]).contains("scheduler flag"));
        assert!(usage_err(&["--set", "1", "x", "3"]).contains("Illegal timeout"));
        assert!(
            usage_err(&["-A", "-t", "10.0.0.1:80", "-r", "10.1.0.2"]).contains("Illegal option")
        );
        assert!(
            usage_err(&["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.2", "-s", "rr"])
                .contains("Illegal option")
        );
        assert!(usage_err(&["-L", "-r", "10.0.0.1:80"]).contains("Illegal option"));
        assert!(usage_err(&["-C", "-t", "10.0.0.1:80"]).contains("Illegal option"));
        assert!(usage_err(&["-A", "-c", "-t", "10.0.0.1:80"]).contains("Illegal option"));
        assert!(usage_err(&["-A", "-L", "-t", "10.0.0.1:80"]).contains("Only one command"));
        assert!(usage_err(&["-L", "-c", "--stats"]).contains("Only one of"));
        assert!(
            usage_err(&["-A", "-t", "1.2.3.4:1", "-u", "1.2.3.4:1"]).contains("Only one service")
        );
        // unknown flags and missing values are clap's (exit code 2 too)
        for args in [
            &["-Q"][..],
            &["-A", "-t"],
            &["-L", "extra"],
            &["--set", "1"],
        ] {
            match parse(std::iter::once("vsnicadm").chain(args.iter().copied())) {
                Err(CliError::Clap(e)) => assert_eq!(e.exit_code(), 2, "{args:?}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }

    fn sample() -> Vec<ServiceInfo> {
        let mut r1 = RealServer::new("10.1.0.2:80".parse().unwrap(), 1, ForwardMethod::Masq);
        r1.active_conns = 3;
        r1.inactive_conns = 1;
        r1.stats = Stats {
            conns: 4,
            inpkts: 123_456_789,
            outpkts: 12,
            inbytes: 1140,
            outbytes: 1392,
        };
        let mut r2 = RealServer::new("10.1.0.3:8080".parse().unwrap(), 2, ForwardMethod::Route);
        r2.u_threshold = 100;
        r2.l_threshold = 50;
        r2.persist_conns = 7;
        let mut s = ServiceInfo {
            proto: Protocol::Tcp,
            vip: "10.0.0.100:80".parse().unwrap(),
            scheduler: Scheduler::Rr,
            flags: SchedFlags::default(),
            persistent: Some(300),
            netmask: Ipv4Addr::new(255, 255, 255, 0),
            reals: vec![r1, r2],
            stats: Stats::default(),
            rates: Default::default(),
        };
        s.stats.conns = 4;
        let u = ServiceInfo {
            proto: Protocol::Udp,
            vip: "10.0.0.100:53".parse().unwrap(),
            scheduler: Scheduler::Sh,
            flags: SchedFlags {
                fallback: true,
                port: false,
            },
            persistent: None,
            netmask: Ipv4Addr::BROADCAST,
            reals: vec![],
            stats: Stats::default(),
            rates: Default::default(),
        };
        vec![s, u]
    }

    #[test]
    fn nic_stats_show_every_group() {
        let mut nic = NicCounters {
            rx_frames: 10,
            fastpath: 7,
            exc_frames: 3,
            ..Default::default()
        };
        nic.exc_reason[Reason::Syn as usize] = 2;
        nic.exc_reason[Reason::Miss as usize] = 1;
        nic.num_ports = 2;
        nic.ports[1] = crate::driver::NicPortCounters {
            rx: 5,
            tx: 6,
            exc: 1,
            exc_drop: 4,
        };
        nic.ports[2].rx = 99; // beyond num_ports: not shown
        let daemon = DaemonStats {
            connections_created: 2,
            exceptions: {
                let mut e = [0; vsnic_contract::exception::NUM_REASONS];
                e[Reason::Syn as usize] = 2;
                e
            },
            ..Default::default()
        };
        let device = vec![
            DeviceFigure::counter("sim_cycles_total", String::new(), "", 12345),
            DeviceFigure::counter("sim_port_rx_frames_total", "port=\"1\"".into(), "", 9),
        ];
        let out = format_nic_stats(&nic, &daemon, &device);
        let line = |name: &str| -> Option<String> {
            out.lines()
                .find(|l| l.split_whitespace().next() == Some(name))
                .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        };
        assert_eq!(line("rx_frames").as_deref(), Some("10"), "{out}");
        assert_eq!(line("fastpath").as_deref(), Some("7"));
        assert_eq!(line(Reason::Syn.name()).as_deref(), Some("2"));
        assert_eq!(line(Reason::Miss.name()).as_deref(), Some("1"));
        assert_eq!(
            line(Reason::Fragment.name()),
            None,
            "zero reasons are left out"
        );
        assert_eq!(line("sim_cycles").as_deref(), Some("12345"));
        assert_eq!(line("sim_port_rx_frames{port=\"1\"}").as_deref(), Some("9"));
        assert_eq!(line("connections_created").as_deref(), Some("2"));
        assert_eq!(
            line(&format!("exceptions{{{}}}", Reason::Syn.name())).as_deref(),
            Some("2")
        );
        let row = |p: &str| -> Option<Vec<String>> {
            let at = out.lines().position(|l| l == "NIC ports")?;
            out.lines()
                .skip(at + 2)
                .take_while(|l| l.starts_with("  "))
                .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
                .find(|f| f[0] == p)
        };
        assert_eq!(row("1").unwrap()[1..], ["5", "6", "1", "4"], "{out}");
        assert_eq!(row("0").unwrap()[1..], ["0", "0", "0", "0"]);
        assert_eq!(row("2"), None, "only the device's ports: {out}");
        for heading in [
            "NIC",
            "NIC ports",
            "NIC exceptions by reason",
            "Device",
            "Daemon",
        ] {
            assert!(out.lines().any(|l| l == heading), "{heading}: {out}");
        }
    }

    #[test]
    fn list_layout_matches_ipvsadm() {
        assert_eq!(
            format_services(4096, &sample(), &ListOpts::default()),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.0.100:80 rr persistent 300 mask 255.255.255.0\n\
             \x20 -> 10.1.0.2:80                  Masq    1      3          1\n\
             \x20 -> 10.1.0.3:8080                Route   2      0          0\n\
             UDP  10.0.0.100:53 sh (sh-fallback)\n"
        );
        let stats = ListOpts {
            kind: ListKind::Stats,
            ..Default::default()
        };
        let out = format_services(4096, &sample()[..1], &stats);
        assert_eq!(
            out,
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n\
             \x20 -> RemoteAddress:Port\n\
             TCP  10.0.0.100:80                       4        0        0        0        0\n\
             \x20 -> 10.1.0.2:80                         4  123456K       12     1140     1392\n\
             \x20 -> 10.1.0.3:8080                       0        0        0        0        0\n"
        );
        let exact = ListOpts {
            exact: true,
            ..stats
        };
        assert!(format_services(4096, &sample(), &exact).contains(" 123456789 "));
        let rate = ListOpts {
            kind: ListKind::Rate,
            ..Default::default()
        };
        assert!(format_services(1, &sample(), &rate).contains(
            "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS"
        ));
        let th = ListOpts {
            kind: ListKind::Thresholds,
            ..Default::default()
        };
        assert!(format_services(1, &sample(), &th)
            .contains("  -> 10.1.0.3:8080                100        50         0          0\n"));
        let pc = ListOpts {
            kind: ListKind::PersistentConn,
            ..Default::default()
        };
        assert!(format_services(1, &sample(), &pc)
            .contains("  -> 10.1.0.3:8080                2         7           0          0\n"));
        let only = ListOpts {
            service: Some(tcp("10.0.0.100:80")),
            ..Default::default()
        };
        assert!(!format_services(1, &sample(), &only).contains("UDP"));

        let conns = vec![ConnInfo {
            proto: Protocol::Tcp,
            client: "10.0.0.2:40000".parse().unwrap(),
            vip: "10.0.0.100:80".parse().unwrap(),
            real: "10.1.0.2:80".parse().unwrap(),
            state: "ESTABLISHED".into(),
            expires_in: 899,
            in_bucket: Some(1),
            out_bucket: Some(2),
            template: false,
            method: ForwardMethod::Masq,
        }];
        assert_eq!(
            format_connections(&conns),
            "IPVS connection entries\n\
             pro expire state       source             virtual            destination\n\
             TCP 14:59  ESTABLISHED 10.0.0.2:40000     10.0.0.100:80      10.1.0.2:80\n"
        );
        let dr = ConnInfo {
            proto: Protocol::Udp,
            state: "UDP".into(),
            expires_in: 300,
            out_bucket: None,
            method: ForwardMethod::Route,
            ..conns[0].clone()
        };
        assert_eq!(
            format_connections(&[dr]),
            "IPVS connection entries\n\
             pro expire state       source             virtual            destination\n\
             UDP 05:00  UDP         10.0.0.2:40000     10.0.0.100:80      10.1.0.2:80        Route\n"
        );
        assert_eq!(
            format_timeouts(900, 120, 300),
            "Timeout (tcp tcpfin udp): 900 120 300\n"
        );
    }

    #[test]
    fn save_and_restore_round_trip() {
        let text = format_save(&sample(), None);
        assert_eq!(
            text,
            "-A -t 10.0.0.100:80 -s rr -p 300 -M 255.255.255.0\n\
             -a -t 10.0.0.100:80 -r 10.1.0.2:80 -m -w 1\n\
             -a -t 10.0.0.100:80 -r 10.1.0.3:8080 -g -w 2 -x 100 -y 50\n\
             -A -u 10.0.0.100:53 -s sh -b sh-fallback\n"
        );
        let Request::Batch { requests } = parse_rules(&format!("# saved\n\n{text}")).unwrap()
        else {
            panic!()
        };
        assert_eq!(requests.len(), 4);
        let Request::AddService { spec } = &requests[0] else {
            panic!()
        };
        assert_eq!(spec.persistent, Some(300));
        assert_eq!(spec.netmask, Ipv4Addr::new(255, 255, 255, 0));
        assert!(matches!(
            &requests[2],
            Request::AddReal {
                real: RealSpec {
                    u_threshold: 100,
                    l_threshold: 50,
                    weight: 2,
                    method: ForwardMethod::Route,
                    ..
                },
                ..
            }
        ));
        match parse_rules("-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r nope\n") {
            Err(CliError::Usage(m)) => assert!(m.starts_with("line 2: Illegal real server"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse_rules("-L -n\n"), Err(CliError::Usage(_))));
        assert_eq!(format_save(&sample(), Some(tcp("10.0.0.100:53"))), "");
    }
}
