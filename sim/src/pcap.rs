//! pcap files on a port: frames read from an input capture arrive on the port from the wire,
//! replayed at their recorded spacing in simulated time; frames the NIC sends on the port are
//! written to an output capture (classic pcap, Ethernet, microsecond timestamps of simulated
//! time) that Wireshark and tshark open.

use crate::attach::Attachment;
use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use pcap_file::DataLink;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Read every frame of a pcap file: (timestamp, bytes). Only Ethernet captures are accepted.
pub fn read_frames(path: &Path) -> Result<Vec<(Duration, Vec<u8>)>, String> {
    let f = File::open(path).map_err(|e| format!("opening {}: {e}", path.display()))?;
    let mut r = PcapReader::new(BufReader::new(f))
        .map_err(|e| format!("{}: not a pcap file: {e}", path.display()))?;
    if r.header().datalink != DataLink::ETHERNET {
        return Err(format!(
            "{}: link type {:?}, only Ethernet captures can be replayed",
            path.display(),
            r.header().datalink
        ));
    }
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.map_err(|e| format!("{}: {e}", path.display()))?;
        out.push((p.timestamp, p.data.into_owned()));
    }
    Ok(out)
}

/// Write frames to a new pcap file (Ethernet).
pub fn write_frames<'a>(
    path: &Path,
    frames: impl IntoIterator<Item = (Duration, &'a [u8])>,
) -> Result<(), String> {
    let mut w = PcapFileWriter::create(path)?;
    for (ts, f) in frames {
        w.write(ts, f)?;
    }
    w.flush()
}

/// A pcap output file, written as frames come (buffered; [`PcapFileWriter::flush`] and drop
/// write the buffer out).
pub struct PcapFileWriter {
    w: PcapWriter<SharedFile>,
    file: SharedFile,
    path: String,
}

/// The output file, shared between the `PcapWriter` and us (so we can flush it).
#[derive(Clone)]
struct SharedFile(Arc<Mutex<BufWriter<File>>>);

impl Write for SharedFile {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

impl PcapFileWriter {
    pub fn create(path: &Path) -> Result<PcapFileWriter, String> {
        let f = File::create(path).map_err(|e| format!("creating {}: {e}", path.display()))?;
        let file = SharedFile(Arc::new(Mutex::new(BufWriter::new(f))));
        let w = PcapWriter::new(file.clone())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(PcapFileWriter {
            w,
            file,
            path: path.display().to_string(),
        })
    }

    pub fn write(&mut self, ts: Duration, frame: &[u8]) -> Result<(), String> {
        self.w
            .write_packet(&PcapPacket::new(ts, frame.len() as u32, frame))
            .map(|_| ())
            .map_err(|e| format!("writing {}: {e}", self.path))
    }

    pub fn flush(&mut self) -> Result<(), String> {
        self.file
            .flush()
            .map_err(|e| format!("writing {}: {e}", self.path))
    }
}

impl Drop for PcapFileWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Frames replayed and written by a [`PcapAttachment`], readable while the simulator runs.
#[derive(Debug, Default)]
pub struct PcapProgress {
    /// Frames of the input capture.
    pub input_total: AtomicU64,
    /// Input frames handed to the port so far.
    pub replayed: AtomicU64,
    /// Frames written to the output capture.
    pub written: AtomicU64,
    pub write_errors: AtomicU64,
}

impl PcapProgress {
    /// Whether every input frame has been handed to the port.
    pub fn replay_done(&self) -> bool {
        self.replayed.load(Ordering::Relaxed) >= self.input_total.load(Ordering::Relaxed)
    }
}

/// A port's pcap attachment: an input capture to replay, an output capture to write, or both.
pub struct PcapAttachment {
    input: VecDeque<(Duration, Vec<u8>)>,
    /// Timestamp of the first input frame.
    first_ts: Duration,
    /// Simulated time of the first poll: the replay's origin.
    start: Option<Duration>,
    output: Option<PcapFileWriter>,
    dirty: bool,
    /// Simulated time of the last poll (the timestamp of frames written).
    now: Duration,
    pub progress: Arc<PcapProgress>,
}

impl PcapAttachment {
    pub fn open(input: Option<&Path>, output: Option<&Path>) -> Result<PcapAttachment, String> {
        let input: VecDeque<_> = match input {
            Some(p) => read_frames(p)?.into(),
            None => VecDeque::new(),
        };
        let output = output.map(PcapFileWriter::create).transpose()?;
        let progress = Arc::new(PcapProgress::default());
        progress
            .input_total
            .store(input.len() as u64, Ordering::Relaxed);
        Ok(PcapAttachment {
            first_ts: input.front().map_or(Duration::ZERO, |f| f.0),
            input,
            start: None,
            output,
            dirty: false,
            now: Duration::ZERO,
            progress,
        })
    }

    /// Simulated time at which input frame with timestamp `ts` is due.
    fn due(&self, ts: Duration) -> Duration {
        self.start.unwrap_or(self.now) + ts.saturating_sub(self.first_ts)
    }
}

impl Attachment for PcapAttachment {
    fn to_wire(&mut self, frame: &[u8]) {
        if let Some(w) = &mut self.output {
            match w.write(self.now, frame) {
                Ok(()) => {
                    self.progress.written.fetch_add(1, Ordering::Relaxed);
                    self.dirty = true;
                }
                Err(e) => {
                    if self.progress.write_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        tracing::warn!("{e}");
                    }
                }
            }
        }
    }

    fn poll(&mut self, now: Duration, out: &mut Vec<Vec<u8>>) {
        self.now = now;
        let start = *self.start.get_or_insert(now);
        while let Some((ts, _)) = self.input.front() {
            if start + ts.saturating_sub(self.first_ts) > now {
                break;
            }
            let (_, f) = self.input.pop_front().expect("front exists");
            out.push(f);
            self.progress.replayed.fetch_add(1, Ordering::Relaxed);
        }
        if self.dirty {
            if let Some(w) = &mut self.output {
                let _ = w.flush();
            }
            self.dirty = false;
        }
    }

    fn next_poll(&mut self, now: Duration) -> Option<Duration> {
        let (ts, _) = self.input.front()?;
        Some(self.due(*ts).saturating_sub(now))
    }
}
