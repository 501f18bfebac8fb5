//! A synchronous first-word-fall-through FIFO of `2^N` words, as one leaf block.
//!
//! Cycle for cycle it behaves like rust-hdl-widgets' `SynchronousFIFO<D, N, N+1, 1>` on the
//! ports the stages use (`write`/`data_in`, `read`/`data_out`/`empty`): the same read and write
//! pointers (`N+1` bits), the same one-cycle delay of the write pointer before a written word
//! becomes visible, the same look-ahead read address, and the same "no write when full, no read
//! when empty" rules. It exists because the widget is four levels of blocks (FIFO, read logic,
//! write logic, RAM, eight flip-flops) that RustHDL re-evaluates on every settle pass, with the
//! data word copied through six signals: for the wide FIFOs of `emit` that dominated the
//! simulation time. Here the Rust model is a few lines run at the clock edge, and the Verilog is
//! the same behaviour written out in one module, arranged for timing: `empty` comes from a
//! register, and the words at the read pointer and after it are both read from registered
//! addresses (two read ports, i.e. the memory twice in LUT RAM) so that the look-ahead choice is
//! a multiplexer in front of `data_out` instead of logic on the memory's address inputs.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Fifo<D: Synth, const N: usize> {
    pub clock: Signal<In, Clock>,
    pub write: Signal<In, Bit>,
    pub data_in: Signal<In, D>,
    pub read: Signal<In, Bit>,
    /// The head word (valid while `!empty`).
    pub data_out: Signal<Out, D>,
    pub empty: Signal<Out, Bit>,
    // Simulation state (the Verilog below has the same registers and memory).
    _mem: Vec<D>,
    _read_ptr: usize,
    _write_ptr: usize,
    _write_ptr_delayed: usize,
}

impl<D: Synth, const N: usize> Default for Fifo<D, N> {
    fn default() -> Self {
        assert!((1..16).contains(&N), "FIFO address bits");
        Self {
            clock: Default::default(),
            write: Default::default(),
            data_in: Default::default(),
            read: Default::default(),
            data_out: Default::default(),
            empty: Default::default(),
            _mem: vec![D::default(); 1 << N],
            _read_ptr: 0,
            _write_ptr: 0,
            _write_ptr_delayed: 0,
        }
    }
}

impl<D: Synth, const N: usize> Logic for Fifo<D, N> {
    fn update(&mut self) {
        let addr_mask = (1usize << N) - 1;
        let ptr_mask = (2usize << N) - 1;
        if self.clock.pos_edge() {
            let is_empty = self._read_ptr == self._write_ptr_delayed;
            let is_full =
                !is_empty && (self._read_ptr & addr_mask) == (self._write_ptr & addr_mask);
            let reading = self.read.val() && !is_empty;
            let read_addr = if reading {
                self._read_ptr + 1
            } else {
                self._read_ptr
            } & addr_mask;
            // The RAM's registered read sees the memory before this edge's write.
            self.data_out.next = self._mem[read_addr];
            let write_ptr = self._write_ptr;
            if self.write.val() && !is_full {
                self._mem[write_ptr & addr_mask] = self.data_in.val();
                self._write_ptr = (write_ptr + 1) & ptr_mask;
            }
            self._write_ptr_delayed = write_ptr;
            if reading {
                self._read_ptr = (self._read_ptr + 1) & ptr_mask;
            }
        }
        self.empty.next = self._read_ptr == self._write_ptr_delayed;
    }

    fn connect(&mut self) {
        self.data_out.connect();
        self.empty.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
reg [{dmax}:0] mem[{amax}:0];
reg [{n}:0] read_ptr;
reg [{n}:0] read_ptr_p1;
reg [{n}:0] write_ptr;
reg [{n}:0] write_ptr_delayed;
reg is_empty;
wire is_full = ~is_empty & (read_ptr[{nm1}:0] == write_ptr[{nm1}:0]);
wire reading = read & ~is_empty;
wire [{n}:0] write_ptr_next = write_ptr + {np1}'d1;
wire [{n}:0] read_ptr_after = reading ? read_ptr_p1 : read_ptr;
// Both candidate head words are read from registered addresses; `reading` only selects between
// them in front of `data_out` (it never reaches the memory's address inputs).
wire [{dmax}:0] word_here = mem[read_ptr[{nm1}:0]];
wire [{dmax}:0] word_next = mem[read_ptr_p1[{nm1}:0]];

initial begin
   read_ptr = {np1}'d0;
   read_ptr_p1 = {np1}'d1;
   write_ptr = {np1}'d0;
   write_ptr_delayed = {np1}'d0;
   is_empty = 1'b1;
   data_out = {zero:x};
end

always @(*) begin
   empty = is_empty;
end

always @(posedge clock) begin
   data_out <= reading ? word_next : word_here;
   if (write & ~is_full) begin
      mem[write_ptr[{nm1}:0]] <= data_in;
      write_ptr <= write_ptr_next;
   end
   write_ptr_delayed <= write_ptr;
   // empty next cycle: the read pointer then against the write pointer then delayed
   is_empty <= (read_ptr_after == write_ptr);
   if (reading) begin
      read_ptr <= read_ptr_p1;
      read_ptr_p1 <= read_ptr_p1 + {np1}'d1;
   end
end
",
            dmax = D::BITS - 1,
            amax = (1usize << N) - 1,
            n = N,
            nm1 = N - 1,
            np1 = N + 1,
            zero = D::default().verilog(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Cycle-by-cycle against the widget it replaces, through fill-up, drain and random phases.
    #[test]
    fn matches_synchronous_fifo() {
        let mut mine = Fifo::<Bits<40>, 3>::default();
        let mut lib = SynchronousFIFO::<Bits<40>, 3, 4, 1>::default();
        mine.connect_all();
        lib.connect_all();
        let mut rng = StdRng::seed_from_u64(7);
        let mut reads = 0;
        for cycle in 0..20_000 {
            let (p_write, p_read) = match (cycle / 500) % 3 {
                0 => (0.8, 0.2),
                1 => (0.2, 0.8),
                _ => (0.5, 0.5),
            };
            let (write, read) = (rng.gen_bool(p_write), rng.gen_bool(p_read));
            let data: Bits<40> = rng.gen_range(0..1u64 << 40).into();
            mine.write.next = write;
            mine.read.next = read;
            mine.data_in.next = data;
            lib.write.next = write;
            lib.read.next = read;
            lib.data_in.next = data;
            for clock in [false, true] {
                mine.clock.next = clock.into();
                lib.clock.next = clock.into();
                assert!(simulate(&mut mine, 100) && simulate(&mut lib, 100));
                assert_eq!(mine.empty.val(), lib.empty.val(), "empty at cycle {cycle}");
                if !lib.empty.val() {
                    assert_eq!(
                        mine.data_out.val(),
                        lib.data_out.val(),
                        "data at cycle {cycle}"
                    );
                    reads += (clock && read) as usize;
                }
            }
        }
        assert!(reads > 5000);
    }
}
