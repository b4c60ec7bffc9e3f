"""Functional coverage: the bins each RTL testbench run hit, per cover point.

Reads ``rtl`` tables whose records carry ``coverage`` (``attnkit rtl-test attention --json``; see
:mod:`attnkit.testbench.coverage`).
"""

from __future__ import annotations

import numpy as np

from attnkit.reports.fig_rtl import _label
from attnkit.reports.figure import Figure, subplots

ORDER = 61  # after the RTL cycles
TITLE = "Functional coverage of the RTL testbenches"


def figures(tables) -> list[Figure]:
    runs = [r for t in tables if t.kind == "rtl" for r in t.rows if isinstance(r.get("coverage"), dict)]
    if not runs:
        return []
    points = list(dict.fromkeys(p for r in runs for p in r["coverage"]))
    fig, (ax,) = subplots(1, "Coverage bins hit per point", width=max(6.0, 0.9 * len(points) + 2), height=3.8)
    x, w = np.arange(len(points)), 0.8 / len(runs)
    for i, r in enumerate(runs):
        frac = [r["coverage"][p]["hit"] / r["coverage"][p]["declared"] if p in r["coverage"] else 0.0 for p in points]
        ax.bar(x - 0.4 + w * (i + 0.5), frac, w, label=_label(r), color=f"C{i}")
    ax.set_xticks(x, points, rotation=30, ha="right")
    ax.set_ylim(0, 1.15 + 0.09 * len(runs))  # room above the bars for the legend
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("bins hit / declared")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    table, full = [], 0
    for r in runs:
        hit = sum(c["hit"] for c in r["coverage"].values())
        declared = sum(c["declared"] for c in r["coverage"].values())
        full += hit == declared
        for p, c in r["coverage"].items():
            table.append(
                {
                    "configuration": _label(r),
                    "vectors": r.get("vectors"),
                    "point": p,
                    "bins hit": f"{c['hit']} / {c['declared']}",
                    "hits per bin": ", ".join(f"{b}: {h}" for b, h in c["bins"].items()),
                    "missed": ", ".join(b for b, h in c["bins"].items() if not h),
                }
            )
    return [
        Figure(
            "coverage",
            "Functional coverage: bins hit per point",
            fig,
            table,
            f"{full} of {len(runs)} runs hit every declared bin.",
        )
    ]
