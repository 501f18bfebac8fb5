//! The simulator backend: the daemon drives the bundled cycle simulator exactly as it drives a
//! board — registers, DMA memory and the interrupt, nothing else.

use super::{BackendError, DmaBuf, NicBackend};
use std::sync::Arc;
use tokio::sync::Notify;
use vsnic_sim::Simulator;

pub struct SimBackend {
    sim: Arc<Simulator>,
    irq: Arc<Notify>,
}

impl SimBackend {
    /// Attach to a running simulator (takes over its interrupt handler).
    pub fn new(sim: Arc<Simulator>) -> SimBackend {
        let irq = Arc::new(Notify::new());
        let n = irq.clone();
        sim.set_irq_handler(move || n.notify_one());
        SimBackend { sim, irq }
    }

    pub fn simulator(&self) -> &Arc<Simulator> {
        &self.sim
    }
}

fn check(off: u32) -> Result<(), BackendError> {
    if !off.is_multiple_of(4) || off >= 0x1_0000 {
        return Err(BackendError::Invalid(format!(
            "register offset {off:#x} is not an aligned BAR offset"
        )));
    }
    Ok(())
}

impl NicBackend for SimBackend {
    fn read32(&self, off: u32) -> Result<u32, BackendError> {
        check(off)?;
        Ok(self.sim.with_nic(|n| n.read32(off)))
    }

    fn write32(&self, off: u32, val: u32) -> Result<(), BackendError> {
        check(off)?;
        self.sim.with_nic(|n| n.write32(off, val));
        Ok(())
    }

    fn dma_alloc(&self, len: usize) -> Result<DmaBuf, BackendError> {
        if len == 0 || len > 1 << 30 {
            return Err(BackendError::Invalid(format!("DMA buffer of {len} bytes")));
        }
        let (id, iova) = self.sim.with_nic(|n| n.mem.alloc(len));
        Ok(DmaBuf { id, iova, len })
    }

    fn dma_read(&self, buf: &DmaBuf, off: usize, out: &mut [u8]) -> Result<(), BackendError> {
        self.sim
            .with_nic(|n| n.mem.host_read(buf.id, off, out))
            .ok_or_else(|| {
                BackendError::Invalid(format!(
                    "DMA read of {} bytes at {off} outside buffer {}",
                    out.len(),
                    buf.id
                ))
            })
    }

    fn dma_write(&self, buf: &DmaBuf, off: usize, data: &[u8]) -> Result<(), BackendError> {
        self.sim
            .with_nic(|n| n.mem.host_write(buf.id, off, data))
            .ok_or_else(|| {
                BackendError::Invalid(format!(
                    "DMA write of {} bytes at {off} outside buffer {}",
                    data.len(),
                    buf.id
                ))
            })
    }

    async fn wait_irq(&self) -> Result<(), BackendError> {
        self.irq.notified().await;
        Ok(())
    }
}
