//! The pipeline stages, one block per file, in packet order:
//!
//! 1. [`parse`]: captures the first 64 bytes of each frame (the header window).
//! 2. [`decide`]: classifies, hashes, looks the 5-tuple up in the connection table and builds
//!    the rewritten header window and the frame's decision.
//! 3. [`emit`]: buffers frames until their decision is known, then streams them out to a network
//!    port (with the header window substituted) or to the exception stream, or drops them.
//! 4. [`csr`]: the register blocks of the core (identification, table access, counters).

pub mod csr;
pub mod decide;
pub mod emit;
pub mod fifo;
pub mod parse;

/// Bytes of the header window the parser captures.
pub const HDR_BYTES: usize = 64;
/// The header window in bits.
pub const HDR_BITS: usize = HDR_BYTES * 8;

/// Whether any of the listed signals changed value at the last settle pass (their `changed`
/// flags). Used by the blocks' `update` to skip re-evaluating their combinational logic when
/// nothing it reads has changed (see [`settled_update`]).
macro_rules! changed {
    ($self:ident; $($($f:ident).+),* $(,)?) => { false $(|| $self.$($f).+.changed)* };
}
pub(crate) use changed;

/// Implements `Logic` for a block whose logic is the `#[hdl_gen]` inherent method `logic`.
///
/// RustHDL re-runs every block's `update` on every settle pass until nothing changes; here
/// `update` runs `logic` only on the first call and when one of the listed signals (everything
/// `logic` reads apart from the clock: inputs, locals, the outputs of sub-blocks) changed value
/// at the last pass. `logic` is a pure function of those values and the only writer of what it
/// drives, so skipping it leaves every `.next` it would write unchanged: the simulation is the
/// same, only cheaper. The clock is the exception: `logic` only forwards it to the sub-blocks
/// (`dff_setup!`, `clock!`), so a clock edge alone just forwards it to the listed clock inputs
/// (which must be every clock input `logic` drives) without re-running the logic.
///
/// The Verilog is the one `#[hdl_gen]` generates from `logic`, as before.
macro_rules! settled_update {
    ($self:ident; clocks: $($($c:ident).+),+; reads: $($($f:ident).+),+ $(,)?) => {
        fn update(&mut $self) {
            if $self.clock.changed {
                $($self.$($c).+.next = $self.clock.val();)+
            }
            if $self._evaluated && !crate::stage::changed!($self; $($($f).+),+) {
                return;
            }
            $self._evaluated = true;
            $self.logic();
        }
        fn connect(&mut $self) {
            Self::connect($self)
        }
        fn hdl(&$self) -> Verilog {
            Self::hdl($self)
        }
    };
}
pub(crate) use settled_update;
