//! Things attached to the simulated NIC's ports: a port is a link to a segment holding its
//! attachments. Every frame the NIC sends on a port is offered to each attachment of that port;
//! what an attachment sends goes to the NIC's receive side of that port.

pub use crate::portspec::{PortAttachment, PortSpec};

use crate::endpoint::{Host, Instant};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub trait Attachment: Send {
    /// A frame the NIC transmitted on this attachment's port.
    fn to_wire(&mut self, frame: &[u8]);
    /// Advance to simulated time `now`; push frames for the NIC into `out`.
    fn poll(&mut self, now: Duration, out: &mut Vec<Vec<u8>>);
    /// Simulated time until the attachment next needs a poll (`None`: only when traffic comes).
    fn next_poll(&mut self, now: Duration) -> Option<Duration>;
}

fn instant(d: Duration) -> Instant {
    Instant::from_micros(d.as_micros() as i64)
}

/// An in-process smoltcp host on a port. The host is shared so tests and the demo can read its
/// applications' results while the simulator runs.
///
/// Lock order: the simulator's runner polls attachments while it holds the simulator, so never
/// call a `Simulator` method while holding a host's lock.
pub struct EndpointAttachment {
    pub host: Arc<Mutex<Host>>,
}

impl Attachment for EndpointAttachment {
    fn to_wire(&mut self, frame: &[u8]) {
        self.host.lock().expect("host lock").deliver(frame);
    }
    fn poll(&mut self, now: Duration, out: &mut Vec<Vec<u8>>) {
        let mut h = self.host.lock().expect("host lock");
        h.poll(instant(now));
        while let Some(f) = h.take_tx() {
            out.push(f);
        }
    }
    fn next_poll(&mut self, now: Duration) -> Option<Duration> {
        let d = self
            .host
            .lock()
            .expect("host lock")
            .poll_delay(instant(now))?;
        Some(Duration::from_micros(d.total_micros()))
    }
}

/// Records every frame in both directions (for tests and pcap output).
#[derive(Default)]
pub struct Recorder {
    pub to_wire: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Attachment for Recorder {
    fn to_wire(&mut self, frame: &[u8]) {
        self.to_wire
            .lock()
            .expect("recorder lock")
            .push(frame.to_vec());
    }
    fn poll(&mut self, _now: Duration, _out: &mut Vec<Vec<u8>>) {}
    fn next_poll(&mut self, _now: Duration) -> Option<Duration> {
        None
    }
}
