//! The board register Verilog is written by hand; its block bases, type ids, versions and build
//! register offsets must be the contract's (`hw/contract/src/regs.rs`).

use vsnic_contract::regs::{self, build, frameport};

fn hex16(v: u32) -> String {
    format!("16'h{v:04X}")
}

fn hex32(v: u32) -> String {
    format!("32'h{:04X}_{:04X}", v >> 16, v & 0xFFFF)
}

#[test]
fn board_registers_match_the_contract() {
    let v = include_str!("../rtl/common/vsnic_board_regs.v").to_uppercase();
    let want = [
        format!("CORE_END = {}", hex16(regs::CORE_SPACE_END)),
        format!("BUILD    = {}", hex16(build::BASE)),
        format!("FPORT    = {}", hex16(frameport::BASE)),
        format!("8'H00: RDATA <= {};", hex32(build::TYPE_ID)),
        format!("8'H00: RDATA <= {};", hex32(frameport::TYPE_ID)),
        format!("8'H04: RDATA <= {};", hex32(build::VERSION)),
        format!("8'H{:02X}: RDATA <= BOARD_ID;", build::BOARD_ID),
        format!("8'H{:02X}: RDATA <= BUILD_TIME;", build::BUILD_TIME),
        format!("8'H{:02X}: RDATA <= GIT_HASH_HI;", build::GIT_HASH_HI),
        format!("8'H{:02X}: RDATA <= GIT_HASH_LO;", build::GIT_HASH_LO),
        format!("8'H{:02X}: RDATA <= FLAGS;", build::FLAGS),
        format!("8'H{:02X}: RDATA <= CORE_CLK_KHZ;", build::CORE_CLK_KHZ),
    ];
    for w in &want {
        assert!(
            v.contains(&w.to_uppercase()),
            "vsnic_board_regs.v lacks `{w}` (from the contract)"
        );
    }
    assert_eq!(regs::next_of(regs::txq::BASE), build::BASE);
    assert_eq!(regs::next_of(build::BASE), frameport::BASE);
}

/// The board's NIC time counter ticks in the contract's unit, and counts the contract's number
/// of cycles per tick at each board clock (its formula evaluated here as the Verilog does).
#[test]
fn nic_time_matches_the_contract() {
    use vsnic_contract::activity::{cycles_per_tick, TICK_NS_LOG2};
    let v = include_str!("../rtl/common/vsnic_nic_time.v");
    assert!(
        v.contains(&format!(
            "parameter [63:0] TICK_NS_LOG2 = 64'd{TICK_NS_LOG2}"
        )),
        "vsnic_nic_time.v's TICK_NS_LOG2 is not the contract's {TICK_NS_LOG2}"
    );
    assert!(v.contains("CYCLES_PER_TICK = (CLK_HZ << TICK_NS_LOG2) / 64'd1_000_000_000"));
    for (file, hz) in [
        (
            include_str!("../rtl/versa5g/vsnic_versa5g_top.v"),
            62_500_000u64,
        ),
        (
            include_str!("../rtl/opennic/vsnic_opennic_250mhz.v"),
            250_000_000,
        ),
    ] {
        assert!(file.contains("vsnic_nic_time #(") && file.contains(".now(now)"));
        assert_eq!(
            (hz << TICK_NS_LOG2) / 1_000_000_000,
            cycles_per_tick(hz),
            "the Verilog formula is the contract's"
        );
    }
    let top = include_str!("../rtl/versa5g/vsnic_versa5g_top.v");
    assert!(top.contains("CLK_HZ      = 62_500_000"));
    let plugin = include_str!("../rtl/opennic/vsnic_opennic_250mhz.v");
    assert!(plugin.contains(".CLK_HZ(64'd250_000_000)"));
}

/// The board testbench reads `NOW` at the contract's address.
#[test]
fn testbench_reads_now_at_the_contract_address() {
    use vsnic_contract::regs::table;
    let tb = include_str!("tb/uart_csr_tb.v");
    assert!(tb.contains(&format!("csr_rd(16'h{:04X}, t0)", table::BASE + table::NOW)));
}
