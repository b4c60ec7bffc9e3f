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
    keep = nondominated(x)
    return [ok[i] for i in order if keep[i]]


def nondominated(x: np.ndarray, block: int = 1024) -> np.ndarray:
    """Which rows of ``x`` (n points x k metrics, all minimized) no other row dominates: at least as good
    in every metric and better in one. Equal rows do not dominate each other (ties are all kept).

    Vectorised for a million rows: the distinct rows in lexicographic order (a row's dominators all come
    before it); two metrics by a running minimum of the second; three by a lookup in the front's
    staircase, a block at a time; more by pruning against a few rows that minimise positive weighted sums
    (never dominated themselves), then blocks in order, each checked against the front found so far and
    within itself (its time grows with the front: seconds for a few hundred front rows, minutes for tens
    of thousands).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"expected an (n, k) array, got shape {x.shape}")
    n, k = x.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort(x.T[::-1])
    ranked = x[order]
    new = np.ones(n, dtype=bool)
    new[1:] = np.any(ranked[1:] != ranked[:-1], axis=1)
    rows = ranked[new]  # distinct rows, sorted lexicographically
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    if k == 1:
        on = rows[:, 0] == rows[0, 0]
    elif k == 2:
        before = np.minimum.accumulate(rows[:, 1])
        on = np.ones(len(rows), dtype=bool)
        on[1:] = before[:-1] > rows[1:, 1]
    elif k == 3:
        on = _front_staircase(rows, block)
    else:
        on = _front_blocks(rows, block)
    return on[inverse]


def _front_staircase(rows: np.ndarray, block: int) -> np.ndarray:
    """Three metrics: rows come in lexicographic order, so a row is dominated exactly when some front row
    before it has both other metrics <= its own: a lookup in the front's staircase (its rows sorted by the
    second metric, with the running minimum of the third), a block of rows at a time."""
    on = np.zeros(len(rows), dtype=bool)
    stair_x1 = np.empty(0)
    stair_min = np.empty(0)
    front = np.empty((0, 3))
    for i in range(0, len(rows), block):
        cand = rows[i : i + block]
        keep = np.ones(len(cand), dtype=bool)
        if len(stair_x1):
            j = np.searchsorted(stair_x1, cand[:, 1], side="right")
            keep = ~((j > 0) & (stair_min[np.maximum(j - 1, 0)] <= cand[:, 2]))
        idx = np.flatnonzero(keep) + i
        c = rows[idx]
        le = np.all(c[None, :, 1:] <= c[:, None, 1:], axis=2)  # within the block, only rows before can dominate
        inside = np.any(np.tril(le, k=-1), axis=1)
        on[idx[~inside]] = True
        front = np.vstack([front, c[~inside]])
        order = np.argsort(front[:, 1], kind="stable")
        stair_x1, stair_min = front[order, 1], np.minimum.accumulate(front[order, 2])
    return on


def _dominated_by(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of ``b``: does some row of ``a`` dominate it (distinct rows: <= everywhere suffices)."""
    out = np.zeros(len(b), dtype=bool)
    step = max(1, 4_000_000 // max(1, len(a) * a.shape[1]))  # bound the (rows of a) x (rows of b) x k work
    for i in range(0, len(b), step):
        chunk = b[i : i + step]
        out[i : i + step] = np.any(np.all(a[None, :, :] <= chunk[:, None, :], axis=2), axis=1)
    return out


def _front_blocks(rows: np.ndarray, block: int) -> np.ndarray:
    """The non-dominated rows of distinct, lexicographically sorted ``rows`` with three or more metrics."""
    span = rows.max(axis=0) - rows.min(axis=0)
    scaled = (rows - rows.min(axis=0)) / np.where(span > 0, span, 1.0)
    weights = np.vstack([np.ones(rows.shape[1]), np.random.default_rng(0).random((15, rows.shape[1])) + 0.05])
    pivots = np.unique(np.argmin(scaled @ weights.T, axis=0))
    alive = np.flatnonzero(~_dominated_by(rows[pivots], rows))  # pivots are kept: a row never dominates itself
    alive = np.union1d(alive, pivots)
    on = np.zeros(len(rows), dtype=bool)
    front = np.empty((0, rows.shape[1]))
    for i in range(0, len(alive), block):
        idx = alive[i : i + block]
        cand = rows[idx]
        keep = ~_dominated_by(front, cand) if len(front) else np.ones(len(idx), dtype=bool)
        idx, cand = idx[keep], cand[keep]
        # within the block, a row can only be dominated by one before it
        le = np.all(cand[None, :, :] <= cand[:, None, :], axis=2)  # le[i, j]: row j <= row i everywhere
        inside = np.any(np.tril(le, k=-1), axis=1)
        on[idx[~inside]] = True
        front = np.vstack([front, cand[~inside]])
    return on


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
