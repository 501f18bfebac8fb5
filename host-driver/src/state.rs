//! The IPVS TCP connection state machine and the per-state timeouts.
//!
//! A connection's state moves on the TCP flags seen in each direction: *in* is client → real
//! server, *out* is real server → client; *in-only* is for methods where the return traffic does
//! not pass the balancer (DR, tunnel). One segment is one event, chosen by priority
//! RST > SYN > FIN > ACK. Every event re-arms the connection's timer with the timeout of the
//! state it lands in. ESTABLISHED, SYN_SENT, SYN_RECV and SYNACK count as *active* connections
//! (what lc/wlc/… weigh), the rest as inactive.
//!
//! The events come from two places (see [`crate::nicstate`]): the exceptions the host sees (the
//! client's SYN, and FIN/RST when they reach the host) and the periodic poll of the flags the NIC
//! saw per entry.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::net::TcpFlags;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TcpState {
    None,
    Established,
    SynSent,
    SynRecv,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    SynAck,
}

pub const TCP_STATES: [TcpState; 11] = [
    TcpState::None,
    TcpState::Established,
    TcpState::SynSent,
    TcpState::SynRecv,
    TcpState::FinWait,
    TcpState::TimeWait,
    TcpState::Close,
    TcpState::CloseWait,
    TcpState::LastAck,
    TcpState::Listen,
    TcpState::SynAck,
];

impl TcpState {
    /// ipvsadm's name (`-L -c`).
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::SynSent | TcpState::SynRecv | TcpState::SynAck
        )
    }
}

/// Which way a segment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client → real server.
    In,
    /// Real server → client.
    Out,
    /// Client → real server on a connection whose replies bypass us (DR, tunnel).
    InOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Syn,
    Fin,
    Ack,
    Rst,
}

impl Event {
    /// The event of one segment: RST, else SYN, else FIN, else ACK; none without any of them.
    pub fn of(flags: TcpFlags) -> Option<Event> {
        if flags.rst {
            Some(Event::Rst)
        } else if flags.syn {
            Some(Event::Syn)
        } else if flags.fin {
            Some(Event::Fin)
        } else if flags.ack {
            Some(Event::Ack)
        } else {
            None
        }
    }
}

/// The state after `event` in direction `dir`.
pub fn next(state: TcpState, dir: Dir, event: Event) -> TcpState {
    use TcpState::*;
    match (dir, event) {
        (Dir::In | Dir::InOnly, Event::Syn) => match state {
            Established | SynSent => Established,
            _ => SynRecv,
        },
        (Dir::In | Dir::InOnly, Event::Ack) => match state {
            None | Established | SynRecv | SynAck => Established,
            Close | LastAck => Close,
            s => s,
        },
        (Dir::In, Event::Fin) => match state {
            None | Close => Close,
            Established | CloseWait => CloseWait,
            SynRecv | FinWait | TimeWait | SynAck => TimeWait,
            s => s,
        },
        (Dir::InOnly, Event::Fin) => match state {
            None | Close => Close,
            Established | FinWait => FinWait,
            SynRecv | TimeWait | SynAck => TimeWait,
            s => s,
        },
        (Dir::In, Event::Rst) => match state {
            SynRecv | SynAck => SynRecv,
            LastAck | Listen => state,
            _ => Close,
        },
        (Dir::InOnly, Event::Rst) => match state {
            SynRecv => SynRecv,
            LastAck | Listen => state,
            _ => Close,
        },
        (Dir::Out, Event::Syn) => match state {
            Established | Listen => state,
            SynRecv | SynAck => SynRecv,
            _ => SynSent,
        },
        (Dir::Out, Event::Ack) => match state {
            None | Established | SynRecv | Listen | SynAck => Established,
            s => s,
        },
        (Dir::Out, Event::Fin) => match state {
            None | SynRecv | TimeWait | CloseWait | SynAck => TimeWait,
            Established | FinWait => FinWait,
            s => s,
        },
        (Dir::Out, Event::Rst) => match state {
            SynSent | TimeWait => state,
            _ => Close,
        },
    }
}

/// Per-state timeouts (IPVS's defaults) and the UDP timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeouts {
    /// Seconds per [`TcpState`], in [`TCP_STATES`] order.
    pub tcp: [u32; 11],
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp: [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120],
            udp: 300,
        }
    }
}

impl Timeouts {
    fn index(s: TcpState) -> usize {
        TCP_STATES.iter().position(|x| *x == s).unwrap_or(0)
    }

    pub fn tcp_state(&self, s: TcpState) -> Duration {
        Duration::from_secs(self.tcp[Self::index(s)] as u64)
    }

    pub fn udp(&self) -> Duration {
        Duration::from_secs(self.udp as u64)
    }

    /// The timeout of a connection of `proto` in `s`: its TCP state's, or UDP's (a UDP
    /// connection has no state).
    pub fn conn(&self, proto: crate::service::Protocol, s: TcpState) -> Duration {
        match proto {
            crate::service::Protocol::Tcp => self.tcp_state(s),
            crate::service::Protocol::Udp => self.udp(),
        }
    }

    /// `--set tcp tcpfin udp`: ESTABLISHED, FIN_WAIT and UDP; 0 keeps the current value.
    pub fn set(&mut self, tcp: u32, tcpfin: u32, udp: u32) {
        if tcp != 0 {
            self.tcp[Self::index(TcpState::Established)] = tcp;
        }
        if tcpfin != 0 {
            self.tcp[Self::index(TcpState::FinWait)] = tcpfin;
        }
        if udp != 0 {
            self.udp = udp;
        }
    }

    /// The timeout of TCP state `s` (0 keeps it).
    pub fn set_state(&mut self, s: TcpState, secs: u32) {
        if secs != 0 {
            self.tcp[Self::index(s)] = secs;
        }
    }

    /// What `--timeout` lists: (tcp, tcpfin, udp).
    pub fn listed(&self) -> (u32, u32, u32) {
        (
            self.tcp[Self::index(TcpState::Established)],
            self.tcp[Self::index(TcpState::FinWait)],
            self.udp,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TcpState::*;

    fn run(events: &[(Dir, Event)]) -> Vec<TcpState> {
        let mut s = None;
        events
            .iter()
            .map(|&(d, e)| {
                s = next(s, d, e);
                s
            })
            .collect()
    }

    #[test]
    fn a_normal_connection() {
        let states = run(&[
            (Dir::In, Event::Syn),
            (Dir::Out, Event::Syn), // SYN+ACK
            (Dir::In, Event::Ack),
            (Dir::Out, Event::Ack),
            (Dir::In, Event::Fin), // client closes
            (Dir::Out, Event::Ack),
            (Dir::Out, Event::Fin),
            (Dir::In, Event::Ack),
        ]);
        assert_eq!(
            states,
            [
                SynRecv,
                SynRecv,
                Established,
                Established,
                CloseWait,
                CloseWait,
                TimeWait,
                TimeWait
            ]
        );
        // server closes first
        let states = run(&[
            (Dir::In, Event::Syn),
            (Dir::In, Event::Ack),
            (Dir::Out, Event::Fin),
            (Dir::In, Event::Fin),
        ]);
        assert_eq!(states, [SynRecv, Established, FinWait, TimeWait]);
    }

    #[test]
    fn resets_and_priorities() {
        assert_eq!(
            run(&[
                (Dir::In, Event::Syn),
                (Dir::In, Event::Ack),
                (Dir::Out, Event::Rst)
            ]),
            [SynRecv, Established, Close]
        );
        // a client RST during the handshake does not close (IPVS keeps SYN_RECV)
        assert_eq!(
            run(&[(Dir::In, Event::Syn), (Dir::In, Event::Rst)]),
            [SynRecv, SynRecv]
        );
        assert_eq!(next(Established, Dir::InOnly, Event::Fin), FinWait);
        assert_eq!(next(Established, Dir::In, Event::Fin), CloseWait);
        let all = TcpFlags {
            syn: true,
            ack: true,
            fin: true,
            rst: true,
        };
        assert_eq!(Event::of(all), Some(Event::Rst));
        assert_eq!(Event::of(TcpFlags { rst: false, ..all }), Some(Event::Syn));
        assert_eq!(
            Event::of(TcpFlags {
                ack: true,
                fin: true,
                ..Default::default()
            }),
            Some(Event::Fin)
        );
        assert_eq!(Event::of(TcpFlags::default()), Option::None);
        // every state handles every event without leaving the set
        for s in TCP_STATES {
            for d in [Dir::In, Dir::Out, Dir::InOnly] {
                for e in [Event::Syn, Event::Fin, Event::Ack, Event::Rst] {
                    assert!(TCP_STATES.contains(&next(s, d, e)));
                }
            }
        }
    }

    #[test]
    fn timeouts_and_set() {
        let mut t = Timeouts::default();
        assert_eq!(t.tcp_state(Established), Duration::from_secs(900));
        assert_eq!(t.tcp_state(FinWait), Duration::from_secs(120));
        assert_eq!(t.tcp_state(SynRecv), Duration::from_secs(60));
        assert_eq!(t.tcp_state(Close), Duration::from_secs(10));
        assert_eq!(t.listed(), (900, 120, 300));
        t.set(3600, 0, 60);
        assert_eq!(t.listed(), (3600, 120, 60));
        assert!(Established.is_active() && SynRecv.is_active() && !TimeWait.is_active());
    }
}
