//! End-to-end tests live in `tests/tests/`: the daemon on the simulated NIC with in-process hosts
//! (`e2e_sim.rs`), real kernel stacks and real software in network namespaces on TAP devices
//! (`sim_tap_netns.rs`, `ftp_tap_netns.rs`) and the emitted Verilog under Verilator's lint
//! (`verilog_lint.rs`). Helpers they share are here, with the fuzz targets' bodies and seed
//! corpora (`fuzz_bodies`, `fuzz_seeds`; see docs/reliability.md) and frame builders
//! (`packets`).
#![forbid(unsafe_code)]

pub mod ftp_lab;
pub mod fuzz_bodies;
pub mod fuzz_seeds;
pub mod netns;
pub mod packets;
