//! Shared by the firmware integration tests: tools are optional on a developer machine (the test
//! says SKIPPED) and required in CI (`CI` set: the test fails).
#![allow(dead_code)]
use vsnic_firmware::tools::{self, Kind, Tool};

pub fn require(kind: Kind) -> Option<Tool> {
    match tools::find(kind) {
        Ok(t) => Some(t),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "required in CI (firmware/install-tools.sh installs it): {e}"
            );
            eprintln!("SKIPPED: {e}");
            None
        }
    }
}

/// A fresh folder under the target directory's tmp area.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
