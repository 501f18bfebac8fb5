//! Per-entry state the NIC reports: TCP flags seen, packet and byte counts, last-seen time.
//!
//! The daemon polls it every tick for each installed entry and feeds it to the TCP state
//! machine ([`crate::state`]) and the statistics. Today's NIC does not report entry state
//! ([`NoNicState`]); [`FakeNicState`] stands in for it in tests. The real NIC will implement
//! [`NicStateSource`] over its registers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

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
