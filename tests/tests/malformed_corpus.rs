//! The malformed-traffic corpus through the simulated NIC (`vsnic_sim::SimNic`: the RustHDL
//! core, MAC ports, the queue engine writing the exception ring in host memory): each frame's
//! fate — forwarded (with which rewrite), an exception (with which reason code), or a counted
//! drop (and by which counter) — is asserted, and checked against the reference model. For the
//! FTP payloads that reach the host, the helper's decision (refused, held, rewritten) is
//! asserted through its public API, and a 227 reply split at every byte position is rewritten
//! exactly as the whole reply.
//!
//! `cargo test -p vsnic-tests --test malformed_corpus -- --nocapture` prints the outcome table
//! that docs/reliability.md reproduces.

use std::net::{IpAddr, SocketAddr};

use vsnic_contract::entry::{Entry, FlowKey, SeqDelta};
use vsnic_contract::queue::{self, desc_from_bytes, exc_desc};
use vsnic_contract::regs::{counters, exq, table};
use vsnic_contract::{get_bits, hash, stream, Reason};
use vsnic_host::app::ftp::{FtpApp, FtpConfig, FtpStats};
use vsnic_host::app::{self, AppAction, AppRegistry, ConnCtx, Dir, SeqFix, PROTO_TCP};
use vsnic_hw::model::{Model, Verdict};
use vsnic_sim::SimNic;
use vsnic_tests::packets::{
    self, arp, icmp_echo, udp, web_entries, Tcp, ACK, CLIENT, CLIENT_MAC, PORT1_MAC, PSH, REAL,
    REAL_MAC, SYN, VIP,
};

const TABLE_BITS: u32 = 8;
const RING_LOG2: u32 = 4;
const WEB_CPORT: u16 = 40001;
const FTP_CPORT: u16 = 40000;

/// What happened to a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Sent out of `port`, rewritten as `Rw`.
    Tx(u8, Rw),
    /// Handed to the host through the exception ring with this reason.
    Exc(Reason),
    /// Dropped and counted by this counter.
    Drop(Counter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rw {
    /// Destination NATed to the real server.
    Dnat,
    /// Source NATed back to the VIP.
    Snat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counter {
    /// The MAC's RX counter of refused frames (`SimStats::rx_overflow`).
    MacRx,
    /// The queue engine: the exception did not fit the ring or a slot (`RING_FULL_DROPS`).
    ExcRing,
    /// The core: the exception queue had no room (`EXC_DROP`).
    CoreExcDrop,
}

/// What came out for one frame.
#[derive(Debug, Default)]
struct Outcome {
    tx: Vec<(u8, Vec<u8>)>,
    exc: Vec<(Reason, u8, bool, Vec<u8>)>,
    drops: Vec<Counter>,
}

struct Bench {
    nic: SimNic,
    model: Model,
    ring: usize,
    tail: u32,
}

fn entries() -> Vec<Entry> {
    let (web_in, web_out) = web_entries(WEB_CPORT);
    // The FTP control connection after two 227 rewrites, the newest growing the reply by 2 bytes
    // at 5047, the one before at 4000 (the NIC's floor: older numbers need the host's history):
    // the server's data carries the delta as `seq`, the client's acks as `ack` (appnat).
    let delta = SeqDelta {
        pos: 5047,
        before: 0,
        after: 2,
        floor: 4000,
    };
    let ftp_in = Entry {
        key: FlowKey {
            sport: FTP_CPORT,
            dport: 21,
            ..web_in.key
        },
        nat_port: 21,
        app_bound: true,
        ack: Some(delta),
        ..web_in
    };
    let ftp_out = Entry {
        key: FlowKey {
            sport: 21,
            dport: FTP_CPORT,
            ..web_out.key
        },
        nat_port: 21,
        app_bound: true,
        seq: Some(delta),
        ..web_out
    };
    vec![web_in, web_out, ftp_in, ftp_out]
}

impl Bench {
    fn new() -> Bench {
        let mut nic = SimNic::new(64, TABLE_BITS as usize).expect("core 64/8");
        let (ring, iova) = nic.mem.alloc((1 << RING_LOG2) * queue::SLOT_BYTES);
        nic.write32(exq::BASE + exq::BASE_LO, iova as u32);
        nic.write32(exq::BASE + exq::BASE_HI, (iova >> 32) as u32);
        nic.write32(exq::BASE + exq::SIZE_LOG2, RING_LOG2);
        let mut b = Bench {
            nic,
            model: Model::new(TABLE_BITS),
            ring,
            tail: 0,
        };
        for e in entries() {
            let index = hash::bucket(&e.key, TABLE_BITS);
            let words = e.to_words();
            for (i, w) in words.iter().enumerate() {
                b.nic.write32(table::BASE + table::DATA0 + 4 * i as u32, *w);
            }
            b.nic
                .write32(table::BASE + table::CMD, table::CMD_WRITE | index);
            b.model.write_entry(index, words);
        }
        b
    }

    fn core_counter(&mut self, off: u32) -> u32 {
        self.nic.read32(counters::BASE + off)
    }

    /// Receive `frame` on `port` and run until the NIC is idle.
    fn push(&mut self, port: usize, frame: &[u8]) -> Outcome {
        let s0 = self.nic.stats();
        let exc_drop0 = self.core_counter(counters::EXC_DROP);
        self.nic.receive(port, frame.to_vec());
        while self.nic.has_work() {
            self.nic.step();
        }
        let mut out = Outcome::default();
        for (p, port) in self.nic.ports.iter_mut().enumerate() {
            out.tx.extend(port.tx.drain(..).map(|f| (p as u8, f)));
        }
        let head = self.nic.engine.read(exq::BASE + exq::HEAD);
        while self.tail != head {
            let slot = (self.tail & ((1 << RING_LOG2) - 1)) as usize * queue::SLOT_BYTES;
            let mut d = [0u8; queue::DESC_BYTES];
            self.nic.mem.host_read(self.ring, slot, &mut d).unwrap();
            let d = desc_from_bytes(&d);
            let len = get_bits(&d, exc_desc::LEN) as usize;
            let mut f = vec![0u8; len];
            self.nic
                .mem
                .host_read(self.ring, slot + queue::DESC_BYTES, &mut f)
                .unwrap();
            let reason = Reason::from_code(get_bits(&d, exc_desc::REASON) as u8).unwrap();
            let src = get_bits(&d, exc_desc::SRC_PORT) as u8;
            let hit = get_bits(&d, exc_desc::HIT) == 1;
            out.exc.push((reason, src, hit, f));
            self.tail = self.tail.wrapping_add(1);
        }
        self.nic.write32(exq::BASE + exq::TAIL, self.tail);
        let s1 = self.nic.stats();
        if s1.rx_overflow != s0.rx_overflow {
            out.drops.push(Counter::MacRx);
        }
        if s1.exc_ring_drops != s0.exc_ring_drops {
            out.drops.push(Counter::ExcRing);
        }
        if self.core_counter(counters::EXC_DROP) != exc_drop0 {
            out.drops.push(Counter::CoreExcDrop);
        }
        out
    }

    /// Disable (or set up again) the exception ring.
    fn exq_enabled(&mut self, on: bool) {
        self.nic
            .write32(exq::BASE + exq::SIZE_LOG2, if on { RING_LOG2 } else { 0 });
        self.tail = 0;
    }
}

/// A case of the corpus.
struct Case {
    name: &'static str,
    port: usize,
    frame: Vec<u8>,
    fate: Fate,
}

fn web_in(payload: &[u8]) -> Tcp<'_> {
    Tcp {
        seq: 100,
        ack: 200,
        flags: PSH | ACK,
        ..Tcp::new((CLIENT, WEB_CPORT), (VIP, 80), payload)
    }
}

fn web_out(payload: &[u8]) -> Tcp<'_> {
    Tcp {
        smac: REAL_MAC,
        dmac: PORT1_MAC,
        seq: 200,
        ack: 100,
        flags: PSH | ACK,
        ..Tcp::new((REAL, 8080), (CLIENT, WEB_CPORT), payload)
    }
}

fn ftp_in(payload: &[u8]) -> Tcp<'_> {
    Tcp {
        seq: 1001,
        ack: 5100,
        flags: PSH | ACK,
        ..Tcp::new((CLIENT, FTP_CPORT), (VIP, 21), payload)
    }
}

fn ftp_out(payload: &[u8]) -> Tcp<'_> {
    Tcp {
        smac: REAL_MAC,
        dmac: PORT1_MAC,
        seq: 5100,
        ack: 1001,
        flags: PSH | ACK,
        ..Tcp::new((REAL, 21), (CLIENT, FTP_CPORT), payload)
    }
}

fn edit(mut f: Vec<u8>, g: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    g(&mut f);
    f
}

/// Set IPv4 header bytes and fix the header checksum only.
fn ip_edit(f: Vec<u8>, g: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(f, |f| {
        g(f);
        f[24] = 0;
        f[25] = 0;
        let ihl = ((f[14] & 0xf) as usize * 4).clamp(20, f.len() - 14);
        let c = !packets::fold(packets::ones(0, &f[14..14 + ihl]));
        f[24..26].copy_from_slice(&c.to_be_bytes());
    })
}

fn corpus() -> Vec<Case> {
    use Counter::*;
    use Fate::*;
    use Reason::*;
    let data = web_in(b"GET / HTTP/1.0\r\n\r\n").build();
    let sack_far = [1, 1, 5, 10, 0x7f, 0, 0, 0, 0x7f, 0, 0x10, 0];
    let sack = |t: Tcp<'static>| {
        Tcp {
            opts: &sack_far,
            ..t
        }
        .build()
    };
    let case = |name, port, frame, fate| Case {
        name,
        port,
        frame,
        fate,
    };
    vec![
        case(
            "well-formed, client → VIP",
            0,
            data.clone(),
            Tx(1, Rw::Dnat),
        ),
        case(
            "well-formed, real server → client",
            1,
            web_out(b"HTTP/1.0 200 OK\r\n").build(),
            Tx(0, Rw::Snat),
        ),
        case(
            "SYN+ACK of a known flow",
            1,
            Tcp {
                flags: SYN | ACK,
                ..web_out(b"")
            }
            .build(),
            Tx(0, Rw::Snat),
        ),
        case("runt: 0 bytes", 0, Vec::new(), Drop(MacRx)),
        case("runt: 1 byte", 0, data[..1].to_vec(), Exc(Truncated)),
        case("runt: 13 bytes", 0, data[..13].to_vec(), Exc(Truncated)),
        case(
            "truncated IPv4 header (Ethernet only)",
            0,
            data[..14].to_vec(),
            Exc(Truncated),
        ),
        case(
            "truncated IPv4 header (33 bytes)",
            0,
            data[..33].to_vec(),
            Exc(Truncated),
        ),
        case(
            "truncated TCP header (34 bytes)",
            0,
            data[..34].to_vec(),
            Exc(Truncated),
        ),
        case(
            "truncated TCP header (53 bytes)",
            0,
            data[..53].to_vec(),
            Exc(Truncated),
        ),
        case(
            "truncated UDP header (41 bytes)",
            0,
            udp((CLIENT, 5353), (VIP, 53), b"")[..41].to_vec(),
            Exc(Truncated),
        ),
        case(
            "not IPv4: ARP",
            0,
            arp(1, (CLIENT_MAC, CLIENT), ([0; 6], VIP)),
            Exc(NonIpv4),
        ),
        case(
            "not IPv4: IPv6 EtherType",
            0,
            edit(data.clone(), |f| f[12..14].copy_from_slice(&[0x86, 0xdd])),
            Exc(NonIpv4),
        ),
        case(
            "not IPv4: 802.1Q tag",
            0,
            edit(data.clone(), |f| f[12..14].copy_from_slice(&[0x81, 0x00])),
            Exc(NonIpv4),
        ),
        case(
            "IPv4 EtherType, version 6",
            0,
            ip_edit(data.clone(), |f| f[14] = 0x65),
            Exc(NonIpv4),
        ),
        case(
            "IP options (record route)",
            0,
            Tcp {
                ip_opts: &[7, 7, 4, 0, 0, 0, 0],
                ..web_in(b"x")
            }
            .build(),
            Exc(IpOptions),
        ),
        case(
            "IHL 4 (shorter than a header)",
            0,
            ip_edit(data.clone(), |f| f[14] = 0x44),
            Exc(IpOptions),
        ),
        case(
            "IHL 15 in a short frame",
            0,
            ip_edit(data.clone(), |f| f[14] = 0x4f),
            Exc(IpOptions),
        ),
        case(
            "bad IPv4 header checksum",
            0,
            edit(data.clone(), |f| f[24] ^= 0x40),
            Exc(BadChecksum),
        ),
        case(
            "fragment: more fragments",
            0,
            ip_edit(data.clone(), |f| f[20] |= 0x20),
            Exc(Fragment),
        ),
        case(
            "fragment: offset 1",
            0,
            ip_edit(data.clone(), |f| f[21] = 1),
            Exc(Fragment),
        ),
        case(
            "don't fragment only",
            0,
            ip_edit(data.clone(), |f| f[20] = 0x40),
            Tx(1, Rw::Dnat),
        ),
        case("ICMP echo", 0, icmp_echo(CLIENT, VIP), Exc(NonTcpUdp)),
        case(
            "UDP, no flow",
            0,
            udp((CLIENT, 5353), (VIP, 53), b"q"),
            Exc(Miss),
        ),
        case(
            "TCP, no flow",
            0,
            Tcp::new((CLIENT, 40999), (VIP, 80), b"x").build(),
            Exc(Miss),
        ),
        case(
            "SYN for the VIP",
            0,
            Tcp {
                flags: SYN,
                ..Tcp::new((CLIENT, 40999), (VIP, 80), b"")
            }
            .build(),
            Exc(Syn),
        ),
        case(
            "bad TCP checksum (not verified, not laundered)",
            0,
            edit(data.clone(), |f| f[50] ^= 0x01),
            Tx(1, Rw::Dnat),
        ),
        case(
            "TCP option length 0",
            0,
            Tcp {
                opts: &[8, 0, 0, 0],
                ..web_in(b"x")
            }
            .build(),
            Tx(1, Rw::Dnat),
        ),
        case(
            "TCP option length past the header",
            0,
            Tcp {
                opts: &[8, 40, 0, 0],
                ..web_in(b"x")
            }
            .build(),
            Tx(1, Rw::Dnat),
        ),
        case(
            "TCP data offset 2",
            0,
            edit(data.clone(), |f| {
                f[46] = 0x20;
                packets::fix_checksums(f)
            }),
            Tx(1, Rw::Dnat),
        ),
        case(
            "TCP data offset 15 in a short frame",
            0,
            edit(web_in(b"").build(), |f| {
                f[46] = 0xf0;
                packets::fix_checksums(f)
            }),
            Tx(1, Rw::Dnat),
        ),
        case(
            "IP total length past the frame",
            0,
            ip_edit(data.clone(), |f| {
                f[16..18].copy_from_slice(&1500u16.to_be_bytes())
            }),
            Tx(1, Rw::Dnat),
        ),
        case(
            "SACK out of window, no delta",
            0,
            sack(web_in(b"")),
            Tx(1, Rw::Dnat),
        ),
        case(
            "SACK out of window, ack delta (FTP): edges moved by the NIC",
            0,
            sack(Tcp {
                flags: ACK,
                ..ftp_in(b"")
            }),
            Tx(1, Rw::Dnat),
        ),
        case(
            "SACK behind timestamps, ack delta (FTP): edges moved by the NIC",
            0,
            Tcp {
                flags: ACK,
                opts: &[
                    1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 1, 5, 18, 0, 0, 0x13, 0xb0, 0, 0, 0x13,
                    0xc0, 0, 0, 0x14, 0x00, 0, 0, 0x14, 0x10,
                ],
                ..ftp_in(b"")
            }
            .build(),
            Tx(1, Rw::Dnat),
        ),
        case(
            "SACK edge older than the delta floor (FTP)",
            0,
            Tcp {
                flags: ACK,
                opts: &[1, 1, 5, 10, 0, 0, 0x0b, 0xb8, 0, 0, 0x13, 0xc0],
                ..ftp_in(b"")
            }
            .build(),
            Exc(SeqHistory),
        ),
        case(
            "SACK with a wrong length, ack delta (FTP)",
            0,
            Tcp {
                flags: ACK,
                opts: &[1, 1, 5, 12, 0, 0, 0x13, 0xb0, 0, 0, 0x13, 0xc0],
                ..ftp_in(b"")
            }
            .build(),
            Exc(AckOptions),
        ),
        case(
            "bad option length, ack delta (FTP)",
            0,
            Tcp {
                flags: ACK,
                opts: &[5, 0, 0, 0],
                ..ftp_in(b"")
            }
            .build(),
            Exc(AckOptions),
        ),
        case(
            "ACK with timestamps only, ack delta (FTP)",
            0,
            Tcp {
                flags: ACK,
                opts: &[1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9],
                ..ftp_in(b"")
            }
            .build(),
            Tx(1, Rw::Dnat),
        ),
        case(
            "timestamps in another layout, ack delta (FTP)",
            0,
            Tcp {
                flags: ACK,
                opts: &[8, 10, 0, 0, 0, 7, 0, 0, 0, 9, 1, 1],
                ..ftp_in(b"")
            }
            .build(),
            Exc(AckOptions),
        ),
        case(
            "pure ACK, ack delta (FTP)",
            0,
            Tcp {
                flags: ACK,
                ..ftp_in(b"")
            }
            .build(),
            Tx(1, Rw::Dnat),
        ),
        case(
            "server seq older than the delta floor",
            1,
            Tcp {
                flags: ACK,
                seq: 3000,
                ..ftp_out(b"")
            }
            .build(),
            Exc(SeqHistory),
        ),
        case(
            "jumbo (9014 bytes), known flow",
            0,
            edit(data.clone(), |f| f.resize(9014, 0x5a)),
            Tx(1, Rw::Dnat),
        ),
        case(
            "jumbo (9014 bytes) SYN",
            0,
            edit(
                Tcp {
                    flags: SYN,
                    ..Tcp::new((CLIENT, 40999), (VIP, 80), b"")
                }
                .build(),
                |f| f.resize(9014, 0),
            ),
            Drop(ExcRing),
        ),
        case(
            "FTP: PORT with 300",
            0,
            ftp_in(b"PORT 10,0,0,2,300,1\r\n").build(),
            Exc(AppPayload),
        ),
        case(
            "FTP: PORT to another host",
            0,
            ftp_in(b"PORT 192,168,1,5,0,21\r\n").build(),
            Exc(AppPayload),
        ),
        case(
            "FTP: 227 with 256",
            1,
            ftp_out(b"227 Entering Passive Mode (10,1,0,256,4,1)\r\n").build(),
            Exc(AppPayload),
        ),
        case(
            "FTP: 227 with port 0",
            1,
            ftp_out(b"227 Entering Passive Mode (10,1,0,2,0,0)\r\n").build(),
            Exc(AppPayload),
        ),
        case(
            "FTP: 229 with port 65536",
            1,
            ftp_out(b"229 Entering Extended Passive Mode (|||65536|)\r\n").build(),
            Exc(AppPayload),
        ),
        case(
            "FTP: valid 227",
            1,
            ftp_out(b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n").build(),
            Exc(AppPayload),
        ),
        case(
            "FTP: 227 cut mid-line",
            1,
            ftp_out(b"227 Entering Passive Mode (10,1,").build(),
            Exc(AppPayload),
        ),
        case(
            "FTP: overlong line (1400 bytes)",
            0,
            ftp_in(&[b'A'; 1400]).build(),
            Exc(AppPayload),
        ),
        case(
            "FTP: NUL in a command",
            0,
            ftp_in(b"PO\0RT 10,0,0,2,4,1\r\n").build(),
            Exc(AppPayload),
        ),
        case(
            "FTP: NUL-only reply line",
            1,
            ftp_out(b"\0\0\0\r\n").build(),
            Exc(AppPayload),
        ),
    ]
}

/// The helper's decision on an FTP payload frame that reached the host.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// Not acted on; this `FtpStats` counter went up.
    Refused(&'static str),
    /// The reply's tail is held back until the line completes.
    Held,
    /// Rewritten to this text, with a data connection expected.
    Rewritten(String),
    /// An active data connection expected.
    ExpectActive,
}

fn ftp_ctx() -> ConnCtx {
    ConnCtx {
        protocol: PROTO_TCP,
        client: SocketAddr::new(IpAddr::V4(CLIENT), FTP_CPORT),
        vip: SocketAddr::new(IpAddr::V4(VIP), 21),
        real: SocketAddr::new(IpAddr::V4(REAL), 21),
    }
}

fn helper() -> (AppRegistry, std::sync::Arc<FtpApp>) {
    let mut reg = AppRegistry::new();
    let ftp = app::register_ftp(&mut reg, FtpConfig::default()).unwrap();
    (reg, ftp)
}

fn stat_changed(a: FtpStats, b: FtpStats) -> Option<&'static str> {
    [
        ("malformed", a.malformed, b.malformed),
        ("bounce_refused", a.bounce_refused, b.bounce_refused),
        ("overlong_lines", a.overlong_lines, b.overlong_lines),
        ("control_bytes", a.control_bytes, b.control_bytes),
    ]
    .into_iter()
    .find(|(_, x, y)| x != y)
    .map(|(n, _, _)| n)
}

fn decide(frame: &[u8], dir: Dir) -> Decision {
    let (reg, ftp) = helper();
    let mut b = reg.bind(ftp_ctx()).unwrap().unwrap();
    let before = ftp.stats();
    let out = b.pkt(dir, frame.to_vec(), SeqFix::Host).unwrap();
    let after = ftp.stats();
    if b.is_holding(dir) {
        assert!(out.frames.is_empty(), "a held reply went out");
        return Decision::Held;
    }
    for a in &out.actions {
        match a {
            AppAction::Rewrite { new_bytes, .. } => {
                assert!(out
                    .actions
                    .iter()
                    .any(|a| matches!(a, AppAction::ExpectPassiveData { .. })));
                return Decision::Rewritten(String::from_utf8(new_bytes.clone()).unwrap());
            }
            AppAction::ExpectActiveData { .. } => return Decision::ExpectActive,
            _ => {}
        }
    }
    assert_eq!(out.frames.len(), 1, "the segment goes through");
    assert!(out.actions.is_empty(), "{:?}", out.actions);
    Decision::Refused(stat_changed(before, after).expect("a refusal is counted"))
}

#[test]
fn malformed_frames_meet_their_fate() {
    let mut bench = Bench::new();
    let cases = corpus();
    let mut rows = Vec::new();
    for c in &cases {
        let out = bench.push(c.port, &c.frame);
        let got = match (&out.tx[..], &out.exc[..], &out.drops[..]) {
            ([(p, f)], [], []) => {
                let rw = if f[26..30] == VIP.octets() {
                    Rw::Snat
                } else {
                    assert_eq!(f[30..34], REAL.octets(), "{}: destination", c.name);
                    Rw::Dnat
                };
                assert_eq!(f.len(), c.frame.len(), "{}: length changed", c.name);
                assert_eq!(
                    packets::ipv4_csum_ok(f),
                    Some(true),
                    "{}: IPv4 checksum",
                    c.name
                );
                if let Some(ok_in) = packets::l4_csum_ok(&c.frame) {
                    assert_eq!(
                        packets::l4_csum_ok(f),
                        Some(ok_in),
                        "{}: TCP checksum",
                        c.name
                    );
                }
                Fate::Tx(*p, rw)
            }
            ([], [(r, port, _, f)], []) => {
                assert_eq!(*port as usize, c.port, "{}: source port", c.name);
                assert_eq!(f, &c.frame, "{}: exception frame changed", c.name);
                Fate::Exc(*r)
            }
            ([], [], [d]) => Fate::Drop(*d),
            _ => panic!("{}: several outcomes: {out:?}", c.name),
        };
        assert_eq!(got, c.fate, "{}", c.name);
        // The reference model agrees (a zero-length frame never reaches the core).
        if !c.frame.is_empty() {
            let m = bench
                .model
                .process(&c.frame, stream::user(c.port as u8, false, false), true);
            match (&m, &out.tx[..], &out.exc[..]) {
                (Verdict::Tx { port, frame }, [(p, f)], _) => {
                    assert_eq!((port, frame), (p, f), "{}: model", c.name)
                }
                (Verdict::Exception { meta, .. }, _, [(r, ..)]) => {
                    assert_eq!(meta.reason, *r, "{}: model", c.name)
                }
                (Verdict::Exception { meta, .. }, _, []) => {
                    assert_eq!(c.fate, Fate::Drop(Counter::ExcRing), "{}: {meta:?}", c.name)
                }
                _ => panic!("{}: model says {m:?}", c.name),
            }
        }
        // What the host's helper does with FTP payload.
        let decision = match (c.fate, c.name.starts_with("FTP:")) {
            (Fate::Exc(Reason::AppPayload), true) => {
                let dir = if c.port == 0 { Dir::In } else { Dir::Out };
                Some(decide(&out.exc[0].3, dir))
            }
            _ => None,
        };
        rows.push((c.name, c.frame.len(), got, decision));
    }

    // The FTP decisions.
    let want: &[(&str, Decision)] = &[
        ("FTP: PORT with 300", Decision::Refused("malformed")),
        (
            "FTP: PORT to another host",
            Decision::Refused("bounce_refused"),
        ),
        ("FTP: 227 with 256", Decision::Refused("malformed")),
        ("FTP: 227 with port 0", Decision::Refused("malformed")),
        ("FTP: 229 with port 65536", Decision::Refused("malformed")),
        (
            "FTP: valid 227",
            Decision::Rewritten("10,0,0,100,156,64".into()),
        ),
        ("FTP: 227 cut mid-line", Decision::Held),
        (
            "FTP: overlong line (1400 bytes)",
            Decision::Refused("overlong_lines"),
        ),
        ("FTP: NUL in a command", Decision::Refused("control_bytes")),
        ("FTP: NUL-only reply line", Decision::Refused("malformed")),
    ];
    for (name, d) in want {
        let row = rows.iter().find(|r| r.0 == *name).expect("case exists");
        assert_eq!(row.3.as_ref(), Some(d), "{name}");
    }

    // With the exception ring switched off, the core drops exceptions and counts them.
    bench.exq_enabled(false);
    let syn = Tcp {
        flags: SYN,
        ..Tcp::new((CLIENT, 40998), (VIP, 80), b"")
    }
    .build();
    let out = bench.push(0, &syn);
    assert!(out.tx.is_empty() && out.exc.is_empty(), "{out:?}");
    assert_eq!(out.drops, vec![Counter::CoreExcDrop]);
    rows.push((
        "SYN, exception ring off",
        syn.len(),
        Fate::Drop(Counter::CoreExcDrop),
        None,
    ));
    // ... while the fast path goes on.
    let out = bench.push(0, &web_in(b"still here").build());
    assert_eq!(out.tx.len(), 1, "fast path with the ring off");
    bench.exq_enabled(true);

    println!("| frame | bytes | fate | helper |\n|---|---|---|---|");
    for (name, len, fate, d) in &rows {
        let fate = match fate {
            Fate::Tx(p, rw) => format!("forwarded to port {p}, {rw:?}"),
            Fate::Exc(r) => format!("exception `{}`", r.name()),
            Fate::Drop(c) => format!("dropped, counted in {c:?}"),
        };
        let d = d.as_ref().map_or(String::new(), |d| format!("{d:?}"));
        println!("| {name} | {len} | {fate} | {d} |");
    }
    println!("{} frames", rows.len());
}

/// A 227 reply split at every byte position into two segments: the helper holds the first part
/// when it may be the start of the line, and the result is always the whole reply rewritten,
/// with one delta of +2 bytes.
#[test]
fn a_227_split_at_every_byte_is_rewritten_once() {
    let reply: &[u8] = b"150 ok\r\n227 Entering Passive Mode (10,1,0,2,156,64).\r\n";
    let want = b"150 ok\r\n227 Entering Passive Mode (10,0,0,100,156,64).\r\n".to_vec();
    for fix in [SeqFix::Host, SeqFix::Nic] {
        for k in 1..reply.len() {
            let (reg, ftp) = helper();
            let mut b = reg.bind(ftp_ctx()).unwrap().unwrap();
            let mut got = Vec::new();
            let mut actions = Vec::new();
            let mut seq = 5100u32;
            for part in [&reply[..k], &reply[k..]] {
                let f = Tcp {
                    seq,
                    ..ftp_out(part)
                }
                .build();
                seq += part.len() as u32;
                let out = b.pkt(Dir::Out, f, fix).unwrap();
                for f in &out.frames {
                    let l = app::frame::layout(f).unwrap();
                    got.extend_from_slice(&f[l.payload]);
                }
                actions.extend(out.actions);
            }
            assert!(!b.is_holding(Dir::Out), "split at {k}: still holding");
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "split at {k} ({fix:?})"
            );
            let rewrites = actions
                .iter()
                .filter(|a| matches!(a, AppAction::Rewrite { .. }))
                .count();
            assert_eq!(rewrites, 1, "split at {k}");
            assert_eq!(b.seq_adj().out_seq.current_offset(), 2, "split at {k}");
            assert_eq!(ftp.stats().rewrites, 1);
        }
    }
}
