//! IP-in-IP tunnelling (`ipvsadm -i`, RFC 2003), done by the host.
//!
//! The NIC has no encapsulation stage (it would have to insert 20 bytes into the stream and so
//! lengthen every frame; see docs/ipvs-host.md), so a tunnelled connection has no NIC entries:
//! each of the client's packets misses the table, reaches the host, and is sent from here to
//! the real server inside an outer IPv4 header, as Linux IPVS's `ip_vs_tunnel_xmit` does. The
//! real server decapsulates it, finds the VIP on its own tunnel interface and answers the
//! client directly, so nothing comes back through us.
//!
//! The outer header carries our port address as source, the real server as destination,
//! protocol 4, TTL 64, the inner packet's DSCP, its ECN as RFC 6040 asks of an encapsulator
//! (CE is sent as ECT(0), as Linux does) and its DF bit. An outer packet longer than the MTU is
//! split into fragments when the inner packet lets the path fragment it (DF clear); with DF set
//! the client gets ICMP "fragmentation needed" with the MTU the tunnel leaves (RFC 1191), so
//! its path-MTU discovery shrinks its segments instead of stalling.

use std::net::Ipv4Addr;

use etherparse::{
    icmpv4::DestUnreachableHeader, EtherType, Icmpv4Type, IpFragOffset, IpNumber, Ipv4Ecn,
    Ipv4Header, Ipv4Slice,
};
use thiserror::Error;

use crate::net::{Mac, MIN_FRAME};

/// Ethernet header length.
const ETH_LEN: usize = 14;
/// The outer header (no options).
pub const OUTER_LEN: usize = Ipv4Header::MIN_LEN;
/// TTL of the outer header.
pub const OUTER_TTL: u8 = 64;
/// The smallest MTU we accept: IPv4's minimum datagram every link must carry (RFC 791).
pub const MIN_MTU: u16 = 576;
/// How much of the dropped packet an ICMP error quotes: its header and the first 8 bytes of
/// its payload (RFC 792), which hold the ports the client needs to find the connection.
const ICMP_QUOTE: usize = 8;
/// ECN codepoint "congestion experienced".
const ECN_CE: u8 = 3;

/// Why a frame cannot be tunnelled.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TunnelError {
    #[error("not an IPv4 frame: {0}")]
    NotIpv4(String),
    #[error("IPv4 packet of {len} bytes does not fit an outer packet")]
    TooLong { len: usize },
}

/// The tunnel's two ends and the Ethernet hop to the real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    /// Our address on the port towards the real server.
    pub src: Ipv4Addr,
    /// The real server.
    pub dst: Ipv4Addr,
    /// Our MAC on that port.
    pub src_mac: Mac,
    /// The real server's MAC.
    pub dst_mac: Mac,
    /// IP MTU of the link to the real server.
    pub mtu: u16,
    /// Our address towards the client: the source of ICMP errors sent to it.
    pub icmp_src: Ipv4Addr,
}

/// What to send for one client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encapsulated {
    /// Frames for the real server: the outer packet, or its fragments in order.
    Frames(Vec<Vec<u8>>),
    /// The packet does not fit the tunnel and must not be fragmented: this IPv4 packet (ICMP
    /// "fragmentation needed", no Ethernet header) goes back to the client.
    TooBig(Vec<u8>),
}

/// Encapsulate the IPv4 packet of Ethernet `frame` for `t`; `id` is the outer packet's
/// identification. Ethernet padding after the inner packet is not carried.
pub fn encapsulate(frame: &[u8], t: &Tunnel, id: u16) -> Result<Encapsulated, TunnelError> {
    let (inner, h) = inner_packet(frame)?;
    let mtu = t.mtu.max(MIN_MTU) as usize;
    let mut outer = Ipv4Header::new(0, OUTER_TTL, IpNumber::IPV4, t.src.octets(), t.dst.octets())
        .map_err(|_| TunnelError::TooLong { len: inner.len() })?;
    outer.dscp = h.dscp;
    outer.ecn = if h.ecn.value() == ECN_CE {
        Ipv4Ecn::TWO // ECT(0): CE is not copied outwards (Linux's INET_ECN_encapsulate)
    } else {
        h.ecn
    };
    outer.dont_fragment = h.dont_fragment;
    outer.identification = id;
    if OUTER_LEN + inner.len() <= mtu {
        return Ok(Encapsulated::Frames(vec![outer_frame(
            t, &outer, 0, false, inner,
        )?]));
    }
    if h.dont_fragment {
        return Ok(Encapsulated::TooBig(frag_needed(
            t.icmp_src, inner, &h, mtu,
        )?));
    }
    // fragments of the outer packet: every one but the last carries a multiple of 8 bytes
    let chunk = (mtu - OUTER_LEN) & !7;
    let frames = inner
        .chunks(chunk)
        .enumerate()
        .map(|(i, part)| {
            let offset = i * chunk;
            let more = offset + part.len() < inner.len();
            outer_frame(t, &outer, offset, more, part)
        })
        .collect::<Result<_, _>>()?;
    Ok(Encapsulated::Frames(frames))
}

/// The inner IPv4 packet (exactly its total length) and its header.
fn inner_packet(frame: &[u8]) -> Result<(&[u8], Ipv4Header), TunnelError> {
    let l3 = frame
        .get(ETH_LEN..)
        .filter(|_| frame[12..14] == EtherType::IPV4.0.to_be_bytes())
        .ok_or_else(|| TunnelError::NotIpv4("no IPv4 EtherType".into()))?;
    let ip = Ipv4Slice::from_slice(l3).map_err(|e| TunnelError::NotIpv4(e.to_string()))?;
    let h = ip.header();
    let len = h.total_len() as usize;
    Ok((&l3[..len], h.to_header()))
}

/// One outer packet (or fragment) carrying `part` at byte `offset` of the inner packet.
fn outer_frame(
    t: &Tunnel,
    outer: &Ipv4Header,
    offset: usize,
    more: bool,
    part: &[u8],
) -> Result<Vec<u8>, TunnelError> {
    let mut h = outer.clone();
    h.set_payload_len(part.len())
        .map_err(|_| TunnelError::TooLong { len: part.len() })?;
    h.more_fragments = more;
    h.fragment_offset =
        IpFragOffset::try_new((offset / 8) as u16).map_err(|_| TunnelError::TooLong {
            len: offset + part.len(),
        })?;
    h.header_checksum = h.calc_header_checksum();
    let mut f = Vec::with_capacity((ETH_LEN + OUTER_LEN + part.len()).max(MIN_FRAME));
    f.extend_from_slice(&t.dst_mac);
    f.extend_from_slice(&t.src_mac);
    f.extend_from_slice(&EtherType::IPV4.0.to_be_bytes());
    f.extend_from_slice(&h.to_bytes());
    f.extend_from_slice(part);
    if f.len() < MIN_FRAME {
        f.resize(MIN_FRAME, 0);
    }
    Ok(f)
}

/// ICMP destination unreachable, fragmentation needed (type 3 code 4), from `src` to the
/// inner packet's source, quoting the inner header and 8 bytes, with the MTU left inside the
/// tunnel.
fn frag_needed(
    src: Ipv4Addr,
    inner: &[u8],
    h: &Ipv4Header,
    mtu: usize,
) -> Result<Vec<u8>, TunnelError> {
    let quote = &inner[..(h.header_len() + ICMP_QUOTE).min(inner.len())];
    let next_hop_mtu = (mtu - OUTER_LEN) as u16;
    let b = etherparse::PacketBuilder::ipv4(src.octets(), h.source, OUTER_TTL).icmpv4(
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
            next_hop_mtu,
        }),
    );
    let mut p = Vec::with_capacity(b.size(quote.len()));
    b.write(&mut p, quote)
        .map_err(|_| TunnelError::TooLong { len: quote.len() })?;
    Ok(p)
}

/// An Ethernet frame around IPv4 packet `packet`, padded to the minimum frame.
pub fn ethernet(dst: Mac, src: Mac, packet: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity((ETH_LEN + packet.len()).max(MIN_FRAME));
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&EtherType::IPV4.0.to_be_bytes());
    f.extend_from_slice(packet);
    if f.len() < MIN_FRAME {
        f.resize(MIN_FRAME, 0);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{tcp_frame, TcpFlags};
    use etherparse::{Icmpv4Slice, Ipv4Dscp, NetSlice, SlicedPacket, TransportSlice};

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const US: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
    const REAL: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 3);
    const OURS_TO_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const ACK: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: false,
        rst: false,
    };

    fn tunnel(mtu: u16) -> Tunnel {
        Tunnel {
            src: US,
            dst: REAL,
            src_mac: [2, 0, 0, 0, 1, 1],
            dst_mac: [2, 0, 0, 0, 1, 3],
            mtu,
            icmp_src: OURS_TO_CLIENT,
        }
    }

    /// A client → VIP segment with `n` payload bytes, DF as given.
    fn segment(n: usize, df: bool) -> Vec<u8> {
        let payload: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
        let mut f = tcp_frame(
            [2, 0, 0, 0, 0, 9],
            [2, 0, 0, 0, 0, 1],
            (CLIENT, 40000),
            (VIP, 80),
            ACK,
            1000,
            &payload,
        );
        // DSCP AF41, ECN CE; DF as asked; header checksum redone
        let mut h = Ipv4Slice::from_slice(&f[14..])
            .unwrap()
            .header()
            .to_header();
        h.dscp = Ipv4Dscp::try_new(34).unwrap();
        h.ecn = Ipv4Ecn::try_new(ECN_CE).unwrap();
        h.dont_fragment = df;
        h.header_checksum = h.calc_header_checksum();
        f[14..34].copy_from_slice(&h.to_bytes());
        f
    }

    fn inner_of(f: &[u8]) -> &[u8] {
        let len = u16::from_be_bytes([f[16], f[17]]) as usize;
        &f[14..14 + len]
    }

    #[test]
    fn a_segment_travels_inside_a_checked_outer_header() {
        let f = segment(100, true);
        let Encapsulated::Frames(out) = encapsulate(&f, &tunnel(1500), 77).unwrap() else {
            panic!("fits")
        };
        assert_eq!(out.len(), 1);
        let o = &out[0];
        assert_eq!(&o[..6], &tunnel(1500).dst_mac);
        assert_eq!(&o[6..12], &tunnel(1500).src_mac);
        let outer = Ipv4Slice::from_slice(&o[14..]).unwrap();
        let h = outer.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!((h.source, h.destination), (US.octets(), REAL.octets()));
        assert_eq!(h.protocol, IpNumber::IPV4);
        assert_eq!((h.time_to_live, h.identification), (OUTER_TTL, 77));
        assert!(h.dont_fragment && !h.more_fragments);
        assert_eq!(h.dscp.value(), 34);
        assert_eq!(h.ecn, Ipv4Ecn::TWO, "CE is sent as ECT(0)");
        // the inner packet is carried byte for byte, and still checks
        assert_eq!(outer.payload().payload, inner_of(&f));
        let p = SlicedPacket::from_ip(outer.payload().payload).unwrap();
        let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(tcp))) = (p.net, p.transport)
        else {
            panic!("inner TCP")
        };
        assert_eq!(ip.header().destination_addr(), VIP);
        let h = ip.header();
        let sum = tcp.calc_checksum_ipv4(h.source(), h.destination()).unwrap();
        assert_eq!(sum, tcp.checksum());
    }

    #[test]
    fn ethernet_padding_is_not_carried_and_short_outer_frames_are_padded() {
        let f = segment(0, false); // 54 bytes padded to 60 by tcp_frame
        assert_eq!(f.len(), MIN_FRAME);
        let Encapsulated::Frames(out) = encapsulate(&f, &tunnel(1500), 1).unwrap() else {
            panic!()
        };
        let outer = Ipv4Slice::from_slice(&out[0][14..]).unwrap();
        assert_eq!(outer.header().total_len() as usize, OUTER_LEN + 40);
        assert_eq!(out[0].len(), 14 + 20 + 40);
    }

    #[test]
    fn too_big_without_df_is_sent_as_fragments_that_reassemble() {
        for n in [1441, 1460, 2000, 1400] {
            let f = segment(n, false);
            let inner = inner_of(&f).to_vec();
            let mtu = 1420;
            let Encapsulated::Frames(out) = encapsulate(&f, &tunnel(mtu), 9).unwrap() else {
                panic!("fragmented")
            };
            let need = (inner.len() + 20).div_ceil(mtu as usize);
            assert!(out.len() >= need, "{n}: {} fragments", out.len());
            let mut whole = vec![0u8; inner.len()];
            let mut got = 0;
            for (i, o) in out.iter().enumerate() {
                let s = Ipv4Slice::from_slice(&o[14..]).unwrap();
                let h = s.header().to_header();
                assert!(h.total_len as usize <= mtu as usize);
                assert_eq!(h.header_checksum, h.calc_header_checksum());
                assert_eq!(h.identification, 9);
                assert_eq!(h.more_fragments, i + 1 < out.len());
                let off = h.fragment_offset.byte_offset() as usize;
                let part = &o[34..14 + h.total_len as usize];
                if h.more_fragments {
                    assert_eq!(part.len() % 8, 0);
                }
                whole[off..off + part.len()].copy_from_slice(part);
                got += part.len();
            }
            assert_eq!(got, inner.len());
            assert_eq!(
                whole, inner,
                "{n}: the fragments reassemble to the inner packet"
            );
        }
    }

    #[test]
    fn too_big_with_df_asks_the_client_for_a_smaller_mtu() {
        let f = segment(1460, true);
        let Encapsulated::TooBig(p) = encapsulate(&f, &tunnel(1500), 3).unwrap() else {
            panic!("DF: not fragmented")
        };
        let ip = Ipv4Slice::from_slice(&p).unwrap();
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(
            (h.source, h.destination),
            (OURS_TO_CLIENT.octets(), CLIENT.octets())
        );
        let icmp = Icmpv4Slice::from_slice(ip.payload().payload).unwrap();
        assert_eq!(
            icmp.icmp_type(),
            Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded {
                next_hop_mtu: 1480
            })
        );
        assert_eq!(
            icmp.icmp_type().calc_checksum(icmp.payload()),
            icmp.checksum()
        );
        // the quote: the inner header and the ports
        assert_eq!(icmp.payload(), &inner_of(&f)[..28]);
        let frame = ethernet([2; 6], [3; 6], &p);
        assert!(crate::net::parse(&frame).is_ok());
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        let t = tunnel(1500);
        let arp = crate::net::arp_request([2; 6], US, REAL);
        assert!(matches!(
            encapsulate(&arp, &t, 0),
            Err(TunnelError::NotIpv4(_))
        ));
        let f = segment(10, false);
        for cut in 0..f.len() {
            let _ = encapsulate(&f[..cut], &t, 0);
        }
        for mtu in [0, 1, 20, 100, 576, 577, 9000] {
            let _ = encapsulate(&segment(1400, false), &tunnel(mtu), 0).unwrap();
        }
    }
}
