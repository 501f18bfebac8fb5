//! The device-access boundary: everything the driver needs from "a NIC" — BAR0 register access,
//! DMA-able host memory and the exception interrupt. Implemented by the VFIO backend (real
//! hardware), the simulator backend and [`fake::FakeNic`] (in-memory, for tests).

use serde::{Deserialize, Serialize};
use std::future::Future;

pub mod fake;
pub mod sim;
pub mod simd;
pub mod vfio;

/// A DMA buffer handed out by a backend: `id` names it to the backend, `iova` is the address the
/// device uses, `len` its size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaBuf {
    pub id: usize,
    pub iova: u64,
    pub len: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("backend is shut down")]
    Closed,
}

/// Access to one vsnic device.
///
/// Register offsets are byte offsets into BAR0 (4-byte aligned). DMA offsets are byte offsets into
/// the buffer. `wait_irq` completes once per interrupt on vector 0 (the exception queue); an
/// interrupt raised while nobody waits is remembered, so a waiter that arrives late still wakes.
pub trait NicBackend: Send + Sync + 'static {
    fn read32(&self, off: u32) -> Result<u32, BackendError>;
    fn write32(&self, off: u32, val: u32) -> Result<(), BackendError>;
    /// Several register writes, performed in order (a table entry's staging words and its
    /// command). Backends that can do them under one lock or one bus transaction override it;
    /// on an error, an unknown prefix of the writes has been done.
    fn write32_burst(&self, writes: &[(u32, u32)]) -> Result<(), BackendError> {
        writes
            .iter()
            .try_for_each(|&(off, val)| self.write32(off, val))
    }
    /// Register writes, then reads into `out` (one word per offset of `reads`), in order: a
    /// table read command and the words it loads. Backends that can do them under one lock or
    /// one round trip override it; on an error, an unknown prefix of the accesses has been done.
    fn transact(
        &self,
        writes: &[(u32, u32)],
        reads: &[u32],
        out: &mut [u32],
    ) -> Result<(), BackendError> {
        self.write32_burst(writes)?;
        for (w, &off) in out.iter_mut().zip(reads) {
            *w = self.read32(off)?;
        }
        Ok(())
    }
    fn dma_alloc(&self, len: usize) -> Result<DmaBuf, BackendError>;
    fn dma_read(&self, buf: &DmaBuf, off: usize, out: &mut [u8]) -> Result<(), BackendError>;
    fn dma_write(&self, buf: &DmaBuf, off: usize, data: &[u8]) -> Result<(), BackendError>;
    fn wait_irq(&self) -> impl Future<Output = Result<(), BackendError>> + Send;
    /// Figures the device offers beyond the contract's counter block (the simulator's cycles
    /// and port FIFOs, ...), for `vsnicadm --nic-stats` and the metrics. None by default.
    fn device_figures(&self) -> Vec<DeviceFigure> {
        Vec::new()
    }
}

/// One figure of a device, named like a Prometheus metric (without the `vsnic_` prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceFigure {
    pub name: String,
    /// Prometheus labels, e.g. `port="0"` (empty: none).
    #[serde(default)]
    pub labels: String,
    pub help: String,
    /// A monotonic counter (else a gauge).
    pub counter: bool,
    pub value: u64,
}

impl DeviceFigure {
    pub fn counter(name: &str, labels: String, help: &str, value: u64) -> DeviceFigure {
        DeviceFigure {
            name: name.into(),
            labels,
            help: help.into(),
            counter: true,
            value,
        }
    }

    pub fn gauge(name: &str, help: &str, value: u64) -> DeviceFigure {
        DeviceFigure {
            name: name.into(),
            labels: String::new(),
            help: help.into(),
            counter: false,
            value,
        }
    }
}
