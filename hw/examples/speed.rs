//! Quick cycles/s probe of the core under full-rate traffic.
use std::time::Instant;
use vsnic_hw::driver::Harness;
fn run<const W: usize>() {
    let mut h = Harness::<W, 12>::new();
    let frame = vec![0x55u8; 1000];
    for _ in 0..200 {
        h.push_frame(&frame, 0);
    }
    let t = Instant::now();
    let c0 = h.cycle;
    while h.input_pending() > 0 {
        h.step(true);
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "W={W}: {} cycles in {dt:.2}s = {:.0} cycles/s",
        h.cycle - c0,
        (h.cycle - c0) as f64 / dt
    );
}
fn main() {
    run::<64>();
    run::<512>();
}
