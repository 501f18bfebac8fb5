//! vsnic firmware flow. Today: emit the core's Verilog. (Board tops, synthesis, place and route
//! and flashing arrive with the firmware issue.)
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "vsnic-firmware",
    about = "Build flow from the vsnic hw core to an image"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Write the core's Verilog (top module `top`).
    EmitVerilog {
        /// Data-path width in bits: 64 or 512.
        #[arg(long, default_value_t = 64)]
        width: usize,
        /// log2 of the number of connection-table buckets: 8, 12 or 16.
        #[arg(long, default_value_t = 12)]
        table_bits: usize,
        /// Output file.
        #[arg(short, long)]
        out: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::EmitVerilog {
            width,
            table_bits,
            out,
        } => {
            let v = match vsnic_firmware::verilog(width, table_bits) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("vsnic-firmware: {e}");
                    std::process::exit(2);
                }
            };
            if let Err(e) = std::fs::write(&out, v) {
                eprintln!("vsnic-firmware: cannot write {}: {e}", out.display());
                std::process::exit(1);
            }
            println!(
                "wrote {} (width {width}, {} buckets)",
                out.display(),
                1u64 << table_bits
            );
        }
    }
}
