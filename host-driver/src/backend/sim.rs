//! The simulator backend: the daemon drives the bundled cycle simulator exactly as it drives a
//! board — registers, DMA memory and the interrupt, nothing else.

use super::{BackendError, DeviceFigure, DmaBuf, NicBackend};
use std::sync::Arc;
use tokio::sync::Notify;
use vsnic_sim::nic::SimStats;
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

    fn write32_burst(&self, writes: &[(u32, u32)]) -> Result<(), BackendError> {
        self.transact(writes, &[], &mut [])
    }

    fn transact(
        &self,
        writes: &[(u32, u32)],
        reads: &[u32],
        out: &mut [u32],
    ) -> Result<(), BackendError> {
        writes.iter().try_for_each(|&(off, _)| check(off))?;
        reads.iter().try_for_each(|&off| check(off))?;
        self.sim.with_nic(|n| {
            for &(off, val) in writes {
                n.write32(off, val);
            }
            for (w, &off) in out.iter_mut().zip(reads) {
                *w = n.read32(off);
            }
        });
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

    fn device_figures(&self) -> Vec<DeviceFigure> {
        sim_figures(&self.sim.stats())
    }
}

/// The simulator's live figures as device figures.
pub fn sim_figures(s: &SimStats) -> Vec<DeviceFigure> {
    let busy = s.clocking_time.as_secs_f64();
    let speed = if busy > 0.0 {
        (s.cycles as f64 / busy) as u64
    } else {
        0
    };
    let mut v = vec![
        DeviceFigure::counter(
            "sim_cycles_total",
            String::new(),
            "Core cycles simulated.",
            s.cycles,
        ),
        DeviceFigure::counter(
            "sim_clocking_microseconds_total",
            String::new(),
            "Real time spent clocking the core.",
            s.clocking_time.as_micros() as u64,
        ),
        DeviceFigure::gauge(
            "sim_cycles_per_second",
            "Simulated cycles per second of real time while clocking.",
            speed,
        ),
    ];
    let ports = [
        (
            "sim_port_rx_frames_total",
            "Frames received from the wire, per port.",
            &s.rx_frames,
        ),
        (
            "sim_port_tx_frames_total",
            "Frames sent to the wire, per port.",
            &s.tx_frames,
        ),
        (
            "sim_port_rx_overflow_total",
            "Frames dropped because the port's RX FIFO was full.",
            &s.rx_overflow,
        ),
    ];
    for (name, help, per_port) in ports {
        for (i, n) in per_port.iter().enumerate() {
            v.push(DeviceFigure::counter(
                name,
                format!("port=\"{i}\""),
                help,
                *n,
            ));
        }
    }
    for (name, help, n) in [
        (
            "sim_host_tx_frames_total",
            "Frames the host queued for transmission.",
            s.host_tx_frames,
        ),
        (
            "sim_exceptions_total",
            "Exceptions the core sent to the queue engine.",
            s.exceptions,
        ),
        ("sim_irqs_total", "Interrupts raised.", s.irqs),
        (
            "sim_dma_faults_total",
            "DMA accesses outside host buffers.",
            s.dma_faults,
        ),
        (
            "sim_exception_ring_drops_total",
            "Exceptions dropped: ring full or not configured.",
            s.exc_ring_drops,
        ),
        (
            "sim_tx_bad_descriptors_total",
            "Host TX descriptors refused.",
            s.tx_bad_desc,
        ),
    ] {
        v.push(DeviceFigure::counter(name, String::new(), help, n));
    }
    v
}
