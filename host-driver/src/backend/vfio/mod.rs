//! NIC backend over Linux VFIO: the host daemon owns the PCI function through vfio-pci, maps its
//! register BAR, maps host memory for DMA through the IOMMU and takes MSI-X vector 0 on an
//! eventfd.
//!
//! All OS interaction goes through [`sys::VfioSys`], so the same code runs against the kernel
//! ([`sys::LinuxVfio`]) or a simulation ([`fake::FakeVfio`]). Only `sys.rs` may use `unsafe`.
#![deny(unsafe_code)]

pub mod fake;
pub mod sys;
#[cfg(test)]
mod tests;

use std::io;
use std::sync::{RwLock, RwLockReadGuard};

use tokio::sync::watch;

use crate::backend::{BackendError, DmaBuf, NicBackend};
use sys::{BarIo, DmaIo, IrqWait, RegionInfo, Step, SysError, VfioSys};

pub use fake::{FakeDevice, FakeVfio};
pub use sys::LinuxVfio;

/// First IOVA handed out: above 4 GiB, clear of the x86 MSI window at 0xfee0_0000.
const IOVA_BASE: u64 = 1 << 32;
/// DMA mappings are made in whole pages.
const PAGE: usize = 4096;

/// Why a VFIO device could not be opened. Messages are meant for the operator.
#[derive(Debug, thiserror::Error)]
pub enum VfioError {
    #[error(
        "invalid PCI address {0:?}: expected domain:bus:device.function in hex, like 0000:03:00.0"
    )]
    BadBdf(String),
    #[error(
        "{bdf}: permission denied during {step}: the daemon must run as root (or own \
         /dev/vfio/vfio and /dev/vfio/<group> and have a large RLIMIT_MEMLOCK): {source}"
    )]
    Permission {
        bdf: String,
        step: Step,
        #[source]
        source: io::Error,
    },
    #[error("{bdf}: no such PCI device (no /sys/bus/pci/devices/{bdf}); check the address with `lspci -D`")]
    NoDevice { bdf: String },
    #[error(
        "{bdf}: device has no IOMMU group (no /sys/bus/pci/devices/{bdf}/iommu_group), so the \
         IOMMU is disabled: enable VT-d/AMD-Vi in firmware and boot with intel_iommu=on (Intel) \
         or amd_iommu=on (AMD)"
    )]
    NoIommuGroup { bdf: String },
    #[error("{bdf}: {}", driver_hint(bdf, driver.as_deref()))]
    WrongDriver { bdf: String, driver: Option<String> },
    #[error(
        "{bdf}: IOMMU group {group} is not viable: every device listed in \
         /sys/kernel/iommu_groups/{group}/devices must be bound to vfio-pci or unbound ({source})"
    )]
    GroupNotViable {
        bdf: String,
        group: u32,
        #[source]
        source: io::Error,
    },
    #[error("{bdf}: BAR{bar} cannot be mapped: {reason}")]
    BarNotMappable {
        bdf: String,
        bar: u32,
        reason: String,
    },
    #[error("{bdf}: {step}{note} failed: {source}")]
    Sys {
        bdf: String,
        step: Step,
        /// Extra context such as " for BAR0" or " for IOMMU group 7".
        note: String,
        #[source]
        source: io::Error,
    },
}

fn driver_hint(bdf: &str, driver: Option<&str>) -> String {
    let bind = format!(
        "`modprobe vfio-pci && echo vfio-pci > /sys/bus/pci/devices/{bdf}/driver_override && \
         echo {bdf} > /sys/bus/pci/drivers_probe` (or `driverctl set-override {bdf} vfio-pci`)"
    );
    match driver {
        None => format!("device is not bound to any driver; bind it to vfio-pci with {bind}"),
        Some(d) => format!(
            "device is bound to driver {d:?}, not vfio-pci; unbind it with `echo {bdf} > \
             /sys/bus/pci/devices/{bdf}/driver/unbind`, then bind it with {bind}"
        ),
    }
}

impl From<VfioError> for BackendError {
    fn from(e: VfioError) -> Self {
        match e {
            VfioError::Sys {
                bdf,
                step,
                note,
                source,
            } => BackendError::Io {
                context: format!("{bdf}: {step}{note} failed"),
                source,
            },
            VfioError::Permission { bdf, step, source } => BackendError::Io {
                context: format!("{bdf}: permission denied during {step} (run as root)"),
                source,
            },
            other => BackendError::Invalid(other.to_string()),
        }
    }
}

/// Checks `DDDD:BB:DD.F` (hex, device < 0x20, function < 8); returns it in sysfs' lower case.
pub fn parse_bdf(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() != 12 || b[4] != b':' || b[7] != b':' || b[10] != b'.' {
        return None;
    }
    let hex = |from: usize, to: usize| {
        let part = &s[from..to];
        part.bytes()
            .all(|c| c.is_ascii_hexdigit())
            .then(|| u32::from_str_radix(part, 16).ok())
            .flatten()
    };
    let (_dom, _bus, dev, func) = (hex(0, 4)?, hex(5, 7)?, hex(8, 10)?, hex(11, 12)?);
    (dev < 0x20 && func < 8).then(|| s.to_ascii_lowercase())
}

/// What is mapped while the backend is open. Field order is drop order: BAR, then the
/// device fd (releasing the group), then the container.
struct Live<S: VfioSys> {
    bar: S::Bar,
    /// Indexed by `DmaBuf::id`; `(mapping, length asked for)`.
    dma: Vec<Option<(S::Dma, usize)>>,
    next_iova: u64,
    /// Never read, but holding it keeps the device fd (and so the group) open.
    _device: S::Device,
    container: S::Container,
}

/// A NIC owned through VFIO. Dropping it (or [`VfioBackend::close`]) unmaps all DMA memory and
/// releases the device.
pub struct VfioBackend<S: VfioSys> {
    sys: S,
    bdf: String,
    bar: u32,
    live: RwLock<Option<Live<S>>>,
    irq: S::Irq,
    closed: watch::Sender<bool>,
}

impl<S: VfioSys> VfioBackend<S> {
    /// Opens PCI function `bdf` (e.g. `0000:03:00.0`) and maps register BAR `bar`.
    pub fn open(sys: S, bdf: &str, bar: u32) -> Result<Self, VfioError> {
        let bdf = parse_bdf(bdf).ok_or_else(|| VfioError::BadBdf(bdf.to_owned()))?;
        if bar > 5 {
            let reason = "only BAR0..BAR5 exist".to_owned();
            return Err(VfioError::BarNotMappable { bdf, bar, reason });
        }
        let fail = |group: u32| {
            let bdf = bdf.clone();
            move |e: SysError| classify(&bdf, group, bar, e)
        };
        sys.check_access().map_err(fail(0))?;
        let info = sys.pci_info(&bdf).map_err(fail(0))?;
        let info = info.ok_or_else(|| VfioError::NoDevice { bdf: bdf.clone() })?;
        let group = info
            .iommu_group
            .ok_or_else(|| VfioError::NoIommuGroup { bdf: bdf.clone() })?;
        if info.driver.as_deref() != Some("vfio-pci") {
            return Err(VfioError::WrongDriver {
                bdf,
                driver: info.driver,
            });
        }
        let container = sys.open_container().map_err(fail(group))?;
        let device = sys
            .open_device(&container, &bdf, group)
            .map_err(fail(group))?;

        let not_mappable = |reason: &str| VfioError::BarNotMappable {
            bdf: bdf.clone(),
            bar,
            reason: reason.to_owned(),
        };
        let region = sys.region_info(&device, bar).map_err(fail(group))?;
        if region.size == 0 {
            return Err(not_mappable(
                "region size is 0 (BAR not implemented by the device)",
            ));
        }
        if region.flags & RegionInfo::FLAG_MMAP == 0 {
            return Err(not_mappable(
                "region lacks the VFIO MMAP flag (I/O-port BAR?)",
            ));
        }
        if region.size < 4 || region.size > u64::from(u32::MAX) + 1 {
            return Err(not_mappable(&format!(
                "unsupported region size {:#x}",
                region.size
            )));
        }
        let bar_map = sys.map_bar(&device, bar, &region).map_err(fail(group))?;
        let irq = sys.enable_msix(&device).map_err(fail(group))?;

        Ok(VfioBackend {
            sys,
            bdf,
            bar,
            live: RwLock::new(Some(Live {
                bar: bar_map,
                dma: Vec::new(),
                next_iova: IOVA_BASE,
                _device: device,
                container,
            })),
            irq,
            closed: watch::Sender::new(false),
        })
    }

    pub fn bdf(&self) -> &str {
        &self.bdf
    }

    /// Size of the mapped register BAR in bytes (0 once closed).
    pub fn bar_size(&self) -> usize {
        self.live()
            .and_then(|g| g.as_ref().map(|l| l.bar.size()))
            .unwrap_or(0)
    }

    /// Unmaps every DMA buffer, unmaps the BAR and releases the device. Later calls fail with
    /// [`BackendError::Closed`]; pending `wait_irq` calls return it too. Idempotent.
    pub fn close(&self) -> Result<(), BackendError> {
        let live = self.live.write().unwrap_or_else(|p| p.into_inner()).take();
        self.closed.send_replace(true);
        let Some(mut live) = live else { return Ok(()) };
        let mut first_err = Ok(());
        for (dma, _) in live.dma.drain(..).flatten() {
            if let Err(e) = self.unmap(&live.container, dma) {
                first_err = first_err.and(Err(e));
            }
        }
        first_err
    }

    /// Unmaps one DMA buffer; its IOVA is not reused.
    pub fn dma_free(&self, buf: &DmaBuf) -> Result<(), BackendError> {
        let mut guard = self.live.write().unwrap_or_else(|p| p.into_inner());
        let live = guard.as_mut().ok_or(BackendError::Closed)?;
        let slot = live.dma.get_mut(buf.id).filter(|s| slot_is(s, buf));
        let (dma, _) = slot
            .and_then(Option::take)
            .ok_or_else(|| self.unknown(buf))?;
        self.unmap(&live.container, dma)
    }

    fn unmap(&self, container: &S::Container, dma: S::Dma) -> Result<(), BackendError> {
        let (iova, len) = (dma.iova(), dma.size());
        self.sys
            .dma_unmap(container, dma)
            .map_err(|e| BackendError::Io {
                context: format!("{}: {} of {len} bytes at IOVA {iova:#x}", self.bdf, e.step),
                source: e.source,
            })
    }

    fn live(&self) -> Option<RwLockReadGuard<'_, Option<Live<S>>>> {
        let guard = self.live.read().unwrap_or_else(|p| p.into_inner());
        guard.is_some().then_some(guard)
    }

    fn with_live<T>(
        &self,
        f: impl FnOnce(&Live<S>) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let guard = self.live().ok_or(BackendError::Closed)?;
        f(guard.as_ref().expect("checked by live()"))
    }

    fn reg_off(&self, live: &Live<S>, off: u32) -> Result<usize, BackendError> {
        let size = live.bar.size();
        if !off.is_multiple_of(4) || !sys::in_bounds(off as usize, 4, size) {
            return Err(BackendError::Invalid(format!(
                "{} BAR{}: register offset {off:#x} is unaligned or beyond the {size:#x}-byte BAR",
                self.bdf, self.bar
            )));
        }
        Ok(off as usize)
    }

    fn io_err(&self, what: String) -> impl FnOnce(io::Error) -> BackendError + '_ {
        move |source| BackendError::Io {
            context: format!("{}: {what}", self.bdf),
            source,
        }
    }

    fn unknown(&self, buf: &DmaBuf) -> BackendError {
        BackendError::Invalid(format!("{}: unknown or freed DMA buffer {buf:?}", self.bdf))
    }

    /// Finds `buf` and checks `[off, off+n)` lies inside it.
    fn dma_slot<'a>(
        &self,
        live: &'a Live<S>,
        buf: &DmaBuf,
        off: usize,
        n: usize,
    ) -> Result<&'a S::Dma, BackendError> {
        let slot = live.dma.get(buf.id).filter(|s| slot_is(s, buf));
        let (dma, _) = slot
            .and_then(Option::as_ref)
            .ok_or_else(|| self.unknown(buf))?;
        if !sys::in_bounds(off, n, buf.len) {
            return Err(BackendError::Invalid(format!(
                "{}: DMA access {off}+{n} beyond the {}-byte buffer at IOVA {:#x}",
                self.bdf, buf.len, buf.iova
            )));
        }
        Ok(dma)
    }
}

fn slot_is<D: DmaIo>(slot: &Option<(D, usize)>, buf: &DmaBuf) -> bool {
    slot.as_ref()
        .is_some_and(|(d, len)| d.iova() == buf.iova && *len == buf.len)
}

/// Turns a failed step of `open` into an operator-facing error.
fn classify(bdf: &str, group: u32, bar: u32, e: SysError) -> VfioError {
    let bdf = bdf.to_owned();
    let SysError { step, source } = e;
    if matches!(source.raw_os_error(), Some(libc::EPERM | libc::EACCES)) {
        return VfioError::Permission { bdf, step, source };
    }
    let note = match step {
        Step::GroupViable => return VfioError::GroupNotViable { bdf, group, source },
        Step::OpenGroup | Step::SetContainer | Step::SetIommu | Step::GetDeviceFd => {
            format!(" for IOMMU group {group}")
        }
        Step::RegionInfo | Step::MmapBar => format!(" for BAR{bar}"),
        Step::EnableMsix => " for MSI-X vector 0".to_owned(),
        _ => String::new(),
    };
    VfioError::Sys {
        bdf,
        step,
        note,
        source,
    }
}

impl<S: VfioSys> Drop for VfioBackend<S> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl<S: VfioSys> NicBackend for VfioBackend<S> {
    fn read32(&self, off: u32) -> Result<u32, BackendError> {
        self.with_live(|live| {
            let off = self.reg_off(live, off)?;
            let what = format!("BAR{} read at {off:#x}", self.bar);
            live.bar.read32(off).map_err(self.io_err(what))
        })
    }

    fn write32(&self, off: u32, val: u32) -> Result<(), BackendError> {
        self.with_live(|live| {
            let off = self.reg_off(live, off)?;
            let what = format!("BAR{} write at {off:#x}", self.bar);
            live.bar.write32(off, val).map_err(self.io_err(what))
        })
    }

    fn dma_alloc(&self, len: usize) -> Result<DmaBuf, BackendError> {
        let map_len = len
            .checked_next_multiple_of(PAGE)
            .filter(|&l| l > 0)
            .ok_or_else(|| BackendError::Invalid(format!("{}: bad DMA length {len}", self.bdf)))?;
        let mut guard = self.live.write().unwrap_or_else(|p| p.into_inner());
        let live = guard.as_mut().ok_or(BackendError::Closed)?;
        let iova = live.next_iova;
        let dma = self
            .sys
            .dma_map(&live.container, iova, map_len)
            .map_err(|e| BackendError::Io {
                context: format!(
                    "{}: {} of {map_len} bytes at IOVA {iova:#x}",
                    self.bdf, e.step
                ),
                source: e.source,
            })?;
        live.next_iova += map_len as u64;
        live.dma.push(Some((dma, len)));
        Ok(DmaBuf {
            id: live.dma.len() - 1,
            iova,
            len,
        })
    }

    fn dma_read(&self, buf: &DmaBuf, off: usize, out: &mut [u8]) -> Result<(), BackendError> {
        self.with_live(|live| {
            let what = format!("DMA read at IOVA {:#x}+{off}", buf.iova);
            let dma = self.dma_slot(live, buf, off, out.len())?;
            dma.read(off, out).map_err(self.io_err(what))
        })
    }

    fn dma_write(&self, buf: &DmaBuf, off: usize, data: &[u8]) -> Result<(), BackendError> {
        self.with_live(|live| {
            let what = format!("DMA write at IOVA {:#x}+{off}", buf.iova);
            let dma = self.dma_slot(live, buf, off, data.len())?;
            dma.write(off, data).map_err(self.io_err(what))
        })
    }

    async fn wait_irq(&self) -> Result<(), BackendError> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow_and_update() {
            return Err(BackendError::Closed);
        }
        tokio::select! {
            res = self.irq.wait() => res.map_err(self.io_err(format!("{}", Step::WaitIrq))),
            _ = closed.changed() => Err(BackendError::Closed),
        }
    }
}
