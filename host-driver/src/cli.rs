//! `vsnicadm`: ipvsadm's command line for the subset vsnic implements, and ipvsadm's output
//! layout. Parsing and formatting live here (not in the binary) so they are unit-tested.
//!
//! ```text
//! vsnicadm -A -t VIP:PORT [-s rr]
//! vsnicadm -a -t VIP:PORT -r RIP[:PORT] [-m|-g|-i] [-w WEIGHT]
//! vsnicadm -L [-n] [-c]
//! ```
//! As in ipvsadm, the forwarding method defaults to direct routing (`-g`) — which the daemon
//! rejects for now, so `-m` must be given — the real port defaults to the service port and the
//! weight to 1. The scheduler defaults to `rr` (ipvsadm's default, `wlc`, is not implemented).

use std::fmt::Write;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

use clap::Parser;

use crate::conn::ConnInfo;
use crate::control::{Request, DEFAULT_SOCKET};
use crate::service::{ForwardMethod, ServiceInfo, MAX_WEIGHT};

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
    /// Add a real server to a virtual service.
    #[arg(short = 'a', long = "add-server")]
    add_server: bool,
    /// List the table.
    #[arg(short = 'L', long = "list", visible_short_alias = 'l')]
    list: bool,
    /// Numeric output (the only kind vsnicadm has).
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
    /// With -L: list connections.
    #[arg(short = 'c', long = "connection")]
    connection: bool,
    /// TCP virtual service VIP:PORT.
    #[arg(short = 't', long = "tcp-service", value_name = "VIP:PORT")]
    tcp_service: Option<String>,
    /// Scheduler (rr).
    #[arg(short = 's', long = "scheduler", value_name = "SCHEDULER")]
    scheduler: Option<String>,
    /// Real server RIP[:PORT].
    #[arg(short = 'r', long = "real-server", value_name = "RIP[:PORT]")]
    real_server: Option<String>,
    /// Masquerading (NAT).
    #[arg(short = 'm', long = "masquerading")]
    masquerading: bool,
    /// Direct routing (ipvsadm's default; not supported by vsnic yet).
    #[arg(short = 'g', long = "gatewaying")]
    gatewaying: bool,
    /// IP-in-IP tunnelling (not supported by vsnic yet).
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
    /// The daemon's control socket.
    #[arg(long = "socket", value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Request(Request),
    /// `-L`: list services (`connections`: `-c`, list connections instead).
    List {
        connections: bool,
    },
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
    let bad = || usage(format!("illegal {what} address[:port] specified"));
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

/// Parse `vsnicadm` arguments (`args[0]` is the program name).
pub fn parse<I, T>(args: I) -> Result<Command, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let a = Args::try_parse_from(args).map_err(CliError::Clap)?;
    let commands = [a.add_service, a.add_server, a.list]
        .iter()
        .filter(|&&c| c)
        .count();
    if commands != 1 {
        return Err(usage("exactly one command of -A, -a or -L is required"));
    }
    let methods = [a.masquerading, a.gatewaying, a.ipip]
        .iter()
        .filter(|&&m| m)
        .count();
    if methods > 1 {
        return Err(usage(
            "only one forwarding method of -m, -g or -i may be given",
        ));
    }
    let action = if a.list {
        if a.tcp_service.is_some()
            || a.real_server.is_some()
            || a.scheduler.is_some()
            || a.weight.is_some()
            || methods > 0
        {
            return Err(usage("illegal option with the list command"));
        }
        Action::List {
            connections: a.connection,
        }
    } else {
        if a.connection {
            return Err(usage("option -c is only valid with -L"));
        }
        let svc = a
            .tcp_service
            .as_deref()
            .ok_or_else(|| usage("no service specified: -t VIP:PORT is required"))?;
        let vip = parse_addr(svc, None, "virtual server")?;
        if a.add_service {
            if a.real_server.is_some() || a.weight.is_some() || methods > 0 {
                return Err(usage(
                    "illegal option with the add-service command (-r, -w, -m, -g, -i)",
                ));
            }
            Action::Request(Request::AddService {
                vip: *vip.ip(),
                port: vip.port(),
                scheduler: a.scheduler.unwrap_or_else(|| "rr".into()),
            })
        } else {
            if a.scheduler.is_some() {
                return Err(usage("illegal option with the add-server command (-s)"));
            }
            let rs = a
                .real_server
                .as_deref()
                .ok_or_else(|| usage("no real server specified: -r RIP[:PORT] is required"))?;
            let real = parse_addr(rs, Some(vip.port()), "real server")?;
            let weight = match a.weight.as_deref() {
                None => 1,
                Some(w) => w
                    .parse::<u32>()
                    .ok()
                    .filter(|w| *w <= MAX_WEIGHT)
                    .ok_or_else(|| usage(format!("illegal weight specified (0..{MAX_WEIGHT})")))?,
            };
            let method = if a.masquerading {
                ForwardMethod::Masq
            } else if a.ipip {
                ForwardMethod::Tunnel
            } else {
                ForwardMethod::Route
            };
            Action::Request(Request::AddReal {
                vip: *vip.ip(),
                port: vip.port(),
                rip: *real.ip(),
                rport: real.port(),
                weight,
                method,
            })
        }
    };
    Ok(Command {
        socket: a.socket,
        action,
    })
}

/// `-L -n` in ipvsadm's layout.
pub fn format_services(table_size: u32, services: &[ServiceInfo]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "IP Virtual Server version 1.2.1 (size={table_size})");
    let _ = writeln!(o, "Prot LocalAddress:Port Scheduler Flags");
    let _ = writeln!(
        o,
        "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
    );
    for s in services {
        let _ = writeln!(o, "TCP  {} {}", s.vip, s.scheduler.name());
        for r in &s.reals {
            let line = format!(
                "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                r.addr.to_string(),
                r.method.column(),
                r.weight,
                r.active_conns,
                r.inactive_conns
            );
            let _ = writeln!(o, "{}", line.trim_end());
        }
    }
    o
}

/// `-L -n -c` in ipvsadm's layout. vsnic does not track TCP state or expiry on the host yet:
/// the state column says the connection is offloaded to the NIC.
pub fn format_connections(conns: &[ConnInfo]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "IPVS connection entries");
    let _ = writeln!(
        o,
        "pro expire state       source             virtual            destination"
    );
    for c in conns {
        let line = format!(
            "TCP 00:00  {:<11} {:<18} {:<18} {}",
            "OFFLOADED",
            c.client.to_string(),
            c.vip.to_string(),
            c.real
        );
        let _ = writeln!(o, "{line}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{RealServer, Scheduler};

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

    #[test]
    fn good_arguments() {
        let c = ok(&["-A", "-t", "10.0.0.100:80", "-s", "rr"]);
        assert_eq!(c.socket, PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(
            c.action,
            Action::Request(Request::AddService {
                vip: [10, 0, 0, 100].into(),
                port: 80,
                scheduler: "rr".into()
            })
        );
        let c = ok(&["-A", "-t", "10.0.0.100:80", "--socket", "/tmp/x.sock"]);
        assert_eq!(c.socket, PathBuf::from("/tmp/x.sock"));
        assert!(
            matches!(c.action, Action::Request(Request::AddService { ref scheduler, .. }) if scheduler == "rr")
        );

        let c = ok(&[
            "-a",
            "-t",
            "10.0.0.100:80",
            "-r",
            "10.1.0.2:8080",
            "-m",
            "-w",
            "3",
        ]);
        assert_eq!(
            c.action,
            Action::Request(Request::AddReal {
                vip: [10, 0, 0, 100].into(),
                port: 80,
                rip: [10, 1, 0, 2].into(),
                rport: 8080,
                weight: 3,
                method: ForwardMethod::Masq,
            })
        );
        // ipvsadm defaults: real port = service port, weight 1, direct routing
        let c = ok(&["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.2"]);
        assert!(matches!(
            c.action,
            Action::Request(Request::AddReal {
                rport: 80,
                weight: 1,
                method: ForwardMethod::Route,
                ..
            })
        ));
        let c = ok(&[
            "-a",
            "-t",
            "10.0.0.100:80",
            "-r",
            "10.1.0.2:80",
            "-w",
            "0",
            "-m",
        ]);
        assert!(matches!(
            c.action,
            Action::Request(Request::AddReal { weight: 0, .. })
        ));
        assert!(matches!(
            ok(&["-a", "-t", "1.2.3.4:1", "-r", "1.2.3.5", "-i"]).action,
            Action::Request(Request::AddReal {
                method: ForwardMethod::Tunnel,
                ..
            })
        ));
        assert_eq!(
            ok(&["-L", "-n"]).action,
            Action::List { connections: false }
        );
        assert_eq!(ok(&["-Ln"]).action, Action::List { connections: false });
        assert_eq!(
            ok(&["-L", "-n", "-c"]).action,
            Action::List { connections: true }
        );
        assert_eq!(ok(&["-Lnc"]).action, Action::List { connections: true });
        assert_eq!(
            ok(&["--list", "--numeric"]).action,
            Action::List { connections: false }
        );
    }

    #[test]
    fn bad_arguments() {
        assert!(usage_err(&["-A"]).contains("-t VIP:PORT is required"));
        assert!(usage_err(&["-a", "-r", "10.1.0.2:80"]).contains("no service specified"));
        assert!(
            usage_err(&["-A", "-t", "10.0.0.300:80"]).contains("illegal virtual server address")
        );
        assert!(usage_err(&["-A", "-t", "10.0.0.1"]).contains("illegal virtual server address"));
        assert!(usage_err(&["-A", "-t", "10.0.0.1:0"]).contains("illegal virtual server address"));
        assert!(
            usage_err(&["-A", "-t", "10.0.0.1:99999"]).contains("illegal virtual server address")
        );
        assert!(usage_err(&["-A", "-t", "host:80"]).contains("illegal virtual server address"));
        assert!(usage_err(&["-a", "-t", "10.0.0.1:80"]).contains("no real server"));
        assert!(usage_err(&["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.x"])
            .contains("illegal real server address"));
        for w in ["65536", "-1", "x", ""] {
            let m = usage_err(&["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.2", "-m", "-w", w]);
            assert!(m.contains("illegal weight"), "{w}: {m}");
        }
        assert!(
            usage_err(&["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.2", "-m", "-g"])
                .contains("only one forwarding")
        );
        assert!(
            usage_err(&["-A", "-t", "10.0.0.1:80", "-r", "10.1.0.2"]).contains("illegal option")
        );
        assert!(
            usage_err(&["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.2", "-s", "rr"])
                .contains("illegal option")
        );
        assert!(usage_err(&["-L", "-t", "10.0.0.1:80"]).contains("illegal option"));
        assert!(usage_err(&["-n"]).contains("exactly one command"));
        assert!(usage_err(&["-A", "-L", "-t", "10.0.0.1:80"]).contains("exactly one command"));
        assert!(usage_err(&["-A", "-c", "-t", "10.0.0.1:80"]).contains("-c"));
        // unknown flags and missing values are clap's (exit code 2 too)
        for args in [&["-Z"][..], &["-A", "-t"], &["-L", "extra"]] {
            match parse(std::iter::once("vsnicadm").chain(args.iter().copied())) {
                Err(CliError::Clap(e)) => assert_eq!(e.exit_code(), 2, "{args:?}"),
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn list_layout_matches_ipvsadm() {
        let services = vec![ServiceInfo {
            vip: "10.0.0.100:80".parse().unwrap(),
            scheduler: Scheduler::Rr,
            reals: vec![RealServer {
                addr: "10.1.0.2:80".parse().unwrap(),
                weight: 1,
                method: ForwardMethod::Masq,
                active_conns: 0,
                inactive_conns: 0,
            }],
        }];
        assert_eq!(
            format_services(4096, &services),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.0.100:80 rr\n\
             \x20 -> 10.1.0.2:80                  Masq    1      0          0\n"
        );
        let conns = vec![ConnInfo {
            client: "10.0.0.2:40000".parse().unwrap(),
            vip: "10.0.0.100:80".parse().unwrap(),
            real: "10.1.0.2:80".parse().unwrap(),
            in_bucket: 1,
            out_bucket: 2,
        }];
        assert_eq!(
            format_connections(&conns),
            "IPVS connection entries\n\
             pro expire state       source             virtual            destination\n\
             TCP 00:00  OFFLOADED   10.0.0.2:40000     10.0.0.100:80      10.1.0.2:80\n"
        );
    }
}
