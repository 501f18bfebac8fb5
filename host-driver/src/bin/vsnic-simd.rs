//! vsnic-simd — the bundled simulator as a device of its own: it runs the simulated NIC (the hw
//! core clocked, its MAC ports with their attachments) and serves it on a Unix socket to one
//! daemon at a time (`vsnicd --backend simd`). The NIC outlives the daemon: stop or kill the
//! daemon and the NIC goes on forwarding the connections in its table; a new daemon attaches
//! and rebuilds them.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use vsnic_host::simcfg::{self, SimFlags, SimSection};

#[derive(Debug, Parser)]
#[command(
    name = "vsnic-simd",
    about = "vsnic's bundled cycle simulator, served as a device to vsnicd --backend simd"
)]
struct Args {
    /// The socket to serve the device on (root-only permissions).
    #[arg(long, default_value = "/run/vsnic-sim/simd.sock")]
    socket: PathBuf,
    /// A config file whose `[sim]` section sets the simulator (width, table_bits, clock_mhz,
    /// attach, vcd); the rest of the file is the daemon's and ignored here.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    sim: SimFlags,
}

fn main() -> ExitCode {
    let args = Args::parse();
    vsnic_host::process::main("vsnic-simd", 1, run(args))
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let file = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
            SimSection::from_toml(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => SimSection::default(),
    };
    let cli = args.sim.args(None);
    let (cfg, ports) = simcfg::merge(&file, &cli)?;
    // The device first (its ports' TAPs, pcap files...), the socket last: the socket's
    // existence is what tells a daemon, a unit or a test that the device is ready. A second
    // vsnic-simd on a served socket is refused before it touches any port.
    if std::os::unix::net::UnixStream::connect(&args.socket).is_ok() {
        return Err(format!(
            "socket {}: another vsnic-simd is serving this socket",
            args.socket.display()
        ));
    }
    let sim = simcfg::start_simulator("vsnic-simd", &cfg, &ports, args.sim.stats_every)?;
    let listener = vsnic_host::control::bind(&args.socket)
        .and_then(|l| l.into_std())
        .map_err(|e| format!("socket {}: {e}", args.socket.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (sim, stop) = (sim.clone(), stop.clone());
        std::thread::Builder::new()
            .name("vsnic-simd".into())
            .spawn(move || vsnic_sim::remote::serve(sim, listener, stop))
            .map_err(|e| format!("cannot start the server thread: {e}"))?
    };
    eprintln!(
        "vsnic-simd: serving a {}-bit NIC with 2^{} table buckets on {}",
        cfg.width,
        cfg.table_bits,
        args.socket.display()
    );
    vsnic_host::signals::shutdown().await;
    stop.store(true, Ordering::SeqCst);
    let served = server.join();
    let _ = std::fs::remove_file(&args.socket);
    match served {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(e)) => Err(format!("serving: {e}")),
        Err(_) => Err("the server thread panicked".into()),
    }
}
