"""Pareto fronts of sweep results over any chosen metrics.

A row is on the front when no other row is at least as good in every chosen
metric and strictly better in one. Rows that failed (``error`` set), broke a
metric constraint (``feasible`` False) or lack a chosen metric are left out.
Rows come as :func:`attnkit.sim.result.load_results` reads them (``feasible``
a bool, blanks None).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attnkit.errors import AttnkitError


def front(
    rows: Sequence[dict[str, Any]], minimize: Iterable[str] = (), maximize: Iterable[str] = (), source: str = "rows"
) -> list[dict[str, Any]]:
    """The non-dominated rows, in increasing order of the first metric (ties all kept)."""
    minimize, maximize = list(minimize), list(maximize)
    metrics = minimize + maximize
    if not metrics:
        raise AttnkitError("pareto: name at least one metric with --minimize or --maximize")
    both = set(minimize) & set(maximize)
    if both:
        raise AttnkitError(f"pareto: {sorted(both)[0]!r} is both minimized and maximized")
    if rows:
        known = set().union(*(r.keys() for r in rows[:1]))
        for m in metrics:
            if m not in known:
                numeric = sorted(
                    k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                )
                raise AttnkitError(f"{source}: no column {m!r} (numeric columns: {', '.join(numeric)})")
    ok = []
    for r in rows:
        if r.get("error") or r.get("feasible") is False:
            continue
        vals = [r.get(m) for m in metrics]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v) for v in vals):
            ok.append(r)
    if not ok:
        return []
    sign = np.array([1.0] * len(minimize) + [-1.0] * len(maximize))
    x = np.array([[float(r[m]) for m in metrics] for r in ok]) * sign  # all minimized now
    order = np.lexsort(x.T[::-1])  # by first metric, then the next...
    kept: list[int] = []
    kept_x = np.empty((0, x.shape[1]))
    for i in order:
        p = x[i]
        # Sorted lexicographically, a row can only be dominated by one before it, i.e. by one kept.
        if len(kept) and np.any(np.all(kept_x <= p, axis=1) & np.any(kept_x < p, axis=1)):
            continue
        kept.append(i)
        kept_x = np.vstack([kept_x, p])
    return [ok[i] for i in kept]


def front_by(rows, minimize=(), maximize=(), by: Sequence[str] = (), source: str = "rows") -> list[dict[str, Any]]:
    """:func:`front` within each group of rows that share the values of the ``by`` columns."""
    if not by:
        return front(rows, minimize, maximize, source)
    for b in by:
        if rows and b not in rows[0]:
            raise AttnkitError(f"{source}: no column {b!r} to group by")
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(b) for b in by), []).append(r)
    out = []
    for key in sorted(groups, key=lambda k: tuple(map(str, k))):
        out.extend(front(groups[key], minimize, maximize, source))
    return out


def write_rows(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Rows to CSV (lists and records in a cell as JSON, as sweeps write them), or JSON when the name ends
    in .json."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(list(rows), indent=1, default=str))
        return
    cols = list(rows[0]) if rows else []
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, cols, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(
                {k: "" if v is None else json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in r.items()}
            )
