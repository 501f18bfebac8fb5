//! The build flows: ECP5 (synthesis → place and route → bitstream, all run here) and OpenNIC
//! (plugin files and Vivado scripts generated; lint and a yosys resource estimate run here).
//!
//! Every build writes one folder: sources, logs, reports, the image and `manifest.json`
//! (configuration, git revision, build time, tool versions, step times, SHA-256 of every file,
//! timing and utilisation).
use crate::boards::{Board, Target};
use crate::report::{self, PnrReport};
use crate::rtl;
use crate::tools::{self, Kind, Tool};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct Options {
    pub board: &'static Board,
    pub table_bits: usize,
    pub out_dir: PathBuf,
    /// ECP5: place-and-route clock constraint (default: the board clock).
    pub target_mhz: Option<f64>,
    /// ECP5: device override (same package), e.g. `um5g-85k` for benchmarks.
    pub device: Option<String>,
    /// ECP5: keep going (and exit 0) when timing is not met.
    pub allow_timing_failure: bool,
    pub seed: Option<u64>,
    /// Print progress lines to stderr.
    pub progress: bool,
}

#[derive(Debug)]
pub struct Outcome {
    pub out_dir: PathBuf,
    pub image: Option<PathBuf>,
    pub pnr: Option<PnrReport>,
    pub timing_met: Option<bool>,
    pub manifest: Value,
}

#[derive(Debug)]
pub enum Error {
    Config(String),
    Missing(tools::Missing),
    Io(String, std::io::Error),
    /// A tool failed: step, log file, last lines of the log.
    Tool(String, PathBuf, String),
    Report(String),
    /// Timing not met (the outcome is complete otherwise).
    Timing(Box<Outcome>),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Config(s) => write!(f, "{s}"),
            Error::Missing(m) => write!(f, "{m}"),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::Tool(step, log, tail) => {
                write!(f, "{step} failed (log: {}):\n{tail}", log.display())
            }
            Error::Report(s) => write!(f, "report: {s}"),
            Error::Timing(o) => {
                write!(f, "timing not met:")?;
                for c in o.pnr.iter().flat_map(|p| &p.fmax) {
                    write!(
                        f,
                        " {} {:.2} MHz < {:.2} MHz;",
                        c.clock, c.achieved_mhz, c.constraint_mhz
                    )?;
                }
                write!(
                    f,
                    " image and reports are in {} (use --allow-timing-failure to accept)",
                    o.out_dir.display()
                )
            }
        }
    }
}

impl std::error::Error for Error {}

impl From<tools::Missing> for Error {
    fn from(m: tools::Missing) -> Self {
        Error::Missing(m)
    }
}

fn write(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(d) = path.parent() {
        fs::create_dir_all(d).map_err(|e| Error::Io(format!("create {}", d.display()), e))?;
    }
    fs::write(path, text).map_err(|e| Error::Io(format!("write {}", path.display()), e))
}

/// Build identity: git revision of the work tree and build time (`SOURCE_DATE_EPOCH` if set).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Identity {
    pub git_hash: String,
    pub git_dirty: bool,
    pub build_time: u64,
}

impl Identity {
    pub fn here() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let git = |args: &[&str]| {
            Command::new("git")
                .arg("-C")
                .arg(root)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let git_hash = git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "0".repeat(40));
        let git_dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
        let build_time = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            });
        Identity {
            git_hash,
            git_dirty,
            build_time,
        }
    }
    /// The hash's first 16 hex digits as two words (HI, LO) for the build register block.
    pub fn hash_words(&self) -> (u32, u32) {
        let h = |r: std::ops::Range<usize>| {
            self.git_hash
                .get(r)
                .and_then(|s| u32::from_str_radix(s, 16).ok())
                .unwrap_or(0)
        };
        (h(0..8), h(8..16))
    }
}

struct Steps {
    progress: bool,
    total: usize,
    done: usize,
    times: Vec<(String, f64)>,
}

impl Steps {
    fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
        self.done += 1;
        if self.progress {
            eprintln!("[{}/{}] {name} ...", self.done, self.total);
        }
        let t = Instant::now();
        let r = f();
        let s = t.elapsed().as_secs_f64();
        if self.progress {
            eprintln!(
                "[{}/{}] {name}: {} in {s:.1} s",
                self.done,
                self.total,
                if r.is_ok() { "done" } else { "FAILED" }
            );
        }
        self.times.push((name.to_string(), s));
        r
    }
}

/// Run a tool with its output to `log`; on failure, the log's tail is in the error.
fn run_logged(
    step: &str,
    tool: &Tool,
    args: &[String],
    cwd: &Path,
    log: &Path,
) -> Result<(), Error> {
    let mut cmd = Command::new(&tool.program);
    cmd.args(args).current_dir(cwd);
    // YoWASP tools (WebAssembly builds of yosys/nextpnr) preopen every
    // directory under `/` by name, and WASI resolves a relative path whose
    // first component equals one of them (`check/x.v` while `/check` exists)
    // against that root directory instead of the working directory. Mount the
    // build folder explicitly as the tool's root so every relative path we
    // pass means the same file on every machine. Native tools ignore this.
    cmd.env("YOWASP_MOUNT", "/=.");
    let out = cmd
        .output()
        .map_err(|e| Error::Io(format!("start {}", tool.program), e))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    // nextpnr writes its own --log; keep the console output beside it
    let console = if log.exists() {
        log.with_extension("console.txt")
    } else {
        log.to_path_buf()
    };
    write(&console, &text)?;
    if !out.status.success() {
        let full = fs::read_to_string(log).unwrap_or(text);
        let tail: Vec<_> = full.lines().rev().take(25).collect();
        let tail: Vec<_> = tail.into_iter().rev().collect();
        return Err(Error::Tool(
            step.to_string(),
            log.to_path_buf(),
            tail.join("\n"),
        ));
    }
    Ok(())
}

fn sha256_file(p: &Path) -> Result<String, Error> {
    let data = fs::read(p).map_err(|e| Error::Io(format!("read {}", p.display()), e))?;
    Ok(format!("{:x}", Sha256::digest(&data)))
}

fn list_files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) -> Result<(), Error> {
    let rd = fs::read_dir(dir).map_err(|e| Error::Io(format!("list {}", dir.display()), e))?;
    let mut entries: Vec<_> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            list_files(&p, base, out)?;
        } else if p.file_name().is_some_and(|n| n != "manifest.json") {
            out.push(p.strip_prefix(base).unwrap_or(&p).to_path_buf());
        }
    }
    Ok(())
}

fn finish_manifest(dir: &Path, mut m: Value, steps: &Steps) -> Result<Value, Error> {
    let mut files = Vec::new();
    list_files(dir, dir, &mut files)?;
    let mut fl = Vec::new();
    for f in files {
        let p = dir.join(&f);
        let bytes = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        fl.push(
            json!({"path": f.display().to_string(), "bytes": bytes, "sha256": sha256_file(&p)?}),
        );
    }
    m["files"] = Value::Array(fl);
    m["steps"] = steps
        .times
        .iter()
        .map(|(n, s)| json!({"step": n, "seconds": (s * 10.0).round() / 10.0}))
        .collect();
    let text = serde_json::to_string_pretty(&m).expect("json");
    write(&dir.join("manifest.json"), &(text + "\n"))?;
    Ok(m)
}

/// Build `opts.board` into `opts.out_dir`.
pub fn build(opts: &Options) -> Result<Outcome, Error> {
    let b = opts.board;
    if !b.table_bits_allowed.contains(&opts.table_bits) {
        return Err(Error::Config(format!(
            "board {} takes table bits {:?} (its block RAM), not {}",
            b.name, b.table_bits_allowed, opts.table_bits
        )));
    }
    fs::create_dir_all(&opts.out_dir)
        .map_err(|e| Error::Io(format!("create {}", opts.out_dir.display()), e))?;
    let dir = fs::canonicalize(&opts.out_dir)
        .map_err(|e| Error::Io(format!("resolve {}", opts.out_dir.display()), e))?;
    match b.target {
        Target::Ecp5 { .. } => build_ecp5(opts, &dir),
        Target::OpenNic { .. } => build_opennic(opts, &dir),
    }
}

fn base_manifest(opts: &Options, id: &Identity, tools: &[&Tool]) -> Value {
    let b = opts.board;
    json!({
        "board": b.name,
        "description": b.description,
        "width": b.width,
        "table_bits": opts.table_bits,
        "table_ways_log2": b.ways_log2(opts.table_bits),
        "git_hash": id.git_hash,
        "git_dirty": id.git_dirty,
        "build_time": id.build_time,
        "firmware_version": env!("CARGO_PKG_VERSION"),
        "tools": tools.iter().map(|t| json!({"tool": t.kind.to_string(), "program": t.program, "version": t.version})).collect::<Vec<_>>(),
    })
}

fn build_ecp5(opts: &Options, dir: &Path) -> Result<Outcome, Error> {
    let b = opts.board;
    let Target::Ecp5 {
        device,
        package,
        speed,
        top,
        clock_port,
        clock_mhz,
        core_mhz,
        ..
    } = b.target
    else {
        unreachable!()
    };
    let device = opts.device.as_deref().unwrap_or(device);
    if !crate::boards::ECP5_DEVICES.contains(&device) {
        return Err(Error::Config(format!(
            "unknown ECP5 device `{device}` (known: {})",
            crate::boards::ECP5_DEVICES.join(", ")
        )));
    }
    if let Some(have) = crate::boards::ecp5_ebr(device) {
        let need = crate::boards::ecp5_table_ebr(opts.table_bits, b.ways_log2(opts.table_bits));
        if need > have {
            return Err(Error::Config(format!(
                "a table of 2^{} buckets needs {need} block RAMs, the {device} has {have}: \
                 choose fewer --table-bits or a larger --device (e.g. um5g-85k)",
                opts.table_bits
            )));
        }
    }
    let target_mhz = opts.target_mhz.unwrap_or(core_mhz);
    // nextpnr derives the PLL output's constraint from the input's: scale the input constraint
    // so that the core clock is constrained to the target.
    let input_mhz = target_mhz * clock_mhz / core_mhz;
    // find every tool before starting, so a missing one fails fast
    if opts.progress {
        eprintln!("checking tools (a YoWASP tool's first run compiles it: a few minutes once)");
    }
    let yosys = tools::find(Kind::Yosys)?;
    let nextpnr = tools::find(Kind::NextpnrEcp5)?;
    let ecppack = tools::find(Kind::Ecppack)?;
    let id = Identity::here();
    let mut steps = Steps {
        progress: opts.progress,
        total: 4,
        done: 0,
        times: Vec::new(),
    };

    let src = dir.join("src");
    let sources = [
        rtl::VERSA5G_TOP,
        rtl::BOARD_REGS,
        rtl::CAPTURE,
        rtl::UART_CSR,
        rtl::NIC_TIME,
    ];
    steps.run("emit Verilog", || {
        let ways = b.ways_log2(opts.table_bits);
        let core = crate::core_verilog(b.width, opts.table_bits, ways).map_err(Error::Config)?;
        write(&src.join("vsnic_core.v"), &core)?;
        for (name, text) in sources {
            write(&src.join(name), text)?;
        }
        let lpf = format!(
            "{}FREQUENCY PORT \"{clock_port}\" {input_mhz:.4} MHZ;\n",
            rtl::VERSA5G_LPF.1
        );
        write(&src.join(rtl::VERSA5G_LPF.0), &lpf)
    })?;

    let (hi, lo) = id.hash_words();
    let files: Vec<String> = std::iter::once("src/vsnic_core.v".to_string())
        .chain(sources.iter().map(|(n, _)| format!("src/{n}")))
        .collect();
    let ys = format!(
        "# vsnic: synthesis script (generated)\n\
         read_verilog -defer {files}\n\
         chparam -set BUILD_TIME 32'h{bt:08x} -set GIT_HASH_HI 32'h{hi:08x} -set GIT_HASH_LO 32'h{lo:08x} -set FLAGS 32'h{fl:08x} {top}\n\
         synth_ecp5 -top {top} -json synth.json\n\
         tee -q -o synth_stat.txt stat\n",
        files = files.join(" "),
        bt = id.build_time as u32,
        fl = id.git_dirty as u32,
    );
    write(&dir.join("synth.ys"), &ys)?;
    steps.run("synthesis (yosys synth_ecp5)", || {
        run_logged(
            "synthesis",
            &yosys,
            &[
                "-q".into(),
                "-l".into(),
                "synth.log".into(),
                "-s".into(),
                "synth.ys".into(),
            ],
            dir,
            &dir.join("synth.log"),
        )
    })?;

    let mut args: Vec<String> = vec![
        format!("--{device}"),
        "--package".into(),
        package.into(),
        "--speed".into(),
        speed.to_string(),
        "--json".into(),
        "synth.json".into(),
        "--lpf".into(),
        format!("src/{}", rtl::VERSA5G_LPF.0),
        "--textcfg".into(),
        "pnr.config".into(),
        "--report".into(),
        "pnr_report.json".into(),
        "--log".into(),
        "pnr.log".into(),
        "--timing-allow-fail".into(),
        "-q".into(),
    ];
    if let Some(s) = opts.seed {
        args.extend(["--seed".into(), s.to_string()]);
    }
    steps.run("place and route (nextpnr-ecp5)", || {
        run_logged(
            "place and route",
            &nextpnr,
            &args,
            dir,
            &dir.join("pnr.log"),
        )
    })?;
    let image = dir.join(format!("vsnic_{}.bit", b.name));
    steps.run("bitstream (ecppack)", || {
        run_logged(
            "bitstream",
            &ecppack,
            &[
                "--compress".into(),
                "pnr.config".into(),
                image.file_name().unwrap().to_string_lossy().into_owned(),
            ],
            dir,
            &dir.join("ecppack.log"),
        )
    })?;

    let report_text = fs::read_to_string(dir.join("pnr_report.json"))
        .map_err(|e| Error::Io("read pnr_report.json".into(), e))?;
    let pnr = report::parse_nextpnr(&report_text).map_err(Error::Report)?;
    let met = pnr.timing_met();
    write(
        &dir.join("reports.txt"),
        &summary_text(opts, device, target_mhz, &pnr, &steps),
    )?;
    let mut m = base_manifest(opts, &id, &[&yosys, &nextpnr, &ecppack]);
    m["device"] = json!(part_name(device, package, speed));
    m["nextpnr_device"] = json!(device);
    m["board_clock_mhz"] = json!(clock_mhz);
    m["core_clock_mhz"] = json!(core_mhz);
    m["target_mhz"] = json!(target_mhz);
    m["image"] = json!(image.file_name().unwrap().to_string_lossy());
    m["timing_met"] = json!(met);
    m["fmax"] = serde_json::to_value(&pnr.fmax).expect("json");
    m["utilisation"] = serde_json::to_value(&pnr.utilisation).expect("json");
    let m = finish_manifest(dir, m, &steps)?;
    let outcome = Outcome {
        out_dir: dir.to_path_buf(),
        image: Some(image),
        pnr: Some(pnr),
        timing_met: Some(met),
        manifest: m,
    };
    if !met && !opts.allow_timing_failure {
        return Err(Error::Timing(Box::new(outcome)));
    }
    Ok(outcome)
}

fn summary_text(
    opts: &Options,
    device: &str,
    target: f64,
    pnr: &PnrReport,
    steps: &Steps,
) -> String {
    let mut s = format!(
        "vsnic {} build: width {}, table 2^{} buckets, device {device}, target {target} MHz\n\nTiming (Fmax per clock):\n",
        opts.board.name, opts.board.width, opts.table_bits
    );
    for c in &pnr.fmax {
        s += &format!(
            "  {:<32} {:>8.2} MHz (constraint {:.2} MHz) {}\n",
            c.clock,
            c.achieved_mhz,
            c.constraint_mhz,
            if c.met() { "MET" } else { "FAILED" }
        );
    }
    s += "\nUtilisation:\n";
    for u in pnr.utilisation.iter().filter(|u| u.used > 0) {
        s += &format!(
            "  {:<20} {:>7} / {:>7} ({:.1} %)\n",
            u.resource,
            u.used,
            u.available,
            100.0 * u.used as f64 / u.available.max(1) as f64
        );
    }
    s += "\nStep times:\n";
    for (n, t) in &steps.times {
        s += &format!("  {n:<36} {t:>7.1} s\n");
    }
    s
}

/// Lattice part name for a nextpnr device option, e.g. `um5g-45k` → `LFE5UM5G-45F-8BG381C`.
pub fn part_name(device: &str, package: &str, speed: u8) -> String {
    let (family, size) = device.rsplit_once('-').unwrap_or(("", device));
    let family = if family.is_empty() {
        "U".to_string()
    } else {
        family.to_uppercase()
    };
    let size = size.trim_end_matches('k');
    let pkg = package.trim_start_matches("CA").replacen("BGA", "BG", 1);
    format!("LFE5{family}-{size}F-{speed}{pkg}C")
}

/// `mmddHHMM` in UTC, the shell's `-build_timestamp` format (hex digits read as-is).
fn shell_timestamp(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // civil-from-days (proleptic Gregorian)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{m:02}{d:02}{:02}{:02}", secs / 3600, secs % 3600 / 60)
}

fn build_opennic(opts: &Options, dir: &Path) -> Result<Outcome, Error> {
    let b = opts.board;
    let Target::OpenNic { shell_board, part } = b.target else {
        unreachable!()
    };
    if opts.device.is_some() || opts.target_mhz.is_some() {
        return Err(Error::Config(
            "--device and --target-mhz apply to ECP5 boards only (the OpenNIC box runs at 250 MHz)"
                .into(),
        ));
    }
    let id = Identity::here();
    let verilator = tools::find(Kind::Verilator);
    let yosys = tools::find(Kind::Yosys);
    let mut steps = Steps {
        progress: opts.progress,
        total: 3,
        done: 0,
        times: Vec::new(),
    };
    let plugin = dir.join("plugin");
    steps.run("generate plugin files", || {
        let ways = b.ways_log2(opts.table_bits);
        let core = crate::core_verilog(b.width, opts.table_bits, ways).map_err(Error::Config)?;
        write(&plugin.join("vsnic_core.v"), &core)?;
        for (name, text) in rtl::OPENNIC_PLUGIN {
            write(&plugin.join(name), text)?;
        }
        write(
            &dir.join("check").join(rtl::OPENNIC_LINT_BOX.0),
            rtl::OPENNIC_LINT_BOX.1,
        )?;
        write(
            &dir.join("check").join(rtl::CORE_WAIVERS.0),
            rtl::CORE_WAIVERS.1,
        )?;
        write(
            &dir.join("vsnic_build.tcl"),
            &vivado_build_tcl(shell_board, &shell_timestamp(id.build_time)),
        )?;
        write(&dir.join("vsnic_program.tcl"), &vivado_program_tcl())?;
        Ok(())
    })?;
    let check_files = [
        "check/core_waivers.vlt".to_string(),
        "check/lint_box_250mhz.v".to_string(),
        "plugin/vsnic_opennic_250mhz.v".to_string(),
        "plugin/vsnic_nic_time.v".to_string(),
        "plugin/vsnic_core.v".to_string(),
    ];
    let mut lint = "skipped: verilator not installed".to_string();
    if let Ok(v) = &verilator {
        steps.run("lint (verilator -Wall)", || {
            let mut args: Vec<String> = vec![
                "--lint-only".into(),
                "-Wall".into(),
                "-Iplugin/box_250mhz".into(),
                "--top-module".into(),
                "lint_box_250mhz".into(),
            ];
            args.extend(check_files.iter().cloned());
            run_logged("lint", v, &args, dir, &dir.join("lint.log"))
        })?;
        lint = "clean".into();
    }
    let mut estimate = Value::Null;
    if let Ok(y) = &yosys {
        let ys = format!(
            "# vsnic: resource estimate for UltraScale+ (generated; Vivado's numbers will differ)\n\
             read_verilog -Iplugin/box_250mhz {}\n\
             synth_xilinx -family xcup -flatten -top lint_box_250mhz\n\
             tee -q -o estimate_stat.txt stat\n",
            check_files[1..].join(" ")
        );
        write(&dir.join("estimate.ys"), &ys)?;
        steps.run(
            "resource estimate (yosys synth_xilinx -family xcup)",
            || {
                run_logged(
                    "estimate",
                    y,
                    &[
                        "-q".into(),
                        "-l".into(),
                        "estimate.log".into(),
                        "-s".into(),
                        "estimate.ys".into(),
                    ],
                    dir,
                    &dir.join("estimate.log"),
                )
            },
        )?;
        let stat = fs::read_to_string(dir.join("estimate_stat.txt"))
            .map_err(|e| Error::Io("read estimate_stat.txt".into(), e))?;
        estimate = report::parse_yosys_stat(&stat)
            .into_iter()
            .map(|(c, n)| (c, json!(n)))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let found: Vec<&Tool> = [&verilator, &yosys]
        .into_iter()
        .filter_map(|t| t.as_ref().ok())
        .collect();
    let mut m = base_manifest(opts, &id, &found);
    m["part"] = json!(part);
    m["shell_board"] = json!(shell_board);
    m["lint"] = json!(lint);
    m["estimate_xcup"] = estimate;
    m["image"] = Value::Null;
    m["next"] = json!(format!(
        "vivado -mode batch -source {}/vsnic_build.tcl -tclargs <open-nic-shell checkout>",
        dir.display()
    ));
    let m = finish_manifest(dir, m, &steps)?;
    Ok(Outcome {
        out_dir: dir.to_path_buf(),
        image: None,
        pnr: None,
        timing_met: None,
        manifest: m,
    })
}

fn vivado_build_tcl(board: &str, ts: &str) -> String {
    format!(
        "# vsnic: build the OpenNIC shell with the vsnic user plugin (generated).\n\
         # Needs Vivado (the shell supports 2020.x-2022.1) and a checkout of open-nic-shell:\n\
         #   vivado -mode batch -source vsnic_build.tcl -tclargs /path/to/open-nic-shell\n\
         # The bitstream and MCS land in <shell>/build/{board}_vsnic/open_nic_shell/open_nic_shell.runs/impl_1/.\n\
         if {{$argc < 1}} {{\n\
         \x20   puts \"usage: vivado -mode batch -source vsnic_build.tcl -tclargs <open-nic-shell dir>\"\n\
         \x20   exit 1\n\
         }}\n\
         set shell_dir [file normalize [lindex $argv 0]]\n\
         set plugin_dir [file normalize [file join [file dirname [info script]] plugin]]\n\
         cd [file join $shell_dir script]\n\
         set argv [list -board {board} -tag vsnic -user_plugin $plugin_dir -impl 1 -post_impl 1 \\\n\
         \x20   -rebuild 1 -overwrite 1 -build_timestamp {ts} -num_phys_func 1 -num_cmac_port 1]\n\
         set argc [llength $argv]\n\
         source build.tcl\n"
    )
}

fn vivado_program_tcl() -> String {
    "# vsnic: program an Alveo card over JTAG with Vivado's hardware manager (generated).\n\
     #   vivado -mode batch -source vsnic_program.tcl -tclargs <bitstream.bit>\n\
     # After programming, rescan PCIe (remove the device and rescan, or reboot warm) so the host\n\
     # sees the new BARs. For a persistent image, write the .mcs to the card's flash instead.\n\
     set bit [file normalize [lindex $argv 0]]\n\
     open_hw_manager\n\
     connect_hw_server\n\
     open_hw_target\n\
     set dev [lindex [get_hw_devices xcu*] 0]\n\
     current_hw_device $dev\n\
     set_property PROGRAM.FILE $bit $dev\n\
     program_hw_devices $dev\n\
     close_hw_manager\n"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names() {
        assert_eq!(part_name("um5g-45k", "CABGA381", 8), "LFE5UM5G-45F-8BG381C");
        assert_eq!(part_name("85k", "CABGA381", 6), "LFE5U-85F-6BG381C");
    }

    #[test]
    fn shell_timestamp_is_mmddhhmm() {
        // 2026-11-24 13:41 UTC
        assert_eq!(shell_timestamp(1_795_527_660), "11241341");
        assert_eq!(shell_timestamp(0), "01010000");
    }
}
