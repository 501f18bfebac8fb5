//! The system-call layer of the VFIO backend: the [`VfioSys`] trait and its Linux implementation.
//!
//! This file is the only place in `vfio/` allowed to use `unsafe`; every unsafe block carries a
//! `// SAFETY:` comment. The fake used by tests lives in `fake.rs` and is entirely safe code.
#![allow(unsafe_code)]

use std::fmt;
use std::fs::OpenOptions;
use std::future::Future;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::OnceCell;
use vfio_bindings::bindings::vfio::{
    VFIO_PCI_MSIX_IRQ_INDEX, VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ,
    VFIO_REGION_INFO_FLAG_WRITE,
};
use vfio_ioctls::{VfioContainer, VfioDevice, VfioError as IoctlError};
use vmm_sys_util::eventfd::EventFd;

/// One step of bringing up or using a VFIO device; named after the syscall/ioctl it performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Privilege check (euid 0, or read/write access to `/dev/vfio/vfio`).
    Access,
    /// Reading `/sys/bus/pci/devices/<BDF>/{iommu_group,driver}`.
    Sysfs,
    /// Opening `/dev/vfio/vfio` and checking API version / type1v2 support.
    OpenContainer,
    /// Opening `/dev/vfio/<group>`.
    OpenGroup,
    /// `VFIO_GROUP_GET_STATUS`: the group must be viable.
    GroupViable,
    /// `VFIO_GROUP_SET_CONTAINER`.
    SetContainer,
    /// `VFIO_SET_IOMMU` (type1v2).
    SetIommu,
    /// `VFIO_GROUP_GET_DEVICE_FD`.
    GetDeviceFd,
    /// `VFIO_DEVICE_GET_INFO` / `VFIO_DEVICE_GET_REGION_INFO` / `VFIO_DEVICE_GET_IRQ_INFO`.
    RegionInfo,
    /// `mmap` of the BAR region through the device fd.
    MmapBar,
    /// Anonymous host memory allocation for DMA.
    DmaAlloc,
    /// `VFIO_IOMMU_MAP_DMA`.
    DmaMap,
    /// `VFIO_IOMMU_UNMAP_DMA`.
    DmaUnmap,
    /// eventfd creation + `VFIO_DEVICE_SET_IRQS` (MSI-X vector 0).
    EnableMsix,
    /// Waiting on / reading the interrupt eventfd.
    WaitIrq,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Access => "access check",
            Step::Sysfs => "sysfs lookup",
            Step::OpenContainer => "open /dev/vfio/vfio",
            Step::OpenGroup => "open /dev/vfio/<group>",
            Step::GroupViable => "VFIO_GROUP_GET_STATUS",
            Step::SetContainer => "VFIO_GROUP_SET_CONTAINER",
            Step::SetIommu => "VFIO_SET_IOMMU",
            Step::GetDeviceFd => "VFIO_GROUP_GET_DEVICE_FD",
            Step::RegionInfo => "VFIO_DEVICE_GET_REGION_INFO",
            Step::MmapBar => "mmap BAR",
            Step::DmaAlloc => "allocate DMA memory",
            Step::DmaMap => "VFIO_IOMMU_MAP_DMA",
            Step::DmaUnmap => "VFIO_IOMMU_UNMAP_DMA",
            Step::EnableMsix => "VFIO_DEVICE_SET_IRQS (MSI-X)",
            Step::WaitIrq => "wait on interrupt eventfd",
        })
    }
}

/// A failed step, with the OS error (errno) behind it.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {source}")]
pub struct SysError {
    pub step: Step,
    #[source]
    pub source: io::Error,
}

impl SysError {
    pub fn new(step: Step, source: io::Error) -> Self {
        SysError { step, source }
    }
    pub fn errno(step: Step, errno: i32) -> Self {
        SysError::new(step, io::Error::from_raw_os_error(errno))
    }
}

/// What sysfs says about a PCI function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PciInfo {
    /// `None` when the `iommu_group` link is missing (IOMMU disabled).
    pub iommu_group: Option<u32>,
    /// Name of the bound driver, `None` when unbound.
    pub driver: Option<String>,
}

/// `VFIO_DEVICE_GET_REGION_INFO` result for one region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    pub flags: u32,
    pub size: u64,
    pub offset: u64,
}

impl RegionInfo {
    pub const FLAG_READ: u32 = VFIO_REGION_INFO_FLAG_READ;
    pub const FLAG_WRITE: u32 = VFIO_REGION_INFO_FLAG_WRITE;
    pub const FLAG_MMAP: u32 = VFIO_REGION_INFO_FLAG_MMAP;
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

/// Whether `[off, off+n)` lies inside a region of `size` bytes.
pub(crate) fn in_bounds(off: usize, n: usize, size: usize) -> bool {
    off.checked_add(n).is_some_and(|end| end <= size)
}

/// 32-bit register access to a mapped BAR. Implementations check bounds and alignment.
pub trait BarIo: Send + Sync + 'static {
    fn size(&self) -> usize;
    fn read32(&self, off: usize) -> io::Result<u32>;
    fn write32(&self, off: usize, val: u32) -> io::Result<()>;
}

/// Host memory mapped for device DMA. Implementations check bounds.
pub trait DmaIo: Send + Sync + 'static {
    fn iova(&self) -> u64;
    fn size(&self) -> usize;
    fn read(&self, off: usize, out: &mut [u8]) -> io::Result<()>;
    fn write(&self, off: usize, data: &[u8]) -> io::Result<()>;
}

/// An interrupt source. `wait` must be cancel-safe: dropping it never loses an interrupt.
pub trait IrqWait: Send + Sync + 'static {
    fn wait(&self) -> impl Future<Output = io::Result<()>> + Send;
}

/// Every OS operation the VFIO backend performs, so that it can run against a fake.
pub trait VfioSys: Send + Sync + 'static {
    type Container: Send + Sync + 'static;
    type Device: Send + Sync + 'static;
    type Bar: BarIo;
    type Dma: DmaIo;
    type Irq: IrqWait;

    /// Fails with EPERM/EACCES when the process may not use VFIO.
    fn check_access(&self) -> Result<(), SysError>;
    /// `Ok(None)` when no such PCI device exists.
    fn pci_info(&self, bdf: &str) -> Result<Option<PciInfo>, SysError>;
    fn open_container(&self) -> Result<Self::Container, SysError>;
    /// Opens the group, checks it is viable, attaches it to the container (setting the type1v2
    /// IOMMU) and gets the device fd.
    fn open_device(
        &self,
        c: &Self::Container,
        bdf: &str,
        group: u32,
    ) -> Result<Self::Device, SysError>;
    fn region_info(&self, d: &Self::Device, index: u32) -> Result<RegionInfo, SysError>;
    fn map_bar(
        &self,
        d: &Self::Device,
        index: u32,
        info: &RegionInfo,
    ) -> Result<Self::Bar, SysError>;
    /// Allocates `len` zeroed bytes of host memory and maps them at `iova` (read+write).
    fn dma_map(&self, c: &Self::Container, iova: u64, len: usize) -> Result<Self::Dma, SysError>;
    fn dma_unmap(&self, c: &Self::Container, dma: Self::Dma) -> Result<(), SysError>;
    /// Routes MSI-X vector 0 of the device to a new interrupt source.
    fn enable_msix(&self, d: &Self::Device) -> Result<Self::Irq, SysError>;
}

// ---------------------------------------------------------------------------------------------
// Linux implementation
// ---------------------------------------------------------------------------------------------

/// The real thing: sysfs, `/dev/vfio`, ioctls through `vfio-ioctls`, mappings through `memmap2`.
#[derive(Debug, Clone)]
pub struct LinuxVfio {
    sysfs_pci: PathBuf,
}

impl Default for LinuxVfio {
    fn default() -> Self {
        LinuxVfio {
            sysfs_pci: PathBuf::from("/sys/bus/pci/devices"),
        }
    }
}

impl LinuxVfio {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Maps a `vfio-ioctls` error to the step it belongs to. That crate drops the errno of a few
/// ioctls (group status, set container, irq setup); those become `ErrorKind::Other`.
fn ioctl_err(fallback: Step, e: IoctlError) -> SysError {
    let os = |se: vmm_sys_util::errno::Error| io::Error::from_raw_os_error(se.errno());
    let other = |e: &IoctlError| io::Error::other(e.to_string());
    match e {
        IoctlError::OpenContainer(io) => SysError::new(Step::OpenContainer, io),
        IoctlError::OpenGroup(io, _) => SysError::new(Step::OpenGroup, io),
        IoctlError::GetGroupStatus | IoctlError::GroupViable => {
            SysError::new(Step::GroupViable, other(&e))
        }
        IoctlError::GroupSetContainer => SysError::new(Step::SetContainer, other(&e)),
        IoctlError::ContainerSetIOMMU(se) => SysError::new(Step::SetIommu, os(se)),
        IoctlError::GroupGetDeviceFD(se) => SysError::new(Step::GetDeviceFd, os(se)),
        IoctlError::VfioDeviceGetInfo(se) | IoctlError::VfioDeviceGetRegionInfo(se) => {
            SysError::new(Step::RegionInfo, os(se))
        }
        IoctlError::IommuDmaMap(se) => SysError::new(Step::DmaMap, os(se)),
        IoctlError::IommuDmaUnmap(se) => SysError::new(Step::DmaUnmap, os(se)),
        IoctlError::InvalidPath => SysError::errno(Step::Sysfs, libc::ENOENT),
        _ => SysError::new(fallback, other(&e)),
    }
}

/// Reads the last component of a symlink; `Ok(None)` if the link does not exist.
fn link_name(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read_link(path) {
        Ok(target) => Ok(target.file_name().map(|n| n.to_string_lossy().into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub struct LinuxContainer(Arc<VfioContainer>);
pub struct LinuxDevice(VfioDevice);

/// A BAR mapped `MAP_SHARED` from the device fd; all access is volatile.
pub struct MmioBar {
    map: MmapRaw,
}

impl BarIo for MmioBar {
    fn size(&self) -> usize {
        self.map.len()
    }
    fn read32(&self, off: usize) -> io::Result<u32> {
        if !off.is_multiple_of(4) || !in_bounds(off, 4, self.map.len()) {
            return Err(invalid(format!("register offset {off:#x} out of BAR")));
        }
        // SAFETY: the mapping is live for `self`'s lifetime, `off..off+4` is inside it (checked
        // above) and 4-byte aligned (the mapping is page aligned); volatile because it is MMIO.
        Ok(unsafe { std::ptr::read_volatile(self.map.as_ptr().add(off).cast::<u32>()) })
    }
    fn write32(&self, off: usize, val: u32) -> io::Result<()> {
        if !off.is_multiple_of(4) || !in_bounds(off, 4, self.map.len()) {
            return Err(invalid(format!("register offset {off:#x} out of BAR")));
        }
        // SAFETY: as in `read32`; the mapping is PROT_WRITE and we never form a reference to it.
        unsafe { std::ptr::write_volatile(self.map.as_mut_ptr().add(off).cast::<u32>(), val) };
        Ok(())
    }
}

/// Anonymous, zero-filled host memory pinned and mapped into the IOMMU by `VFIO_IOMMU_MAP_DMA`.
pub struct HostDma {
    map: MmapRaw,
    iova: u64,
}

impl DmaIo for HostDma {
    fn iova(&self) -> u64 {
        self.iova
    }
    fn size(&self) -> usize {
        self.map.len()
    }
    fn read(&self, off: usize, out: &mut [u8]) -> io::Result<()> {
        if !in_bounds(off, out.len(), self.map.len()) {
            return Err(invalid(format!(
                "DMA read {off}+{} out of buffer",
                out.len()
            )));
        }
        // Order the copy after earlier device-visible accesses (e.g. a status register read).
        fence(Ordering::SeqCst);
        // SAFETY: source range is inside the live mapping (checked above) and cannot overlap
        // `out`, which is ordinary Rust memory. No reference to the mapping is formed, because
        // the device may write to it concurrently.
        unsafe {
            std::ptr::copy_nonoverlapping(self.map.as_ptr().add(off), out.as_mut_ptr(), out.len())
        };
        Ok(())
    }
    fn write(&self, off: usize, data: &[u8]) -> io::Result<()> {
        if !in_bounds(off, data.len(), self.map.len()) {
            return Err(invalid(format!(
                "DMA write {off}+{} out of buffer",
                data.len()
            )));
        }
        // SAFETY: destination range is inside the live, writable mapping (checked above) and
        // cannot overlap `data`; no reference to the mapping is formed.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.map.as_mut_ptr().add(off), data.len())
        };
        // Make the data visible before a later doorbell write.
        fence(Ordering::SeqCst);
        Ok(())
    }
}

/// MSI-X vector 0 signalled through a non-blocking eventfd. The tokio registration is made
/// lazily on first wait, so `open` does not need to run inside a runtime.
pub struct EventIrq {
    efd: EventFd,
    async_fd: OnceCell<AsyncFd<EventFd>>,
}

impl IrqWait for EventIrq {
    async fn wait(&self) -> io::Result<()> {
        let afd = self
            .async_fd
            .get_or_try_init(|| async {
                let efd = self.efd.try_clone()?;
                // SAFETY: `EventFd` owns its descriptor, keeps it open until dropped and always
                // returns the same one from `as_raw_fd`, and the `AsyncFd` owns the `EventFd`.
                unsafe { AsyncFd::register_with_interest(efd, Interest::READABLE) }
                    .map_err(io::Error::from)
            })
            .await?;
        loop {
            let mut ready = afd.readable().await?;
            // Reading resets the eventfd counter; coalesced interrupts count as one wake-up.
            match ready.try_io(|fd| fd.get_ref().read()) {
                Ok(res) => return res.map(drop),
                Err(_would_block) => continue,
            }
        }
    }
}

impl VfioSys for LinuxVfio {
    type Container = LinuxContainer;
    type Device = LinuxDevice;
    type Bar = MmioBar;
    type Dma = HostDma;
    type Irq = EventIrq;

    fn check_access(&self) -> Result<(), SysError> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            return Ok(());
        }
        // Not root: VFIO may still be usable if we were given the device nodes.
        OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/vfio/vfio")
            .map(drop)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EACCES | libc::EPERM) => SysError::new(Step::Access, e),
                _ => SysError::new(Step::OpenContainer, e),
            })
    }

    fn pci_info(&self, bdf: &str) -> Result<Option<PciInfo>, SysError> {
        let dev = self.sysfs_pci.join(bdf);
        match std::fs::symlink_metadata(&dev) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SysError::new(Step::Sysfs, e)),
            Ok(_) => {}
        }
        let sysfs = |e| SysError::new(Step::Sysfs, e);
        let group = link_name(&dev.join("iommu_group")).map_err(sysfs)?;
        let iommu_group = match group {
            None => None,
            Some(g) => Some(g.parse().map_err(|_| {
                sysfs(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("iommu_group link points at {g:?}"),
                ))
            })?),
        };
        let driver = link_name(&dev.join("driver")).map_err(sysfs)?;
        Ok(Some(PciInfo {
            iommu_group,
            driver,
        }))
    }

    fn open_container(&self) -> Result<LinuxContainer, SysError> {
        VfioContainer::new(None)
            .map(|c| LinuxContainer(Arc::new(c)))
            .map_err(|e| ioctl_err(Step::OpenContainer, e))
    }

    fn open_device(
        &self,
        c: &LinuxContainer,
        bdf: &str,
        _group: u32,
    ) -> Result<LinuxDevice, SysError> {
        // vfio-ioctls re-reads the group from sysfs, opens and attaches it, then gets the fd.
        // `attach_ioas` only matters for iommufd; we use the legacy type1 container.
        VfioDevice::new(&self.sysfs_pci.join(bdf), c.0.clone(), false)
            .map(LinuxDevice)
            .map_err(|e| ioctl_err(Step::GetDeviceFd, e))
    }

    fn region_info(&self, d: &LinuxDevice, index: u32) -> Result<RegionInfo, SysError> {
        // vfio-ioctls fetched all region infos when the device was opened.
        Ok(RegionInfo {
            flags: d.0.get_region_flags(index),
            size: d.0.get_region_size(index),
            offset: d.0.get_region_offset(index),
        })
    }

    fn map_bar(
        &self,
        d: &LinuxDevice,
        _index: u32,
        info: &RegionInfo,
    ) -> Result<MmioBar, SysError> {
        let len = usize::try_from(info.size)
            .map_err(|_| SysError::errno(Step::MmapBar, libc::EOVERFLOW))?;
        MmapOptions::new()
            .offset(info.offset)
            .len(len)
            .map_raw(d.0.as_raw_fd())
            .map(|map| MmioBar { map })
            .map_err(|e| SysError::new(Step::MmapBar, e))
    }

    fn dma_map(&self, c: &LinuxContainer, iova: u64, len: usize) -> Result<HostDma, SysError> {
        let map: MmapRaw = MmapOptions::new()
            .len(len)
            .map_anon()
            .map_err(|e| SysError::new(Step::DmaAlloc, e))?
            .into();
        // SAFETY: `map` is a fresh private anonymous mapping of `len` bytes that lives as long as
        // the returned `HostDma`, which unmaps the IOVA before freeing it (or leaks it if the
        // unmap fails). It is only ever accessed through raw pointers (`copy_nonoverlapping`),
        // never through a Rust reference, as required while the device can DMA into it.
        unsafe { c.0.vfio_dma_map(iova, len, map.as_mut_ptr()) }
            .map_err(|e| ioctl_err(Step::DmaMap, e))?;
        Ok(HostDma { map, iova })
    }

    fn dma_unmap(&self, c: &LinuxContainer, dma: HostDma) -> Result<(), SysError> {
        // On failure the memory stays pinned by the kernel, so keep our mapping alive too
        // rather than hand the pages back to the allocator while the device can reach them.
        c.0.vfio_dma_unmap(dma.iova, dma.map.len()).map_err(|e| {
            std::mem::forget(dma);
            ioctl_err(Step::DmaUnmap, e)
        })
    }

    fn enable_msix(&self, d: &LinuxDevice) -> Result<EventIrq, SysError> {
        let efd = EventFd::new(libc::EFD_NONBLOCK | libc::EFD_CLOEXEC)
            .map_err(|e| SysError::new(Step::EnableMsix, e))?;
        if d.0
            .get_irq_info(VFIO_PCI_MSIX_IRQ_INDEX)
            .is_none_or(|i| i.count == 0)
        {
            return Err(SysError::errno(Step::EnableMsix, libc::ENODEV));
        }
        d.0.enable_msix(vec![&efd])
            .map_err(|e| ioctl_err(Step::EnableMsix, e))?;
        Ok(EventIrq {
            efd,
            async_fd: OnceCell::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    //! The unsafe pieces of the Linux layer, exercised on anonymous memory and a bare eventfd.
    use super::*;
    use std::time::Duration;

    fn anon(len: usize) -> MmapRaw {
        MmapOptions::new().len(len).map_anon().unwrap().into()
    }

    #[test]
    fn mmio_bar_bounds_and_access() {
        let bar = MmioBar { map: anon(4096) };
        bar.write32(4092, 0x1234_5678).unwrap();
        assert_eq!(bar.read32(4092).unwrap(), 0x1234_5678);
        assert_eq!(bar.read32(0).unwrap(), 0);
        for off in [2, 4096, usize::MAX - 1] {
            assert!(bar.read32(off).is_err() && bar.write32(off, 0).is_err());
        }
    }

    #[test]
    fn host_dma_bounds_and_access() {
        let dma = HostDma {
            map: anon(4096),
            iova: 1 << 32,
        };
        dma.write(4090, b"abcdef").unwrap();
        let mut out = [0u8; 6];
        dma.read(4090, &mut out).unwrap();
        assert_eq!(&out, b"abcdef");
        assert!(dma.write(4091, b"abcdef").is_err());
        assert!(dma.read(usize::MAX, &mut out).is_err());
    }

    #[tokio::test]
    async fn eventfd_irq_wakes_and_is_cancel_safe() {
        let efd = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        let irq = EventIrq {
            efd: efd.try_clone().unwrap(),
            async_fd: OnceCell::new(),
        };
        let quiet = tokio::time::timeout(Duration::from_millis(10), irq.wait()).await;
        assert!(quiet.is_err());
        efd.write(1).unwrap();
        efd.write(1).unwrap();
        tokio::time::timeout(Duration::from_secs(5), irq.wait())
            .await
            .unwrap()
            .unwrap();
        // Both writes were coalesced into the one wake-up above.
        let again = tokio::time::timeout(Duration::from_millis(10), irq.wait()).await;
        assert!(again.is_err());
    }
}
