//! The seed corpora of the fuzz targets, made here from meaningful inputs (real FTP lines, the
//! frames of a real FTP session, every `vsnicadm` command, the traffic kinds of the hw
//! differential tests) and written to `tests/fuzz/corpus/<target>/seed-*` by
//! `VSNIC_BLESS=1 cargo test -p vsnic-tests --test fuzz_smoke` (the smoke test fails while the
//! files on disk differ). Regression inputs for crashes found live next to them as `regress-*`.

use vsnic_contract::entry::{Action, Entry, SeqDelta};
use vsnic_contract::{stream, FlowKey, Reason};

use crate::packets::{
    self, arp, icmp_echo, udp, Tcp, ACK, CLIENT, CLIENT_MAC, PORT0_MAC, PORT1_ADDR, PORT1_MAC, PSH,
    REAL, REAL_MAC, SYN, VIP,
};

/// A named seed.
pub type Seed = (String, Vec<u8>);

/// The seeds of `target`.
pub fn seeds(target: &str) -> Vec<Seed> {
    match target {
        "ftp_parser" => ftp_seeds(),
        "exception_frame" => exception_seeds(),
        "control_request" => control_seeds(),
        "nic_model" => model_seeds(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// ftp_parser: see `fuzz_bodies::ftp_parser` for the format.

/// Client → server data.
const C: u8 = 0;
/// Server → client data.
const S: u8 = 1;
const RETRANSMIT: u8 = 4 << 1;
const GAP: u8 = 5 << 1;
const FLUSH: u8 = 6 << 1;
const CLOSE: u8 = 7 << 1;
const SACK: u8 = 0x10;

/// Encode an FTP scenario: options, the two initial sequence numbers, then steps
/// `(control byte, payload)` (for retransmit/flush the payload is ignored; for a gap its length
/// is the number of bytes lost).
pub fn ftp_input(opts: u8, isn: [u32; 2], steps: &[(u8, &[u8])]) -> Vec<u8> {
    let mut v = vec![opts];
    v.extend_from_slice(&isn[0].to_le_bytes());
    v.extend_from_slice(&isn[1].to_le_bytes());
    for (ctl, p) in steps {
        v.push(*ctl);
        v.push(p.len().min(255) as u8);
        if !matches!(ctl & 0x0e, RETRANSMIT | GAP | FLUSH) {
            v.extend_from_slice(&p[..p.len().min(255)]);
        }
    }
    v
}

fn ftp_seeds() -> Vec<Seed> {
    let isn = [1000, 0xffff_ffa0]; // the server's numbers wrap during the session
    let login: &[(u8, &[u8])] = &[
        (S, b"220 vsFTPd 3.0.3 ready\r\n"),
        (C, b"USER anonymous\r\n"),
        (S, b"331 Please specify the password.\r\n"),
        (C, b"PASS guest@\r\n"),
        (S, b"230 Login successful.\r\n"),
    ];
    let with = |tail: &[(u8, &[u8])]| -> Vec<(u8, Vec<u8>)> {
        login
            .iter()
            .chain(tail)
            .map(|(c, p)| (*c, p.to_vec()))
            .collect()
    };
    let mut out: Vec<Seed> = Vec::new();
    let mut add = |name: &str, opts: u8, steps: &[(u8, Vec<u8>)]| {
        let steps: Vec<(u8, &[u8])> = steps.iter().map(|(c, p)| (*c, &p[..])).collect();
        out.push((format!("seed-{name}"), ftp_input(opts, isn, &steps)));
    };
    let pasv = with(&[
        (C, b"TYPE I\r\n"),
        (S, b"200 Switching to Binary mode.\r\n"),
        (C, b"PASV\r\n"),
        (S, b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n"),
        (C, b"RETR file.bin\r\n"),
        (
            S,
            b"150 Opening BINARY mode data connection.\r\n226 Transfer complete.\r\n",
        ),
    ]);
    add("pasv", 0, &pasv);
    add("pasv-nic", 2, &pasv);
    add(
        "pasv-split",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Pas"),
            (S, b"sive Mode (10,1,0,2,15"),
            (S, b"6,64)\r"),
            (S, b"\n"),
        ]),
    );
    add(
        "pasv-split-first-byte",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"2"),
            (S, b"27 (10,1,0,2,4,1)\r\n200 ok\r\n"),
        ]),
    );
    add(
        "pasv-retransmit",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n"),
            (S | RETRANSMIT, b""),
            (S, b"150 ok\r\n"),
        ]),
    );
    add(
        "pasv-held-retransmit-flush",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (10,1,"),
            (S | RETRANSMIT, b""),
            (S | FLUSH, b""),
            (S, b"0,2,4,1)\r\n"),
        ]),
    );
    add(
        "pasv-gap",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S | GAP, &[0; 9]),
            (S, b"ive Mode (10,1,0,2,4,1)\r\n227 (10,1,0,2,4,2)\r\n"),
        ]),
    );
    add(
        "pasv-sack",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n"),
            (C | SACK, b"LIST\r\n"),
            (S | SACK, b"150 Here comes the directory listing.\r\n"),
        ]),
    );
    add(
        "pasv-vip-already",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (10,0,0,100,4,1)\r\n"),
        ]),
    );
    add(
        "pasv-no-parens",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode 10,1,0,2,4,1\r\n"),
        ]),
    );
    add(
        "pasv-octet-256",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (10,1,0,256,4,1)\r\n"),
        ]),
    );
    add(
        "pasv-300-wraps-in-old-linux",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (10,1,0,300,4,1)\r\n"),
        ]),
    );
    add(
        "pasv-port-zero",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (10,1,0,2,0,0)\r\n"),
        ]),
    );
    add(
        "pasv-four-digits",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (10,1,0,0002,4,1)\r\n"),
        ]),
    );
    add(
        "pasv-foreign",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (192,168,1,5,4,1)\r\n"),
        ]),
    );
    add(
        "pasv-foreign-allowed",
        1,
        &with(&[
            (C, b"PASV\r\n"),
            (S, b"227 Entering Passive Mode (192,168,1,5,4,1)\r\n"),
        ]),
    );
    add(
        "pasv-multiline",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (
                S,
                b"227-Entering Passive Mode\r\n227-(10,1,0,2,4,1)\r\n227 OK\r\n",
            ),
        ]),
    );
    add(
        "pasv-inside-211",
        0,
        &with(&[
            (C, b"FEAT\r\n"),
            (
                S,
                b"211-Features:\r\n 227 (10,1,0,2,4,1)\r\n EPSV\r\n211 End\r\n",
            ),
        ]),
    );
    add(
        "epsv",
        0,
        &with(&[
            (C, b"EPSV\r\n"),
            (S, b"229 Entering Extended Passive Mode (|||40002|)\r\n"),
        ]),
    );
    add(
        "epsv-with-address",
        0,
        &with(&[
            (C, b"EPSV 1\r\n"),
            (
                S,
                b"229 Entering Extended Passive Mode (|1|10.1.0.2|40002|)\r\n",
            ),
        ]),
    );
    add(
        "epsv-port-65536",
        0,
        &with(&[
            (C, b"EPSV\r\n"),
            (S, b"229 Entering Extended Passive Mode (|||65536|)\r\n"),
        ]),
    );
    add(
        "epsv-ipv6-address",
        0,
        &with(&[
            (C, b"EPSV 2\r\n"),
            (S, b"229 Extended (|2|fe80::1|40002|)\r\n"),
        ]),
    );
    add(
        "epsv-all",
        0,
        &with(&[(C, b"EPSV ALL\r\n"), (S, b"200 EPSV ALL ok.\r\n")]),
    );
    add(
        "port",
        0,
        &with(&[
            (C, b"PORT 10,0,0,2,156,65\r\n"),
            (S, b"200 PORT command successful.\r\n"),
        ]),
    );
    add(
        "port-split",
        0,
        &with(&[
            (C, b"PORT 10,0,"),
            (C, b"0,2,156,65\r"),
            (C, b"\n"),
            (S, b"200 ok\r\n"),
        ]),
    );
    add(
        "port-octet-300",
        0,
        &with(&[
            (C, b"PORT 10,0,0,2,300,1\r\n"),
            (S, b"500 Illegal PORT command.\r\n"),
        ]),
    );
    add(
        "port-bounce",
        0,
        &with(&[(C, b"PORT 192,168,1,5,0,21\r\n"), (S, b"200 ok\r\n")]),
    );
    add(
        "eprt",
        0,
        &with(&[(C, b"EPRT |1|10.0.0.2|40001|\r\n"), (S, b"200 EPRT ok\r\n")]),
    );
    add(
        "eprt-ipv6",
        0,
        &with(&[(C, b"EPRT |2|::1|40001|\r\n"), (S, b"522 no\r\n")]),
    );
    add(
        "eprt-other-delimiter",
        0,
        &with(&[(C, b"EPRT !1!10.0.0.2!65535!\r\n"), (S, b"200 ok\r\n")]),
    );
    add(
        "pipelined",
        0,
        &with(&[(
            C,
            b"PASV\r\nPORT 10,0,0,2,4,1\r\nLPRT 4,4,10,0,0,2,2,4,1\r\nEPSV ALL\r\n",
        )]),
    );
    add(
        "telnet-abor",
        0,
        &with(&[
            (C, b"\xff\xf4\xff\xf2ABOR\r\n"),
            (S, b"226 ABOR successful\r\n"),
        ]),
    );
    add(
        "nul-bytes",
        0,
        &with(&[
            (C, b"PO\0RT 10,0,0,2,1,2\r\n"),
            (S, b"227 \0Entering (10,1,0,2,4,1)\r\n"),
            (S, b"\0\0\0\r\n"),
        ]),
    );
    add(
        "bare-cr-lf",
        0,
        &with(&[
            (C, b"PASV\n"),
            (S, b"227 Entering\rPassive Mode (10,1,0,2,4,1)\n"),
        ]),
    );
    let long = [b'x'; 200];
    let mut overlong = b"227 Entering Passive Mode ".to_vec();
    overlong.extend_from_slice(&long);
    overlong.extend_from_slice(b"(10,1,0,2,4,1)\r\n");
    add(
        "overlong-short-limit",
        4 | (8 << 3),
        &with(&[
            (C, b"PASV\r\n"),
            (S, &overlong[..]),
            (S, b"227 (10,1,0,2,4,1)\r\n"),
        ]),
    );
    add(
        "overlong-split",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S, &overlong[..]),
            (S, &long[..]),
            (S, &long[..]),
            (S, b"\r\n227 (10,1,0,2,4,1)\r\n"),
        ]),
    );
    add(
        "fin-with-data",
        0,
        &with(&[
            (C, b"PASV\r\n"),
            (S | CLOSE, b"227 (10,1,0,2,4,1)\r\n221 Goodbye.\r\n"),
        ]),
    );
    add(
        "rst-with-data",
        0,
        &with(&[
            (C | CLOSE | 0x20, b"QUIT\r\n"),
            (S, b"227 (10,1,0,2,4,1)\r\n"),
        ]),
    );
    out
}

// ---------------------------------------------------------------------------------------------
// exception_frame: see `fuzz_bodies::exception_frame` for the format.

/// Encode exception records `(reason, port, flags, frame)`.
pub fn exception_input(records: &[(Reason, u8, u8, Vec<u8>)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (reason, port, flags, f) in records {
        v.push(*reason as u8);
        v.push(*port);
        v.push(*flags);
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&(f.len() as u16).to_le_bytes());
        v.extend_from_slice(f);
    }
    v
}

fn client_seg(dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    Tcp {
        seq,
        ack,
        flags,
        ..Tcp::new((CLIENT, 40000), (VIP, dport), payload)
    }
    .build()
}

fn server_seg(sport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    Tcp {
        smac: REAL_MAC,
        dmac: PORT1_MAC,
        seq,
        ack,
        flags,
        ..Tcp::new((REAL, sport), (CLIENT, 40000), payload)
    }
    .build()
}

/// The frames of an FTP control session as the NIC hands them to the host: the client's SYN,
/// the real server's ARP reply, then payload segments of the bound connection.
pub fn ftp_session_records(flags: u8) -> Vec<(Reason, u8, u8, Vec<u8>)> {
    let arp_reply = arp(2, (REAL_MAC, REAL), (PORT1_MAC, PORT1_ADDR));
    let (c, s) = (1001u32, 5001u32);
    let pa = PSH | ACK;
    let banner = b"220 ready\r\n";
    let pasv = b"PASV\r\n";
    let r227 = b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n";
    let port = b"PORT 10,0,0,2,156,65\r\n";
    vec![
        (Reason::Syn, 0, flags, client_seg(21, c - 1, 0, SYN, b"")),
        (Reason::NonIpv4, 1, flags, arp_reply),
        (
            Reason::AppPayload,
            1,
            flags,
            server_seg(21, s, c, pa, banner),
        ),
        (
            Reason::AppPayload,
            0,
            flags,
            client_seg(21, c, s + 11, pa, pasv),
        ),
        (
            Reason::AppPayload,
            1,
            flags,
            server_seg(21, s + 11, c + 6, pa, r227),
        ),
        (Reason::AckOptions, 0, flags, {
            let sack = [1, 1, 5, 10, 0, 0, 0x13, 0x89, 0, 0, 0x13, 0xa0];
            Tcp {
                seq: c + 6,
                ack: s + 11 + r227.len() as u32,
                opts: &sack,
                ..Tcp::new((CLIENT, 40000), (VIP, 21), b"")
            }
            .build()
        }),
        (
            Reason::AppPayload,
            0,
            flags,
            client_seg(21, c + 6, s + 58, pa, port),
        ),
        // the passive data connection's SYN claims the expectation
        (Reason::Syn, 0, flags, {
            Tcp {
                seq: 77,
                ack: 0,
                flags: SYN,
                ..Tcp::new((CLIENT, 40010), (VIP, 40000), b"")
            }
            .build()
        }),
    ]
}

fn exception_seeds() -> Vec<Seed> {
    let mut out: Vec<Seed> = Vec::new();
    let mut add = |name: &str, recs: Vec<(Reason, u8, u8, Vec<u8>)>| {
        out.push((format!("seed-{name}"), exception_input(&recs)));
    };
    add("ftp-session", ftp_session_records(0));
    add("ftp-session-ring", ftp_session_records(2));
    let arp_req = arp(1, (CLIENT_MAC, CLIENT), ([0; 6], VIP));
    add(
        "arp-request-vip",
        vec![(Reason::NonIpv4, 0, 0, arp_req.clone())],
    );
    add(
        "arp-request-port-address",
        vec![(
            Reason::NonIpv4,
            1,
            0,
            arp(1, (REAL_MAC, REAL), ([0; 6], PORT1_ADDR)),
        )],
    );
    add(
        "arp-reply-broadcast-mac",
        vec![(
            Reason::NonIpv4,
            1,
            0,
            arp(2, ([0xff; 6], REAL), (PORT1_MAC, PORT1_ADDR)),
        )],
    );
    add(
        "web-syn-then-miss",
        vec![
            (Reason::Syn, 0, 0, client_seg(80, 1, 0, SYN, b"")),
            (
                Reason::NonIpv4,
                1,
                0,
                arp(2, (REAL_MAC, REAL), (PORT1_MAC, PORT1_ADDR)),
            ),
            (
                Reason::Miss,
                0,
                0,
                client_seg(80, 2, 1, ACK, b"GET / HTTP/1.0\r\n\r\n"),
            ),
            (
                Reason::Miss,
                1,
                0,
                server_seg(8080, 1, 2, ACK, b"HTTP/1.0 200 OK\r\n"),
            ),
            (Reason::Syn, 0, 0, client_seg(80, 1, 0, SYN, b"")),
        ],
    );
    let syn = client_seg(80, 1, 0, SYN, b"");
    let mut bad_csum = syn.clone();
    bad_csum[24] ^= 0x40;
    let mut frag = syn.clone();
    frag[20] |= 0x20;
    packets::fix_checksums(&mut frag);
    let opts = Tcp {
        ip_opts: &[0x94, 4, 0, 0],
        flags: SYN,
        ..Tcp::new((CLIENT, 40000), (VIP, 80), b"")
    }
    .build();
    let mut ipv6 = syn.clone();
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    let mut bad_doff = syn.clone();
    bad_doff[46] = 0xf0;
    packets::fix_checksums(&mut bad_doff);
    let mut long_total = syn.clone();
    long_total[16..18].copy_from_slice(&1500u16.to_be_bytes());
    packets::fix_checksums(&mut long_total);
    let mut jumbo = client_seg(80, 1, 0, ACK, &[0x5a; 1460]);
    jumbo.extend_from_slice(&[0; 100]);
    add(
        "malformed-mix",
        vec![
            (Reason::Truncated, 0, 0, syn[..10].to_vec()),
            (Reason::Truncated, 0, 0, syn[..30].to_vec()),
            (Reason::Truncated, 0, 0, syn[..40].to_vec()),
            (Reason::BadChecksum, 0, 0, bad_csum),
            (Reason::Fragment, 0, 0, frag),
            (Reason::IpOptions, 0, 0, opts),
            (Reason::NonIpv4, 0, 0, ipv6),
            (Reason::Syn, 0, 0, bad_doff),
            (Reason::Syn, 0, 0, long_total),
            (Reason::NonTcpUdp, 0, 0, icmp_echo(CLIENT, VIP)),
            (Reason::Miss, 0, 0, udp((CLIENT, 5353), (VIP, 53), b"query")),
            (Reason::Miss, 0, 2, jumbo),
            (Reason::Syn, 7, 0, syn.clone()),
            (Reason::None, 0, 0, Vec::new()),
        ],
    );
    out
}

// ---------------------------------------------------------------------------------------------
// control_request

fn control_seeds() -> Vec<Seed> {
    let commands: &[&str] = &[
        "-A -t 10.0.0.100:80 -s rr",
        "-A -t 10.0.0.100:21 -s wlc -p 300 -M 255.255.255.0",
        "-E -t 10.0.0.100:80 -s sh -b sh-port,sh-fallback",
        "-D -t 10.0.0.100:80",
        "-a -t 10.0.0.100:80 -r 10.1.0.2:80 -m -w 3",
        "-a -t 10.0.0.100:80 -r 10.1.0.3:8080 -g -x 100 -y 10",
        "-e -t 10.0.0.100:80 -r 10.1.0.2:80 -m -w 0",
        "-d -t 10.0.0.100:80 -r 10.1.0.2:80",
        "-C",
        "-Z",
        "-Z -t 10.0.0.100:80",
        "--set 900 120 300",
        "-L -n",
        "-L -n --stats --exact",
        "-L -c",
        "-L --timeout",
        "-S -n",
        "--nic-stats",
        "-A -t 10.0.0.300:80 -s rr",
        "-a -t 10.0.0.100:80 -r 10.1.0.2:0 -m",
        "-A -t 10.0.0.100:80 -s nosuch",
        "-A -t 10.0.0.100:80 -p 300 -M 255.0.255.0",
        "-a -t 10.0.0.100:80 -r 10.1.0.2 -w 65536",
    ];
    let mut out: Vec<Seed> = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        out.push((format!("seed-args-{i:02}"), c.as_bytes().to_vec()));
        if let Ok(cmd) = vsnic_host::cli::parse(std::iter::once("vsnicadm").chain(c.split(' '))) {
            if let vsnic_host::cli::Action::Request(r) = cmd.action {
                let json = serde_json::to_string(&r).expect("serialises");
                out.push((format!("seed-json-{i:02}"), json.into_bytes()));
            }
        }
    }
    let rules = "# saved by vsnicadm -S\n-A -t 10.0.0.100:80 -s rr\n\n-a -t 10.0.0.100:80 -r 10.1.0.2:80 -m -w 1\n-a -t 10.0.0.100:80 -r 10.1.0.3:80 -m -w 2\n--set 10 20 30\n";
    out.push(("seed-rules".into(), rules.as_bytes().to_vec()));
    out.push((
        "seed-rules-bad-line".into(),
        b"-A -t 10.0.0.100:80 -s rr\n-L -n\n".to_vec(),
    ));
    out.push((
        "seed-args-nul-separated".into(),
        b"-A\x00-t\x0010.0.0.100:80\x00-s\x00rr".to_vec(),
    ));
    for (name, line) in [
        ("list", r#"{"op":"list"}"#),
        ("counters", r#"{"op":"counters"}"#),
        ("metrics", r#"{"op":"metrics"}"#),
        (
            "timeouts",
            r#"{"op":"set_timeouts","tcp":4294967295,"tcpfin":0,"udp":1}"#,
        ),
        (
            "batch-nested",
            r#"{"op":"batch","requests":[{"op":"clear"},{"op":"batch","requests":[{"op":"zero","service":null}]}]}"#,
        ),
        ("unknown-op", r#"{"op":"reboot"}"#),
        ("not-json", "{\"op\":\"list\"\0}"),
    ] {
        out.push((format!("seed-json-{name}"), line.as_bytes().to_vec()));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// nic_model: see `fuzz_bodies::nic_model` for the format.

/// The entries of the model seeds: a DNAT entry with a seq delta, its SNAT reply with the ack
/// delta, and a UDP DNAT entry.
pub fn model_entries() -> Vec<Entry> {
    let k_in = FlowKey {
        saddr: CLIENT.octets(),
        daddr: VIP.octets(),
        sport: 40000,
        dport: 21,
        proto: 6,
    };
    let k_out = FlowKey {
        saddr: REAL.octets(),
        daddr: CLIENT.octets(),
        sport: 21,
        dport: 40000,
        proto: 6,
    };
    let delta = SeqDelta {
        pos: 5047,
        before: 0,
        after: (-2i32) as u32,
        floor: 5047,
    };
    let e_in = Entry {
        key: k_in,
        valid: true,
        action: Action::Dnat,
        egress_port: 1,
        nat_addr: REAL.octets(),
        nat_port: 21,
        dmac: REAL_MAC,
        smac: PORT1_MAC,
        app_bound: false,
        seq: None,
        ack: Some(delta),
    };
    let e_out = Entry {
        key: k_out,
        action: Action::Snat,
        egress_port: 0,
        nat_addr: VIP.octets(),
        nat_port: 21,
        dmac: CLIENT_MAC,
        smac: PORT0_MAC,
        seq: Some(delta),
        ack: None,
        ..e_in
    };
    let e_udp = Entry {
        key: FlowKey {
            saddr: CLIENT.octets(),
            daddr: VIP.octets(),
            sport: 5353,
            dport: 53,
            proto: 17,
        },
        seq: None,
        ack: None,
        nat_port: 5300,
        ..e_in
    };
    vec![e_in, e_out, e_udp]
}

/// Encode a model input: entries, then `(side band, flags, frame)`.
pub fn model_input(entries: &[Entry], frames: &[(u8, u8, Vec<u8>)]) -> Vec<u8> {
    let mut v = vec![entries.len() as u8];
    for e in entries {
        for w in e.to_words() {
            v.extend_from_slice(&w.to_le_bytes());
        }
    }
    for (user, flags, f) in frames {
        v.push(*user);
        v.push(*flags);
        v.extend_from_slice(&(f.len() as u16).to_le_bytes());
        v.extend_from_slice(f);
    }
    v
}

fn model_seeds() -> Vec<Seed> {
    let entries = model_entries();
    let port0 = stream::user(0, false, false);
    let port1 = stream::user(1, false, false);
    let host = stream::user(0, true, false);
    let host_bypass = stream::user(1, true, true);
    let c_data = Tcp {
        seq: 1001,
        ack: 5060,
        flags: PSH | ACK,
        ..Tcp::new((CLIENT, 40000), (VIP, 21), b"PASV\r\n")
    }
    .build();
    let s_data = Tcp {
        smac: REAL_MAC,
        dmac: PORT1_MAC,
        seq: 5050,
        ack: 1007,
        flags: PSH | ACK,
        ..Tcp::new((REAL, 21), (CLIENT, 40000), b"150 ok\r\n")
    }
    .build();
    let s_old = Tcp {
        seq: 5000,
        ..Tcp::new((REAL, 21), (CLIENT, 40000), b"x")
    }
    .build();
    let c_sack = Tcp {
        seq: 1007,
        ack: 5060,
        opts: &[1, 1, 5, 10, 0, 0, 0x13, 0xa0, 0, 0, 0x13, 0xb0],
        ..Tcp::new((CLIENT, 40000), (VIP, 21), b"")
    }
    .build();
    let syn = Tcp {
        flags: SYN,
        ..Tcp::new((CLIENT, 40001), (VIP, 21), b"")
    }
    .build();
    let miss = Tcp::new((CLIENT, 40002), (VIP, 21), b"hello").build();
    let dns = udp((CLIENT, 5353), (VIP, 53), b"\x12\x34query");
    let mut dns_nocsum = dns.clone();
    dns_nocsum[40] = 0;
    dns_nocsum[41] = 0;
    let mut bad_csum = c_data.clone();
    bad_csum[24] ^= 1;
    let mut frag = c_data.clone();
    frag[20] = 0x20;
    packets::fix_checksums(&mut frag);
    let ip_opts = Tcp {
        ip_opts: &[0x07, 7, 4, 0, 0, 0, 0],
        ..Tcp::new((CLIENT, 40000), (VIP, 21), b"x")
    }
    .build();
    let mut arp_like = c_data.clone();
    arp_like[12..14].copy_from_slice(&[0x08, 0x06]);
    let mut jumbo = Tcp {
        seq: 1001,
        ack: 5060,
        ..Tcp::new((CLIENT, 40000), (VIP, 21), &[0x42; 1460])
    }
    .build();
    jumbo.extend_from_slice(&[0x42; 7500]);
    let frames = vec![
        (port0, 0, c_data.clone()),
        (port1, 0, s_data.clone()),
        (port1, 0, s_old),
        (port0, 0, c_sack),
        (port0, 0, syn.clone()),
        (port0, 1, syn),
        (port0, 0, miss),
        (port0, 0, dns),
        (port0, 0, dns_nocsum),
        (host, 0, c_data.clone()),
        (host_bypass, 0, s_data),
        (port0, 0, bad_csum),
        (port0, 0, frag),
        (port0, 0, ip_opts),
        (port0, 0, arp_like),
        (port0, 0, c_data[..20].to_vec()),
        (port0, 0, c_data[..53].to_vec()),
        (port0, 0, jumbo),
        (port0, 0, icmp_echo(CLIENT, VIP)),
        (port0, 2, c_data.clone()),
    ];
    vec![
        ("seed-ftp-flows".into(), model_input(&entries, &frames)),
        ("seed-no-entries".into(), model_input(&[], &frames[..8])),
        (
            "seed-app-bound".into(),
            model_input(
                &[Entry {
                    app_bound: true,
                    ..entries[0]
                }],
                &[(port0, 0, c_data)],
            ),
        ),
    ]
}
