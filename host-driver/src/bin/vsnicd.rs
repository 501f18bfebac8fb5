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
use vsnic_host::simcfg::{self, SimArgs, SimSection, VcdSection};
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
    /// Simulator: data-path width in bits (64 or 512) [default: 64, or the config's [sim]].
    #[arg(long)]
    width: Option<usize>,
    /// Simulator: log2 of the number of table buckets (8, 12 or 16) [default: 12].
    #[arg(long)]
    table_bits: Option<usize>,
    /// Simulator: core clock in MHz [default: 156.25].
    #[arg(long)]
    clock_mhz: Option<f64>,
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
    /// Simulator: attach something to NIC port PORT (repeatable): `0=tap:NAME` (a TAP device),
    /// `1=pcap:IN.pcap,OUT.pcap` (replay IN, capture what the NIC sends to OUT; either may be
    /// empty), `1=server:ADDR/PREFIX,gw=GW,port=P,bytes=N` (an in-process TCP server).
    /// Replaces the config's `[sim] attach` for that port.
    #[arg(long = "port", value_name = "PORT=SPEC")]
    ports: Vec<vsnic_sim::attach::PortAttachment>,
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
    /// Simulator: print live counters (cycles/s, frames, exceptions, drops) to stderr every this
    /// many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    stats_every: u64,
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
    let cli_sim = SimArgs {
        width: args.width,
        table_bits: args.table_bits,
        clock_mhz: args.clock_mhz,
        ports: args.ports.clone(),
        vcd: args.vcd.as_ref().map(|path| VcdSection {
            path: path.clone(),
            start: args.vcd_start,
            cycles: args.vcd_cycles,
        }),
    };
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
    let sim = Arc::new(Simulator::start(&sim_cfg)?);
    attach_ports(&sim, &ports)?;
    if args.stats_every > 0 {
        spawn_stats(sim.clone(), Duration::from_secs(args.stats_every));
    }
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
    // SIGTERM/SIGINT: graceful stop (the NIC keeps forwarding); SIGHUP: reload --config.
    let reloads = vsnic_host::signals::reload_on_sighup(args.config.clone());
    daemon
        .run_with(vsnic_host::signals::shutdown(), reloads)
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(ExitCode::SUCCESS)
}

/// Open and attach the `--port` attachments.
fn attach_ports(
    sim: &Simulator,
    ports: &[vsnic_sim::attach::PortAttachment],
) -> Result<(), String> {
    for a in ports {
        let opened = a
            .spec
            .open(sim.waker())
            .map_err(|e| format!("port {}: {e}", a.port))?;
        sim.attach(a.port, opened.into_attachment())?;
        eprintln!("vsnicd: port {}: {}", a.port, a.spec);
    }
    Ok(())
}

/// Print the simulator's live counters periodically.
fn spawn_stats(sim: Arc<Simulator>, every: Duration) {
    tokio::spawn(async move {
        let mut meter = vsnic_sim::meter::RateMeter::new();
        meter.sample(sim.stats());
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Some(r) = meter.sample(sim.stats()) {
                eprintln!("vsnicd: sim: {r}");
            }
        }
    });
}
