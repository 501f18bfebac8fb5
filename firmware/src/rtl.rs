//! Board-level Verilog shipped with the firmware crate (written for this project; the core's
//! Verilog is emitted from `vsnic-hw` at build time).

/// A source file: its name in the build folder and its text.
pub type Source = (&'static str, &'static str);

pub const UART_CSR: Source = (
    "vsnic_uart_csr.v",
    include_str!("../rtl/common/vsnic_uart_csr.v"),
);
pub const CAPTURE: Source = (
    "vsnic_capture.v",
    include_str!("../rtl/common/vsnic_capture.v"),
);
pub const BOARD_REGS: Source = (
    "vsnic_board_regs.v",
    include_str!("../rtl/common/vsnic_board_regs.v"),
);
pub const NIC_TIME: Source = (
    "vsnic_nic_time.v",
    include_str!("../rtl/common/vsnic_nic_time.v"),
);
pub const VERSA5G_TOP: Source = (
    "vsnic_versa5g_top.v",
    include_str!("../rtl/versa5g/vsnic_versa5g_top.v"),
);
pub const VERSA5G_LPF: Source = ("versa5g.lpf", include_str!("../rtl/versa5g/versa5g.lpf"));

/// The OpenNIC user-plugin files, as laid out in the plugin folder.
pub const OPENNIC_PLUGIN: &[Source] = &[
    (
        "build_box_250mhz.tcl",
        include_str!("../rtl/opennic/build_box_250mhz.tcl"),
    ),
    (
        "vsnic_opennic_250mhz.v",
        include_str!("../rtl/opennic/vsnic_opennic_250mhz.v"),
    ),
    (
        "vsnic_nic_time.v",
        include_str!("../rtl/common/vsnic_nic_time.v"),
    ),
    (
        "box_250mhz/box_250mhz_axi_crossbar.tcl",
        include_str!("../rtl/opennic/box_250mhz_axi_crossbar.tcl"),
    ),
    (
        "box_250mhz/box_250mhz_address_map.v",
        include_str!("../rtl/opennic/box_250mhz_address_map.v"),
    ),
    (
        "box_250mhz/box_250mhz_address_map_inst.vh",
        include_str!("../rtl/opennic/box_250mhz_address_map_inst.vh"),
    ),
    (
        "box_250mhz/user_plugin_250mhz_inst.vh",
        include_str!("../rtl/opennic/user_plugin_250mhz_inst.vh"),
    ),
];

/// Stand-in for the shell's `box_250mhz` (lint and resource estimate only; not part of the
/// plugin).
pub const OPENNIC_LINT_BOX: Source = (
    "lint_box_250mhz.v",
    include_str!("../rtl/opennic/lint_box_250mhz.v"),
);

/// Verilator configuration: the lint waivers for the emitted core, restricted to its file
/// (board files are linted with every warning on). Reasons: see `tests/verilog_lint.rs` of the
/// workspace and docs/firmware.md — RustHDL emits 32-bit literals and masks (`WIDTH`), unused
/// FIFO flags (`UNUSEDSIGNAL`), a block-level loop in its FIFO (`UNOPTFLAT`), and the module is
/// `vsnic_core` in a file named per configuration (`DECLFILENAME`).
pub const CORE_WAIVERS: Source = (
    "core_waivers.vlt",
    "`verilator_config\n\
     lint_off -rule WIDTH -file \"*vsnic_core*\"\n\
     lint_off -rule UNUSEDSIGNAL -file \"*vsnic_core*\"\n\
     lint_off -rule UNOPTFLAT -file \"*vsnic_core*\"\n\
     lint_off -rule DECLFILENAME -file \"*vsnic_core*\"\n",
);

/// Empty ECP5 primitive stand-ins for linting the Versa top (not synthesised).
pub const LINT_ECP5_PRIMS: Source = (
    "lint_ecp5_prims.v",
    include_str!("../rtl/versa5g/lint_ecp5_prims.v"),
);
