//! Every board's Verilog under Verilator's lint with all warnings on. Only the emitted core has
//! waivers, and only in its own file (rtl::CORE_WAIVERS, with the reasons); the board files
//! (UART bridge, board registers, tops, OpenNIC adaptor and include files) have none, apart
//! from `lint_off` comments in the source that say why.
mod common;
use std::path::Path;
use std::process::Command;
use vsnic_firmware::rtl;
use vsnic_firmware::tools::Kind;

fn lint(dir: &Path, top: &str, files: &[&str], incdir: Option<&str>) {
    let Some(v) = common::require(Kind::Verilator) else {
        return;
    };
    let mut cmd = Command::new(&v.program);
    cmd.current_dir(dir)
        .args(["--lint-only", "-Wall", "--top-module", top])
        .arg(rtl::CORE_WAIVERS.0);
    if let Some(i) = incdir {
        cmd.arg(format!("-I{i}"));
    }
    cmd.args(files);
    let out = cmd.output().expect("run verilator");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "lint of {top} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_all(dir: &Path, files: &[rtl::Source]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

#[test]
fn versa5g_top_lints_clean() {
    let dir = common::scratch("lint_versa5g");
    write_all(
        &dir,
        &[
            rtl::CORE_WAIVERS,
            rtl::VERSA5G_TOP,
            rtl::BOARD_REGS,
            rtl::CAPTURE,
            rtl::UART_CSR,
            rtl::NIC_TIME,
            rtl::LINT_ECP5_PRIMS,
        ],
    );
    for t in [8, 10, 12] {
        std::fs::write(
            dir.join("vsnic_core.v"),
            vsnic_firmware::core_verilog(64, t, vsnic_firmware::boards::ecp5_ways_log2(t)).unwrap(),
        )
        .unwrap();
        lint(
            &dir,
            "vsnic_versa5g_top",
            &[
                "vsnic_versa5g_top.v",
                "vsnic_board_regs.v",
                "vsnic_capture.v",
                "vsnic_uart_csr.v",
                "vsnic_nic_time.v",
                "lint_ecp5_prims.v",
                "vsnic_core.v",
            ],
            None,
        );
    }
}

#[test]
fn opennic_plugin_lints_clean() {
    let dir = common::scratch("lint_opennic");
    write_all(&dir, rtl::OPENNIC_PLUGIN);
    write_all(&dir, &[rtl::CORE_WAIVERS, rtl::OPENNIC_LINT_BOX]);
    std::fs::write(
        dir.join("vsnic_core.v"),
        vsnic_firmware::core_verilog(512, 16, vsnic_contract::hash::WAYS_LOG2 as usize).unwrap(),
    )
    .unwrap();
    lint(
        &dir,
        "lint_box_250mhz",
        &[
            "lint_box_250mhz.v",
            "vsnic_opennic_250mhz.v",
            "vsnic_nic_time.v",
            "vsnic_core.v",
        ],
        Some("box_250mhz"),
    );
}

#[test]
fn opennic_build_generates_the_plugin() {
    // the generation step needs no tools; lint and estimate run when they are installed
    let out = common::scratch("opennic_build_au250");
    let opts = vsnic_firmware::flow::Options {
        board: vsnic_firmware::boards::find("au250").unwrap(),
        table_bits: 8,
        out_dir: out.clone(),
        target_mhz: None,
        device: None,
        allow_timing_failure: false,
        seed: None,
        progress: false,
    };
    let o = vsnic_firmware::flow::build(&opts).unwrap_or_else(|e| panic!("{e}"));
    for f in [
        "plugin/build_box_250mhz.tcl",
        "plugin/vsnic_core.v",
        "plugin/vsnic_opennic_250mhz.v",
        "plugin/vsnic_nic_time.v",
        "plugin/box_250mhz/box_250mhz_axi_crossbar.tcl",
        "plugin/box_250mhz/box_250mhz_address_map.v",
        "plugin/box_250mhz/box_250mhz_address_map_inst.vh",
        "plugin/box_250mhz/user_plugin_250mhz_inst.vh",
        "vsnic_build.tcl",
        "vsnic_program.tcl",
        "manifest.json",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let tcl = std::fs::read_to_string(out.join("vsnic_build.tcl")).unwrap();
    assert!(tcl.contains("-board au250") && tcl.contains("-user_plugin $plugin_dir"));
    if tools_present() {
        assert_eq!(o.manifest["lint"], "clean");
        let est = &o.manifest["estimate_xcup"];
        assert!(est["LUT6"].as_u64().unwrap_or(0) > 0, "estimate: {est}");
    }
}

fn tools_present() -> bool {
    common::require(Kind::Verilator).is_some() && common::require(Kind::Yosys).is_some()
}
