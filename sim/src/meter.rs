//! Live figures of a running simulator: rates between two samples of [`SimStats`] (cycles per
//! second of real time, frames per second) and the totals, as one line for logs and status.

use crate::nic::SimStats;
use std::fmt;
use std::time::{Duration, Instant};

/// Rates over one interval, plus the totals at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    pub interval: Duration,
    /// Simulated cycles per second of real time over the interval.
    pub cycles_per_s: f64,
    /// Frames per second received from the wire (all ports) and sent to it.
    pub rx_fps: f64,
    pub tx_fps: f64,
    pub total: SimStats,
}

impl Rates {
    /// Frames lost: RX FIFO overflows and exceptions the queue engine could not deliver.
    pub fn drops(&self) -> u64 {
        self.total.rx_overflow.iter().sum::<u64>() + self.total.exc_ring_drops
    }
}

impl fmt::Display for Rates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.total;
        let join = |v: &[u64]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("/")
        };
        write!(
            f,
            "{:.0} cycles/s, {:.0} rx + {:.0} tx frames/s; totals: {} cycles, rx {} tx {} frames (per port), host tx {}, exceptions {}, irqs {}, drops {} (rx overflow {}, exception ring {})",
            self.cycles_per_s,
            self.rx_fps,
            self.tx_fps,
            t.cycles,
            join(&t.rx_frames),
            join(&t.tx_frames),
            t.host_tx_frames,
            t.exceptions,
            t.irqs,
            self.drops(),
            join(&t.rx_overflow),
            t.exc_ring_drops,
        )
    }
}

/// Turns successive [`SimStats`] samples into [`Rates`].
#[derive(Debug, Default)]
pub struct RateMeter {
    last: Option<(Instant, SimStats)>,
}

impl RateMeter {
    pub fn new() -> RateMeter {
        RateMeter::default()
    }

    /// Record a sample taken now; returns the rates since the previous one (none on the first).
    pub fn sample(&mut self, s: SimStats) -> Option<Rates> {
        self.sample_at(Instant::now(), s)
    }

    pub fn sample_at(&mut self, at: Instant, s: SimStats) -> Option<Rates> {
        let prev = self.last.replace((at, s.clone()));
        let (t0, p) = prev?;
        let dt = at.saturating_duration_since(t0);
        let secs = dt.as_secs_f64().max(1e-9);
        let sum = |v: &[u64]| v.iter().sum::<u64>();
        Some(Rates {
            interval: dt,
            cycles_per_s: s.cycles.saturating_sub(p.cycles) as f64 / secs,
            rx_fps: sum(&s.rx_frames).saturating_sub(sum(&p.rx_frames)) as f64 / secs,
            tx_fps: sum(&s.tx_frames).saturating_sub(sum(&p.tx_frames)) as f64 / secs,
            total: s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_between_samples() {
        let mut m = RateMeter::new();
        let t0 = Instant::now();
        let mut s = SimStats::default();
        assert!(m.sample_at(t0, s.clone()).is_none());
        s.cycles = 500_000;
        s.rx_frames = [100, 50];
        s.tx_frames = [40, 60];
        s.rx_overflow = [1, 0];
        s.exc_ring_drops = 2;
        let r = m.sample_at(t0 + Duration::from_millis(500), s).unwrap();
        assert!((r.cycles_per_s - 1e6).abs() < 1.0);
        assert!((r.rx_fps - 300.0).abs() < 1e-6);
        assert!((r.tx_fps - 200.0).abs() < 1e-6);
        assert_eq!(r.drops(), 3);
        let line = r.to_string();
        assert!(line.starts_with("1000000 cycles/s"), "{line}");
        assert!(line.contains("drops 3"), "{line}");
    }
}
