//! The simulator as a running device: a thread clocks the [`SimNic`] while there is work, services
//! the port attachments, raises interrupts through a handler, and idles cheaply otherwise.
//!
//! Time: the core's cycles advance simulated time at the configured clock; while the NIC is idle,
//! simulated time follows real time (so endpoints' timers and the daemon's real-time timeouts
//! stay in step). The host reaches the NIC only through [`Simulator::with_nic`] (registers and
//! host memory), exactly what a driver has on real hardware.

use crate::attach::Attachment;
use crate::nic::{SimNic, SimStats};
use crate::vcd::Window;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Cycles run per batch before the runner lets the host at the NIC and polls attachments.
const BATCH: usize = 32;
/// Longest idle sleep (the runner re-checks attachments at least this often).
const MAX_IDLE: Duration = Duration::from_millis(2);

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Data-path width in bits (64 or 512).
    pub width: usize,
    /// log2 of the number of table buckets (8, 12 or 16).
    pub table_bits: usize,
    /// Core clock (156.25 MHz for 10 GbE at 64 bit, 250 MHz for 100 GbE at 512 bit).
    pub clock_hz: f64,
    /// Waveforms: a window of cycles of the core's signals to a VCD file (off by default).
    pub vcd: Option<VcdTrace>,
}

/// Where and when to write waveforms.
#[derive(Debug, Clone, PartialEq)]
pub struct VcdTrace {
    pub path: PathBuf,
    pub window: Window,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            width: 64,
            table_bits: 12,
            clock_hz: 156.25e6,
            vcd: None,
        }
    }
}

type IrqHandler = Box<dyn Fn() + Send + Sync>;

struct State {
    nic: SimNic,
    attachments: Vec<(usize, Box<dyn Attachment>)>,
    /// Real time spent clocking the core.
    clocking_time: Duration,
}

impl State {
    /// Simulated time (the NIC keeps it: its `now` input, the activity records' time base,
    /// follows the same clock).
    fn now(&self) -> Duration {
        self.nic.sim_time()
    }

    /// Move frames between the ports and their attachments; returns the soonest next poll.
    fn service_attachments(&mut self) -> Option<Duration> {
        let now = self.now();
        let mut soonest: Option<Duration> = None;
        for p in 0..self.nic.ports.len() {
            while let Some(f) = self.nic.ports[p].tx.pop_front() {
                for (port, a) in self.attachments.iter_mut() {
                    if *port == p {
                        a.to_wire(&f);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for i in 0..self.attachments.len() {
            let (port, a) = &mut self.attachments[i];
            a.poll(now, &mut out);
            if let Some(d) = a.next_poll(now) {
                soonest = Some(soonest.map_or(d, |s| s.min(d)));
            }
            let port = *port;
            for f in out.drain(..) {
                self.nic.receive(port, f);
            }
        }
        soonest
    }
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    stop: AtomicBool,
    irq: Mutex<Option<IrqHandler>>,
    /// Host accesses waiting for the NIC. The runner ends its batch early for them and lets
    /// them in before it takes the NIC again: a mutex is not fair, and a runner that always has traffic would
    /// otherwise re-take it at once and starve the host's register accesses for seconds.
    host_waiting: AtomicUsize,
}

/// The bundled simulator, running.
pub struct Simulator {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Build the NIC and start clocking it.
    pub fn start(cfg: &SimConfig) -> Result<Simulator, String> {
        if !(cfg.clock_hz.is_finite() && cfg.clock_hz > 0.0) {
            return Err(format!("bad clock frequency {}", cfg.clock_hz));
        }
        let mut nic = SimNic::new(cfg.width, cfg.table_bits)?;
        nic.set_clock_hz(cfg.clock_hz);
        if let Some(t) = &cfg.vcd {
            nic.trace_vcd(&t.path, t.window, cfg.clock_hz)?;
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                nic,
                attachments: Vec::new(),
                clocking_time: Duration::ZERO,
            }),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            irq: Mutex::new(None),
            host_waiting: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vsnic-sim".into())
            .spawn(move || run(s))
            .map_err(|e| format!("cannot start the simulator thread: {e}"))?;
        Ok(Simulator {
            shared,
            thread: Some(thread),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.host_waiting.fetch_add(1, Ordering::SeqCst);
        let st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        self.shared.host_waiting.fetch_sub(1, Ordering::SeqCst);
        st
    }

    /// Attach something to a port.
    pub fn attach(&self, port: usize, a: Box<dyn Attachment>) -> Result<(), String> {
        let mut st = self.lock();
        if port >= st.nic.ports.len() {
            return Err(format!(
                "no port {port}: the NIC has {}",
                st.nic.ports.len()
            ));
        }
        st.attachments.push((port, a));
        drop(st);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// A handle that wakes the runner from its idle wait: for attachments whose traffic arrives
    /// on threads of their own (a TAP device's reader).
    pub fn waker(&self) -> Waker {
        Waker(Arc::downgrade(&self.shared))
    }

    /// Called (from the simulator thread) whenever the NIC raises its interrupt.
    pub fn set_irq_handler(&self, f: impl Fn() + Send + Sync + 'static) {
        *self.shared.irq.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    /// Access the NIC (registers, host memory). Wakes the runner afterwards.
    pub fn with_nic<R>(&self, f: impl FnOnce(&mut SimNic) -> R) -> R {
        let r = f(&mut self.lock().nic);
        self.shared.wake.notify_all();
        r
    }

    /// Simulated time.
    pub fn now(&self) -> Duration {
        self.lock().now()
    }

    pub fn stats(&self) -> SimStats {
        let st = self.lock();
        SimStats {
            clocking_time: st.clocking_time,
            ..st.nic.stats()
        }
    }

    /// Stop clocking (also done on drop).
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Wakes a [`Simulator`]'s runner so it services its attachments now rather than at the end of
/// its idle wait. Does nothing once the simulator is gone.
#[derive(Clone)]
pub struct Waker(Weak<Shared>);

impl Waker {
    /// A waker attached to no simulator (for attachments used on their own).
    pub fn none() -> Waker {
        Waker(Weak::new())
    }

    pub fn wake(&self) {
        if let Some(s) = self.0.upgrade() {
            // Taking the lock orders this with the runner's check-then-wait, so no wake is lost.
            let _st = s.state.lock().unwrap_or_else(|p| p.into_inner());
            s.wake.notify_all();
        }
    }
}

fn run(shared: Arc<Shared>) {
    let mut st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
    while !shared.stop.load(Ordering::SeqCst) {
        let next_poll = st.service_attachments();
        if st.nic.has_work() {
            let t0 = Instant::now();
            for _ in 0..BATCH {
                st.nic.step();
                // a host access waits for at most one cycle's step, not a whole batch: under
                // line-rate traffic a daemon's register and ring accesses otherwise each cost a
                // batch of simulated cycles in wall time
                if !st.nic.has_work() || shared.host_waiting.load(Ordering::Relaxed) > 0 {
                    break;
                }
            }
            st.clocking_time += t0.elapsed();
            let irq = st.nic.engine.take_irq();
            drop(st);
            if irq {
                if let Some(h) = shared
                    .irq
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                {
                    h();
                }
            }
            // the host first (registers, DMA memory): simulated time can wait, it cannot
            while shared.host_waiting.load(Ordering::SeqCst) > 0 {
                std::thread::yield_now();
            }
            st = shared.state.lock().unwrap_or_else(|p| p.into_inner());
        } else {
            let wait = next_poll
                .unwrap_or(MAX_IDLE)
                .clamp(Duration::from_micros(50), MAX_IDLE);
            let t0 = Instant::now();
            st = shared
                .wake
                .wait_timeout(st, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            let idle = t0.elapsed();
            st.nic.add_idle(idle);
        }
    }
}
