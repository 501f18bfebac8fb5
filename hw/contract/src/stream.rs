//! The core's input stream side band (`s_user`): where a frame came from and, for frames the
//! host injects, where it goes.
//!
//! Data beats carry bytes in lane order (byte 0 of the frame in bits 0..8). Each beat has a byte
//! count (`bytes`, 1..=width/8, only less than full on the last beat) instead of a tkeep mask; board
//! glue converts.

use crate::{Layout, NamedField};

pub const USER_WIDTH: usize = 8;
/// Port the frame arrived on (0..=3); for host frames, the port to send on if bypassing.
pub const PORT: crate::Field = 0..2;
/// The frame was injected by the host (TX queue); it is never an exception.
pub const FROM_HOST: crate::Field = 2..3;
/// Host frame goes straight out of `PORT`, without lookup or rewrite.
pub const BYPASS: crate::Field = 3..4;

pub const LAYOUT: Layout = Layout {
    name: "stream_user",
    width: USER_WIDTH,
    fields: &[
        NamedField {
            name: "port",
            bits: PORT,
            doc: "ingress port, or egress port of a bypass frame",
        },
        NamedField {
            name: "from_host",
            bits: FROM_HOST,
            doc: "frame injected by the host",
        },
        NamedField {
            name: "bypass",
            bits: BYPASS,
            doc: "host frame skips lookup and rewrite",
        },
    ],
};

/// Encode the side band.
pub fn user(port: u8, from_host: bool, bypass: bool) -> u8 {
    (port & 3) | (from_host as u8) << 2 | (bypass as u8) << 3
}
