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
                      CSR frame port in place of the RGMII ports",
        width: 64,
        table_bits: 12,
        table_bits_allowed: &[8, 12],
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
                crate::verilog(b.width, t).map(|_| ()).unwrap_or_else(|e| {
                    panic!("{}: {e}", b.name);
                });
            }
        }
        assert!(find("nope").is_err());
    }
}
