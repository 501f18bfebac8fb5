//! An in-memory [`VfioSys`] for tests: simulated PCI devices, IOMMU groups, BARs (a `Vec<u32>`
//! with an optional write hook), DMA mappings and interrupts. Any step can be made to fail with a
//! chosen errno via [`FakeVfio::fail`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use super::sys::{in_bounds, BarIo, DmaIo, IrqWait, PciInfo, RegionInfo, Step, SysError, VfioSys};

/// Registers of one simulated BAR.
type Regs = Arc<Mutex<Vec<u32>>>;

/// Called after every register write, outside the fake's locks: `(fake, bar index, off, val)`.
/// It may poke registers, DMA memory or fire the interrupt to play the device's part.
pub type WriteHook = Arc<dyn Fn(&FakeVfio, u32, u32, u32) + Send + Sync>;

/// A simulated PCI function.
#[derive(Clone)]
pub struct FakeDevice {
    pub iommu_group: Option<u32>,
    pub driver: Option<String>,
    pub viable: bool,
    /// BAR index -> (region flags, registers).
    bars: HashMap<u32, (u32, Regs)>,
    hook: Option<WriteHook>,
    irq: Arc<FakeIrq>,
}

impl FakeDevice {
    /// A viable device in `group`, bound to vfio-pci, with no BARs yet.
    pub fn new(group: u32) -> Self {
        FakeDevice {
            iommu_group: Some(group),
            driver: Some("vfio-pci".into()),
            viable: true,
            bars: HashMap::new(),
            hook: None,
            irq: Arc::default(),
        }
    }
    /// Adds a readable, writable, mmap-able BAR of `bytes` bytes (rounded down to 4).
    pub fn with_bar(self, index: u32, bytes: usize) -> Self {
        let flags = RegionInfo::FLAG_READ | RegionInfo::FLAG_WRITE | RegionInfo::FLAG_MMAP;
        self.with_region(index, flags, bytes)
    }
    /// Adds a BAR with explicit region flags.
    pub fn with_region(mut self, index: u32, flags: u32, bytes: usize) -> Self {
        let regs = Arc::new(Mutex::new(vec![0; bytes / 4]));
        self.bars.insert(index, (flags, regs));
        self
    }
    pub fn with_driver(mut self, driver: Option<&str>) -> Self {
        self.driver = driver.map(str::to_owned);
        self
    }
    pub fn without_iommu(mut self) -> Self {
        self.iommu_group = None;
        self
    }
    pub fn not_viable(mut self) -> Self {
        self.viable = false;
        self
    }
    pub fn on_write(
        mut self,
        hook: impl Fn(&FakeVfio, u32, u32, u32) + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }
}

#[derive(Default)]
struct State {
    devices: HashMap<String, FakeDevice>,
    fail: HashMap<Step, i32>,
    open_groups: HashSet<u32>,
    dma: BTreeMap<u64, Arc<Mutex<Vec<u8>>>>,
}

/// Cheap to clone; clones share state, so a test keeps one to drive the "hardware".
#[derive(Clone, Default)]
pub struct FakeVfio {
    state: Arc<Mutex<State>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeVfio {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn with_device(self, bdf: &str, dev: FakeDevice) -> Self {
        lock(&self.state).devices.insert(bdf.to_owned(), dev);
        self
    }
    /// Makes `step` fail with `errno` until [`FakeVfio::clear_fail`].
    pub fn fail(&self, step: Step, errno: i32) {
        lock(&self.state).fail.insert(step, errno);
    }
    pub fn clear_fail(&self, step: Step) {
        lock(&self.state).fail.remove(&step);
    }
    fn check(&self, step: Step) -> Result<(), SysError> {
        match lock(&self.state).fail.get(&step) {
            Some(&errno) => Err(SysError::errno(step, errno)),
            None => Ok(()),
        }
    }
    fn device(&self, bdf: &str) -> Option<FakeDevice> {
        lock(&self.state).devices.get(bdf).cloned()
    }
    fn regs(&self, bdf: &str, bar: u32) -> Regs {
        let dev = self.device(bdf).expect("no such fake device");
        dev.bars.get(&bar).expect("no such fake BAR").1.clone()
    }

    /// Reads a register of a device's BAR, as the hardware sees it.
    pub fn reg(&self, bdf: &str, bar: u32, off: u32) -> u32 {
        lock(&self.regs(bdf, bar))[off as usize / 4]
    }
    /// Sets a register of a device's BAR (e.g. a status the driver will read).
    pub fn set_reg(&self, bdf: &str, bar: u32, off: u32, val: u32) {
        lock(&self.regs(bdf, bar))[off as usize / 4] = val;
    }
    /// Raises MSI-X vector 0 of `bdf` (like the kernel signalling the eventfd).
    pub fn fire_irq(&self, bdf: &str) {
        self.device(bdf).expect("no such fake device").irq.fire();
    }
    /// Currently mapped DMA windows, as `(iova, len)`.
    pub fn dma_mappings(&self) -> Vec<(u64, usize)> {
        let st = lock(&self.state);
        st.dma
            .iter()
            .map(|(&iova, m)| (iova, lock(m).len()))
            .collect()
    }
    fn dma_at(&self, iova: u64, len: usize) -> Option<(Arc<Mutex<Vec<u8>>>, usize)> {
        let st = lock(&self.state);
        let (&base, mem) = st.dma.range(..=iova).next_back()?;
        let off = usize::try_from(iova - base).ok()?;
        let size = lock(mem).len();
        in_bounds(off, len, size).then(|| (mem.clone(), off))
    }
    /// Device-side DMA read; `None` if `[iova, iova+len)` is not inside one mapping.
    pub fn dma_read_iova(&self, iova: u64, len: usize) -> Option<Vec<u8>> {
        let (mem, off) = self.dma_at(iova, len)?;
        let data = lock(&mem)[off..off + len].to_vec();
        Some(data)
    }
    /// Device-side DMA write; `false` if the range is not inside one mapping (an IOMMU fault).
    pub fn dma_write_iova(&self, iova: u64, data: &[u8]) -> bool {
        match self.dma_at(iova, data.len()) {
            Some((mem, off)) => {
                lock(&mem)[off..off + data.len()].copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

/// Coalescing interrupt flag with eventfd semantics: fires before a wait are not lost.
#[derive(Default)]
pub struct FakeIrq {
    pending: AtomicU64,
    notify: Notify,
}

impl FakeIrq {
    fn fire(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

impl IrqWait for Arc<FakeIrq> {
    async fn wait(&self) -> io::Result<()> {
        loop {
            let notified = self.notify.notified();
            if self.pending.swap(0, Ordering::SeqCst) > 0 {
                return Ok(());
            }
            notified.await;
        }
    }
}

pub struct FakeContainer;

pub struct FakeOpenDevice {
    fake: FakeVfio,
    bdf: String,
    group: u32,
}

impl Drop for FakeOpenDevice {
    fn drop(&mut self) {
        lock(&self.fake.state).open_groups.remove(&self.group);
    }
}

pub struct FakeBar {
    fake: FakeVfio,
    index: u32,
    regs: Regs,
    hook: Option<WriteHook>,
}

fn bad_off(off: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("bad register offset {off:#x}"),
    )
}

impl BarIo for FakeBar {
    fn size(&self) -> usize {
        lock(&self.regs).len() * 4
    }
    fn read32(&self, off: usize) -> io::Result<u32> {
        let regs = lock(&self.regs);
        match regs.get(off / 4) {
            Some(&v) if off.is_multiple_of(4) => Ok(v),
            _ => Err(bad_off(off)),
        }
    }
    fn write32(&self, off: usize, val: u32) -> io::Result<()> {
        match lock(&self.regs).get_mut(off / 4) {
            Some(r) if off.is_multiple_of(4) => *r = val,
            _ => return Err(bad_off(off)),
        }
        if let Some(hook) = &self.hook {
            hook(&self.fake, self.index, off as u32, val);
        }
        Ok(())
    }
}

pub struct FakeDma {
    iova: u64,
    mem: Arc<Mutex<Vec<u8>>>,
}

impl DmaIo for FakeDma {
    fn iova(&self) -> u64 {
        self.iova
    }
    fn size(&self) -> usize {
        lock(&self.mem).len()
    }
    fn read(&self, off: usize, out: &mut [u8]) -> io::Result<()> {
        let mem = lock(&self.mem);
        let src = mem.get(off..off.saturating_add(out.len()));
        out.copy_from_slice(src.ok_or_else(|| bad_off(off))?);
        Ok(())
    }
    fn write(&self, off: usize, data: &[u8]) -> io::Result<()> {
        let mut mem = lock(&self.mem);
        let dst = mem.get_mut(off..off.saturating_add(data.len()));
        dst.ok_or_else(|| bad_off(off))?.copy_from_slice(data);
        Ok(())
    }
}

impl VfioSys for FakeVfio {
    type Container = FakeContainer;
    type Device = FakeOpenDevice;
    type Bar = FakeBar;
    type Dma = FakeDma;
    type Irq = Arc<FakeIrq>;

    fn check_access(&self) -> Result<(), SysError> {
        self.check(Step::Access)
    }

    fn pci_info(&self, bdf: &str) -> Result<Option<PciInfo>, SysError> {
        self.check(Step::Sysfs)?;
        Ok(self.device(bdf).map(|d| PciInfo {
            iommu_group: d.iommu_group,
            driver: d.driver,
        }))
    }

    fn open_container(&self) -> Result<FakeContainer, SysError> {
        self.check(Step::OpenContainer)?;
        Ok(FakeContainer)
    }

    fn open_device(
        &self,
        _: &FakeContainer,
        bdf: &str,
        group: u32,
    ) -> Result<FakeOpenDevice, SysError> {
        self.check(Step::OpenGroup)?;
        let dev = self
            .device(bdf)
            .ok_or(SysError::errno(Step::OpenGroup, libc::ENOENT))?;
        if dev.iommu_group != Some(group) {
            return Err(SysError::errno(Step::OpenGroup, libc::ENOENT));
        }
        if !lock(&self.state).open_groups.insert(group) {
            return Err(SysError::errno(Step::OpenGroup, libc::EBUSY));
        }
        // From here on, dropping `open` releases the group.
        let open = FakeOpenDevice {
            fake: self.clone(),
            bdf: bdf.to_owned(),
            group,
        };
        self.check(Step::GroupViable)?;
        if !dev.viable {
            return Err(SysError::new(
                Step::GroupViable,
                io::Error::other("group is not viable"),
            ));
        }
        self.check(Step::SetContainer)?;
        self.check(Step::SetIommu)?;
        self.check(Step::GetDeviceFd)?;
        Ok(open)
    }

    fn region_info(&self, d: &FakeOpenDevice, index: u32) -> Result<RegionInfo, SysError> {
        self.check(Step::RegionInfo)?;
        let dev = self
            .device(&d.bdf)
            .ok_or(SysError::errno(Step::RegionInfo, libc::ENODEV))?;
        let (flags, size) = match dev.bars.get(&index) {
            Some((flags, regs)) => (*flags, lock(regs).len() as u64 * 4),
            None => (0, 0),
        };
        Ok(RegionInfo {
            flags,
            size,
            offset: u64::from(index) << 40,
        })
    }

    fn map_bar(&self, d: &FakeOpenDevice, index: u32, _: &RegionInfo) -> Result<FakeBar, SysError> {
        self.check(Step::MmapBar)?;
        let dev = self
            .device(&d.bdf)
            .ok_or(SysError::errno(Step::MmapBar, libc::ENODEV))?;
        let (_, regs) = dev
            .bars
            .get(&index)
            .ok_or(SysError::errno(Step::MmapBar, libc::EINVAL))?;
        Ok(FakeBar {
            fake: self.clone(),
            index,
            regs: regs.clone(),
            hook: dev.hook.clone(),
        })
    }

    fn dma_map(&self, _: &FakeContainer, iova: u64, len: usize) -> Result<FakeDma, SysError> {
        self.check(Step::DmaAlloc)?;
        self.check(Step::DmaMap)?;
        let mut st = lock(&self.state);
        let end = iova + len as u64;
        let overlaps = st
            .dma
            .iter()
            .any(|(&b, m)| b < end && iova < b + lock(m).len() as u64);
        if len == 0 || overlaps {
            return Err(SysError::errno(Step::DmaMap, libc::EEXIST));
        }
        let mem = Arc::new(Mutex::new(vec![0u8; len]));
        st.dma.insert(iova, mem.clone());
        Ok(FakeDma { iova, mem })
    }

    fn dma_unmap(&self, _: &FakeContainer, dma: FakeDma) -> Result<(), SysError> {
        self.check(Step::DmaUnmap)?;
        match lock(&self.state).dma.remove(&dma.iova) {
            Some(_) => Ok(()),
            None => Err(SysError::errno(Step::DmaUnmap, libc::ENOENT)),
        }
    }

    fn enable_msix(&self, d: &FakeOpenDevice) -> Result<Arc<FakeIrq>, SysError> {
        self.check(Step::EnableMsix)?;
        let dev = self
            .device(&d.bdf)
            .ok_or(SysError::errno(Step::EnableMsix, libc::ENODEV))?;
        Ok(dev.irq)
    }
}
