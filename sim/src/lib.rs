//! The bundled cycle simulator: vsnic's hw core (the RustHDL design itself, stepped cycle by
//! cycle), its MAC ports, the host queue engine and the register space, and attachments that
//! put traffic on the ports (in-process smoltcp hosts today; pcap files and TAP devices next).
//!
//! * [`nic::SimNic`]: the device, one `step()` per clock.
//! * [`runner::Simulator`]: the device running on its own thread, as the daemon uses it.
//! * [`hostmem`], [`queues`]: host memory and the DMA queue engine.
//! * [`attach`], [`endpoint`]: what can be attached to a port.

pub mod attach;
pub mod endpoint;
pub mod hostmem;
pub mod nic;
pub mod queues;
pub mod runner;

pub use nic::SimNic;
pub use runner::{SimConfig, Simulator};
