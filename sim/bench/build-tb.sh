#!/usr/bin/env bash
# Build the Verilator testbench (sim/bench/tb.cpp) around an emitted core:
#
#   sim/bench/build-tb.sh CORE.v WIDTH DIR      -> DIR/tb
#
# Used by sim/bench/verilator.sh and tests/tests/verilator_cosim.rs (one set of Verilator flags).
# The build log is DIR/build.log; its tail is printed when the build fails.
set -euo pipefail
CORE=$1
W=$2
DIR=$3
TB="$(cd "$(dirname "$0")" && pwd)/tb.cpp"
mkdir -p "$DIR"
verilator --cc --exe --build -O3 --top-module top -Wno-fatal -Wno-WIDTH -Wno-UNOPTFLAT \
    -CFLAGS "-O2 -DWIDTH=$W" --Mdir "$DIR" -o tb "$CORE" "$TB" \
    >"$DIR/build.log" 2>&1 || { tail -30 "$DIR/build.log"; exit 1; }
