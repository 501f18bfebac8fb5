//! The simulator-in-another-process backend: the bundled simulator served by `vsnic-simd` on a
//! Unix socket ([`vsnic_sim::remote`]). The NIC then outlives the daemon, as a board does: this
//! is the backend for daemon restarts on the simulator.

use super::sim::sim_figures;
use super::{BackendError, DeviceFigure, DmaBuf, NicBackend};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;
use vsnic_sim::remote::{RemoteDevice, RemoteError};

pub struct SimdBackend {
    dev: RemoteDevice,
    irq: Arc<Notify>,
    closed: Arc<AtomicBool>,
}

fn err(context: &str, e: RemoteError) -> BackendError {
    match e {
        RemoteError::Io(source) | RemoteError::Connect { source, .. } => BackendError::Io {
            context: format!("simulator: {context}"),
            source,
        },
        other => BackendError::Invalid(format!("{context}: {other}")),
    }
}

impl SimdBackend {
    /// Attach to the simulator serving `socket`. A thread turns its interrupt bytes into
    /// wake-ups of [`NicBackend::wait_irq`].
    pub fn connect(socket: &Path) -> Result<SimdBackend, BackendError> {
        let dev = RemoteDevice::connect(socket).map_err(|e| err("attach", e))?;
        let irq = Arc::new(Notify::new());
        let closed = Arc::new(AtomicBool::new(false));
        let mut stream = dev
            .take_irq()
            .ok_or_else(|| BackendError::Invalid("no interrupt connection".into()))?;
        let (n, c) = (irq.clone(), closed.clone());
        std::thread::Builder::new()
            .name("vsnic-simd-irq".into())
            .spawn(move || {
                let mut b = [0u8; 256];
                while matches!(stream.read(&mut b), Ok(k) if k > 0) {
                    n.notify_one();
                }
                c.store(true, Ordering::SeqCst);
                n.notify_one();
            })
            .map_err(|source| BackendError::Io {
                context: "starting the interrupt thread".into(),
                source,
            })?;
        Ok(SimdBackend { dev, irq, closed })
    }
}

impl NicBackend for SimdBackend {
    fn read32(&self, off: u32) -> Result<u32, BackendError> {
        self.dev
            .read32(off)
            .map_err(|e| err(&format!("read {off:#x}"), e))
    }

    fn write32(&self, off: u32, val: u32) -> Result<(), BackendError> {
        self.dev
            .write32(off, val)
            .map_err(|e| err(&format!("write {off:#x}"), e))
    }

    fn write32_burst(&self, writes: &[(u32, u32)]) -> Result<(), BackendError> {
        self.dev
            .write32_burst(writes)
            .map_err(|e| err("register burst", e))
    }

    fn transact(
        &self,
        writes: &[(u32, u32)],
        reads: &[u32],
        out: &mut [u32],
    ) -> Result<(), BackendError> {
        self.dev
            .transact(writes, reads, out)
            .map_err(|e| err("register transaction", e))
    }

    fn dma_alloc(&self, len: usize) -> Result<DmaBuf, BackendError> {
        let (id, iova) = self
            .dev
            .dma_alloc(len)
            .map_err(|e| err("DMA allocation", e))?;
        Ok(DmaBuf {
            id: id as usize,
            iova,
            len,
        })
    }

    fn dma_read(&self, buf: &DmaBuf, off: usize, out: &mut [u8]) -> Result<(), BackendError> {
        self.dev
            .dma_read(buf.id as u64, off, out)
            .map_err(|e| err("DMA read", e))
    }

    fn dma_write(&self, buf: &DmaBuf, off: usize, data: &[u8]) -> Result<(), BackendError> {
        self.dev
            .dma_write(buf.id as u64, off, data)
            .map_err(|e| err("DMA write", e))
    }

    async fn wait_irq(&self) -> Result<(), BackendError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(BackendError::Closed);
        }
        self.irq.notified().await;
        if self.closed.load(Ordering::SeqCst) {
            return Err(BackendError::Closed);
        }
        Ok(())
    }

    fn device_figures(&self) -> Vec<DeviceFigure> {
        self.dev
            .stats()
            .map(|s| sim_figures(&s))
            .unwrap_or_default()
    }
}
