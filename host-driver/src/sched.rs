//! The IPVS schedulers: which real server gets a new connection.
//!
//! Each scheduler sees the service's real servers as a slice of [`RealServer`] (weight, active
//! and inactive connection counts, the threshold overload flag) and returns an index into it.
//! A server is *available* when its weight is above 0 (0 = quiescent: keeps its connections,
//! gets no new ones) and it is not over its upper connection threshold. The semantics follow
//! IPVS (see `shared/notes/ipvs-ftp-behaviour.md` §5); the code is ours:
//!
//! | name | picks |
//! |---|---|
//! | rr | the next available server in turn |
//! | wrr | in turn, each server as often as its weight (interleaved, gcd-stepped) |
//! | lc | least `active*256 + inactive` |
//! | wlc | least overhead / weight (IPVS's default) |
//! | sed | least `(active+1) / weight` |
//! | nq | an idle server (no active connections) if any, else sed |
//! | fo | the highest weight |
//! | ovf | the highest weight whose active connections are still below its weight |
//! | sh / dh | a static 256-bucket hash of the source / destination address (weighted buckets) |
//! | mh | Maglev consistent hashing of the source address |
//! | lblc | the server last used for this destination address unless it is overloaded, else wlc |
//! | lblcr | least loaded of a per-destination server set; the set grows on overload, shrinks when stale |
//! | twos | two weighted random picks, the less loaded of the two |
//!
//! `sh`/`mh` honour the service's scheduler flags: `*-port` hashes the source port too,
//! `*-fallback` moves on to another server when the hashed one is unavailable (without it the
//! connection is refused, as IPVS does).

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::service::RealServer;

/// The scheduling algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scheduler {
    Rr,
    Wrr,
    Lc,
    /// IPVS's default.
    #[default]
    Wlc,
    Sh,
    Dh,
    Mh,
    Sed,
    Nq,
    Lblc,
    Lblcr,
    Fo,
    Ovf,
    Twos,
}

/// Every scheduler, in the order of the table above.
pub const ALL: [Scheduler; 14] = [
    Scheduler::Rr,
    Scheduler::Wrr,
    Scheduler::Lc,
    Scheduler::Wlc,
    Scheduler::Sed,
    Scheduler::Nq,
    Scheduler::Fo,
    Scheduler::Ovf,
    Scheduler::Sh,
    Scheduler::Dh,
    Scheduler::Mh,
    Scheduler::Lblc,
    Scheduler::Lblcr,
    Scheduler::Twos,
];

impl Scheduler {
    pub fn parse(name: &str) -> Option<Scheduler> {
        ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Sh => "sh",
            Scheduler::Dh => "dh",
            Scheduler::Mh => "mh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Twos => "twos",
        }
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// ipvsadm's `-b` flags (IPVS's SCHED1 = fallback, SCHED2 = port; named per scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SchedFlags {
    #[serde(default)]
    pub fallback: bool,
    #[serde(default)]
    pub port: bool,
}

impl SchedFlags {
    /// Parse `sh-fallback,sh-port` (or the `mh-` names; `flag-1`/`flag-2` also work).
    pub fn parse(s: &str) -> Option<SchedFlags> {
        let mut f = SchedFlags::default();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "sh-fallback" | "mh-fallback" | "flag-1" => f.fallback = true,
                "sh-port" | "mh-port" | "flag-2" => f.port = true,
                _ => return None,
            }
        }
        Some(f)
    }

    /// The flags as ipvsadm names them for `sched` (empty when none).
    pub fn names(self, sched: Scheduler) -> String {
        let prefix = match sched {
            Scheduler::Mh => "mh",
            Scheduler::Sh => "sh",
            _ => "flag",
        };
        let mut v = Vec::new();
        if self.fallback {
            v.push(if prefix == "flag" {
                "flag-1".to_string()
            } else {
                format!("{prefix}-fallback")
            });
        }
        if self.port {
            v.push(if prefix == "flag" {
                "flag-2".to_string()
            } else {
                format!("{prefix}-port")
            });
        }
        v.join(",")
    }
}

/// What the scheduler knows about the new connection.
#[derive(Debug, Clone, Copy)]
pub struct SchedInput {
    pub client: SocketAddrV4,
    /// The packet's destination (the VIP:port).
    pub dest: SocketAddrV4,
    pub now: Instant,
}

/// Buckets of the sh/dh table (IPVS's default size).
pub const HASH_BUCKETS: usize = 256;
/// Size of the Maglev table (a prime, IPVS's default).
pub const MH_TABLE: usize = 4093;
/// lblc/lblcr entries unused for this long are forgotten.
pub const LBLC_EXPIRE: Duration = Duration::from_secs(24 * 3600);
/// An lblcr server set not changed for this long loses its most loaded member.
pub const LBLCR_TRIM: Duration = Duration::from_secs(6 * 60);

/// One service's scheduler with its state.
#[derive(Debug, Clone)]
pub struct Sched {
    kind: Scheduler,
    flags: SchedFlags,
    rr_next: usize,
    wrr: Wrr,
    /// sh/dh: bucket → server address.
    buckets: Vec<SocketAddrV4>,
    /// mh: slot → server address.
    maglev: Vec<SocketAddrV4>,
    lblc: HashMap<Ipv4Addr, (SocketAddrV4, Instant)>,
    lblcr: HashMap<Ipv4Addr, LblcrSet>,
    rng: u64,
}

#[derive(Debug, Clone, Default)]
struct Wrr {
    /// Last index served (None: start of a round).
    last: Option<usize>,
    cw: u32,
}

#[derive(Debug, Clone)]
struct LblcrSet {
    members: Vec<SocketAddrV4>,
    modified: Instant,
    used: Instant,
}

fn available(r: &RealServer) -> bool {
    r.weight > 0 && !r.overloaded
}

/// IPVS's connection overhead: active connections weigh 256 times an inactive one.
fn overhead(r: &RealServer) -> u64 {
    r.active_conns as u64 * 256 + r.inactive_conns as u64
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// A 32-bit integer hash (multiply by the golden-ratio constant, then fold).
fn hash32(x: u32) -> u32 {
    let h = x.wrapping_mul(0x9E37_79B1);
    h ^ h >> 16
}

fn addr_hash(a: SocketAddrV4, with_port: bool) -> u32 {
    let ip = u32::from(*a.ip());
    let key = if with_port {
        ip ^ (a.port() as u32).rotate_left(16) ^ a.port() as u32
    } else {
        ip
    };
    hash32(key)
}

/// The `i`-th least loaded by `overhead/weight` (wlc) of `reals` that pass `ok`.
fn least_weighted(
    reals: &[RealServer],
    ok: impl Fn(&RealServer) -> bool,
    cost: impl Fn(&RealServer) -> u64,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, r) in reals.iter().enumerate() {
        if !ok(r) {
            continue;
        }
        best = match best {
            None => Some(i),
            // cost(r)/w(r) < cost(b)/w(b)  ⇔  cost(r)*w(b) < cost(b)*w(r)
            Some(b) => {
                let rb = &reals[b];
                if (cost(r) as u128 * rb.weight as u128) < cost(rb) as u128 * r.weight as u128 {
                    Some(i)
                } else {
                    Some(b)
                }
            }
        };
    }
    best
}

fn wlc(reals: &[RealServer]) -> Option<usize> {
    least_weighted(reals, available, overhead)
}

/// lblc/lblcr's overload test: more active connections than its weight while another server is
/// below half its weight.
fn lb_overloaded(r: &RealServer, reals: &[RealServer]) -> bool {
    r.active_conns > r.weight
        && reals
            .iter()
            .any(|d| available(d) && (d.active_conns as u64) * 2 < d.weight as u64)
}

impl Sched {
    pub fn new(kind: Scheduler, flags: SchedFlags, reals: &[RealServer]) -> Sched {
        let mut s = Sched {
            kind,
            flags,
            rr_next: 0,
            wrr: Wrr::default(),
            buckets: Vec::new(),
            maglev: Vec::new(),
            lblc: HashMap::new(),
            lblcr: HashMap::new(),
            rng: 0x2545_F491_4F6C_DD1D,
        };
        s.reals_changed(reals);
        s
    }

    pub fn kind(&self) -> Scheduler {
        self.kind
    }

    pub fn flags(&self) -> SchedFlags {
        self.flags
    }

    /// Seed twos' random choices (tests).
    pub fn seed(&mut self, seed: u64) {
        self.rng = seed | 1;
    }

    /// Rebuild what depends on the server list (call after adding, editing or removing one).
    pub fn reals_changed(&mut self, reals: &[RealServer]) {
        self.wrr = Wrr::default();
        if self.rr_next >= reals.len() {
            self.rr_next = 0;
        }
        match self.kind {
            Scheduler::Sh | Scheduler::Dh => self.build_buckets(reals),
            Scheduler::Mh => self.build_maglev(reals),
            _ => {}
        }
        self.lblc
            .retain(|_, (a, _)| reals.iter().any(|r| r.addr == *a));
        for set in self.lblcr.values_mut() {
            set.members.retain(|a| reals.iter().any(|r| r.addr == *a));
        }
    }

    /// sh/dh: fill the buckets round robin, each server taking `weight` consecutive buckets per
    /// turn (at least one).
    fn build_buckets(&mut self, reals: &[RealServer]) {
        self.buckets.clear();
        if reals.is_empty() {
            return;
        }
        let (mut i, mut taken) = (0, 0u32);
        while self.buckets.len() < HASH_BUCKETS {
            let r = &reals[i];
            self.buckets.push(r.addr);
            taken += 1;
            if taken >= r.weight.max(1) {
                taken = 0;
                i = (i + 1) % reals.len();
            }
        }
    }

    /// mh: Maglev population. Each server has a permutation of the slots (offset and skip from
    /// two hashes of its address); servers take turns claiming their next free slot, a server
    /// taking `weight / gcd` turns per round. Weight-0 servers get no slots.
    fn build_maglev(&mut self, reals: &[RealServer]) {
        self.maglev.clear();
        let live: Vec<&RealServer> = reals.iter().filter(|r| r.weight > 0).collect();
        if live.is_empty() {
            return;
        }
        let g = live.iter().fold(0, |g, r| gcd(g, r.weight));
        let m = MH_TABLE;
        let mut table: Vec<Option<usize>> = vec![None; m];
        let perm: Vec<(usize, usize)> = live
            .iter()
            .map(|r| {
                let h = addr_hash(r.addr, true);
                let offset = h as usize % m;
                let skip = hash32(h ^ 0x5bd1_e995) as usize % (m - 1) + 1;
                (offset, skip)
            })
            .collect();
        let mut next = vec![0usize; live.len()];
        let mut filled = 0;
        'fill: loop {
            for (i, r) in live.iter().enumerate() {
                for _ in 0..(r.weight / g) {
                    let (offset, skip) = perm[i];
                    let mut slot = (offset + next[i] * skip) % m;
                    while table[slot].is_some() {
                        next[i] += 1;
                        slot = (offset + next[i] * skip) % m;
                    }
                    table[slot] = Some(i);
                    next[i] += 1;
                    filled += 1;
                    if filled == m {
                        break 'fill;
                    }
                }
            }
        }
        self.maglev = table
            .into_iter()
            .map(|s| live[s.unwrap_or(0)].addr)
            .collect();
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Pick a real server for a new connection; `None` when none is available.
    pub fn pick(&mut self, reals: &[RealServer], input: &SchedInput) -> Option<usize> {
        if reals.is_empty() {
            return None;
        }
        match self.kind {
            Scheduler::Rr => {
                let n = reals.len();
                let i = (0..n)
                    .map(|k| (self.rr_next + k) % n)
                    .find(|&i| available(&reals[i]))?;
                self.rr_next = (i + 1) % n;
                Some(i)
            }
            Scheduler::Wrr => self.wrr(reals),
            // lc ignores weights (beyond 0 = unavailable): plain least overhead, first on ties.
            Scheduler::Lc => reals
                .iter()
                .enumerate()
                .filter(|(_, r)| available(r))
                .min_by_key(|(_, r)| overhead(r))
                .map(|(i, _)| i),
            Scheduler::Wlc => wlc(reals),
            Scheduler::Sed => least_weighted(reals, available, |r| r.active_conns as u64 + 1),
            Scheduler::Nq => reals
                .iter()
                .position(|r| available(r) && r.active_conns == 0)
                .or_else(|| least_weighted(reals, available, |r| r.active_conns as u64 + 1)),
            Scheduler::Fo => {
                let mut best: Option<usize> = None;
                for (i, r) in reals.iter().enumerate() {
                    if available(r) && best.is_none_or(|b| r.weight > reals[b].weight) {
                        best = Some(i);
                    }
                }
                best
            }
            Scheduler::Ovf => {
                let mut best: Option<usize> = None;
                for (i, r) in reals.iter().enumerate() {
                    if available(r)
                        && r.active_conns < r.weight
                        && best.is_none_or(|b| r.weight > reals[b].weight)
                    {
                        best = Some(i);
                    }
                }
                best
            }
            Scheduler::Sh => {
                let h = addr_hash(input.client, self.flags.port);
                self.hashed(reals, &self.buckets, h)
            }
            Scheduler::Dh => {
                let h = addr_hash(input.dest, false);
                self.hashed(reals, &self.buckets, h)
            }
            Scheduler::Mh => {
                let h = addr_hash(input.client, self.flags.port);
                self.hashed(reals, &self.maglev, h)
            }
            Scheduler::Lblc => self.lblc(reals, input),
            Scheduler::Lblcr => self.lblcr(reals, input),
            Scheduler::Twos => self.twos(reals),
        }
    }

    fn wrr(&mut self, reals: &[RealServer]) -> Option<usize> {
        let n = reals.len();
        let max = reals.iter().map(|r| r.weight).max().unwrap_or(0);
        if max == 0 {
            return None;
        }
        let g = reals.iter().fold(0, |g, r| gcd(g, r.weight));
        // One full cycle visits every (index, step) pair once; stop after it.
        let limit = n * (max / g) as usize + n;
        let mut i = self.wrr.last;
        for _ in 0..limit {
            let next = match i {
                Some(k) if k + 1 < n => k + 1,
                _ => {
                    // a new pass: lower the bar by one step, wrapping to the top
                    self.wrr.cw = if self.wrr.cw <= g {
                        max
                    } else {
                        self.wrr.cw - g
                    };
                    0
                }
            };
            i = Some(next);
            let r = &reals[next];
            if available(r) && r.weight >= self.wrr.cw {
                self.wrr.last = Some(next);
                return Some(next);
            }
        }
        self.wrr.last = i;
        None
    }

    /// sh/dh/mh: the server of the hashed slot; with the fallback flag, the next slots in turn.
    fn hashed(&self, reals: &[RealServer], table: &[SocketAddrV4], h: u32) -> Option<usize> {
        if table.is_empty() {
            return None;
        }
        let find = |a: SocketAddrV4| reals.iter().position(|r| r.addr == a);
        let first = h as usize % table.len();
        let tries = if self.flags.fallback { table.len() } else { 1 };
        (0..tries)
            .map(|k| table[(first + k) % table.len()])
            .filter_map(find)
            .find(|&i| available(&reals[i]))
    }

    fn lblc(&mut self, reals: &[RealServer], input: &SchedInput) -> Option<usize> {
        let key = *input.dest.ip();
        if let Some(&(addr, used)) = self.lblc.get(&key) {
            if input.now.saturating_duration_since(used) < LBLC_EXPIRE {
                if let Some(i) = reals.iter().position(|r| r.addr == addr) {
                    if available(&reals[i]) && !lb_overloaded(&reals[i], reals) {
                        self.lblc.insert(key, (addr, input.now));
                        return Some(i);
                    }
                }
            }
        }
        let i = wlc(reals)?;
        self.lblc.insert(key, (reals[i].addr, input.now));
        Some(i)
    }

    fn lblcr(&mut self, reals: &[RealServer], input: &SchedInput) -> Option<usize> {
        let key = *input.dest.ip();
        let now = input.now;
        let index = |a: &SocketAddrV4| reals.iter().position(|r| r.addr == *a);
        if let Some(set) = self.lblcr.get_mut(&key) {
            if now.saturating_duration_since(set.used) >= LBLC_EXPIRE {
                set.members.clear();
            }
            set.used = now;
            // trim: a set unchanged for a while loses its most loaded member
            if set.members.len() > 1 && now.saturating_duration_since(set.modified) >= LBLCR_TRIM {
                let worst = set
                    .members
                    .iter()
                    .enumerate()
                    .filter_map(|(k, a)| index(a).map(|i| (k, &reals[i])))
                    .max_by(|(_, a), (_, b)| {
                        (overhead(a) * b.weight.max(1) as u64)
                            .cmp(&(overhead(b) * a.weight.max(1) as u64))
                    })
                    .map(|(k, _)| k);
                if let Some(k) = worst {
                    set.members.remove(k);
                    set.modified = now;
                }
            }
            let members: Vec<usize> = set.members.iter().filter_map(index).collect();
            let best = least_weighted(
                reals,
                |r| available(r) && members.iter().any(|&m| reals[m].addr == r.addr),
                overhead,
            );
            if let Some(i) = best {
                if !lb_overloaded(&reals[i], reals) {
                    return Some(i);
                }
            }
        }
        let i = wlc(reals)?;
        let set = self.lblcr.entry(key).or_insert_with(|| LblcrSet {
            members: Vec::new(),
            modified: now,
            used: now,
        });
        if !set.members.contains(&reals[i].addr) {
            set.members.push(reals[i].addr);
            set.modified = now;
        }
        Some(i)
    }

    /// twos: two picks at random, each with probability proportional to weight; the one with
    /// less overhead per weight wins.
    fn twos(&mut self, reals: &[RealServer]) -> Option<usize> {
        let total: u64 = reals
            .iter()
            .filter(|r| available(r))
            .map(|r| r.weight as u64)
            .sum();
        if total == 0 {
            return None;
        }
        let draw = |s: &mut Sched| {
            let mut x = s.random() % total;
            reals
                .iter()
                .position(|r| {
                    if !available(r) {
                        return false;
                    }
                    if x < r.weight as u64 {
                        true
                    } else {
                        x -= r.weight as u64;
                        false
                    }
                })
                .unwrap_or(0)
        };
        let a = draw(self);
        let b = draw(self);
        let (ra, rb) = (&reals[a], &reals[b]);
        if (overhead(rb) as u128 * ra.weight as u128) < overhead(ra) as u128 * rb.weight as u128 {
            Some(b)
        } else {
            Some(a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::ForwardMethod;

    fn real(last: u8, weight: u32) -> RealServer {
        RealServer::new(
            SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, last), 80),
            weight,
            ForwardMethod::Masq,
        )
    }

    fn input(client: u32, port: u16) -> SchedInput {
        SchedInput {
            client: SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + client), port),
            dest: "10.0.0.100:80".parse().unwrap(),
            now: Instant::now(),
        }
    }

    /// Pick `n` times, opening a connection (active) on each pick; returns picks per server.
    fn run(kind: Scheduler, reals: &mut [RealServer], n: usize, close: bool) -> Vec<usize> {
        let mut s = Sched::new(kind, SchedFlags::default(), reals);
        s.seed(7);
        let mut counts = vec![0; reals.len()];
        for k in 0..n {
            let i = s
                .pick(reals, &input(k as u32 * 7919, 1024 + k as u16))
                .unwrap();
            counts[i] += 1;
            if !close {
                reals[i].active_conns += 1;
            }
        }
        counts
    }

    #[test]
    fn names_round_trip() {
        for s in ALL {
            assert_eq!(Scheduler::parse(s.name()), Some(s));
        }
        assert_eq!(Scheduler::parse("foo"), None);
        assert_eq!(Scheduler::default(), Scheduler::Wlc);
        let f = SchedFlags::parse("sh-fallback,sh-port").unwrap();
        assert!(f.fallback && f.port);
        assert_eq!(f.names(Scheduler::Sh), "sh-fallback,sh-port");
        assert_eq!(SchedFlags::parse("bogus"), None);
    }

    #[test]
    fn rr_takes_turns_and_skips_quiescent_and_overloaded() {
        let mut reals = vec![real(1, 1), real(2, 0), real(3, 5), real(4, 1)];
        reals[3].overloaded = true;
        let mut s = Sched::new(Scheduler::Rr, SchedFlags::default(), &reals);
        let picks: Vec<_> = (0..4)
            .map(|_| s.pick(&reals, &input(1, 1)).unwrap())
            .collect();
        assert_eq!(picks, [0, 2, 0, 2]);
        for r in &mut reals {
            r.weight = 0;
        }
        assert_eq!(s.pick(&reals, &input(1, 1)), None);
    }

    #[test]
    fn wrr_interleaves_by_weight() {
        let reals = vec![real(1, 3), real(2, 2), real(3, 1), real(4, 0)];
        let mut s = Sched::new(Scheduler::Wrr, SchedFlags::default(), &reals);
        let picks: Vec<_> = (0..12)
            .map(|_| s.pick(&reals, &input(1, 1)).unwrap())
            .collect();
        assert_eq!(picks, [0, 0, 1, 0, 1, 2, 0, 0, 1, 0, 1, 2]);
        let mut reals = vec![real(1, 100), real(2, 300)];
        let c = run(Scheduler::Wrr, &mut reals, 4000, true);
        assert_eq!(c, [1000, 3000]);
    }

    #[test]
    fn lc_and_wlc_balance_load() {
        let mut reals = vec![real(1, 1), real(2, 1), real(3, 1)];
        reals[0].active_conns = 10;
        let c = run(Scheduler::Lc, &mut reals, 50, false);
        // the loaded server gets nothing until the others catch up
        assert_eq!(c, [10, 20, 20]);
        assert!(reals.iter().all(|r| r.active_conns == 20));
        // wlc: load follows weight 1:2:3 (ties go to the first server)
        let mut reals = vec![real(1, 1), real(2, 2), real(3, 3)];
        let c = run(Scheduler::Wlc, &mut reals, 600, false);
        assert_eq!(c, [100, 200, 300]);
        // inactive connections count 1/256 of an active one
        let mut reals = vec![real(1, 1), real(2, 1)];
        reals[0].inactive_conns = 255;
        reals[1].active_conns = 1;
        let mut s = Sched::new(Scheduler::Wlc, SchedFlags::default(), &reals);
        assert_eq!(s.pick(&reals, &input(1, 1)), Some(0));
        reals[0].inactive_conns = 257;
        assert_eq!(s.pick(&reals, &input(1, 1)), Some(1));
    }

    #[test]
    fn sed_and_nq() {
        // sed: (active+1)/weight. With weights 1 and 3 and nobody connected, the first pick goes
        // to the heavier server (1/3 < 1/1), unlike wlc which would pick the first.
        let mut reals = vec![real(1, 1), real(2, 3)];
        let mut s = Sched::new(Scheduler::Sed, SchedFlags::default(), &reals);
        assert_eq!(s.pick(&reals, &input(1, 1)), Some(1));
        let c = run(Scheduler::Sed, &mut reals, 400, false);
        assert_eq!(c, [100, 300]);
        // nq: an idle server first, whatever the weights
        let mut reals = vec![real(1, 1), real(2, 3), real(3, 1)];
        reals[1].active_conns = 1;
        reals[0].active_conns = 1;
        let mut s = Sched::new(Scheduler::Nq, SchedFlags::default(), &reals);
        assert_eq!(s.pick(&reals, &input(1, 1)), Some(2));
        reals[2].active_conns = 1;
        assert_eq!(s.pick(&reals, &input(1, 1)), Some(1), "then sed");
    }

    #[test]
    fn fo_and_ovf() {
        let mut reals = vec![real(1, 5), real(2, 10), real(3, 10), real(4, 1)];
        let c = run(Scheduler::Fo, &mut reals.clone(), 100, false);
        assert_eq!(c, [0, 100, 0, 0], "first of the highest weight, always");
        reals[1].weight = 0;
        let c = run(Scheduler::Fo, &mut reals.clone(), 10, false);
        assert_eq!(c, [0, 0, 10, 0], "fails over");
        // ovf: fill the heaviest up to its weight, then the next
        let mut reals = vec![real(1, 5), real(2, 10), real(3, 2)];
        let mut s = Sched::new(Scheduler::Ovf, SchedFlags::default(), &reals);
        let mut c = [0; 3];
        for _ in 0..17 {
            let i = s.pick(&reals, &input(1, 1)).unwrap();
            c[i] += 1;
            reals[i].active_conns += 1;
        }
        assert_eq!(c, [5, 10, 2]);
        assert_eq!(s.pick(&reals, &input(1, 1)), None, "all full");
    }

    #[test]
    fn sh_is_sticky_weighted_and_falls_back_only_when_asked() {
        let mut reals = vec![real(1, 1), real(2, 3)];
        let mut s = Sched::new(Scheduler::Sh, SchedFlags::default(), &reals);
        let mut c = [0; 2];
        for k in 0..20_000u32 {
            let inp = input(k.wrapping_mul(2_654_435_761) >> 8, 1);
            let i = s.pick(&reals, &inp).unwrap();
            assert_eq!(s.pick(&reals, &inp), Some(i), "same source, same server");
            let other_port = SchedInput {
                client: SocketAddrV4::new(*inp.client.ip(), 9),
                ..inp
            };
            assert_eq!(s.pick(&reals, &other_port), Some(i), "port not hashed");
            c[i] += 1;
        }
        let share = c[1] as f64 / 20_000.0;
        assert!((0.70..0.80).contains(&share), "{c:?}");
        // the hashed server going quiescent: refused, or moved with sh-fallback
        let inp = (0..)
            .map(|k| input(k, 1))
            .find(|i| s.pick(&reals, i) == Some(0))
            .unwrap();
        reals[0].weight = 0;
        s.reals_changed(&reals);
        assert_eq!(s.pick(&reals, &inp), None);
        let mut f = Sched::new(
            Scheduler::Sh,
            SchedFlags {
                fallback: true,
                port: false,
            },
            &reals,
        );
        assert_eq!(f.pick(&reals, &inp), Some(1));
    }

    #[test]
    fn dh_hashes_the_destination() {
        let reals = vec![real(1, 1), real(2, 1), real(3, 1)];
        let mut s = Sched::new(Scheduler::Dh, SchedFlags::default(), &reals);
        let first = s.pick(&reals, &input(1, 1)).unwrap();
        for k in 0..100 {
            assert_eq!(s.pick(&reals, &input(k, k as u16)), Some(first));
        }
        let mut c = [0; 3];
        for d in 0..3000u32 {
            let inp = SchedInput {
                dest: SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + d * 977), 80),
                ..input(1, 1)
            };
            c[s.pick(&reals, &inp).unwrap()] += 1;
        }
        assert!(c.iter().all(|&n| n > 700), "{c:?}");
    }

    #[test]
    fn mh_is_balanced_and_consistent() {
        let reals: Vec<_> = (1..=5).map(|i| real(i, 1)).collect();
        let mut s = Sched::new(Scheduler::Mh, SchedFlags::default(), &reals);
        let slots = |s: &Sched, a: SocketAddrV4| s.maglev.iter().filter(|x| **x == a).count();
        for r in &reals {
            let n = slots(&s, r.addr);
            assert!((MH_TABLE / 5 - 2..=MH_TABLE / 5 + 2).contains(&n), "{n}");
        }
        let before: Vec<_> = (0..5000)
            .map(|k| s.pick(&reals, &input(k * 13, 1)).unwrap())
            .collect();
        // removing one server moves (almost) only its own clients
        let fewer: Vec<_> = reals[..4].to_vec();
        let mut s2 = Sched::new(Scheduler::Mh, SchedFlags::default(), &fewer);
        let mut moved = 0;
        for (k, b) in before.iter().enumerate() {
            let a = s2.pick(&fewer, &input(k as u32 * 13, 1)).unwrap();
            if *b != 4 && a != *b {
                moved += 1;
            }
        }
        assert!(moved < 250, "{moved} of ~4000 unaffected clients moved");
        // weights: 1:3
        let reals = vec![real(1, 1), real(2, 3)];
        let s = Sched::new(Scheduler::Mh, SchedFlags::default(), &reals);
        let share = slots(&s, reals[1].addr) as f64 / MH_TABLE as f64;
        assert!((0.74..0.76).contains(&share), "{share}");
    }

    #[test]
    fn lblc_sticks_per_destination_until_overloaded() {
        let mut reals = vec![real(1, 2), real(2, 2)];
        let mut s = Sched::new(Scheduler::Lblc, SchedFlags::default(), &reals);
        let inp = input(1, 1);
        let first = s.pick(&reals, &inp).unwrap();
        reals[first].active_conns = 2;
        assert_eq!(
            s.pick(&reals, &inp),
            Some(first),
            "at its weight: still sticky"
        );
        reals[first].active_conns = 3; // over its weight, and the other one is idle
        let other = 1 - first;
        assert_eq!(s.pick(&reals, &inp), Some(other));
        assert_eq!(
            s.pick(&reals, &inp),
            Some(other),
            "now sticks to the new one"
        );
        // stale entries are forgotten
        let later = SchedInput {
            now: inp.now + LBLC_EXPIRE,
            ..inp
        };
        reals[first].active_conns = 0;
        reals[other].active_conns = 1;
        assert_eq!(s.pick(&reals, &later), Some(first), "wlc again");
    }

    #[test]
    fn lblcr_grows_and_trims_its_set() {
        let mut reals = vec![real(1, 1), real(2, 1), real(3, 1)];
        let mut s = Sched::new(Scheduler::Lblcr, SchedFlags::default(), &reals);
        let inp = input(1, 1);
        assert_eq!(s.pick(&reals, &inp), Some(0));
        reals[0].active_conns = 2; // overloaded (2 > 1) while others idle → grow the set
        assert_eq!(s.pick(&reals, &inp), Some(1));
        let key = *inp.dest.ip();
        assert_eq!(s.lblcr[&key].members.len(), 2);
        reals[1].active_conns = 1;
        assert_eq!(s.pick(&reals, &inp), Some(1), "least loaded of the set");
        let later = SchedInput {
            now: inp.now + LBLCR_TRIM,
            ..inp
        };
        assert_eq!(s.pick(&reals, &later), Some(1));
        assert_eq!(
            s.lblcr[&key].members,
            vec![reals[1].addr],
            "loaded one trimmed"
        );
    }

    #[test]
    fn twos_follows_weights_and_load() {
        let mut reals = vec![real(1, 1), real(2, 1), real(3, 2)];
        let c = run(Scheduler::Twos, &mut reals, 4000, false);
        // with load feedback the result tracks the weights closely
        for (n, w) in c.iter().zip([1000.0, 1000.0, 2000.0]) {
            assert!((*n as f64 - w).abs() < 0.1 * w, "{c:?}");
        }
        let mut reals = vec![real(1, 0), real(2, 1)];
        assert_eq!(run(Scheduler::Twos, &mut reals, 50, true), [0, 50]);
    }

    #[test]
    fn every_scheduler_refuses_when_nothing_is_available() {
        for kind in ALL {
            let mut reals = vec![real(1, 0), real(2, 3)];
            reals[1].overloaded = true;
            let mut s = Sched::new(
                kind,
                SchedFlags {
                    fallback: true,
                    port: false,
                },
                &reals,
            );
            assert_eq!(s.pick(&reals, &input(1, 1)), None, "{kind}");
            assert_eq!(s.pick(&[], &input(1, 1)), None, "{kind}");
        }
    }
}
