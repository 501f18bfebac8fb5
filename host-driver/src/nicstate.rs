//! Per-entry state the NIC reports: TCP flags seen, packet and byte counts, last-seen time.
//!
//! The daemon polls it every tick for each installed entry and feeds it to the TCP state
//! machine ([`crate::state`]) and the statistics. A NIC whose table block is 1.2 or later keeps
//! an absolute activity record per bucket (`vsnic_contract::activity`), which the daemon reads
//! through the driver and turns into [`EntryActivity`] with an [`ActivityTracker`] (the
//! baseline of each bucket). An older NIC reports nothing ([`NoNicState`]); [`FakeNicState`]
//! scripts the activity directly in tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use vsnic_contract::activity::{self, Activity};

use crate::net::TcpFlags;

/// What the NIC saw on one table entry since the previous read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryActivity {
    /// Flags seen on any segment since the last read (the NIC ORs them; their order is lost).
    pub flags: TcpFlags,
    /// Packets and bytes since the last read.
    pub packets: u64,
    pub bytes: u64,
    /// When the entry last matched, if ever.
    pub last_seen: Option<Instant>,
}

/// A source of per-entry activity.
pub trait NicStateSource: Send {
    /// Whether this source reports anything. When it does not, the daemon cannot tell an idle
    /// connection from a busy one and treats a connection as established once installed.
    fn reports_state(&self) -> bool;
    /// Activity of table bucket `bucket` since the previous call for it (and reset it).
    fn read(&mut self, bucket: u32) -> Option<EntryActivity>;
}

/// The NIC of today: no per-entry state.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoNicState;

impl NicStateSource for NoNicState {
    fn reports_state(&self) -> bool {
        false
    }
    fn read(&mut self, _bucket: u32) -> Option<EntryActivity> {
        None
    }
}

/// A scriptable source for tests: [`FakeNicState::record`] is a frame the NIC carried.
#[derive(Debug, Default, Clone)]
pub struct FakeNicState {
    entries: Arc<Mutex<HashMap<u32, EntryActivity>>>,
}

impl FakeNicState {
    pub fn new() -> FakeNicState {
        FakeNicState::default()
    }

    /// The NIC forwarded a segment with `flags` and `bytes` through `bucket` at `at`.
    pub fn record(&self, bucket: u32, flags: TcpFlags, bytes: u64, at: Instant) {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let a = m.entry(bucket).or_default();
        a.flags.syn |= flags.syn;
        a.flags.ack |= flags.ack;
        a.flags.fin |= flags.fin;
        a.flags.rst |= flags.rst;
        a.packets += 1;
        a.bytes += bytes;
        a.last_seen = Some(at);
    }
}

impl NicStateSource for FakeNicState {
    fn reports_state(&self) -> bool {
        true
    }
    fn read(&mut self, bucket: u32) -> Option<EntryActivity> {
        let mut m = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        m.remove(&bucket)
    }
}

/// What the host knows of a bucket's activity record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Baseline {
    /// Not read since the daemon started.
    Unknown,
    /// The record as last read: later reads report what happened since.
    Known(Activity),
    /// The bucket's connection left it; the record is read again at the next poll (by then
    /// every frame that hit the old entry has been counted, `activity::SETTLE_CYCLES`) and
    /// becomes the baseline of the bucket's next connection.
    Released,
}

/// Turns the NIC's absolute, wrapping per-bucket activity records into what happened since the
/// previous read ([`EntryActivity`]). The NIC never clears a record, so the host keeps the
/// last value read per bucket: when a connection is installed into a bucket whose value is not
/// known, the record is read before the entry is written ([`ActivityTracker::needs_baseline`]);
/// when a connection leaves a bucket, the record is read once more later
/// ([`ActivityTracker::released`]) so the next connection starts from it.
#[derive(Debug, Clone)]
pub struct ActivityTracker {
    base: Vec<Baseline>,
}

/// One unit of NIC time.
pub const NIC_TICK: Duration = Duration::from_nanos(1 << activity::TICK_NS_LOG2);

impl ActivityTracker {
    /// A tracker for a table of `buckets` buckets, none known yet.
    pub fn new(buckets: usize) -> ActivityTracker {
        ActivityTracker {
            base: vec![Baseline::Unknown; buckets],
        }
    }

    fn slot(&mut self, bucket: u32) -> Option<&mut Baseline> {
        self.base.get_mut(bucket as usize)
    }

    /// Whether the record of `bucket` must be read before a new connection's entry is written
    /// there (its baseline is unknown or from an earlier connection not yet settled).
    pub fn needs_baseline(&self, bucket: u32) -> bool {
        !matches!(
            self.base.get(bucket as usize),
            Some(Baseline::Known(_)) | None
        )
    }

    /// `record` is the value of `bucket` now, with nothing to report.
    pub fn set_baseline(&mut self, bucket: u32, record: Activity) {
        if let Some(b) = self.slot(bucket) {
            *b = Baseline::Known(record);
        }
    }

    /// `bucket`'s connection left it (its entry was invalidated).
    pub fn released(&mut self, bucket: u32) {
        if let Some(b) = self.slot(bucket) {
            *b = Baseline::Released;
        }
    }

    /// Buckets released since the last poll: read each once and [`Self::set_baseline`].
    pub fn released_buckets(&self) -> Vec<u32> {
        self.base
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == Baseline::Released)
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// A poll read `record` from `bucket` (in use) when the NIC's time was `nic_now` and the
    /// host's `now`: what happened since the previous read, `None` when nothing did. A bucket
    /// whose baseline was unknown (after a restart) reports nothing the first time.
    pub fn advance(
        &mut self,
        bucket: u32,
        record: Activity,
        nic_now: u32,
        now: Instant,
    ) -> Option<EntryActivity> {
        let b = self.slot(bucket)?;
        let before = match *b {
            Baseline::Known(a) => a,
            Baseline::Unknown | Baseline::Released => {
                *b = Baseline::Known(record);
                return None;
            }
        };
        *b = Baseline::Known(record);
        let d = record.since(&before);
        let last = d.last_seen?;
        // NIC time runs in the same direction as ours; a record newer than `nic_now` (a frame
        // counted between the two reads) or older than half the wrap is taken as "now".
        let age = nic_now.wrapping_sub(last);
        let at = if age > i32::MAX as u32 {
            now
        } else {
            now.checked_sub(NIC_TICK * age).unwrap_or(now)
        };
        let flagged = d.syns as u64 + d.fins as u64 + d.rsts as u64;
        Some(EntryActivity {
            flags: TcpFlags {
                syn: d.syns > 0,
                // a segment without SYN, FIN or RST is an ACK (IPVS takes one event per
                // segment: RST > SYN > FIN > ACK); the NIC counts the others
                ack: d.packets as u64 > flagged,
                fin: d.fins > 0,
                rst: d.rsts > 0,
            },
            packets: d.packets as u64,
            bytes: d.bytes,
            last_seen: Some(at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsnic_contract::activity::HitFlags;

    const FIN: HitFlags = HitFlags {
        syn: false,
        fin: true,
        rst: false,
    };

    #[tokio::test(start_paused = true)]
    async fn deltas_since_the_baseline_with_the_nic_time_as_an_instant() {
        let mut t = ActivityTracker::new(16);
        assert!(t.needs_baseline(3));
        // the previous connection in bucket 3 left 10 packets and a FIN behind
        let mut rec = Activity::default();
        for _ in 0..10 {
            rec = rec.record(100, FIN, 7);
        }
        t.set_baseline(3, rec);
        assert!(!t.needs_baseline(3));
        let now = Instant::now() + Duration::from_secs(100);
        assert_eq!(t.advance(3, rec, 50, now), None, "nothing new");
        let rec2 =
            rec.record(60, HitFlags::default(), 1000)
                .record(1514, HitFlags::default(), 1040);
        let a = t.advance(3, rec2, 1040 + 954, now).expect("two frames");
        assert_eq!((a.packets, a.bytes), (2, 1574));
        assert!(a.flags.ack && !a.flags.fin && !a.flags.syn && !a.flags.rst);
        // 954 ticks of 1.048576 ms before `now`
        assert_eq!(now - a.last_seen.unwrap(), NIC_TICK * 954);
        // a FIN alone is not an ACK event too
        let rec3 = rec2.record(54, FIN, 2000);
        let a = t.advance(3, rec3, 2000, now).unwrap();
        assert!(a.flags.fin && !a.flags.ack);
        assert_eq!(a.last_seen, Some(now));
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_and_released_buckets_report_nothing_first() {
        let mut t = ActivityTracker::new(4);
        let now = Instant::now();
        let busy = Activity::default().record(60, FIN, 1);
        assert_eq!(
            t.advance(1, busy, 1, now),
            None,
            "after a restart: baseline only"
        );
        assert!(t
            .advance(1, busy.record(60, HitFlags::default(), 2), 2, now)
            .is_some());
        t.released(1);
        assert!(t.needs_baseline(1));
        assert_eq!(t.released_buckets(), vec![1]);
        t.set_baseline(1, busy);
        assert!(t.released_buckets().is_empty());
        // out of range buckets are ignored, never a panic
        t.released(99);
        assert_eq!(t.advance(99, busy, 0, now), None);
        assert!(!t.needs_baseline(99));
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_newer_than_the_time_read_is_now() {
        let mut t = ActivityTracker::new(2);
        let now = Instant::now() + Duration::from_secs(5);
        t.set_baseline(0, Activity::default());
        let rec = Activity::default().record(60, HitFlags::default(), 101);
        assert_eq!(t.advance(0, rec, 100, now).unwrap().last_seen, Some(now));
    }
}
