"""MkDocs hook (mkdocs.yml `hooks:`): reference tables rendered from the code, never copied by hand.

- ``<!-- attnkit:commands -->``: one section per subcommand of :func:`attnkit.cli.build_parser`, with its
  description, usage and a table of its arguments (a new option, or a new module in attnkit/commands/,
  shows up at the next `make docs`);
- ``<!-- attnkit:figures -->``: the report's figure families (:func:`attnkit.reports.render.families`),
  each with its title and the first paragraph of its module's docstring.

``python scripts/docs_hooks.py`` prints the generated Markdown.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- attnkit:commands -->"
FIGURES = "<!-- attnkit:figures -->"
WIDTH = "88"  # argparse wraps usage lines to $COLUMNS


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    text = parser._get_formatter()._expand_help(action) if action.help else ""
    choices = [str(c) for c in action.choices or ()]
    if choices and not all(c in text for c in choices):
        text += f" (one of: {', '.join(f'`{c}`' for c in choices)})"
    return text


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage lines without their ``usage: `` and with the continuation lines dedented to match."""
    lines = parser.format_usage().strip().splitlines()
    cut = len("usage: ")
    return "\n".join([lines[0][cut:]] + [line[cut:] if line[:cut].isspace() else line for line in lines[1:]])


def command_reference() -> str:
    """Markdown for every subcommand: heading, description, usage, arguments."""
    from attnkit.cli import build_parser

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        top = build_parser()
        out = ["```text", _usage(top), "```", ""]
        for name, sub in sorted(_subparsers(top).items()):
            out += [f"## attnkit {name}", "", _cell(sub.description or ""), ""]
            out += ["```text", _usage(sub), "```", ""]
            rows = [a for a in sub._actions if not isinstance(a, argparse._HelpAction)]
            if rows:
                out += ["| argument | what it does |", "| --- | --- |"]
                invocation = sub._get_formatter()._format_action_invocation
                out += [f"| `{_cell(invocation(a))}` | {_cell(_help(sub, a))} |" for a in rows]
                out.append("")
        return "\n".join(out)
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def figure_families() -> str:
    """Markdown table of the figure families, in the report's order."""
    from attnkit.reports.render import families

    out = ["| family | title | what it draws |", "| --- | --- | --- |"]
    for module in families():
        doc = (module.__doc__ or "").strip().split("\n\n")[0]
        name = module.__name__.replace("attnkit.reports.", "reports/") + (
            ".py" * module.__name__.startswith("attnkit.reports.")
        )
        out.append(f"| `{name}` | {_cell(getattr(module, 'TITLE', ''))} | {_cell(doc)} |")
    return "\n".join(out) + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, command_reference())
    if FIGURES in markdown:
        markdown = markdown.replace(FIGURES, figure_families())
    return markdown


if __name__ == "__main__":
    print(command_reference())
    print(figure_families())
