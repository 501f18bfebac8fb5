//! Generates `docs/contract.md` from the definitions in this crate.

use crate::regs::{Access, BLOCKS};
use crate::{activity, entry, exception, queue, stream, Layout, Reason};
use core::fmt::{self, Write};

/// Every packed layout of the contract.
pub const LAYOUTS: &[Layout] = &[
    entry::LAYOUT,
    activity::LAYOUT,
    exception::meta::LAYOUT,
    stream::LAYOUT,
    queue::exc_desc::LAYOUT,
    queue::tx_desc::LAYOUT,
];

/// Write the contract as Markdown.
pub fn write_markdown(w: &mut impl Write) -> fmt::Result {
    writeln!(w, "# vsnic hardware/software contract")?;
    writeln!(w)?;
    writeln!(
        w,
        "Generated from `hw/contract` by `cargo run -p vsnic-contract --example gen-docs`; \
         a test fails when this file is stale. Do not edit by hand."
    )?;
    writeln!(w)?;
    writeln!(w, "## Register blocks")?;
    writeln!(w)?;
    writeln!(
        w,
        "Each block starts with `TYPE` (+0x00), `VERSION` (+0x04) and `NEXT` (+0x08, base of the \
         next block, 0 at the end); the chain starts at 0x0000."
    )?;
    for b in BLOCKS {
        writeln!(w)?;
        writeln!(
            w,
            "### `{}` at {:#06x} — type {:#010x}, version {:#010x} ({})",
            b.name, b.base, b.type_id, b.version, b.implemented_by
        )?;
        writeln!(w)?;
        writeln!(w, "| offset | register | access | meaning |")?;
        writeln!(w, "|---|---|---|---|")?;
        for r in b.regs {
            let acc = match r.access {
                Access::Ro => "RO",
                Access::Rw => "RW",
                Access::Wo => "WO",
            };
            writeln!(
                w,
                "| {:#06x} | {} | {} | {} |",
                r.offset, r.name, acc, r.doc
            )?;
        }
    }
    writeln!(w)?;
    writeln!(w, "## Packed layouts (bit ranges, LSB = 0)")?;
    for l in LAYOUTS {
        writeln!(w)?;
        writeln!(w, "### `{}` ({} bits)", l.name, l.width)?;
        writeln!(w)?;
        writeln!(w, "| bits | field | meaning |")?;
        writeln!(w, "|---|---|---|")?;
        for f in l.fields {
            writeln!(
                w,
                "| {}..{} | {} | {} |",
                f.bits.start, f.bits.end, f.name, f.doc
            )?;
        }
    }
    writeln!(w)?;
    writeln!(w, "## Exception reason codes")?;
    writeln!(w)?;
    writeln!(w, "| code | name |")?;
    writeln!(w, "|---|---|")?;
    for r in Reason::ALL {
        writeln!(w, "| {} | {} |", r as u8, r.name())?;
    }
    writeln!(w)?;
    writeln!(w, "## Host queues")?;
    writeln!(w)?;
    writeln!(
        w,
        "Rings of {}-byte slots: a {}-byte descriptor then the frame (at most {} bytes). \
         Indices are free-running; slot = index mod ring size.",
        queue::SLOT_BYTES,
        queue::DESC_BYTES,
        queue::MAX_FRAME
    )?;
    writeln!(w)?;
    writeln!(w, "## Flow hash test vectors")?;
    writeln!(w)?;
    writeln!(w, "| key (saddr, daddr, sport, dport, proto) | mix |")?;
    writeln!(w, "|---|---|")?;
    for (k, h) in crate::hash::VECTORS {
        writeln!(
            w,
            "| {:?}, {:?}, {}, {}, {} | {:#010x} |",
            k.saddr, k.daddr, k.sport, k.dport, k.proto, h
        )?;
    }
    Ok(())
}
