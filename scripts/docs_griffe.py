"""Griffe extension for the API reference (mkdocs.yml): the docstrings' reST touches, as Markdown.

The docstrings are prose with reST roles (``:func:`x```), double backticks, ``::`` before a literal
block and simple ``=====`` tables; mkdocstrings renders Markdown. This rewrites each docstring as it is
loaded: roles and double backticks become code spans, ``::`` a colon, and simple tables Markdown tables.
The source files are not touched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|exc|obj|ref):`~?([^`]+)`")
RULE = re.compile(r"^\s*=+(\s+=+)+\s*$")


def _cells(line: str, spans: list[tuple[int, int]]) -> list[str]:
    cells = [line[a:b].strip() for a, b in spans[:-1]]
    return cells + [line[spans[-1][0] :].strip()]


def _tables(text: str) -> str:
    """reST simple tables (a rule, a header, a rule, rows, a rule) as Markdown tables."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not RULE.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        spans = [m.span() for m in re.finditer(r"=+", lines[i])]
        rules = [j for j in range(i, len(lines)) if RULE.match(lines[j])][:3]
        if len(rules) < 3:
            out.append(lines[i])
            i += 1
            continue
        header = [_cells(line, spans) for line in lines[rules[0] + 1 : rules[1]]][0]
        rows = [_cells(line, spans) for line in lines[rules[1] + 1 : rules[2]] if line.strip()]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + " --- |" * len(header))
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        i = rules[2] + 1
    return "\n".join(out)


def markdown(text: str) -> str:
    text = _tables(text)  # first: the columns are where the rules say
    text = ROLE.sub(lambda m: f"`{m.group(1)}`", text)
    text = re.sub(r"``([^`]+?)``", r"`\1`", text)
    return re.sub(r"::\n", ":\n", text)


class RstToMarkdown(griffe.Extension):
    def on_object(self, *, obj: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
