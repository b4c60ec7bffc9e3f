"""attnkit reproduce TARGET: rerun a paper's evaluation with the simulator, beside the paper's figures.

Each target is one entry of TARGETS: the module that computes its rows
(``main(sets, out, models, seq_lens) -> rows``) and the columns shown to a
person (points, then summary rows). Results always go to DIR/results.csv
and DIR/results.json (default build/reproduce/TARGET).
"""

from __future__ import annotations

import importlib
import json
import sys

from attnkit.commands._common import add_json, add_set, emit

NAME = "reproduce"
HELP = "reproduce a paper's results from first principles, beside its published figures"

TARGETS = {
    "fusemax": "attnkit.sim.reproduce_fusemax",
}


def add_arguments(p) -> None:
    p.add_argument("target", metavar="TARGET", choices=sorted(TARGETS), help=f"one of: {', '.join(sorted(TARGETS))}")
    p.add_argument("--out", metavar="DIR", default=None, help="output folder (default: build/reproduce/TARGET)")
    p.add_argument("--models", nargs="+", metavar="MODEL", help="only these workloads (default: the paper's)")
    p.add_argument("--seq-lens", nargs="+", type=int, metavar="N", help="only these sequence lengths")
    add_set(p)
    add_json(p)


def run(args) -> int:
    module = importlib.import_module(TARGETS[args.target])
    out = args.out or f"build/reproduce/{args.target}"
    rows = module.main(sets=args.sets, out=out, models=args.models, seq_lens=args.seq_lens)
    if args.json:
        json.dump(rows, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return 0
    points = [r for r in rows if r.get("row") == "point"]
    summary = [r for r in rows if r.get("row") == "summary"]
    emit(args, points, module.POINT_COLUMNS)
    if summary:
        print()
        emit(args, summary, module.SUMMARY_COLUMNS)
    return 0
