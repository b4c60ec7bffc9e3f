"""The ``attnkit`` command line.

Each subcommand is one module in :mod:`attnkit.commands` that defines
``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; they
are found by name, so a new command is a new module and nothing else.
Commands that report figures take ``--json`` and then print exactly one JSON
value on stdout (progress goes to stderr). User mistakes print one line,
``attnkit: error: ...``, and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from attnkit import __version__, commands
from attnkit.errors import AttnkitError


def _command_modules():
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"attnkit.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attnkit",
        description="attnkit: a design kit for attention accelerators: "
        "golden models, cycle-level simulation, RTL and verification for attention engines.",
    )
    parser.add_argument("--version", action="version", version=f"attnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args._run(args) or 0
    except AttnkitError as e:
        print(f"attnkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("attnkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`attnkit ... | head`): not an error; silence the flush at exit.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
