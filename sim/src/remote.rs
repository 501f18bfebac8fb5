//! The simulator as a device in its own process: what `vsnic-simd` serves on a Unix socket and
//! what the daemon's `simd` backend speaks. It is to the simulator what VFIO is to a board: the
//! daemon reaches registers, DMA memory and the interrupt through it, and the NIC outlives the
//! daemon — kill the daemon and the simulated NIC keeps forwarding the connections in its
//! table, exactly the situation a daemon restart must handle.
//!
//! **Sessions.** One daemon owns the device at a time (a second gets "device busy", as a VFIO
//! group has one owner). A session is two connections: the *device* connection carries
//! requests and their responses in order; the *interrupt* connection, opened after it, receives
//! one byte per interrupt (bytes are dropped rather than block the simulator when the reader is
//! behind: an interrupt only says "look at the exception ring"). When the device connection
//! closes — a clean exit or a SIGKILL alike — the session's DMA buffers are freed, as the IOMMU
//! unmaps a closed container's memory: a NIC still pointing its rings at them faults (counted),
//! it never writes into a stranger's memory. The core, its table and the ports run on.
//!
//! **Wire format.** Every message is a little-endian `u32` byte length and that many bytes. A
//! request is an opcode byte and its operands; a response a status byte (0 ok, 1 error followed
//! by a UTF-8 message) and its results. All integers little-endian.
//!
//! | op | request | response |
//! |---|---|---|
//! | 1 HELLO_DEVICE | `u32` [`VERSION`] | — |
//! | 2 HELLO_IRQ | `u32` [`VERSION`] | — (then interrupt bytes) |
//! | 3 READ32 | `u32` offset | `u32` value |
//! | 4 WRITE32 | `u32` offset, `u32` value | — |
//! | 5 BURST | `u32` n, n × (`u32` offset, `u32` value) | — |
//! | 6 DMA_ALLOC | `u64` length | `u64` id, `u64` IOVA |
//! | 7 DMA_READ | `u64` id, `u64` offset, `u32` length | the bytes |
//! | 8 DMA_WRITE | `u64` id, `u64` offset, the bytes | — |
//! | 9 STATS | — | [`STATS_WORDS`] × `u64` ([`encode_stats`]) |
//! | 10 TRANSACT | `u32` w, w × (`u32` offset, `u32` value), `u32` r, r × `u32` offset | r × `u32` value |
//!
//! TRANSACT does its writes, then its reads, in order under one lock of the simulator: a table
//! read command and the words it loads in one round trip.

use crate::nic::{SimStats, NUM_PORTS};
use crate::runner::Simulator;
use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Protocol version (both hellos carry it).
pub const VERSION: u32 = 2;
/// Largest message accepted (a DMA read or write of a whole ring slot and more).
pub const MAX_MESSAGE: usize = 1 << 20;
/// Largest DMA buffer a client may allocate.
pub const MAX_DMA: u64 = 1 << 30;
/// Register space the device answers (BAR0 size).
pub const BAR_BYTES: u32 = 0x1_0000;

const HELLO_DEVICE: u8 = 1;
const HELLO_IRQ: u8 = 2;
const READ32: u8 = 3;
const WRITE32: u8 = 4;
const BURST: u8 = 5;
const DMA_ALLOC: u8 = 6;
const DMA_READ: u8 = 7;
const DMA_WRITE: u8 = 8;
const STATS: u8 = 9;
const TRANSACT: u8 = 10;
/// Most register accesses of one BURST or TRANSACT.
const MAX_ACCESSES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("simulator socket {path}: {source}")]
    Connect { path: String, source: io::Error },
    #[error("simulator connection: {0}")]
    Io(#[from] io::Error),
    #[error("simulator: {0}")]
    Refused(String),
    #[error("simulator sent a malformed response")]
    Malformed,
}

fn write_msg(s: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let mut m = Vec::with_capacity(4 + body.len());
    m.extend_from_slice(&(body.len() as u32).to_le_bytes());
    m.extend_from_slice(body);
    s.write_all(&m)
}

fn read_msg(s: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message of {len} bytes (at most {MAX_MESSAGE})"),
        ));
    }
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(body)
}

/// Operands of a message, read front to back.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn rest(&mut self) -> &[u8] {
        std::mem::take(&mut self.0)
    }
}

/// The figures of [`SimStats`] as words, in a fixed order.
pub const STATS_WORDS: usize = 3 * NUM_PORTS + 8;

pub fn encode_stats(s: &SimStats) -> [u64; STATS_WORDS] {
    let mut w = [0u64; STATS_WORDS];
    w[0] = s.cycles;
    w[1..1 + NUM_PORTS].copy_from_slice(&s.rx_frames);
    w[1 + NUM_PORTS..1 + 2 * NUM_PORTS].copy_from_slice(&s.tx_frames);
    w[1 + 2 * NUM_PORTS..1 + 3 * NUM_PORTS].copy_from_slice(&s.rx_overflow);
    let t = 1 + 3 * NUM_PORTS;
    w[t] = s.host_tx_frames;
    w[t + 1] = s.exceptions;
    w[t + 2] = s.irqs;
    w[t + 3] = s.dma_faults;
    w[t + 4] = s.exc_ring_drops;
    w[t + 5] = s.tx_bad_desc;
    w[t + 6] = s.clocking_time.as_micros() as u64;
    w
}

pub fn decode_stats(w: &[u64; STATS_WORDS]) -> SimStats {
    let t = 1 + 3 * NUM_PORTS;
    let mut s = SimStats {
        cycles: w[0],
        host_tx_frames: w[t],
        exceptions: w[t + 1],
        irqs: w[t + 2],
        dma_faults: w[t + 3],
        exc_ring_drops: w[t + 4],
        tx_bad_desc: w[t + 5],
        clocking_time: Duration::from_micros(w[t + 6]),
        ..SimStats::default()
    };
    s.rx_frames.copy_from_slice(&w[1..1 + NUM_PORTS]);
    s.tx_frames
        .copy_from_slice(&w[1 + NUM_PORTS..1 + 2 * NUM_PORTS]);
    s.rx_overflow
        .copy_from_slice(&w[1 + 2 * NUM_PORTS..1 + 3 * NUM_PORTS]);
    s
}

// ---------------------------------------------------------------------------------------------
// Server

/// The session of the daemon that owns the device.
#[derive(Default)]
struct Session {
    /// Which session (a new daemon's is another).
    id: u64,
    /// DMA buffers it allocated (freed when it goes).
    bufs: Vec<usize>,
    /// Whether its interrupt connection is open.
    irq: bool,
}

/// What `vsnic-simd` runs: serve `sim` on `listener` until `stop` is set (checked between
/// connections; a listener in non-blocking mode is polled). Each connection gets a thread.
pub fn serve(sim: Arc<Simulator>, listener: UnixListener, stop: Arc<AtomicBool>) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let session: Arc<Mutex<Option<Session>>> = Arc::new(Mutex::new(None));
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((conn, _)) => {
                conn.set_nonblocking(false)?;
                let sim = sim.clone();
                let session = session.clone();
                std::thread::Builder::new()
                    .name("vsnic-simd-conn".into())
                    .spawn(move || {
                        if let Err(e) = connection(&sim, &session, conn) {
                            tracing::debug!(error = %e, "simulator connection ended");
                        }
                    })?;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn lock(s: &Mutex<Option<Session>>) -> std::sync::MutexGuard<'_, Option<Session>> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn reply_err(conn: &mut UnixStream, msg: &str) -> io::Result<()> {
    let mut b = vec![1u8];
    b.extend_from_slice(msg.as_bytes());
    write_msg(conn, &b)
}

fn connection(
    sim: &Simulator,
    session: &Mutex<Option<Session>>,
    mut conn: UnixStream,
) -> io::Result<()> {
    let hello = read_msg(&mut conn)?;
    let mut c = Cursor(&hello);
    let (op, version) = (c.take(1).map(|b| b[0]), c.u32());
    if version != Some(VERSION) {
        return reply_err(
            &mut conn,
            &format!("protocol version {version:?}, this simulator speaks {VERSION}"),
        );
    }
    match op {
        Some(HELLO_DEVICE) => {
            {
                let mut s = lock(session);
                if s.is_some() {
                    drop(s);
                    return reply_err(&mut conn, "device busy: another daemon owns it");
                }
                static SESSIONS: std::sync::atomic::AtomicU64 =
                    std::sync::atomic::AtomicU64::new(1);
                *s = Some(Session {
                    id: SESSIONS.fetch_add(1, Ordering::SeqCst),
                    ..Session::default()
                });
            }
            tracing::info!("a daemon attached");
            write_msg(&mut conn, &[0])?;
            let r = device_loop(sim, session, &mut conn);
            // the owner is gone: its memory with it; the NIC runs on
            sim.set_irq_handler(|| {});
            let bufs = lock(session).take().map(|s| s.bufs).unwrap_or_default();
            sim.with_nic(|n| {
                for b in bufs {
                    n.mem.free(b);
                }
            });
            tracing::info!("the daemon detached; its DMA buffers are freed");
            r
        }
        Some(HELLO_IRQ) => {
            let id = {
                let mut s = lock(session);
                match s.as_mut() {
                    Some(sess) if !sess.irq => {
                        sess.irq = true;
                        sess.id
                    }
                    _ => {
                        drop(s);
                        return reply_err(&mut conn, "no device session to deliver interrupts of");
                    }
                }
            };
            write_msg(&mut conn, &[0])?;
            // (a write timeout, not non-blocking mode: that flag would be shared with the
            // reading side below, which must block)
            let tx = conn.try_clone()?;
            tx.set_write_timeout(Some(Duration::from_millis(1)))?;
            let tx = Mutex::new(tx);
            sim.set_irq_handler(move || {
                // a full socket means interrupts are pending already: drop this one (after at
                // most 1 ms; the simulator thread must not wait on a slow daemon)
                let _ = tx.lock().unwrap_or_else(|p| p.into_inner()).write(&[1]);
            });
            // wait for the client to go
            let mut sink = [0u8; 64];
            while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
            if let Some(s) = lock(session).as_mut().filter(|s| s.id == id) {
                s.irq = false;
            }
            Ok(())
        }
        _ => reply_err(&mut conn, "expected a hello"),
    }
}

fn device_loop(
    sim: &Simulator,
    session: &Mutex<Option<Session>>,
    conn: &mut UnixStream,
) -> io::Result<()> {
    loop {
        let req = match read_msg(conn) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        match handle(sim, session, &req) {
            Ok(body) => write_msg(conn, &body)?,
            Err(msg) => reply_err(conn, &msg)?,
        }
    }
}

fn reg(off: u32) -> Result<u32, String> {
    if !off.is_multiple_of(4) || off >= BAR_BYTES {
        return Err(format!(
            "register offset {off:#x} is not an aligned BAR offset"
        ));
    }
    Ok(off)
}

fn owned(session: &Mutex<Option<Session>>, id: u64) -> Result<usize, String> {
    let s = lock(session);
    let id = id as usize;
    if s.as_ref().is_some_and(|s| s.bufs.contains(&id)) {
        Ok(id)
    } else {
        Err(format!("DMA buffer {id} is not this session's"))
    }
}

/// One request: the response body, or an error message.
fn handle(
    sim: &Simulator,
    session: &Mutex<Option<Session>>,
    req: &[u8],
) -> Result<Vec<u8>, String> {
    let mut c = Cursor(req);
    let bad = || "malformed request".to_string();
    let op = c.take(1).ok_or_else(bad)?[0];
    let mut out = vec![0u8];
    match op {
        READ32 => {
            let off = reg(c.u32().ok_or_else(bad)?)?;
            let v = sim.with_nic(|n| n.read32(off));
            out.extend_from_slice(&v.to_le_bytes());
        }
        WRITE32 => {
            let off = reg(c.u32().ok_or_else(bad)?)?;
            let v = c.u32().ok_or_else(bad)?;
            sim.with_nic(|n| n.write32(off, v));
        }
        BURST => {
            let n = c.u32().ok_or_else(bad)? as usize;
            let mut writes = Vec::with_capacity(n.min(MAX_ACCESSES));
            for _ in 0..n {
                let off = reg(c.u32().ok_or_else(bad)?)?;
                writes.push((off, c.u32().ok_or_else(bad)?));
            }
            sim.with_nic(|nic| {
                for (off, v) in writes {
                    nic.write32(off, v);
                }
            });
        }
        TRANSACT => {
            let n = c.u32().ok_or_else(bad)? as usize;
            if n > MAX_ACCESSES {
                return Err(format!("{n} writes in one transaction"));
            }
            let mut writes = Vec::with_capacity(n);
            for _ in 0..n {
                let off = reg(c.u32().ok_or_else(bad)?)?;
                writes.push((off, c.u32().ok_or_else(bad)?));
            }
            let n = c.u32().ok_or_else(bad)? as usize;
            if n > MAX_ACCESSES {
                return Err(format!("{n} reads in one transaction"));
            }
            let mut reads = Vec::with_capacity(n);
            for _ in 0..n {
                reads.push(reg(c.u32().ok_or_else(bad)?)?);
            }
            sim.with_nic(|nic| {
                for (off, v) in writes {
                    nic.write32(off, v);
                }
                for off in reads {
                    out.extend_from_slice(&nic.read32(off).to_le_bytes());
                }
            });
        }
        DMA_ALLOC => {
            let len = c.u64().ok_or_else(bad)?;
            if len == 0 || len > MAX_DMA {
                return Err(format!("DMA buffer of {len} bytes"));
            }
            let (id, iova) = sim.with_nic(|n| n.mem.alloc(len as usize));
            if let Some(s) = lock(session).as_mut() {
                s.bufs.push(id);
            }
            out.extend_from_slice(&(id as u64).to_le_bytes());
            out.extend_from_slice(&iova.to_le_bytes());
        }
        DMA_READ => {
            let id = owned(session, c.u64().ok_or_else(bad)?)?;
            let off = c.u64().ok_or_else(bad)? as usize;
            let len = c.u32().ok_or_else(bad)? as usize;
            if len > MAX_MESSAGE - 1 {
                return Err(format!("DMA read of {len} bytes"));
            }
            let mut data = vec![0u8; len];
            sim.with_nic(|n| n.mem.host_read(id, off, &mut data))
                .ok_or_else(|| format!("DMA read of {len} bytes at {off} outside buffer {id}"))?;
            out.extend_from_slice(&data);
        }
        DMA_WRITE => {
            let id = owned(session, c.u64().ok_or_else(bad)?)?;
            let off = c.u64().ok_or_else(bad)? as usize;
            let data = c.rest();
            sim.with_nic(|n| n.mem.host_write(id, off, data))
                .ok_or_else(|| {
                    format!(
                        "DMA write of {} bytes at {off} outside buffer {id}",
                        data.len()
                    )
                })?;
        }
        STATS => {
            for w in encode_stats(&sim.stats()) {
                out.extend_from_slice(&w.to_le_bytes());
            }
        }
        _ => return Err(format!("unknown request {op}")),
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Client

/// A daemon's side of a session.
pub struct RemoteDevice {
    conn: Mutex<UnixStream>,
    irq: Mutex<Option<UnixStream>>,
}

fn hello(path: &Path, op: u8) -> Result<UnixStream, RemoteError> {
    let mut s = UnixStream::connect(path).map_err(|source| RemoteError::Connect {
        path: path.display().to_string(),
        source,
    })?;
    let mut b = vec![op];
    b.extend_from_slice(&VERSION.to_le_bytes());
    write_msg(&mut s, &b)?;
    status(read_msg(&mut s)?)?;
    Ok(s)
}

fn status(resp: Vec<u8>) -> Result<Vec<u8>, RemoteError> {
    match resp.first() {
        Some(0) => Ok(resp[1..].to_vec()),
        Some(1) => Err(RemoteError::Refused(
            String::from_utf8_lossy(&resp[1..]).into_owned(),
        )),
        _ => Err(RemoteError::Malformed),
    }
}

impl RemoteDevice {
    /// Attach to the simulator serving `path`: the device connection, then the interrupt one.
    pub fn connect(path: &Path) -> Result<RemoteDevice, RemoteError> {
        let conn = hello(path, HELLO_DEVICE)?;
        let irq = hello(path, HELLO_IRQ)?;
        Ok(RemoteDevice {
            conn: Mutex::new(conn),
            irq: Mutex::new(Some(irq)),
        })
    }

    /// The interrupt connection (once): one byte arrives per interrupt; EOF when the
    /// simulator goes away.
    pub fn take_irq(&self) -> Option<UnixStream> {
        self.irq.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn call(&self, req: &[u8]) -> Result<Vec<u8>, RemoteError> {
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        write_msg(&mut *c, req)?;
        status(read_msg(&mut *c)?)
    }

    fn words<const N: usize>(resp: &[u8]) -> Result<[u64; N], RemoteError> {
        if resp.len() != 8 * N {
            return Err(RemoteError::Malformed);
        }
        let mut w = [0u64; N];
        for (i, x) in w.iter_mut().enumerate() {
            *x = u64::from_le_bytes(resp[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        }
        Ok(w)
    }

    pub fn read32(&self, off: u32) -> Result<u32, RemoteError> {
        let mut r = vec![READ32];
        r.extend_from_slice(&off.to_le_bytes());
        let v = self.call(&r)?;
        Ok(u32::from_le_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| RemoteError::Malformed)?,
        ))
    }

    pub fn write32(&self, off: u32, val: u32) -> Result<(), RemoteError> {
        let mut r = vec![WRITE32];
        r.extend_from_slice(&off.to_le_bytes());
        r.extend_from_slice(&val.to_le_bytes());
        self.call(&r).map(drop)
    }

    /// Register writes done in order under one lock of the simulator (one message).
    pub fn write32_burst(&self, writes: &[(u32, u32)]) -> Result<(), RemoteError> {
        let mut r = vec![BURST];
        r.extend_from_slice(&(writes.len() as u32).to_le_bytes());
        for (off, val) in writes {
            r.extend_from_slice(&off.to_le_bytes());
            r.extend_from_slice(&val.to_le_bytes());
        }
        self.call(&r).map(drop)
    }

    /// Register writes, then reads into `out` (one per offset of `reads`), in order under one
    /// lock of the simulator (one message).
    pub fn transact(
        &self,
        writes: &[(u32, u32)],
        reads: &[u32],
        out: &mut [u32],
    ) -> Result<(), RemoteError> {
        assert_eq!(reads.len(), out.len(), "one result word per read");
        let mut r = vec![TRANSACT];
        r.extend_from_slice(&(writes.len() as u32).to_le_bytes());
        for (off, val) in writes {
            r.extend_from_slice(&off.to_le_bytes());
            r.extend_from_slice(&val.to_le_bytes());
        }
        r.extend_from_slice(&(reads.len() as u32).to_le_bytes());
        for off in reads {
            r.extend_from_slice(&off.to_le_bytes());
        }
        let v = self.call(&r)?;
        if v.len() != 4 * out.len() {
            return Err(RemoteError::Malformed);
        }
        for (w, b) in out.iter_mut().zip(v.chunks_exact(4)) {
            *w = u32::from_le_bytes(b.try_into().expect("4 bytes"));
        }
        Ok(())
    }

    /// (buffer id, IOVA).
    pub fn dma_alloc(&self, len: usize) -> Result<(u64, u64), RemoteError> {
        let mut r = vec![DMA_ALLOC];
        r.extend_from_slice(&(len as u64).to_le_bytes());
        let [id, iova] = Self::words::<2>(&self.call(&r)?)?;
        Ok((id, iova))
    }

    pub fn dma_read(&self, id: u64, off: usize, out: &mut [u8]) -> Result<(), RemoteError> {
        let mut r = vec![DMA_READ];
        r.extend_from_slice(&id.to_le_bytes());
        r.extend_from_slice(&(off as u64).to_le_bytes());
        r.extend_from_slice(&(out.len() as u32).to_le_bytes());
        let data = self.call(&r)?;
        if data.len() != out.len() {
            return Err(RemoteError::Malformed);
        }
        out.copy_from_slice(&data);
        Ok(())
    }

    pub fn dma_write(&self, id: u64, off: usize, data: &[u8]) -> Result<(), RemoteError> {
        let mut r = Vec::with_capacity(17 + data.len());
        r.push(DMA_WRITE);
        r.extend_from_slice(&id.to_le_bytes());
        r.extend_from_slice(&(off as u64).to_le_bytes());
        r.extend_from_slice(data);
        self.call(&r).map(drop)
    }

    pub fn stats(&self) -> Result<SimStats, RemoteError> {
        Ok(decode_stats(&Self::words::<STATS_WORDS>(
            &self.call(&[STATS])?,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::SimConfig;
    use vsnic_contract::regs::{self, id};

    fn server(tag: &str) -> (std::path::PathBuf, Arc<AtomicBool>, Arc<Simulator>) {
        let path =
            std::env::temp_dir().join(format!("vsnic-simd-{tag}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let sim = Arc::new(
            Simulator::start(&SimConfig {
                table_bits: 8,
                ..SimConfig::default()
            })
            .unwrap(),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (sim.clone(), stop.clone());
        std::thread::spawn(move || serve(s, listener, st));
        (path, stop, sim)
    }

    #[test]
    fn a_session_reaches_registers_memory_and_stats_and_frees_memory_at_its_end() {
        let (path, stop, sim) = server("session");
        let dev = RemoteDevice::connect(&path).unwrap();
        assert_eq!(dev.read32(regs::VERSION).unwrap() >> 16, 1);
        assert_eq!(dev.read32(id::DESIGN_ID).unwrap(), id::DESIGN_ID_VALUE);
        assert!(matches!(dev.read32(3), Err(RemoteError::Refused(_))));
        // a transaction: a staging word written, then read back beside a constant register
        let stage = regs::table::BASE + regs::table::DATA0 + 8;
        let mut got = [0u32; 2];
        dev.transact(&[(stage, 0x1234_5678)], &[stage, id::DESIGN_ID], &mut got)
            .unwrap();
        assert_eq!(got, [0x1234_5678, id::DESIGN_ID_VALUE]);
        let (buf, iova) = dev.dma_alloc(4096).unwrap();
        dev.dma_write(buf, 100, &[1, 2, 3]).unwrap();
        let mut out = [0u8; 3];
        dev.dma_read(buf, 100, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3]);
        assert!(dev.dma_read(buf, 4095, &mut out).is_err());
        assert!(dev.dma_read(buf + 1, 0, &mut out).is_err(), "not ours");
        assert!(dev.stats().unwrap().cycles > 0 || sim.stats().cycles == 0);
        // one owner at a time
        let second = RemoteDevice::connect(&path);
        assert!(
            matches!(&second, Err(RemoteError::Refused(m)) if m.contains("busy")),
            "{:?}",
            second.err()
        );
        // the owner goes: its buffer is gone for the device
        drop(dev);
        let mut freed = false;
        for _ in 0..100 {
            let mut b = [0u8; 3];
            if sim
                .with_nic(|n| n.mem.dma_read(iova + 100, &mut b))
                .is_err()
            {
                freed = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(freed, "the session's DMA buffer was freed");
        // and a new daemon can attach
        let again = RemoteDevice::connect(&path).unwrap();
        assert_eq!(again.read32(id::DESIGN_ID).unwrap(), id::DESIGN_ID_VALUE);
        stop.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn stats_round_trip() {
        let s = SimStats {
            cycles: 7,
            rx_frames: std::array::from_fn(|i| 100 + i as u64),
            tx_frames: std::array::from_fn(|i| 200 + i as u64),
            rx_overflow: std::array::from_fn(|i| 300 + i as u64),
            host_tx_frames: 13,
            exceptions: 14,
            irqs: 15,
            dma_faults: 16,
            exc_ring_drops: 17,
            tx_bad_desc: 18,
            clocking_time: Duration::from_micros(19),
        };
        assert_eq!(decode_stats(&encode_stats(&s)), s);
    }

    #[test]
    fn malformed_requests_are_refused() {
        let (path, stop, _sim) = server("bad");
        let dev = RemoteDevice::connect(&path).unwrap();
        for req in [
            &[READ32][..],
            &[42],
            &[BURST, 5, 0, 0, 0, 1],
            &[TRANSACT, 0, 0, 0, 0, 1, 0, 0, 0],
            &[TRANSACT, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0],
            &[DMA_ALLOC, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert!(
                matches!(dev.call(req), Err(RemoteError::Refused(_))),
                "{req:?}"
            );
        }
        // still serving
        assert_eq!(dev.read32(id::DESIGN_ID).unwrap(), id::DESIGN_ID_VALUE);
        stop.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&path);
    }
}
