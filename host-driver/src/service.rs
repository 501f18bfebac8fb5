//! Virtual services and their real servers: add / edit / delete, scheduling ([`crate::sched`]),
//! the connection counters the schedulers read, the upper/lower connection thresholds, and the
//! traffic statistics with their rate estimates (`ipvsadm --stats` / `--rate`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub use crate::sched::Scheduler;
use crate::sched::{Sched, SchedFlags, SchedInput};

/// Largest real-server weight (as ipvsadm).
pub const MAX_WEIGHT: u32 = 65535;
/// ipvsadm's default persistence timeout (`-p` without a value), seconds.
pub const DEFAULT_PERSISTENCE: u32 = 300;
/// Period of the rate estimator (IPVS estimates every 2 s).
pub const ESTIMATOR_PERIOD: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
        }
    }
    /// ipvsadm's name in listings ("TCP").
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
    /// ipvsadm's option (`-t`).
    pub fn option(self) -> &'static str {
        match self {
            Protocol::Tcp => "-t",
            Protocol::Udp => "-u",
        }
    }
}

/// A virtual service's identity: protocol and VIP:port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServiceKey {
    pub proto: Protocol,
    pub vip: SocketAddrV4,
}

impl ServiceKey {
    pub fn tcp(vip: SocketAddrV4) -> ServiceKey {
        ServiceKey {
            proto: Protocol::Tcp,
            vip,
        }
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.proto.label(), self.vip)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    #[error("Service already exists")]
    ServiceExists(ServiceKey),
    #[error("No such service")]
    NoService(ServiceKey),
    #[error("Destination already exists")]
    RealExists {
        service: ServiceKey,
        real: SocketAddrV4,
    },
    #[error("No such destination")]
    NoReal {
        service: ServiceKey,
        real: SocketAddrV4,
    },
    #[error("Scheduler not found: {0}")]
    BadScheduler(String),
    #[error("Illegal weight specified: {0} (0..{MAX_WEIGHT})")]
    BadWeight(u32),
    #[error("Illegal threshold: the lower threshold {lower} is above the upper {upper}")]
    BadThresholds { upper: u32, lower: u32 },
    #[error("Illegal netmask {0}")]
    BadNetmask(Ipv4Addr),
}

/// How packets reach a real server (ipvsadm's -m / -g / -i).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMethod {
    /// NAT (`-m`): the NIC rewrites destination and source.
    #[default]
    Masq,
    /// Direct routing (`-g`, ipvsadm's default): the NIC rewrites the MACs only; the real
    /// server answers the client directly.
    Route,
    /// IP-in-IP tunnelling (`-i`): the host encapsulates the client's packets (the NIC has no
    /// encapsulation stage, see [`crate::tunnel`]); the real server answers the client directly.
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
    /// ipvsadm's option.
    pub fn option(self) -> &'static str {
        match self {
            ForwardMethod::Masq => "-m",
            ForwardMethod::Route => "-g",
            ForwardMethod::Tunnel => "-i",
        }
    }
    /// Whether the NIC forwards connections of this method itself (see
    /// [`crate::conn::NicEntries::for_method`]); tunnelled ones are forwarded by the host.
    pub fn nic_supported(self) -> bool {
        matches!(self, ForwardMethod::Masq | ForwardMethod::Route)
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

/// Traffic counters (ipvsadm `--stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
}

/// Rates per second (ipvsadm `--rate`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

/// A moving average of the rates, sampled every [`ESTIMATOR_PERIOD`]: each sample moves the
/// average a quarter of the way (as IPVS's estimator does).
#[derive(Debug, Clone, Copy, Default)]
struct Estimator {
    last: Stats,
    /// Averages scaled by 1024 for precision.
    avg: [u64; 5],
}

impl Estimator {
    fn sample(&mut self, now: Stats, period: Duration) {
        let ms = period.as_millis().max(1) as u64;
        let deltas = [
            now.conns.saturating_sub(self.last.conns),
            now.inpkts.saturating_sub(self.last.inpkts),
            now.outpkts.saturating_sub(self.last.outpkts),
            now.inbytes.saturating_sub(self.last.inbytes),
            now.outbytes.saturating_sub(self.last.outbytes),
        ];
        for (avg, d) in self.avg.iter_mut().zip(deltas) {
            let rate = d.saturating_mul(1024 * 1000) / ms;
            *avg = if rate >= *avg {
                *avg + (rate - *avg) / 4
            } else {
                *avg - (*avg - rate) / 4
            };
        }
        self.last = now;
    }
    fn rates(&self) -> Rates {
        let r = |i: usize| (self.avg[i] + 512) / 1024;
        Rates {
            cps: r(0),
            inpps: r(1),
            outpps: r(2),
            inbps: r(3),
            outbps: r(4),
        }
    }
}

/// A real server as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealServer {
    pub addr: SocketAddrV4,
    pub weight: u32,
    pub method: ForwardMethod,
    /// Upper connection threshold (0: none): at or above it the server takes no new connections.
    #[serde(default)]
    pub u_threshold: u32,
    /// Lower threshold: below it an overloaded server takes connections again (0: 3/4 of upper).
    #[serde(default)]
    pub l_threshold: u32,
    pub active_conns: u32,
    pub inactive_conns: u32,
    /// Persistence templates pointing at this server.
    #[serde(default)]
    pub persist_conns: u32,
    /// Over its upper threshold.
    #[serde(default)]
    pub overloaded: bool,
    #[serde(default)]
    pub stats: Stats,
    #[serde(default)]
    pub rates: Rates,
}

impl RealServer {
    pub fn new(addr: SocketAddrV4, weight: u32, method: ForwardMethod) -> RealServer {
        RealServer {
            addr,
            weight,
            method,
            u_threshold: 0,
            l_threshold: 0,
            active_conns: 0,
            inactive_conns: 0,
            persist_conns: 0,
            overloaded: false,
            stats: Stats::default(),
            rates: Rates::default(),
        }
    }

    fn total_conns(&self) -> u64 {
        self.active_conns as u64 + self.inactive_conns as u64
    }

    /// Re-evaluate the overload flag after the connection counts changed.
    fn update_overload(&mut self) {
        let total = self.total_conns();
        if self.u_threshold == 0 {
            self.overloaded = false;
        } else if total >= self.u_threshold as u64 {
            self.overloaded = true;
        } else if self.overloaded {
            let clear = if self.l_threshold != 0 {
                total < self.l_threshold as u64
            } else {
                total * 4 < self.u_threshold as u64 * 3
            };
            if clear {
                self.overloaded = false;
            }
        }
    }
}

/// What `-A`/`-E` set on a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    pub key: ServiceKey,
    #[serde(default)]
    pub scheduler: Scheduler,
    #[serde(default)]
    pub flags: SchedFlags,
    /// Persistence timeout in seconds (`-p`); none: not persistent.
    #[serde(default)]
    pub persistent: Option<u32>,
    /// Persistence granularity (`-M`); all ones unless given.
    #[serde(default = "all_ones")]
    pub netmask: Ipv4Addr,
}

fn all_ones() -> Ipv4Addr {
    Ipv4Addr::BROADCAST
}

impl ServiceSpec {
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> ServiceSpec {
        ServiceSpec {
            key,
            scheduler,
            flags: SchedFlags::default(),
            persistent: None,
            netmask: all_ones(),
        }
    }
}

/// What `-a`/`-e` set on a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealSpec {
    pub addr: SocketAddrV4,
    pub weight: u32,
    pub method: ForwardMethod,
    #[serde(default)]
    pub u_threshold: u32,
    #[serde(default)]
    pub l_threshold: u32,
}

impl RealSpec {
    fn check(&self) -> Result<(), ServiceError> {
        if self.weight > MAX_WEIGHT {
            return Err(ServiceError::BadWeight(self.weight));
        }
        if self.u_threshold != 0 && self.l_threshold > self.u_threshold {
            return Err(ServiceError::BadThresholds {
                upper: self.u_threshold,
                lower: self.l_threshold,
            });
        }
        Ok(())
    }
}

/// A virtual service as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    pub proto: Protocol,
    pub vip: SocketAddrV4,
    pub scheduler: Scheduler,
    #[serde(default)]
    pub flags: SchedFlags,
    #[serde(default)]
    pub persistent: Option<u32>,
    #[serde(default = "all_ones")]
    pub netmask: Ipv4Addr,
    pub reals: Vec<RealServer>,
    #[serde(default)]
    pub stats: Stats,
    #[serde(default)]
    pub rates: Rates,
}

impl ServiceInfo {
    pub fn key(&self) -> ServiceKey {
        ServiceKey {
            proto: self.proto,
            vip: self.vip,
        }
    }
}

#[derive(Debug, Clone)]
struct Service {
    spec: ServiceSpec,
    sched: Sched,
    reals: Vec<RealServer>,
    stats: Stats,
    est: Estimator,
    real_est: Vec<Estimator>,
}

impl Service {
    fn real_mut(&mut self, addr: SocketAddrV4) -> Option<&mut RealServer> {
        self.reals.iter_mut().find(|r| r.addr == addr)
    }
}

/// The result of scheduling a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub real: SocketAddrV4,
    pub method: ForwardMethod,
}

/// All virtual services.
#[derive(Debug, Clone, Default)]
pub struct Services {
    map: BTreeMap<ServiceKey, Service>,
    last_estimate: Option<Instant>,
}

impl Services {
    pub fn new() -> Services {
        Services::default()
    }

    pub fn add_service(&mut self, spec: ServiceSpec) -> Result<(), ServiceError> {
        if self.map.contains_key(&spec.key) {
            return Err(ServiceError::ServiceExists(spec.key));
        }
        check_netmask(spec.netmask)?;
        let sched = Sched::new(spec.scheduler, spec.flags, &[]);
        self.map.insert(
            spec.key,
            Service {
                spec,
                sched,
                reals: Vec::new(),
                stats: Stats::default(),
                est: Estimator::default(),
                real_est: Vec::new(),
            },
        );
        Ok(())
    }

    /// `-E`: change scheduler, flags, persistence. The scheduler's state restarts when it changes.
    pub fn edit_service(&mut self, spec: ServiceSpec) -> Result<(), ServiceError> {
        check_netmask(spec.netmask)?;
        let svc = self
            .map
            .get_mut(&spec.key)
            .ok_or(ServiceError::NoService(spec.key))?;
        if svc.spec.scheduler != spec.scheduler || svc.spec.flags != spec.flags {
            svc.sched = Sched::new(spec.scheduler, spec.flags, &svc.reals);
        }
        svc.spec = spec;
        Ok(())
    }

    pub fn del_service(&mut self, key: ServiceKey) -> Result<(), ServiceError> {
        self.map
            .remove(&key)
            .map(drop)
            .ok_or(ServiceError::NoService(key))
    }

    /// `-C`.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    pub fn add_real(&mut self, key: ServiceKey, spec: RealSpec) -> Result<(), ServiceError> {
        spec.check()?;
        let svc = self.map.get_mut(&key).ok_or(ServiceError::NoService(key))?;
        if svc.reals.iter().any(|r| r.addr == spec.addr) {
            return Err(ServiceError::RealExists {
                service: key,
                real: spec.addr,
            });
        }
        let mut r = RealServer::new(spec.addr, spec.weight, spec.method);
        r.u_threshold = spec.u_threshold;
        r.l_threshold = spec.l_threshold;
        svc.reals.push(r);
        svc.real_est.push(Estimator::default());
        svc.sched.reals_changed(&svc.reals);
        Ok(())
    }

    /// `-e`: change weight, method and thresholds; connection counts stay.
    pub fn edit_real(&mut self, key: ServiceKey, spec: RealSpec) -> Result<(), ServiceError> {
        spec.check()?;
        let svc = self.map.get_mut(&key).ok_or(ServiceError::NoService(key))?;
        let r = svc.real_mut(spec.addr).ok_or(ServiceError::NoReal {
            service: key,
            real: spec.addr,
        })?;
        r.weight = spec.weight;
        r.method = spec.method;
        r.u_threshold = spec.u_threshold;
        r.l_threshold = spec.l_threshold;
        r.update_overload();
        svc.sched.reals_changed(&svc.reals);
        Ok(())
    }

    /// `-d`. Existing connections to it are the caller's business.
    pub fn del_real(&mut self, key: ServiceKey, addr: SocketAddrV4) -> Result<(), ServiceError> {
        let svc = self.map.get_mut(&key).ok_or(ServiceError::NoService(key))?;
        let i = svc
            .reals
            .iter()
            .position(|r| r.addr == addr)
            .ok_or(ServiceError::NoReal {
                service: key,
                real: addr,
            })?;
        svc.reals.remove(i);
        svc.real_est.remove(i);
        svc.sched.reals_changed(&svc.reals);
        Ok(())
    }

    /// Whether `addr` is the VIP of any service (we answer ARP for it).
    pub fn is_vip(&self, addr: Ipv4Addr) -> bool {
        self.map.keys().any(|k| *k.vip.ip() == addr)
    }

    pub fn contains(&self, key: ServiceKey) -> bool {
        self.map.contains_key(&key)
    }

    pub fn spec(&self, key: ServiceKey) -> Option<&ServiceSpec> {
        self.map.get(&key).map(|s| &s.spec)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The real server `addr` of `key`, if both exist.
    pub fn real(&self, key: ServiceKey, addr: SocketAddrV4) -> Option<&RealServer> {
        self.map
            .get(&key)
            .and_then(|s| s.reals.iter().find(|r| r.addr == addr))
    }

    /// Pick a real server for a new connection from `client` to service `key`; `None` if there
    /// is no such service or no server is available.
    pub fn schedule(
        &mut self,
        key: ServiceKey,
        client: SocketAddrV4,
        now: Instant,
    ) -> Option<Pick> {
        let svc = self.map.get_mut(&key)?;
        let input = SchedInput {
            client,
            dest: key.vip,
            now,
        };
        let i = svc.sched.pick(&svc.reals, &input)?;
        let r = &svc.reals[i];
        Some(Pick {
            real: r.addr,
            method: r.method,
        })
    }

    /// Account a new connection to `real` (active; counted in the service's and server's stats).
    pub fn conn_opened(&mut self, key: ServiceKey, real: SocketAddrV4, active: bool) {
        if let Some(svc) = self.map.get_mut(&key) {
            svc.stats.conns += 1;
            if let Some(r) = svc.real_mut(real) {
                r.stats.conns += 1;
                if active {
                    r.active_conns = r.active_conns.saturating_add(1);
                } else {
                    r.inactive_conns = r.inactive_conns.saturating_add(1);
                }
                r.update_overload();
            }
        }
    }

    /// A connection moved between active and inactive.
    pub fn conn_activity(&mut self, key: ServiceKey, real: SocketAddrV4, now_active: bool) {
        if let Some(r) = self.map.get_mut(&key).and_then(|s| s.real_mut(real)) {
            if now_active {
                r.inactive_conns = r.inactive_conns.saturating_sub(1);
                r.active_conns = r.active_conns.saturating_add(1);
            } else {
                r.active_conns = r.active_conns.saturating_sub(1);
                r.inactive_conns = r.inactive_conns.saturating_add(1);
            }
            r.update_overload();
        }
    }

    /// A connection to `real` ended.
    pub fn conn_closed(&mut self, key: ServiceKey, real: SocketAddrV4, was_active: bool) {
        if let Some(r) = self.map.get_mut(&key).and_then(|s| s.real_mut(real)) {
            if was_active {
                r.active_conns = r.active_conns.saturating_sub(1);
            } else {
                r.inactive_conns = r.inactive_conns.saturating_sub(1);
            }
            r.update_overload();
        }
    }

    /// A persistence template for `real` was created (+1) or expired (-1).
    pub fn persist_changed(&mut self, key: ServiceKey, real: SocketAddrV4, up: bool) {
        if let Some(r) = self.map.get_mut(&key).and_then(|s| s.real_mut(real)) {
            r.persist_conns = if up {
                r.persist_conns.saturating_add(1)
            } else {
                r.persist_conns.saturating_sub(1)
            };
        }
    }

    /// Traffic of one connection since the last report (from the NIC's per-entry counters).
    pub fn traffic(
        &mut self,
        key: ServiceKey,
        real: SocketAddrV4,
        in_pkts: u64,
        in_bytes: u64,
        out_pkts: u64,
        out_bytes: u64,
    ) {
        if let Some(svc) = self.map.get_mut(&key) {
            for s in [&mut svc.stats].into_iter().chain(
                svc.reals
                    .iter_mut()
                    .find(|r| r.addr == real)
                    .map(|r| &mut r.stats),
            ) {
                s.inpkts += in_pkts;
                s.inbytes += in_bytes;
                s.outpkts += out_pkts;
                s.outbytes += out_bytes;
            }
        }
    }

    /// `-Z`: zero the statistics of one service or all.
    pub fn zero(&mut self, key: Option<ServiceKey>) -> Result<(), ServiceError> {
        let zero = |s: &mut Service| {
            s.stats = Stats::default();
            s.est = Estimator::default();
            for r in &mut s.reals {
                r.stats = Stats::default();
                r.rates = Rates::default();
            }
            s.real_est
                .iter_mut()
                .for_each(|e| *e = Estimator::default());
        };
        match key {
            Some(k) => zero(self.map.get_mut(&k).ok_or(ServiceError::NoService(k))?),
            None => self.map.values_mut().for_each(zero),
        }
        Ok(())
    }

    /// Run the rate estimator if a period has passed.
    pub fn estimate(&mut self, now: Instant) {
        let Some(last) = self.last_estimate else {
            self.last_estimate = Some(now);
            return;
        };
        let period = now.saturating_duration_since(last);
        if period < ESTIMATOR_PERIOD {
            return;
        }
        self.last_estimate = Some(now);
        for svc in self.map.values_mut() {
            svc.est.sample(svc.stats, period);
            for (r, e) in svc.reals.iter_mut().zip(svc.real_est.iter_mut()) {
                e.sample(r.stats, period);
                r.rates = e.rates();
            }
        }
    }

    pub fn list(&self) -> Vec<ServiceInfo> {
        self.map
            .values()
            .map(|s| ServiceInfo {
                proto: s.spec.key.proto,
                vip: s.spec.key.vip,
                scheduler: s.spec.scheduler,
                flags: s.spec.flags,
                persistent: s.spec.persistent,
                netmask: s.spec.netmask,
                reals: s.reals.clone(),
                stats: s.stats,
                rates: s.est.rates(),
            })
            .collect()
    }
}

fn check_netmask(m: Ipv4Addr) -> Result<(), ServiceError> {
    let v = u32::from(m);
    if v.leading_ones() + v.trailing_zeros() == 32 && v != 0 {
        Ok(())
    } else {
        Err(ServiceError::BadNetmask(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    fn rs(addr: &str, weight: u32) -> RealSpec {
        RealSpec {
            addr: sa(addr),
            weight,
            method: ForwardMethod::Masq,
            u_threshold: 0,
            l_threshold: 0,
        }
    }

    #[test]
    fn add_edit_delete() {
        let key = ServiceKey::tcp(sa("10.0.0.100:80"));
        let now = Instant::now();
        let c = sa("10.0.0.2:1000");
        let mut s = Services::new();
        assert_eq!(s.schedule(key, c, now), None, "no service");
        s.add_service(ServiceSpec::new(key, Scheduler::Rr)).unwrap();
        assert_eq!(
            s.add_service(ServiceSpec::new(key, Scheduler::Rr)),
            Err(ServiceError::ServiceExists(key))
        );
        let udp = ServiceKey {
            proto: Protocol::Udp,
            vip: key.vip,
        };
        s.add_service(ServiceSpec::new(udp, Scheduler::Wlc))
            .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.schedule(key, c, now), None, "no real servers");
        s.add_real(key, rs("10.1.0.2:80", 1)).unwrap();
        s.add_real(key, rs("10.1.0.3:80", 0)).unwrap();
        s.add_real(key, rs("10.1.0.4:8080", 5)).unwrap();
        assert!(matches!(
            s.add_real(key, rs("10.1.0.2:80", 1)),
            Err(ServiceError::RealExists { .. })
        ));
        let picks: Vec<_> = (0..4)
            .map(|_| s.schedule(key, c, now).unwrap().real.to_string())
            .collect();
        assert_eq!(
            picks,
            [
                "10.1.0.2:80",
                "10.1.0.4:8080",
                "10.1.0.2:80",
                "10.1.0.4:8080"
            ]
        );
        // edit: quiesce one, wake another, switch the scheduler
        s.edit_real(key, rs("10.1.0.2:80", 0)).unwrap();
        s.edit_real(key, rs("10.1.0.3:80", 1)).unwrap();
        let mut spec = ServiceSpec::new(key, Scheduler::Wrr);
        spec.persistent = Some(60);
        s.edit_service(spec.clone()).unwrap();
        assert_eq!(s.spec(key), Some(&spec));
        let picks: Vec<_> = (0..6)
            .map(|_| s.schedule(key, c, now).unwrap().real.to_string())
            .collect();
        assert_eq!(picks.iter().filter(|p| *p == "10.1.0.3:80").count(), 1);
        assert_eq!(picks.iter().filter(|p| *p == "10.1.0.4:8080").count(), 5);
        assert!(matches!(
            s.edit_real(key, rs("10.9.9.9:80", 1)),
            Err(ServiceError::NoReal { .. })
        ));
        s.del_real(key, sa("10.1.0.4:8080")).unwrap();
        assert!(s.del_real(key, sa("10.1.0.4:8080")).is_err());
        assert_eq!(s.list()[0].reals.len(), 2);
        s.del_service(udp).unwrap();
        assert_eq!(s.del_service(udp), Err(ServiceError::NoService(udp)));
        assert!(s.is_vip(Ipv4Addr::new(10, 0, 0, 100)));
        s.clear();
        assert!(s.is_empty() && !s.is_vip(Ipv4Addr::new(10, 0, 0, 100)));
    }

    #[test]
    fn bad_input_is_rejected() {
        let key = ServiceKey::tcp(sa("10.0.0.100:80"));
        let mut s = Services::new();
        assert_eq!(
            s.add_real(key, rs("10.1.0.2:80", 1)),
            Err(ServiceError::NoService(key))
        );
        let mut spec = ServiceSpec::new(key, Scheduler::Rr);
        spec.netmask = Ipv4Addr::new(255, 0, 255, 0);
        assert!(s.add_service(spec).is_err());
        s.add_service(ServiceSpec::new(key, Scheduler::Rr)).unwrap();
        assert_eq!(
            s.add_real(key, rs("10.1.0.2:80", 65536)),
            Err(ServiceError::BadWeight(65536))
        );
        let mut r = rs("10.1.0.2:80", 1);
        r.u_threshold = 5;
        r.l_threshold = 6;
        assert!(matches!(
            s.add_real(key, r),
            Err(ServiceError::BadThresholds { .. })
        ));
        // DR and tunnel real servers are stored
        let mut r = rs("10.1.0.2:80", 1);
        r.method = ForwardMethod::Route;
        s.add_real(key, r).unwrap();
        assert_eq!(s.list()[0].reals[0].method, ForwardMethod::Route);
        assert_eq!(ServiceError::NoService(key).to_string(), "No such service");
    }

    #[test]
    fn thresholds_overload_and_recover() {
        let key = ServiceKey::tcp(sa("10.0.0.100:80"));
        let now = Instant::now();
        let c = sa("10.0.0.2:1000");
        let mut s = Services::new();
        s.add_service(ServiceSpec::new(key, Scheduler::Rr)).unwrap();
        let mut r = rs("10.1.0.2:80", 1);
        r.u_threshold = 4;
        s.add_real(key, r).unwrap();
        let a = r.addr;
        for _ in 0..4 {
            assert_eq!(s.schedule(key, c, now).map(|p| p.real), Some(a));
            s.conn_opened(key, a, true);
        }
        assert!(s.real(key, a).unwrap().overloaded);
        assert_eq!(s.schedule(key, c, now), None);
        // no lower threshold: back below 3/4 of the upper (total 2: 8 < 12)
        s.conn_closed(key, a, true);
        assert!(s.real(key, a).unwrap().overloaded, "3 is not below 3");
        s.conn_closed(key, a, true);
        assert!(!s.real(key, a).unwrap().overloaded);
        // with a lower threshold of 2: cleared below 2
        r.l_threshold = 2;
        s.edit_real(key, r).unwrap();
        s.conn_opened(key, a, true);
        s.conn_opened(key, a, false);
        assert!(s.real(key, a).unwrap().overloaded);
        s.conn_activity(key, a, false);
        assert_eq!(s.real(key, a).unwrap().inactive_conns, 2);
        s.conn_closed(key, a, false);
        s.conn_closed(key, a, false);
        assert!(s.real(key, a).unwrap().overloaded, "2 is not below 2");
        s.conn_closed(key, a, true);
        assert!(!s.real(key, a).unwrap().overloaded);
        assert_eq!(s.real(key, a).unwrap().active_conns, 1);
    }

    #[test]
    fn stats_rates_and_zero() {
        let key = ServiceKey::tcp(sa("10.0.0.100:80"));
        let mut s = Services::new();
        s.add_service(ServiceSpec::new(key, Scheduler::Rr)).unwrap();
        s.add_real(key, rs("10.1.0.2:80", 1)).unwrap();
        let a = sa("10.1.0.2:80");
        let t0 = Instant::now();
        s.estimate(t0);
        for k in 1..=40u64 {
            for _ in 0..100 {
                s.conn_opened(key, a, true);
            }
            s.traffic(key, a, 1000, 64_000, 500, 1_000_000);
            s.estimate(t0 + ESTIMATOR_PERIOD * k as u32);
        }
        let l = &s.list()[0];
        assert_eq!(l.stats.conns, 4000);
        assert_eq!(l.reals[0].stats.inpkts, 40_000);
        assert_eq!(l.rates.cps, 50, "100 per 2 s");
        assert!((499_900..=500_000).contains(&l.reals[0].rates.outbps));
        s.zero(Some(key)).unwrap();
        let l = &s.list()[0];
        assert_eq!(
            (l.stats, l.reals[0].stats),
            (Stats::default(), Stats::default())
        );
        assert_eq!(
            l.reals[0].active_conns, 4000,
            "zero keeps the connection counts"
        );
    }
}
