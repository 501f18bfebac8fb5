//! The board glue simulated with the core under Verilator: a host drives the UART bridge
//! (tests/tb/uart_csr_tb.v) to read the core's id block and the board's build block, write and
//! read back a register, push a 60-byte ARP frame through the CSR frame port and read the
//! core's counters and the captured exception back.
mod common;
use std::process::Command;
use vsnic_firmware::rtl;
use vsnic_firmware::tools::Kind;

#[test]
fn uart_bridge_reaches_core_and_frame_port() {
    let Some(v) = common::require(Kind::Verilator) else {
        return;
    };
    let dir = common::scratch("board_sim");
    for (name, text) in [rtl::UART_CSR, rtl::BOARD_REGS, rtl::CAPTURE, rtl::NIC_TIME] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    std::fs::write(
        dir.join("vsnic_core.v"),
        vsnic_firmware::core_verilog(64, 8, vsnic_firmware::boards::ecp5_ways_log2(8)).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("uart_csr_tb.v"), include_str!("tb/uart_csr_tb.v")).unwrap();
    // The design files are linted with -Wall in board_lint.rs; here only the build matters, so
    // lint and style warnings (mostly the testbench's) are off. -O0: the C++ compile of the
    // core dominates and the simulation itself is short.
    let out = Command::new(&v.program)
        .current_dir(&dir)
        .args([
            "--binary",
            "--timing",
            "-Wno-lint",
            "-Wno-style",
            "--top-module",
            "uart_csr_tb",
            "-Mdir",
            "obj",
            "-MAKEFLAGS",
            "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0",
            "uart_csr_tb.v",
            "vsnic_uart_csr.v",
            "vsnic_board_regs.v",
            "vsnic_capture.v",
            "vsnic_nic_time.v",
            "vsnic_core.v",
        ])
        .output()
        .expect("run verilator");
    assert!(
        out.status.success(),
        "verilator build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(dir.join("obj/Vuart_csr_tb"))
        .current_dir(&dir)
        .output()
        .expect("run simulation");
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        text.lines().any(|l| l == "PASS") && !text.contains("FAIL"),
        "simulation:\n{text}"
    );
}
