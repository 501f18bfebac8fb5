//! vsnicd — the vsnic daemon: the control plane of the vsnic load balancer.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use vsnic_host::backend::sim::SimBackend;
use vsnic_host::backend::simd::SimdBackend;
use vsnic_host::backend::NicBackend;
use vsnic_host::daemon::{Daemon, DaemonConfig};
use vsnic_host::demo::{self, DemoConfig};
use vsnic_host::driver::{Driver, DriverConfig};
use vsnic_host::simcfg::{self, SimFlags, SimSection, VcdSection};
use vsnic_sim::SimConfig;

#[derive(Debug, Parser)]
#[command(
    name = "vsnicd",
    about = "vsnic daemon: the control plane of the vsnic load balancer"
)]
struct Args {
    /// Device backend: `sim` (the bundled cycle simulator, in this process) or `simd` (the
    /// simulator served by `vsnic-simd` on --sim-socket: the NIC outlives the daemon, so a
    /// restarted daemon picks up the connections it kept forwarding).
    #[arg(long, default_value = "sim")]
    backend: String,
    /// With --backend simd: the simulator's socket.
    #[arg(long, default_value = "/run/vsnic-sim/simd.sock")]
    sim_socket: PathBuf,
    /// Start from an empty NIC table under a fresh random flow hash key, dropping whatever
    /// the NIC forwards. Default: keep the NIC's table and rebuild the connections in it.
    #[arg(long)]
    fresh_table: bool,
    /// Control socket path.
    #[arg(long, default_value = vsnic_host::control::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Daemon configuration (TOML: ports, services).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    sim: SimFlags,
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
    /// Simulator: write the core's signals over a window of cycles to this VCD file (GTKWave
    /// opens it). Off by default.
    #[arg(long, value_name = "FILE")]
    vcd: Option<PathBuf>,
    /// Simulator: first core cycle of the VCD window.
    #[arg(long, default_value_t = 0, requires = "vcd")]
    vcd_start: u64,
    /// Simulator: length of the VCD window in cycles (at least 1).
    #[arg(long, default_value_t = 10_000, requires = "vcd", value_parser = clap::value_parser!(u64).range(1..))]
    vcd_cycles: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    vsnic_host::process::main("vsnicd", 2, run(args))
}

async fn run(args: Args) -> Result<ExitCode, String> {
    if args.backend != "sim" && args.backend != "simd" {
        return Err(format!(
            "unknown backend `{}` (this build drives the bundled simulator: --backend sim, or --backend simd for the one `vsnic-simd` serves)",
            args.backend
        ));
    }
    // The config file: the daemon's part and the simulator's `[sim]` section.
    let (file_cfg, file_sim) = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
            let daemon: DaemonConfig =
                toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            let sim = SimSection::from_toml(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            (Some(daemon), sim)
        }
        None => (None, SimSection::default()),
    };
    let cli_sim = args.sim.args(args.vcd.as_ref().map(|path| VcdSection {
        path: path.clone(),
        start: args.vcd_start,
        cycles: args.vcd_cycles,
    }));
    let (sim_cfg, ports) = simcfg::merge(&file_sim, &cli_sim)?;
    if args.demo {
        if !ports.is_empty() {
            return Err(
                "--port and [sim] attach attach to the daemon's simulator; --demo brings its own hosts".into(),
            );
        }
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
        // Then FTP through the helper: passive and active mode.
        // (a --vcd trace covers the TCP scenario only)
        let ftp = vsnic_host::ftpdemo::run(vsnic_host::ftpdemo::FtpDemoConfig {
            sim: SimConfig {
                vcd: None,
                ..cfg.sim.clone()
            },
            ..Default::default()
        })
        .await?;
        println!();
        vsnic_host::ftpdemo::print(&ftp);
        return Ok(if report.all_ok() && ftp.all_ok() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let Some(mut cfg) = file_cfg else {
        return Err("--config FILE is required (or --demo); see README".into());
    };
    cfg.control_socket = Some(args.socket.clone());
    let driver_cfg = DriverConfig {
        clear_table: args.fresh_table,
        ..Default::default()
    };
    if args.backend == "simd" {
        if !ports.is_empty() || args.vcd.is_some() {
            return Err(
                "--port, [sim] attach and --vcd belong to `vsnic-simd` with --backend simd".into(),
            );
        }
        let backend = Arc::new(
            SimdBackend::connect(&args.sim_socket)
                .map_err(|e| format!("attaching to vsnic-simd: {e}"))?,
        );
        let driver = Driver::open_with(backend, driver_cfg)
            .map_err(|e| format!("opening the simulated NIC: {e}"))?;
        return serve(args, driver, cfg, "the simulator of vsnic-simd").await;
    }
    let sim = simcfg::start_simulator("vsnicd", &sim_cfg, &ports, args.sim.stats_every)?;
    let backend = Arc::new(SimBackend::new(sim));
    let driver = Driver::open_with(backend, driver_cfg)
        .map_err(|e| format!("opening the simulated NIC: {e}"))?;
    serve(args, driver, cfg, "the simulator").await
}

/// Run the daemon until SIGTERM/SIGINT (a graceful stop: the NIC keeps forwarding); SIGHUP
/// reloads --config.
async fn serve<B: NicBackend>(
    args: Args,
    driver: Driver<B>,
    cfg: DaemonConfig,
    what: &str,
) -> Result<ExitCode, String> {
    let daemon = Daemon::new(driver, cfg).map_err(|e| e.to_string())?;
    let r = daemon.restored();
    if r.connections > 0 || r.orphans_cleared > 0 {
        eprintln!(
            "vsnicd: restored {} connections from the NIC's table ({} with saved state, {} helper bindings); {} unpaired entries cleared",
            r.connections, r.from_snapshot, r.bindings, r.orphans_cleared
        );
    }
    eprintln!(
        "vsnicd: running on {what}; control socket {}",
        args.socket.display()
    );
    let reloads = vsnic_host::signals::reload_on_sighup(args.config.clone());
    daemon
        .run_with(vsnic_host::signals::shutdown(), reloads)
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(ExitCode::SUCCESS)
}
