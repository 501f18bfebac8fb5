//! Editing Ethernet/IPv4/TCP frames on the host: the payload-replace primitive and the seq, ack
//! and SACK fix-ups, with the IPv4 header checksum and the TCP checksum recomputed.
//!
//! Frames are untagged Ethernet II, IPv4 (options allowed), unfragmented TCP — what the NIC
//! hands the host. Trailing Ethernet padding (frames shorter than 60 bytes) is allowed; the TCP
//! payload ends where the IPv4 total length says. Every function checks its input and refuses
//! (an `Err`, the frame unchanged) rather than write a frame that would be wrong; nothing here
//! panics on any input.

use std::ops::Range;

/// The largest frame we build (without FCS): 1500 bytes of IP plus the Ethernet header.
pub const MAX_FRAME: usize = 1514;
/// Frames shorter than this are zero-padded to it.
pub const MIN_FRAME: usize = 60;

const ETH_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const PROTO_TCP: u8 = 6;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("not an untagged Ethernet II / IPv4 frame")]
    NotIpv4,
    #[error("malformed IPv4 header")]
    BadIpv4,
    #[error("fragmented IPv4 packet")]
    Fragment,
    #[error("not TCP")]
    NotTcp,
    #[error("malformed TCP header")]
    BadTcp,
    #[error("replace range {start}..{end} outside the {len}-byte payload")]
    Range {
        start: usize,
        end: usize,
        len: usize,
    },
    #[error("overlapping or unordered rewrites")]
    Overlap,
    #[error("the rewritten frame would be {len} bytes (max {MAX_FRAME})")]
    TooBig { len: usize },
}

/// Where things are in a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpLayout {
    /// Start of the IPv4 header.
    pub ip: usize,
    /// Start of the TCP header.
    pub tcp: usize,
    /// The TCP payload.
    pub payload: Range<usize>,
}

impl TcpLayout {
    pub fn payload_len(&self) -> usize {
        self.payload.len()
    }
}

fn be16(f: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([f[i], f[i + 1]])
}

fn be32(f: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([f[i], f[i + 1], f[i + 2], f[i + 3]])
}

fn put16(f: &mut [u8], i: usize, v: u16) {
    f[i..i + 2].copy_from_slice(&v.to_be_bytes());
}

fn put32(f: &mut [u8], i: usize, v: u32) {
    f[i..i + 4].copy_from_slice(&v.to_be_bytes());
}

/// Check a frame and find its headers and payload.
pub fn layout(f: &[u8]) -> Result<TcpLayout, FrameError> {
    if f.len() < ETH_LEN + 20 || be16(f, 12) != ETHERTYPE_IPV4 {
        return Err(FrameError::NotIpv4);
    }
    let ip = ETH_LEN;
    let ihl = (f[ip] & 0x0f) as usize * 4;
    let total = be16(f, ip + 2) as usize;
    if f[ip] >> 4 != 4 || ihl < 20 || total < ihl || ip + total > f.len() {
        return Err(FrameError::BadIpv4);
    }
    let frag = be16(f, ip + 6);
    if frag & 0x3fff != 0 {
        return Err(FrameError::Fragment);
    }
    if f[ip + 9] != PROTO_TCP {
        return Err(FrameError::NotTcp);
    }
    let tcp = ip + ihl;
    if total - ihl < 20 {
        return Err(FrameError::BadTcp);
    }
    let doff = (f[tcp + 12] >> 4) as usize * 4;
    if doff < 20 || doff > total - ihl {
        return Err(FrameError::BadTcp);
    }
    Ok(TcpLayout {
        ip,
        tcp,
        payload: tcp + doff..ip + total,
    })
}

/// Ones' complement sum of `data` (as big-endian 16-bit words, odd byte padded) added to `acc`.
fn sum(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [b] = chunks.remainder() {
        acc += (*b as u32) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Recompute the IPv4 header checksum and the TCP checksum (over pseudo-header and segment).
pub fn fill_checksums(f: &mut [u8], l: &TcpLayout) {
    let ihl = l.tcp - l.ip;
    put16(f, l.ip + 10, 0);
    let c = !fold(sum(0, &f[l.ip..l.ip + ihl]));
    put16(f, l.ip + 10, c);
    let seg_len = l.payload.end - l.tcp;
    put16(f, l.tcp + 16, 0);
    let mut acc = sum(0, &f[l.ip + 12..l.ip + 20]); // source and destination addresses
    acc += PROTO_TCP as u32 + seg_len as u32;
    acc = sum(acc, &f[l.tcp..l.payload.end]);
    put16(f, l.tcp + 16, !fold(acc));
}

/// One replacement in a TCP payload: bytes `start..end` become `new_bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice<'a> {
    pub start: usize,
    pub end: usize,
    pub new_bytes: &'a [u8],
}

/// Replace bytes `start..end` of the TCP payload of `frame` with `new_bytes` (any length),
/// update the IPv4 total length and both checksums. Returns the length change. Refuses (the
/// frame unchanged) a bad frame, a range outside the payload, or a result over [`MAX_FRAME`].
pub fn replace_payload(
    frame: &mut Vec<u8>,
    start: usize,
    end: usize,
    new_bytes: &[u8],
) -> Result<isize, FrameError> {
    replace_many(
        frame,
        &[Splice {
            start,
            end,
            new_bytes,
        }],
    )
}

/// Several replacements at once, in increasing, non-overlapping payload order (offsets refer to
/// the original payload). All or nothing. Returns the total length change.
pub fn replace_many(frame: &mut Vec<u8>, splices: &[Splice<'_>]) -> Result<isize, FrameError> {
    let l = layout(frame)?;
    let len = l.payload_len();
    let mut prev_end = 0;
    let mut delta: isize = 0;
    for s in splices {
        if s.start > s.end || s.end > len {
            return Err(FrameError::Range {
                start: s.start,
                end: s.end,
                len,
            });
        }
        if s.start < prev_end {
            return Err(FrameError::Overlap);
        }
        prev_end = s.end;
        delta += s.new_bytes.len() as isize - (s.end - s.start) as isize;
    }
    let new_ip_end = (l.payload.end as isize + delta) as usize;
    if new_ip_end > MAX_FRAME {
        return Err(FrameError::TooBig { len: new_ip_end });
    }
    let mut out = Vec::with_capacity(new_ip_end.max(MIN_FRAME));
    out.extend_from_slice(&frame[..l.payload.start]);
    let payload = &frame[l.payload.clone()];
    let mut at = 0;
    for s in splices {
        out.extend_from_slice(&payload[at..s.start]);
        out.extend_from_slice(s.new_bytes);
        at = s.end;
    }
    out.extend_from_slice(&payload[at..]);
    let total = new_ip_end - l.ip;
    put16(&mut out, l.ip + 2, total as u16);
    let nl = TcpLayout {
        payload: l.payload.start..new_ip_end,
        ..l
    };
    fill_checksums(&mut out, &nl);
    if out.len() < MIN_FRAME {
        out.resize(MIN_FRAME, 0);
    }
    *frame = out;
    Ok(delta)
}

/// The TCP fields the app layer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    pub seq: u32,
    pub ack: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    pub ack_flag: bool,
}

pub fn tcp_info(f: &[u8], l: &TcpLayout) -> TcpInfo {
    let flags = f[l.tcp + 13];
    TcpInfo {
        seq: be32(f, l.tcp + 4),
        ack: be32(f, l.tcp + 8),
        fin: flags & 0x01 != 0,
        syn: flags & 0x02 != 0,
        rst: flags & 0x04 != 0,
        ack_flag: flags & 0x10 != 0,
    }
}

/// Rewrite the sequence number with `seq_map`, and — if the ACK flag is set — the ack number and
/// every SACK edge with `ack_map`; then recompute the checksums. Truncated or malformed TCP
/// options are left alone (the SACK walk stops), as netfilter does.
pub fn fix_seq_ack(
    frame: &mut [u8],
    seq_map: impl Fn(u32) -> u32,
    ack_map: impl Fn(u32) -> u32,
) -> Result<(), FrameError> {
    let l = layout(frame)?;
    let info = tcp_info(frame, &l);
    put32(frame, l.tcp + 4, seq_map(info.seq));
    if info.ack_flag {
        put32(frame, l.tcp + 8, ack_map(info.ack));
        let mut i = l.tcp + 20;
        let end = l.payload.start;
        while i < end {
            match frame[i] {
                0 => break,
                1 => i += 1,
                kind => {
                    if i + 1 >= end {
                        break;
                    }
                    let len = frame[i + 1] as usize;
                    if len < 2 || i + len > end {
                        break;
                    }
                    if kind == 5 && (len - 2).is_multiple_of(8) {
                        let mut e = i + 2;
                        while e < i + len {
                            let v = be32(frame, e);
                            put32(frame, e, ack_map(v));
                            e += 4;
                        }
                    }
                    i += len;
                }
            }
        }
    }
    fill_checksums(frame, &l);
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
    use proptest::prelude::*;

    /// A TCP/IPv4 frame with `payload`, optionally with a SACK option.
    pub fn frame(seq: u32, ack: u32, payload: &[u8], sack: &[(u32, u32)]) -> Vec<u8> {
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 2], [10, 0, 0, 100], 64)
            .tcp(40000, 21, seq, 64240)
            .ack(ack);
        if !sack.is_empty() {
            use etherparse::TcpOptionElement::*;
            let mut opts = vec![Noop, Noop];
            let first = sack[0];
            let rest: [Option<(u32, u32)>; 3] =
                [sack.get(1), sack.get(2), sack.get(3)].map(|o| o.copied());
            opts.push(SelectiveAcknowledgement(first, rest));
            b = b.options(&opts).unwrap();
        }
        let mut f = Vec::new();
        b.write(&mut f, payload).unwrap();
        f
    }

    /// Checks both checksums with etherparse; returns the payload.
    pub fn verify(f: &[u8]) -> (u32, u32, Vec<u8>) {
        let p = SlicedPacket::from_ethernet(f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
            panic!()
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            panic!()
        };
        let th = t.to_header();
        let want = th
            .calc_checksum_ipv4(&h, t.payload())
            .expect("checksum computable");
        assert_eq!(th.checksum, want, "TCP checksum");
        (
            t.sequence_number(),
            t.acknowledgment_number(),
            t.payload().to_vec(),
        )
    }

    #[test]
    fn replace_grow_shrink_same() {
        let base = frame(
            1000,
            5,
            b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n",
            &[],
        );
        let l = layout(&base).unwrap();
        assert_eq!(l.payload_len(), 46);
        for new in [&b"10,0,0,100,156,64"[..], b"1,2,3,4,5,6", b"1,1,1,1,1,1"] {
            let mut f = base.clone();
            let d = replace_payload(&mut f, 27, 42, new).unwrap();
            assert_eq!(d, new.len() as isize - 15);
            let (seq, ack, p) = verify(&f);
            assert_eq!((seq, ack), (1000, 5));
            let mut want = b"227 Entering Passive Mode (".to_vec();
            want.extend_from_slice(new);
            want.extend_from_slice(b").\r\n");
            assert_eq!(p, want);
        }
        // replace everything with nothing: a 54-byte frame padded to 60, still valid
        let mut f = base.clone();
        assert_eq!(replace_payload(&mut f, 0, 46, b"").unwrap(), -46);
        assert_eq!(f.len(), MIN_FRAME);
        assert_eq!(verify(&f).2, b"");
    }

    #[test]
    fn refusals_leave_the_frame_alone() {
        let base = frame(1, 1, b"hello", &[]);
        let mut f = base.clone();
        assert!(matches!(
            replace_payload(&mut f, 3, 6, b"x"),
            Err(FrameError::Range { .. })
        ));
        assert!(matches!(
            replace_payload(&mut f, 4, 3, b"x"),
            Err(FrameError::Range { .. })
        ));
        let big = vec![b'a'; MAX_FRAME];
        assert!(matches!(
            replace_payload(&mut f, 0, 5, &big),
            Err(FrameError::TooBig { .. })
        ));
        assert!(matches!(
            replace_many(
                &mut f,
                &[
                    Splice {
                        start: 2,
                        end: 4,
                        new_bytes: b""
                    },
                    Splice {
                        start: 3,
                        end: 5,
                        new_bytes: b""
                    }
                ]
            ),
            Err(FrameError::Overlap)
        ));
        assert_eq!(f, base);
        // exactly 1514 is fine
        let mut f = base.clone();
        let fill = vec![b'a'; MAX_FRAME - (14 + 20 + 20)];
        replace_payload(&mut f, 0, 5, &fill).unwrap();
        assert_eq!(f.len(), MAX_FRAME);
        verify(&f);
        // not IPv4 / not TCP / fragment / truncated
        let mut v6 = base.clone();
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(layout(&v6), Err(FrameError::NotIpv4));
        let mut udp = base.clone();
        udp[14 + 9] = 17;
        assert_eq!(layout(&udp), Err(FrameError::NotTcp));
        let mut fr = base.clone();
        fr[14 + 6] = 0x20; // more fragments
        assert_eq!(layout(&fr), Err(FrameError::Fragment));
        assert!(layout(&base[..40]).is_err());
        let mut bad = base.clone();
        bad[14 + 20 + 12] = 0xf0; // data offset 60 > segment
        assert_eq!(layout(&bad), Err(FrameError::BadTcp));
        assert!(layout(&[]).is_err());
    }

    #[test]
    fn padded_frames_use_the_ip_length() {
        let mut f = frame(7, 9, b"PASV\r\n", &[]);
        f.resize(f.len() + 8, 0xee); // padding with junk: not payload
        assert_eq!(layout(&f).unwrap().payload_len(), 6);
        replace_payload(&mut f, 0, 4, b"EPSV").unwrap();
        assert_eq!(verify(&f).2, b"EPSV\r\n");
    }

    #[test]
    fn seq_ack_and_sack_fix() {
        let mut f = frame(100, 2000, b"", &[(2010, 2020), (2030, 2040)]);
        fix_seq_ack(&mut f, |s| s + 1, |a| a - 3).unwrap();
        let (seq, ack, _) = verify(&f);
        assert_eq!((seq, ack), (101, 1997));
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!()
        };
        let sacks: Vec<_> = t
            .options_iterator()
            .filter_map(|o| match o.unwrap() {
                etherparse::TcpOptionElement::SelectiveAcknowledgement(a, rest) => Some((a, rest)),
                _ => None,
            })
            .collect();
        assert_eq!(sacks.len(), 1);
        assert_eq!(sacks[0].0, (2007, 2017));
        assert_eq!(sacks[0].1[0], Some((2027, 2037)));
    }

    proptest! {
        #[test]
        fn replace_keeps_checksums_valid(
            payload in prop::collection::vec(any::<u8>(), 0..600),
            a in any::<usize>(), b in any::<usize>(),
            new in prop::collection::vec(any::<u8>(), 0..300),
            seq in any::<u32>(),
        ) {
            let base = frame(seq, 1, &payload, &[]);
            let (mut s, mut e) = (a % (payload.len() + 1), b % (payload.len() + 1));
            if s > e { std::mem::swap(&mut s, &mut e); }
            let mut f = base.clone();
            let d = replace_payload(&mut f, s, e, &new).unwrap();
            prop_assert_eq!(d, new.len() as isize - (e - s) as isize);
            let (sq, _, p) = verify(&f);
            prop_assert_eq!(sq, seq);
            let mut want = payload[..s].to_vec();
            want.extend_from_slice(&new);
            want.extend_from_slice(&payload[e..]);
            prop_assert_eq!(p, want);
        }
    }
}
