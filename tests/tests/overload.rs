//! Overload: a SYN flood that fills the exception ring never stalls the fast path.
//!
//! The simulated NIC (64-bit core, its MAC ports, the queue engine writing a 64-slot exception
//! ring in host memory that the host never drains) holds one established connection. Port 0
//! receives a flood of SYNs from many sources — back to back, faster than 10 GbE line rate —
//! with the established client's segments mixed in; port 1 receives the real server's full-size
//! replies. Every established segment must come out rewritten; the SYNs fill the ring and the
//! rest are dropped and counted; and the core takes a beat every cycle it has one (no stall), so
//! the run takes no more cycles than the beats it carried.

use std::net::Ipv4Addr;

use vsnic_contract::entry::Entry;
use vsnic_contract::regs::{counters, exq, table};
use vsnic_contract::{hash, queue};
use vsnic_sim::SimNic;
use vsnic_tests::packets::{web_entries, Tcp, ACK, CLIENT, PORT1_MAC, REAL, REAL_MAC, SYN, VIP};

const TABLE_BITS: u32 = 12;
const RING_LOG2: u32 = 6;
const CPORT: u16 = 40000;
/// Frames per port (the MAC's RX FIFO holds 1024).
const SYNS: usize = 900;
const CLIENT_SEGMENTS: usize = 100;
const SERVER_SEGMENTS: usize = 600;

fn install(nic: &mut SimNic, e: &Entry) {
    let index = hash::bucket(&e.key, TABLE_BITS);
    for (i, w) in e.to_words().iter().enumerate() {
        nic.write32(table::BASE + table::DATA0 + 4 * i as u32, *w);
    }
    nic.write32(table::BASE + table::CMD, table::CMD_WRITE | index);
}

#[test]
fn a_syn_flood_never_stalls_established_traffic() {
    let mut nic = SimNic::new(64, TABLE_BITS as usize).expect("core 64/12");
    let (_ring, iova) = nic.mem.alloc((1 << RING_LOG2) * queue::SLOT_BYTES);
    nic.write32(exq::BASE + exq::BASE_LO, iova as u32);
    nic.write32(exq::BASE + exq::BASE_HI, (iova >> 32) as u32);
    nic.write32(exq::BASE + exq::SIZE_LOG2, RING_LOG2);
    let (inbound, outbound) = web_entries(CPORT);
    install(&mut nic, &inbound);
    install(&mut nic, &outbound);
    let start = nic.stats();

    // Port 0: the flood, every 9th frame a segment of the established client.
    let request = [b'x'; 200];
    let mut beats = 0u64;
    let mut port0 = Vec::new();
    let mut syns = 0;
    let mut client = 0;
    while syns < SYNS || client < CLIENT_SEGMENTS {
        let f = if port0.len() % 9 == 8 && client < CLIENT_SEGMENTS {
            client += 1;
            Tcp::new((CLIENT, CPORT), (VIP, 80), &request).build()
        } else if syns < SYNS {
            let src = Ipv4Addr::new(172, 16, (syns / 250) as u8, (syns % 250) as u8);
            syns += 1;
            Tcp {
                flags: SYN,
                ..Tcp::new((src, 1024 + syns as u16), (VIP, 80), b"")
            }
            .build()
        } else {
            client += 1;
            Tcp::new((CLIENT, CPORT), (VIP, 80), &request).build()
        };
        beats += f.len().div_ceil(8) as u64;
        port0.push(f);
    }
    // Port 1: the real server's full-size replies.
    let reply = [b'y'; 1460];
    let port1: Vec<Vec<u8>> = (0..SERVER_SEGMENTS)
        .map(|i| {
            Tcp {
                smac: REAL_MAC,
                dmac: PORT1_MAC,
                seq: 1 + (i * reply.len()) as u32,
                flags: ACK,
                ..Tcp::new((REAL, 8080), (CLIENT, CPORT), &reply)
            }
            .build()
        })
        .collect();
    beats += port1
        .iter()
        .map(|f| f.len().div_ceil(8) as u64)
        .sum::<u64>();
    for f in &port0 {
        nic.receive(0, f.clone());
    }
    for f in &port1 {
        nic.receive(1, f.clone());
    }
    let c0 = nic.cycle();
    while nic.has_work() {
        nic.step();
    }
    let cycles = nic.cycle() - c0;

    // Every established segment came out, rewritten, on the right port; nothing else did.
    let to_server: Vec<_> = nic.ports[1].tx.drain(..).collect();
    let to_client: Vec<_> = nic.ports[0].tx.drain(..).collect();
    assert_eq!(
        to_server.len(),
        CLIENT_SEGMENTS,
        "client segments forwarded"
    );
    assert_eq!(
        to_client.len(),
        SERVER_SEGMENTS,
        "server segments forwarded"
    );
    assert!(to_server
        .iter()
        .all(|f| f[30..34] == REAL.octets() && f[36..38] == 8080u16.to_be_bytes()));
    assert!(to_client
        .iter()
        .all(|f| f[26..30] == VIP.octets() && f[34..36] == 80u16.to_be_bytes()));

    // The SYNs: the ring's 64 slots filled, every other SYN dropped and counted.
    let s = nic.stats();
    let delivered = s.exceptions - start.exceptions;
    let ring_drops = s.exc_ring_drops - start.exc_ring_drops;
    let core_drops = nic.read32(counters::BASE + counters::EXC_DROP) as u64;
    assert_eq!(s.rx_overflow, [0, 0], "the MACs took every frame");
    assert_eq!(
        delivered - ring_drops,
        1 << RING_LOG2,
        "exceptions in the ring"
    );
    assert_eq!(
        delivered - ring_drops + ring_drops + core_drops,
        SYNS as u64,
        "every SYN delivered or counted: {delivered} delivered ({ring_drops} of them dropped by the full ring), {core_drops} dropped by the core"
    );

    // No stall: the core carried a beat on (almost) every cycle of the run. The margin is the
    // pipeline's fill and drain and the arbiter's one-cycle turn between frames.
    let frames = (port0.len() + port1.len()) as u64;
    assert!(
        cycles <= beats + frames + 200,
        "{cycles} cycles for {beats} beats of {frames} frames"
    );
    // 64-byte SYNs take 8 beats: the flood arrived at 156.25 MHz / 9 cycles ≈ 17 M frames/s per
    // port, above 10 GbE line rate (14.88 M/s).
    eprintln!(
        "overload: {frames} frames ({SYNS} SYNs) in {cycles} cycles for {beats} beats; {} exceptions in the ring, {ring_drops} + {core_drops} SYNs dropped and counted",
        1 << RING_LOG2
    );
}
