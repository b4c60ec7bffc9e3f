#!/bin/sh
# Export an RTL block and lint it with `verilator --lint-only -Wall`; prints a count per warning kind.
# Usage: scripts/lint_verilog.sh [BLOCK] [--set key=value ...]   (default block: attention)
# The full log is in build/lint/<BLOCK>.lint.log.
set -e
BLOCK=${1:-attention}
[ $# -gt 0 ] && shift
KIT=${KIT:-.venv/bin/attnkit}
PY=${PY:-.venv/bin/python}
OUT=build/lint
mkdir -p $OUT
$KIT verilog "$BLOCK" -o $OUT "$@" >/dev/null
ROOT=$($PY -c "from attnkit.testbench import toolchain; print(toolchain.verilator_root())")
VERILATOR_ROOT=$ROOT "$ROOT/bin/verilator" --lint-only -Wall "$OUT/$BLOCK.v" >"$OUT/$BLOCK.lint.log" 2>&1 || true
echo "verilator --lint-only -Wall $OUT/$BLOCK.v:"
grep -o '%Warning-[A-Z]*\|%Error[-A-Z]*' "$OUT/$BLOCK.lint.log" | sort | uniq -c || echo "  no warnings"
