//! vsnicd — the vsnic daemon: the control plane of the vsnic load balancer.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use vsnic_host::backend::sim::SimBackend;
use vsnic_host::daemon::{Daemon, DaemonConfig};
use vsnic_host::demo::{self, DemoConfig};
use vsnic_host::driver::{Driver, DriverConfig};
use vsnic_sim::{SimConfig, Simulator};

#[derive(Debug, Parser)]
#[command(
    name = "vsnicd",
    about = "vsnic daemon: the control plane of the vsnic load balancer"
)]
struct Args {
    /// Device backend: `sim` (the bundled cycle simulator).
    #[arg(long, default_value = "sim")]
    backend: String,
    /// Control socket path.
    #[arg(long, default_value = vsnic_host::control::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Daemon configuration (TOML: ports, services).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Simulator: data-path width in bits (64 or 512).
    #[arg(long, default_value_t = 64)]
    width: usize,
    /// Simulator: log2 of the number of table buckets (8, 12 or 16).
    #[arg(long, default_value_t = 12)]
    table_bits: usize,
    /// Simulator: core clock in MHz.
    #[arg(long, default_value_t = 156.25)]
    clock_mhz: f64,
    /// Run the built-in scenario (in-process clients and servers on the simulated NIC), print
    /// what happened and exit.
    #[arg(long)]
    demo: bool,
    /// Demo: concurrent client connections.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Demo: real servers.
    #[arg(long, default_value_t = 2)]
    servers: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vsnicd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vsnicd: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, String> {
    if args.backend != "sim" {
        return Err(format!(
            "unknown backend `{}` (this build drives the bundled simulator: --backend sim)",
            args.backend
        ));
    }
    let sim_cfg = SimConfig {
        width: args.width,
        table_bits: args.table_bits,
        clock_hz: args.clock_mhz * 1e6,
    };
    if args.demo {
        if args.clients == 0 || args.clients > 64 || args.servers == 0 || args.servers > 32 {
            return Err("--clients must be 1..=64 and --servers 1..=32".into());
        }
        let cfg = DemoConfig {
            sim: sim_cfg,
            clients: args.clients,
            servers: args.servers,
            ..Default::default()
        };
        let report = demo::run(cfg.clone()).await?;
        demo::print(&report, &cfg);
        return Ok(if report.all_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let mut cfg: DaemonConfig = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => return Err("--config FILE is required (or --demo); see README".into()),
    };
    cfg.control_socket = Some(args.socket.clone());
    let sim = Arc::new(Simulator::start(&sim_cfg)?);
    let backend = Arc::new(SimBackend::new(sim));
    let driver = Driver::open_with(
        backend,
        DriverConfig {
            clear_table: false,
            ..Default::default()
        },
    )
    .map_err(|e| format!("opening the simulated NIC: {e}"))?;
    let daemon = Daemon::new(driver, cfg).map_err(|e| e.to_string())?;
    eprintln!(
        "vsnicd: running on the simulator; control socket {}",
        args.socket.display()
    );
    daemon
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(ExitCode::SUCCESS)
}
