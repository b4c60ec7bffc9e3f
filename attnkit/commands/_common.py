"""Argument and output conventions shared by the subcommands."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any


def add_json(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON value on stdout and nothing else there")


def add_set(parser) -> None:
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set acc_fmt.overflow=AP_WRAP (repeatable)",
    )


def add_block(parser, names: Iterable[str], also: str = "") -> None:
    """BLOCK: the name of an RTL block, one of ``names`` (``also`` adds to the help, e.g. " or 'all'")."""
    parser.add_argument("block", metavar="BLOCK", help=f"block name ({', '.join(names)}){also}")


def add_config(parser, name: str, metavar: str, what: str, folder: str, example: str = "", **kwargs: Any) -> None:
    """An argument naming a config file: a path, or a name that ``attnkit configs FOLDER`` lists (``kwargs``,
    e.g. ``required=True``, go to argparse)."""
    eg = f"; e.g. {example}" if example else ""
    parser.add_argument(
        name,
        metavar=metavar,
        help=f"{what}: a path, or a name on the config search path (`attnkit configs {folder}`{eg})",
        **kwargs,
    )


def add_choice(parser, flag: str, choices: Sequence[str], help: str) -> None:
    """An option taking one of ``choices``; the first is the default."""
    parser.add_argument(flag, choices=choices, default=choices[0], help=help)


def add_jobs(parser, help: str) -> None:
    """``--jobs``/``-j N``: how many worker processes (``None``, the default, leaves it to the command)."""
    parser.add_argument("--jobs", "-j", type=int, default=None, metavar="N", help=help)


def add_measurements(parser, arch_help: str, out_metavar: str, out_help: str) -> None:
    """MEASUREMENTS, ``--arch``, ``-o`` and ``--json``: the arguments of the commands that read GPU measurements."""
    parser.add_argument(
        "measurements",
        metavar="MEASUREMENTS",
        help="a measurements file: NAME.csv (with NAME.yaml beside it) or a name in configs/measurements/,"
        " e.g. h200-pytorch-sdpa",
    )
    parser.add_argument("--arch", required=True, metavar="ARCH", help=arch_help)
    parser.add_argument("-o", "--out", default=None, metavar=out_metavar, help=out_help)
    add_json(parser)


def keywords(args, *names: str, **renamed: str) -> dict[str, Any]:
    """The options ``names`` of ``args`` as keyword arguments of an API call that takes them under the same
    names; ``renamed`` maps a keyword to the option that holds it, e.g. ``set="sets"``."""
    return {name: getattr(args, name) for name in names} | {kw: getattr(args, opt) for kw, opt in renamed.items()}


def emit(args, value: Any, columns: Sequence[str] | None = None, kind: str | None = None) -> None:
    """Print ``value`` as JSON (``--json``) or as a plain table for a person. With ``kind`` the JSON
    record carries it (``"kind": ...``, see :func:`attnkit.sim.result.tagged`), so a saved copy says what it is."""
    if getattr(args, "json", False):
        if kind is not None:
            from attnkit.sim.result import tagged

            value = tagged(kind, value)
        json.dump(value, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return
    rows = value if isinstance(value, list) else [value]
    columns = list(columns or (rows[0].keys() if rows else []))
    if isinstance(value, dict):
        width = max(map(len, columns), default=0)
        for c in columns:
            print(f"{c:<{width}}  {_fmt(value.get(c))}")
        return
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v)) if v else "-"
    return str(v)
