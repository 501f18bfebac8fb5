//! Real kernel TCP through the simulated NIC: two network namespaces, each with a TAP device on
//! one NIC port — `cli` on port 0 (10.77.0.2/24), `srv` on port 1 (10.77.1.2/24, default route
//! via the daemon's port-1 address) — and the daemon on the simulator load-balancing a virtual
//! service (VIP 10.77.0.100:80 on port 0's subnet) to a Python HTTP server in `srv`. curl in
//! `cli` downloads 1 MiB through the VIP; the bytes must be exactly the file's.
//!
//! Needs root, `ip` (iproute2), `curl` and `/usr/bin/python3`. Without them the test is skipped
//! with a message, except when `CI` is set: then it fails. Namespaces and devices are named
//! with the PID and the width, and removed whatever happens.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vsnic_host::backend::sim::SimBackend;
use vsnic_host::daemon::{Daemon, DaemonConfig, PortConfig, RealConfig, ServiceConfig};
use vsnic_host::driver::{Driver, DriverConfig};
use vsnic_host::service::{ForwardMethod, Scheduler};
use vsnic_sim::attach::PortSpec;
use vsnic_sim::{SimConfig, Simulator};
use vsnic_tests::netns::{cannot_run as skip_or_fail, have, is_root, run, setup_ns, Cleanup};

const WHAT: &str = "TAP/netns";

/// Skip (with a message), or fail under CI.
fn cannot_run(why: &str) {
    skip_or_fail(WHAT, why);
}

const PAYLOAD: usize = 1 << 20;
const VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 100), 80);
const REAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 77, 1, 2), 8080);

/// A static-file HTTP server: `python3 -c HTTP_SERVER ADDR PORT DIR`.
const HTTP_SERVER: &str = "import functools, http.server, socketserver, sys
socketserver.TCPServer.allow_reuse_address = True
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])
socketserver.TCPServer((sys.argv[1], int(sys.argv[2])), h).serve_forever()
";

fn payload() -> Vec<u8> {
    vsnic_tests::ftp_lab::bytes(PAYLOAD, 0)
}

fn daemon_config() -> DaemonConfig {
    let mut cfg = DaemonConfig::new(vec![
        PortConfig {
            mac: [0x02, 0x5e, 0, 0, 0, 1],
            addr: Ipv4Addr::new(10, 77, 0, 1),
            prefix: 24,
        },
        PortConfig {
            mac: [0x02, 0x5e, 0, 0, 1, 1],
            addr: Ipv4Addr::new(10, 77, 1, 1),
            prefix: 24,
        },
    ]);
    cfg.tick_ms = 100;
    cfg.services.push(ServiceConfig::tcp(
        VIP,
        Scheduler::Rr,
        vec![RealConfig {
            addr: REAL,
            weight: 1,
            method: ForwardMethod::Masq,
            u_threshold: 0,
            l_threshold: 0,
        }],
    ));
    cfg
}

async fn transfer(width: usize, table_bits: usize, clock_hz: f64) -> Result<(), String> {
    let tag = format!("{}w{width}", std::process::id());
    let (cli, srv) = (format!("vsnic-cli-{tag}"), format!("vsnic-srv-{tag}"));
    let (tap_c, tap_s) = (format!("vc{tag}"), format!("vs{tag}"));
    let mut clean = Cleanup::default();
    for ns in [&cli, &srv] {
        run(&["ip", "netns", "add", ns])?;
        clean.netns.push(ns.clone());
    }

    // The NIC, with a TAP on each port (opened here, in our namespace, then moved).
    let sim = Arc::new(Simulator::start(&SimConfig {
        width,
        table_bits,
        clock_hz,
        ..Default::default()
    })?);
    for (port, name) in [(0, &tap_c), (1, &tap_s)] {
        let spec: PortSpec = format!("tap:{name}").parse()?;
        sim.attach(port, spec.open(sim.waker())?.into_attachment())?;
    }
    setup_ns(&cli, &tap_c, "10.77.0.2/24", None)?;
    setup_ns(&srv, &tap_s, "10.77.1.2/24", Some("10.77.1.1"))?;

    // The daemon on the simulator backend.
    let backend = Arc::new(SimBackend::new(sim.clone()));
    let driver = Driver::open_with(
        backend,
        DriverConfig {
            clear_table: false,
            ..Default::default()
        },
    )
    .map_err(|e| format!("opening the simulated NIC: {e}"))?;
    let daemon = Daemon::new(driver, daemon_config()).map_err(|e| e.to_string())?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(daemon.run(async {
        let _ = stop_rx.await;
    }));

    // The real server.
    let dir = std::env::temp_dir().join(format!("vsnic-tap-{tag}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    clean.dirs.push(dir.clone());
    let data = payload();
    std::fs::write(dir.join("payload.bin"), &data).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
    // http.server's own HTTPServer resolves its address's name at start (a DNS query out of the
    // namespace, through the NIC, into nothing): a plain TCPServer with its handler does not.
    let server = Command::new("ip")
        .args(["netns", "exec", &srv, "/usr/bin/python3", "-c", HTTP_SERVER])
        .arg(REAL.ip().to_string())
        .arg(REAL.port().to_string())
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("starting the HTTP server: {e}"))?;
    clean.children.push(server);
    let local_url = format!("http://{REAL}/");
    let t0 = Instant::now();
    while !have_ok(&srv, &local_url) {
        if t0.elapsed() > Duration::from_secs(10) {
            let status = clean.children[0].try_wait();
            let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
            let log = format!("{status:?} {log}");
            let addrs = Command::new("ip")
                .args(["-n", &srv, "addr"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let probe = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &srv,
                    "curl",
                    "-sS",
                    "-o",
                    "/dev/null",
                    "--max-time",
                    "2",
                ])
                .arg(&local_url)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            let ss = Command::new("ip")
                .args(["netns", "exec", &srv, "ss", "-ltnp"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            return Err(format!(
                "the HTTP server did not come up; its log:\n{log}\naddresses in {srv}:\n{addrs}\ncurl: {probe}\nlistening: {ss}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The transfer, through the VIP on the simulated NIC.
    let out = dir.join("received.bin");
    let url = format!("http://{VIP}/payload.bin", VIP = VIP.ip());
    let (c, o) = (cli.clone(), out.clone());
    let t = Instant::now();
    let curl = tokio::task::spawn_blocking(move || {
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &c,
                "curl",
                "-sS",
                "--fail",
                "--max-time",
                "120",
            ])
            .arg("-o")
            .arg(&o)
            .arg(&url)
            .output()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("running curl: {e}"))?;
    let secs = t.elapsed().as_secs_f64();
    let stats = sim.stats();
    let _ = stop_tx.send(());
    let _ = task.await;
    if !curl.status.success() {
        return Err(format!(
            "curl through the VIP failed: {}; simulator: {stats:?}",
            String::from_utf8_lossy(&curl.stderr).trim()
        ));
    }
    let got = std::fs::read(&out).map_err(|e| e.to_string())?;
    assert_eq!(got.len(), data.len(), "received length");
    assert!(got == data, "received bytes differ from the file");
    eprintln!(
        "TAP transfer, {width}-bit core: {} bytes in {secs:.2} s = {:.2} MB/s; simulator {} cycles ({:.0} cycles/s), {} exceptions, rx {:?} tx {:?} frames",
        got.len(),
        got.len() as f64 / secs / 1e6,
        stats.cycles,
        stats.cycles as f64 / secs,
        stats.exceptions,
        stats.rx_frames,
        stats.tx_frames
    );
    // The NIC carried the connection: the host saw only the SYN and ARP.
    let frames: u64 = stats.rx_frames.iter().sum();
    assert!(
        frames as usize > PAYLOAD / 1460,
        "too few frames: {stats:?}"
    );
    assert!(
        stats.exceptions < 32,
        "the host handled {} frames: {stats:?}",
        stats.exceptions
    );
    assert_eq!(stats.rx_overflow, [0, 0]);
    drop(sim);
    drop(clean);
    Ok(())
}

/// Whether an HTTP GET of `url` from inside `ns` succeeds.
fn have_ok(ns: &str, url: &str) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "--max-time",
            "2",
        ])
        .arg(url)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn preflight() -> bool {
    if !is_root() {
        cannot_run("not root (network namespaces and TAP devices need CAP_NET_ADMIN)");
        return false;
    }
    for (cmd, arg) in [
        ("ip", "-V"),
        ("curl", "--version"),
        ("/usr/bin/python3", "--version"),
    ] {
        if !have(cmd, arg) {
            cannot_run(&format!(
                "`{cmd}` is missing (apt-get install iproute2 curl python3)"
            ));
            return false;
        }
    }
    if !Path::new("/dev/net/tun").exists() {
        cannot_run("/dev/net/tun is missing");
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_tcp_through_the_simulated_nic_on_tap_64bit() {
    if !preflight() {
        return;
    }
    transfer(64, 12, 156.25e6).await.expect("transfer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_tcp_through_the_simulated_nic_on_tap_512bit() {
    if !preflight() {
        return;
    }
    transfer(512, 8, 250e6).await.expect("transfer");
}
