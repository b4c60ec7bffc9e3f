"""The headline table: each summary figure of a reproduction beside the paper's, with their ratio.

Reads the summary rows (``"row": "summary"``) of every reproduction's table
(``attnkit reproduce fusemax|llm|leanattention|edgemoe``): ``metric``, the
columns that say where it applies, ``ours``, ``paper`` and ``ratio``; a
table alone, no plot.
"""

from __future__ import annotations

from attnkit.reports.data import summaries
from attnkit.reports.figure import Figure

ORDER = 5  # place in the report
TITLE = "Summary against the paper"
LAST = ["ours", "paper", "ratio"]
KINDS = ("reproduce", "decode", "edgemoe")


def columns(rows: list[dict]) -> list[str]:
    """``metric``, then the columns some summary row fills (in order of appearance), then ours/paper/ratio."""
    seen = dict.fromkeys(k for r in rows for k, v in r.items() if v is not None and v != "")
    middle = [k for k in seen if k not in ("row", "metric", *LAST)]
    return ["metric", *middle, *[k for k in LAST if k in seen]]


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        rows = summaries(t.rows) if t.kind in KINDS else []
        if rows:
            # a reproduction names itself in its manifest; older folders are named by where they are
            name = t.meta.get("target") or (
                t.source.parent.name if t.source.name.startswith("results") else t.source.stem
            )
            cols = columns(rows)
            out.append(
                Figure(
                    f"summary-{name}",
                    f"Summary of {name} against the paper",
                    None,
                    [{c: r.get(c) for c in cols} for r in rows],
                    "Ours is computed by the simulator; paper is the published figure (ANCHORS.md) or a measured"
                    " time; ratio = ours / paper where paper is a target"
                    + (
                        "; note: why ours differs from a claim the model does not take as a target."
                        if "note" in cols
                        else "."
                    ),
                    cols,
                )
            )
    return out
