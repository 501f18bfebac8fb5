//! `cargo +nightly fuzz run --fuzz-dir tests/fuzz ftp_parser`: the body is
//! `vsnic_tests::fuzz_bodies::ftp_parser` (also run on stable by tests/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vsnic_tests::fuzz_bodies::ftp_parser(data));
