//! The pipeline stages, one block per file, in packet order:
//!
//! 1. [`parse`]: captures the first 64 bytes of each frame (the header window) and the next 32
//!    (the option window: the rest of the longest TCP header, where SACK edges may sit).
//! 2. [`decide`]: classifies, hashes ([`hash`]: the keyed flow hash), looks the 5-tuple up in
//!    the connection table and builds the rewritten header window and the frame's decision
//!    ([`sack`]: one SACK edge's fix-up, eight in `decide`).
//! 3. [`emit`]: buffers frames until their decision is known, then streams them out to a network
//!    port (with the header window substituted) or to the exception stream, or drops them.
//! 4. [`activity`]: per-bucket activity records (packets, bytes, last seen, SYN/FIN/RST), one
//!    read-modify-write per hit, with read-after-write forwarding and a shadow copy for the host.
//! 5. [`csr`]: the register blocks of the core (identification, table access, counters).
//!
//! [`table`] is the connection table's dual-port block RAM (lookup port for `decide`, host port
//! for `csr`).

pub mod activity;
pub mod csr;
pub mod decide;
pub mod emit;
pub mod fifo;
pub mod hash;
pub mod parse;
pub mod sack;
pub mod table;

/// Bytes of the header window the parser captures.
pub const HDR_BYTES: usize = 64;
/// The header window in bits.
pub const HDR_BITS: usize = HDR_BYTES * 8;
/// Bytes of the option window, the frame bytes right after the header window.
pub const OPT_BYTES: usize = vsnic_contract::exception::sack::WINDOW_END - HDR_BYTES;
/// The option window in bits.
pub const OPT_BITS: usize = OPT_BYTES * 8;
const _: () = assert!(
    OPT_BITS == 256,
    "the option window is eight 32-bit edge slots"
);

thread_local! {
    static EVAL_ALWAYS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether blocks must re-evaluate on every settle pass (RustHDL's own behaviour), disabling the
/// skip of [`settled_update`]. Tests set it to check that the skip changes nothing.
pub(crate) fn eval_always() -> bool {
    EVAL_ALWAYS.with(|c| c.get())
}

/// Set [`eval_always`] for this thread.
pub fn set_eval_always(on: bool) {
    EVAL_ALWAYS.with(|c| c.set(on));
}

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
            if $self._evaluated
                && !crate::stage::eval_always()
                && !crate::stage::changed!($self; $($($f).+),+)
            {
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

#[cfg(test)]
mod tests {
    /// Every signal a block's logic reads (`self.x.val()`) must be in its `settled_update!`
    /// `reads:` list, or the block could skip an evaluation it needed. Checked on the source.
    #[test]
    fn sensitivity_lists_cover_every_read() {
        let files = [
            ("parse.rs", include_str!("parse.rs")),
            ("decide.rs", include_str!("decide.rs")),
            ("emit.rs", include_str!("emit.rs")),
            ("csr.rs", include_str!("csr.rs")),
            ("activity.rs", include_str!("activity.rs")),
            ("sack.rs", include_str!("sack.rs")),
            ("core.rs", include_str!("../core.rs")),
        ];
        for (name, src) in files {
            let start = src.find("settled_update!(").expect(name);
            let inv = &src[start..start + src[start..].find(");").expect(name)];
            let reads_at = inv.find("reads:").expect(name) + "reads:".len();
            let listed: Vec<String> = inv[reads_at..]
                .split(',')
                .map(|s| s.split_whitespace().collect::<String>())
                .filter(|s| !s.is_empty())
                .collect();
            let body_at = src.find("fn logic(&mut self)").expect(name);
            let body = &src[body_at..];
            let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
            let mut missing = Vec::new();
            for (i, _) in body.match_indices(".val()") {
                let before = &body[..i];
                let Some(s) = before.rfind("self.") else {
                    continue;
                };
                let sig = &before[s + "self.".len()..];
                if sig.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.')) {
                    continue;
                }
                let is_const = src.contains(&format!("    {}: Constant<", sig));
                if sig != "clock" && !is_const && !listed.iter().any(|l| l == sig) {
                    missing.push(sig.to_string());
                }
            }
            missing.sort();
            missing.dedup();
            assert!(
                missing.is_empty(),
                "{name}: logic reads {missing:?} but its reads: list omits them"
            );
        }
    }
}
