//! Random traffic for the differential tests: TCP frames on a set of installed flows (hits),
//! unknown flows (misses), SYNs, host-injected frames, and every malformed kind the classifier
//! knows (truncated, non-IPv4, IP options, bad checksum, fragments, UDP/ICMP).

use crate::model::Model;
use etherparse::PacketBuilder;
use rand::{rngs::StdRng, seq::SliceRandom, Rng};
use vsnic_contract::entry::{Action, Entry, SeqDelta, WORDS};
use vsnic_contract::{hash, stream, FlowKey};

pub struct Traffic {
    pub flows: Vec<(FlowKey, Entry)>,
    /// Each flow's bucket: a random free way of its set.
    pub buckets: Vec<u32>,
}

fn rand_key(rng: &mut StdRng) -> FlowKey {
    FlowKey {
        saddr: [10, rng.gen_range(0..4), rng.gen(), rng.gen()],
        daddr: [10, rng.gen_range(0..4), rng.gen(), rng.gen()],
        sport: rng.gen(),
        dport: rng.gen(),
        proto: if rng.gen_bool(0.2) { 17 } else { 6 },
    }
}

/// A UDP frame (a zero checksum, "none", now and then).
fn udp(rng: &mut StdRng, key: &FlowKey, payload: usize) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, rng.gen()], [2, 0, 0, 0, 1, rng.gen()])
        .ipv4(key.saddr, key.daddr, rng.gen_range(1..=255))
        .udp(key.sport, key.dport);
    let body: Vec<u8> = (0..payload).map(|_| rng.gen()).collect();
    let mut out = Vec::new();
    b.write(&mut out, &body).expect("frame builds");
    if rng.gen_bool(0.2) {
        out[40] = 0;
        out[41] = 0;
    }
    out
}

fn rand_delta(rng: &mut StdRng) -> SeqDelta {
    let pos: u32 = rng.gen();
    let off = |rng: &mut StdRng| rng.gen_range(-40i32..40) as u32;
    SeqDelta {
        pos,
        before: off(rng),
        after: off(rng),
        // half of the deltas have older history the NIC does not hold
        floor: if rng.gen_bool(0.5) {
            pos
        } else {
            pos.wrapping_sub(rng.gen_range(1..1000))
        },
    }
}

impl Traffic {
    /// `n` installed flows, each in a random free way of its set (`hash::WAYS_LOG2` ways).
    pub fn new(rng: &mut StdRng, table_bits: u32, n: usize) -> Traffic {
        Self::new_keyed(rng, table_bits, hash::WAYS_LOG2, n, hash::DEFAULT_KEY)
    }

    /// `n` installed flows, each in a random free way of its set of a table of `2^ways_log2`
    /// ways, under flow hash key `hash_key` (at most the table's size).
    pub fn new_keyed(
        rng: &mut StdRng,
        table_bits: u32,
        ways_log2: u32,
        n: usize,
        hash_key: hash::HashKey,
    ) -> Traffic {
        assert!(n <= 1 << table_bits, "more flows than buckets");
        let g = hash::Geometry::new(table_bits, ways_log2);
        let mut used = vec![false; 1 << table_bits];
        let mut flows: Vec<(FlowKey, Entry)> = Vec::new();
        let mut buckets = Vec::new();
        while flows.len() < n {
            let key = rand_key(rng);
            let free: Vec<u32> = g
                .buckets(&key, &hash_key)
                .filter(|b| !used[*b as usize])
                .collect();
            let Some(&b) = free.choose(rng) else {
                continue;
            };
            if flows.iter().any(|(k, _)| *k == key) {
                continue;
            }
            used[b as usize] = true;
            buckets.push(b);
            let action = *[Action::Dnat, Action::Snat, Action::Forward]
                .choose(rng)
                .unwrap();
            let e = Entry {
                key,
                valid: true,
                action,
                egress_port: rng.gen_range(0..2),
                nat_addr: [10, 9, rng.gen(), rng.gen()],
                nat_port: rng.gen(),
                dmac: [2, 0xd, rng.gen(), rng.gen(), rng.gen(), rng.gen()],
                smac: [2, 0x5, rng.gen(), rng.gen(), rng.gen(), rng.gen()],
                app_bound: rng.gen_bool(0.2),
                seq: rng.gen_bool(0.4).then(|| rand_delta(rng)),
                ack: rng.gen_bool(0.4).then(|| rand_delta(rng)),
            };
            flows.push((key, e));
        }
        Traffic { flows, buckets }
    }

    pub fn entries(&self) -> Vec<(u32, [u32; WORDS])> {
        self.flows
            .iter()
            .zip(&self.buckets)
            .map(|((_, e), b)| (*b, e.to_words()))
            .collect()
    }

    fn tcp(rng: &mut StdRng, key: &FlowKey, syn: bool, ack: bool, payload: usize) -> Vec<u8> {
        Self::tcp_for(rng, key, None, syn, ack, payload)
    }

    /// A TCP frame; for an installed flow, its seq/ack numbers often sit right at the entry's
    /// delta positions and history floors, so every branch of the fixup is exercised.
    fn tcp_for(
        rng: &mut StdRng,
        key: &FlowKey,
        e: Option<&Entry>,
        syn: bool,
        ack: bool,
        payload: usize,
    ) -> Vec<u8> {
        let near = |rng: &mut StdRng, d: Option<SeqDelta>, bias: u32| match (d, rng.gen_range(0..5))
        {
            (Some(d), 0) => d.pos.wrapping_add(bias),
            (Some(d), 1) => d.pos.wrapping_add(bias).wrapping_add(1),
            (Some(d), 2) => d.floor.wrapping_add(bias).wrapping_add(rng.gen_range(0..2)),
            (Some(d), 3) => d.pos.wrapping_add(bias).wrapping_sub(rng.gen_range(1..3)),
            _ => rng.gen(),
        };
        let seq = near(rng, e.and_then(|e| e.seq), 0);
        let ackd = e.and_then(|e| e.ack);
        let acknum = near(rng, ackd, ackd.map_or(0, |d| d.before));
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, rng.gen()], [2, 0, 0, 0, 1, rng.gen()])
            .ipv4(key.saddr, key.daddr, rng.gen_range(1..=255))
            .tcp(key.sport, key.dport, seq, rng.gen());
        let b = match (syn, ack) {
            (true, false) => b.syn(),
            (true, true) => b.syn().ack(acknum),
            (false, true) => {
                // now and then a FIN or RST with the ack (the activity records count them)
                let b = b.ack(acknum).psh();
                match rng.gen_range(0..16) {
                    0 => b.fin(),
                    1 => b.rst(),
                    _ => b,
                }
            }
            (false, false) => b.fin(),
        };
        // Options on some segments: NOP, NOP, timestamps (what Linux puts on every segment; no
        // sequence numbers in it), the same in another order, the two SACK layouts the NIC
        // fixes (edges at the ack delta's position and floor as often as elsewhere), and SACK
        // options just off those layouts (the host's)
        let edges = |rng: &mut StdRng, blocks: usize| {
            let mut o = Vec::new();
            for _ in 0..2 * blocks {
                o.extend(near(rng, ackd, ackd.map_or(0, |d| d.before)).to_be_bytes());
            }
            o
        };
        let opts = match rng.gen_range(0..12) {
            0 | 1 => vec![1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2],
            2 => vec![8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 1],
            3 | 4 => {
                let n = rng.gen_range(1..=4);
                let mut o = vec![1, 1, 5, 2 + 8 * n as u8];
                o.extend(edges(rng, n));
                o
            }
            5 | 6 => {
                let n = rng.gen_range(1..=3);
                let mut o = vec![1, 1, 8, 10];
                o.extend(rng.gen::<[u8; 8]>());
                o.extend([1, 1, 5, 2 + 8 * n as u8]);
                o.extend(edges(rng, n));
                o
            }
            7 => {
                // a SACK layout with one thing wrong: the length, a kind, or an extra option
                let n = rng.gen_range(1..=3);
                let mut o = vec![1, 1, 5, 2 + 8 * n as u8];
                o.extend(edges(rng, n));
                match rng.gen_range(0..3) {
                    0 => o[3] = o[3].wrapping_add(rng.gen_range(1..8)),
                    1 => o[rng.gen_range(0..3)] = rng.gen(),
                    _ => o.extend([1, 1, 1, 0]),
                }
                o
            }
            _ => Vec::new(),
        };
        let b = if opts.is_empty() {
            b
        } else {
            b.options_raw(&opts).expect("at most 40 option bytes")
        };
        let body: Vec<u8> = (0..payload).map(|_| rng.gen()).collect();
        let mut out = Vec::new();
        b.write(&mut out, &body).expect("frame builds");
        out
    }

    /// One random frame and its stream side band.
    pub fn frame(&self, rng: &mut StdRng) -> (Vec<u8>, u8) {
        let payload = match rng.gen_range(0..4) {
            0 => 0,
            1 => rng.gen_range(1..16),
            2 => rng.gen_range(16..300),
            _ => rng.gen_range(300..1460),
        };
        let port = rng.gen_range(0..2);
        let (known, known_e) = *self.flows.choose(rng).unwrap();
        let mut user = stream::user(port, false, false);
        let f = match rng.gen_range(0..100) {
            _ if known.proto == 17 && rng.gen_bool(0.8) => {
                if rng.gen_bool(0.15) {
                    user = stream::user(port, true, rng.gen_bool(0.5));
                }
                let mut f = udp(rng, &known, payload);
                if rng.gen_bool(0.05) {
                    f.truncate(rng.gen_range(34..42));
                }
                f
            }
            0..=49 => Self::tcp_for(rng, &known, Some(&known_e), false, true, payload),
            50..=54 => Self::tcp_for(rng, &known, Some(&known_e), true, true, payload),
            55..=59 => Self::tcp(rng, &known, true, false, 0),
            60..=69 => {
                let (k, syn) = (rand_key(rng), rng.gen_bool(0.3));
                Self::tcp(rng, &k, syn, true, payload)
            }
            70..=76 => {
                user = stream::user(port, true, rng.gen_bool(0.5));
                let syn = rng.gen_bool(0.5);
                Self::tcp_for(rng, &known, Some(&known_e), syn, true, payload)
            }
            77..=79 => {
                // cut inside the headers, or inside the TCP options (a SACK layout the frame
                // holds only part of)
                let mut f = Self::tcp_for(rng, &known, Some(&known_e), false, true, payload);
                let n = if rng.gen_bool(0.5) {
                    rng.gen_range(1..54)
                } else {
                    rng.gen_range(54..96)
                };
                f.truncate(n);
                f
            }
            80..=82 => {
                let mut f = Self::tcp(rng, &known, false, true, payload);
                f[12] = 0x08;
                f[13] = 0x06; // ARP ethertype
                f
            }
            83..=85 => {
                let mut f = Self::tcp(rng, &known, false, true, payload);
                f[rng.gen_range(14..34)] ^= 1 << rng.gen_range(0..8); // corrupt the IP header
                f
            }
            86..=88 => {
                let mut f = Self::tcp(rng, &known, false, true, payload);
                f[20] |= 0x20; // more fragments
                fix_ip_csum(&mut f);
                f
            }
            89..=91 => {
                let mut f = Self::tcp(rng, &known, false, true, payload);
                f[14] = 0x46; // IHL 6: options
                fix_ip_csum(&mut f);
                f
            }
            92..=95 => {
                // ICMP echo: not TCP or UDP
                let b = PacketBuilder::ethernet2([2; 6], [3; 6])
                    .ipv4(known.saddr, known.daddr, 9)
                    .icmpv4_echo_request(1, 2);
                let mut out = Vec::new();
                b.write(&mut out, &vec![7u8; payload]).unwrap();
                out
            }
            _ => {
                let mut f = Self::tcp(rng, &known, false, true, payload);
                let at = rng.gen_range(0..f.len());
                f[at] = rng.gen(); // anything at all
                f
            }
        };
        let _ = Model::classify(&f); // must never panic
        (f, user)
    }
}

fn fix_ip_csum(f: &mut [u8]) {
    f[24] = 0;
    f[25] = 0;
    let s = !crate::model::ones_sum(&f[14..34]);
    f[24..26].copy_from_slice(&s.to_be_bytes());
}
