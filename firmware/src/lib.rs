//! The flow from the hw core to a bitstream. Configurations are instantiated here, since the
//! core's width and table size are const generics.

/// The core's Verilog for a supported configuration.
pub fn verilog(width: usize, table_bits: usize) -> Result<String, String> {
    use vsnic_hw::core::verilog;
    Ok(match (width, table_bits) {
        (64, 8) => verilog::<64, 8>(),
        (64, 12) => verilog::<64, 12>(),
        (64, 16) => verilog::<64, 16>(),
        (512, 8) => verilog::<512, 8>(),
        (512, 12) => verilog::<512, 12>(),
        (512, 16) => verilog::<512, 16>(),
        _ => {
            return Err(format!(
                "unsupported configuration width={width} table_bits={table_bits} \
                 (widths 64, 512; table bits 8, 12, 16)"
            ))
        }
    })
}
