"""attnkit golden-report: the golden models' error against float64, as a table."""

import sys
from pathlib import Path

from attnkit.commands._common import add_json, emit
from attnkit.models.error import golden_error_table, numerics_error_table, numerics_markdown, to_markdown

NAME = "golden-report"
HELP = "measure every golden model against float64 (max/mean abs error, ULPs); writes build/golden/error.md"
COLUMNS = ("function", "max_abs_err", "mean_abs_err", "max_ulp", "inputs")
NUMERICS_COLUMNS = ("mode", "tile_k", "max_abs_err", "mean_abs_err", "max_ulp", "bound")


def add_arguments(p) -> None:
    p.add_argument(
        "--out", default="build/golden/error.md", metavar="FILE", help="Markdown file (default: %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.add_argument("--quick", action="store_true", help="smaller attention problems")
    p.add_argument(
        "--numerics", action="store_true", help="print only the accumulator modes and error bounds (the file has both)"
    )
    add_json(p)


def run(args) -> int:
    rows = [] if args.numerics else golden_error_table(args.seed, args.quick)
    num_rows = numerics_error_table(args.seed, args.quick)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text((to_markdown(rows, args.seed) if rows else "") + numerics_markdown(num_rows, args.seed))
    if args.numerics:
        emit(args, num_rows, NUMERICS_COLUMNS)
    else:
        emit(args, rows, COLUMNS)
        if not getattr(args, "json", False):
            print()
            emit(args, num_rows, NUMERICS_COLUMNS)
    print(f"written {out}", file=sys.stderr)
    return 0
