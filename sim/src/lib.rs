//! The bundled cycle simulator: vsnic's hw core (the RustHDL design itself, stepped cycle by
//! cycle), its MAC ports, the host queue engine and the register space, and attachments that
//! put traffic on the ports: TAP devices, pcap files and in-process smoltcp hosts.
//!
//! * [`nic::SimNic`]: the device, one `step()` per clock.
//! * [`runner::Simulator`]: the device running on its own thread, as the daemon uses it.
//! * [`hostmem`], [`queues`]: host memory and the DMA queue engine.
//! * [`attach`], [`endpoint`], [`tap`], [`pcap`]: what can be attached to a port;
//!   [`portspec`] parses attachments from command lines (`tap:NAME`, `pcap:IN,OUT`, ...).
//! * [`meter`]: live rates (cycles/s, frames/s) for status lines.
//! * [`vcd`]: a window of cycles of the core's signals, streamed to a VCD file.
//! * [`bench`]: a fixed vector set through the core (simulation speed, Verilator co-simulation).
//! * [`remote`]: the simulator as a device served to a daemon in another process (`vsnic-simd`).
#![forbid(unsafe_code)]

pub mod attach;
pub mod bench;
pub mod endpoint;
pub mod hostmem;
pub mod meter;
pub mod nic;
pub mod pcap;
pub mod portspec;
pub mod queues;
pub mod remote;
pub mod runner;
pub mod tap;
pub mod vcd;

pub use nic::SimNic;
pub use runner::{SimConfig, Simulator, VcdTrace};
