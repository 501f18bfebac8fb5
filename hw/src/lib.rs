//! vsnic's NIC pipeline in RustHDL, with its pure-Rust reference model.
//!
//! * [`core`]: the board-independent core (`Core<W, T>`).
//! * [`stage`]: one block per pipeline stage.
//! * [`model`]: the reference model the circuit is tested against.
//! * [`driver`]: a cycle driver for the core (used by its tests and by the simulator).
#![forbid(unsafe_code)]

pub mod core;
pub mod driver;
pub mod model;
pub mod stage;
#[cfg(test)]
mod testgen;
