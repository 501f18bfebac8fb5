//! vsnic host side: the driver of the vsnic SmartNIC (IPVS on an FPGA) and the daemon that is
//! its control plane, plus the pieces of `vsnicadm`, the ipvsadm-style CLI.
//!
//! * [`backend`] — the device-access trait (registers, DMA, interrupt) and an in-memory fake.
//! * [`driver`] — block discovery, exception and TX rings, table and counters.
//! * [`net`] — parsing exception frames, building ARP.
//! * [`service`] — virtual services and real servers; [`sched`] — the IPVS schedulers.
//! * [`state`] — the IPVS TCP state machine and timeouts; [`nicstate`] — per-entry NIC state.
//! * [`metrics`] — the Prometheus endpoint.
//! * [`conn`] — the connection table (source of truth) and its NIC entries.
//! * [`daemon`] — the event loop and exception handling; [`admission`] — its new-connection
//!   rate limit.
//! * [`control`] — the JSON-lines control socket.
//! * [`cli`] — `vsnicadm` argument parsing and output.
//! * [`simcfg`] — the simulator's settings for `vsnicd --backend sim` (`[sim]` and flags).
#![deny(unsafe_code)]

pub mod admission;
pub mod app;
pub mod appnat;
pub mod backend;
pub mod cli;
pub mod conn;
pub mod control;
pub mod daemon;
pub mod demo;
pub mod driver;
pub mod ftpdemo;
pub mod metrics;
pub mod net;
pub mod nicstate;
pub mod persist;
pub mod process;
pub mod sched;
pub mod service;
pub mod signals;
pub mod simcfg;
pub mod state;
pub mod tunnel;

pub use backend::{BackendError, DmaBuf, NicBackend};
pub use daemon::{Daemon, DaemonConfig, DaemonStats, PortConfig};
pub use driver::{Driver, ExceptionFrame, NicCounters, TxMode};
