//! One way of the connection table: a true dual-port block RAM, one entry per set of its way
//! (`decide` holds one per way, `vsnic_contract::hash::Geometry`).
//!
//! * **Port A** (`read_*`): the decide stage's lookup, one read per cycle, never shared.
//! * **Port B** (`write_*`, `host_data`): the host's side through the CSR block. Every cycle it
//!   reads the bucket at `write_address` into `host_data`; when `write_enable` is set it also
//!   writes `write_data` there. The read is read-before-write (it returns the old entry).
//!
//! Giving the host its own port is what lets the host read entries back (the table is the
//! truth a restarted daemon rebuilds from) without ever taking a cycle from the lookups. Both
//! ports sample on the same clock. A lookup of a bucket written in the same cycle returns the
//! old entry (read-before-write on port A too): a packet sees the old entry or the new one,
//! never a mix.
//!
//! Block RAMs of every FPGA family here are true dual-port (ECP5 DP16KD, Xilinx RAMB36/URAM288),
//! but RustHDL's `RAM` models only one read and one write port, so this block's Verilog is the
//! usual inference template and its simulation a vector of entries, checked against each other
//! by the Verilator co-simulation and by yosys mapping it to block RAM in the firmware flow.

use rust_hdl::prelude::*;
use vsnic_contract::entry;

/// An entry of the table as the RAM stores it.
pub type Word = Bits<{ entry::BITS }>;

#[derive(LogicBlock)]
pub struct TableRam<const T: usize> {
    /// Port A: lookup.
    pub read_clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<T>>,
    pub read_data: Signal<Out, Word>,
    /// Port B: the host's writes and reads.
    pub write_clock: Signal<In, Clock>,
    pub write_address: Signal<In, Bits<T>>,
    pub write_data: Signal<In, Word>,
    pub write_enable: Signal<In, Bit>,
    pub host_data: Signal<Out, Word>,
    /// log2 of the entries it holds: the addresses' low `depth_bits` bits are used (a way of a
    /// set-associative table is addressed by the set, the address's low bits).
    _depth_bits: usize,
    _mem: Vec<Word>,
}

impl<const T: usize> Default for TableRam<T> {
    fn default() -> Self {
        Self::with_depth(T)
    }
}

impl<const T: usize> TableRam<T> {
    /// A RAM of `2^depth_bits` entries (at most `2^T`).
    pub fn with_depth(depth_bits: usize) -> Self {
        assert!(depth_bits <= T, "a RAM deeper than its address");
        TableRam {
            read_clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_clock: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            write_enable: Default::default(),
            host_data: Default::default(),
            _depth_bits: depth_bits,
            _mem: vec![Word::default(); 1 << depth_bits],
        }
    }
}

impl<const T: usize> TableRam<T> {
    fn mask(&self) -> usize {
        (1 << self._depth_bits) - 1
    }
}

impl<const T: usize> Logic for TableRam<T> {
    fn update(&mut self) {
        // Both reads happen before the write of the same edge (read-before-write).
        if self.read_clock.pos_edge() {
            self.read_data.next = self._mem[self.read_address.val().index() & self.mask()];
        }
        if self.write_clock.pos_edge() {
            let at = self.write_address.val().index() & self.mask();
            self.host_data.next = self._mem[at];
            if self.write_enable.val() {
                self._mem[at] = self.write_data.val();
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
        self.host_data.connect();
    }

    fn hdl(&self) -> Verilog {
        Verilog::Custom(format!(
            "\
reg [{msb}:0] mem [0:{last}];

always @(posedge read_clock) begin
    read_data <= mem[read_address[{amsb}:0]];
end

always @(posedge write_clock) begin
    host_data <= mem[write_address[{amsb}:0]];
    if (write_enable) begin
        mem[write_address[{amsb}:0]] <= write_data;
    end
end
",
            msb = entry::BITS - 1,
            last = (1usize << self._depth_bits) - 1,
            amsb = self._depth_bits.max(1) - 1,
        ))
    }

    fn timing(&self) -> Vec<TimingInfo> {
        vec![
            TimingInfo {
                name: "table_lookup".into(),
                clock: "read_clock".into(),
                inputs: vec!["read_address".into()],
                outputs: vec!["read_data".into()],
            },
            TimingInfo {
                name: "table_host".into(),
                clock: "write_clock".into(),
                inputs: vec![
                    "write_address".into(),
                    "write_data".into(),
                    "write_enable".into(),
                ],
                outputs: vec!["host_data".into()],
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(v: u64) -> Word {
        v.into()
    }

    /// One clock cycle: inputs set, falling then rising edge.
    fn cycle(r: &mut TableRam<4>) {
        r.read_clock.next = false.into();
        r.write_clock.next = false.into();
        assert!(simulate(r, 20));
        r.read_clock.next = true.into();
        r.write_clock.next = true.into();
        assert!(simulate(r, 20));
    }

    #[test]
    fn both_ports_read_before_write_and_do_not_interfere() {
        let mut r = TableRam::<4>::default();
        r.connect_all();
        // write bucket 3 through port B while port A reads it: A and B both see the old entry
        r.write_address.next = 3.into();
        r.write_data.next = word(0xabcd);
        r.write_enable.next = true;
        r.read_address.next = 3.into();
        cycle(&mut r);
        assert_eq!(r.read_data.val(), word(0));
        assert_eq!(r.host_data.val(), word(0));
        // next cycle both read the new entry
        r.write_enable.next = false;
        cycle(&mut r);
        assert_eq!(r.read_data.val(), word(0xabcd));
        assert_eq!(r.host_data.val(), word(0xabcd));
        // port B reads another bucket while A keeps reading 3
        r.write_address.next = 9.into();
        r.write_data.next = word(0x1234);
        r.write_enable.next = true;
        cycle(&mut r);
        r.write_enable.next = false;
        cycle(&mut r);
        assert_eq!(r.read_data.val(), word(0xabcd));
        assert_eq!(r.host_data.val(), word(0x1234));
        r.read_address.next = 9.into();
        cycle(&mut r);
        assert_eq!(r.read_data.val(), word(0x1234));
    }

    #[test]
    fn verilog_is_the_inference_template() {
        let r = TableRam::<4>::default();
        let Verilog::Custom(v) = r.hdl() else {
            panic!("custom Verilog expected")
        };
        assert!(v.contains(&format!("reg [{}:0] mem [0:15];", entry::BITS - 1)));
        assert!(v.contains("host_data <= mem[write_address[3:0]];"));
        let r = TableRam::<4>::with_depth(2);
        let Verilog::Custom(v) = r.hdl() else {
            panic!("custom Verilog expected")
        };
        assert!(v.contains(&format!("reg [{}:0] mem [0:3];", entry::BITS - 1)));
        assert!(v.contains("read_data <= mem[read_address[1:0]];"));
    }
}
