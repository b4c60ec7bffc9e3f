"""attnkit rtl-mutate BLOCK: inject faults into a block one at a time and check its ordinary testbench catches each."""

import sys

from attnkit.commands._common import add_block, add_json, emit
from attnkit.testbench import toolchain

NAME = "rtl-mutate"
HELP = (
    "rebuild an RTL block with one deliberate fault at a time (a stuck port, a flipped bit, another rounding "
    "mode, a smaller table, ...) and run its testbench on each: every mutant must be caught"
)


def add_arguments(p) -> None:
    from attnkit.testbench import mutation

    add_block(p, mutation.blocks(), " or 'all'")
    p.add_argument(
        "--sim",
        default="icarus",
        choices=toolchain.SIMULATORS,
        help="HDL simulator (default: icarus, which compiles each mutant in under a second)",
    )
    p.add_argument("--seed", type=int, default=1, metavar="S", help="testbench seed (default: 1)")
    p.add_argument(
        "--mutant",
        dest="mutants",
        action="append",
        default=None,
        metavar="NAME",
        help="run only this mutant (repeatable; default: every mutant of the block)",
    )
    p.add_argument(
        "-o",
        "--out",
        default=None,
        metavar="FILE",
        help='also write the records to FILE as JSON, {"kind": "mutants", "rows": [...]}',
    )
    add_json(p)


def run(args) -> int:
    import json
    from pathlib import Path

    from attnkit.errors import AttnkitError
    from attnkit.sim.result import tagged
    from attnkit.testbench import mutation

    targets = mutation.blocks() if args.block == "all" else [args.block]
    if args.block != "all" and args.block not in mutation.blocks():
        raise AttnkitError(f"no mutants for block {args.block!r} (blocks with mutants: {', '.join(mutation.blocks())})")
    if args.mutants and len(targets) > 1:
        raise AttnkitError("--mutant names mutants of one block; give the block, not 'all'")
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    records = [r for b in targets for r in mutation.run(b, sim=args.sim, seed=args.seed, names=args.mutants, log=log)]
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(tagged("mutants", records), indent=1))  # {"kind", "rows"}
    emit(args, records, ["block", "mutant", "kind", "verdict", "caught_by", "mismatches", "latency_errors", "run_s"])
    bad = [r for r in records if r["verdict"] in ("survived", "error")]
    for r in bad:
        print(
            f"rtl-mutate {r['block']}: mutant {r['mutant']} {r['verdict']} ({r['change']}"
            f"{': ' + r['error'] if r.get('error') else ''})",
            file=sys.stderr,
        )
    caught = sum(r["verdict"] == "caught" for r in records)
    eq = sum(r["verdict"] == "equivalent" for r in records)
    print(
        f"rtl-mutate: {caught} of {len(records)} mutants caught, {eq} proven equivalent, {len(bad)} not",
        file=sys.stderr,
    )
    return 1 if bad else 0
