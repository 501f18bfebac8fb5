//! Tests of `VfioBackend` over the fake syscall layer (plus one harmless probe of the real one).

use super::*;
use std::time::Duration;

const BDF: &str = "0000:03:00.0";
const GROUP: u32 = 7;
const DOORBELL: u32 = 0x40;

/// A NIC whose BAR0 is 64 KiB; writing the doorbell makes it DMA "pong" to the IOVA held in
/// registers 0x48/0x4c and raise MSI-X vector 0.
fn nic() -> FakeVfio {
    let dev = FakeDevice::new(GROUP)
        .with_bar(0, 0x10000)
        .on_write(|fake, bar, off, _val| {
            if bar == 0 && off == DOORBELL {
                let lo = u64::from(fake.reg(BDF, 0, 0x48));
                let hi = u64::from(fake.reg(BDF, 0, 0x4c));
                assert!(fake.dma_write_iova(hi << 32 | lo, b"pong"));
                fake.fire_irq(BDF);
            }
        });
    FakeVfio::new().with_device(BDF, dev)
}

fn open_err(fake: FakeVfio, bdf: &str, bar: u32) -> String {
    match VfioBackend::open(fake, bdf, bar) {
        Ok(_) => panic!("open({bdf}, BAR{bar}) unexpectedly succeeded"),
        Err(e) => e.to_string(),
    }
}

fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} lacks {p:?}");
    }
}

#[tokio::test]
async fn full_sequence() {
    let fake = nic();
    let nic = VfioBackend::open(fake.clone(), "0000:03:00.0", 0).unwrap();
    assert_eq!(nic.bdf(), BDF);
    assert_eq!(nic.bar_size(), 0x10000);

    // Registers: driver writes land in the fake BAR and device-side values are read back.
    nic.write32(0x10, 0xdead_beef).unwrap();
    assert_eq!(fake.reg(BDF, 0, 0x10), 0xdead_beef);
    fake.set_reg(BDF, 0, 0xfffc, 42);
    assert_eq!(nic.read32(0xfffc).unwrap(), 42);

    // DMA: page-granular IOVAs above 4 GiB, zeroed, round-trips, and visible to the device.
    let a = nic.dma_alloc(100).unwrap();
    let b = nic.dma_alloc(8192).unwrap();
    assert_eq!((a.iova, a.len), (IOVA_BASE, 100));
    assert_eq!(b.iova, IOVA_BASE + 4096);
    assert_eq!(fake.dma_mappings(), vec![(a.iova, 4096), (b.iova, 8192)]);
    let mut out = [0xffu8; 16];
    nic.dma_read(&a, 0, &mut out).unwrap();
    assert_eq!(out, [0; 16]);
    nic.dma_write(&a, 10, b"hello").unwrap();
    let mut out = [0u8; 5];
    nic.dma_read(&a, 10, &mut out).unwrap();
    assert_eq!(&out, b"hello");
    assert_eq!(fake.dma_read_iova(a.iova + 10, 5).unwrap(), b"hello");

    // Interrupt: a doorbell write makes the device DMA and fire; wait_irq then completes.
    nic.write32(0x48, b.iova as u32).unwrap();
    nic.write32(0x4c, (b.iova >> 32) as u32).unwrap();
    let waiter = tokio::time::timeout(Duration::from_secs(5), nic.wait_irq());
    let ring = async {
        tokio::task::yield_now().await;
        nic.write32(DOORBELL, 1).unwrap();
    };
    let (res, ()) = tokio::join!(waiter, ring);
    res.expect("irq timed out").unwrap();
    let mut out = [0u8; 4];
    nic.dma_read(&b, 0, &mut out).unwrap();
    assert_eq!(&out, b"pong");

    // An interrupt raised before anyone waits is not lost; a cancelled wait loses nothing.
    let cancelled = tokio::time::timeout(Duration::from_millis(10), nic.wait_irq()).await;
    assert!(cancelled.is_err(), "no interrupt was pending");
    fake.fire_irq(BDF);
    tokio::time::timeout(Duration::from_secs(5), nic.wait_irq())
        .await
        .unwrap()
        .unwrap();

    // Freeing unmaps; the stale handle is refused.
    nic.dma_free(&a).unwrap();
    assert_eq!(fake.dma_mappings(), vec![(b.iova, 8192)]);
    assert!(matches!(
        nic.dma_read(&a, 0, &mut out),
        Err(BackendError::Invalid(_))
    ));

    // Close: everything unmapped, later calls and pending waits see Closed, group released.
    let (res, ()) = tokio::join!(nic.wait_irq(), async {
        tokio::task::yield_now().await;
        nic.close().unwrap();
    });
    assert!(matches!(res, Err(BackendError::Closed)));
    assert!(fake.dma_mappings().is_empty());
    assert!(matches!(nic.read32(0), Err(BackendError::Closed)));
    assert!(matches!(nic.dma_alloc(1), Err(BackendError::Closed)));
    assert!(matches!(nic.wait_irq().await, Err(BackendError::Closed)));
    drop(nic);
    VfioBackend::open(fake, BDF, 0).expect("group released on close");
}

#[test]
fn drop_unmaps_and_releases_group() {
    let fake = nic();
    let nic = VfioBackend::open(fake.clone(), BDF, 0).unwrap();
    nic.dma_alloc(1).unwrap();
    let second = open_err(fake.clone(), BDF, 0);
    assert_has(
        &second,
        &[
            BDF,
            "open /dev/vfio/<group> for IOMMU group 7 failed",
            "busy",
        ],
    );
    drop(nic);
    assert!(fake.dma_mappings().is_empty());
    VfioBackend::open(fake, BDF, 0).unwrap();
}

#[test]
fn bad_accesses_are_rejected() {
    let nic = VfioBackend::open(nic(), BDF, 0).unwrap();
    for off in [2, 0x10000, u32::MAX - 3] {
        let e = nic.read32(off).unwrap_err();
        assert_has(&e.to_string(), &[BDF, "BAR0", "register offset"]);
        assert!(nic.write32(off, 0).is_err());
    }
    let buf = nic.dma_alloc(10).unwrap();
    let e = nic.dma_write(&buf, 8, &[0; 3]).unwrap_err();
    assert_has(&e.to_string(), &[BDF, "beyond the 10-byte buffer"]);
    assert!(nic.dma_read(&buf, usize::MAX, &mut [0; 2]).is_err());
    let forged = DmaBuf { len: 4096, ..buf };
    assert!(matches!(
        nic.dma_write(&forged, 100, &[1]),
        Err(BackendError::Invalid(_))
    ));
    assert!(matches!(nic.dma_alloc(0), Err(BackendError::Invalid(_))));
}

#[test]
fn bad_bdf() {
    for bdf in [
        "03:00.0",
        "0000:03:00",
        "0000:03:20.0",
        "0000:03:00.8",
        "000g:03:00.0",
        "0000-03:00.0",
        "",
    ] {
        let msg = open_err(nic(), bdf, 0);
        assert_has(
            &msg,
            &["invalid PCI address", &format!("{bdf:?}"), "0000:03:00.0"],
        );
    }
    assert_eq!(parse_bdf("0000:AF:1f.7").as_deref(), Some("0000:af:1f.7"));
}

#[test]
fn not_root() {
    let fake = nic();
    fake.fail(Step::Access, libc::EACCES);
    let msg = open_err(fake, BDF, 0);
    assert_has(
        &msg,
        &[
            BDF,
            "permission denied during access check",
            "root",
            "os error 13",
        ],
    );
}

#[test]
fn permission_denied_on_group() {
    let fake = nic();
    fake.fail(Step::OpenGroup, libc::EPERM);
    let msg = open_err(fake, BDF, 0);
    assert_has(
        &msg,
        &[
            BDF,
            "permission denied during open /dev/vfio/<group>",
            "os error 1",
        ],
    );
}

#[test]
fn no_such_device() {
    let msg = open_err(nic(), "0000:04:00.0", 0);
    assert_has(&msg, &["0000:04:00.0", "no such PCI device", "lspci -D"]);
}

#[test]
fn no_iommu_group() {
    let fake =
        FakeVfio::new().with_device(BDF, FakeDevice::new(1).with_bar(0, 4096).without_iommu());
    let msg = open_err(fake, BDF, 0);
    assert_has(
        &msg,
        &[BDF, "no IOMMU group", "intel_iommu=on", "amd_iommu=on"],
    );
}

#[test]
fn wrong_driver() {
    let dev = FakeDevice::new(1).with_bar(0, 4096);
    let fake = FakeVfio::new().with_device(BDF, dev.clone().with_driver(Some("ixgbe")));
    let msg = open_err(fake, BDF, 0);
    assert_has(
        &msg,
        &[
            BDF,
            "bound to driver \"ixgbe\"",
            "driver/unbind",
            "driver_override",
            "vfio-pci",
        ],
    );

    let fake = FakeVfio::new().with_device(BDF, dev.with_driver(None));
    let msg = open_err(fake, BDF, 0);
    assert_has(&msg, &[BDF, "not bound to any driver", "driver_override"]);
}

#[test]
fn group_not_viable() {
    let fake = FakeVfio::new().with_device(BDF, FakeDevice::new(9).with_bar(0, 4096).not_viable());
    let msg = open_err(fake.clone(), BDF, 0);
    assert_has(
        &msg,
        &[
            BDF,
            "IOMMU group 9 is not viable",
            "/sys/kernel/iommu_groups/9/devices",
        ],
    );
    // The group was released again on the failure path.
    let fake = fake.with_device(BDF, FakeDevice::new(9).with_bar(0, 4096));
    VfioBackend::open(fake, BDF, 0).unwrap();
}

#[test]
fn bar_not_mappable() {
    let rw = RegionInfo::FLAG_READ | RegionInfo::FLAG_WRITE;
    let dev = FakeDevice::new(1)
        .with_bar(0, 4096)
        .with_region(2, rw, 4096);
    let fake = FakeVfio::new().with_device(BDF, dev);
    assert_has(
        &open_err(fake.clone(), BDF, 2),
        &[BDF, "BAR2 cannot be mapped", "MMAP flag"],
    );
    assert_has(
        &open_err(fake.clone(), BDF, 4),
        &[BDF, "BAR4 cannot be mapped", "size is 0"],
    );
    assert_has(
        &open_err(fake.clone(), BDF, 6),
        &[BDF, "BAR6 cannot be mapped", "BAR0..BAR5"],
    );
    fake.fail(Step::MmapBar, libc::EINVAL);
    assert_has(
        &open_err(fake, BDF, 0),
        &[BDF, "mmap BAR for BAR0 failed", "os error 22"],
    );
}

#[test]
fn every_step_reports_bdf_step_and_errno() {
    let steps = [
        (Step::Sysfs, "sysfs lookup"),
        (Step::OpenContainer, "open /dev/vfio/vfio"),
        (
            Step::SetContainer,
            "VFIO_GROUP_SET_CONTAINER for IOMMU group 7",
        ),
        (Step::SetIommu, "VFIO_SET_IOMMU for IOMMU group 7"),
        (
            Step::GetDeviceFd,
            "VFIO_GROUP_GET_DEVICE_FD for IOMMU group 7",
        ),
        (Step::RegionInfo, "VFIO_DEVICE_GET_REGION_INFO for BAR0"),
        (
            Step::EnableMsix,
            "VFIO_DEVICE_SET_IRQS (MSI-X) for MSI-X vector 0",
        ),
    ];
    for (step, text) in steps {
        let fake = nic();
        fake.fail(step, libc::EIO);
        let err = VfioBackend::open(fake, BDF, 0).err().unwrap();
        assert_has(&err.to_string(), &[BDF, text, "os error 5"]);
        match BackendError::from(err) {
            BackendError::Io { context, source } => {
                assert!(context.contains(BDF) && context.contains(text), "{context}");
                assert_eq!(source.raw_os_error(), Some(libc::EIO));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn dma_map_failure_at_runtime() {
    let fake = nic();
    let nic = VfioBackend::open(fake.clone(), BDF, 0).unwrap();
    fake.fail(Step::DmaMap, libc::ENOMEM);
    let e = nic.dma_alloc(4096).unwrap_err();
    assert_has(
        &e.to_string(),
        &[
            BDF,
            "VFIO_IOMMU_MAP_DMA of 4096 bytes at IOVA 0x100000000",
            "os error 12",
        ],
    );
    fake.clear_fail(Step::DmaMap);
    assert_eq!(nic.dma_alloc(4096).unwrap().iova, IOVA_BASE);
}

#[test]
fn open_errors_convert_to_backend_errors() {
    let e = VfioBackend::open(nic(), "0000:04:00.0", 0).err().unwrap();
    assert!(
        matches!(BackendError::from(e), BackendError::Invalid(m) if m.contains("0000:04:00.0"))
    );
    let fake = nic();
    fake.fail(Step::Access, libc::EPERM);
    let e = VfioBackend::open(fake, BDF, 0).err().unwrap();
    assert!(
        matches!(BackendError::from(e), BackendError::Io { source, .. } if source.raw_os_error() == Some(libc::EPERM))
    );
}

/// The real layer against this machine's sysfs: must fail cleanly, never touch hardware.
#[test]
fn linux_layer_fails_cleanly() {
    let err = VfioBackend::open(LinuxVfio::new(), "ffff:ff:1f.7", 0)
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            VfioError::NoDevice { .. } | VfioError::Permission { .. } | VfioError::Sys { .. }
        ),
        "{err}"
    );
    // Any present device not bound to vfio-pci is refused before /dev/vfio is opened.
    let Ok(dir) = std::fs::read_dir("/sys/bus/pci/devices") else {
        return;
    };
    for entry in dir.flatten().take(4) {
        let bdf = entry.file_name().to_string_lossy().into_owned();
        let driver = std::fs::read_link(entry.path().join("driver")).ok();
        if driver.is_some_and(|d| d.ends_with("vfio-pci")) {
            continue;
        }
        match VfioBackend::open(LinuxVfio::new(), &bdf, 0) {
            Err(e @ (VfioError::NoIommuGroup { .. } | VfioError::WrongDriver { .. })) => {
                assert!(e.to_string().contains(&bdf))
            }
            Err(VfioError::Permission { .. }) | Err(VfioError::Sys { .. }) => {}
            other => panic!("{bdf}: {:?}", other.map(|_| ())),
        }
    }
}
