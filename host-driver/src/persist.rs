//! What the daemon keeps on disk so that a restarted daemon — after a crash or SIGKILL as much as
//! after a clean stop — rebuilds the connections the NIC went on forwarding meanwhile.
//!
//! The NIC's table is the truth about *which* connections exist and how they are forwarded
//! (addresses, ports, next hops, the newest sequence delta of each direction): the driver reads
//! it back at open ([`crate::driver::Driver::load_table`]). What the table cannot tell is kept
//! here: each connection's TCP state, expiry, scheduling template, isn, its FTP control
//! connection, the helper's full sequence-delta history, persistence templates and expected
//! data connections. [`crate::daemon::Daemon`] writes a [`Snapshot`] every `state_interval_ms`
//! while something changed and at a clean stop, always whole and atomically (a temporary file
//! renamed over the old one), so a crash leaves the previous or the new snapshot, never a mix.
//!
//! Times are stored as milliseconds left at `written_unix_ms` and aged by the wall-clock time
//! that passed until the load.

use std::io::Write;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use vsnic_contract::hash::HashKey;

use crate::app::seq::{SeqAdj, SeqLevel};
use crate::appnat::ExpectKind;
use crate::conn::{ConnKey, TemplateKey};
use crate::service::ForwardMethod;
use crate::state::TcpState;

/// The format's version; a snapshot of another version is ignored (with a warning).
pub const FORMAT: u32 = 1;

/// The daemon's state that the NIC table does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: u32,
    /// Wall-clock time of writing, in ms since the Unix epoch.
    pub written_unix_ms: u64,
    /// The NIC's flow hash key when written (a NIC with another key was reset meanwhile).
    pub hash_key: HashKey,
    pub connections: Vec<ConnRecord>,
    pub templates: Vec<TemplateRecord>,
    pub expectations: Vec<ExpectRecord>,
}

/// One connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnRecord {
    pub id: ConnKey,
    pub real: SocketAddrV4,
    pub method: ForwardMethod,
    pub state: TcpState,
    pub expires_in_ms: u64,
    pub template: Option<TemplateKey>,
    pub controller: Option<ConnKey>,
    pub isn: Option<u32>,
    /// The helper's sequence-delta history (oldest level first) when bound to one.
    pub app: Option<AppRecord>,
}

/// A bound connection's helper state that matters after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    /// Client → server data (rewritten commands).
    pub in_seq: Vec<LevelRecord>,
    /// Server → client data (rewritten replies).
    pub out_seq: Vec<LevelRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelRecord {
    pub position: u32,
    pub offset_before: i32,
    pub offset_after: i32,
}

impl AppRecord {
    pub fn from_adj(in_seq: &SeqAdj, out_seq: &SeqAdj) -> AppRecord {
        let levels = |a: &SeqAdj| {
            a.levels()
                .iter()
                .map(|l| LevelRecord {
                    position: l.position,
                    offset_before: l.offset_before,
                    offset_after: l.offset_after,
                })
                .collect()
        };
        AppRecord {
            in_seq: levels(in_seq),
            out_seq: levels(out_seq),
        }
    }

    /// Both directions' histories, or `None` if a list is not a valid history.
    pub fn to_adj(&self) -> Option<(SeqAdj, SeqAdj)> {
        let adj = |v: &[LevelRecord]| {
            let levels: Vec<SeqLevel> = v
                .iter()
                .map(|l| SeqLevel {
                    position: l.position,
                    offset_before: l.offset_before,
                    offset_after: l.offset_after,
                })
                .collect();
            SeqAdj::from_levels(&levels)
        };
        Some((adj(&self.in_seq)?, adj(&self.out_seq)?))
    }
}

/// A persistence template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub key: TemplateKey,
    pub real: SocketAddrV4,
    pub expires_in_ms: u64,
}

/// An expected FTP data connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectRecord {
    pub kind: ExpectKind,
    pub controller: ConnKey,
    pub expires_in_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a state snapshot: {source}")]
    Format {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: snapshot format {found}, this daemon reads {FORMAT}")]
    Version { path: PathBuf, found: u32 },
}

/// Now, in ms since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Snapshot {
    /// How long ago it was written (zero if the clock went back).
    pub fn age(&self) -> Duration {
        Duration::from_millis(unix_ms().saturating_sub(self.written_unix_ms))
    }

    /// Write to `path` atomically: a temporary file beside it, synced, renamed over it.
    pub fn save(&self, path: &Path) -> Result<(), PersistError> {
        let io = |source| PersistError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let text = serde_json::to_vec(self).map_err(|e| io(std::io::Error::other(e)))?;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&text).map_err(io)?;
        f.sync_all().map_err(io)?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Read `path`; `Ok(None)` if there is no file.
    pub fn load(path: &Path) -> Result<Option<Snapshot>, PersistError> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PersistError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        // the version first, so another format says so instead of failing on a field
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        let head: Head = serde_json::from_slice(&text).map_err(|source| PersistError::Format {
            path: path.to_path_buf(),
            source,
        })?;
        if head.format != FORMAT {
            return Err(PersistError::Version {
                path: path.to_path_buf(),
                found: head.format,
            });
        }
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|source| PersistError::Format {
                path: path.to_path_buf(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Protocol;

    fn sample() -> Snapshot {
        let id = ConnKey {
            proto: Protocol::Tcp,
            client: "10.0.0.2:40000".parse().unwrap(),
            vip: "10.0.0.100:21".parse().unwrap(),
        };
        let mut in_seq = SeqAdj::new();
        in_seq.record(1000, 3);
        in_seq.record(2000, -1);
        Snapshot {
            format: FORMAT,
            written_unix_ms: unix_ms(),
            hash_key: [1, 2, 3, 4],
            connections: vec![ConnRecord {
                id,
                real: "10.1.0.2:21".parse().unwrap(),
                method: ForwardMethod::Masq,
                state: TcpState::Established,
                expires_in_ms: 900_000,
                template: None,
                controller: None,
                isn: Some(77),
                app: Some(AppRecord::from_adj(&in_seq, &SeqAdj::new())),
            }],
            templates: vec![],
            expectations: vec![ExpectRecord {
                kind: ExpectKind::Passive {
                    client: "10.0.0.2".parse().unwrap(),
                    vip: "10.0.0.100:30000".parse().unwrap(),
                    real: "10.1.0.2:30000".parse().unwrap(),
                },
                controller: id,
                expires_in_ms: 5000,
            }],
        }
    }

    #[test]
    fn round_trips_through_a_file_atomically() {
        let dir = std::env::temp_dir().join(format!("vsnic-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        assert!(Snapshot::load(&path).unwrap().is_none(), "no file: none");
        let s = sample();
        s.save(&path).unwrap();
        assert_eq!(Snapshot::load(&path).unwrap(), Some(s.clone()));
        assert!(!dir.join("state.json.tmp").exists(), "renamed into place");
        let (i, o) = s.connections[0].app.as_ref().unwrap().to_adj().unwrap();
        assert_eq!(i.levels().len(), 2);
        assert!(o.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("vsnic-persist-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        std::fs::write(&path, b"{\"format\": 99}").unwrap();
        assert!(matches!(
            Snapshot::load(&path),
            Err(PersistError::Version { found: 99, .. })
        ));
        std::fs::write(&path, b"\0garbage").unwrap();
        let e = Snapshot::load(&path).unwrap_err();
        assert!(matches!(e, PersistError::Format { .. }), "{e}");
        // a history that is not one (positions out of order) is refused, not trusted
        let mut rec = sample().connections[0].app.clone().unwrap();
        rec.in_seq.swap(0, 1);
        assert!(rec.to_adj().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
