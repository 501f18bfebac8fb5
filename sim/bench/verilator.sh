#!/usr/bin/env bash
# Side-by-side simulation speed: the RustHDL core (as the bundled simulator steps it) and
# Verilator running the same emitted Verilog on the same input vectors, at 64 and 512 bits.
# Everything generated goes to $OUT (default: a fresh temporary directory), nothing into the tree.
#
#   sim/bench/verilator.sh [FRAMES]        (needs: verilator, g++, make; Debian: apt-get install verilator)
set -euo pipefail
cd "$(dirname "$0")/../.."
FRAMES=${1:-2000}
OUT=${OUT:-$(mktemp -d /tmp/vsnic-bench.XXXXXX)}
mkdir -p "$OUT"
echo "output in $OUT"
cargo build --release -p vsnic-sim --example bench 2>&1 | tail -1
cargo build --release -p vsnic-firmware --bin vsnic-firmware 2>&1 | tail -1
TARGET=${CARGO_TARGET_DIR:-target}
for W in 64 512; do
    "$TARGET/release/vsnic-firmware" emit-verilog --width "$W" --table-bits 12 -o "$OUT/core$W.v" >/dev/null
    "$TARGET/release/examples/bench" --width "$W" --frames "$FRAMES" --vectors "$OUT/vec$W.bin" | tee "$OUT/rusthdl$W.txt"
    sim/bench/build-tb.sh "$OUT/core$W.v" "$W" "$OUT/obj$W"
    "$OUT/obj$W/tb" "$OUT/vec$W.bin" "${MIN_SECONDS:-3}" | tee "$OUT/verilator$W.txt"
    r=$(sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p' "$OUT/rusthdl$W.txt")
    v=$(sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p' "$OUT/verilator$W.txt")
    rc=$(sed -n 's/.*cycles_per_s=\([0-9]*\).*/\1/p' "$OUT/rusthdl$W.txt")
    vc=$(sed -n 's/.*cycles_per_s=\([0-9]*\).*/\1/p' "$OUT/verilator$W.txt")
    if [ "$r" = "$v" ]; then same="same output"; else same="OUTPUT DIFFERS"; fi
    echo "width $W: RustHDL $rc cycles/s, Verilator $vc cycles/s, ratio $(awk "BEGIN{printf \"%.1f\", $vc/$rc}")x ($same)"
done
