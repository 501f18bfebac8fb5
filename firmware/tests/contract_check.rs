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
