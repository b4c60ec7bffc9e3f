"""attnkit pareto RESULTS.csv: the Pareto front of sweep results over chosen metrics."""

from attnkit.commands._common import add_json, emit

NAME = "pareto"
HELP = "print the Pareto front of a sweep's results over the metrics to minimize and maximize"


def add_arguments(p) -> None:
    p.add_argument("results", metavar="RESULTS.csv", help="a sweep's results.csv (or any result CSV or JSON)")
    p.add_argument(
        "--minimize", nargs="+", default=[], metavar="METRIC", help="metrics to minimize, e.g. latency_s energy_pj"
    )
    p.add_argument("--maximize", nargs="+", default=[], metavar="METRIC", help="metrics to maximize, e.g. util_2d")
    p.add_argument(
        "--by",
        nargs="+",
        default=[],
        metavar="COLUMN",
        help="one front per value of these columns, e.g. --by workload workload.seq_len",
    )
    p.add_argument("-o", "--out", default=None, metavar="FILE", help="also write the front to FILE (.csv, or .json)")
    add_json(p)


def _param_columns(results: str) -> list[str]:
    """The sweep's parameter columns, from the sweep.json written beside results.csv (if there)."""
    import json
    from pathlib import Path

    try:
        return json.loads((Path(results).parent / "sweep.json").read_text())["param_columns"]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def run(args) -> int:
    import sys

    from attnkit import api
    from attnkit.sim import pareto
    from attnkit.sim.result import load_results

    rows = load_results(args.results).rows
    found = api.pareto(rows, args.minimize, args.maximize, args.by, source=args.results)
    if args.out:
        pareto.write_rows(found, args.out)
    if args.json:
        emit(args, found)
        return 0
    cols = list(dict.fromkeys(["point_id", *args.by, *_param_columns(args.results), *args.minimize, *args.maximize]))
    print(f"{len(found)} of {len(rows)} rows on the front", file=sys.stderr)
    emit(args, found, columns=cols)
    return 0
