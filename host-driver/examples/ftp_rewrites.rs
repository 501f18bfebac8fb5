//! FTP control rewrites per second on one core, host path only: a bound FTP control connection
//! (the app registry's FTP incarnation on port 21) is fed a long session of `PASV` commands and
//! `227` replies as frames the NIC would punt to the host; every 227 is rewritten to the VIP
//! (a length change, so the stream's seq adjustments grow), a data connection is expected each
//! time, and the frames come out with checksums fixed.
//!
//! Printed side by side in one run: the same session with replies that need no rewrite
//! (`200 OK`), so the ratio is the cost of the rewrite itself; and both ways of fixing
//! sequence numbers (by the host, or left to the NIC).
//!
//! ```sh
//! cargo run --release -p vsnic-host --example ftp_rewrites -- [exchanges]
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use etherparse::PacketBuilder;
use vsnic_host::app::ftp::FtpConfig;
use vsnic_host::app::{register_ftp, AppRegistry, ConnCtx, Dir, SeqFix, PROTO_TCP};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const RIP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);

fn seg(dir: Dir, seq: u32, ack: u32, payload: &[u8], syn: bool) -> Vec<u8> {
    let (src, dst, sp, dp) = match dir {
        Dir::In => (CLIENT, VIP, 40000, 21),
        Dir::Out => (RIP, CLIENT, 21, 40000),
    };
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(sp, dp, seq, 64240)
        .ack(ack);
    if syn {
        b = b.syn();
    }
    let mut v = Vec::with_capacity(128);
    b.write(&mut v, payload).expect("frame");
    v
}

struct Run {
    exchanges: usize,
    rewrites: u64,
    secs: f64,
}

/// `n` PASV/reply exchanges on a fresh control connection.
fn session(n: usize, reply: &[u8], fix: SeqFix) -> Run {
    let mut reg = AppRegistry::new();
    let app = register_ftp(&mut reg, FtpConfig::default()).expect("ftp registers");
    let ctx = ConnCtx {
        protocol: PROTO_TCP,
        client: SocketAddr::new(CLIENT.into(), 40000),
        vip: SocketAddr::new(VIP.into(), 21),
        real: SocketAddr::new(RIP.into(), 21),
    };
    let mut b = reg.bind(ctx).expect("bind").expect("port 21 is FTP");
    b.pkt(Dir::In, seg(Dir::In, 999, 0, b"", true), fix)
        .expect("syn");
    b.pkt(Dir::Out, seg(Dir::Out, 4999, 1000, b"", true), fix)
        .expect("syn-ack");
    let (mut cseq, mut sseq) = (1000u32, 5000u32);
    // (building each frame is in the timed loop: it stands for the copy out of the ring)
    let pasv = b"PASV\r\n";
    let t0 = Instant::now();
    let mut out_frames = 0usize;
    for _ in 0..n {
        let f = seg(Dir::In, cseq, sseq, pasv, false);
        out_frames += b.pkt(Dir::In, f, fix).expect("PASV").frames.len();
        cseq = cseq.wrapping_add(pasv.len() as u32);
        let f = seg(Dir::Out, sseq, cseq, reply, false);
        out_frames += b.pkt(Dir::Out, f, fix).expect("reply").frames.len();
        sseq = sseq.wrapping_add(reply.len() as u32);
    }
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(out_frames, 2 * n, "every segment goes out");
    drop(b);
    Run {
        exchanges: n,
        rewrites: app.stats().rewrites,
        secs,
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let r227 = b"227 Entering Passive Mode (10,1,0,2,156,64).\r\n";
    let plain = b"200 Command okay, nothing to rewrite here...\r\n";
    assert_eq!(
        r227.len(),
        plain.len(),
        "same sizes, so only the rewrite differs"
    );
    println!("{n} PASV/reply exchanges per run (2 frames each), one core");
    for (name, fix) in [
        ("host fixes seq", SeqFix::Host),
        ("NIC fixes seq", SeqFix::Nic),
    ] {
        let base = session(n, plain, fix);
        let rw = session(n, r227, fix);
        assert_eq!(base.rewrites, 0);
        assert_eq!(rw.rewrites, n as u64, "every 227 rewritten");
        let rate = |r: &Run| r.exchanges as f64 / r.secs;
        println!(
            "{name:>15}: 227 rewrites {:>9.0}/s ({:>5.0} ns/exchange) | no-rewrite replies {:>9.0}/s | rewrite costs {:.2}x",
            rate(&rw),
            1e9 * rw.secs / n as f64,
            rate(&base),
            rate(&base) / rate(&rw),
        );
    }
}
