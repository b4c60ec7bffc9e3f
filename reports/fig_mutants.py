"""Injected faults: how many mutants of each block its testbench caught, and by which check.

Reads ``mutants`` tables (``attnkit rtl-mutate --json`` records).
"""

from __future__ import annotations

import numpy as np

from attnkit.reports.figure import Figure, subplots

ORDER = 62  # after the RTL cycles
TITLE = "Injected faults: mutants caught by the testbenches"
VERDICTS = (("caught", "C2"), ("equivalent", "C0"), ("survived", "C3"), ("error", "C7"))
COLUMNS = ["block", "mutant", "kind", "change", "verdict", "caught_by", "mismatches", "latency_errors", "equivalence"]


def figures(tables) -> list[Figure]:
    rows = [r for t in tables if t.kind == "mutants" for r in t.rows]
    if not rows:
        return []
    blocks = list(dict.fromkeys(r["block"] for r in rows))
    fig, (ax,) = subplots(1, "Mutants per block by verdict", width=max(5.0, 1.1 * len(blocks) + 3), height=3.6)
    x, bottom = np.arange(len(blocks)), np.zeros(len(blocks))
    for verdict, color in VERDICTS:
        n = np.array([sum(r["block"] == b and r["verdict"] == verdict for r in rows) for b in blocks])
        if n.any():
            ax.bar(x, n, 0.6, bottom=bottom, label=verdict, color=color)
            bottom += n
    ax.set_ylim(0, 1.3 * bottom.max())  # room for the legend
    ax.set_xticks(x, blocks)
    ax.set_xlabel("block")
    ax.set_ylabel("mutants")
    ax.legend()
    fig.tight_layout()
    table = [{c: r.get(c, "") for c in COLUMNS} for r in rows]
    caught = sum(r["verdict"] == "caught" for r in rows)
    eq = sum(r["verdict"] == "equivalent" for r in rows)
    kinds = len({r["kind"] for r in rows})
    caption = (
        f"{caught} of {len(rows)} mutants ({kinds} kinds of fault) caught by the ordinary testbench; "
        f"{eq} proven equivalent (the golden model built the same way is identical on the whole input "
        f"space); {len(rows) - caught - eq} neither."
    )
    return [Figure("mutants", "Injected faults and the check that caught each", fig, table, caption, COLUMNS)]
