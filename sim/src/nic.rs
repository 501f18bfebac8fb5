//! The simulated NIC: the hw core, clocked, with its MAC ports, the host queue engine and the
//! register space. One [`SimNic::step`] is one clock cycle.
//!
//! Ingress arbitration (the shell's job on a board): whenever the core's input is free, the next
//! whole frame is taken round-robin from port 0 RX, port 1 RX and the host TX queue, so frames
//! are never interleaved and the core sees one stream.

use crate::hostmem::HostMem;
use crate::queues::Engine;
use crate::vcd::{VcdWindow, Window};
use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;
use vsnic_contract::activity::TICK_NS_LOG2;
use vsnic_contract::regs;
use vsnic_hw::driver::{ExcFrame, Harness, Sampler};

/// Number of network ports of the simulated NIC.
pub const NUM_PORTS: usize = vsnic_hw::stage::csr::NUM_PORTS as usize;

/// Object-safe view of a `Harness<W, T>`, so the width and table size can be chosen at run time.
pub trait CoreDriver: Send {
    fn push_frame(&mut self, frame: &[u8], user: u8);
    fn input_pending(&self) -> usize;
    fn queue_read(&mut self, addr: u32);
    fn queue_write(&mut self, addr: u32, val: u32);
    fn take_read(&mut self) -> Option<u32>;
    fn step(&mut self, exc_ready: bool);
    fn take_tx(&mut self) -> Option<(u8, Vec<u8>)>;
    fn take_exc(&mut self) -> Option<ExcFrame>;
    fn cycle(&self) -> u64;
    fn set_sampler(&mut self, sampler: Option<Sampler>);
    /// Drive the core's `now` input (NIC time) from the next cycle on.
    fn set_now(&mut self, now: u32);
}

impl<const W: usize, const T: usize> CoreDriver for Harness<W, T> {
    fn push_frame(&mut self, frame: &[u8], user: u8) {
        Harness::push_frame(self, frame, user)
    }
    fn input_pending(&self) -> usize {
        Harness::input_pending(self)
    }
    fn queue_read(&mut self, addr: u32) {
        Harness::queue_read(self, addr)
    }
    fn queue_write(&mut self, addr: u32, val: u32) {
        Harness::queue_write(self, addr, val)
    }
    fn take_read(&mut self) -> Option<u32> {
        self.reads.pop_front()
    }
    fn step(&mut self, exc_ready: bool) {
        self.exc_ready = exc_ready;
        Harness::step(self, true)
    }
    fn take_tx(&mut self) -> Option<(u8, Vec<u8>)> {
        self.tx.pop_front()
    }
    fn take_exc(&mut self) -> Option<ExcFrame> {
        self.exc.pop_front()
    }
    fn cycle(&self) -> u64 {
        self.cycle
    }
    fn set_sampler(&mut self, sampler: Option<Sampler>) {
        Harness::set_sampler(self, sampler)
    }
    fn set_now(&mut self, now: u32) {
        Harness::set_now(self, now)
    }
}

/// A supported core configuration.
pub fn new_core(width: usize, table_bits: usize) -> Result<Box<dyn CoreDriver>, String> {
    Ok(match (width, table_bits) {
        (64, 8) => Box::new(Harness::<64, 8>::new()),
        (64, 12) => Box::new(Harness::<64, 12>::new()),
        (64, 16) => Box::new(Harness::<64, 16>::new()),
        (512, 8) => Box::new(Harness::<512, 8>::new()),
        (512, 12) => Box::new(Harness::<512, 12>::new()),
        (512, 16) => Box::new(Harness::<512, 16>::new()),
        _ => {
            return Err(format!(
                "unsupported core: width {width}, table bits {table_bits} (widths 64, 512; table bits 8, 12, 16)"
            ))
        }
    })
}

/// One MAC port: frames from the wire waiting for the core, frames the core sent to the wire.
#[derive(Debug, Default)]
pub struct Port {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: VecDeque<Vec<u8>>,
    pub rx_frames: u64,
    pub tx_frames: u64,
    /// Frames from the wire dropped because the RX FIFO was full.
    pub rx_overflow: u64,
}

/// Frames a port's RX FIFO holds before it drops (a MAC's receive buffer).
pub const RX_FIFO_FRAMES: usize = 1024;

/// Live figures of the simulated NIC.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimStats {
    pub cycles: u64,
    pub rx_frames: [u64; NUM_PORTS],
    pub tx_frames: [u64; NUM_PORTS],
    pub rx_overflow: [u64; NUM_PORTS],
    pub host_tx_frames: u64,
    pub exceptions: u64,
    pub irqs: u64,
    pub dma_faults: u64,
    /// Exceptions dropped by the queue engine (ring full or unconfigured).
    pub exc_ring_drops: u64,
    /// Host TX descriptors the queue engine refused.
    pub tx_bad_desc: u64,
    /// Real time the simulator spent clocking the core (zero for a bare [`SimNic`]): cycles
    /// divided by this is its speed while it has work.
    pub clocking_time: std::time::Duration,
}

pub struct SimNic {
    core: Box<dyn CoreDriver>,
    pub mem: HostMem,
    pub engine: Engine,
    pub ports: [Port; NUM_PORTS],
    rr: usize,
    pub width: usize,
    pub table_bits: usize,
    host_tx_frames: u64,
    exceptions: u64,
    /// Last cycle on which a frame entered or left the core.
    last_activity: u64,
    /// Core clock: simulated time advances by one period per cycle.
    ns_per_cycle: f64,
    /// Simulated time spent idle (following real time, see [`crate::runner`]).
    idle: Duration,
}

/// The default core clock of a bare [`SimNic`] (10 GbE at 64 bits).
pub const DEFAULT_CLOCK_HZ: f64 = 156.25e6;

impl SimNic {
    pub fn new(width: usize, table_bits: usize) -> Result<SimNic, String> {
        Ok(SimNic {
            core: new_core(width, table_bits)?,
            mem: HostMem::new(),
            engine: Engine::new(NUM_PORTS as u8),
            ports: Default::default(),
            rr: 0,
            width,
            table_bits,
            host_tx_frames: 0,
            exceptions: 0,
            last_activity: 0,
            ns_per_cycle: 1e9 / DEFAULT_CLOCK_HZ,
            idle: Duration::ZERO,
        })
    }

    pub fn cycle(&self) -> u64 {
        self.core.cycle()
    }

    /// Set the core clock (simulated time per cycle).
    pub fn set_clock_hz(&mut self, clock_hz: f64) {
        self.ns_per_cycle = 1e9 / clock_hz;
    }

    /// Simulated time passed while idle (no cycles run): the NIC's time moves on with it.
    pub fn add_idle(&mut self, d: Duration) {
        self.idle += d;
    }

    /// Simulated time: the cycles run at the core clock plus the idle time.
    pub fn sim_time(&self) -> Duration {
        Duration::from_nanos((self.cycle() as f64 * self.ns_per_cycle) as u64) + self.idle
    }

    /// The NIC time the core sees: simulated ns >> `activity::TICK_NS_LOG2` (wrapping at 2^32).
    pub fn nic_time(&self) -> u32 {
        (self.sim_time().as_nanos() >> TICK_NS_LOG2) as u32
    }

    /// Stream the core's signals over `window` (in core cycles) to a VCD file at `path`
    /// (`clock_hz` sets its time scale). Replaces any trace in progress.
    pub fn trace_vcd(&mut self, path: &Path, window: Window, clock_hz: f64) -> Result<(), String> {
        if window.cycles == 0 {
            return Err("a VCD window of 0 cycles".into());
        }
        let mut vcd = VcdWindow::create(path, window, clock_hz)?;
        let shown = path.display().to_string();
        tracing::info!(path = %shown, start = window.start, cycles = window.cycles, "VCD trace armed");
        self.core
            .set_sampler(Some(Box::new(move |cycle, half, core| {
                if !vcd.wants(cycle) && (vcd.done() || cycle < window.start) {
                    return;
                }
                if let Err(e) = vcd.sample(cycle, half, core) {
                    tracing::warn!(path = %shown, "VCD trace stopped: {e}");
                    let _ = vcd.close();
                } else if vcd.done() {
                    tracing::info!(path = %shown, samples = vcd.samples, "VCD trace written");
                }
            })));
        Ok(())
    }

    /// A frame arrives from the wire on `port` (dropped and counted if the RX FIFO is full).
    pub fn receive(&mut self, port: usize, frame: Vec<u8>) {
        let p = &mut self.ports[port];
        if p.rx.len() >= RX_FIFO_FRAMES || frame.is_empty() {
            p.rx_overflow += 1;
        } else {
            p.rx.push_back(frame);
        }
    }

    /// Whether anything is queued or in flight.
    pub fn has_work(&self) -> bool {
        self.core.input_pending() > 0
            || self.ports.iter().any(|p| !p.rx.is_empty())
            || self.engine.tx_pending()
            || self.cycle() < self.last_activity + 64
    }

    /// One clock cycle.
    pub fn step(&mut self) {
        if self.core.input_pending() == 0 {
            for i in 0..NUM_PORTS + 1 {
                let src = (self.rr + i) % (NUM_PORTS + 1);
                let next = if src < NUM_PORTS {
                    self.ports[src].rx.pop_front().map(|f| {
                        self.ports[src].rx_frames += 1;
                        (f, vsnic_contract::stream::user(src as u8, false, false))
                    })
                } else {
                    self.engine
                        .next_tx(&mut self.mem)
                        .inspect(|_| self.host_tx_frames += 1)
                };
                if let Some((frame, user)) = next {
                    self.core.push_frame(&frame, user);
                    self.rr = (src + 1) % (NUM_PORTS + 1);
                    break;
                }
            }
        }
        if self.core.input_pending() > 0 {
            self.last_activity = self.cycle();
        }
        let now = self.nic_time();
        self.core.set_now(now);
        self.core.step(self.engine.exc_ready());
        while let Some((port, frame)) = self.core.take_tx() {
            self.last_activity = self.cycle();
            let p = &mut self.ports[(port as usize).min(NUM_PORTS - 1)];
            p.tx_frames += 1;
            p.tx.push_back(frame);
        }
        while let Some(e) = self.core.take_exc() {
            self.last_activity = self.cycle();
            self.exceptions += 1;
            self.engine
                .deliver_exception(&mut self.mem, &e.frame, &e.meta);
        }
    }

    /// Run `n` cycles.
    pub fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.step();
        }
    }

    /// Register read, as the host sees it (core registers take bus cycles).
    pub fn read32(&mut self, addr: u32) -> u32 {
        if addr < regs::CORE_SPACE_END {
            self.core.queue_read(addr);
            loop {
                self.step();
                if let Some(v) = self.core.take_read() {
                    return v;
                }
            }
        } else if Engine::owns(addr) {
            self.engine.read(addr)
        } else {
            0
        }
    }

    /// Register write.
    pub fn write32(&mut self, addr: u32, val: u32) {
        if addr < regs::CORE_SPACE_END {
            // performed on the next cycle (the bus takes one operation per cycle)
            self.core.queue_write(addr, val);
            self.step();
        } else if Engine::owns(addr) {
            self.engine.write(addr, val);
        }
    }

    pub fn stats(&self) -> SimStats {
        let mut s = SimStats {
            cycles: self.cycle(),
            host_tx_frames: self.host_tx_frames,
            exceptions: self.exceptions,
            irqs: self.engine.irqs,
            dma_faults: self.mem.faults,
            exc_ring_drops: self.engine.ring_full_drops as u64,
            tx_bad_desc: self.engine.bad_desc as u64,
            ..Default::default()
        };
        for (i, p) in self.ports.iter().enumerate() {
            s.rx_frames[i] = p.rx_frames;
            s.tx_frames[i] = p.tx_frames;
            s.rx_overflow[i] = p.rx_overflow;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vcd_window_of_the_core_is_written() {
        let dir = std::env::temp_dir().join(format!("vsnic-vcd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("core.vcd");
        let mut nic = SimNic::new(64, 8).unwrap();
        let window = Window {
            start: 10,
            cycles: 40,
        };
        nic.trace_vcd(&path, window, 156.25e6).unwrap();
        nic.receive(0, vec![0xab; 64]);
        nic.run(100);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(text.contains("$enddefinitions"));
        // the core's own ports are in the dump, and the frame's beats show up on s_valid
        for sig in ["s_valid", "s_data", "m_tx_valid", "m_exc_valid", "clock"] {
            assert!(text.contains(sig), "no {sig} in the VCD");
        }
        let period = (1e12f64 / 156.25e6).round() as u64;
        let times: Vec<u64> = text
            .lines()
            .filter_map(|l| l.strip_prefix('#')?.parse().ok())
            .collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "times must grow");
        assert_eq!(times.first(), Some(&(10 * period)));
        assert_eq!(times.last(), Some(&(49 * period + period / 2)));
        assert_eq!(times.len(), 80);
    }

    /// `NOW` follows simulated time: the core's cycles at its clock, plus idle time.
    #[test]
    fn nic_time_follows_simulated_time() {
        use vsnic_contract::activity::cycles_per_tick;
        use vsnic_contract::regs::table;
        let mut nic = SimNic::new(64, 8).unwrap();
        nic.set_clock_hz(62.5e6);
        let now = |nic: &mut SimNic| nic.read32(table::BASE + table::NOW);
        assert_eq!(now(&mut nic), 0);
        // a whole tick of cycles (exact at 62.5 MHz), then a few more
        nic.run(cycles_per_tick(62_500_000) + 10);
        assert_eq!(now(&mut nic), 1);
        // one second idle: 10^9 >> 20 ticks more (plus the first one)
        nic.add_idle(Duration::from_secs(1));
        let t = now(&mut nic);
        assert_eq!(t, ((1_000_000_000u64 + (1 << 20)) >> TICK_NS_LOG2) as u32);
        assert_eq!(t, nic.nic_time());
        // and the records are stamped with it: a frame hitting an entry
        use vsnic_contract::entry::{Action, Entry};
        use vsnic_contract::{hash, FlowKey};
        let key = FlowKey {
            saddr: [10, 0, 0, 2],
            daddr: [10, 0, 0, 100],
            sport: 4000,
            dport: 80,
            proto: 6,
        };
        let e = Entry {
            key,
            valid: true,
            action: Action::Forward,
            ..Default::default()
        };
        let b = hash::bucket(&key, 8);
        for (i, w) in e.to_words().iter().enumerate() {
            nic.write32(table::BASE + table::DATA0 + 4 * i as u32, *w);
        }
        nic.write32(table::BASE + table::CMD, table::CMD_WRITE | b);
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 8, 0];
        let mut ip = vec![
            0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 2, 10, 0, 0, 100,
        ];
        let s = !vsnic_hw::model::ones_sum(&ip);
        ip[10..12].copy_from_slice(&s.to_be_bytes());
        f.extend_from_slice(&ip);
        f.extend_from_slice(&4000u16.to_be_bytes());
        f.extend_from_slice(&80u16.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x11, 0xff, 0xff, 0, 0, 0, 0]);
        nic.receive(0, f.clone());
        nic.run(200);
        assert_eq!(nic.ports[0].tx.len(), 1, "forwarded");
        nic.write32(table::BASE + table::CMD, table::CMD_READ | b);
        let w: Vec<u32> = (0..4)
            .map(|i| nic.read32(table::BASE + table::ACT0 + 4 * i))
            .collect();
        let a = vsnic_contract::activity::Activity::from_words(&w.try_into().unwrap());
        assert_eq!((a.packets, a.bytes, a.fins), (1, f.len() as u64, 1));
        assert_eq!(a.last_seen, t);
    }

    #[test]
    fn an_empty_vcd_window_is_refused() {
        let mut nic = SimNic::new(64, 8).unwrap();
        let w = Window {
            start: 0,
            cycles: 0,
        };
        let e = nic
            .trace_vcd(Path::new("/nonexistent/x.vcd"), w, 1e8)
            .unwrap_err();
        assert!(e.contains("0 cycles"), "{e}");
    }
}
