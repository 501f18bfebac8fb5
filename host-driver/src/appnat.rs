//! Glue between the daemon and the application helpers ([`crate::app`]): what the NIC is told
//! about a bound connection, and what the host does itself to the frames it sends for one.
//!
//! * [`nic_delta`] turns the helper's multi-level [`SeqAdj`] of one direction into the NIC's one
//!   level + floor: the newest level, with the floor at the level before it (or at the position
//!   itself when there is only one level, meaning "the NIC's level is the whole history"). A
//!   segment or ack at or before the floor needs older history: the NIC punts it (`SeqHistory`)
//!   and the host fixes it with the full history.
//! * [`program_deltas`] writes both directions into a connection's [`NicPair`]: this direction's
//!   entry gets the delta as `seq`, the other direction's entry gets the same delta as `ack`.
//! * [`nat_in_software`] applies an entry's rewrite (MACs, NAT address and port) to a frame the
//!   host sends itself with `TxMode::Bypass`, and recomputes the checksums.
//!
//! **How the host sends a bound connection's segments.** Every segment of a bound connection
//! that reaches the host (reasons `AppPayload`, `SeqHistory`, `AckOptions`) goes through
//! [`crate::app::AppBinding::pkt`] with [`crate::app::SeqFix::Host`]: the helper rewrites the
//! payload and fixes seq, ack and SACK edges with its full history (4 levels), then the host
//! applies NAT here and sends the frame around the NIC (`Bypass`). The NIC entries are rewritten
//! with the new deltas *before* the frame leaves, so the peer's pure ACKs of the rewritten bytes
//! meet the new state on the NIC's fast path. The host never relies on the NIC's fixup for its
//! own frames, so neither the §3 corner (a segment at exactly the rewrite position keeps the old
//! offset) nor the floor (the NIC leaves older host frames unfixed) nor SACK (the NIC moves the
//! edges of two layouts only, and a bypassed frame not at all) can bite.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

use tokio::time::Instant;
use vsnic_contract::entry::SeqDelta;
use vsnic_contract::{Action, Entry};

use crate::app::frame::{self, FrameError};
use crate::app::seq::{ConnSeqAdj, SeqAdj};
use crate::conn::{ConnKey, NicPair};

/// The NIC's one-level encoding of one direction's deltas (`None`: no delta).
pub fn nic_delta(adj: &SeqAdj) -> Option<SeqDelta> {
    let levels = adj.levels();
    let newest = levels.last()?;
    let floor = if levels.len() >= 2 {
        levels[levels.len() - 2].position
    } else {
        newest.position
    };
    Some(SeqDelta {
        pos: newest.position,
        before: newest.offset_before as u32,
        after: newest.offset_after as u32,
        floor,
    })
}

/// One direction's history after a daemon restart, from what the snapshot kept (`saved`) and
/// what the NIC's entry holds (`nic`). The NIC is written before the snapshot, so it may be one
/// rewrite ahead: the saved history is taken when it encodes to exactly the NIC's delta, or
/// extended by the NIC's newest level when that continues it; otherwise (no snapshot, or one
/// that disagrees) the NIC's one level is all there is — segments before its position are then
/// fixed with its `before` offset, right unless older rewrites were lost with the snapshot.
pub fn restore_seq(saved: Option<&SeqAdj>, nic: Option<SeqDelta>) -> SeqAdj {
    let Some(d) = nic else {
        return SeqAdj::new();
    };
    if let Some(s) = saved {
        if nic_delta(s) == Some(d) {
            return *s;
        }
        let mut ext = *s;
        if ext.current_offset() == d.before as i32
            && ext.record(d.pos, (d.after as i32).wrapping_sub(d.before as i32))
                == crate::app::seq::Recorded::Added
            && nic_delta(&ext).map(|x| (x.pos, x.before, x.after))
                == Some((d.pos, d.before, d.after))
        {
            return ext;
        }
    }
    let one = crate::app::seq::SeqLevel {
        position: d.pos,
        offset_before: d.before as i32,
        offset_after: d.after as i32,
    };
    SeqAdj::from_levels(&[one]).unwrap_or_default()
}

/// Put both directions' deltas into the entries. Returns whether anything changed (the entries
/// must then be written to the NIC again).
pub fn program_deltas(pair: &mut NicPair, adj: &ConnSeqAdj) -> bool {
    let d_in = nic_delta(&adj.in_seq);
    let d_out = nic_delta(&adj.out_seq);
    let before = (pair.in_entry, pair.out_entry);
    // client → server: its own data moves by the In delta, its acks acknowledge Out data
    pair.in_entry.seq = d_in;
    pair.in_entry.ack = d_out;
    // server → client: the other way round
    pair.out_entry.seq = d_out;
    pair.out_entry.ack = d_in;
    before != (pair.in_entry, pair.out_entry)
}

/// Apply `e`'s rewrite to `frame` as the NIC would (without its seq stage): MACs, then the
/// destination (DNAT) or source (SNAT) address and port; checksums recomputed.
pub fn nat_in_software(frame: &mut [u8], e: &Entry) -> Result<(), FrameError> {
    let l = frame::layout(frame)?;
    frame[0..6].copy_from_slice(&e.dmac);
    frame[6..12].copy_from_slice(&e.smac);
    let (addr_at, port_at) = match e.action {
        Action::Forward => {
            frame::fill_checksums(frame, &l);
            return Ok(());
        }
        Action::Dnat => (l.ip + 16, l.tcp + 2),
        Action::Snat => (l.ip + 12, l.tcp),
    };
    frame[addr_at..addr_at + 4].copy_from_slice(&e.nat_addr);
    frame[port_at..port_at + 2].copy_from_slice(&e.nat_port.to_be_bytes());
    frame::fill_checksums(frame, &l);
    Ok(())
}

/// An expected FTP data connection (IPVS: a connection template with the client port unknown,
/// or the active-mode connection from the real server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub kind: ExpectKind,
    /// The control connection that announced it; it outlives the expectation.
    pub controller: ConnKey,
    pub expires: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpectKind {
    /// The client (any port) will connect to `vip`; send it to `real`.
    Passive {
        client: Ipv4Addr,
        vip: SocketAddrV4,
        real: SocketAddrV4,
    },
    /// The real server will connect from `real` to `client`; its source becomes `vip`.
    Active {
        client: SocketAddrV4,
        vip: SocketAddrV4,
        real: SocketAddrV4,
    },
}

impl ExpectKind {
    /// The data connection a SYN from `src` to `dst` claims, as (connection id, real server).
    pub fn claim(
        &self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
    ) -> Option<(SocketAddrV4, SocketAddrV4, SocketAddrV4)> {
        match *self {
            ExpectKind::Passive { client, vip, real } if *src.ip() == client && dst == vip => {
                Some((src, vip, real))
            }
            ExpectKind::Active { client, vip, real } if src == real && dst == client => {
                Some((client, vip, real))
            }
            _ => None,
        }
    }
}

fn v4(a: IpAddr) -> Option<Ipv4Addr> {
    match a {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

/// The expectation an FTP action asks for (IPv4 only, like the NIC). `None` for rewrites and
/// IPv6.
pub fn expect_kind(action: &crate::app::AppAction) -> Option<ExpectKind> {
    use crate::app::AppAction;
    match *action {
        AppAction::ExpectPassiveData {
            client,
            vip,
            vport,
            rip,
            rport,
        } => Some(ExpectKind::Passive {
            client: v4(client)?,
            vip: SocketAddrV4::new(v4(vip)?, vport),
            real: SocketAddrV4::new(v4(rip)?, rport),
        }),
        AppAction::ExpectActiveData {
            client_addr,
            client_port,
            vip,
            vport,
            rip,
            rport,
        } => Some(ExpectKind::Active {
            client: SocketAddrV4::new(v4(client_addr)?, client_port),
            vip: SocketAddrV4::new(v4(vip)?, vport),
            real: SocketAddrV4::new(v4(rip)?, rport),
        }),
        AppAction::Rewrite { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_level_keeps_its_position_as_floor() {
        let mut a = SeqAdj::new();
        assert_eq!(nic_delta(&a), None);
        a.record(1000, 2);
        let d = nic_delta(&a).unwrap();
        assert_eq!(
            d,
            SeqDelta {
                pos: 1000,
                before: 0,
                after: 2,
                floor: 1000
            }
        );
        a.record(2000, -3);
        let d = nic_delta(&a).unwrap();
        assert_eq!(
            (d.pos, d.before, d.after, d.floor),
            (2000, 2, (-1i32) as u32, 1000)
        );
        // the NIC agrees with the full history wherever it answers, and punts the rest
        for s in [900u32, 1000, 1001, 1500, 2000, 2001, 5000] {
            match d.fix_seq(s) {
                Some(x) => assert_eq!(x, a.fix_seq(s), "seq {s}"),
                None => assert!(!vsnic_contract::entry::seq_after(s, 1000)),
            }
            let ack = a.fix_seq(s);
            match d.fix_ack(ack) {
                Some(x) => assert_eq!(x, a.fix_ack(ack), "ack {ack}"),
                None => assert!(!vsnic_contract::entry::seq_after(s, 1000)),
            }
        }
    }
}
