//! The flow from the hw core to a bitstream. Configurations are instantiated here, since the
//! core's width and table size are const generics.
//!
//! Layout (Corundum style): the core stays board-independent (`vsnic_hw::core`, emitted as
//! module `vsnic_core`); each board in [`boards`] adds a thin top level from `rtl/` (clock,
//! host link, board register blocks, pins) and a build recipe in [`flow`].
#![forbid(unsafe_code)]

pub mod boards;
pub mod flow;
pub mod report;
pub mod rtl;
pub mod tools;

/// The core's Verilog for a supported configuration (top module `top`, as RustHDL names it),
/// its table in the contract's default number of ways.
pub fn verilog(width: usize, table_bits: usize) -> Result<String, String> {
    verilog_ways(width, table_bits, vsnic_contract::hash::WAYS_LOG2 as usize)
}

/// The core's Verilog with a table of `2^ways_log2` ways (at most 4 ways).
pub fn verilog_ways(width: usize, table_bits: usize, ways_log2: usize) -> Result<String, String> {
    use vsnic_hw::core::verilog_ways as v;
    if ways_log2 > vsnic_hw::stage::decide::MAX_WAYS_LOG2 {
        return Err(format!("at most 4 ways (ways_log2 {ways_log2})"));
    }
    let l = ways_log2;
    Ok(match (width, table_bits) {
        (64, 8) => v::<64, 8>(l),
        (64, 10) => v::<64, 10>(l),
        (64, 12) => v::<64, 12>(l),
        (64, 16) => v::<64, 16>(l),
        (512, 8) => v::<512, 8>(l),
        (512, 12) => v::<512, 12>(l),
        (512, 16) => v::<512, 16>(l),
        _ => {
            return Err(format!(
                "unsupported configuration width={width} table_bits={table_bits} \
                 (widths 64, 512; table bits 8, 12, 16, and 10 at width 64)"
            ))
        }
    })
}

/// Name of the core module in board builds.
pub const CORE_MODULE: &str = "vsnic_core";

/// The core's Verilog with its modules renamed from `top`/`top$…` to `vsnic_core`/`vsnic_core$…`,
/// so that it can sit under a board top (and in a shell that has its own `top`).
pub fn core_verilog(width: usize, table_bits: usize, ways_log2: usize) -> Result<String, String> {
    Ok(rename_top(
        &verilog_ways(width, table_bits, ways_log2)?,
        CORE_MODULE,
    ))
}

/// Rename RustHDL's `top` module and its `top$child` modules. Only whole identifiers change.
pub fn rename_top(v: &str, name: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4096);
    let bytes = v.as_bytes();
    let mut i = 0;
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$';
    while i < bytes.len() {
        if bytes[i..].starts_with(b"top")
            && (i == 0 || !is_ident(bytes[i - 1]))
            && bytes.get(i + 3).is_none_or(|&c| c == b'$' || !is_ident(c))
        {
            out.push_str(name);
            i += 3;
        } else {
            // copy one UTF-8 character
            let ch = v[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_only_whole_identifiers() {
        let v = "module top(a);\n top$decide decide(.x(stop), .y(top_x));\nendmodule // top\n";
        assert_eq!(
            rename_top(v, "vsnic_core"),
            "module vsnic_core(a);\n vsnic_core$decide decide(.x(stop), .y(top_x));\nendmodule // vsnic_core\n"
        );
    }

    #[test]
    fn core_verilog_has_no_top_module() {
        let v = core_verilog(64, 8, 2).unwrap();
        assert!(v.contains("module vsnic_core("));
        assert!(v.contains("module vsnic_core$decide("));
        assert!(!v.contains("module top"));
    }
}
