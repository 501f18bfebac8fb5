# vsnic plugin: sources of the 250 MHz box (run by the OpenNIC shell's build.tcl with the plugin
# folder as the current directory).
read_verilog -quiet vsnic_core.v
read_verilog -quiet vsnic_opennic_250mhz.v
read_verilog -quiet vsnic_nic_time.v
