//! New connections per second through the host path on the in-memory NIC (one core):
//! exception in (SYN in the exception ring) → parse → schedule → both NIC entries written →
//! SYN re-injected on the TX ring. Connections are expired in rounds so the direct-mapped
//! table stays lightly loaded; expiry (two entry clears each) is timed separately.
//!
//! Two runs in one process, for a ratio: a NIC that keeps per-entry activity records (table
//! 1.2: the daemon reads each bucket's record before its first install and a connection's
//! records at its expiry) and one that does not (table 1.1).
//!
//! ```sh
//! cargo run -p vsnic-host --example cps -- [connections] [scheduler]
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vsnic_contract::regs::table;
use vsnic_contract::Reason;
use vsnic_host::backend::fake::{FakeConfig, FakeNic};
use vsnic_host::daemon::{RealConfig, ServiceConfig};
use vsnic_host::driver::{Driver, DriverConfig, ExceptionFrame};
use vsnic_host::net::{self, Arp, ArpOp, TcpFlags};
use vsnic_host::sched::Scheduler;
use vsnic_host::service::ForwardMethod;
use vsnic_host::{Daemon, DaemonConfig, PortConfig};

const BATCH: usize = 128;
const KEY: vsnic_contract::hash::HashKey = [0x6d5a_56da, 0x255b_0ec2, 0x4167_253d, 0x43a3_8fb0];
const ROUND: usize = 2048;

fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let sched = args
        .next()
        .and_then(|s| Scheduler::parse(&s))
        .unwrap_or(Scheduler::Rr);
    let with = run(
        total,
        sched,
        table::VERSION,
        "with activity records (table 1.2)",
    );
    let without = run(
        total,
        sched,
        table::VERSION & !0xFFFF | table::MINOR_READ,
        "without activity records (table 1.1)",
    );
    println!(
        "activity records cost: host path {:.3}x, with expiry {:.3}x of the rate without",
        with.0 / without.0,
        with.1 / without.1
    );
}

/// One run; returns (host path conn/s, host path + fake + expiry conn/s).
fn run(total: usize, sched: Scheduler, table_version: u32, what: &str) -> (f64, f64) {
    let nic = Arc::new(FakeNic::new(FakeConfig {
        table_index_bits: 16,
        table_version,
        ..Default::default()
    }));
    let mut cfg = DaemonConfig::new(vec![
        PortConfig {
            mac: [2, 0, 0, 0, 0, 1],
            addr: Ipv4Addr::new(10, 0, 0, 1),
            prefix: 16,
        },
        PortConfig {
            mac: [2, 0, 0, 0, 1, 1],
            addr: Ipv4Addr::new(10, 1, 0, 1),
            prefix: 24,
        },
    ]);
    cfg.services.push(ServiceConfig::tcp(
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 100), 80),
        sched,
        (2..6)
            .map(|i| RealConfig {
                addr: SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, i), 80),
                weight: 1,
                method: ForwardMethod::Masq,
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect(),
    ));
    cfg.max_connections = Some(1 << 15);
    // the host path's own speed: no admission rate limit
    cfg.new_conn_rate = 0;
    // one hash key for both runs: the same placements and bucket collisions
    let drv = Driver::open_with(
        nic.clone(),
        DriverConfig {
            hash_key: Some(KEY),
            ..Default::default()
        },
    )
    .unwrap();
    let mut d = Daemon::new(drv, cfg).unwrap();
    for i in 2..6u8 {
        let arp = Arp {
            op: ArpOp::Request,
            sender_mac: [2, 0, 0, 0, 1, 1],
            sender_ip: Ipv4Addr::new(10, 1, 0, 1),
            target_mac: [0; 6],
            target_ip: Ipv4Addr::new(10, 1, 0, i),
        };
        d.handle_exception(ExceptionFrame {
            frame: net::arp_reply(&arp, [2, 0, 0, 0, 1, i]),
            reason: Reason::NonIpv4,
            src_port: 1,
            hit: false,
            index: 0,
        });
    }
    nic.take_tx();
    let syn = TcpFlags {
        syn: true,
        ..Default::default()
    };
    let frames: Vec<Vec<u8>> = (0..ROUND)
        .map(|k| {
            net::tcp_frame(
                [2, 0, 0, 0, 0, 0x10],
                [2, 0, 0, 0, 0, 1],
                (
                    Ipv4Addr::new(10, 0, (k >> 8) as u8 + 1, k as u8),
                    1024 + k as u16,
                ),
                (Ipv4Addr::new(10, 0, 0, 100), 80),
                syn,
                1,
                &[],
            )
        })
        .collect();

    let (mut host, mut fake, mut expiry) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut done = 0;
    let mut reinjected = 0u64;
    let mut clock = tokio::time::Instant::now();
    let wall = Instant::now();
    while done < total {
        for batch in frames.chunks(BATCH) {
            let t = Instant::now();
            for f in batch {
                nic.inject_exception(f, Reason::Syn, 0, false, 0);
            }
            let t1 = Instant::now();
            d.poll().unwrap();
            let t2 = Instant::now();
            reinjected += nic.take_tx().len() as u64;
            fake += (t1 - t) + t2.elapsed();
            host += t2 - t1;
        }
        done += ROUND;
        // expire the round: every connection's timer has run out an hour later
        clock += Duration::from_secs(3600);
        let t = Instant::now();
        d.tick(clock);
        expiry += t.elapsed();
        assert_eq!(d.connections().len(), 0);
    }
    let wall = wall.elapsed();
    let s = d.stats();
    let created = s.connections_created;
    assert_eq!(
        reinjected, created,
        "every installed connection's SYN was re-injected"
    );
    let rate = |n: u64, t: Duration| n as f64 / t.as_secs_f64();
    println!("== {what}");
    println!("scheduler {sched}, {done} SYNs, {created} connections installed, {} refused (bucket collisions)", s.table_collisions);
    println!("host path (poll: parse, schedule, 2 entry writes, re-inject): {:>10.0} conn/s  ({:.0} ns/conn)", rate(created, host), host.as_nanos() as f64 / created as f64);
    println!(
        "  + fake NIC (inject + TX drain):                              {:>10.0} conn/s",
        rate(created, host + fake)
    );
    println!(
        "  + expiry (2 entry clears per connection):                    {:>10.0} conn/s",
        rate(created, host + fake + expiry)
    );
    println!(
        "  activity records read: {} (installs and expiry)",
        s.activity_reads
    );
    println!("wall {:.2?}", wall);
    (rate(created, host), rate(created, host + fake + expiry))
}
