//! Real FTP software around the simulated NIC, shared by the FTP tests on TAP devices
//! (`tests/tests/ftp_tap_netns.rs`, `host-driver/tests/restart_netns.rs`): Debian's vsftpd in a
//! network namespace, deterministic files and their sha256, clients run in a namespace under a
//! time limit, and the checks a test makes before it starts.

use std::net::SocketAddrV4;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::netns::{self, Cleanup};
use vsnic_host::daemon::{DaemonConfig, PortConfig, RealConfig, ServiceConfig};
use vsnic_host::service::{ForwardMethod, Scheduler};

/// vsftpd's passive data ports.
pub const PASV_PORTS: (u16, u16) = (40000, 40999);

/// The `h1,h2,h3,h4` text of an address in a 227 reply.
pub fn pasv_text(a: std::net::Ipv4Addr) -> String {
    let o = a.octets();
    format!("{},{},{},{}", o[0], o[1], o[2], o[3])
}

/// Deterministic bytes, different per `seed`.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

pub fn sha256(path: &Path) -> Result<String, String> {
    let p = path.to_string_lossy();
    let out = netns::output(&["sha256sum", "--", &p])?;
    out.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("sha256sum {p}: no output"))
}

pub fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, data).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// vsftpd's binary (it has no option that just exits 0, so look for it).
pub fn vsftpd() -> Option<&'static str> {
    ["/usr/sbin/vsftpd", "/usr/bin/vsftpd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// vsftpd's configuration: anonymous only, `root` readable, `root/upload` writable by `ftp`,
/// passive ports in [`PASV_PORTS`], active connections from port 20, listening on `listen`.
pub fn vsftpd_conf(listen: SocketAddrV4, root: &Path, empty: &Path, log: &Path) -> String {
    format!(
        "listen=YES
listen_ipv6=NO
background=NO
listen_address={addr}
listen_port={port}
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root={root}
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=NO
anon_other_write_enable=NO
anon_umask=022
secure_chroot_dir={empty}
seccomp_sandbox=NO
pasv_enable=YES
pasv_min_port={pmin}
pasv_max_port={pmax}
port_enable=YES
connect_from_port_20=YES
dirmessage_enable=NO
hide_ids=YES
syslog_enable=NO
xferlog_enable=YES
vsftpd_log_file={log}
log_ftp_protocol=YES
",
        addr = listen.ip(),
        port = listen.port(),
        root = root.display(),
        empty = empty.display(),
        log = log.display(),
        pmin = PASV_PORTS.0,
        pmax = PASV_PORTS.1,
    )
}

/// The daemon for an FTP lab: port 0 on the VIP's /24 (address .1), port 1 on the real
/// server's /24 (.1, the server's gateway), the FTP helper on the VIP's port, one masquerading
/// real server, a 100 ms tick.
pub fn daemon_config(vip: SocketAddrV4, real: SocketAddrV4) -> DaemonConfig {
    let gw = |a: &SocketAddrV4| {
        let o = a.ip().octets();
        std::net::Ipv4Addr::new(o[0], o[1], o[2], 1)
    };
    let mut cfg = DaemonConfig::new(vec![
        PortConfig {
            mac: [0x02, 0x5e, 0, 0, 0, 1],
            addr: gw(&vip),
            prefix: 24,
        },
        PortConfig {
            mac: [0x02, 0x5e, 0, 0, 1, 1],
            addr: gw(&real),
            prefix: 24,
        },
    ]);
    cfg.tick_ms = 100;
    cfg.ftp_ports = vec![vip.port()];
    cfg.services.push(ServiceConfig::tcp(
        vip,
        Scheduler::Rr,
        vec![RealConfig {
            addr: real,
            weight: 1,
            method: ForwardMethod::Masq,
            u_threshold: 0,
            l_threshold: 0,
        }],
    ));
    cfg
}

/// Run `args` in namespace `ns` under `timeout_s` seconds, off the async threads.
pub async fn in_ns(ns: &str, args: Vec<String>, timeout_s: u64) -> Result<Output, String> {
    let ns = ns.to_string();
    let what = args.join(" ");
    tokio::task::spawn_blocking(move || {
        Command::new("timeout")
            .arg(timeout_s.to_string())
            .args(["ip", "netns", "exec", &ns])
            .args(&args)
            .stdin(Stdio::null())
            .output()
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("running {what}: {e}"))
}

/// A running vsftpd.
pub struct Vsftpd {
    /// What it serves (`root/<name>` for each file given), with `upload/` writable.
    pub root: PathBuf,
    pub upload: PathBuf,
    pub log: PathBuf,
}

/// Start vsftpd in namespace `ns` on `listen`, serving `files` from `dir/root` (`dir` is the
/// test's own folder); killed by `clean`. Returns once it answers a local client.
pub async fn start_vsftpd(
    dir: &Path,
    ns: &str,
    listen: SocketAddrV4,
    files: &[(&str, Vec<u8>)],
    clean: &mut Cleanup,
) -> Result<Vsftpd, String> {
    let root = dir.join("root");
    let empty = dir.join("empty");
    let upload = root.join("upload");
    for d in [&root, &empty, &upload] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    for d in [dir, &root, &empty] {
        netns::run(&["chmod", "0755", &d.display().to_string()])?;
    }
    netns::run(&["chown", "ftp:", &upload.display().to_string()])?;
    netns::run(&["chmod", "0755", &upload.display().to_string()])?;
    for (name, data) in files {
        write_file(&root.join(name), data, 0o644)?;
    }
    let log = dir.join("vsftpd.log");
    let conf = dir.join("vsftpd.conf");
    write_file(
        &conf,
        vsftpd_conf(listen, &root, &empty, &log).as_bytes(),
        0o600,
    )?;
    let server_err = std::fs::File::create(dir.join("vsftpd.stderr")).map_err(|e| e.to_string())?;
    let server = Command::new("ip")
        .args(["netns", "exec", ns, vsftpd().ok_or("vsftpd is missing")?])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(server_err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("starting vsftpd: {e}"))?;
    clean.groups.push(server);
    let at = clean.groups.len() - 1;
    let local = format!("ftp://{}:{}/", listen.ip(), listen.port());
    let t0 = Instant::now();
    loop {
        let args = ["curl", "-s", "-o", "/dev/null", "--max-time", "2", &local];
        if in_ns(ns, args.map(String::from).to_vec(), 10)
            .await?
            .status
            .success()
        {
            return Ok(Vsftpd { root, upload, log });
        }
        if t0.elapsed() > Duration::from_secs(10) {
            let status = clean.groups[at].try_wait();
            let err = std::fs::read_to_string(dir.join("vsftpd.stderr")).unwrap_or_default();
            return Err(format!(
                "vsftpd did not come up ({status:?}): {err}\nits log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether an FTP test on TAP devices can run here: root, `tools` (command, version flag),
/// vsftpd, its `ftp` user, /dev/net/tun. If not, says why (and fails under `CI`). Sets up the
/// daemon's log from `VSNIC_FTP_LOG` (e.g. `vsnic_host=debug`) for in-process daemons.
pub fn preflight(what: &str, tools: &[(&str, &str)]) -> bool {
    if let Ok(filter) = std::env::var("VSNIC_FTP_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
    if !netns::is_root() {
        netns::cannot_run(
            what,
            "not root (network namespaces and TAP devices need CAP_NET_ADMIN)",
        );
        return false;
    }
    let base = [
        ("ip", "-V"),
        ("curl", "--version"),
        ("sha256sum", "--version"),
        ("timeout", "--version"),
    ];
    for (cmd, arg) in base.iter().chain(tools) {
        if !netns::have(cmd, arg) {
            netns::cannot_run(
                what,
                &format!("`{cmd}` is missing (apt-get install iproute2 curl lftp vsftpd)"),
            );
            return false;
        }
    }
    if vsftpd().is_none() {
        netns::cannot_run(what, "`vsftpd` is missing (apt-get install vsftpd)");
        return false;
    }
    if netns::output(&["id", "-u", "ftp"]).is_err() {
        netns::cannot_run(what, "there is no `ftp` user (apt-get install vsftpd)");
        return false;
    }
    if !Path::new("/dev/net/tun").exists() {
        netns::cannot_run(what, "/dev/net/tun is missing");
        return false;
    }
    true
}
