//! Cross-simulation: the same per-cycle input vectors (table writes and traffic) through the
//! RustHDL core and through its emitted Verilog under Verilator, at 64 and 512 bits; the digests
//! of every output frame *and the cycle it completed on* must be identical. RustHDL's simulation
//! and its Verilog can disagree (../shared/notes/rusthdl.md §4); this catches it.
//!
//! The vector set is `vsnic_sim::bench`'s (what `sim/bench/verilator.sh` measures), run here in
//! process; the two widths' Verilator builds (`sim/bench/build-tb.sh`) run side by side while
//! the RustHDL runs go on. CI installs Verilator and a C++ compiler; elsewhere the test is
//! skipped with a message when they are missing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const FRAMES: usize = 400;
const WIDTHS: [usize; 2] = [64, 512];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Start the testbench build for `width` around `core` in `dir`.
fn build_tb(core: &Path, width: usize, dir: &Path) -> Child {
    Command::new("bash")
        .arg(root().join("sim/bench/build-tb.sh"))
        .arg(core)
        .arg(width.to_string())
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sim/bench/build-tb.sh")
}

/// `key=` in one of the testbench's or the bench's output lines.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn rusthdl_and_verilator_agree_cycle_for_cycle() {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    if !(have("verilator") && have("g++") && have("make")) {
        assert!(
            std::env::var_os("CI").is_none(),
            "verilator, g++ and make are required in CI"
        );
        eprintln!("SKIPPED: verilator, g++ or make missing");
        return;
    }
    let out = std::env::temp_dir().join(format!("vsnic-cosim-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();

    // the emitted Verilog of each width, then both testbench builds at once
    let builds: Vec<(usize, Child)> = WIDTHS
        .iter()
        .map(|&w| {
            let v = vsnic_firmware::verilog(w, vsnic_sim::bench::TABLE_BITS).unwrap();
            let core = out.join(format!("core{w}.v"));
            std::fs::write(&core, v).unwrap();
            (w, build_tb(&core, w, &out.join(format!("obj{w}"))))
        })
        .collect();
    // meanwhile, the RustHDL core on the same vectors
    let runs: Vec<_> = WIDTHS
        .iter()
        .map(|&w| {
            let vectors = out.join(format!("vec{w}.bin"));
            let run = vsnic_sim::bench::run(w, FRAMES, Some(&vectors)).unwrap();
            eprintln!("{run}");
            (run, vectors)
        })
        .collect();

    for ((w, build), (run, vectors)) in builds.into_iter().zip(runs) {
        let built = build.wait_with_output().unwrap();
        assert!(
            built.status.success(),
            "width {w}: testbench build failed:\n{}{}",
            String::from_utf8_lossy(&built.stdout),
            String::from_utf8_lossy(&built.stderr)
        );
        let tb = Command::new(out.join(format!("obj{w}/tb")))
            .arg(&vectors)
            .arg("0")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&tb.stdout);
        assert!(
            tb.status.success(),
            "width {w}: testbench failed:\n{stdout}{}",
            String::from_utf8_lossy(&tb.stderr)
        );
        let line = stdout
            .lines()
            .find(|l| l.starts_with("verilator "))
            .unwrap_or_else(|| panic!("width {w}: no result line:\n{stdout}"));
        eprintln!("{line}");
        assert_eq!(field(line, "width"), Some(w.to_string().as_str()));
        assert_eq!(field(line, "cycles"), Some(run.cycles.to_string().as_str()));
        assert_eq!(
            field(line, "tx_frames"),
            Some(run.tx_frames.to_string().as_str()),
            "width {w}"
        );
        assert_eq!(
            field(line, "exc_frames"),
            Some(run.exc_frames.to_string().as_str()),
            "width {w}"
        );
        assert_eq!(
            field(line, "digest"),
            Some(run.digest.as_str()),
            "width {w}: RustHDL and Verilator differ"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
