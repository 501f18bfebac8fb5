//! Packet helpers for the daemon: parse an exception frame into what the control plane needs and
//! build the frames it sends (ARP). Ethernet, IPv4, TCP and UDP are parsed with `etherparse`; ARP
//! (which etherparse 0.16 does not parse) by hand. Nothing here panics on any input.

use std::fmt;
use std::net::Ipv4Addr;

use etherparse::{EtherType, Ethernet2Slice, IpNumber, Ipv4Slice, TcpSlice, UdpSlice};

pub type Mac = [u8; 6];

pub const BROADCAST: Mac = [0xff; 6];
/// Shortest Ethernet frame without FCS; shorter frames we build are zero-padded to it.
pub const MIN_FRAME: usize = 60;

const ARP_LEN: usize = 28;

/// Why a frame could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    #[error("ethernet: {0}")]
    Ethernet(String),
    #[error("arp: {0}")]
    Arp(&'static str),
    #[error("ipv4: {0}")]
    Ipv4(String),
    #[error("tcp: {0}")]
    Tcp(String),
    #[error("udp: {0}")]
    Udp(String),
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub struct MacFmt<'a>(pub &'a Mac);

impl fmt::Display for MacFmt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    Request,
    Reply,
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub op: ArpOp,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

/// The IPv4 5-tuple and flags of a TCP segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tcp {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub flags: TcpFlags,
}

/// The IPv4 addresses and ports of an unfragmented UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Udp {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

/// What is above Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3 {
    Arp(Arp),
    Tcp(Tcp),
    Udp(Udp),
    /// IPv4, another protocol (or a UDP fragment).
    Ipv4 {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
    },
    /// Another EtherType (IPv6, VLAN, …).
    Other {
        ether_type: u16,
    },
}

/// A parsed exception frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub eth_src: Mac,
    pub eth_dst: Mac,
    pub l3: L3,
}

/// Parse a frame (no FCS). ARP, IPv4 and TCP headers must be complete and well-formed; a frame
/// that claims to be one of them and is not is an `Err`.
pub fn parse(frame: &[u8]) -> Result<Parsed, NetError> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame)
        .map_err(|e| NetError::Ethernet(e.to_string()))?;
    let payload = eth.payload_slice();
    let l3 = match eth.ether_type() {
        EtherType::ARP => L3::Arp(parse_arp(payload)?),
        EtherType::IPV4 => parse_ipv4(payload)?,
        other => L3::Other {
            ether_type: other.0,
        },
    };
    Ok(Parsed {
        eth_src: eth.source(),
        eth_dst: eth.destination(),
        l3,
    })
}

fn parse_arp(p: &[u8]) -> Result<Arp, NetError> {
    let p = p.get(..ARP_LEN).ok_or(NetError::Arp("truncated"))?;
    let be16 = |i: usize| u16::from_be_bytes([p[i], p[i + 1]]);
    if be16(0) != 1 || be16(2) != EtherType::IPV4.0 || p[4] != 6 || p[5] != 4 {
        return Err(NetError::Arp("not Ethernet/IPv4"));
    }
    let op = match be16(6) {
        1 => ArpOp::Request,
        2 => ArpOp::Reply,
        _ => return Err(NetError::Arp("unknown operation")),
    };
    let mac = |i: usize| -> Mac { [p[i], p[i + 1], p[i + 2], p[i + 3], p[i + 4], p[i + 5]] };
    let ip = |i: usize| Ipv4Addr::new(p[i], p[i + 1], p[i + 2], p[i + 3]);
    Ok(Arp {
        op,
        sender_mac: mac(8),
        sender_ip: ip(14),
        target_mac: mac(18),
        target_ip: ip(24),
    })
}

fn parse_ipv4(p: &[u8]) -> Result<L3, NetError> {
    let ip = Ipv4Slice::from_slice(p).map_err(|e| NetError::Ipv4(e.to_string()))?;
    let h = ip.header();
    let (src, dst) = (h.source_addr(), h.destination_addr());
    let proto = ip.payload_ip_number();
    if proto == IpNumber::UDP && !ip.is_payload_fragmented() {
        let u =
            UdpSlice::from_slice(ip.payload().payload).map_err(|e| NetError::Udp(e.to_string()))?;
        return Ok(L3::Udp(Udp {
            src,
            dst,
            sport: u.source_port(),
            dport: u.destination_port(),
        }));
    }
    if proto != IpNumber::TCP {
        return Ok(L3::Ipv4 {
            src,
            dst,
            proto: proto.0,
        });
    }
    if ip.is_payload_fragmented() {
        return Err(NetError::Ipv4("fragmented TCP".into()));
    }
    let tcp =
        TcpSlice::from_slice(ip.payload().payload).map_err(|e| NetError::Tcp(e.to_string()))?;
    Ok(L3::Tcp(Tcp {
        src,
        dst,
        sport: tcp.source_port(),
        dport: tcp.destination_port(),
        flags: TcpFlags {
            syn: tcp.syn(),
            ack: tcp.ack(),
            fin: tcp.fin(),
            rst: tcp.rst(),
        },
    }))
}

fn arp_frame(eth_dst: Mac, op: ArpOp, sender: (Mac, Ipv4Addr), target: (Mac, Ipv4Addr)) -> Vec<u8> {
    let mut f = Vec::with_capacity(MIN_FRAME);
    f.extend_from_slice(&eth_dst);
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&EtherType::ARP.0.to_be_bytes());
    f.extend_from_slice(&1u16.to_be_bytes()); // hardware: Ethernet
    f.extend_from_slice(&EtherType::IPV4.0.to_be_bytes());
    f.extend_from_slice(&[6, 4]);
    f.extend_from_slice(&(if op == ArpOp::Request { 1u16 } else { 2 }).to_be_bytes());
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&sender.1.octets());
    f.extend_from_slice(&target.0);
    f.extend_from_slice(&target.1.octets());
    f.resize(MIN_FRAME, 0);
    f
}

/// The reply to ARP request `req`: "`req.target_ip` is at `our_mac`", unicast to the requester.
pub fn arp_reply(req: &Arp, our_mac: Mac) -> Vec<u8> {
    arp_frame(
        req.sender_mac,
        ArpOp::Reply,
        (our_mac, req.target_ip),
        (req.sender_mac, req.sender_ip),
    )
}

/// A broadcast "who has `target_ip`? tell `our_ip`".
pub fn arp_request(our_mac: Mac, our_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        BROADCAST,
        ArpOp::Request,
        (our_mac, our_ip),
        ([0; 6], target_ip),
    )
}

/// A TCP/IPv4 frame (for tests and demos): `flags` as in [`TcpFlags`], sequence number `seq`.
pub fn tcp_frame(
    src_mac: Mac,
    dst_mac: Mac,
    src: (Ipv4Addr, u16),
    dst: (Ipv4Addr, u16),
    flags: TcpFlags,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = etherparse::PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .tcp(src.1, dst.1, seq, 64240);
    if flags.syn {
        b = b.syn();
    }
    if flags.ack {
        b = b.ack(1);
    }
    if flags.fin {
        b = b.fin();
    }
    if flags.rst {
        b = b.rst();
    }
    let mut f = Vec::with_capacity(b.size(payload.len()).max(MIN_FRAME));
    // Writing into a Vec only fails if the payload is too big for one IPv4 packet.
    if b.write(&mut f, payload).is_err() {
        f.clear();
    }
    if f.len() < MIN_FRAME && !f.is_empty() {
        f.resize(MIN_FRAME, 0);
    }
    f
}

/// Whether `addr` is in `net/prefix`.
pub fn in_subnet(addr: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32) as u32)
    };
    u32::from(addr) & mask == u32::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::Ethernet2Header;

    const CLIENT_MAC: Mac = [2, 0, 0, 0, 0, 0x10];
    const OUR_MAC: Mac = [2, 0, 0, 0, 0, 1];
    const SYN: TcpFlags = TcpFlags {
        syn: true,
        ack: false,
        fin: false,
        rst: false,
    };

    #[test]
    fn arp_reply_answers_the_request() {
        let req = arp_request(
            CLIENT_MAC,
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 100),
        );
        let Parsed {
            l3: L3::Arp(req_arp),
            eth_dst,
            ..
        } = parse(&req).unwrap()
        else {
            panic!()
        };
        assert_eq!(eth_dst, BROADCAST);
        assert_eq!(req_arp.op, ArpOp::Request);

        let reply = arp_reply(&req_arp, OUR_MAC);
        assert_eq!(reply.len(), MIN_FRAME);
        // Ethernet header as etherparse sees it
        let (eth, rest) = Ethernet2Header::from_slice(&reply).unwrap();
        assert_eq!(eth.destination, CLIENT_MAC);
        assert_eq!(eth.source, OUR_MAC);
        assert_eq!(eth.ether_type, EtherType::ARP);
        // ARP body, byte by byte
        assert_eq!(&rest[..8], &[0, 1, 8, 0, 6, 4, 0, 2]);
        assert_eq!(&rest[8..14], &OUR_MAC);
        assert_eq!(&rest[14..18], &[10, 0, 0, 100]);
        assert_eq!(&rest[18..24], &CLIENT_MAC);
        assert_eq!(&rest[24..28], &[10, 0, 0, 2]);
        assert!(rest[28..].iter().all(|&b| b == 0));
        let Parsed { l3: L3::Arp(a), .. } = parse(&reply).unwrap() else {
            panic!()
        };
        assert_eq!(
            a,
            Arp {
                op: ArpOp::Reply,
                sender_mac: OUR_MAC,
                sender_ip: Ipv4Addr::new(10, 0, 0, 100),
                target_mac: CLIENT_MAC,
                target_ip: Ipv4Addr::new(10, 0, 0, 2),
            }
        );
    }

    #[test]
    fn tcp_syn_is_parsed() {
        let f = tcp_frame(
            CLIENT_MAC,
            OUR_MAC,
            (Ipv4Addr::new(10, 0, 0, 2), 40000),
            (Ipv4Addr::new(10, 0, 0, 100), 80),
            SYN,
            7,
            &[],
        );
        let p = parse(&f).unwrap();
        assert_eq!((p.eth_src, p.eth_dst), (CLIENT_MAC, OUR_MAC));
        let L3::Tcp(t) = p.l3 else { panic!("{p:?}") };
        assert_eq!(
            (t.src, t.dst, t.sport, t.dport),
            (
                Ipv4Addr::new(10, 0, 0, 2),
                Ipv4Addr::new(10, 0, 0, 100),
                40000,
                80
            )
        );
        assert_eq!(t.flags, SYN);
    }

    #[test]
    fn udp_is_parsed_unless_fragmented_or_truncated() {
        let b = etherparse::PacketBuilder::ethernet2(CLIENT_MAC, OUR_MAC)
            .ipv4([10, 0, 0, 2], [10, 0, 0, 100], 64)
            .udp(5000, 53);
        let mut f = Vec::new();
        b.write(&mut f, b"query").unwrap();
        assert_eq!(
            parse(&f).unwrap().l3,
            L3::Udp(Udp {
                src: Ipv4Addr::new(10, 0, 0, 2),
                dst: Ipv4Addr::new(10, 0, 0, 100),
                sport: 5000,
                dport: 53,
            })
        );
        let mut frag = f.clone();
        frag[20] = 0x20; // more fragments
        assert_eq!(
            parse(&frag).unwrap().l3,
            L3::Ipv4 {
                src: Ipv4Addr::new(10, 0, 0, 2),
                dst: Ipv4Addr::new(10, 0, 0, 100),
                proto: 17
            }
        );
        // an IPv4 packet whose payload is only half a UDP header
        let mut short = f[..14 + 24].to_vec();
        short[16..18].copy_from_slice(&24u16.to_be_bytes());
        assert!(matches!(parse(&short), Err(NetError::Udp(_))));
    }

    #[test]
    fn malformed_frames_are_rejected() {
        let req = arp_request(
            CLIENT_MAC,
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 1),
        );
        let syn = tcp_frame(
            CLIENT_MAC,
            OUR_MAC,
            (Ipv4Addr::new(10, 0, 0, 2), 1),
            (Ipv4Addr::new(10, 0, 0, 100), 80),
            SYN,
            0,
            &[],
        );
        assert!(parse(&[]).is_err());
        assert!(parse(&req[..13]).is_err());
        assert!(matches!(parse(&req[..14 + 27]), Err(NetError::Arp(_))));
        let mut bad = req.clone();
        bad[21] = 3; // opcode 3
        assert!(matches!(parse(&bad), Err(NetError::Arp(_))));
        let mut bad = req.clone();
        bad[18] = 8; // hardware length 8
        assert!(parse(&bad).is_err());
        assert!(matches!(parse(&syn[..14 + 19]), Err(NetError::Ipv4(_))));
        assert!(matches!(
            parse(&syn[..14 + 20 + 19]),
            Err(NetError::Tcp(_)) | Err(NetError::Ipv4(_))
        ));
        let mut bad = syn.clone();
        bad[14] = 0x65; // version 6 in an IPv4 frame
        assert!(parse(&bad).is_err());
        let mut bad = syn.clone();
        bad[14 + 20 + 12] = 0x10; // TCP data offset 1 (< 5)
        assert!(matches!(parse(&bad), Err(NetError::Tcp(_))));
        // not ARP/IPv4: fine, but opaque
        let mut v6 = syn.clone();
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(parse(&v6).unwrap().l3, L3::Other { ether_type: 0x86dd });
    }

    #[test]
    fn subnets() {
        let net = Ipv4Addr::new(10, 1, 0, 1);
        assert!(in_subnet(Ipv4Addr::new(10, 1, 0, 200), net, 24));
        assert!(!in_subnet(Ipv4Addr::new(10, 1, 1, 2), net, 24));
        assert!(in_subnet(Ipv4Addr::new(1, 2, 3, 4), net, 0));
        assert!(in_subnet(net, net, 32));
        assert!(in_subnet(net, net, 200), "prefix clamps to 32");
    }
}
