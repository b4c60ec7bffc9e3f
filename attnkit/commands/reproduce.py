"""attnkit reproduce TARGET: rerun a paper's evaluation with the simulator, beside the paper's figures.

Targets are the modules ``attnkit.sim.reproduce_<target>``, found by name
(see :func:`attnkit.api.reproduce_targets`). A target only computes rows; it
defines ``run(sets=(), models=None, seq_lens=None) -> rows`` (rows with
``"row"`` either ``"point"`` or ``"summary"``; a filter it cannot apply raises
AttnkitError), ``COLUMNS`` (results.csv's), ``POINT_COLUMNS`` and
``SUMMARY_COLUMNS`` (what a person is shown), and optionally ``KIND`` (the
kind its results declare, default ``reproduce``), ``configuration(sets,
models)`` (config.json), ``files(sets)`` (more files) and ``counted(rows)``
(what the progress line counts), and ``SHOW_POINTS = False`` (print the
summary only: the points are too many for a screen).
:func:`attnkit.api.reproduce` runs it, times it, writes DIR/results.csv,
DIR/results.json, DIR/manifest.json and those files (default build/reproduce/TARGET) and prints
one progress line to stderr.
"""

from __future__ import annotations

from attnkit.commands._common import add_json, add_set, emit

NAME = "reproduce"
HELP = "reproduce a paper's results from first principles, beside its published figures"


def add_arguments(p) -> None:
    from attnkit import api

    targets = sorted(api.reproduce_targets())
    p.add_argument("target", metavar="TARGET", choices=targets, help=f"one of: {', '.join(targets)}")
    p.add_argument("--out", metavar="DIR", default=None, help="output folder (default: build/reproduce/TARGET)")
    p.add_argument("--models", nargs="+", metavar="MODEL", help="only these workloads (default: the paper's)")
    p.add_argument("--seq-lens", nargs="+", type=int, metavar="N", help="only these sequence (or context) lengths")
    add_set(p)
    add_json(p)


def run(args) -> int:
    from attnkit import api

    rows = api.reproduce(args.target, out=args.out, set=args.sets, models=args.models, seq_lens=args.seq_lens)
    if args.json:
        emit(args, list(rows))
        return 0
    module = api.reproduce_module(args.target)
    points = [r for r in rows if r.get("row") == "point"]
    summary = [r for r in rows if r.get("row") == "summary"]
    if getattr(module, "SHOW_POINTS", True) or not summary:
        emit(args, points, module.POINT_COLUMNS)
        if summary:
            print()
    if summary:
        emit(args, summary, module.SUMMARY_COLUMNS)
    return 0
