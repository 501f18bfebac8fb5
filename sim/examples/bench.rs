//! Simulation speed of the core on a fixed vector set, and the same vectors for Verilator
//! ([`vsnic_sim::bench`]).
//!
//! ```sh
//! cargo run --release -p vsnic-sim --example bench -- [--width 64|512] [--frames N] [--vectors FILE]
//! ```
//!
//! Prints one line: cycles, wall time, cycles/s and the digest of every output frame
//! (`sim/bench/verilator.sh` reads it). With `--vectors FILE` the per-cycle inputs are written
//! there for `sim/bench/tb.cpp`.

use std::path::PathBuf;

fn main() {
    let mut width = 64;
    let mut frames = 2000;
    let mut vectors: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    let usage = || -> ! {
        eprintln!("usage: bench [--width 64|512] [--frames N] [--vectors FILE]");
        std::process::exit(2);
    };
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--width" => width = val().parse().unwrap_or_else(|_| usage()),
            "--frames" => frames = val().parse().unwrap_or_else(|_| usage()),
            "--vectors" => vectors = Some(PathBuf::from(val())),
            _ => usage(),
        }
    }
    match vsnic_sim::bench::run(width, frames, vectors.as_deref()) {
        Ok(run) => {
            println!("{run}");
            if let Some(p) = vectors {
                eprintln!("wrote {} cycles of vectors to {}", run.cycles, p.display());
            }
        }
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1);
        }
    }
}
