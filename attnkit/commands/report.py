"""attnkit report INPUTS... -o DIR: figures, report.md and a self-contained report.html."""

import sys

from attnkit.commands._common import add_json, emit

NAME = "report"
HELP = "draw energy/latency/utilisation/Pareto/RTL figures from result files and write DIR/report.html and report.md"


def add_arguments(p) -> None:
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="result files or folders: attnkit reproduce/sweep output, rtl-test or simulate JSON",
    )
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder, e.g. build/reports/NAME")
    add_json(p)


def run(args) -> int:
    from attnkit import api
    from attnkit.reports.render import main_command_line

    result = api.report(
        args.inputs, args.out, command=main_command_line(), log=lambda msg: print(msg, file=sys.stderr, flush=True)
    )
    emit(args, result, ["report_html", "report_md", "figures", "seconds"])
    if not args.json:
        print(f"report: open {result['report_html']}", file=sys.stderr)
    return 0
