//! Frame builders and checksum checkers for the fuzz bodies, their seed corpora and the
//! malformed-traffic corpus: Ethernet II / IPv4 / TCP (or UDP, ICMP) frames built byte by byte,
//! so a test can make exactly the broken frame it wants (options, fragments, bad lengths).

use std::net::Ipv4Addr;

use vsnic_contract::entry::{Action, Entry, FlowKey};

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// The addresses the fuzz bodies and corpora use: a client on port 0's subnet, the virtual
/// service, a real server on port 1's subnet.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
pub const REAL: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
pub const PORT0_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const PORT1_ADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
pub const CLIENT_MAC: [u8; 6] = [0x02, 0x43, 0, 0, 0, 2];
pub const REAL_MAC: [u8; 6] = [0x02, 0x53, 0, 0, 0, 2];
pub const PORT0_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 0, 1];
pub const PORT1_MAC: [u8; 6] = [0x02, 0x5e, 0, 0, 1, 1];

/// Ones' complement sum (unfolded) of big-endian 16-bit words, odd byte padded, added to `acc`.
pub fn ones(acc: u64, data: &[u8]) -> u64 {
    data.chunks(2).fold(acc, |a, c| {
        a + u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u64
    })
}

/// Fold a sum to 16 bits (end-around carry).
pub fn fold(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// Where the IPv4 header and its payload are, if the frame is IPv4 with a plausible header:
/// `(ihl, end of the IP packet)`. The end is capped by nothing: `None` if the total length
/// claims more than the frame holds.
fn ipv4_bounds(f: &[u8]) -> Option<(usize, usize)> {
    if f.len() < 34 || be16(f, 12) != 0x0800 || f[14] >> 4 != 4 {
        return None;
    }
    let ihl = (f[14] & 0xf) as usize * 4;
    let total = be16(f, 16) as usize;
    if ihl < 20 || total < ihl || 14 + total > f.len() || 14 + ihl > f.len() {
        return None;
    }
    Some((ihl, 14 + total))
}

/// The IPv4 header checksum of an IPv4 frame is right (`None`: not IPv4 or header cut).
pub fn ipv4_csum_ok(f: &[u8]) -> Option<bool> {
    if f.len() < 34 || be16(f, 12) != 0x0800 || f[14] >> 4 != 4 {
        return None;
    }
    let ihl = (f[14] & 0xf) as usize * 4;
    if ihl < 20 || 14 + ihl > f.len() {
        return None;
    }
    Some(fold(ones(0, &f[14..14 + ihl])) == 0xffff)
}

/// The TCP (or UDP) checksum over pseudo-header and segment is right. `None` when it cannot be
/// computed (not IPv4 TCP/UDP, a fragment, the IP total length beyond the frame) or, for UDP,
/// when the checksum is 0 ("none").
pub fn l4_csum_ok(f: &[u8]) -> Option<bool> {
    let (ihl, end) = ipv4_bounds(f)?;
    if be16(f, 20) & 0x3fff != 0 {
        return None;
    }
    let proto = f[23];
    let l4 = 14 + ihl;
    let min = match proto {
        6 => 20,
        17 => 8,
        _ => return None,
    };
    if end < l4 + min {
        return None;
    }
    if proto == 17 && be16(f, l4 + 6) == 0 {
        return None;
    }
    let mut acc = ones(0, &f[26..34]);
    acc += proto as u64 + (end - l4) as u64;
    acc = ones(acc, &f[l4..end]);
    Some(fold(acc) == 0xffff)
}

/// Recompute the IPv4 header checksum (and the TCP/UDP checksum if computable).
pub fn fix_checksums(f: &mut [u8]) {
    if f.len() < 34 || be16(f, 12) != 0x0800 {
        return;
    }
    let ihl = ((f[14] & 0xf) as usize * 4).max(20);
    if 14 + ihl > f.len() {
        return;
    }
    f[24] = 0;
    f[25] = 0;
    let c = !fold(ones(0, &f[14..14 + ihl]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    let Some((_, end)) = ipv4_bounds(f) else {
        return;
    };
    let l4 = 14 + ihl;
    let at = match f[23] {
        6 if end >= l4 + 20 => l4 + 16,
        17 if end >= l4 + 8 => l4 + 6,
        _ => return,
    };
    f[at] = 0;
    f[at + 1] = 0;
    let mut acc = ones(0, &f[26..34]);
    acc += f[23] as u64 + (end - l4) as u64;
    acc = ones(acc, &f[l4..end]);
    let mut c = !fold(acc);
    if f[23] == 17 && c == 0 {
        c = 0xffff;
    }
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// A TCP segment's fields.
#[derive(Debug, Clone)]
pub struct Tcp<'a> {
    pub smac: [u8; 6],
    pub dmac: [u8; 6],
    pub src: (Ipv4Addr, u16),
    pub dst: (Ipv4Addr, u16),
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    /// TCP option bytes (padded with EOL to a multiple of 4).
    pub opts: &'a [u8],
    /// IPv4 option bytes (padded with EOL to a multiple of 4).
    pub ip_opts: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> Tcp<'a> {
    /// A segment with no options and no flags but ACK.
    pub fn new(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &'a [u8]) -> Tcp<'a> {
        Tcp {
            smac: CLIENT_MAC,
            dmac: PORT0_MAC,
            src,
            dst,
            seq: 1000,
            ack: 1,
            flags: ACK,
            opts: &[],
            ip_opts: &[],
            payload,
        }
    }

    /// The frame, with correct checksums, zero-padded to 60 bytes.
    pub fn build(&self) -> Vec<u8> {
        let pad4 = |n: usize| n.div_ceil(4) * 4;
        let ip_opt_len = pad4(self.ip_opts.len()).min(40);
        let opt_len = pad4(self.opts.len()).min(40);
        let ihl = 20 + ip_opt_len;
        let doff = 20 + opt_len;
        let total = ihl + doff + self.payload.len();
        let mut f = Vec::with_capacity(14 + total);
        f.extend_from_slice(&self.dmac);
        f.extend_from_slice(&self.smac);
        f.extend_from_slice(&[0x08, 0x00]);
        f.push(0x40 | (ihl / 4) as u8);
        f.push(0);
        f.extend_from_slice(&(total as u16).to_be_bytes());
        f.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, 6, 0, 0]);
        f.extend_from_slice(&self.src.0.octets());
        f.extend_from_slice(&self.dst.0.octets());
        let mut io = self.ip_opts[..self.ip_opts.len().min(40)].to_vec();
        io.resize(ip_opt_len, 0);
        f.extend_from_slice(&io);
        f.extend_from_slice(&self.src.1.to_be_bytes());
        f.extend_from_slice(&self.dst.1.to_be_bytes());
        f.extend_from_slice(&self.seq.to_be_bytes());
        f.extend_from_slice(&self.ack.to_be_bytes());
        f.push(((doff / 4) as u8) << 4);
        f.push(self.flags);
        f.extend_from_slice(&[0xfa, 0xf0, 0, 0, 0, 0]);
        let mut o = self.opts[..self.opts.len().min(40)].to_vec();
        o.resize(opt_len, 0);
        f.extend_from_slice(&o);
        f.extend_from_slice(self.payload);
        fix_checksums(&mut f);
        if f.len() < 60 {
            f.resize(60, 0);
        }
        f
    }
}

/// A UDP/IPv4 frame with correct checksums.
pub fn udp(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut f = Vec::new();
    f.extend_from_slice(&PORT0_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    f.extend_from_slice(&(total as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src.0.octets());
    f.extend_from_slice(&dst.0.octets());
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    fix_checksums(&mut f);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

/// An ICMP echo request (IPv4 protocol 1) with a correct IPv4 header checksum.
pub fn icmp_echo(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&PORT0_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 2, 0x40, 0, 64, 1, 0, 0]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let mut icmp = vec![8, 0, 0, 0, 0, 1, 0, 1];
    let c = !fold(ones(0, &icmp));
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&icmp);
    fix_checksums(&mut f);
    f.resize(60, 0);
    f
}

/// An ARP packet (`op` 1 request, 2 reply) from `sender` about `target`.
pub fn arp(op: u16, sender: ([u8; 6], Ipv4Addr), target: ([u8; 6], Ipv4Addr)) -> Vec<u8> {
    let mut f = Vec::new();
    let dst = if op == 1 { [0xff; 6] } else { target.0 };
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sender.0);
    f.extend_from_slice(&sender.1.octets());
    f.extend_from_slice(&target.0);
    f.extend_from_slice(&target.1.octets());
    f.resize(60, 0);
    f
}

/// The two NIC entries of a NAT'd web connection `CLIENT:cport` → `VIP:80` served by
/// `REAL:8080`: (client → VIP, DNAT out of port 1; real server → client, SNAT out of port 0).
pub fn web_entries(cport: u16) -> (Entry, Entry) {
    let inbound = Entry {
        key: FlowKey {
            saddr: CLIENT.octets(),
            daddr: VIP.octets(),
            sport: cport,
            dport: 80,
            proto: 6,
        },
        valid: true,
        action: Action::Dnat,
        egress_port: 1,
        nat_addr: REAL.octets(),
        nat_port: 8080,
        dmac: REAL_MAC,
        smac: PORT1_MAC,
        ..Default::default()
    };
    let outbound = Entry {
        key: FlowKey {
            saddr: REAL.octets(),
            daddr: CLIENT.octets(),
            sport: 8080,
            dport: cport,
            proto: 6,
        },
        action: Action::Snat,
        egress_port: 0,
        nat_addr: VIP.octets(),
        nat_port: 80,
        dmac: CLIENT_MAC,
        smac: PORT0_MAC,
        ..inbound
    };
    (inbound, outbound)
}
