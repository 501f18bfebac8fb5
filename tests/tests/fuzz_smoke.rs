//! The fuzz targets on stable, bounded: every target body (`vsnic_tests::fuzz_bodies`) over its
//! whole seed corpus (`tests/fuzz/corpus/<target>/`), then over a bounded number of deterministic
//! mutations of it (`VSNIC_FUZZ_ITERS`, default 20 000 to 200 000 per target). A panic is a crash: its input is written
//! to `<target dir>/tmp/fuzz-smoke-crash-<target>` (and printed in hex) to be added to the corpus as a
//! `regress-*` file once fixed. The real fuzzing (libFuzzer, nightly) is in `tests/fuzz/`; see
//! docs/reliability.md.
//!
//! `VSNIC_BLESS=1 cargo test -p vsnic-tests --test fuzz_smoke` rewrites the `seed-*` files from
//! `vsnic_tests::fuzz_seeds`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use vsnic_tests::fuzz_bodies::TARGETS;
use vsnic_tests::fuzz_seeds::seeds;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// The corpus files of `target`, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("directory entry").path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("corpus file"))
        })
        .collect();
    v.sort();
    v
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes a mutation likes to write: boundaries, and the characters the parsers split on.
const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'0', b'9', b',', b'\n', b'\r', b' ', b'(', b')', b'|', b'-', b'2',
    b'7', b'{', b'}', b'"', b':', 0x45, 0x08, 0x06, 0x10, 0x02,
];
/// Numbers a mutation likes to write (as text, or as binary below).
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "255",
    "256",
    "300",
    "999",
    "1000",
    "65535",
    "65536",
    "4294967295",
    "4294967296",
    "-1",
    "00000000255",
];
const BINARY: &[u32] = &[
    0,
    1,
    0x7f,
    0x80,
    0xff,
    0x100,
    0xffff,
    0x1_0000,
    0x7fff_ffff,
    u32::MAX,
];

/// One to four random edits of `data`, splicing with `other` now and then.
fn mutate(rng: &mut Rng, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let b = if rng.below(2) == 0 {
                    INTERESTING[rng.below(INTERESTING.len())]
                } else {
                    rng.next() as u8
                };
                for _ in 0..1 + rng.below(3) {
                    v.insert(i, b);
                }
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                v.drain(i..i + n);
            }
            4 if len > 0 => {
                // duplicate a range (a repeated line, a repeated record)
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let chunk = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                // splice: our head, the other's tail
                let a = rng.below(len + 1);
                let b = rng.below(other.len());
                v.truncate(a);
                v.extend_from_slice(&other[b..]);
            }
            6 => {
                let i = rng.below(len + 1);
                let s = NUMBERS[rng.below(NUMBERS.len())];
                let n = if len > i && rng.below(2) == 0 {
                    // replace a run of digits
                    v[i..].iter().take_while(|c| c.is_ascii_digit()).count()
                } else {
                    0
                };
                v.splice(i..i + n, s.bytes());
            }
            7 if len > 0 => {
                let i = rng.below(len);
                let x = BINARY[rng.below(BINARY.len())].to_le_bytes();
                let w = [1, 2, 4][rng.below(3)];
                let n = w.min(len - i);
                v[i..i + n].copy_from_slice(&x[..n]);
            }
            8 if len > 0 => {
                v.truncate(rng.below(len));
            }
            _ => {
                if len > 0 {
                    let i = rng.below(len);
                    v[i] = v[i].wrapping_add(1 + rng.below(3) as u8);
                }
            }
        }
    }
    v
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Run `body` on `input`; on a panic, save the input and fail naming it.
fn run_one(target: &str, body: fn(&[u8]), what: &str, input: &[u8]) {
    let r = std::panic::catch_unwind(|| body(input));
    if r.is_err() {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fuzz-smoke-crash-{target}"));
        let _ = std::fs::write(&out, input);
        panic!(
            "{target}: crash on {what}; input saved to {} ({} bytes): {}",
            out.display(),
            input.len(),
            hex(input)
        );
    }
}

/// Mutations per target: `VSNIC_FUZZ_ITERS`, or a default sized so all four take a few seconds.
fn iterations(target: &str) -> usize {
    std::env::var("VSNIC_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(match target {
            "control_request" => 20_000,
            "exception_frame" => 50_000,
            _ => 200_000,
        })
}

#[test]
fn seed_corpora_are_current() {
    let bless = std::env::var_os("VSNIC_BLESS").is_some();
    for (target, _) in TARGETS {
        let dir = corpus_dir(target);
        let want = seeds(target);
        assert!(!want.is_empty(), "{target} has no seeds");
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            for (name, _) in corpus(target) {
                if name.starts_with("seed-") {
                    std::fs::remove_file(dir.join(name)).unwrap();
                }
            }
            for (name, data) in &want {
                std::fs::write(dir.join(name), data).unwrap();
            }
        }
        let have = corpus(target);
        for (name, data) in &want {
            let on_disk = have.iter().find(|(n, _)| n == name);
            assert!(
                on_disk.is_some_and(|(_, d)| d == data),
                "{target}/{name} is missing or stale: VSNIC_BLESS=1 cargo test -p vsnic-tests --test fuzz_smoke"
            );
        }
    }
}

fn smoke(target: &str) {
    let body = TARGETS.iter().find(|(n, _)| *n == target).unwrap().1;
    let mut inputs: Vec<(String, Vec<u8>)> = corpus(target);
    // Seeds not yet written (before the first bless) are run too.
    for s in seeds(target) {
        if !inputs.iter().any(|(n, _)| *n == s.0) {
            inputs.push(s);
        }
    }
    let t0 = Instant::now();
    for (name, data) in &inputs {
        run_one(target, body, name, data);
    }
    let n = iterations(target);
    let seed = target.bytes().fold(0x9e37_79b9_7f4a_7c15u64, |a, b| {
        (a ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = Rng(seed);
    let mut current: Vec<Vec<u8>> = inputs.iter().map(|(_, d)| d.clone()).collect();
    for i in 0..n {
        let a = rng.below(current.len());
        let b = rng.below(current.len());
        let m = mutate(&mut rng, &current[a], &current[b]);
        run_one(
            target,
            body,
            &format!("mutation {i} of corpus entry {a}"),
            &m,
        );
        // Keep some mutants as parents, so edits stack up (a cheap stand-in for coverage).
        if rng.below(8) == 0 && m.len() < 16 * 1024 {
            let slot = inputs.len() + rng.below(64);
            if slot < current.len() {
                current[slot] = m;
            } else {
                current.push(m);
            }
        }
    }
    eprintln!(
        "{target}: {} corpus inputs + {n} mutations in {:.1} s",
        inputs.len(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn ftp_parser() {
    smoke("ftp_parser");
}

#[test]
fn exception_frame() {
    smoke("exception_frame");
}

#[test]
fn control_request() {
    smoke("control_request");
}

#[test]
fn nic_model() {
    smoke("nic_model");
}

/// The seeds reach the deep paths: the FTP session's frames bind the control connection, run
/// through the helper, rewrite the 227 and open the data connection.
#[test]
fn seeds_reach_the_helper() {
    use vsnic_contract::Reason;
    use vsnic_host::ExceptionFrame;
    let (nic, mut d) = vsnic_tests::fuzz_bodies::fuzz_daemon();
    for (reason, port, _, frame) in vsnic_tests::fuzz_seeds::ftp_session_records(0) {
        d.handle_exception(ExceptionFrame {
            frame,
            reason,
            src_port: port,
            hit: reason == Reason::AppPayload,
            index: 0,
        });
        nic.take_tx();
    }
    let s = d.stats();
    assert!(s.app_segments >= 3, "{s:?}");
    assert_eq!(s.app_rewrites, 1, "{s:?}");
    assert!(
        s.data_expected_passive >= 1 && s.data_expected_active >= 1,
        "{s:?}"
    );
    assert_eq!(s.malformed, 0, "{s:?}");
}

/// `VSNIC_FUZZ_REPLAY=<target>:<file> cargo test -p vsnic-tests --test fuzz_smoke replay`: run
/// one input (a libFuzzer crash artifact) through a target body on stable.
#[test]
fn replay() {
    let Ok(spec) = std::env::var("VSNIC_FUZZ_REPLAY") else {
        return;
    };
    let (target, file) = spec.split_once(':').expect("<target>:<file>");
    let body = TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .expect("target")
        .1;
    body(&std::fs::read(file).expect("input file"));
}
