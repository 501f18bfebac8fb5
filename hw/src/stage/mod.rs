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
pub mod parse;

/// Bytes of the header window the parser captures.
pub const HDR_BYTES: usize = 64;
/// The header window in bits.
pub const HDR_BITS: usize = HDR_BYTES * 8;
