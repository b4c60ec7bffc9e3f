"""``verilator --lint-only -Wall`` on a block's exported Verilog, warnings counted by kind.

Amaranth's Verilog (written by Yosys) always draws some warnings of
Verilator's ``-Wall`` style checks, even for the 8-bit MAC, so the check
separates those from warnings that would point at the design:

- WIDTHEXPAND, WIDTHTRUNC: the generator's implicit widening and truncation;
- PROCASSINIT: every flip-flop is declared ``reg x = <init>`` (its reset and
  power-on value) and then assigned in ``always @(posedge clk)``;
- UNUSEDSIGNAL: the generator's intermediate wires whose top bits are dropped
  (``$15[1]``) and the per-field aliases it emits for ``lib.data`` views;
- DECLFILENAME: one file holds every module of the hierarchy.

Anything else (LATCH, MULTIDRIVEN, UNDRIVEN, CASEINCOMPLETE, COMBDLY,
BLKSEQ, ...) is a design finding. Two that Amaranth designs draw, and their fixes:
UNSIGNED (a compare constant because its operand is unsigned, such as
clamping a sum of unsigned values at 0: :func:`attnkit.hw.fixed.saturate_or_wrap`
clamps an unsigned value at the top only) and CASEINCOMPLETE (an
``Array`` read whose index is wider than the table: pad it,
:func:`attnkit.hw.decode.pick`; a ``Switch`` over a state code with unused
values, whose trailing cases Yosys drops when they assign nothing: end it in
``m.Default()``).

Run ``python -m attnkit.testbench.lint BLOCK [--set k=v ...]``; the full log goes to ``build/lint/BLOCK.lint.log``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from attnkit.hw import blocks
from attnkit.testbench import toolchain

GENERATOR_STYLE = {"WIDTHEXPAND", "WIDTHTRUNC", "PROCASSINIT", "UNUSEDSIGNAL", "DECLFILENAME"}


def lint(block_name: str, sets=(), out_dir: str | Path = "build/lint") -> Counter:
    """Export ``block_name`` and lint it; return the count of each warning kind (``Error`` for errors)."""
    block = blocks.get(block_name)
    path = blocks.write_verilog(block, block.load_params(list(sets)), out_dir)
    toolchain.prepare_environment()
    r = subprocess.run(["verilator", "--lint-only", "-Wall", str(path)], capture_output=True, text=True)
    log = r.stdout + r.stderr
    path.with_suffix(".lint.log").write_text(log)
    kinds = Counter(re.findall(r"^%Warning-([A-Z0-9_]+):", log, re.M))
    errors = [line for line in re.findall(r"^%Error[^\n]*", log, re.M) if "Exiting due to" not in line]
    if errors:
        kinds["Error"] = len(errors)
    return kinds


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "attention"
    sets = [a for a in argv[1:] if a != "--set"]
    kinds = lint(name, sets)
    design = {k: n for k, n in kinds.items() if k not in GENERATOR_STYLE}
    print(f"verilator --lint-only -Wall build/lint/{name}.v:")
    for k, n in sorted(kinds.items()):
        print(f"  {n:6d} {k}{'' if k in GENERATOR_STYLE else '   <- design finding'}")
    print(f"  design findings: {sum(design.values())}")
    return 1 if design else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
