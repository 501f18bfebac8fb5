//! The pure-Rust reference model of the core: what the circuit must do to each frame.
//!
//! It is written independently of the circuit (byte arrays and host-order arithmetic, no lane
//! tricks), so the differential tests in [`crate::core`] compare two implementations of the same
//! specification. The classification order is the one documented in
//! [`vsnic_contract::exception`].

use std::collections::VecDeque;
use vsnic_contract::activity::{Activity, HitFlags};
use vsnic_contract::entry::{self, Action, Entry};
use vsnic_contract::exception::{sack, NUM_REASONS};
use vsnic_contract::{hash, stream, FlowKey, Reason};

/// Ethernet + IPv4 + TCP header bytes the fast path needs.
pub const MIN_TCP_FRAME: usize = 54;
/// Ethernet + IPv4 + UDP header bytes the fast path needs.
pub const MIN_UDP_FRAME: usize = 42;

fn is_udp(frame: &[u8]) -> bool {
    frame[23] == 17
}

/// Counters, as the core's counter block reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx_frames: u32,
    pub tx_frames: u32,
    pub fastpath: u32,
    pub exc_frames: u32,
    pub exc_drop: u32,
    pub exc_reason: [u32; NUM_REASONS],
    /// Per port (`regs::counters::PORT_*`), indexed by the stream's 2-bit port.
    pub port: [PortCounters; MAX_PORTS],
}

/// Number of ports the stream side band can name.
pub const MAX_PORTS: usize = vsnic_contract::regs::counters::MAX_PORTS as usize;

/// One port's counters: frames received from its network side, frames sent on it, exceptions
/// raised by frames received on it (delivered, and dropped for a full exception stream).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortCounters {
    pub rx: u32,
    pub tx: u32,
    pub exc: u32,
    pub exc_drop: u32,
}

/// Exception side band, as emitted with the last beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExcMeta {
    pub reason: Reason,
    pub src_port: u8,
    pub hit: bool,
    pub index: u32,
    pub len: u16,
}

/// What became of one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Tx { port: u8, frame: Vec<u8> },
    Exception { frame: Vec<u8>, meta: ExcMeta },
    Dropped,
}

/// A TCP frame's numbers after an entry's deltas ([`Model::fixed_numbers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedNumbers {
    pub seq: u32,
    pub ack: u32,
    /// The SACK edges the NIC fixes, each with its frame offset (empty when there are none).
    pub sack: Vec<(usize, u32)>,
}

/// The reference model of the core.
#[derive(Debug, Clone)]
pub struct Model {
    pub table_bits: u32,
    /// log2 of the table's ways (`hash::WAYS_LOG2` unless the core was built with fewer).
    pub ways_log2: u32,
    /// The flow hash key (`HASH_KEY0..3`; the default after reset).
    pub hash_key: hash::HashKey,
    table: Vec<[u32; entry::WORDS]>,
    pub counters: Counters,
    /// Each bucket's activity record (`ACT0..3` after a read command).
    activity: Vec<Activity>,
    /// Hits not yet recorded, in frame order: (bucket, frame length, flags). The core writes a
    /// hit's record some cycles after the frame entered; [`Model::record_hit`] applies them in
    /// that order with the time each was written at.
    pending_hits: VecDeque<(u32, u32, HitFlags)>,
    /// Hits recorded so far.
    pub hits_recorded: u64,
}

fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

/// Whether a TCP frame's options are exactly NOP, NOP, Timestamps (Linux's layout on every
/// segment): nothing in them depends on sequence numbers, so an ack delta needs no option fix.
pub fn timestamps_only(frame: &[u8]) -> bool {
    frame.len() >= 58 && (frame[46] >> 4) == 8 && frame[54..58] == [1, 1, 8, 10]
}

/// RFC 1624 eqn. 3 over 16-bit words: HC' = ~(~HC + ~m + m') for every changed word.
pub fn csum_update(hc: u16, old: &[u16], new: &[u16]) -> u16 {
    let mut sum = !hc as u32;
    for w in old {
        sum += !*w as u32;
    }
    for w in new {
        sum += *w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ones'-complement sum of big-endian 16-bit words (for checking).
pub fn ones_sum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn words(a: [u8; 4]) -> [u16; 2] {
    [be16(&a, 0), be16(&a, 2)]
}

impl Model {
    pub fn new(table_bits: u32) -> Model {
        Model {
            table_bits,
            ways_log2: hash::WAYS_LOG2,
            hash_key: hash::DEFAULT_KEY,
            table: vec![[0; entry::WORDS]; 1 << table_bits],
            counters: Counters::default(),
            activity: vec![Activity::default(); 1 << table_bits],
            pending_hits: VecDeque::new(),
            hits_recorded: 0,
        }
    }

    /// The activity record of a bucket, as a read command loads it into `ACT0..3`.
    pub fn read_activity(&self, index: u32) -> Activity {
        self.activity[index as usize % self.activity.len()]
    }

    /// Hits processed but not yet recorded.
    pub fn pending_hits(&self) -> usize {
        self.pending_hits.len()
    }

    /// Record the oldest pending hit at NIC time `now` (`Activity::record`); false if there is
    /// none.
    pub fn record_hit(&mut self, now: u32) -> bool {
        let Some((index, len, flags)) = self.pending_hits.pop_front() else {
            return false;
        };
        let a = &mut self.activity[index as usize];
        *a = a.record(len, flags, now);
        self.hits_recorded += 1;
        true
    }

    /// Record every pending hit at NIC time `now`.
    pub fn record_all(&mut self, now: u32) {
        while self.record_hit(now) {}
    }

    /// The flags of a frame that the activity record counts (TCP only).
    pub fn hit_flags(frame: &[u8]) -> HitFlags {
        if frame[23] != 6 {
            return HitFlags::default();
        }
        let f = frame[47];
        HitFlags {
            syn: f & 0x02 != 0,
            fin: f & 0x01 != 0,
            rst: f & 0x04 != 0,
        }
    }

    /// What the table block's CMD write does.
    pub fn write_entry(&mut self, index: u32, words: [u32; entry::WORDS]) {
        let n = self.table.len();
        self.table[index as usize % n] = words;
    }

    /// What the table block's read command loads into the staging words.
    pub fn read_entry(&self, index: u32) -> [u32; entry::WORDS] {
        self.table[index as usize % self.table.len()]
    }

    /// Classify a received frame: the exception reason, or `None` for the fast path.
    pub fn classify(frame: &[u8]) -> Reason {
        let len = frame.len();
        if len < 14 {
            return Reason::Truncated;
        }
        if be16(frame, 12) != 0x0800 {
            return Reason::NonIpv4;
        }
        if len < 34 {
            return Reason::Truncated;
        }
        if frame[14] >> 4 != 4 {
            return Reason::NonIpv4;
        }
        if frame[14] & 0xf != 5 {
            return Reason::IpOptions;
        }
        if ones_sum(&frame[14..34]) != 0xffff {
            return Reason::BadChecksum;
        }
        if be16(frame, 20) & 0x3fff != 0 {
            return Reason::Fragment;
        }
        if frame[23] == 17 {
            return if len < MIN_UDP_FRAME {
                Reason::Truncated
            } else {
                Reason::None
            };
        }
        if frame[23] != 6 {
            return Reason::NonTcpUdp;
        }
        if len < MIN_TCP_FRAME {
            return Reason::Truncated;
        }
        let flags = frame[47];
        if flags & 0x02 != 0 && flags & 0x10 == 0 {
            return Reason::Syn;
        }
        Reason::None
    }

    /// The 5-tuple of a classified TCP frame.
    pub fn key(frame: &[u8]) -> FlowKey {
        FlowKey {
            saddr: frame[26..30].try_into().unwrap(),
            daddr: frame[30..34].try_into().unwrap(),
            sport: be16(frame, 34),
            dport: be16(frame, 36),
            proto: frame[23],
        }
    }

    /// The table's sets and ways.
    pub fn geometry(&self) -> hash::Geometry {
        hash::Geometry::new(self.table_bits, self.ways_log2)
    }

    /// The entry `key` hits, with its bucket: the lowest way of its set holding a valid entry
    /// of that key. A miss reports the set's way-0 bucket.
    fn lookup(&self, key: &FlowKey) -> (u32, Option<Entry>) {
        let g = self.geometry();
        let mut buckets = g.buckets(key, &self.hash_key);
        let first = g.bucket(g.set_of(key, &self.hash_key), 0);
        buckets
            .find_map(|b| {
                Entry::from_words(&self.table[b as usize])
                    .filter(|e| e.valid && e.key == *key)
                    .map(|e| (b, Some(e)))
            })
            .unwrap_or((first, None))
    }

    /// The SACK edges the ack delta moves: the frame offsets of the edges of a recognised
    /// layout (`exception::sack`) when the entry has an ack delta and the ACK flag is set.
    fn sack_edges(frame: &[u8], e: &Entry) -> Option<std::ops::Range<usize>> {
        if is_udp(frame) || e.ack.is_none() || frame[47] & 0x10 == 0 {
            return None;
        }
        sack::edges(frame)
    }

    /// Every SACK edge of the frame after the entry's ack delta, with its frame offset (`None`:
    /// an edge older than the history). Empty when the frame has no edges the NIC fixes.
    fn fixed_sack(frame: &[u8], e: &Entry) -> Option<Vec<(usize, u32)>> {
        let (Some(edges), Some(d)) = (Model::sack_edges(frame, e), e.ack) else {
            return Some(Vec::new());
        };
        edges
            .step_by(4)
            .map(|at| {
                let edge = u32::from_be_bytes(frame[at..at + 4].try_into().unwrap());
                d.fix_ack(edge).map(|fixed| (at, fixed))
            })
            .collect()
    }

    /// The numbers of a frame after the entry's deltas (`None`: they, or a SACK edge the NIC
    /// fixes, are older than the entry's history; the host must fix it).
    pub fn fixed_numbers(frame: &[u8], e: &Entry) -> Option<FixedNumbers> {
        let sack = Model::fixed_sack(frame, e)?;
        let (seq, ack) = Model::fixed_seq_ack(frame, e)?;
        Some(FixedNumbers { seq, ack, sack })
    }

    fn fixed_seq_ack(frame: &[u8], e: &Entry) -> Option<(u32, u32)> {
        if is_udp(frame) {
            return None;
        }
        let seq = u32::from_be_bytes(frame[38..42].try_into().unwrap());
        let ack = u32::from_be_bytes(frame[42..46].try_into().unwrap());
        let has_ack = frame[47] & 0x10 != 0;
        let seq = match &e.seq {
            Some(d) => d.fix_seq(seq)?,
            None => seq,
        };
        let ack = match &e.ack {
            Some(d) if has_ack => d.fix_ack(ack)?,
            _ => ack,
        };
        Some((seq, ack))
    }

    /// Why a hit on `e` still goes to the host, if it does.
    pub fn hit_exception(frame: &[u8], e: &Entry) -> Option<Reason> {
        let ip_len = be16(frame, 16) as usize;
        let l4_hdr = if is_udp(frame) {
            8
        } else {
            (frame[46] >> 4) as usize * 4
        };
        let payload = ip_len.saturating_sub(20 + l4_hdr);
        if e.app_bound && payload > 0 {
            return Some(Reason::AppPayload);
        }
        if is_udp(frame) {
            return None;
        }
        let tcp_hdr = l4_hdr;
        if Model::fixed_numbers(frame, e).is_none() {
            return Some(Reason::SeqHistory);
        }
        if e.ack.is_some()
            && frame[47] & 0x10 != 0
            && tcp_hdr > 20
            && !timestamps_only(frame)
            && sack::edges(frame).is_none()
        {
            return Some(Reason::AckOptions);
        }
        None
    }

    /// Apply an entry's action to a copy of the frame: MACs always; then the NAT address and
    /// port, the seq/ack deltas and the RFC 1624 checksum updates. A host frame whose seq/ack
    /// is older than the history keeps its numbers.
    pub fn rewrite(frame: &[u8], e: &Entry) -> Vec<u8> {
        let mut f = frame.to_vec();
        f[0..6].copy_from_slice(&e.dmac);
        f[6..12].copy_from_slice(&e.smac);
        if is_udp(frame) {
            return Model::rewrite_udp(f, e);
        }
        let (addr_at, port_at) = match e.action {
            Action::Forward if e.seq.is_none() && e.ack.is_none() => return f,
            Action::Dnat | Action::Forward => (30, 36),
            Action::Snat => (26, 34),
        };
        let nat = e.action != Action::Forward;
        let old_addr: [u8; 4] = f[addr_at..addr_at + 4].try_into().unwrap();
        let old_port = be16(&f, port_at);
        let (new_addr, new_port) = if nat {
            (e.nat_addr, e.nat_port)
        } else {
            (old_addr, old_port)
        };
        let old_sa: [u8; 8] = f[38..46].try_into().unwrap();
        // SACK edges move with the ack (nothing moves when something is older than the history)
        let (seq, ack, sack_fixed) = match Model::fixed_numbers(frame, e) {
            Some(n) => (n.seq, n.ack, n.sack),
            None => (
                u32::from_be_bytes(old_sa[0..4].try_into().unwrap()),
                u32::from_be_bytes(old_sa[4..8].try_into().unwrap()),
                Vec::new(),
            ),
        };
        let mut new_sa = [0u8; 8];
        new_sa[0..4].copy_from_slice(&seq.to_be_bytes());
        new_sa[4..8].copy_from_slice(&ack.to_be_bytes());
        let w4 = |b: &[u8]| [be16(b, 0), be16(b, 2), be16(b, 4), be16(b, 6)];
        let ip_csum = csum_update(be16(&f, 24), &words(old_addr), &words(new_addr));
        let oa = words(old_addr);
        let na = words(new_addr);
        let os = w4(&old_sa);
        let ns = w4(&new_sa);
        let mut old_t = vec![oa[0], oa[1], old_port, os[0], os[1], os[2], os[3]];
        let mut new_t = vec![na[0], na[1], new_port, ns[0], ns[1], ns[2], ns[3]];
        for &(at, edge) in &sack_fixed {
            old_t.extend(words(f[at..at + 4].try_into().unwrap()));
            new_t.extend(words(edge.to_be_bytes()));
            f[at..at + 4].copy_from_slice(&edge.to_be_bytes());
        }
        let tcp_csum = csum_update(be16(&f, 50), &old_t, &new_t);
        f[addr_at..addr_at + 4].copy_from_slice(&new_addr);
        f[port_at..port_at + 2].copy_from_slice(&new_port.to_be_bytes());
        f[38..46].copy_from_slice(&new_sa);
        f[24..26].copy_from_slice(&ip_csum.to_be_bytes());
        f[50..52].copy_from_slice(&tcp_csum.to_be_bytes());
        f
    }

    /// The UDP part of [`Model::rewrite`]: address, port, IPv4 and UDP checksums (a zero UDP
    /// checksum means "none" and stays zero; a computed zero is sent as 0xFFFF).
    fn rewrite_udp(mut f: Vec<u8>, e: &Entry) -> Vec<u8> {
        let (addr_at, port_at) = match e.action {
            Action::Forward => return f,
            Action::Dnat => (30, 36),
            Action::Snat => (26, 34),
        };
        let old_addr: [u8; 4] = f[addr_at..addr_at + 4].try_into().unwrap();
        let old_port = be16(&f, port_at);
        let ip_csum = csum_update(be16(&f, 24), &words(old_addr), &words(e.nat_addr));
        let oa = words(old_addr);
        let na = words(e.nat_addr);
        let old_csum = be16(&f, 40);
        let udp_csum = match csum_update(
            old_csum,
            &[oa[0], oa[1], old_port],
            &[na[0], na[1], e.nat_port],
        ) {
            _ if old_csum == 0 => 0,
            0 => 0xFFFF,
            c => c,
        };
        f[addr_at..addr_at + 4].copy_from_slice(&e.nat_addr);
        f[port_at..port_at + 2].copy_from_slice(&e.nat_port.to_be_bytes());
        f[24..26].copy_from_slice(&ip_csum.to_be_bytes());
        f[40..42].copy_from_slice(&udp_csum.to_be_bytes());
        f
    }

    /// Process one frame entering the core with side band `user`. `exc_ready` is whether the
    /// exception stream could take a frame when this one reached the output.
    pub fn process(&mut self, frame: &[u8], user: u8, exc_ready: bool) -> Verdict {
        let c = &mut self.counters;
        c.rx_frames = c.rx_frames.wrapping_add(1);
        let port = user & 3;
        let from_host = user >> stream::FROM_HOST.start & 1 == 1;
        let bypass = user >> stream::BYPASS.start & 1 == 1;
        if !from_host {
            let p = &mut c.port[port as usize];
            p.rx = p.rx.wrapping_add(1);
        }
        let reason = Model::classify(frame);
        let lookup_ok = matches!(reason, Reason::None | Reason::Syn);
        let (index, hit) = if lookup_ok {
            self.lookup(&Model::key(frame))
        } else {
            (0, None)
        };
        if hit.is_some() {
            // every hit counts, whatever the frame's fate (the decision's HIT bit)
            self.pending_hits
                .push_back((index, frame.len() as u32, Model::hit_flags(frame)));
        }
        let c = &mut self.counters;
        if from_host {
            c.tx_frames = c.tx_frames.wrapping_add(1);
            let verdict = match hit {
                Some(e) if !bypass => Verdict::Tx {
                    port: e.egress_port,
                    frame: Model::rewrite(frame, &e),
                },
                _ => Verdict::Tx {
                    port,
                    frame: frame.to_vec(),
                },
            };
            if let Verdict::Tx { port, .. } = verdict {
                let p = &mut c.port[port as usize & (MAX_PORTS - 1)];
                p.tx = p.tx.wrapping_add(1);
            }
            return verdict;
        }
        let reason = match (reason, hit) {
            (Reason::None, Some(e)) if Model::hit_exception(frame, &e).is_some() => {
                Model::hit_exception(frame, &e).expect("checked")
            }
            (Reason::None, Some(e)) => {
                c.tx_frames = c.tx_frames.wrapping_add(1);
                c.fastpath = c.fastpath.wrapping_add(1);
                let p = &mut c.port[e.egress_port as usize & (MAX_PORTS - 1)];
                p.tx = p.tx.wrapping_add(1);
                return Verdict::Tx {
                    port: e.egress_port,
                    frame: Model::rewrite(frame, &e),
                };
            }
            (Reason::None, None) => Reason::Miss,
            (r, _) => r,
        };
        c.exc_reason[reason as usize] = c.exc_reason[reason as usize].wrapping_add(1);
        if !exc_ready {
            c.exc_drop = c.exc_drop.wrapping_add(1);
            let p = &mut c.port[port as usize];
            p.exc_drop = p.exc_drop.wrapping_add(1);
            return Verdict::Dropped;
        }
        c.exc_frames = c.exc_frames.wrapping_add(1);
        let p = &mut c.port[port as usize];
        p.exc = p.exc.wrapping_add(1);
        let meta = ExcMeta {
            reason,
            src_port: port,
            hit: hit.is_some(),
            index,
            len: frame.len() as u16,
        };
        Verdict::Exception {
            frame: frame.to_vec(),
            meta,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use vsnic_contract::entry::SeqDelta;

    pub fn tcp_frame(key: &FlowKey, flags_syn: bool, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xaa], [2, 0, 0, 0, 0, 0xbb])
            .ipv4(key.saddr, key.daddr, 64)
            .tcp(key.sport, key.dport, 1000, 65535);
        let b = if flags_syn { b.syn() } else { b.ack(5) };
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn key() -> FlowKey {
        FlowKey {
            saddr: [10, 0, 0, 2],
            daddr: [10, 0, 0, 100],
            sport: 40000,
            dport: 80,
            proto: 6,
        }
    }

    #[test]
    fn dnat_rewrites_and_checksums_stay_valid() {
        let mut m = Model::new(8);
        let e = Entry {
            key: key(),
            valid: true,
            action: Action::Dnat,
            egress_port: 1,
            nat_addr: [10, 1, 0, 2],
            nat_port: 8080,
            dmac: [2, 0, 0, 0, 1, 2],
            smac: [2, 0, 0, 0, 0, 1],
            app_bound: false,
            seq: Some(SeqDelta {
                pos: 10,
                before: 0,
                after: 7,
                floor: 10,
            }),
            ack: Some(SeqDelta {
                pos: 0,
                before: 0,
                after: (-3i32) as u32,
                floor: 0,
            }),
        };
        m.write_entry(hash::bucket(&key(), 8), e.to_words());
        let f = tcp_frame(&key(), false, b"hello");
        let Verdict::Tx { port, frame } = m.process(&f, 0, true) else {
            panic!()
        };
        assert_eq!(port, 1);
        let p = etherparse::SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = p.net else {
            panic!()
        };
        assert_eq!(ip.header().destination(), [10, 1, 0, 2]);
        let Some(etherparse::TransportSlice::Tcp(tcp)) = p.transport else {
            panic!()
        };
        assert_eq!(tcp.destination_port(), 8080);
        assert_eq!(tcp.sequence_number(), 1007);
        assert_eq!(tcp.acknowledgment_number(), 8);
        let want = tcp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), tcp.payload())
            .unwrap();
        assert_eq!(tcp.checksum(), want);
        assert_eq!(ones_sum(&frame[14..34]), 0xffff);
        assert_eq!(m.counters.fastpath, 1);
    }

    #[test]
    fn classification_order() {
        let f = tcp_frame(&key(), true, b"");
        assert_eq!(Model::classify(&f), Reason::Syn);
        assert_eq!(Model::classify(&f[..53]), Reason::Truncated);
        assert_eq!(Model::classify(&f[..10]), Reason::Truncated);
        let mut g = f.clone();
        g[24] ^= 1;
        assert_eq!(Model::classify(&g), Reason::BadChecksum);
        let mut arp = f.clone();
        arp[12] = 0x08;
        arp[13] = 0x06;
        assert_eq!(Model::classify(&arp[..42]), Reason::NonIpv4);
        let ok = tcp_frame(&key(), false, b"x");
        assert_eq!(Model::classify(&ok), Reason::None);
        let mut m = Model::new(8);
        let v = m.process(&ok, 0, true);
        assert!(matches!(
            v,
            Verdict::Exception {
                meta: ExcMeta {
                    reason: Reason::Miss,
                    ..
                },
                ..
            }
        ));
        assert_eq!(m.process(&ok, 0, false), Verdict::Dropped);
        assert_eq!(m.counters.exc_drop, 1);
        assert_eq!(m.counters.exc_reason[Reason::Miss as usize], 2);
    }
}
