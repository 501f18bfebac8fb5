//! Helpers for the end-to-end tests that run real kernel network stacks: network namespaces,
//! TAP devices moved into them, child processes, and a guard that removes all of it whatever
//! happens. These tests need root; without it (or without a tool) they are skipped with a
//! message, except under CI (`CI` set), where they must run and fail instead.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Skip the test `what` (with a message), or fail under CI.
pub fn cannot_run(what: &str, why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI must run the {what} test, but: {why}");
    }
    eprintln!("SKIPPED: {what} test: {why}");
}

/// Whether we run as root (network namespaces and TAP devices need CAP_NET_ADMIN).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Whether `cmd arg` runs and succeeds (e.g. `have("curl", "--version")`).
pub fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Run a command; `Err` with its stderr if it fails.
pub fn run(args: &[&str]) -> Result<(), String> {
    output(args).map(drop)
}

/// Run a command; its stdout, or `Err` with its stderr if it fails.
pub fn output(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Everything a test created outside itself; removed on drop: child processes are killed (the
/// whole process group for those pushed to `groups`), then the namespaces and directories
/// deleted.
#[derive(Default)]
pub struct Cleanup {
    pub netns: Vec<String>,
    /// Killed alone.
    pub children: Vec<Child>,
    /// Started as leaders of their own process group (`CommandExt::process_group(0)`): the
    /// whole group is killed (servers that fork a process per session).
    pub groups: Vec<Child>,
    pub dirs: Vec<PathBuf>,
}

impl Cleanup {
    /// Create network namespace `name`, deleted on drop.
    pub fn add_netns(&mut self, name: &str) -> Result<(), String> {
        run(&["ip", "netns", "add", name])?;
        self.netns.push(name.to_string());
        Ok(())
    }

    /// Create directory `dir` (and its parents), removed with its contents on drop.
    pub fn add_dir(&mut self, dir: PathBuf) -> Result<(), String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        self.dirs.push(dir);
        Ok(())
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.groups {
            // Only the group this test started, by its id.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", c.id())])
                .stderr(Stdio::null())
                .status();
            let _ = c.kill();
            let _ = c.wait();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        for d in &self.dirs {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Set up namespace `ns` with the (already opened) TAP `dev` moved into it: IPv6 off, `lo` up,
/// `cidr` on `dev`, and a default route via `gw` if given.
pub fn setup_ns(ns: &str, dev: &str, cidr: &str, gw: Option<&str>) -> Result<(), String> {
    run(&["ip", "link", "set", dev, "netns", ns])?;
    for sysctl in [
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    ] {
        let _ = run(&["ip", "netns", "exec", ns, "sysctl", "-qw", sysctl]);
    }
    run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
    run(&["ip", "-n", ns, "addr", "add", cidr, "dev", dev])?;
    run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
    if let Some(gw) = gw {
        run(&["ip", "-n", ns, "route", "add", "default", "via", gw])?;
    }
    Ok(())
}
