//! Counts settle passes (`update_all` calls until nothing changes) per clock edge of the core
//! under full-rate traffic, and times one pass.
use rust_hdl::prelude::*;
use std::time::Instant;
use vsnic_hw::core::new_core;

fn settle<B: Block>(b: &mut B) -> usize {
    for i in 1..=200 {
        b.update_all();
        if !b.has_changed() {
            return i;
        }
    }
    panic!("no settle")
}

fn run<const W: usize>() {
    let mut c = Box::new(new_core::<W, 12>());
    let beats = 1000usize.div_ceil(W / 8);
    let (mut lo, mut hi, mut n) = (0usize, 0usize, 0usize);
    let t = Instant::now();
    for cyc in 0..(200 * beats) {
        let b = cyc % beats;
        c.s_valid.next = true;
        let v: Bits<64> = (0x5555_5555_5555_5555u64 ^ cyc as u64).into();
        c.s_data.next = bit_cast::<W, 64>(v);
        c.s_last.next = b + 1 == beats;
        c.s_bytes.next = ((if b + 1 == beats {
            1000 - (beats - 1) * (W / 8)
        } else {
            W / 8
        }) as u64)
            .into();
        c.s_user.next = 0.into();
        c.m_exc_ready.next = true;
        c.csr_write.next = false;
        c.csr_read.next = false;
        c.clock.next = false.into();
        lo += settle(&mut *c);
        c.clock.next = true.into();
        hi += settle(&mut *c);
        n += 1;
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "W={W}: {n} cycles, {:.2} passes/falling edge, {:.2} passes/rising edge, {:.0} cycles/s, {:.2} us/pass",
        lo as f64 / n as f64,
        hi as f64 / n as f64,
        n as f64 / dt,
        dt * 1e6 / (lo + hi) as f64
    );
}

fn main() {
    run::<64>();
    run::<512>();
}
