//! End-to-end tests live in `tests/tests/`: the daemon on the simulated NIC with in-process hosts
//! (`e2e_sim.rs`) and the emitted Verilog under Verilator's lint (`verilog_lint.rs`).
