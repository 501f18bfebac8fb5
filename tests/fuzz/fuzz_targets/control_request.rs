//! `cargo +nightly fuzz run --fuzz-dir tests/fuzz control_request`: the body is
//! `vsnic_tests::fuzz_bodies::control_request` (also run on stable by tests/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vsnic_tests::fuzz_bodies::control_request(data));
