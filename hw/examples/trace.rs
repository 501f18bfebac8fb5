//! Prints a digest of the core's cycle-level output (which frame came out at which cycle, CSR
//! read values) under random traffic with idle gaps, a throttled exception stream and CSR
//! traffic, to compare two versions of the circuit for cycle-exact equality.
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use vsnic_hw::driver::Harness;

fn run<const W: usize>(seed: u64, cycles: u64) {
    let mut h = Harness::<W, 8>::new();
    let mut x = seed;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // table entries: random words, some valid with a few actions
    for i in 0..256u32 {
        let mut w = [0u32; vsnic_contract::entry::WORDS];
        for v in w.iter_mut() {
            *v = rnd() as u32;
        }
        h.write_entry(i, &w);
    }
    let mut digest = DefaultHasher::new();
    let mut log = Vec::new();
    while h.cycle < cycles {
        if h.input_pending() < 32 {
            let len = 14 + (rnd() % 300) as usize;
            let mut f: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            if rnd() % 4 != 0 && len > 60 {
                // IPv4/TCP-looking header so that lookups happen
                f[12] = 8;
                f[13] = 0;
                f[14] = 0x45;
                f[20] = 0;
                f[21] = 0;
                f[23] = 6;
            }
            h.push_frame(&f, (rnd() % 16) as u8);
        }
        h.exc_ready = rnd() % 8 != 0;
        if rnd() % 64 == 0 {
            h.queue_read(0x0100 * (rnd() % 3) as u32 + 4 * (rnd() % 24) as u32);
        }
        h.step(rnd() % 5 != 0);
        while let Some(f) = h.tx.pop_front() {
            log.push((h.cycle, 0u8, f.0, f.1));
        }
        while let Some(e) = h.exc.pop_front() {
            log.push((
                h.cycle,
                1u8,
                0,
                [format!("{:?}", e.meta).into_bytes(), e.frame].concat(),
            ));
        }
        while let Some(r) = h.reads.pop_front() {
            log.push((h.cycle, 2u8, 0, r.to_le_bytes().to_vec()));
        }
    }
    log.hash(&mut digest);
    println!(
        "W={W} seed={seed}: {} events, digest {:016x}",
        log.len(),
        digest.finish()
    );
}

fn main() {
    run::<64>(1, 200_000);
    run::<128>(2, 50_000);
    run::<512>(3, 50_000);
}
