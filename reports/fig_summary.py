"""The headline table: each summary figure of a reproduction beside the paper's, with their ratio.

Reads the summary rows of ``reproduce`` tables (``metric``, ``ours``,
``paper``, ``ratio``); a table alone, no plot.
"""

from __future__ import annotations

from attnkit.reports.data import summaries
from attnkit.reports.figure import Figure

ORDER = 5   # place in the report
TITLE = "Summary against the paper"
COLUMNS = ["metric", "scope", "model", "design", "ours", "paper", "ratio"]


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        rows = summaries(t.rows) if t.kind == "reproduce" else []
        if rows:
            name = t.source.parent.name if t.source.name.startswith("results") else t.source.stem
            out.append(Figure(f"summary-{name}", f"Summary of {name} against the paper", None,
                              [{c: r.get(c) for c in COLUMNS} for r in rows],
                              "Ours is computed by the simulator; paper is the published figure (ANCHORS.md); "
                              "ratio = ours / paper.", COLUMNS))
    return out
