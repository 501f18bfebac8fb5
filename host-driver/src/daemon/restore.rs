//! A restarted daemon picks up where the last one stopped (or was killed): the connections the
//! NIC kept forwarding are rebuilt from the NIC's table, read back by the driver at open, and
//! completed from the state snapshot ([`crate::persist`]) where the table has no say. The NIC is
//! the authority on what exists: a snapshot record without entries is stale (the connection
//! ended, or was never installed) and dropped; entries without a snapshot record are taken as
//! established connections with a fresh timeout.
//!
//! Tunnelled connections have no entries (the host forwards them): they come back from the
//! snapshot alone, and their real servers are asked for their MACs again.
//!
//! What is rebuilt, per pair of entries (the DNAT entry client → VIP and its SNAT partner real
//! server → client, each in the bucket its key hashes to; TCP or UDP by the key's protocol),
//! and per forward entry whose key's destination is a configured service's VIP:port (a
//! direct-routing connection: one entry, the real server recorded in its NAT fields):
//! * the connection (addresses, real server, its entries, next hops) and the real server's
//!   neighbour entry — from the NIC;
//! * TCP state, expiry, isn, persistence template, FTP control link — from the snapshot;
//! * an FTP control connection's helper binding, with its sequence-delta history: the
//!   snapshot's levels reconciled with the NIC's newest level ([`appnat::restore_seq`]).
//!
//! Entries that pair with nothing (a crash between the two writes of an install), forward
//! entries of no configured service, and entries in a bucket their key does not hash to are
//! cleared: the NIC could only forward one direction of a NAT connection, and nobody would
//! expire the rest.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};
use vsnic_contract::{Action, Entry, FlowKey};

use super::Daemon;
use crate::app::seq::ConnSeqAdj;
use crate::app::ConnCtx;
use crate::appnat::{self, Expectation};
use crate::backend::NicBackend;
use crate::conn::{self, ConnKey, Connection, NicEntries, NicPair, NicRoute};
use crate::persist::{self, AppRecord, ConnRecord, ExpectRecord, Snapshot, TemplateRecord, FORMAT};
use crate::service::{ForwardMethod, Protocol};
use crate::state::TcpState;

/// What a restore found, for the log and the stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Restored {
    pub connections: u64,
    pub from_snapshot: u64,
    pub bindings: u64,
    pub orphans_cleared: u64,
    pub stale_records: u64,
}

fn sock(ip: [u8; 4], port: u16) -> std::net::SocketAddrV4 {
    std::net::SocketAddrV4::new(ip.into(), port)
}

fn ms_left(at: Instant, now: Instant) -> u64 {
    at.saturating_duration_since(now).as_millis() as u64
}

impl<B: NicBackend> Daemon<B> {
    /// Rebuild connections from the NIC table the driver read back and the snapshot at
    /// `state_file` (if configured and readable). Called once by [`Daemon::new`].
    pub(super) fn restore(&mut self) {
        let snapshot = self.load_snapshot();
        let entries: Vec<(u32, Entry)> = self.driver.entries().collect();
        if entries.is_empty() && snapshot.is_none() {
            return;
        }
        let now = Instant::now();
        let age = snapshot.as_ref().map_or(Duration::ZERO, |s| s.age());
        let left = |ms: u64| Duration::from_millis(ms).saturating_sub(age);
        let records: HashMap<ConnKey, &ConnRecord> = snapshot
            .as_ref()
            .map(|s| s.connections.iter().map(|r| (r.id, r)).collect())
            .unwrap_or_default();
        let snat: HashMap<FlowKey, (u32, Entry)> = entries
            .iter()
            .filter(|(_, e)| e.action == Action::Snat)
            .map(|(b, e)| (e.key, (*b, *e)))
            .collect();
        let geometry = self.conns.geometry();
        let hkey = *self.conns.hash_key();
        // an entry the NIC can find: in a way of its key's set
        let placed = |k: &FlowKey, b: u32| geometry.set_of_bucket(b) == geometry.set_of(k, &hkey);
        let mut r = Restored::default();
        let mut used: HashSet<u32> = HashSet::new();

        let proto_of = |n: u8| match n {
            conn::PROTO_TCP => Some(Protocol::Tcp),
            conn::PROTO_UDP => Some(Protocol::Udp),
            _ => None,
        };
        for (b, e) in entries.iter() {
            let Some(proto) = proto_of(e.key.proto) else {
                continue;
            };
            let id = ConnKey {
                proto,
                client: sock(e.key.saddr, e.key.sport),
                vip: sock(e.key.daddr, e.key.dport),
            };
            let real = sock(e.nat_addr, e.nat_port);
            let (method, nic) = match e.action {
                Action::Snat => continue, // taken with its DNAT partner
                Action::Forward => {
                    if !self.services.contains(id.service()) || !placed(&e.key, *b) {
                        continue;
                    }
                    let route = NicRoute {
                        entry: *e,
                        bucket: *b,
                    };
                    (ForwardMethod::Route, NicEntries::Route(route))
                }
                Action::Dnat => {
                    let out_key = FlowKey {
                        saddr: e.nat_addr,
                        daddr: e.key.saddr,
                        sport: e.nat_port,
                        dport: e.key.sport,
                        proto: e.key.proto,
                    };
                    let Some(&(ob, oe)) = snat.get(&out_key) else {
                        continue;
                    };
                    if sock(oe.nat_addr, oe.nat_port) != id.vip
                        || !placed(&e.key, *b)
                        || !placed(&oe.key, ob)
                    {
                        continue;
                    }
                    let pair = NicPair {
                        in_entry: *e,
                        in_bucket: *b,
                        out_entry: oe,
                        out_bucket: ob,
                    };
                    (ForwardMethod::Masq, NicEntries::Nat(pair))
                }
            };
            let direct = method == ForwardMethod::Route;
            let rec = records
                .get(&id)
                .filter(|rec| rec.real == real && (rec.method == ForwardMethod::Route) == direct)
                .copied();
            let state = match (rec, proto) {
                (Some(x), _) => x.state,
                (None, Protocol::Tcp) => TcpState::Established,
                (None, Protocol::Udp) => TcpState::None, // UDP has no state
            };
            let expires = now
                + rec.map_or_else(
                    || self.timeouts.conn(proto, state),
                    |x| left(x.expires_in_ms),
                );
            let c = Connection {
                id,
                real,
                method,
                nic: Some(nic.clone()),
                state,
                active: state.is_active(),
                expires,
                template: rec.and_then(|x| x.template),
                controller: None,
                controlled: 0,
                isn: rec.and_then(|x| x.isn),
            };
            if let Err(err) = self.conns.insert(c) {
                warn!(%err, client = %id.client, vip = %id.vip, "restore: connection not taken");
                continue;
            }
            used.extend(nic.entries().map(|(b, _)| b));
            r.connections += 1;
            if rec.is_some() {
                r.from_snapshot += 1;
            }
            self.services
                .conn_opened(id.service(), real, state.is_active());
            self.neighbours
                .entry(*real.ip())
                .or_insert(super::Neighbour {
                    mac: e.dmac,
                    port: e.egress_port,
                });
            if let NicEntries::Nat(pair) = nic {
                if e.app_bound
                    && proto == Protocol::Tcp
                    && self.rebind(id, real, pair, rec.and_then(|x| x.app.as_ref()))
                {
                    r.bindings += 1;
                }
            }
        }

        // Tunnelled connections have no entries: the snapshot is all there is of them. Their
        // real servers' MACs are asked for again now, before their next frames.
        let mut ask: Vec<std::net::Ipv4Addr> = Vec::new();
        for rec in snapshot.iter().flat_map(|s| &s.connections) {
            let ms = rec.expires_in_ms;
            if rec.method != ForwardMethod::Tunnel
                || !self.services.contains(rec.id.service())
                || left(ms).is_zero()
            {
                continue;
            }
            let c = Connection {
                id: rec.id,
                real: rec.real,
                method: ForwardMethod::Tunnel,
                nic: None,
                state: rec.state,
                active: rec.state.is_active(),
                expires: now + left(ms),
                template: rec.template,
                controller: None,
                controlled: 0,
                isn: rec.isn,
            };
            if let Err(err) = self.conns.insert(c) {
                warn!(%err, client = %rec.id.client, vip = %rec.id.vip, "restore: tunnelled connection not taken");
                continue;
            }
            r.connections += 1;
            r.from_snapshot += 1;
            self.services
                .conn_opened(rec.id.service(), rec.real, rec.state.is_active());
            if !ask.contains(rec.real.ip()) {
                ask.push(*rec.real.ip());
            }
        }
        for ip in ask {
            if let Some(port) = self.port_for(ip) {
                self.send_arp_request(port, ip);
            }
        }

        // FTP control links, templates and expectations, between what was restored
        if let Some(s) = &snapshot {
            for rec in &s.connections {
                if let Some(ctl) = rec.controller {
                    self.conns.set_controller(&rec.id, ctl);
                }
            }
            for t in &s.templates {
                self.conns
                    .restore_template(t.key, t.real, now + left(t.expires_in_ms));
            }
            for x in &s.expectations {
                if self.conns.get(&x.controller).is_some() {
                    self.expects.push(Expectation {
                        kind: x.kind,
                        controller: x.controller,
                        expires: now + left(x.expires_in_ms),
                    });
                }
            }
            r.stale_records = s
                .connections
                .iter()
                .filter(|rec| self.conns.get(&rec.id).is_none_or(|c| c.real != rec.real))
                .count() as u64;
        }

        for (b, _) in entries.iter().filter(|(b, _)| !used.contains(b)) {
            match self.driver.clear_entry(*b) {
                Ok(()) => r.orphans_cleared += 1,
                Err(err) => {
                    self.stats.table_write_errors += 1;
                    warn!(%err, bucket = b, "restore: clearing an unpaired entry failed");
                }
            }
        }
        self.stats.connections_restored += r.connections;
        self.stats.restore_orphans_cleared += r.orphans_cleared;
        self.stats.restore_stale_records += r.stale_records;
        self.stats.app_bound += r.bindings;
        self.last_saved = Some(self.state_fingerprint());
        info!(
            connections = r.connections,
            from_snapshot = r.from_snapshot,
            bindings = r.bindings,
            orphans_cleared = r.orphans_cleared,
            stale_records = r.stale_records,
            "restored the connections the NIC kept"
        );
        self.restored = r;
    }

    /// Bind a restored connection to its helper again, with its sequence-delta history.
    fn rebind(
        &mut self,
        id: ConnKey,
        real: std::net::SocketAddrV4,
        mut nic: NicPair,
        saved: Option<&AppRecord>,
    ) -> bool {
        let ctx = ConnCtx {
            protocol: crate::app::PROTO_TCP,
            client: id.client.into(),
            vip: id.vip.into(),
            real: real.into(),
        };
        let mut b = match self.apps.bind(ctx) {
            Ok(Some(b)) => b,
            Ok(None) => {
                warn!(vip = %id.vip, "restore: no helper on this port any more; payload still goes to the host");
                return false;
            }
            Err(err) => {
                warn!(%err, "restore: helper bind refused");
                return false;
            }
        };
        let saved = saved.and_then(AppRecord::to_adj);
        let adj = ConnSeqAdj {
            in_seq: appnat::restore_seq(saved.as_ref().map(|s| &s.0), nic.in_entry.seq),
            out_seq: appnat::restore_seq(saved.as_ref().map(|s| &s.1), nic.out_entry.seq),
        };
        // the NIC's floor follows the history the host now has
        if appnat::program_deltas(&mut nic, &adj) {
            let ok = self
                .driver
                .write_entry(nic.out_bucket, &nic.out_entry)
                .and_then(|()| self.driver.write_entry(nic.in_bucket, &nic.in_entry));
            if ok.is_err() {
                self.stats.table_write_errors += 1;
            }
            if let Some(c) = self.conns.get_mut(&id) {
                c.nic = Some(NicEntries::Nat(nic));
            }
        }
        b.restore_seq(adj);
        self.bindings.insert(id, b);
        true
    }

    fn load_snapshot(&mut self) -> Option<Snapshot> {
        let path = self.cfg.state_file.clone()?;
        match Snapshot::load(&path) {
            Ok(Some(s)) if s.hash_key != self.driver.hash_key() => {
                warn!(path = %path.display(), "state snapshot is of a NIC with another flow hash key (reset since): ignored");
                None
            }
            Ok(s) => s,
            Err(err) => {
                self.stats.state_errors += 1;
                warn!(%err, "state snapshot unreadable: restoring from the NIC table alone");
                None
            }
        }
    }

    /// What the snapshot would hold now.
    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        Snapshot {
            format: FORMAT,
            written_unix_ms: persist::unix_ms(),
            hash_key: self.driver.hash_key(),
            connections: self
                .conns
                .iter()
                .map(|c| ConnRecord {
                    id: c.id,
                    real: c.real,
                    method: c.method,
                    state: c.state,
                    expires_in_ms: ms_left(c.expires, now),
                    template: c.template,
                    controller: c.controller,
                    isn: c.isn,
                    app: self.bindings.get(&c.id).map(|b| {
                        let s = b.seq_adj();
                        AppRecord::from_adj(&s.in_seq, &s.out_seq)
                    }),
                })
                .collect(),
            templates: self
                .conns
                .templates()
                .map(|(k, t)| TemplateRecord {
                    key: *k,
                    real: t.real,
                    expires_in_ms: ms_left(t.expires, now),
                })
                .collect(),
            expectations: self
                .expects
                .iter()
                .map(|x| ExpectRecord {
                    kind: x.kind,
                    controller: x.controller,
                    expires_in_ms: ms_left(x.expires, now),
                })
                .collect(),
        }
    }

    /// A cheap summary of what the snapshot holds: when it moves, the state changed. Counters
    /// of every event that adds, removes or changes a connection, template or expectation.
    fn state_fingerprint(&self) -> u64 {
        let s = &self.stats;
        [
            s.connections_created,
            s.connections_expired,
            s.connections_reused,
            s.connections_removed,
            s.state_transitions,
            s.app_delta_updates,
            s.data_expected_passive,
            s.data_expected_active,
            s.data_connections,
            s.data_expect_expired,
            s.templates_created,
            s.templates_expired,
            self.conns.len() as u64,
            self.conns.templates_len() as u64,
            self.expects.len() as u64,
        ]
        .iter()
        .fold(0u64, |h, v| {
            h.wrapping_mul(0x100_0000_01b3).wrapping_add(*v)
        })
    }

    /// Write the snapshot if the state changed since the last one and `state_interval_ms`
    /// passed (or `force`). Failures are counted and logged; the daemon goes on.
    pub fn save_state(&mut self, now: Instant, force: bool) {
        let Some(path) = self.cfg.state_file.clone() else {
            return;
        };
        let fp = self.state_fingerprint();
        if self.last_saved == Some(fp) {
            return;
        }
        let interval = Duration::from_millis(self.cfg.state_interval_ms);
        if !force && self.last_save_at.is_some_and(|t| now < t + interval) {
            return;
        }
        self.last_save_at = Some(now);
        match self.snapshot().save(&path) {
            Ok(()) => {
                self.last_saved = Some(fp);
                self.stats.state_saves += 1;
            }
            Err(err) => {
                self.stats.state_errors += 1;
                warn!(%err, "writing the state snapshot failed");
            }
        }
    }
}
