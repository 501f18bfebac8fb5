//! What to attach to a port, as written on a command line or in a config file:
//!
//! | spec | attachment |
//! |---|---|
//! | `tap:NAME` | the TAP device NAME (opened, or created if absent) — [`crate::tap`] |
//! | `pcap:IN.pcap,OUT.pcap` | replay IN onto the port, write what the NIC sends to OUT — [`crate::pcap`] |
//! | `pcap:IN.pcap` / `pcap:,OUT.pcap` | replay only / capture only |
//! | `server:ADDR/PREFIX[,gw=GW][,port=P][,bytes=N][,mac=M]` | an in-process smoltcp host with a bulk server on TCP port P (default 80) answering N bytes (default 1 MiB) — [`crate::endpoint`] |
//!
//! A port may have several attachments (e.g. a TAP and a capture of what the NIC sent on it).

use crate::attach::{Attachment, EndpointAttachment};
use crate::endpoint::{self, Host};
use crate::pcap::PcapAttachment;
use crate::runner::Waker;
use crate::tap::TapAttachment;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    Tap {
        name: String,
    },
    Pcap {
        input: Option<PathBuf>,
        output: Option<PathBuf>,
    },
    Server {
        mac: [u8; 6],
        addr: Ipv4Addr,
        prefix: u8,
        gateway: Option<Ipv4Addr>,
        port: u16,
        bytes: usize,
    },
}

/// `PORT=SPEC`, as given to `vsnicd --port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAttachment {
    pub port: usize,
    pub spec: PortSpec,
}

impl FromStr for PortAttachment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (p, spec) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: expected PORT=SPEC, e.g. 0=tap:vs0"))?;
        let port = p
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: `{p}` is not a port number"))?;
        Ok(PortAttachment {
            port,
            spec: spec.parse()?,
        })
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

impl FromStr for PortSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, rest) = s.split_once(':').ok_or_else(|| {
            format!("`{s}`: expected tap:NAME, pcap:IN,OUT or server:ADDR/PREFIX[,...]")
        })?;
        match kind {
            "tap" => {
                let name = rest.trim();
                if name.is_empty() || name.len() > IFNAME_MAX || name.contains(['/', ' ', ':', ','])
                {
                    return Err(format!(
                        "`{s}`: a TAP name is 1..={IFNAME_MAX} characters without '/', ':', ',' or spaces"
                    ));
                }
                Ok(PortSpec::Tap { name: name.into() })
            }
            "pcap" => {
                let (i, o) = rest.split_once(',').unwrap_or((rest, ""));
                let path = |p: &str| (!p.trim().is_empty()).then(|| PathBuf::from(p.trim()));
                let (input, output) = (path(i), path(o));
                if input.is_none() && output.is_none() {
                    return Err(format!("`{s}`: give an input, an output or both"));
                }
                if input.is_some() && input == output {
                    return Err(format!("`{s}`: input and output are the same file"));
                }
                Ok(PortSpec::Pcap { input, output })
            }
            "server" => {
                let mut parts = rest.split(',');
                let cidr = parts.next().unwrap_or("");
                let (a, p) = cidr.split_once('/').ok_or_else(|| {
                    format!("`{s}`: the address needs a prefix, e.g. 10.1.0.2/24")
                })?;
                let addr: Ipv4Addr = a.parse().map_err(|_| format!("`{s}`: bad address `{a}`"))?;
                let prefix: u8 = p
                    .parse()
                    .ok()
                    .filter(|p| *p <= 32)
                    .ok_or_else(|| format!("`{s}`: bad prefix `{p}`"))?;
                let o = addr.octets();
                let mut spec = PortSpec::Server {
                    mac: [0x02, 0x53, o[0], o[1], o[2], o[3]],
                    addr,
                    prefix,
                    gateway: None,
                    port: 80,
                    bytes: 1 << 20,
                };
                let PortSpec::Server {
                    mac,
                    gateway,
                    port,
                    bytes,
                    ..
                } = &mut spec
                else {
                    unreachable!()
                };
                for kv in parts {
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| format!("`{s}`: `{kv}` is not KEY=VALUE"))?;
                    let bad = || format!("`{s}`: bad value in `{kv}`");
                    match k {
                        "gw" => *gateway = Some(v.parse().map_err(|_| bad())?),
                        "port" => *port = v.parse().map_err(|_| bad())?,
                        "bytes" => *bytes = v.parse().map_err(|_| bad())?,
                        "mac" => *mac = parse_mac(v).ok_or_else(bad)?,
                        _ => {
                            return Err(format!("`{s}`: unknown key `{k}` (gw, port, bytes, mac)"))
                        }
                    }
                }
                Ok(spec)
            }
            _ => Err(format!(
                "`{s}`: unknown attachment `{kind}` (tap, pcap, server)"
            )),
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSpec::Tap { name } => write!(f, "tap:{name}"),
            PortSpec::Pcap { input, output } => {
                let p = |x: &Option<PathBuf>| x.as_ref().map(|p| p.display().to_string());
                write!(
                    f,
                    "pcap:{},{}",
                    p(input).unwrap_or_default(),
                    p(output).unwrap_or_default()
                )
            }
            PortSpec::Server {
                mac,
                addr,
                prefix,
                gateway,
                port,
                bytes,
            } => {
                write!(f, "server:{addr}/{prefix}")?;
                if let Some(g) = gateway {
                    write!(f, ",gw={g}")?;
                }
                write!(
                    f,
                    ",port={port},bytes={bytes},mac={:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                    mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
                )
            }
        }
    }
}

/// An opened attachment, with the handles its owner may want to watch.
pub enum Opened {
    Tap(TapAttachment),
    Pcap(PcapAttachment),
    Server(Arc<Mutex<Host>>, EndpointAttachment),
}

impl Opened {
    pub fn into_attachment(self) -> Box<dyn Attachment> {
        match self {
            Opened::Tap(t) => Box::new(t),
            Opened::Pcap(p) => Box::new(p),
            Opened::Server(_, e) => Box::new(e),
        }
    }
}

impl PortSpec {
    /// Open what the spec names. `waker` (from [`crate::Simulator::waker`]) lets attachments
    /// with traffic of their own wake the simulator.
    pub fn open(&self, waker: Waker) -> Result<Opened, String> {
        Ok(match self {
            PortSpec::Tap { name } => Opened::Tap(TapAttachment::open(name, waker)?),
            PortSpec::Pcap { input, output } => {
                Opened::Pcap(PcapAttachment::open(input.as_deref(), output.as_deref())?)
            }
            PortSpec::Server {
                mac,
                addr,
                prefix,
                gateway,
                port,
                bytes,
            } => {
                let mut h = Host::new(
                    *mac,
                    *addr,
                    *prefix,
                    *gateway,
                    endpoint::Instant::from_micros(0),
                );
                h.add_server(*port, *bytes);
                let h = Arc::new(Mutex::new(h));
                Opened::Server(h.clone(), EndpointAttachment { host: h })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for s in [
            "tap:vs0",
            "pcap:in.pcap,out.pcap",
            "pcap:in.pcap,",
            "pcap:,out.pcap",
            "server:10.1.0.2/24,gw=10.1.0.1,port=8080,bytes=1000,mac=02:53:0a:01:00:02",
        ] {
            let p: PortSpec = s.parse().unwrap();
            assert_eq!(p.to_string(), s, "{p:?}");
            assert_eq!(p.to_string().parse::<PortSpec>().unwrap(), p);
        }
        assert_eq!(
            "pcap:a.pcap".parse::<PortSpec>().unwrap(),
            PortSpec::Pcap {
                input: Some("a.pcap".into()),
                output: None
            }
        );
        let a: PortAttachment = "1=tap:x".parse().unwrap();
        assert_eq!(a.port, 1);
    }

    #[test]
    fn bad_specs_are_refused_with_a_reason() {
        for s in [
            "",
            "tap",
            "tap:",
            "tap:a-very-long-name-here",
            "tap:a/b",
            "pcap:",
            "pcap:,",
            "pcap:x,x",
            "server:10.0.0.1",
            "server:10.0.0.1/33",
            "server:10.0.0.300/24",
            "server:10.0.0.1/24,gw",
            "server:10.0.0.1/24,mac=1:2:3",
            "server:10.0.0.1/24,colour=red",
            "udp:1.2.3.4",
        ] {
            let e = s.parse::<PortSpec>().unwrap_err();
            assert!(!e.is_empty(), "{s}");
        }
        assert!("tap:x".parse::<PortAttachment>().is_err());
        assert!("x=tap:x".parse::<PortAttachment>().is_err());
    }
}
