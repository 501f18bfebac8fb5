//! `vsnicadm` (the binary) against a daemon on the in-memory NIC, over the control socket: an
//! ipvsadm session (services, real servers, save/restore, errors and exit codes), then many
//! connections through the daemon, listed with `-L -n -c`, their distribution and expiry.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use vsnic_contract::activity::HitFlags;
use vsnic_contract::Reason;
use vsnic_host::backend::fake::FakeNic;
use vsnic_host::driver::DriverConfig;
use vsnic_host::net::{self, Arp, ArpOp, TcpFlags};
use vsnic_host::{Daemon, DaemonConfig, Driver, PortConfig};

const P0_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
const P1_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];

fn vsnicadm(socket: &Path, args: &[&str]) -> Output {
    vsnicadm_stdin(socket, args, "")
}

fn vsnicadm_stdin(socket: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vsnicadm"))
        .args(args)
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vsnicadm");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

struct Running {
    rt: tokio::runtime::Runtime,
    nic: Arc<FakeNic>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), vsnic_host::daemon::DaemonError>>,
    socket: std::path::PathBuf,
    dir: std::path::PathBuf,
}

fn start(name: &str) -> Running {
    let dir = std::env::temp_dir().join(format!("vsnicadm-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let socket = dir.join("vsnicd.sock");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let nic = Arc::new(FakeNic::default());
    let mut cfg = DaemonConfig::new(vec![
        PortConfig {
            mac: P0_MAC,
            addr: Ipv4Addr::new(10, 0, 0, 1),
            prefix: 24,
        },
        PortConfig {
            mac: P1_MAC,
            addr: Ipv4Addr::new(10, 1, 0, 1),
            prefix: 24,
        },
    ]);
    cfg.control_socket = Some(socket.clone());
    cfg.tick_ms = 100;
    let daemon = Daemon::new(
        Driver::open_with(
            nic.clone(),
            DriverConfig {
                // a fixed flow hash key: the tests' placements (and collisions) are deterministic
                hash_key: Some(vsnic_contract::hash::DEFAULT_KEY),
                ..Default::default()
            },
        )
        .unwrap(),
        cfg,
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = rt.spawn(daemon.run(async {
        let _ = stopped.await;
    }));
    for _ in 0..400 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Running {
        rt,
        nic,
        stop,
        task,
        socket,
        dir,
    }
}

impl Running {
    fn finish(self) {
        self.stop.send(()).unwrap();
        self.rt.block_on(self.task).unwrap().unwrap();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn ipvsadm_session() {
    let d = start("session");
    let s = &d.socket;

    // services and real servers
    stdout(&vsnicadm(s, &["-A", "-t", "10.0.0.100:80", "-s", "rr"]));
    stdout(&vsnicadm(
        s,
        &["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.2:80", "-m"],
    ));
    // ipvsadm's default method (-g) is stored; its connections are refused later
    stdout(&vsnicadm(
        s,
        &["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.3:80"],
    ));
    stdout(&vsnicadm(
        s,
        &["-A", "-u", "10.0.0.100:53", "-s", "sh", "-b", "sh-fallback"],
    ));
    stdout(&vsnicadm(
        s,
        &["-E", "-t", "10.0.0.100:80", "-s", "wrr", "-p", "60"],
    ));
    stdout(&vsnicadm(
        s,
        &[
            "-e",
            "-t",
            "10.0.0.100:80",
            "-r",
            "10.1.0.3:80",
            "-i",
            "-w",
            "0",
            "-x",
            "9",
        ],
    ));
    assert_eq!(
        stdout(&vsnicadm(s, &["-L", "-n"])),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n\
         \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  10.0.0.100:80 wrr persistent 60\n\
         \x20 -> 10.1.0.2:80                  Masq    1      0          0\n\
         \x20 -> 10.1.0.3:80                  Tunnel  0      0          0\n\
         UDP  10.0.0.100:53 sh (sh-fallback)\n"
    );

    // errors: from the daemon exit 1, bad arguments exit 2
    let out = vsnicadm(s, &["-A", "-t", "10.0.0.100:80"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Service already exists"), "{out:?}");
    let out = vsnicadm(s, &["-d", "-t", "10.0.0.100:80", "-r", "10.9.9.9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("No such destination"));
    let out = vsnicadm(s, &["-D", "-t", "10.0.0.200:80"]);
    assert!(stderr(&out).contains("No such service"));
    let out = vsnicadm(
        s,
        &[
            "-a",
            "-t",
            "10.0.0.100:80",
            "-r",
            "10.1.0.3:80",
            "-w",
            "65536",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Illegal weight"));
    let out = vsnicadm(s, &["-A", "-t", "10.0.0.100:80", "-s", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Scheduler not found: bogus"));

    // timeouts
    stdout(&vsnicadm(s, &["--set", "3600", "0", "60"]));
    assert_eq!(
        stdout(&vsnicadm(s, &["-L", "--timeout"])),
        "Timeout (tcp tcpfin udp): 3600 120 60\n"
    );

    // save, clear, restore
    let saved = stdout(&vsnicadm(s, &["-S", "-n"]));
    assert_eq!(
        saved,
        "-A -t 10.0.0.100:80 -s wrr -p 60\n\
         -a -t 10.0.0.100:80 -r 10.1.0.2:80 -m -w 1\n\
         -a -t 10.0.0.100:80 -r 10.1.0.3:80 -i -w 0 -x 9\n\
         -A -u 10.0.0.100:53 -s sh -b sh-fallback\n"
    );
    let listed = stdout(&vsnicadm(s, &["-L", "-n"]));
    stdout(&vsnicadm(s, &["-C"]));
    assert!(!stdout(&vsnicadm(s, &["-L", "-n"])).contains("TCP"));
    stdout(&vsnicadm_stdin(s, &["-R"], &saved));
    assert_eq!(stdout(&vsnicadm(s, &["-L", "-n"])), listed);
    let out = vsnicadm_stdin(s, &["-R"], "-A -t 10.0.0.9:80\n-a -t nope -r 1.2.3.4\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 2"));

    // deletes, zero, stats
    stdout(&vsnicadm(
        s,
        &["-d", "-t", "10.0.0.100:80", "-r", "10.1.0.3:80"],
    ));
    stdout(&vsnicadm(s, &["-D", "-u", "10.0.0.100:53"]));
    stdout(&vsnicadm(s, &["-Z"]));
    let st = stdout(&vsnicadm(s, &["-L", "-n", "--stats"]));
    assert!(
        st.contains(
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes"
        ),
        "{st}"
    );
    assert!(stdout(&vsnicadm(s, &["-L", "-n", "--rate"])).contains("CPS"));
    d.finish();
}

/// Send `frame` to the daemon as an exception and wait until it has been handled.
fn inject(d: &Running, frame: &[u8], reason: Reason, port: u8) {
    for _ in 0..1000 {
        if d.nic.inject_exception(frame, reason, port, false, 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1)); // ring full: let the daemon drain
    }
    panic!("exception ring stuck");
}

fn wait_tx(d: &Running, n: usize) -> Vec<vsnic_host::backend::fake::TxFrame> {
    let mut got = Vec::new();
    for _ in 0..2000 {
        got.extend(d.nic.take_tx());
        if got.len() >= n {
            return got;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("only {} of {n} frames transmitted", got.len());
}

#[test]
fn many_connections_distribution_listing_and_expiry() {
    let d = start("conns");
    let s = &d.socket;
    stdout(&vsnicadm(s, &["-A", "-t", "10.0.0.100:80", "-s", "wrr"]));
    for (rs, w) in [("10.1.0.2", "3"), ("10.1.0.3", "1")] {
        stdout(&vsnicadm(
            s,
            &["-a", "-t", "10.0.0.100:80", "-r", rs, "-m", "-w", w],
        ));
    }
    stdout(&vsnicadm(
        s,
        &["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.4", "-g"],
    ));
    // ESTABLISHED lasts 2 s
    stdout(&vsnicadm(s, &["--set", "2", "0", "0"]));
    // the real servers answer ARP up front
    for (i, rs) in [[10, 1, 0, 2], [10, 1, 0, 3], [10, 1, 0, 4]]
        .iter()
        .enumerate()
    {
        let reply = net::arp_reply(
            &Arp {
                op: ArpOp::Request,
                sender_mac: P1_MAC,
                sender_ip: Ipv4Addr::new(10, 1, 0, 1),
                target_mac: [0; 6],
                target_ip: Ipv4Addr::from(*rs),
            },
            [2, 0, 0, 0, 1, 0x20 + i as u8],
        );
        inject(&d, &reply, Reason::NonIpv4, 1);
    }
    let syn = TcpFlags {
        syn: true,
        ..Default::default()
    };
    let n = 200u16;
    for k in 0..n {
        let f = net::tcp_frame(
            [2, 0, 0, 0, 0, 0x10],
            P0_MAC,
            (Ipv4Addr::new(10, 0, 0, 2 + (k % 50) as u8), 20000 + k),
            (Ipv4Addr::new(10, 0, 0, 100), 80),
            syn,
            1,
            &[],
        );
        inject(&d, &f, Reason::Syn, 0);
    }
    // every SYN re-injected, except the ones refused (a direct-mapped bucket collision); the
    // handshakes are not done: SYN_RECV (60 s)
    std::thread::sleep(Duration::from_millis(200));
    let listing = stdout(&vsnicadm(s, &["-L", "-n", "-c"]));
    let lines: Vec<&str> = listing.lines().skip(2).collect();
    assert!(
        !lines.is_empty()
            && lines
                .iter()
                .all(|l| l.starts_with("TCP 00:5") && l.contains("SYN_RECV")),
        "{listing}"
    );
    // the NIC carries each handshake (the re-injected SYN, the server's SYN+ACK, the client's
    // ACK; a DR connection's one entry sees the client's side): its activity records tell the
    // daemon at its next tick
    for b in d.nic.valid_buckets() {
        let syn = HitFlags {
            syn: true,
            ..HitFlags::default()
        };
        d.nic.record_activity(b, 60, syn);
        d.nic.record_activity(b, 54, HitFlags::default());
    }
    std::thread::sleep(Duration::from_millis(400));
    let listing = stdout(&vsnicadm(s, &["-L", "-n", "-c"]));
    let lines: Vec<&str> = listing.lines().skip(2).collect();
    let to = |rs: &str| lines.iter().filter(|l| l.ends_with(rs)).count();
    let (a, b) = (to("10.1.0.2:80"), to("10.1.0.3:80"));
    // direct routing: listed with its method after the destination
    let dr = to("10.1.0.4:80        Route");
    assert_eq!(a + b + dr, lines.len(), "{listing}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("TCP 00:0") && l.contains("ESTABLISHED")),
        "{listing}"
    );
    let counters = String::from_utf8(vsnicadm(s, &["-L", "-n", "--stats"]).stdout).unwrap();
    assert!(counters.contains("TCP  10.0.0.100:80"));
    // the records' packets in the service's statistics (ipvsadm --stats: Conns InPkts OutPkts;
    // a DR connection's replies bypass the balancer)
    let svc: Vec<usize> = counters
        .lines()
        .find(|l| l.starts_with("TCP  10.0.0.100:80"))
        .unwrap()
        .split_whitespace()
        .skip(2)
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(
        svc[..3],
        [a + b + dr, 2 * (a + b + dr), 2 * (a + b)],
        "{counters}"
    );
    // wrr 3:1:1: 120/40/40 scheduled; a few are refused when their entries collide in the
    // direct-mapped table (counted; a DR connection has one entry, so it collides less)
    assert!(a + b + dr >= 170, "{a} {b} {dr}: {listing}");
    assert!(
        (95..=120).contains(&a) && (30..=40).contains(&b) && (30..=40).contains(&dr),
        "{a} {b} {dr}"
    );
    let tx = wait_tx(&d, a + b + dr);
    assert!(tx.iter().all(|t| !t.bypass), "only re-injected SYNs");
    // the daemon's and the NIC's counters, as `--nic-stats` prints them
    let stats = stdout(&vsnicadm(s, &["--nic-stats"]));
    let value = |name: &str| -> Option<usize> {
        stats
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
    };
    assert_eq!(value("connections_created"), Some(a + b + dr), "{stats}");
    assert_eq!(
        value(&format!("exceptions{{{}}}", Reason::Syn.name())),
        Some(n as usize),
        "{stats}"
    );
    assert!(value("rx_frames").is_some(), "{stats}");
    assert_eq!(d.nic.valid_buckets().len(), 2 * (a + b) + dr);
    let plain = stdout(&vsnicadm(s, &["-L", "-n"]));
    assert!(
        plain.contains(&format!(
            "  -> 10.1.0.2:80                  Masq    3      {a:<10} 0\n"
        )),
        "{plain}"
    );
    assert!(
        plain.contains(&format!(
            "  -> 10.1.0.4:80                  Route   1      {dr:<10} 0\n"
        )),
        "{plain}"
    );

    // expiry: after 2 s the connections and their NIC entries are gone
    std::thread::sleep(Duration::from_millis(2500));
    let listing = stdout(&vsnicadm(s, &["-L", "-n", "-c"]));
    assert_eq!(listing.lines().count(), 2, "{listing}");
    assert!(d.nic.valid_buckets().is_empty());
    let plain = stdout(&vsnicadm(s, &["-L", "-n"]));
    assert!(
        plain.contains("  -> 10.1.0.2:80                  Masq    3      0          0\n"),
        "{plain}"
    );
    d.finish();
}
