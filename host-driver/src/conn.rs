//! The host's connection table: the source of truth. The NIC table is a cache of it, and it is
//! direct-mapped (one entry per bucket), so the host keeps a shadow of which connection owns each
//! bucket and refuses a new connection whose entries would land on a bucket already owned —
//! never overwriting a live connection.

use std::collections::HashMap;
use std::net::SocketAddrV4;

use serde::{Deserialize, Serialize};
use vsnic_contract::{hash, Action, Entry, FlowKey};

use crate::net::Mac;

/// TCP, the only protocol served so far.
pub const PROTO_TCP: u8 = 6;

/// One side of a connection on the NIC: the port, our MAC on it and the next hop's MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    pub port: u8,
    pub our_mac: Mac,
    pub next_hop_mac: Mac,
}

/// One load-balanced connection and its two NIC entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub client: SocketAddrV4,
    pub vip: SocketAddrV4,
    pub real: SocketAddrV4,
    /// client → VIP: DNAT to the real server, out of the server-side port.
    pub in_entry: Entry,
    pub in_bucket: u32,
    /// real server → client: SNAT to the VIP, out of the client-side port.
    pub out_entry: Entry,
    pub out_bucket: u32,
}

fn key(src: SocketAddrV4, dst: SocketAddrV4) -> FlowKey {
    FlowKey {
        saddr: src.ip().octets(),
        daddr: dst.ip().octets(),
        sport: src.port(),
        dport: dst.port(),
        proto: PROTO_TCP,
    }
}

impl Connection {
    /// Build both entries of a NAT connection. `client_side` is where the client's frames arrive
    /// (next hop = the source MAC of its SYN), `server_side` where the real server is (next hop =
    /// its MAC, learned by ARP).
    pub fn new(
        client: SocketAddrV4,
        vip: SocketAddrV4,
        real: SocketAddrV4,
        client_side: Side,
        server_side: Side,
        table_index_bits: u32,
    ) -> Connection {
        let in_entry = Entry {
            key: key(client, vip),
            valid: true,
            action: Action::Dnat,
            egress_port: server_side.port,
            nat_addr: real.ip().octets(),
            nat_port: real.port(),
            dmac: server_side.next_hop_mac,
            smac: server_side.our_mac,
        };
        let out_entry = Entry {
            key: key(real, client),
            valid: true,
            action: Action::Snat,
            egress_port: client_side.port,
            nat_addr: vip.ip().octets(),
            nat_port: vip.port(),
            dmac: client_side.next_hop_mac,
            smac: client_side.our_mac,
        };
        Connection {
            client,
            vip,
            real,
            in_bucket: hash::bucket(&in_entry.key, table_index_bits),
            out_bucket: hash::bucket(&out_entry.key, table_index_bits),
            in_entry,
            out_entry,
        }
    }
}

/// A connection as listed (`vsnicadm -L -n -c`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnInfo {
    pub client: SocketAddrV4,
    pub vip: SocketAddrV4,
    pub real: SocketAddrV4,
    pub in_bucket: u32,
    pub out_bucket: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    #[error("connection {client} -> {vip} already exists")]
    Exists {
        client: SocketAddrV4,
        vip: SocketAddrV4,
    },
    #[error("table bucket {bucket} is taken (direct-mapped table collision)")]
    Collision { bucket: u32 },
}

/// Connections keyed by (client, VIP), with the bucket-occupancy shadow of the NIC table.
#[derive(Debug, Clone)]
pub struct ConnTable {
    index_bits: u32,
    conns: HashMap<(SocketAddrV4, SocketAddrV4), Connection>,
    /// bucket → the (client, VIP) owning it.
    buckets: HashMap<u32, (SocketAddrV4, SocketAddrV4)>,
    collisions: u64,
}

impl ConnTable {
    pub fn new(table_index_bits: u32) -> ConnTable {
        ConnTable {
            index_bits: table_index_bits,
            conns: HashMap::new(),
            buckets: HashMap::new(),
            collisions: 0,
        }
    }

    pub fn index_bits(&self) -> u32 {
        self.index_bits
    }

    pub fn get(&self, client: SocketAddrV4, vip: SocketAddrV4) -> Option<&Connection> {
        self.conns.get(&(client, vip))
    }

    /// Who owns `bucket`, if anyone.
    pub fn bucket_owner(&self, bucket: u32) -> Option<&Connection> {
        self.buckets.get(&bucket).and_then(|k| self.conns.get(k))
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

    /// Whether `c` could be inserted (no duplicate, both buckets free and distinct). Counts a
    /// collision when it could not.
    pub fn check(&mut self, c: &Connection) -> Result<(), ConnError> {
        if self.conns.contains_key(&(c.client, c.vip)) {
            return Err(ConnError::Exists {
                client: c.client,
                vip: c.vip,
            });
        }
        let taken = [c.in_bucket, c.out_bucket]
            .into_iter()
            .find(|b| self.buckets.contains_key(b));
        let bucket = taken.or((c.in_bucket == c.out_bucket).then_some(c.in_bucket));
        if let Some(bucket) = bucket {
            self.collisions += 1;
            return Err(ConnError::Collision { bucket });
        }
        Ok(())
    }

    /// Record `c` as owning its two buckets. Call after [`ConnTable::check`] succeeded.
    pub fn insert(&mut self, c: Connection) -> Result<(), ConnError> {
        self.check(&c)?;
        let k = (c.client, c.vip);
        self.buckets.insert(c.in_bucket, k);
        self.buckets.insert(c.out_bucket, k);
        self.conns.insert(k, c);
        Ok(())
    }

    /// Forget a connection, freeing its buckets.
    pub fn remove(&mut self, client: SocketAddrV4, vip: SocketAddrV4) -> Option<Connection> {
        let c = self.conns.remove(&(client, vip))?;
        self.buckets.remove(&c.in_bucket);
        self.buckets.remove(&c.out_bucket);
        Some(c)
    }

    pub fn list(&self) -> Vec<ConnInfo> {
        let mut v: Vec<_> = self
            .conns
            .values()
            .map(|c| ConnInfo {
                client: c.client,
                vip: c.vip,
                real: c.real,
                in_bucket: c.in_bucket,
                out_bucket: c.out_bucket,
            })
            .collect();
        v.sort_by_key(|c| (c.vip, c.client));
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

    #[test]
    fn entries_and_buckets() {
        let c = Connection::new(
            sa("10.0.0.2:40000"),
            sa("10.0.0.100:80"),
            sa("10.1.0.2:8080"),
            CLIENT,
            SERVER,
            12,
        );
        assert_eq!(c.in_entry.key, hash::VECTORS[0].0);
        assert_eq!(c.in_bucket, hash::VECTORS[0].1 & 0xfff);
        assert_eq!(
            (
                c.in_entry.action,
                c.in_entry.egress_port,
                c.in_entry.nat_port
            ),
            (Action::Dnat, 1, 8080)
        );
        assert_eq!(
            (c.in_entry.dmac, c.in_entry.smac),
            (SERVER.next_hop_mac, SERVER.our_mac)
        );
        assert_eq!(
            c.out_entry.key,
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
                c.out_entry.action,
                c.out_entry.egress_port,
                c.out_entry.nat_addr
            ),
            (Action::Snat, 0, [10, 0, 0, 100])
        );
        assert_eq!(
            (c.out_entry.dmac, c.out_entry.smac),
            (CLIENT.next_hop_mac, CLIENT.our_mac)
        );
        assert_eq!(c.out_bucket, hash::bucket(&c.out_entry.key, 12));
    }

    #[test]
    fn collisions_are_refused_and_counted() {
        let mut t = ConnTable::new(4); // 16 buckets: collisions are easy to find
        let vip = sa("10.0.0.100:80");
        let real = sa("10.1.0.2:80");
        let mut inserted = 0;
        let mut refused = 0;
        for port in 1000..1100 {
            let c = Connection::new(
                SocketAddrV4::new([10, 0, 0, 2].into(), port),
                vip,
                real,
                CLIENT,
                SERVER,
                4,
            );
            match t.insert(c.clone()) {
                Ok(()) => inserted += 1,
                Err(ConnError::Collision { bucket }) => {
                    refused += 1;
                    let owner = t.bucket_owner(bucket).map(|o| o.client);
                    assert!(owner.is_some() || c.in_bucket == c.out_bucket);
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(inserted <= 8 && inserted > 0);
        assert_eq!(refused as u64, t.collisions());
        assert_eq!(inserted + refused, 100);
        assert_eq!(t.len(), inserted);
        let first = t.list()[0].clone();
        assert!(matches!(
            t.insert(Connection::new(first.client, vip, real, CLIENT, SERVER, 4)),
            Err(ConnError::Exists { .. })
        ));
        let gone = t.remove(first.client, vip).unwrap();
        assert!(t.bucket_owner(gone.in_bucket).is_none());
        t.insert(gone).unwrap();
    }
}
