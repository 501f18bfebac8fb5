//! The boards the flow knows: each is a thin top level around the board-independent core.

/// How a board's image is produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Lattice ECP5 with the open flow (yosys → nextpnr-ecp5 → ecppack), fully buildable here.
    Ecp5 {
        /// nextpnr device option without dashes, e.g. `um5g-45k`.
        device: &'static str,
        package: &'static str,
        speed: u8,
        /// Top module (in `rtl/<board>/`).
        top: &'static str,
        /// Board clock input port and its frequency.
        clock_port: &'static str,
        clock_mhz: f64,
        /// Core clock made from it by the board top's PLL.
        core_mhz: f64,
        /// openFPGALoader arguments selecting the cable/board.
        loader_args: &'static [&'static str],
    },
    /// AMD Alveo through the OpenNIC shell's 250 MHz user-plugin box (Vivado, not run here).
    OpenNic {
        /// The shell's `-board` value.
        shell_board: &'static str,
        part: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Board {
    pub name: &'static str,
    pub description: &'static str,
    /// Data-path width of the core on this board.
    pub width: usize,
    /// Default log2 table buckets.
    pub table_bits: usize,
    /// Table sizes that fit the device's block RAM.
    pub table_bits_allowed: &'static [usize],
    pub target: Target,
}

pub const BOARDS: &[Board] = &[
    Board {
        name: "versa5g",
        description:
            "Lattice ECP5-5G Versa (LFE5UM5G-45F): core at 62.5 MHz (PLL), CSR over UART, \
                      CSR frame port in place of the RGMII ports; 2^12 buckets need --device um5g-85k",
        width: 64,
        table_bits: 10,
        table_bits_allowed: &[8, 10, 12],
        target: Target::Ecp5 {
            device: "um5g-45k",
            package: "CABGA381",
            speed: 8,
            top: "vsnic_versa5g_top",
            clock_port: "clk100",
            clock_mhz: 100.0,
            core_mhz: 62.5,
            loader_args: &["-c", "ft2232"],
        },
    },
    Board {
        name: "au250",
        description: "AMD Alveo U250 via the OpenNIC shell user plugin (box_250mhz, 512-bit)",
        width: 512,
        table_bits: 16,
        table_bits_allowed: &[8, 12, 16],
        target: Target::OpenNic {
            shell_board: "au250",
            part: "xcu250-figd2104-2L-e",
        },
    },
    Board {
        name: "au280",
        description: "AMD Alveo U280 via the OpenNIC shell user plugin (box_250mhz, 512-bit)",
        width: 512,
        table_bits: 16,
        table_bits_allowed: &[8, 12, 16],
        target: Target::OpenNic {
            shell_board: "au280",
            part: "xcu280-fsvh2892-2L-e",
        },
    },
    Board {
        name: "au55c",
        description: "AMD Alveo U55C via the OpenNIC shell user plugin (box_250mhz, 512-bit)",
        width: 512,
        table_bits: 16,
        table_bits_allowed: &[8, 12, 16],
        target: Target::OpenNic {
            shell_board: "au55c",
            part: "xcu55c-fsvh2892-2L-e",
        },
    },
];

/// ECP5 devices `--device` may name (same CABGA381 package, so the Versa pinout applies).
pub const ECP5_DEVICES: &[&str] = &["um5g-45k", "um5g-85k", "um-45k", "um-85k", "45k", "85k"];

/// Block RAMs (DP16KD, 18 Kbit) of an ECP5 device.
pub fn ecp5_ebr(device: &str) -> Option<usize> {
    match device {
        "um5g-45k" | "um-45k" | "45k" => Some(108),
        "um5g-85k" | "um-85k" | "85k" => Some(208),
        _ => None,
    }
}

/// Block RAMs the connection table alone takes on ECP5: one RAM of 2^(`table_bits` -
/// `ways_log2`) entries per way; every 512-bit entry is live (the host reads whole entries
/// back), and a true dual-port DP16KD is at most 18 bits wide, so 18 Kbit hold 1024 × 18 bits
/// of one way.
pub fn ecp5_table_ebr(table_bits: usize, ways_log2: usize) -> usize {
    let depth_blocks = (1usize << (table_bits - ways_log2)).div_ceil(1024);
    (1 << ways_log2) * depth_blocks * vsnic_contract::entry::BITS.div_ceil(18)
}

/// The ways an ECP5 table is built with: four (the contract's default) when each way's RAM is
/// still at least one DP16KD deep (1024 entries), else as many as keep that true — fewer ways
/// cost no block RAM, more would multiply it (a 2^10 table in four ways takes four times the
/// DP16KDs of a direct-mapped one).
pub fn ecp5_ways_log2(table_bits: usize) -> usize {
    table_bits
        .saturating_sub(10)
        .min(vsnic_contract::hash::WAYS_LOG2 as usize)
}

impl Board {
    /// log2 of the table ways this board's core is built with for 2^`table_bits` buckets.
    pub fn ways_log2(&self, table_bits: usize) -> usize {
        match self.target {
            Target::Ecp5 { .. } => ecp5_ways_log2(table_bits),
            // UltraScale+ URAM288 / RAMB36 are 4096 / 512 deep at 72 bits: four ways of 2^14
            // fill them as well as one of 2^16
            Target::OpenNic { .. } => vsnic_contract::hash::WAYS_LOG2 as usize,
        }
    }
}

pub fn find(name: &str) -> Result<&'static Board, String> {
    BOARDS.iter().find(|b| b.name == name).ok_or_else(|| {
        let names: Vec<_> = BOARDS.iter().map(|b| b.name).collect();
        format!("unknown board `{name}` (known: {})", names.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_board_has_a_buildable_default() {
        for b in BOARDS {
            assert!(b.table_bits_allowed.contains(&b.table_bits), "{}", b.name);
            for &t in b.table_bits_allowed {
                crate::verilog_ways(b.width, t, b.ways_log2(t))
                    .map(|_| ())
                    .unwrap_or_else(|e| {
                        panic!("{}: {e}", b.name);
                    });
            }
        }
        assert!(find("nope").is_err());
    }

    /// Each ECP5 board's default table fits its device's block RAM, with room for the rest of
    /// the design; 2^12 needs the 85k.
    #[test]
    fn ecp5_defaults_fit_the_block_ram() {
        for b in BOARDS {
            if let Target::Ecp5 { device, .. } = b.target {
                let have = ecp5_ebr(device).expect("a known device");
                let ways = b.ways_log2(b.table_bits);
                assert!(
                    ecp5_table_ebr(b.table_bits, ways) + 16 <= have,
                    "{}",
                    b.name
                );
            }
        }
        assert_eq!(ecp5_table_ebr(8, ecp5_ways_log2(8)), 29);
        assert_eq!(ecp5_table_ebr(10, ecp5_ways_log2(10)), 29);
        assert_eq!(ecp5_table_ebr(12, ecp5_ways_log2(12)), 116);
        assert_eq!(ecp5_ways_log2(12), 2);
        // four ways of a small table would take four times the block RAM
        assert_eq!(ecp5_table_ebr(10, 2), 4 * 29);
        assert!(ecp5_table_ebr(12, 2) > ecp5_ebr("um5g-45k").unwrap());
        assert!(ecp5_table_ebr(12, 2) <= ecp5_ebr("um5g-85k").unwrap());
    }
}
