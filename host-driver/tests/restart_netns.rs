//! Daemon restart without loss (issue 8): the simulated NIC runs in its own process
//! (`vsnic-simd`, TAP devices to two network namespaces on its ports), the daemon in another
//! (`vsnicd --backend simd`). A real FTP client downloads a large file through the virtual
//! service from Debian's vsftpd in passive mode: the daemon's FTP helper rewrote the 227 reply,
//! so the control connection carries a sequence delta on the NIC. In the middle of the transfer
//! the daemon is killed with SIGKILL:
//!
//! * the NIC keeps forwarding: the download goes on growing while no daemon runs;
//! * a new daemon attaches, reads the NIC's table back and its own state snapshot, and rebuilds
//!   both connections (control with its helper binding and delta history, data) — checked
//!   through its control socket;
//! * the download completes with the right sha256, and the client goes on on the same control
//!   connection: a second file (a second PASV whose 227 the new daemon rewrites on top of the
//!   restored delta) completes with the right sha256 too.
//!
//! Needs root, `ip`, `curl`, `vsftpd`, `sha256sum`; skipped with a message otherwise (fails
//! under `CI`). Everything it creates is named with the PID and removed whatever happens.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vsnic_host::control::{self, Request, Response};
use vsnic_host::daemon::{DaemonConfig, DaemonStats};
use vsnic_tests::ftp_lab::{self, bytes, sha256};
use vsnic_tests::netns::{self, Cleanup};

const WHAT: &str = "daemon restart (TAP/netns)";
const VIP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 78, 0, 100), 21);
const REAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 78, 1, 2), 21);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 2);
/// Large enough to take several seconds through the cycle simulator (~0.4 MB/s at 64 bit).
const BIG: usize = 3 << 20;
const SMALL: usize = 200 << 10;

fn daemon_config(state: PathBuf) -> DaemonConfig {
    let mut cfg = ftp_lab::daemon_config(VIP, REAL);
    cfg.state_interval_ms = 100;
    cfg.state_file = Some(state);
    cfg
}

fn stats(socket: &Path) -> Result<DaemonStats, String> {
    match control::call(socket, &Request::Counters).map_err(|e| format!("control socket: {e}"))? {
        Response::Counters { daemon, .. } => Ok(*daemon),
        r => Err(format!("unexpected control response {r:?}")),
    }
}

fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Result<(), String> {
    let t0 = Instant::now();
    while !ok() {
        if t0.elapsed() > limit {
            return Err(format!("timed out waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// Start `vsnicd --backend simd` (its own process group, so a SIGKILL takes it alone).
fn start_daemon(dir: &Path, sim_socket: &Path, config: &Path, ctl: &Path) -> Result<Child, String> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("vsnicd.log"))
        .map_err(|e| e.to_string())?;
    let child = Command::new(env!("CARGO_BIN_EXE_vsnicd"))
        .args(["--backend", "simd", "--sim-socket"])
        .arg(sim_socket)
        .arg("--config")
        .arg(config)
        .arg("--socket")
        .arg(ctl)
        .env("RUST_LOG", "vsnic_host=info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting vsnicd: {e}"))?;
    let ctl = ctl.to_path_buf();
    wait_for("vsnicd's control socket", Duration::from_secs(30), || {
        stats(&ctl).is_ok()
    })?;
    Ok(child)
}

fn restart(dir: &Path) -> Result<(), String> {
    let tag = format!("{}", std::process::id());
    let (cli, srv) = (format!("vsnic-rcli-{tag}"), format!("vsnic-rsrv-{tag}"));
    let (tap_c, tap_s) = (format!("rc{tag}"), format!("rs{tag}"));
    let mut clean = Cleanup::default();
    clean.add_netns(&cli)?;
    clean.add_netns(&srv)?;
    clean.add_dir(dir.to_path_buf())?;
    let log_of = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();

    // The NIC, in its own process, with a TAP on each port.
    let sim_socket = dir.join("simd.sock");
    let simd_log = std::fs::File::create(dir.join("simd.log")).map_err(|e| e.to_string())?;
    let simd = Command::new(env!("CARGO_BIN_EXE_vsnic-simd"))
        .arg("--socket")
        .arg(&sim_socket)
        .args(["--table-bits", "12"])
        .args(["--port", &format!("0=tap:{tap_c}")])
        .args(["--port", &format!("1=tap:{tap_s}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(simd_log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting vsnic-simd: {e}"))?;
    clean.groups.push(simd);
    wait_for("vsnic-simd's socket", Duration::from_secs(30), || {
        sim_socket.exists()
    })
    .map_err(|e| format!("{e}\n{}", log_of("simd.log")))?;
    netns::setup_ns(&cli, &tap_c, &format!("{CLIENT}/24"), None)?;
    netns::setup_ns(
        &srv,
        &tap_s,
        &format!("{}/24", REAL.ip()),
        Some("10.78.1.1"),
    )?;

    // The daemon, with its state snapshot.
    let config = dir.join("vsnicd.toml");
    let ctl = dir.join("vsnicd.sock");
    let cfg = daemon_config(dir.join("state.json"));
    std::fs::write(&config, toml::to_string(&cfg).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    clean
        .groups
        .push(start_daemon(dir, &sim_socket, &config, &ctl)?);
    let first = clean.groups.len() - 1;

    // vsftpd behind the VIP.
    let files = [("big.bin", bytes(BIG, 7)), ("small.bin", bytes(SMALL, 8))];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let server = rt.block_on(ftp_lab::start_vsftpd(dir, &srv, REAL, &files, &mut clean))?;
    let want_big = sha256(&server.root.join("big.bin"))?;
    let want_small = sha256(&server.root.join("small.bin"))?;

    // One curl, one control connection, two files, passive mode (the 227 is rewritten).
    let got_big = dir.join("got-big.bin");
    let got_small = dir.join("got-small.bin");
    let url = |f: &str| format!("ftp://{}/{f}", VIP.ip());
    let curl_log = std::fs::File::create(dir.join("curl.log")).map_err(|e| e.to_string())?;
    let curl = Command::new("timeout")
        .args(["180", "ip", "netns", "exec", &cli, "curl", "-sS", "-v"])
        .args(["--disable-epsv", "--no-ftp-skip-pasv-ip"])
        .arg("-o")
        .arg(&got_big)
        .arg(url("big.bin"))
        .arg("-o")
        .arg(&got_small)
        .arg(url("small.bin"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(curl_log)
        .spawn()
        .map_err(|e| format!("starting curl: {e}"))?;
    clean.children.push(curl);
    let curl = clean.children.len() - 1;

    // Kill the daemon a quarter into the download.
    let quarter = BIG as u64 / 4;
    wait_for(
        "a quarter of the download",
        Duration::from_secs(120),
        || size(&got_big) >= quarter,
    )
    .map_err(|e| format!("{e}\ncurl:\n{}", log_of("curl.log")))?;
    let before = stats(&ctl)?;
    if before.app_rewrites == 0 || before.app_bound == 0 {
        return Err(format!(
            "the 227 was not rewritten before the kill: {before:?}"
        ));
    }
    let daemon = &mut clean.groups[first];
    daemon.kill().map_err(|e| format!("SIGKILL vsnicd: {e}"))?;
    let _ = daemon.wait();
    let killed_at = size(&got_big);
    // No daemon: the NIC alone carries the data connection.
    std::thread::sleep(Duration::from_secs(2));
    let alone = size(&got_big);
    eprintln!(
        "{WHAT}: killed at {killed_at} bytes; {} bytes arrived while no daemon ran",
        alone - killed_at
    );
    if alone <= killed_at && alone < BIG as u64 {
        return Err(format!(
            "the download stalled while the daemon was down ({killed_at} -> {alone})"
        ));
    }

    // A new daemon picks up the connections.
    let _ = std::fs::remove_file(&ctl);
    let daemon2 = start_daemon(dir, &sim_socket, &config, &ctl)?;
    clean.groups.push(daemon2);
    let after = stats(&ctl)?;
    eprintln!(
        "{WHAT}: restored {} connections, {} helper bindings, {} stale snapshot records, {} orphans cleared",
        after.connections_restored, after.app_bound, after.restore_stale_records, after.restore_orphans_cleared
    );
    if after.connections_restored < 2 || after.app_bound != 1 {
        return Err(format!(
            "expected the control (bound to the helper) and data connections restored: {after:?}\n{}",
            log_of("vsnicd.log")
        ));
    }

    let status = clean.children[curl].wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!(
            "curl failed ({status}):\n{}\nvsnicd:\n{}",
            log_of("curl.log"),
            log_of("vsnicd.log")
        ));
    }
    for (got, want, name) in [
        (&got_big, &want_big, "big"),
        (&got_small, &want_small, "small"),
    ] {
        let sum = sha256(got)?;
        if &sum != want {
            return Err(format!("{name}: sha256 {sum}, want {want}"));
        }
    }
    let end = stats(&ctl)?;
    eprintln!(
        "{WHAT}: both files complete with the right sha256; the new daemon rewrote {} reply(ies), fixed {} segment(s) on the host",
        end.app_rewrites, end.app_host_fixed
    );
    if end.app_rewrites < 1 || end.app_errors != 0 {
        return Err(format!(
            "the second PASV's 227 was not rewritten by the new daemon: {end:?}"
        ));
    }
    drop(clean);
    Ok(())
}

#[test]
fn sigkilled_daemon_restarts_without_losing_a_transfer() {
    if !ftp_lab::preflight(WHAT, &[]) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vsnic-restart-{}", std::process::id()));
    restart(&dir).expect("restart without loss");
}
