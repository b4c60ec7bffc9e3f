"""Pareto fronts of sweep results over any chosen metrics.

A row is on the front when no other row is at least as good in every chosen
metric and strictly better in one. Rows that failed (``error`` set), broke a
metric constraint (``feasible`` False) or lack a chosen metric are left out.
Rows come as :func:`attnkit.sim.result.load_results` reads them (``feasible``
a bool, blanks None).

The filter itself, :func:`nondominated`, works on an (n, k) array of metrics
to minimise. In outline (each step's cost in its docstring):

- past a few thousand rows, rows that a few pivots dominate are dropped
  first (the pivots: rows of an evenly spaced sample's front that dominate
  many sample rows; a huge front has none, and costs no pass);
- the rest are sorted lexicographically (one sort of the first metric, a
  lexsort of its ties only), so that a row can be dominated only by one
  before it, and equal rows are kept as one;
- one metric keeps the smallest value, two sweep the sorted rows with a
  running minimum of the second, three or more divide and conquer over the
  sorted rows (:func:`_dominated_in_order`): O(n log^(k-2) n) time whatever
  the size of the front, less as rows found dominated drop out.

A million rows over 2-4 metrics take well under a second with a small front,
a few seconds with a front of nearly every row (``python bench/bench_pareto.py``).
"""

from __future__ import annotations

import csv
import json
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.sim.result import ColumnRows

# Rows compared all-pairs at the bottom of the divide and conquer (rounded up, below twice this, so that
# blocks tile the rows): smaller means one more level of merging, larger a longer all-pairs pass.
BLOCK = 8
# Past this many rows, pivots from a sample's front drop the rows they dominate before the sort.
PIVOT_MIN_ROWS = 8192
SAMPLE = 4096
PIVOTS = 48


# --- the non-dominated filter ---------------------------------------------------------------------


def nondominated(x: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """Which rows of ``x`` (n points x k metrics, all minimised) no other row dominates: at least as good
    in every metric and better in one, as a boolean mask.

    Equal rows do not dominate each other (all copies of a front row are kept). A NaN compares false, so
    a row with one is never dominated and dominates no row (it is kept). ``block`` sets the rows compared
    all-pairs at the bottom of the divide and conquer (any value gives the same front).
    """
    x = _as_matrix(x)
    n, k = x.shape
    keep = np.ones(n, dtype=bool)
    if n == 0 or k == 0:
        return keep
    finite = np.flatnonzero(~np.isnan(x).any(axis=1))
    keep[finite] = False
    keep[finite[_front_order(x[finite], block)]] = True
    return keep


def _as_matrix(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"expected an (n, k) array, got shape {x.shape}")
    return x


def _front_order(x: np.ndarray, block: int = BLOCK) -> np.ndarray:
    """The indices of the non-dominated rows of ``x`` (no NaN), in increasing order of the first column,
    then the next, ..., then the index."""
    n, k = x.shape
    if n == 0:
        return np.zeros(0, dtype=np.intp)
    if k >= 2 and n > PIVOT_MIN_ROWS:
        cand = _pivot_filter(x, block)
        return cand[_front_order_sorted(x[cand], block)]
    return _front_order_sorted(x, block)


def _front_order_sorted(x: np.ndarray, block: int) -> np.ndarray:
    """:func:`_front_order` without the pivots: a lexicographic sort, the distinct rows, then the filter for
    k metrics."""
    n, k = x.shape
    order = _lex_order(x)
    first = x[order, 0]
    start = np.ones(n, dtype=bool)  # the first of each run of equal rows
    start[1:] = first[1:] != first[:-1]
    tie = np.flatnonzero(~start) if n > 1 else np.zeros(0, dtype=np.intp)
    if len(tie):  # only rows equal in the first metric can be equal
        start[tie] = (x[order[tie], 1:] != x[order[tie - 1], 1:]).any(axis=1)
    distinct = order[start]
    cols = [x[distinct, j] for j in range(1, k)]  # the other metrics of the distinct rows, in order
    on = np.zeros(len(distinct), dtype=bool)
    if k == 1:
        on[0] = True
    elif k == 2:
        # dominated iff an earlier distinct row's second metric is <= this one's
        on[0] = True
        on[1:] = cols[0][1:] < np.minimum.accumulate(cols[0])[:-1]
    else:
        on = ~_dominated_in_order(cols, block)
    return order[on[np.cumsum(start) - 1]]


def _lex_order(x: np.ndarray) -> np.ndarray:
    """Row indices in increasing order of the first column, then the next, ..., then the index: one sort of
    the first column, np.lexsort only over the rows that tie in it (over every column of a million rows it
    takes seconds)."""
    return _argsort_ties(np.ascontiguousarray(x[:, 0]), x)


def _argsort_ties(v: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
    """Indices in increasing order of ``v``, equal values by the columns of ``x`` then by index: a quicksort
    (faster than a stable sort by half), then a lexsort of the runs of equal values only."""
    order = np.argsort(v)
    s = v[order]
    tie = s[1:] == s[:-1]
    if not tie.any():
        return order
    tied = np.zeros(len(order), dtype=bool)
    tied[1:] |= tie
    tied[:-1] |= tie
    pos = np.flatnonzero(tied)  # whole runs of equal values, in their sorted places
    rows = np.sort(order[pos])  # in index order, so that the stable lexsort breaks full ties by index
    keys = x[rows].T[::-1] if x is not None else [v[rows]]
    order[pos] = rows[np.lexsort(keys)]
    return order


def _pivot_filter(x: np.ndarray, block: int) -> np.ndarray:
    """The indices of the rows of ``x`` that no pivot dominates, in increasing order: O(n k) per pivot,
    after O(SAMPLE * 512 * k) to choose them.

    The pivots are rows on the front of an evenly spaced sample of the rows left, chosen greedily by how
    many sample rows they dominate that the pivots before did not, while that is 1/64 of the sample or more
    (so a huge front, where no row dominates many, costs no pass over the table). A round that halves the
    rows left is followed by another, its sample from the rows left."""
    n, k = x.shape
    cols = [np.ascontiguousarray(x[:, c]) for c in range(k)]
    cand = np.arange(n)
    while True:
        sample = cand[np.unique(np.linspace(0, len(cand) - 1, min(SAMPLE, len(cand))).astype(np.intp))]
        s = x[sample]
        front = _front_order_sorted(s, block)
        with np.errstate(invalid="ignore"):  # inf - inf: such a row sorts last
            front = front[np.argsort(s[front].sum(axis=1), kind="stable")[:512]]  # bound the matrix below
        # covers[i, j]: front row i dominates sample row j
        covers = np.ones((len(front), len(s)), dtype=bool)
        strict = np.zeros((len(front), len(s)), dtype=bool)
        for c in range(k):
            covers &= s[front, c][:, None] <= s[:, c][None, :]
            strict |= s[front, c][:, None] < s[:, c][None, :]
        covers &= strict
        pivots: list[int] = []
        while len(pivots) < PIVOTS:
            gain = covers.sum(axis=1)
            best = int(np.argmax(gain))
            if gain[best] * 64 < len(s):
                break
            pivots.append(int(sample[front[best]]))
            covers &= ~covers[best]
        start = len(cand)
        for p in pivots:
            pv = x[p]
            vals = [c[cand] for c in cols] if len(cand) < n else cols
            # dominated: >= the pivot in every column and > in one (a copy of the pivot is not)
            ge = vals[0] >= pv[0]
            gt = vals[0] > pv[0]
            for c in range(1, k):
                ge &= vals[c] >= pv[c]
                gt |= vals[c] > pv[c]
            cand = cand[~(ge & gt)]
        if len(cand) > start // 2 or len(cand) <= PIVOT_MIN_ROWS:
            return cand


# --- three or more metrics: divide and conquer ----------------------------------------------------


# Roles in a cross check, in this order so that a query from the right half has the largest flags
# (2 * role + half) and a source from the left half flags 0 (see _cross); the flags' place, above any rank.
_SOURCE, _NEITHER, _QUERY = 0, 1, 2
_FLAG = 28


@dataclass
class _Ranks:
    """The rows of :func:`_dominated_in_order` as ordinal ranks, one column at a time."""

    b: int  # rows per block at the bottom
    inv: list[np.ndarray]  # inv[j][r]: the row whose rank in column j is r
    nxt: list[np.ndarray]  # nxt[j][r]: the rank in column j + 1 of the row whose rank in column j is r
    pos: np.ndarray  # each place's position in its block of b
    dom: np.ndarray  # the rows found dominated


def _dominated_in_order(cols: list[np.ndarray], block: int) -> np.ndarray:
    """Which rows some earlier row is <= in every one of ``cols``: the columns after the first of distinct,
    lexicographically sorted rows (two columns or more), so exactly the dominated rows.

    Each column becomes ordinal ranks, ties broken by row order: an earlier row then ranks below a later
    one it equals, so ``<=`` between an earlier and a later row holds on ranks exactly when on values, and
    ranks are distinct (a row's rank names it). The rows are padded (by rows ranked last in every column)
    to b * 2**L, b in [block, 2 * block), and divided into blocks of b rows: within each block every pair
    is compared, then blocks are paired and the left one checked against the right one
    (:func:`_cross`), pairs paired again, ... L levels, each keeping every pair's rows sorted by rank in
    the second column (a merge of the two halves' sorted rows). Time O(n log^(d-1) n) for d columns;
    when most rows are found dominated (a small front) the blocks shrink to the rows left, and later
    levels cost little.
    """
    m, d = len(cols[0]), len(cols)
    levels = max(0, (m // block).bit_length() - 1)
    b = -(-m // (1 << levels))
    size = b << levels
    if size >= 1 << _FLAG:
        raise ValueError(f"{m} distinct rows: the filter takes fewer than {1 << _FLAG}")  # ranks below the flags
    # ranks as int32 (half the memory traffic of int64); rank ``size`` is a spare row, last in every column
    # and taken as dominated, that fills the blocks once dominated rows are dropped
    rows = np.arange(size + 1, dtype=np.int32)
    inv, ranks = [], []
    for j in range(d):
        o = rows.copy()
        o[:m] = _argsort_ties(cols[j])  # ties by row order
        r = np.empty(size + 1, dtype=rows.dtype)
        r[o] = rows
        inv.append(o)
        ranks.append(r)
    ctx = _Ranks(
        b=b,
        inv=inv,
        nxt=[ranks[j + 1][inv[j]] for j in range(d - 1)],
        pos=rows[:size] % b,
        dom=np.zeros(size + 1, dtype=bool),
    )
    _pairs_in_blocks(ctx, None, [r[:size] for r in ranks], ctx.dom[:size])
    ctx.dom[size] = True
    # T packs each row's rank in column 0 (the high word, the sort key), its rank in column 1 (saves a
    # lookup per level) and, in a pair of blocks (a row of T), whether it is in the right one (bit 0):
    # each block's rows sorted by rank in column 0
    T = (ranks[0][:size].astype(np.int64) << 32) | (ranks[1][:size].astype(np.int64) << 1)
    T = np.sort(T.reshape(-1, b), axis=1)
    spare = (size << 32) | (size << 1)
    found = np.count_nonzero(ctx.dom)
    while T.shape[0] > 1:
        half = T.shape[1]
        T = T.reshape(-1, 2 * half)
        T[:, half:] |= 1
        T.sort(axis=1, kind="stable")  # two sorted runs per row: a merge
        low = T.astype(np.int32)
        _cross(ctx, T >> 32, (low & 1) * _QUERY, 0, low >> 1)
        T &= ~1
        if np.count_nonzero(ctx.dom) - found > T.size // 4:  # many rows newly dominated: drop them
            T = _drop_dominated(ctx, T, spare)
            found = np.count_nonzero(ctx.dom)
    return ctx.dom[:m]


def _drop_dominated(ctx: _Ranks, T: np.ndarray, spare: int) -> np.ndarray:
    """The blocks of T (rows, sorted) without their dominated rows, narrowed to a multiple of b times a power
    of two that holds the most rows left in a block; the spare row fills each block's end."""
    alive = ~ctx.dom[ctx.inv[0][T >> 32]]
    most = int(alive.sum(axis=1).max())
    width = ctx.b << max(0, (-(-most // ctx.b) - 1).bit_length())
    if width > T.shape[1] // 2:
        return T
    keep = np.argsort(~alive, axis=1, kind="stable")[:, :width]  # the rows left first, in order
    T = np.take_along_axis(T, keep, axis=1)
    T[~np.take_along_axis(alive, keep, axis=1)] = spare
    return T


def _pairs_in_blocks(ctx: _Ranks, role: np.ndarray | None, vals: list[np.ndarray], hit: np.ndarray) -> None:
    """Within each block of ctx.b places (in order): set ``hit`` where an earlier place is below in every
    one of ``vals`` (and, with ``role``, the earlier one is a source and this one a query).
    O(n b) for n places, as b - 1 shifted comparisons."""
    src, qry = (role == _SOURCE, role == _QUERY) if role is not None else (None, None)
    pos = ctx.pos[: len(hit)]
    for s in range(1, ctx.b):
        ok = pos[s:] >= s  # the place s before is in the same block
        if src is not None and qry is not None:
            ok &= src[:-s]
            ok &= qry[s:]
        for v in vals:
            ok &= v[:-s] < v[s:]
        hit[s:] |= ok


def _cross(ctx: _Ranks, r: np.ndarray, role: np.ndarray, j: int, r1: np.ndarray | None = None) -> None:
    """Mark in ctx.dom each query that a source of its group is below in columns j, j+1, ..., d-1.

    A group is a row of ``r`` (ranks in column j), sorted, sources and queries alike: a source before a
    query is below it in column j. With two columns left, a running minimum answers every query at once:
    of v, the rank in the last column, for the sources, of v + 2**f * role for all (above any v), so that
    a query is dominated where the minimum is <= its value less 2**f * QUERY. With more columns, the same
    divide and conquer again over each group's places (blocks of b, pairs, ...), each level a merge by
    rank in column j + 1 and a cross check one column shorter: O(n log^(c-2) n) for c columns. ``r1``,
    when given, is the rows' ranks in column j + 1.
    """
    f = _FLAG
    if r1 is None:
        r1 = ctx.nxt[j][r]
    if j == len(ctx.nxt) - 1:
        v = r1
        word = v + (role.astype(v.dtype) << f)
        hit = np.minimum.accumulate(word, axis=1) <= word - (_QUERY << f)
        if hit.any():
            ctx.dom[ctx.inv[j + 1][v[hit]]] = True
        return
    size = r.shape[1]
    b = ctx.b
    r1 = r1.ravel()
    flat_role = role.ravel()
    vals = [r1]
    for jj in range(j + 1, len(ctx.nxt)):
        vals.append(ctx.nxt[jj][vals[-1]])
    hit = np.zeros(len(r1), dtype=bool)
    _pairs_in_blocks(ctx, flat_role, vals, hit)
    if hit.any():
        ctx.dom[ctx.inv[j + 1][r1[hit]]] = True
    # K packs the rank in column j + 1 (the high word, the sort key), then flags 2 * role + half (bit f the
    # half a place came from) and the rank v in the last column when it is the next one: the low word is
    # an int32 (one cast), half the memory traffic of int64
    last = j + 1 == len(ctx.nxt) - 1
    K = (r1.astype(np.int64) << 32) | (flat_role.astype(np.int64) << (f + 1))
    if last:
        K |= vals[1]
    K = np.sort(K.reshape(-1, b), axis=1)
    right_query = ((_QUERY << 1) | 1) << f
    half = b
    while half < size:
        K = K.reshape(-1, 2 * half)
        K[:, half:] |= 1 << f
        K.sort(axis=1, kind="stable")  # merge the halves by rank in column j + 1
        word = K.astype(np.int32)
        if last:
            # a source from the left half has flags 0 (its word is v), any other place a word above any v;
            # less right_query, a query from the right half leaves its v, any other place a negative value
            test = word - right_query
            hit = np.minimum.accumulate(word, axis=1) <= test
            if hit.any():
                ctx.dom[ctx.inv[j + 2][test[hit]]] = True
        else:
            flags = word >> f
            sub = np.where(flags == 0, _SOURCE, np.where(flags == (_QUERY << 1) | 1, _QUERY, _NEITHER))
            _cross(ctx, K >> 32, sub, j + 1)
        K &= ~(1 << f)
        half *= 2


# --- rows to arrays --------------------------------------------------------------------------------


def _check_metrics(minimize: list[str], maximize: list[str]) -> list[str]:
    metrics = minimize + maximize
    if not metrics:
        raise AttnkitError("pareto: name at least one metric with --minimize or --maximize")
    both = set(minimize) & set(maximize)
    if both:
        raise AttnkitError(f"pareto: {sorted(both)[0]!r} is both minimized and maximized")
    return metrics


def _has_columns(rows, names: list[str]) -> bool:
    """Rows held as columns that have every one of ``names`` (each of their rows has them all)."""
    return isinstance(rows, ColumnRows) and all(n in rows.columns for n in names)


def _check_columns(row: dict[str, Any], metrics: list[str], source: str) -> None:
    for m in metrics:
        if m not in row:
            numeric = sorted(k for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
            raise AttnkitError(f"{source}: no column {m!r} (numeric columns: {', '.join(numeric)})")


def _values(rows: Sequence[dict[str, Any]], name: str) -> list[Any]:
    """Column ``name`` of ``rows`` as a list (None where a row has no such key)."""
    if isinstance(rows, ColumnRows):
        return rows.column(name).to_pylist() if name in rows.columns else [None] * len(rows)
    return [r.get(name) for r in rows]


def _column(rows: Sequence[dict[str, Any]], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Column ``name`` of ``rows`` as floats, and a mask of the cells that are numbers (int or float, not
    bool, not NaN)."""
    if isinstance(rows, ColumnRows) and name in rows.columns:
        import pyarrow as pa

        col = rows.column(name)
        if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
            out = col.to_numpy().astype(float) if col.null_count == 0 else col.fill_null(np.nan).to_numpy()
            return np.asarray(out, dtype=float), ~np.isnan(out)
    vals = _values(rows, name)
    if set(map(type, vals)) <= {int, float}:  # the common case: plain numbers all through
        out = np.array(vals, dtype=float)
        return out, ~np.isnan(out)
    ok = np.fromiter(
        (isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals), dtype=bool, count=len(vals)
    )
    out = np.full(len(vals), np.nan)
    idx = np.flatnonzero(ok)
    out[idx] = np.array([vals[i] for i in idx], dtype=float)
    return out, ok & ~np.isnan(out)


def _table(rows: Sequence[dict[str, Any]], minimize: list[str], maximize: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The metrics of ``rows`` as an (n, k) array, all to minimise (maximised ones negated), and a mask of
    the rows that take part: no error, not infeasible, every metric a number."""
    n = len(rows)
    metrics = minimize + maximize
    x = np.empty((n, len(metrics)))
    ok = np.ones(n, dtype=bool)
    for j, m in enumerate(metrics):
        col, good = _column(rows, m)
        x[:, j] = col if j < len(minimize) else -col
        ok &= good
    ok &= ~np.fromiter(map(bool, _values(rows, "error")), dtype=bool, count=n)
    feasible = _values(rows, "feasible")
    ok &= ~np.fromiter(map(operator.is_, feasible, repeat(False)), dtype=bool, count=n)
    return x, ok


def _front_index(idx: np.ndarray, x: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The front of the rows at ``idx`` (indices into ``x``), in :func:`front`'s order."""
    idx = idx[ok[idx]]
    return idx[_front_order(x[idx])]


def _take(rows, order: np.ndarray) -> list[dict[str, Any]]:
    index = order.tolist()
    return rows.take(index) if isinstance(rows, ColumnRows) else [rows[i] for i in index]


def front(
    rows: Sequence[dict[str, Any]], minimize: Iterable[str] = (), maximize: Iterable[str] = (), source: str = "rows"
) -> list[dict[str, Any]]:
    """The non-dominated rows, in increasing order of the first metric, then the next (ties all kept, in
    their order)."""
    minimize, maximize = list(minimize), list(maximize)
    metrics = _check_metrics(minimize, maximize)
    if not len(rows):
        return []
    if not _has_columns(rows, metrics):
        _check_columns(rows[0], metrics, source)
    x, ok = _table(rows, minimize, maximize)
    return _take(rows, _front_index(np.arange(len(rows)), x, ok))


def front_by(rows, minimize=(), maximize=(), by: Sequence[str] = (), source: str = "rows") -> list[dict[str, Any]]:
    """:func:`front` within each group of rows that share the values of the ``by`` columns (groups in the
    order of their values as text)."""
    if not by:
        return front(rows, minimize, maximize, source)
    for b in by:
        if len(rows) and not _has_columns(rows, [b]) and b not in rows[0]:
            raise AttnkitError(f"{source}: no column {b!r} to group by")
    if not len(rows):
        return []
    minimize, maximize = list(minimize), list(maximize)
    metrics = _check_metrics(minimize, maximize)
    ids: dict[tuple, int] = {}
    keys = zip(*(_values(rows, b) for b in by))
    group = np.fromiter((ids.setdefault(key, len(ids)) for key in keys), dtype=np.intp, count=len(rows))
    x, ok = _table(rows, minimize, maximize)
    members = np.argsort(group, kind="stable")  # each group's rows, in their order
    checked = _has_columns(rows, metrics)
    bounds = np.searchsorted(group[members], np.arange(len(ids) + 1))
    fronts = []
    for key in sorted(ids, key=lambda k: tuple(map(str, k))):
        idx = members[bounds[ids[key]] : bounds[ids[key] + 1]]
        if not checked:
            _check_columns(rows[idx[0]], metrics, source)  # as front() checks each group's first row
        fronts.append(_front_index(idx, x, ok))
    return _take(rows, np.concatenate(fronts))  # one take: a column table's take costs the same for 1 row or 10^4


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
