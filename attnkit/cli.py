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


def _command_modules(command: str | None = None):
    """Every command module, in name order; only ``command``'s when it names one (a command's module is
    its name with ``_`` for ``-``), so running one command imports no other."""
    infos = [
        i for i in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name) if not i.name.startswith("_")
    ]
    if command is not None and command.replace("-", "_") in {i.name for i in infos}:
        module = importlib.import_module(f"attnkit.commands.{command.replace('-', '_')}")
        if module.NAME == command:
            yield module
            return
    for info in infos:
        yield importlib.import_module(f"attnkit.commands.{info.name}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or only of ``command`` (what :func:`main` runs: one command's
    arguments, its module and what they import; a name that is no command gets them all)."""
    parser = argparse.ArgumentParser(
        prog="attnkit",
        description="attnkit: a design kit for attention accelerators: "
        "golden models, cycle-level simulation, RTL and verification for attention engines.",
    )
    parser.add_argument("--version", action="version", version=f"attnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules(command):
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv and not argv[0].startswith("-") else None)
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
