//! vsnic firmware flow: emit the core's Verilog, build a board's image, flash it, list boards.
#![forbid(unsafe_code)]
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::{exit, Command};
use vsnic_firmware::boards::{self, Target};
use vsnic_firmware::flow::{self, Options};
use vsnic_firmware::tools::{self, Kind};

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
    /// List the boards.
    Boards,
    /// Build a board's image (ECP5: bitstream; Alveo: OpenNIC plugin + Vivado scripts).
    Build {
        #[arg(long)]
        board: String,
        /// log2 table buckets (default: the board's).
        #[arg(long)]
        table_bits: Option<usize>,
        /// Output folder (default: out/<board>-t<table bits>).
        #[arg(short, long)]
        out: Option<PathBuf>,
        /// ECP5: clock constraint for place and route in MHz (default: the board clock).
        #[arg(long)]
        target_mhz: Option<f64>,
        /// ECP5: device override in the same package (e.g. um5g-85k).
        #[arg(long)]
        device: Option<String>,
        /// ECP5: keep the image and exit 0 when timing is not met (benchmarks).
        #[arg(long)]
        allow_timing_failure: bool,
        /// ECP5: placer seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Load a built image onto a board.
    Flash {
        #[arg(long)]
        board: String,
        /// Build folder (default: out/<board>-t<board default table bits>).
        #[arg(short, long)]
        dir: Option<PathBuf>,
        /// ECP5: write the SPI flash (persistent) instead of SRAM.
        #[arg(long)]
        persist: bool,
        /// Alveo: bitstream from the Vivado build.
        #[arg(long)]
        bitstream: Option<PathBuf>,
    },
}

fn die(msg: impl std::fmt::Display, code: i32) -> ! {
    eprintln!("vsnic-firmware: {msg}");
    exit(code)
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::EmitVerilog {
            width,
            table_bits,
            out,
        } => {
            let v = vsnic_firmware::verilog(width, table_bits).unwrap_or_else(|e| die(e, 2));
            if let Err(e) = std::fs::write(&out, v) {
                die(format!("cannot write {}: {e}", out.display()), 1);
            }
            println!(
                "wrote {} (width {width}, {} buckets)",
                out.display(),
                1u64 << table_bits
            );
        }
        Cmd::Boards => {
            for b in boards::BOARDS {
                let flow = match b.target {
                    Target::Ecp5 { .. } => "open flow (yosys, nextpnr-ecp5, ecppack)",
                    Target::OpenNic { .. } => "OpenNIC plugin + Vivado scripts",
                };
                println!(
                    "{:<8} {}-bit, table 2^{} (allowed {:?}); {flow}\n         {}",
                    b.name, b.width, b.table_bits, b.table_bits_allowed, b.description
                );
            }
        }
        Cmd::Build {
            board,
            table_bits,
            out,
            target_mhz,
            device,
            allow_timing_failure,
            seed,
        } => {
            let board = boards::find(&board).unwrap_or_else(|e| die(e, 2));
            let table_bits = table_bits.unwrap_or(board.table_bits);
            let out_dir =
                out.unwrap_or_else(|| PathBuf::from(format!("out/{}-t{table_bits}", board.name)));
            let opts = Options {
                board,
                table_bits,
                out_dir,
                target_mhz,
                device,
                allow_timing_failure,
                seed,
                progress: true,
            };
            match flow::build(&opts) {
                Ok(o) => {
                    let report = o.out_dir.join("reports.txt");
                    if let Ok(t) = std::fs::read_to_string(&report) {
                        print!("{t}");
                    }
                    if let Some(img) = &o.image {
                        println!("image: {}", img.display());
                    }
                    if let Some(next) = o.manifest.get("next").and_then(|v| v.as_str()) {
                        println!("next (on a machine with Vivado): {next}");
                    }
                    println!("manifest: {}", o.out_dir.join("manifest.json").display());
                    if o.timing_met == Some(false) {
                        eprintln!("vsnic-firmware: WARNING: timing not met (accepted by --allow-timing-failure)");
                    }
                }
                Err(flow::Error::Timing(o)) => {
                    if let Ok(t) = std::fs::read_to_string(o.out_dir.join("reports.txt")) {
                        print!("{t}");
                    }
                    die(flow::Error::Timing(o), 3)
                }
                Err(e @ flow::Error::Missing(_)) => die(e, 4),
                Err(e @ flow::Error::Config(_)) => die(e, 2),
                Err(e) => die(e, 1),
            }
        }
        Cmd::Flash {
            board,
            dir,
            persist,
            bitstream,
        } => {
            let board = boards::find(&board).unwrap_or_else(|e| die(e, 2));
            match board.target {
                Target::Ecp5 { loader_args, .. } => {
                    let dir = dir.unwrap_or_else(|| {
                        PathBuf::from(format!("out/{}-t{}", board.name, board.table_bits))
                    });
                    let img = dir.join(format!("vsnic_{}.bit", board.name));
                    if !img.is_file() {
                        die(
                            format!(
                                "no image at {} (run `vsnic-firmware build --board {}` first)",
                                img.display(),
                                board.name
                            ),
                            2,
                        );
                    }
                    let tool = tools::find(Kind::OpenFpgaLoader).unwrap_or_else(|e| die(e, 4));
                    let mut cmd = Command::new(&tool.program);
                    cmd.args(loader_args);
                    if persist {
                        cmd.arg("-f");
                    }
                    cmd.arg(&img);
                    eprintln!("running: {cmd:?}");
                    let st = cmd.status().unwrap_or_else(|e| die(e, 1));
                    if !st.success() {
                        die(format!("openFPGALoader failed ({st})"), 1);
                    }
                }
                Target::OpenNic { .. } => {
                    let steps = "Alveo (OpenNIC) programming steps:\n\
                         1. Build on a machine with Vivado: vivado -mode batch -source <build dir>/vsnic_build.tcl -tclargs <open-nic-shell>\n\
                         2. Program over JTAG (card's USB/JTAG port): vivado -mode batch -source <build dir>/vsnic_program.tcl -tclargs <open_nic_shell.bit>\n\
                            or write the .mcs to the card's configuration flash with the hardware manager for a persistent image.\n\
                         3. Rescan PCIe so the host re-reads the card (echo 1 > /sys/bus/pci/devices/<bdf>/remove; echo 1 > /sys/bus/pci/rescan).\n\
                         4. Bind the device to vfio-pci and start vsnicd --backend vfio.";
                    println!("{steps}");
                    let Some(bit) = bitstream else {
                        die("pass --bitstream <open_nic_shell.bit> to run step 2", 2)
                    };
                    let tool = tools::find(Kind::Vivado).unwrap_or_else(|e| die(e, 4));
                    let dir = dir.unwrap_or_else(|| {
                        PathBuf::from(format!("out/{}-t{}", board.name, board.table_bits))
                    });
                    let mut cmd = Command::new(&tool.program);
                    cmd.args(["-mode", "batch", "-source"])
                        .arg(dir.join("vsnic_program.tcl"))
                        .arg("-tclargs")
                        .arg(&bit);
                    eprintln!("running: {cmd:?}");
                    let st = cmd.status().unwrap_or_else(|e| die(e, 1));
                    if !st.success() {
                        die(format!("vivado failed ({st})"), 1);
                    }
                }
            }
        }
    }
}
