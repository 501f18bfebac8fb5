//! The control socket: a Unix-domain stream socket speaking JSON lines — one [`Request`] object
//! per line in, one [`Response`] object per line out. The socket file is created with mode 0600
//! (root-only when the daemon runs as root).
//!
//! The server side ([`serve`]) only moves requests to the daemon's event loop ([`ControlMsg`]) and
//! responses back; the daemon answers them between exceptions, so there is no shared state.

use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddrV4;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use crate::backend::DeviceFigure;
use crate::conn::ConnInfo;
use crate::daemon::DaemonStats;
use crate::driver::NicCounters;
use crate::service::{RealSpec, ServiceInfo, ServiceKey, ServiceSpec};

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/vsnic/vsnicd.sock";

/// Longest request line accepted.
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// `-A`.
    AddService {
        spec: ServiceSpec,
    },
    /// `-E`.
    EditService {
        spec: ServiceSpec,
    },
    /// `-D`.
    DelService {
        service: ServiceKey,
    },
    /// `-a`.
    AddReal {
        service: ServiceKey,
        real: RealSpec,
    },
    /// `-e`.
    EditReal {
        service: ServiceKey,
        real: RealSpec,
    },
    /// `-d`.
    DelReal {
        service: ServiceKey,
        addr: SocketAddrV4,
    },
    /// `-C`: every service (connections stay until they expire).
    Clear,
    /// `-Z`: zero the statistics of one service or all.
    Zero {
        service: Option<ServiceKey>,
    },
    /// `--set tcp tcpfin udp` (seconds; 0 keeps the current value).
    SetTimeouts {
        tcp: u32,
        tcpfin: u32,
        udp: u32,
    },
    /// `-L --timeout`.
    Timeouts,
    /// `-R`: several requests, applied in order; the first failure stops (and is answered).
    Batch {
        requests: Vec<Request>,
    },
    List,
    Connections,
    Counters,
    /// The Prometheus text exposition.
    Metrics,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Services {
        table_size: u32,
        services: Vec<ServiceInfo>,
    },
    Connections {
        connections: Vec<ConnInfo>,
    },
    Counters {
        nic: Box<NicCounters>,
        daemon: Box<DaemonStats>,
        /// The device's own figures (the simulator's cycles, ports, ...).
        #[serde(default)]
        device: Vec<DeviceFigure>,
    },
    Timeouts {
        tcp: u32,
        tcpfin: u32,
        udp: u32,
    },
    Metrics {
        text: String,
    },
    Error {
        message: String,
    },
}

/// A request on its way to the daemon, with the channel for its answer.
#[derive(Debug)]
pub struct ControlMsg {
    pub request: Request,
    pub reply: oneshot::Sender<Response>,
}

/// Create the listening socket at `path` with mode 0600. The parent directory is created (mode
/// 0750) if missing. A stale socket file is replaced; a live one (a daemon answers) is an error.
/// The socket is bound under a temporary name, restricted, then renamed into place, so it is
/// never reachable under `path` with wider permissions.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)?;
        }
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    "another daemon is serving this socket",
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    let placed = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(listener)
}

/// Parse one request line as the socket reads it (surrounding whitespace and the newline are
/// ignored). `Err` is the message the client gets back.
pub fn parse_request_line(line: &str) -> Result<Request, String> {
    if line.len() > MAX_LINE {
        return Err(format!("request longer than {MAX_LINE} bytes"));
    }
    serde_json::from_str::<Request>(line.trim()).map_err(|e| format!("bad request: {e}"))
}

/// Accept clients forever, passing their requests to `daemon`. Ends when the daemon is gone.
pub async fn serve(listener: UnixListener, daemon: mpsc::Sender<ControlMsg>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(client(stream, daemon.clone()));
            }
            Err(e) => {
                debug!(error = %e, "control accept failed");
                if daemon.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn client(stream: UnixStream, daemon: mpsc::Sender<ControlMsg>) {
    let (rd, mut wr) = stream.into_split();
    let mut rd = tokio::io::BufReader::new(rd);
    let mut line = String::new();
    loop {
        line.clear();
        match (&mut rd).take(MAX_LINE as u64).read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let response = if !line.ends_with('\n') && line.len() >= MAX_LINE {
            Response::Error {
                message: format!("request longer than {MAX_LINE} bytes"),
            }
        } else {
            match parse_request_line(&line) {
                Err(message) => Response::Error { message },
                Ok(request) => {
                    let (reply, answer) = oneshot::channel();
                    if daemon.send(ControlMsg { request, reply }).await.is_err() {
                        return;
                    }
                    match answer.await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
            }
        };
        let mut out = match serde_json::to_vec(&response) {
            Ok(v) => v,
            Err(e) => format!("{{\"result\":\"error\",\"message\":\"{e}\"}}").into_bytes(),
        };
        out.push(b'\n');
        if wr.write_all(&out).await.is_err() {
            return;
        }
        if !line.ends_with('\n') {
            return; // an over-long line: we answered, now hang up
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot talk to the daemon at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the daemon at {path} did not answer within {} s", .after.as_secs_f64())]
    Timeout { path: PathBuf, after: Duration },
    #[error("bad response from the daemon: {0}")]
    Protocol(String),
}

/// How long [`call`] waits for the answer.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Send one request and wait for its response, at most [`CALL_TIMEOUT`] (blocking; what
/// `vsnicadm` uses).
pub fn call(path: &Path, request: &Request) -> Result<Response, ClientError> {
    call_within(path, request, CALL_TIMEOUT)
}

/// Send one request and wait at most `timeout` for its response (a daemon on the bundled
/// simulator runs thousands of times slower than on a NIC).
pub fn call_within(
    path: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ClientError> {
    let io_err = |source: io::Error| match source.kind() {
        // what a read past SO_RCVTIMEO returns (EAGAIN), said plainly
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ClientError::Timeout {
            path: path.to_owned(),
            after: timeout,
        },
        _ => ClientError::Io {
            path: path.to_owned(),
            source,
        },
    };
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(io_err)?;
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let mut line = serde_json::to_vec(request).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push(b'\n');
    stream.write_all(&line).map_err(io_err)?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(io_err)?;
    if answer.is_empty() {
        return Err(ClientError::Protocol(
            "connection closed without an answer".into(),
        ));
    }
    serde_json::from_str(answer.trim()).map_err(|e| ClientError::Protocol(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::FakeNic;
    use crate::daemon::{Daemon, DaemonConfig, PortConfig};
    use crate::driver::{Driver, DriverConfig};
    use crate::service::ForwardMethod;
    use std::net::Ipv4Addr;
    use std::os::unix::fs::MetadataExt;
    use std::sync::Arc;

    fn temp_socket(name: &str) -> PathBuf {
        std::env::temp_dir()
            .join(format!("vsnic-test-{}-{name}", std::process::id()))
            .join("ctl.sock")
    }

    #[test]
    fn requests_are_json_lines() {
        let r = Request::DelService {
            service: ServiceKey::tcp("10.0.0.100:80".parse().unwrap()),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"op":"del_service","service":{"proto":"tcp","vip":"10.0.0.100:80"}}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"list"}"#).unwrap(),
            Request::List
        );
        let e = serde_json::to_string(&Response::Error {
            message: "x".into(),
        })
        .unwrap();
        assert_eq!(e, r#"{"result":"error","message":"x"}"#);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn control_server_round_trip() {
        let path = temp_socket("rt");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
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
        cfg.control_socket = Some(path.clone());
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
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(daemon.run(async {
            let _ = stopped.await;
        }));
        for _ in 0..400 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);

        let p = path.clone();
        let answers = tokio::task::spawn_blocking(move || {
            let service = ServiceKey::tcp("10.0.0.100:80".parse().unwrap());
            let add_real = |method, port| Request::AddReal {
                service,
                real: RealSpec {
                    addr: SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 2), port),
                    weight: 1,
                    method,
                    u_threshold: 0,
                    l_threshold: 0,
                },
            };
            let add = Request::AddService {
                spec: ServiceSpec::new(service, crate::sched::Scheduler::Rr),
            };
            vec![
                call(&p, &add).unwrap(),
                call(&p, &add).unwrap(),
                call(&p, &add_real(ForwardMethod::Masq, 80)).unwrap(),
                call(&p, &add_real(ForwardMethod::Route, 81)).unwrap(),
                call(&p, &Request::List).unwrap(),
                call(&p, &Request::Counters).unwrap(),
                call(&p, &Request::Connections).unwrap(),
            ]
        })
        .await
        .unwrap();
        assert_eq!(answers[0], Response::Ok);
        assert!(
            matches!(&answers[1], Response::Error { message } if message.contains("already exists"))
        );
        assert_eq!(answers[2], Response::Ok);
        assert_eq!(
            answers[3],
            Response::Ok,
            "DR is stored (its connections are refused)"
        );
        let Response::Services {
            table_size,
            services,
        } = &answers[4]
        else {
            panic!("{:?}", answers[4])
        };
        assert_eq!(*table_size, 4096);
        assert_eq!(services.len(), 1);
        assert_eq!(services[0].vip.to_string(), "10.0.0.100:80");
        assert_eq!(services[0].reals.len(), 2);
        assert_eq!(services[0].reals[0].addr.to_string(), "10.1.0.2:80");
        assert_eq!(services[0].reals[1].method, ForwardMethod::Route);
        assert_eq!(services[0].reals[0].method, ForwardMethod::Masq);
        assert!(matches!(answers[5], Response::Counters { .. }));
        assert_eq!(
            answers[6],
            Response::Connections {
                connections: vec![]
            }
        );

        // garbage gets an error line, not a hang-up
        let p = path.clone();
        let raw = tokio::task::spawn_blocking(move || {
            let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
            s.write_all(b"{\"op\":\"nope\"}\n").unwrap();
            let mut line = String::new();
            BufReader::new(s).read_line(&mut line).unwrap();
            line
        })
        .await
        .unwrap();
        assert!(
            raw.starts_with(r#"{"result":"error","message":"bad request"#),
            "{raw}"
        );

        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
        assert!(!path.exists(), "socket removed on shutdown");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[tokio::test]
    async fn bind_refuses_non_sockets() {
        let path = temp_socket("file");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        assert_eq!(
            bind(&path).err().unwrap().kind(),
            io::ErrorKind::AlreadyExists
        );
        std::fs::remove_file(&path).unwrap();
        let l = bind(&path).unwrap();
        drop(l);
        // a stale socket (nobody listening) is replaced
        bind(&path).unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    /// A daemon that takes the request and never answers: the caller is told so plainly once
    /// the timeout has passed (not "Resource temporarily unavailable").
    #[test]
    fn a_silent_daemon_is_a_timeout() {
        let path = temp_socket("silent");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let held = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
        let t0 = std::time::Instant::now();
        let e = call_within(&path, &Request::List, Duration::from_millis(200)).unwrap_err();
        assert!(t0.elapsed() >= Duration::from_millis(200));
        assert!(matches!(e, ClientError::Timeout { .. }), "{e:?}");
        assert!(e.to_string().contains("did not answer within 0.2 s"), "{e}");
        drop(held.join().unwrap());
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
