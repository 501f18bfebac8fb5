//! `vsnicadm` (the binary) against a daemon on the in-memory NIC, over the control socket.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use vsnic_host::backend::fake::FakeNic;
use vsnic_host::{Daemon, DaemonConfig, Driver, PortConfig};

fn vsnicadm(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vsnicadm"))
        .args(args)
        .arg("--socket")
        .arg(socket)
        .output()
        .expect("run vsnicadm")
}

#[test]
fn ipvsadm_session() {
    let dir = std::env::temp_dir().join(format!("vsnicadm-it-{}", std::process::id()));
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
            mac: [2, 0, 0, 0, 0, 1],
            addr: Ipv4Addr::new(10, 0, 0, 1),
            prefix: 24,
        },
        PortConfig {
            mac: [2, 0, 0, 0, 1, 1],
            addr: Ipv4Addr::new(10, 1, 0, 1),
            prefix: 24,
        },
    ]);
    cfg.control_socket = Some(socket.clone());
    let daemon = Daemon::new(Driver::open(nic).unwrap(), cfg).unwrap();
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

    let out = vsnicadm(&socket, &["-A", "-t", "10.0.0.100:80", "-s", "rr"]);
    assert!(out.status.success(), "{out:?}");
    let out = vsnicadm(
        &socket,
        &["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.2:80", "-m"],
    );
    assert!(out.status.success(), "{out:?}");
    // ipvsadm's default method (-g) is refused by the daemon: exit 1 with its message
    let out = vsnicadm(&socket, &["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.3:80"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("direct routing (-g) is not supported yet"),
        "{err}"
    );
    // bad arguments: exit 2
    let out = vsnicadm(
        &socket,
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
    assert!(String::from_utf8_lossy(&out.stderr).contains("illegal weight"));

    let out = vsnicadm(&socket, &["-L", "-n"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n\
         \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  10.0.0.100:80 rr\n\
         \x20 -> 10.1.0.2:80                  Masq    1      0          0\n"
    );
    let out = vsnicadm(&socket, &["-L", "-n", "-c"]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("IPVS connection entries\n"));

    stop.send(()).unwrap();
    rt.block_on(task).unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
