//! A TAP device on a port: the kernel's network stack (typically in a network namespace the
//! device was moved into) is the host on the other end of the simulated NIC's port.
//!
//! The device is opened (or created) by name with the `tun` crate in layer-2 mode, without
//! packet information or virtio headers, so every read is one whole Ethernet frame (fully
//! checksummed, at most MTU + 14 bytes) and every write sends one. A reader thread waits on the
//! device and hands frames to the simulator through a channel, waking its runner; the runner
//! writes frames the NIC sent straight to the device.
//!
//! Moving the device into a namespace (`ip link set NAME netns NS`) after opening keeps the open
//! file working. Opening by name from a namespace where no device of that name exists creates a
//! new one there (the kernel's TUNSETIFF rule): open it where it is, then move it.

use crate::attach::Attachment;
use crate::runner::Waker;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;
use tun::{AbstractDevice, Layer};

/// Frames buffered between the reader thread and the simulator before the reader waits.
const CHANNEL_FRAMES: usize = 256;
/// How often the reader thread checks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(100);
/// Read buffer: larger than any frame a TAP with a sane MTU delivers.
const READ_BUF: usize = 65_536;

/// Counters of one TAP attachment.
#[derive(Debug, Default)]
pub struct TapStats {
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    /// Frames the device returned an error for on write (e.g. link down).
    pub write_errors: AtomicU64,
    /// Frames read that were longer than the NIC accepts, dropped.
    pub oversize: AtomicU64,
}

pub struct TapAttachment {
    name: String,
    dev: Arc<tun::Device>,
    rx: Receiver<Vec<u8>>,
    stop: Arc<AtomicBool>,
    pub stats: Arc<TapStats>,
}

/// Largest frame passed to the NIC (the queue slot's frame capacity).
pub const MAX_FRAME: usize = vsnic_contract::queue::MAX_FRAME;

impl TapAttachment {
    /// Open the TAP device `name` (creating it if there is none of that name in this process's
    /// network namespace; a created device vanishes when it is closed). The device is not
    /// configured: addresses, MTU and link state are the namespace owner's business.
    pub fn open(name: &str, waker: Waker) -> Result<TapAttachment, String> {
        let mut cfg = tun::Configuration::default();
        cfg.tun_name(name).layer(Layer::L2);
        cfg.platform_config(|p| {
            p.ensure_root_privileges(false);
        });
        let dev = tun::Device::new(&cfg).map_err(|e| format!("opening TAP device {name}: {e}"))?;
        let name = dev.tun_name().unwrap_or_else(|_| name.to_string());
        let dev = Arc::new(dev);
        let (tx, rx) = mpsc::sync_channel(CHANNEL_FRAMES);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(TapStats::default());
        let (d, s, st) = (dev.clone(), stop.clone(), stats.clone());
        std::thread::Builder::new()
            .name(format!("tap-{name}"))
            .spawn(move || reader(d, tx, s, st, waker))
            .map_err(|e| format!("starting the reader of {name}: {e}"))?;
        Ok(TapAttachment {
            name,
            dev,
            rx,
            stop,
            stats,
        })
    }

    /// The device's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn reader(
    dev: Arc<tun::Device>,
    tx: SyncSender<Vec<u8>>,
    stop: Arc<AtomicBool>,
    stats: Arc<TapStats>,
    waker: Waker,
) {
    let mut buf = vec![0u8; READ_BUF];
    while !stop.load(Ordering::Relaxed) {
        let n = match dev.recv_timeout(&mut buf, STOP_POLL) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("TAP read failed, reader stops: {e}");
                return;
            }
        };
        if n == 0 {
            continue;
        }
        if n > MAX_FRAME {
            stats.oversize.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        stats.frames_in.fetch_add(1, Ordering::Relaxed);
        let mut frame = buf[..n].to_vec();
        // A full channel means the simulator is behind: wait for room (the kernel queues
        // meanwhile, and drops at its own limit, as a NIC's link partner would see it).
        loop {
            match tx.try_send(frame) {
                Ok(()) => break,
                Err(TrySendError::Full(f)) => {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    waker.wake();
                    frame = f;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        waker.wake();
    }
}

impl Attachment for TapAttachment {
    fn to_wire(&mut self, frame: &[u8]) {
        match self.dev.send(frame) {
            Ok(_) => {
                self.stats.frames_out.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.stats.write_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn poll(&mut self, _now: Duration, out: &mut Vec<Vec<u8>>) {
        // bounded per call so one busy TAP cannot starve the rest of the runner's loop
        for _ in 0..CHANNEL_FRAMES {
            match self.rx.try_recv() {
                Ok(f) => out.push(f),
                Err(_) => break,
            }
        }
    }

    fn next_poll(&mut self, _now: Duration) -> Option<Duration> {
        // traffic wakes the runner through the waker
        None
    }
}

impl Drop for TapAttachment {
    fn drop(&mut self) {
        // The reader notices within STOP_POLL and exits; it is not joined, since the drop may
        // run on the reader's own thread (when its waker held the simulator last).
        self.stop.store(true, Ordering::Relaxed);
    }
}
