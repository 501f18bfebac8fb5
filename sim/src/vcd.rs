//! A window of cycles of a RustHDL circuit's signals, streamed to a VCD file (GTKWave opens
//! it). RustHDL's own `run_to_file` keeps the whole trace in memory; here the header is written
//! when the window opens, each sample is written as it is taken (only the signals that
//! changed), and nothing is kept but the last value of each signal.
//!
//! Samples are taken with [`VcdWindow::sample`] after a clock edge has settled; time is in
//! picoseconds of the configured clock (`cycle × period`, plus half a period for a sample taken
//! after the falling edge).

use rust_hdl::core::prelude::{write_vcd_change, write_vcd_dump, write_vcd_header, Block};
use rust_hdl::core::vcd_probe::VCDProbe;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The output, shared between the VCD writer and us (so it can be flushed and closed).
struct Shared<W: Write>(Arc<Mutex<W>>);

impl<W: Write> Clone for Shared<W> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<W: Write> Write for Shared<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(b)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

/// Which cycles to trace: `[start, start + cycles)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u64,
    pub cycles: u64,
}

impl Window {
    pub fn contains(&self, cycle: u64) -> bool {
        cycle >= self.start && cycle - self.start < self.cycles
    }
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.cycles)
    }
}

pub struct VcdWindow<W: Write + Send + 'static = BufWriter<File>> {
    window: Window,
    period_ps: u64,
    out: Shared<W>,
    probe: Option<VCDProbe<Shared<W>>>,
    /// Samples written.
    pub samples: u64,
    closed: bool,
}

impl VcdWindow<BufWriter<File>> {
    /// Trace `window` to the file at `path` (created now).
    pub fn create(path: &Path, window: Window, clock_hz: f64) -> Result<Self, String> {
        let f = File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        Ok(VcdWindow::new(BufWriter::new(f), window, clock_hz))
    }
}

impl<W: Write + Send + 'static> VcdWindow<W> {
    pub fn new(out: W, window: Window, clock_hz: f64) -> Self {
        let period_ps = (1e12 / clock_hz).round().max(2.0) as u64;
        VcdWindow {
            window,
            period_ps,
            out: Shared(Arc::new(Mutex::new(out))),
            probe: None,
            samples: 0,
            closed: false,
        }
    }

    pub fn window(&self) -> Window {
        self.window
    }

    /// Whether samples of this cycle are wanted (cheap: call it before [`Self::sample`]).
    pub fn wants(&self, cycle: u64) -> bool {
        !self.closed && self.window.contains(cycle)
    }

    /// Whether the window is over (the file is complete).
    pub fn done(&self) -> bool {
        self.closed
    }

    /// Record `uut`'s signals at `cycle` (`second_half`: after the falling edge). Samples outside
    /// the window are ignored; the first cycle at or past its end closes the file.
    pub fn sample(&mut self, cycle: u64, second_half: bool, uut: &dyn Block) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        if cycle >= self.window.end() {
            return self.close();
        }
        if cycle < self.window.start {
            return Ok(());
        }
        let t = cycle * self.period_ps + if second_half { self.period_ps / 2 } else { 0 };
        let probe = match self.probe.take() {
            None => {
                let mut p = write_vcd_header(self.out.clone(), uut);
                p.timestamp(t)?;
                write_vcd_dump(p, uut)
            }
            Some(mut p) => {
                p.timestamp(t)?;
                write_vcd_change(p, uut)
            }
        };
        self.probe = Some(probe);
        self.samples += 1;
        Ok(())
    }

    /// Finish the file (also done when the window ends, and on drop).
    pub fn close(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.probe = None;
        self.out.flush()
    }
}

impl<W: Write + Send + 'static> Drop for VcdWindow<W> {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_hdl::prelude::*;

    #[derive(LogicBlock, Default)]
    struct Counter {
        clock: Signal<In, Clock>,
        count: Signal<Out, Bits<8>>,
        cnt: DFF<Bits<8>>,
    }

    impl Logic for Counter {
        #[hdl_gen]
        fn update(&mut self) {
            dff_setup!(self, clock, cnt);
            self.cnt.d.next = self.cnt.q.val() + 1;
            self.count.next = self.cnt.q.val();
        }
    }

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_window_of_cycles_is_streamed() {
        let mut c = Counter::default();
        c.connect_all();
        let buf = Buf::default();
        // 1 GHz: 1000 ps per cycle
        let mut v = VcdWindow::new(
            buf.clone(),
            Window {
                start: 5,
                cycles: 3,
            },
            1e9,
        );
        for cycle in 0..20 {
            c.clock.next = false.into();
            assert!(simulate(&mut c, 10));
            if v.wants(cycle) {
                v.sample(cycle, true, &c).unwrap();
            }
            c.clock.next = true.into();
            assert!(simulate(&mut c, 10));
            v.sample(cycle + 1, false, &c).unwrap();
            if cycle == 6 {
                // written while the window is open, not at the end
                assert!(!buf.0.lock().unwrap().is_empty());
            }
        }
        assert!(v.done());
        assert_eq!(v.samples, 6);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("$enddefinitions"), "{text}");
        assert!(text.contains("count"), "{text}");
        // cycle 5 starts at 5.0 (the rising edge that ends cycle 4), 5.5 after its falling edge, ...
        let times: Vec<u64> = text
            .lines()
            .filter_map(|l| l.strip_prefix('#')?.parse().ok())
            .collect();
        assert_eq!(times, [5000, 5500, 6000, 6500, 7000, 7500], "{text}");
    }
}
