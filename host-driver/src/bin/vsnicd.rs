//! vsnicd — the vsnic daemon. Backends are not wired into the binary yet.
#![deny(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "vsnicd",
    about = "vsnic daemon: the control plane of the vsnic load balancer"
)]
struct Args {
    /// Device backend: `sim` or `vfio:<PCI address>`.
    #[arg(long, default_value = "sim")]
    backend: String,
    /// Control socket path.
    #[arg(long, default_value = vsnic_host::control::DEFAULT_SOCKET)]
    socket: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    eprintln!(
        "vsnicd: backend `{}` is not wired yet (socket would be {}); nothing to do",
        args.backend,
        args.socket.display()
    );
    ExitCode::FAILURE
}
