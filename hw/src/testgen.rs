//! Random traffic for the differential tests: TCP frames on a set of installed flows (hits),
//! unknown flows (misses), SYNs, host-injected frames, and every malformed kind the classifier
//! knows (truncated, non-IPv4, IP options, bad checksum, fragments, UDP/ICMP).

use crate::model::Model;
use etherparse::PacketBuilder;
use rand::{rngs::StdRng, seq::SliceRandom, Rng};
use vsnic_contract::entry::{Action, Entry, WORDS};
use vsnic_contract::{hash, stream, FlowKey};

pub struct Traffic {
    pub table_bits: u32,
    pub flows: Vec<(FlowKey, Entry)>,
}

fn rand_key(rng: &mut StdRng) -> FlowKey {
    FlowKey {
        saddr: [10, rng.gen_range(0..4), rng.gen(), rng.gen()],
        daddr: [10, rng.gen_range(0..4), rng.gen(), rng.gen()],
        sport: rng.gen(),
        dport: rng.gen(),
        proto: 6,
    }
}

impl Traffic {
    /// `n` installed flows with distinct buckets.
    pub fn new(rng: &mut StdRng, table_bits: u32, n: usize) -> Traffic {
        let mut flows: Vec<(FlowKey, Entry)> = Vec::new();
        while flows.len() < n {
            let key = rand_key(rng);
            let b = hash::bucket(&key, table_bits);
            if flows.iter().any(|(k, _)| hash::bucket(k, table_bits) == b) {
                continue;
            }
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
            };
            flows.push((key, e));
        }
        Traffic { table_bits, flows }
    }

    pub fn entries(&self) -> Vec<(u32, [u32; WORDS])> {
        self.flows
            .iter()
            .map(|(k, e)| (hash::bucket(k, self.table_bits), e.to_words()))
            .collect()
    }

    fn tcp(rng: &mut StdRng, key: &FlowKey, syn: bool, ack: bool, payload: usize) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, rng.gen()], [2, 0, 0, 0, 1, rng.gen()])
            .ipv4(key.saddr, key.daddr, rng.gen_range(1..=255))
            .tcp(key.sport, key.dport, rng.gen(), rng.gen());
        let b = match (syn, ack) {
            (true, false) => b.syn(),
            (true, true) => b.syn().ack(rng.gen()),
            (false, true) => b.ack(rng.gen()).psh(),
            (false, false) => b.fin(),
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
        let known = self.flows.choose(rng).unwrap().0;
        let mut user = stream::user(port, false, false);
        let f = match rng.gen_range(0..100) {
            0..=49 => Self::tcp(rng, &known, false, true, payload),
            50..=54 => Self::tcp(rng, &known, true, true, payload),
            55..=59 => Self::tcp(rng, &known, true, false, 0),
            60..=69 => {
                let (k, syn) = (rand_key(rng), rng.gen_bool(0.3));
                Self::tcp(rng, &k, syn, true, payload)
            }
            70..=76 => {
                user = stream::user(port, true, rng.gen_bool(0.5));
                let syn = rng.gen_bool(0.5);
                Self::tcp(rng, &known, syn, true, payload)
            }
            77..=79 => {
                let mut f = Self::tcp(rng, &known, false, true, payload);
                let n = rng.gen_range(1..54);
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
                let b = PacketBuilder::ethernet2([2; 6], [3; 6])
                    .ipv4(known.saddr, known.daddr, 9)
                    .udp(known.sport, known.dport);
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
