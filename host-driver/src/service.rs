//! Virtual services and their real servers, and scheduling (round robin for now).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

/// Largest real-server weight (as ipvsadm).
pub const MAX_WEIGHT: u32 = 65535;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("service TCP {0} already exists")]
    ServiceExists(SocketAddrV4),
    #[error("no service TCP {0}")]
    NoService(SocketAddrV4),
    #[error("real server {real} already exists in service TCP {service}")]
    RealExists {
        service: SocketAddrV4,
        real: SocketAddrV4,
    },
    #[error("scheduler `{0}` is not supported (supported: rr)")]
    BadScheduler(String),
    #[error("forwarding method {0} is not supported yet (only masquerading, -m)")]
    UnsupportedMethod(ForwardMethod),
    #[error("weight {0} out of range 0..={MAX_WEIGHT}")]
    BadWeight(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    /// Round robin.
    #[default]
    Rr,
}

impl Scheduler {
    pub fn parse(name: &str) -> Result<Scheduler, ServiceError> {
        match name {
            "rr" => Ok(Scheduler::Rr),
            other => Err(ServiceError::BadScheduler(other.to_string())),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
        }
    }
}

/// How packets reach a real server (ipvsadm's -m / -g / -i).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMethod {
    /// NAT (`-m`): the NIC rewrites destination and source.
    #[default]
    Masq,
    /// Direct routing (`-g`).
    Route,
    /// IP-in-IP tunnelling (`-i`).
    Tunnel,
}

impl ForwardMethod {
    /// ipvsadm's name in the Forward column.
    pub fn column(self) -> &'static str {
        match self {
            ForwardMethod::Masq => "Masq",
            ForwardMethod::Route => "Route",
            ForwardMethod::Tunnel => "Tunnel",
        }
    }
}

impl fmt::Display for ForwardMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForwardMethod::Masq => "masquerading (-m)",
            ForwardMethod::Route => "direct routing (-g)",
            ForwardMethod::Tunnel => "tunnelling (-i)",
        })
    }
}

/// A real server as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    pub addr: SocketAddrV4,
    pub weight: u32,
    pub method: ForwardMethod,
    pub active_conns: u32,
    pub inactive_conns: u32,
}

/// A virtual service (TCP VIP:port) as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub vip: SocketAddrV4,
    pub scheduler: Scheduler,
    pub reals: Vec<RealServer>,
}

#[derive(Debug, Clone)]
struct Service {
    scheduler: Scheduler,
    reals: Vec<RealServer>,
    /// Round robin: index to try first next time.
    rr_next: usize,
}

/// All virtual services, keyed by TCP VIP:port.
#[derive(Debug, Clone, Default)]
pub struct Services {
    map: BTreeMap<SocketAddrV4, Service>,
}

impl Services {
    pub fn new() -> Services {
        Services::default()
    }

    pub fn add_service(
        &mut self,
        vip: SocketAddrV4,
        scheduler: Scheduler,
    ) -> Result<(), ServiceError> {
        if self.map.contains_key(&vip) {
            return Err(ServiceError::ServiceExists(vip));
        }
        self.map.insert(
            vip,
            Service {
                scheduler,
                reals: Vec::new(),
                rr_next: 0,
            },
        );
        Ok(())
    }

    pub fn add_real(
        &mut self,
        vip: SocketAddrV4,
        real: SocketAddrV4,
        weight: u32,
        method: ForwardMethod,
    ) -> Result<(), ServiceError> {
        if method != ForwardMethod::Masq {
            return Err(ServiceError::UnsupportedMethod(method));
        }
        if weight > MAX_WEIGHT {
            return Err(ServiceError::BadWeight(weight));
        }
        let svc = self.map.get_mut(&vip).ok_or(ServiceError::NoService(vip))?;
        if svc.reals.iter().any(|r| r.addr == real) {
            return Err(ServiceError::RealExists { service: vip, real });
        }
        svc.reals.push(RealServer {
            addr: real,
            weight,
            method,
            active_conns: 0,
            inactive_conns: 0,
        });
        Ok(())
    }

    /// Whether `addr` is the VIP of any service (we answer ARP for it).
    pub fn is_vip(&self, addr: Ipv4Addr) -> bool {
        self.map.keys().any(|k| *k.ip() == addr)
    }

    pub fn contains(&self, vip: SocketAddrV4) -> bool {
        self.map.contains_key(&vip)
    }

    /// Pick a real server for a new connection to `vip`; `None` if there is no such service or
    /// every real server has weight 0.
    pub fn schedule(&mut self, vip: SocketAddrV4) -> Option<SocketAddrV4> {
        let svc = self.map.get_mut(&vip)?;
        match svc.scheduler {
            Scheduler::Rr => {
                let n = svc.reals.len();
                (0..n)
                    .map(|i| (svc.rr_next + i) % n)
                    .find(|&i| svc.reals[i].weight > 0)
                    .map(|i| {
                        svc.rr_next = (i + 1) % n;
                        svc.reals[i].addr
                    })
            }
        }
    }

    /// Account a connection to `real` of `vip` as active.
    pub fn conn_opened(&mut self, vip: SocketAddrV4, real: SocketAddrV4) {
        if let Some(r) = self
            .map
            .get_mut(&vip)
            .and_then(|s| s.reals.iter_mut().find(|r| r.addr == real))
        {
            r.active_conns = r.active_conns.saturating_add(1);
        }
    }

    pub fn list(&self) -> Vec<ServiceInfo> {
        self.map
            .iter()
            .map(|(vip, s)| ServiceInfo {
                vip: *vip,
                scheduler: s.scheduler,
                reals: s.reals.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn round_robin_in_order_and_skips_weight_zero() {
        let vip = sa("10.0.0.100:80");
        let mut s = Services::new();
        assert_eq!(s.schedule(vip), None, "no service");
        s.add_service(vip, Scheduler::Rr).unwrap();
        assert_eq!(s.schedule(vip), None, "no real servers");
        s.add_real(vip, sa("10.1.0.2:80"), 1, ForwardMethod::Masq)
            .unwrap();
        s.add_real(vip, sa("10.1.0.3:80"), 0, ForwardMethod::Masq)
            .unwrap();
        s.add_real(vip, sa("10.1.0.4:8080"), 5, ForwardMethod::Masq)
            .unwrap();
        let picks: Vec<_> = (0..5)
            .map(|_| s.schedule(vip).unwrap().to_string())
            .collect();
        assert_eq!(
            picks,
            [
                "10.1.0.2:80",
                "10.1.0.4:8080",
                "10.1.0.2:80",
                "10.1.0.4:8080",
                "10.1.0.2:80"
            ]
        );

        let vip2 = sa("10.0.0.100:443");
        s.add_service(vip2, Scheduler::parse("rr").unwrap())
            .unwrap();
        s.add_real(vip2, sa("10.1.0.2:443"), 0, ForwardMethod::Masq)
            .unwrap();
        assert_eq!(s.schedule(vip2), None, "only weight-0 servers");
    }

    #[test]
    fn bad_input_is_rejected() {
        let vip = sa("10.0.0.100:80");
        let mut s = Services::new();
        assert_eq!(
            Scheduler::parse("wlc"),
            Err(ServiceError::BadScheduler("wlc".into()))
        );
        assert_eq!(
            s.add_real(vip, sa("10.1.0.2:80"), 1, ForwardMethod::Masq),
            Err(ServiceError::NoService(vip))
        );
        s.add_service(vip, Scheduler::Rr).unwrap();
        assert_eq!(
            s.add_service(vip, Scheduler::Rr),
            Err(ServiceError::ServiceExists(vip))
        );
        let err = s
            .add_real(vip, sa("10.1.0.2:80"), 1, ForwardMethod::Route)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "forwarding method direct routing (-g) is not supported yet (only masquerading, -m)"
        );
        assert_eq!(
            s.add_real(vip, sa("10.1.0.2:80"), 65536, ForwardMethod::Masq),
            Err(ServiceError::BadWeight(65536))
        );
        s.add_real(vip, sa("10.1.0.2:80"), 65535, ForwardMethod::Masq)
            .unwrap();
        assert!(matches!(
            s.add_real(vip, sa("10.1.0.2:80"), 1, ForwardMethod::Masq),
            Err(ServiceError::RealExists { .. })
        ));
        assert!(s.is_vip(Ipv4Addr::new(10, 0, 0, 100)));
        assert!(!s.is_vip(Ipv4Addr::new(10, 1, 0, 2)));
        s.conn_opened(vip, sa("10.1.0.2:80"));
        assert_eq!(s.list()[0].reals[0].active_conns, 1);
    }
}
