"""Pareto fronts of sweep results over any chosen metrics.

A row is on the front when no other row is at least as good in every chosen
metric and strictly better in one. Rows that failed (``error`` set), broke a
metric constraint (``feasible`` false) or lack a chosen metric are left out.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from attnkit.errors import AttnkitError


def parse_value(text: str) -> Any:
    """A CSV cell back to a Python value: int, float, bool, None (empty) or the string."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a results CSV (a torn last line is ignored), values parsed."""
    from attnkit.sim.sweep_run import read_results
    path = Path(path)
    if not path.is_file():
        raise AttnkitError(f"{path}: no such results file")
    header, rows = read_results(path)
    if not header:
        raise AttnkitError(f"{path}: empty results file")
    return [{k: parse_value(v) for k, v in zip(header, r)} for r in rows]


def front(rows: Sequence[dict[str, Any]], minimize: Iterable[str] = (), maximize: Iterable[str] = (),
          source: str = "rows") -> list[dict[str, Any]]:
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
                numeric = sorted(k for k, v in rows[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool))
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
    x = np.array([[float(r[m]) for m in metrics] for r in ok]) * sign    # all minimized now
    order = np.lexsort(x.T[::-1])                                       # by first metric, then the next...
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
    """Rows to CSV (or JSON when the name ends in .json)."""
    import json
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
            w.writerow({k: "" if v is None else v for k, v in r.items()})
