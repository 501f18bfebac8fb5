//! The host's connection table: the source of truth. The NIC table is a cache of it.
//!
//! Where an entry may go in the NIC is decided by the table's geometry
//! ([`vsnic_contract::hash::Geometry`]): a key hashes to one set, and the NIC compares every way
//! of that set in one lookup. [`placement`] names the preferred bucket (the way the hash's high
//! bits pick); the host keeps a shadow of which connection owns each bucket and
//! [`ConnTable::assign`] moves an entry to another free way of its set when that one is taken.
//! A connection is refused only when every way of a set it needs is full — never by
//! overwriting a live connection. A direct-mapped table is the one-way case.
//!
//! Each connection carries its TCP state and expiry time; persistence templates (`-p`) live
//! here too, keyed by the client's network (`-M`) and the service.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use vsnic_contract::hash::{self, Geometry, HashKey};
use vsnic_contract::{Action, Entry, FlowKey};

use crate::net::Mac;
use crate::service::{ForwardMethod, Protocol, ServiceKey};
use crate::state::TcpState;

/// Maps keyed by what clients choose (addresses, ports): a fast hash with a per-process random
/// seed (foldhash), so keys cannot be picked to collide in bulk.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// TCP's protocol number.
pub const PROTO_TCP: u8 = 6;
/// UDP's protocol number.
pub const PROTO_UDP: u8 = 17;

/// The preferred NIC bucket of a flow key, in a table of `2^table_index_bits` buckets whose flow hash key
/// is `hash_key` (the driver's [`crate::driver::Driver::hash_key`]).
pub fn placement(key: &FlowKey, table_index_bits: u32, hash_key: &HashKey) -> u32 {
    hash::bucket_keyed(key, table_index_bits, hash_key)
}

/// One side of a connection on the NIC: the port, our MAC on it and the next hop's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    pub port: u8,
    pub our_mac: Mac,
    pub next_hop_mac: Mac,
}

/// The two NIC entries of a NAT connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicPair {
    /// client → VIP: DNAT to the real server, out of the server-side port.
    pub in_entry: Entry,
    pub in_bucket: u32,
    /// real server → client: SNAT to the VIP, out of the client-side port.
    pub out_entry: Entry,
    pub out_bucket: u32,
}

/// The one NIC entry of a direct-routing connection: client → VIP, MACs rewritten only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicRoute {
    pub entry: Entry,
    pub bucket: u32,
}

/// A connection's entries in the NIC, as its forwarding method needs them. Which entries a
/// method needs is decided in one place, [`NicEntries::for_method`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NicEntries {
    /// Masquerading (`-m`): DNAT client → VIP and SNAT real server → client.
    Nat(NicPair),
    /// Direct routing (`-g`): client → VIP forwarded with the MACs rewritten; the real server
    /// answers the client directly (VIP as its source), so there is no return entry.
    Route(NicRoute),
}

fn key(src: SocketAddrV4, dst: SocketAddrV4, proto: u8) -> FlowKey {
    FlowKey {
        saddr: src.ip().octets(),
        daddr: dst.ip().octets(),
        sport: src.port(),
        dport: dst.port(),
        proto,
    }
}

impl NicPair {
    /// Both entries of a NAT connection. `client_side` is where the client's frames arrive (next
    /// hop = the source MAC of its SYN), `server_side` where the real server is (next hop = its
    /// MAC, learned by ARP).
    pub fn nat(
        id: &ConnKey,
        real: SocketAddrV4,
        client_side: Side,
        server_side: Side,
        table_index_bits: u32,
        hash_key: &HashKey,
    ) -> NicPair {
        let proto = id.proto.number();
        let in_entry = Entry {
            key: key(id.client, id.vip, proto),
            valid: true,
            action: Action::Dnat,
            egress_port: server_side.port,
            nat_addr: real.ip().octets(),
            nat_port: real.port(),
            dmac: server_side.next_hop_mac,
            smac: server_side.our_mac,
            ..Entry::default()
        };
        let out_entry = Entry {
            key: key(real, id.client, proto),
            valid: true,
            action: Action::Snat,
            egress_port: client_side.port,
            nat_addr: id.vip.ip().octets(),
            nat_port: id.vip.port(),
            dmac: client_side.next_hop_mac,
            smac: client_side.our_mac,
            ..Entry::default()
        };
        NicPair {
            in_bucket: placement(&in_entry.key, table_index_bits, hash_key),
            out_bucket: placement(&out_entry.key, table_index_bits, hash_key),
            in_entry,
            out_entry,
        }
    }
}

impl NicPair {
    /// Where the client is: the out entry's egress port and MACs.
    pub fn client_side(&self) -> Side {
        Side {
            port: self.out_entry.egress_port,
            our_mac: self.out_entry.smac,
            next_hop_mac: self.out_entry.dmac,
        }
    }

    /// Where the real server is: the in entry's egress port and MACs.
    pub fn server_side(&self) -> Side {
        Side {
            port: self.in_entry.egress_port,
            our_mac: self.in_entry.smac,
            next_hop_mac: self.in_entry.dmac,
        }
    }
}

impl NicRoute {
    /// The entry of a direct-routing connection: the client's frames to the VIP leave on the
    /// real server's port with its MAC as destination, addresses and ports unchanged. The real
    /// server's address and port are recorded in the NAT fields, which a forward entry does not
    /// apply (the NIC rewrites only the MACs), so a restarted daemon can tell the real server.
    pub fn route(
        id: &ConnKey,
        real: SocketAddrV4,
        server_side: Side,
        table_index_bits: u32,
        hash_key: &HashKey,
    ) -> NicRoute {
        let entry = Entry {
            key: key(id.client, id.vip, id.proto.number()),
            valid: true,
            action: Action::Forward,
            egress_port: server_side.port,
            nat_addr: real.ip().octets(),
            nat_port: real.port(),
            dmac: server_side.next_hop_mac,
            smac: server_side.our_mac,
            ..Entry::default()
        };
        NicRoute {
            bucket: placement(&entry.key, table_index_bits, hash_key),
            entry,
        }
    }
}

impl NicEntries {
    /// The entries a connection forwarded by `method` needs, or `None` when the NIC does not
    /// forward that method (tunnelling needs IPIP encapsulation, which the host does).
    pub fn for_method(
        method: ForwardMethod,
        id: &ConnKey,
        real: SocketAddrV4,
        client_side: Side,
        server_side: Side,
        table_index_bits: u32,
        hash_key: &HashKey,
    ) -> Option<NicEntries> {
        match method {
            ForwardMethod::Masq => Some(NicEntries::Nat(NicPair::nat(
                id,
                real,
                client_side,
                server_side,
                table_index_bits,
                hash_key,
            ))),
            ForwardMethod::Route => Some(NicEntries::Route(NicRoute::route(
                id,
                real,
                server_side,
                table_index_bits,
                hash_key,
            ))),
            ForwardMethod::Tunnel => None,
        }
    }

    /// The client → VIP entry.
    pub fn in_entry(&self) -> &Entry {
        match self {
            NicEntries::Nat(p) => &p.in_entry,
            NicEntries::Route(r) => &r.entry,
        }
    }

    pub fn in_bucket(&self) -> u32 {
        match self {
            NicEntries::Nat(p) => p.in_bucket,
            NicEntries::Route(r) => r.bucket,
        }
    }

    /// The real server → client entry's bucket (NAT only).
    pub fn out_bucket(&self) -> Option<u32> {
        self.as_nat().map(|p| p.out_bucket)
    }

    /// The buckets of [`NicEntries::entries`], in the same order, to be moved to other ways.
    fn buckets_mut(&mut self) -> Vec<&mut u32> {
        match self {
            NicEntries::Nat(p) => vec![&mut p.out_bucket, &mut p.in_bucket],
            NicEntries::Route(r) => vec![&mut r.bucket],
        }
    }

    /// Every entry with its bucket, in the order they are written: the return path first, so
    /// that once the client's frames are forwarded the replies are too. Clear in reverse.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = (u32, &Entry)> {
        let (out, inb) = match self {
            NicEntries::Nat(p) => (
                Some((p.out_bucket, &p.out_entry)),
                (p.in_bucket, &p.in_entry),
            ),
            NicEntries::Route(r) => (None, (r.bucket, &r.entry)),
        };
        [out, Some(inb)].into_iter().flatten()
    }

    /// The NAT pair, if this is a NAT connection.
    pub fn as_nat(&self) -> Option<&NicPair> {
        match self {
            NicEntries::Nat(p) => Some(p),
            NicEntries::Route(_) => None,
        }
    }

    pub fn as_nat_mut(&mut self) -> Option<&mut NicPair> {
        match self {
            NicEntries::Nat(p) => Some(p),
            NicEntries::Route(_) => None,
        }
    }
}

/// A connection's identity: protocol, client and VIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ConnKey {
    pub proto: Protocol,
    pub client: SocketAddrV4,
    pub vip: SocketAddrV4,
}

impl ConnKey {
    pub fn service(&self) -> ServiceKey {
        ServiceKey {
            proto: self.proto,
            vip: self.vip,
        }
    }
}

/// One load-balanced connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: ConnKey,
    pub real: SocketAddrV4,
    pub method: ForwardMethod,
    /// Its NIC entries (none for a connection the host forwards itself).
    pub nic: Option<NicEntries>,
    pub state: TcpState,
    /// Counted as active in the real server's counters.
    pub active: bool,
    pub expires: Instant,
    /// The persistence template it was scheduled by.
    pub template: Option<TemplateKey>,
    /// The connection that announced it (an FTP control connection for a data connection).
    pub controller: Option<ConnKey>,
    /// Connections it controls that still exist; it outlives them.
    pub controlled: u32,
    /// Sequence number of the SYN that opened it (the client's; the real server's for an
    /// active-mode FTP data connection). A SYN on the same addresses with another sequence
    /// number is not a retransmission but a new connection reusing them.
    pub isn: Option<u32>,
}

/// A persistence template's identity: the client's network under the service's netmask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TemplateKey {
    pub service: ServiceKey,
    pub client_net: Ipv4Addr,
}

impl TemplateKey {
    pub fn new(service: ServiceKey, client: Ipv4Addr, netmask: Ipv4Addr) -> TemplateKey {
        TemplateKey {
            service,
            client_net: Ipv4Addr::from(u32::from(client) & u32::from(netmask)),
        }
    }
}

/// A persistence template: this client network goes to `real` while it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub real: SocketAddrV4,
    pub expires: Instant,
    /// Connections scheduled by it that still exist; it outlives them.
    pub controlled: u32,
}

/// A connection (or template) as listed (`vsnicadm -L -n -c`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    pub proto: Protocol,
    pub client: SocketAddrV4,
    pub vip: SocketAddrV4,
    pub real: SocketAddrV4,
    /// ipvsadm's state name (`NONE` for templates, `UDP` for UDP).
    pub state: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    pub in_bucket: Option<u32>,
    pub out_bucket: Option<u32>,
    #[serde(default)]
    pub template: bool,
    /// How it reaches its real server (`Masq` for a template: not meaningful there).
    #[serde(default)]
    pub method: ForwardMethod,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    #[error("connection {client} -> {vip} already exists")]
    Exists {
        client: SocketAddrV4,
        vip: SocketAddrV4,
    },
    #[error("table bucket {bucket} and the other ways of its set are taken")]
    Collision { bucket: u32 },
}

/// Whether the real server's answers to `c` come back through us with the real server as their
/// source (NAT). A direct-routing server answers the client directly, from the VIP.
fn has_return_path(c: &Connection) -> bool {
    c.method == ForwardMethod::Masq
}

/// Connections, the bucket-occupancy shadow of the NIC table, and persistence templates.
#[derive(Debug, Clone)]
pub struct ConnTable {
    index_bits: u32,
    ways_log2: u32,
    hash_key: HashKey,
    conns: FastMap<ConnKey, Connection>,
    /// (proto, real, client) → the connection, to find the return direction.
    reverse: FastMap<(Protocol, SocketAddrV4, SocketAddrV4), ConnKey>,
    /// bucket → the connection owning it (one slot per NIC table bucket).
    buckets: Vec<Option<ConnKey>>,
    templates: FastMap<TemplateKey, Template>,
    collisions: u64,
}

impl ConnTable {
    /// The table of a direct-mapped NIC.
    pub fn new(table_index_bits: u32, hash_key: HashKey) -> ConnTable {
        Self::with_geometry(Geometry::direct(table_index_bits), hash_key)
    }

    /// The table of a NIC whose buckets group into sets as `g` says.
    pub fn with_geometry(g: Geometry, hash_key: HashKey) -> ConnTable {
        let table_index_bits = g.index_bits;
        ConnTable {
            index_bits: table_index_bits,
            ways_log2: g.ways_log2,
            hash_key,
            conns: FastMap::default(),
            reverse: FastMap::default(),
            buckets: vec![None; 1usize << table_index_bits.min(24)],
            templates: FastMap::default(),
            collisions: 0,
        }
    }

    pub fn index_bits(&self) -> u32 {
        self.index_bits
    }

    /// The NIC table's sets and ways.
    pub fn geometry(&self) -> Geometry {
        Geometry::new(self.index_bits, self.ways_log2)
    }

    /// The NIC's flow hash key (entries are placed with it).
    pub fn hash_key(&self) -> &HashKey {
        &self.hash_key
    }

    pub fn get(&self, id: &ConnKey) -> Option<&Connection> {
        self.conns.get(id)
    }

    pub fn get_mut(&mut self, id: &ConnKey) -> Option<&mut Connection> {
        self.conns.get_mut(id)
    }

    /// The connection whose return traffic is `real` → `client`.
    pub fn by_reply(
        &self,
        proto: Protocol,
        real: SocketAddrV4,
        client: SocketAddrV4,
    ) -> Option<&ConnKey> {
        self.reverse.get(&(proto, real, client))
    }

    /// Who owns `bucket`, if anyone.
    pub fn bucket_owner(&self, bucket: u32) -> Option<&Connection> {
        self.slot(bucket).and_then(|k| self.conns.get(&k))
    }

    /// Connections refused because a bucket was taken.
    pub fn collisions(&self) -> u64 {
        self.collisions
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Connection> {
        self.conns.values()
    }

    pub fn keys(&self) -> Vec<ConnKey> {
        self.conns.keys().copied().collect()
    }

    fn bucket_full(&self, bucket: u32) -> bool {
        self.slot(bucket).is_some()
    }

    fn slot(&self, bucket: u32) -> Option<ConnKey> {
        self.buckets.get(bucket as usize).copied().flatten()
    }

    fn set_slot(&mut self, bucket: u32, owner: Option<ConnKey>) {
        if let Some(s) = self.buckets.get_mut(bucket as usize) {
            *s = owner;
        }
    }

    /// Whether `id` with entries `nic` could be inserted (no duplicate, its buckets free and
    /// distinct). Counts a collision when it could not.
    pub fn check(&mut self, id: &ConnKey, nic: Option<&NicEntries>) -> Result<(), ConnError> {
        if self.conns.contains_key(id) {
            return Err(ConnError::Exists {
                client: id.client,
                vip: id.vip,
            });
        }
        if let Some(n) = nic {
            let taken = n.entries().map(|(b, _)| b).find(|b| self.bucket_full(*b));
            let same = n.out_bucket() == Some(n.in_bucket());
            if let Some(bucket) = taken.or(same.then_some(n.in_bucket())) {
                self.collisions += 1;
                return Err(ConnError::Collision { bucket });
            }
        }
        Ok(())
    }

    /// Like [`ConnTable::check`], but an entry whose bucket is taken moves to the first free way
    /// of its set (the NIC finds it there: every way of a set is compared on lookup). Counts a
    /// collision when some set has no free way left.
    pub fn assign(&mut self, id: &ConnKey, nic: &mut NicEntries) -> Result<(), ConnError> {
        if self.conns.contains_key(id) {
            return Err(ConnError::Exists {
                client: id.client,
                vip: id.vip,
            });
        }
        let g = self.geometry();
        let mut chosen: Vec<u32> = Vec::with_capacity(2);
        for slot in nic.buckets_mut() {
            let preferred = *slot;
            let set = g.set_of_bucket(preferred);
            let free = std::iter::once(preferred)
                .chain((0..g.ways()).map(|w| g.bucket(set, w)))
                .find(|b| !self.bucket_full(*b) && !chosen.contains(b));
            match free {
                Some(b) => {
                    *slot = b;
                    chosen.push(b);
                }
                None => {
                    self.collisions += 1;
                    return Err(ConnError::Collision { bucket: preferred });
                }
            }
        }
        Ok(())
    }

    /// Record `c` (and its buckets).
    pub fn insert(&mut self, c: Connection) -> Result<(), ConnError> {
        self.check(&c.id, c.nic.as_ref())?;
        if let Some(n) = &c.nic {
            for (b, _) in n.entries() {
                self.set_slot(b, Some(c.id));
            }
        }
        if has_return_path(&c) {
            self.reverse.insert((c.id.proto, c.real, c.id.client), c.id);
        }
        if let Some(ctl) = c.controller.and_then(|k| self.conns.get_mut(&k)) {
            ctl.controlled += 1;
        }
        self.conns.insert(c.id, c);
        Ok(())
    }

    /// Forget a connection, freeing its buckets.
    pub fn remove(&mut self, id: &ConnKey) -> Option<Connection> {
        let c = self.conns.remove(id)?;
        if let Some(n) = &c.nic {
            for (b, _) in n.entries() {
                self.set_slot(b, None);
            }
        }
        let rkey = (c.id.proto, c.real, c.id.client);
        if self.reverse.get(&rkey) == Some(&c.id) {
            self.reverse.remove(&rkey);
        }
        if let Some(t) = c.template.and_then(|t| self.templates.get_mut(&t)) {
            t.controlled = t.controlled.saturating_sub(1);
        }
        if let Some(ctl) = c.controller.and_then(|k| self.conns.get_mut(&k)) {
            ctl.controlled = ctl.controlled.saturating_sub(1);
        }
        if c.controlled > 0 {
            // Its data connections stay; they must not count against a new connection that
            // takes the same key (a control connection whose addresses are reused).
            for d in self.conns.values_mut() {
                if d.controller == Some(c.id) {
                    d.controller = None;
                }
            }
        }
        Some(c)
    }

    /// Connections whose time is up at `now`.
    pub fn expired(&self, now: Instant) -> Vec<ConnKey> {
        self.conns
            .values()
            .filter(|c| c.expires <= now)
            .map(|c| c.id)
            .collect()
    }

    /// Every persistence template.
    pub fn templates(&self) -> impl Iterator<Item = (&TemplateKey, &Template)> {
        self.templates.iter()
    }

    /// Re-create a template after a daemon restart: it controls the connections that name it.
    pub fn restore_template(&mut self, key: TemplateKey, real: SocketAddrV4, expires: Instant) {
        let controlled = self
            .conns
            .values()
            .filter(|c| c.template == Some(key))
            .count() as u32;
        self.templates.insert(
            key,
            Template {
                real,
                expires,
                controlled,
            },
        );
    }

    /// Link data connection `id` to its control connection `ctl` (both must exist and `id`
    /// must have none yet). Returns whether it was linked.
    pub fn set_controller(&mut self, id: &ConnKey, ctl: ConnKey) -> bool {
        if id == &ctl || !self.conns.contains_key(&ctl) {
            return false;
        }
        match self.conns.get_mut(id) {
            Some(c) if c.controller.is_none() => c.controller = Some(ctl),
            _ => return false,
        }
        if let Some(c) = self.conns.get_mut(&ctl) {
            c.controlled += 1;
        }
        true
    }

    pub fn template(&self, key: &TemplateKey) -> Option<&Template> {
        self.templates.get(key)
    }

    pub fn templates_len(&self) -> usize {
        self.templates.len()
    }

    /// Use (or create) the template `key` for `real`, living `timeout` from `now`; one more
    /// connection is controlled by it. Returns whether it was created.
    pub fn use_template(
        &mut self,
        key: TemplateKey,
        real: SocketAddrV4,
        timeout: Duration,
        now: Instant,
    ) -> bool {
        let mut created = false;
        let t = self.templates.entry(key).or_insert_with(|| {
            created = true;
            Template {
                real,
                expires: now + timeout,
                controlled: 0,
            }
        });
        t.real = real;
        t.expires = now + timeout;
        t.controlled += 1;
        created
    }

    /// One connection counted by [`ConnTable::use_template`] did not materialise.
    pub fn release_template(&mut self, key: &TemplateKey) {
        if let Some(t) = self.templates.get_mut(key) {
            t.controlled = t.controlled.saturating_sub(1);
        }
    }

    /// Remove a template now (its server went away); returns it.
    pub fn drop_template(&mut self, key: &TemplateKey) -> Option<Template> {
        self.templates.remove(key)
    }

    /// Expire templates: one whose time is up goes unless it still controls connections, in
    /// which case it is re-armed for `rearm`. Returns the removed ones.
    pub fn expire_templates(
        &mut self,
        now: Instant,
        rearm: Duration,
    ) -> Vec<(TemplateKey, Template)> {
        let due: Vec<TemplateKey> = self
            .templates
            .iter()
            .filter(|(_, t)| t.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        let mut gone = Vec::new();
        for k in due {
            let t = self.templates.get_mut(&k).expect("listed above");
            if t.controlled > 0 {
                t.expires = now + rearm;
            } else if let Some(t) = self.templates.remove(&k) {
                gone.push((k, t));
            }
        }
        gone
    }

    pub fn list(&self, now: Instant) -> Vec<ConnInfo> {
        let left = |t: Instant| t.saturating_duration_since(now).as_secs();
        let mut v: Vec<_> = self
            .conns
            .values()
            .map(|c| ConnInfo {
                proto: c.id.proto,
                client: c.id.client,
                vip: c.id.vip,
                real: c.real,
                state: match c.id.proto {
                    Protocol::Tcp => c.state.name().to_string(),
                    Protocol::Udp => "UDP".to_string(),
                },
                expires_in: left(c.expires),
                in_bucket: c.nic.as_ref().map(|n| n.in_bucket()),
                out_bucket: c.nic.as_ref().and_then(|n| n.out_bucket()),
                template: false,
                method: c.method,
            })
            .chain(self.templates.iter().map(|(k, t)| ConnInfo {
                proto: k.service.proto,
                client: SocketAddrV4::new(k.client_net, 0),
                vip: k.service.vip,
                real: t.real,
                state: match k.service.proto {
                    Protocol::Tcp => "NONE".to_string(),
                    Protocol::Udp => "UDP".to_string(),
                },
                expires_in: left(t.expires),
                in_bucket: None,
                out_bucket: None,
                template: true,
                method: ForwardMethod::Masq,
            }))
            .collect();
        v.sort_by_key(|c| (c.vip, c.client, c.template));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    const CLIENT: Side = Side {
        port: 0,
        our_mac: [2, 0, 0, 0, 0, 1],
        next_hop_mac: [2, 0, 0, 0, 0, 0x10],
    };
    const SERVER: Side = Side {
        port: 1,
        our_mac: [2, 0, 0, 0, 1, 1],
        next_hop_mac: [2, 0, 0, 0, 1, 0x20],
    };

    fn id(client: SocketAddrV4, vip: SocketAddrV4) -> ConnKey {
        ConnKey {
            proto: Protocol::Tcp,
            client,
            vip,
        }
    }

    fn conn(client: SocketAddrV4, vip: SocketAddrV4, real: SocketAddrV4, bits: u32) -> Connection {
        let id = id(client, vip);
        Connection {
            id,
            real,
            method: ForwardMethod::Masq,
            nic: Some(NicEntries::Nat(NicPair::nat(
                &id,
                real,
                CLIENT,
                SERVER,
                bits,
                &hash::DEFAULT_KEY,
            ))),
            state: TcpState::SynRecv,
            active: true,
            expires: Instant::now(),
            template: None,
            controller: None,
            controlled: 0,
            isn: None,
        }
    }

    #[test]
    fn entries_and_buckets() {
        let c = conn(
            sa("10.0.0.2:40000"),
            sa("10.0.0.100:80"),
            sa("10.1.0.2:8080"),
            12,
        );
        let n = c.nic.unwrap().as_nat().unwrap().clone();
        assert_eq!(n.in_entry.key, hash::VECTORS[0].0);
        assert_eq!(n.in_bucket, hash::VECTORS[0].1 & 0xfff);
        assert_eq!(
            (
                n.in_entry.action,
                n.in_entry.egress_port,
                n.in_entry.nat_port
            ),
            (Action::Dnat, 1, 8080)
        );
        assert_eq!(
            (n.in_entry.dmac, n.in_entry.smac),
            (SERVER.next_hop_mac, SERVER.our_mac)
        );
        assert_eq!(
            n.out_entry.key,
            FlowKey {
                saddr: [10, 1, 0, 2],
                daddr: [10, 0, 0, 2],
                sport: 8080,
                dport: 40000,
                proto: 6
            }
        );
        assert_eq!(
            (
                n.out_entry.action,
                n.out_entry.egress_port,
                n.out_entry.nat_addr
            ),
            (Action::Snat, 0, [10, 0, 0, 100])
        );
        assert_eq!(
            (n.out_entry.dmac, n.out_entry.smac),
            (CLIENT.next_hop_mac, CLIENT.our_mac)
        );
        assert_eq!(
            n.out_bucket,
            placement(&n.out_entry.key, 12, &hash::DEFAULT_KEY)
        );
    }

    #[test]
    fn each_method_gets_the_entries_it_needs() {
        let id = id(sa("10.0.0.2:40000"), sa("10.0.0.100:80"));
        let real = sa("10.1.0.2:80");
        let make = |m| NicEntries::for_method(m, &id, real, CLIENT, SERVER, 12, &hash::DEFAULT_KEY);
        for m in [
            ForwardMethod::Masq,
            ForwardMethod::Route,
            ForwardMethod::Tunnel,
        ] {
            assert_eq!(make(m).is_some(), m.nic_supported(), "{m}");
        }
        let nat = make(ForwardMethod::Masq).unwrap();
        let p = nat.as_nat().unwrap();
        assert_eq!(
            nat.entries()
                .map(|(b, e)| (b, e.action))
                .collect::<Vec<_>>(),
            [(p.out_bucket, Action::Snat), (p.in_bucket, Action::Dnat)],
            "return path first"
        );
        let dr = make(ForwardMethod::Route).unwrap();
        assert!(dr.as_nat().is_none());
        assert_eq!(dr.out_bucket(), None);
        let e = *dr.in_entry();
        assert_eq!(
            e,
            Entry {
                key: hash::VECTORS[0].0,
                valid: true,
                action: Action::Forward,
                egress_port: SERVER.port,
                nat_addr: [10, 1, 0, 2],
                nat_port: 80,
                dmac: SERVER.next_hop_mac,
                smac: SERVER.our_mac,
                ..Entry::default()
            }
        );
        assert_eq!(dr.in_bucket(), hash::VECTORS[0].1 & 0xfff);
        assert_eq!(dr.entries().count(), 1);
        // a DR connection takes one bucket and has no return direction
        let mut t = ConnTable::new(12, hash::DEFAULT_KEY);
        t.insert(Connection {
            method: ForwardMethod::Route,
            nic: Some(dr.clone()),
            ..conn(id.client, id.vip, real, 12)
        })
        .unwrap();
        assert_eq!(t.bucket_owner(dr.in_bucket()).map(|c| c.id), Some(id));
        assert!(t.by_reply(Protocol::Tcp, real, id.client).is_none());
        let l = t.list(Instant::now());
        assert_eq!(
            (l[0].method, l[0].in_bucket, l[0].out_bucket),
            (ForwardMethod::Route, Some(dr.in_bucket()), None)
        );
        t.remove(&id).unwrap();
        assert!(t.bucket_owner(dr.in_bucket()).is_none());
    }

    #[test]
    fn collisions_are_refused_and_counted() {
        let mut t = ConnTable::new(4, hash::DEFAULT_KEY); // 16 buckets: collisions are easy to find
        let vip = sa("10.0.0.100:80");
        let real = sa("10.1.0.2:80");
        let mut inserted = 0;
        let mut refused = 0;
        for port in 1000..1100 {
            let c = conn(SocketAddrV4::new([10, 0, 0, 2].into(), port), vip, real, 4);
            match t.insert(c.clone()) {
                Ok(()) => inserted += 1,
                Err(ConnError::Collision { bucket }) => {
                    refused += 1;
                    let n = c.nic.as_ref().unwrap();
                    let owner = t.bucket_owner(bucket).map(|o| o.id.client);
                    assert!(owner.is_some() || Some(n.in_bucket()) == n.out_bucket());
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(inserted <= 8 && inserted > 0);
        assert_eq!(refused as u64, t.collisions());
        assert_eq!(inserted + refused, 100);
        assert_eq!(t.len(), inserted);
        let first = t.list(Instant::now())[0].clone();
        assert!(matches!(
            t.insert(conn(first.client, vip, real, 4)),
            Err(ConnError::Exists { .. })
        ));
        assert_eq!(
            t.by_reply(Protocol::Tcp, real, first.client),
            Some(&id(first.client, vip))
        );
        let gone = t.remove(&id(first.client, vip)).unwrap();
        assert!(t
            .bucket_owner(gone.nic.as_ref().unwrap().in_bucket())
            .is_none());
        assert!(t.by_reply(Protocol::Tcp, real, first.client).is_none());
        t.insert(gone).unwrap();
    }

    /// With four ways an entry whose preferred bucket is taken moves to another way of its set;
    /// a connection is refused only when a set it needs is full, and nothing is overwritten.
    #[test]
    fn set_associative_tables_fill_every_way_before_refusing() {
        let g = Geometry::new(4, 2); // 4 sets of 4 ways
        let mut t = ConnTable::with_geometry(g, hash::DEFAULT_KEY);
        let vip = sa("10.0.0.100:80");
        let real = sa("10.1.0.2:80");
        let (mut inserted, mut refused, mut moved) = (0, 0, 0);
        for port in 1000..1100 {
            let mut c = conn(SocketAddrV4::new([10, 0, 0, 2].into(), port), vip, real, 4);
            let preferred: Vec<u32> = c.nic.as_ref().unwrap().entries().map(|(b, _)| b).collect();
            let mut nic = c.nic.take().unwrap();
            match t.assign(&c.id, &mut nic) {
                Ok(()) => {
                    for ((b, e), p) in nic.entries().zip(&preferred) {
                        // the NIC finds it: a way of its key's set, free before
                        assert_eq!(g.set_of_bucket(b), g.set_of(&e.key, &hash::DEFAULT_KEY));
                        assert!(t.bucket_owner(b).is_none());
                        moved += usize::from(b != *p);
                    }
                    c.nic = Some(nic);
                    t.insert(c).unwrap();
                    inserted += 1;
                }
                Err(ConnError::Collision { .. }) => {
                    refused += 1;
                    // some set it needs has fewer free ways than it needs there
                    let free = |k: &FlowKey| {
                        g.buckets(k, &hash::DEFAULT_KEY)
                            .filter(|b| t.bucket_owner(*b).is_none())
                            .count()
                    };
                    let p = nic.as_nat().unwrap();
                    let (ki, ko) = (&p.in_entry.key, &p.out_entry.key);
                    let same = g.set_of(ki, &hash::DEFAULT_KEY) == g.set_of(ko, &hash::DEFAULT_KEY);
                    assert!(free(ki) == 0 || free(ko) == 0 || (same && free(ki) < 2));
                }
                Err(e) => panic!("{e}"),
            }
        }
        // 16 buckets, two per connection: the table fills completely or nearly
        assert!((6..=8).contains(&inserted), "{inserted} inserted");
        assert!(moved > 0, "no entry had to move to another way");
        assert_eq!(refused as u64, t.collisions());
        assert_eq!(t.len(), inserted);
        let owned = (0..16).filter(|b| t.bucket_owner(*b).is_some()).count();
        assert_eq!(owned, 2 * inserted);
        // a direct-mapped table of the same size refuses one of the same connections sooner
        let first_refusal = |mut t: ConnTable| {
            (1000..1100)
                .position(|port| {
                    let mut c = conn(SocketAddrV4::new([10, 0, 0, 2].into(), port), vip, real, 4);
                    let mut nic = c.nic.take().unwrap();
                    let ok = t.assign(&c.id, &mut nic).is_ok();
                    c.nic = Some(nic);
                    !(ok && t.insert(c).is_ok())
                })
                .unwrap()
        };
        let direct = first_refusal(ConnTable::new(4, hash::DEFAULT_KEY));
        let four = first_refusal(ConnTable::with_geometry(g, hash::DEFAULT_KEY));
        assert!(
            direct < four,
            "first refusal: direct {direct}, 4-way {four}"
        );
    }

    #[test]
    fn templates_outlive_their_connections() {
        let mut t = ConnTable::new(12, hash::DEFAULT_KEY);
        let svc = ServiceKey::tcp(sa("10.0.0.100:80"));
        let k = TemplateKey::new(
            svc,
            Ipv4Addr::new(10, 0, 7, 9),
            Ipv4Addr::new(255, 255, 255, 0),
        );
        assert_eq!(k.client_net, Ipv4Addr::new(10, 0, 7, 0));
        let now = Instant::now();
        let real = sa("10.1.0.2:80");
        assert!(t.use_template(k, real, Duration::from_secs(300), now));
        assert!(!t.use_template(k, real, Duration::from_secs(300), now));
        let mut c = conn(sa("10.0.7.9:1000"), svc.vip, real, 12);
        c.template = Some(k);
        t.insert(c).unwrap();
        t.release_template(&k);
        let later = now + Duration::from_secs(300);
        assert!(t
            .expire_templates(later, Duration::from_secs(60))
            .is_empty());
        assert_eq!(
            t.template(&k).unwrap().expires,
            later + Duration::from_secs(60)
        );
        t.remove(&id(sa("10.0.7.9:1000"), svc.vip));
        let gone = t.expire_templates(later + Duration::from_secs(60), Duration::from_secs(60));
        assert_eq!(gone.len(), 1);
        assert_eq!(t.templates_len(), 0);
    }
}
