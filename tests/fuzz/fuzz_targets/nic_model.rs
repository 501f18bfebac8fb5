//! `cargo +nightly fuzz run --fuzz-dir tests/fuzz nic_model`: the body is
//! `vsnic_tests::fuzz_bodies::nic_model` (also run on stable by tests/tests/fuzz_smoke.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vsnic_tests::fuzz_bodies::nic_model(data));
