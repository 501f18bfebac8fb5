//! Process signals for `vsnicd`: SIGTERM / SIGINT stop the daemon gracefully (the NIC keeps its
//! entries and goes on forwarding established connections), SIGHUP reloads the configuration
//! file.

use std::path::PathBuf;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::daemon::DaemonConfig;

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown() {
    let term = signal(SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => info!("SIGTERM: shutting down"),
                _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
            }
        }
        Err(e) => {
            warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the daemon");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Read and parse a configuration file.
pub fn load_config(path: &std::path::Path) -> Result<DaemonConfig, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// On every SIGHUP, re-read `path` and send the configuration to the daemon (a file that does
/// not parse is logged and the running configuration kept). `None` without a file.
pub fn reload_on_sighup(path: Option<PathBuf>) -> Option<mpsc::Receiver<DaemonConfig>> {
    let path = path?;
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(h) => h,
        Err(e) => {
            warn!(error = %e, "cannot watch SIGHUP; no config reload");
            return None;
        }
    };
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match load_config(&path) {
                Ok(cfg) => {
                    info!(path = %path.display(), "SIGHUP: reloading the configuration");
                    if tx.send(cfg).await.is_err() {
                        return;
                    }
                }
                Err(e) => warn!(error = %e, "SIGHUP: configuration not reloaded"),
            }
        }
    });
    Some(rx)
}
