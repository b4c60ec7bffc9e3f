"""Helpers of the engines' batch forms: per-arch columns, exact integer sums, action counts to energy, and
the result columns as the scalar form's flattened ``Result.to_dict()`` has them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from attnkit.sim.batch import Points
from attnkit.sim.energy import EnergyTable

INT = np.int64
# Rows whose counts could pass this (a bound, computed in floats) are left to the scalar form's Python
# integers rather than risk an int64 overflow.
SAFE = float(2**62)


def cdiv(a, b):
    """Exact ceil(a / b) of non-negative integer columns."""
    return -(-a // b)


def per_arch(points: Points, fn: Callable[[Any], Any], dtype=None) -> np.ndarray:
    """``fn(arch)`` for every row, computed once per distinct arch of the rows."""
    used, inv = np.unique(points.arch_index, return_inverse=True)
    return np.array([fn(points.archs[i]) for i in used], dtype=dtype)[inv.reshape(-1)]


def refused_archs(points: Points, check: Callable[[Any], None]) -> np.ndarray:
    """Rows whose arch makes ``check`` raise (the scalar form gives them its error)."""

    def fails(arch) -> bool:
        try:
            check(arch)
        except Exception:
            return True
        return False

    return per_arch(points, fails, dtype=bool)


def per_arch_dict(points: Points, fn: Callable[[Any], Mapping[str, float]]) -> dict[str, np.ndarray]:
    """The dict ``fn(arch)`` of every row as columns (``None`` in rows whose dict lacks the key)."""
    used, inv = np.unique(points.arch_index, return_inverse=True)
    dicts = [fn(points.archs[i]) for i in used]
    out = {}
    for key in dict.fromkeys(k for d in dicts for k in d):
        has = np.array([key in d for d in dicts])[inv.reshape(-1)]
        col = np.array([float(d.get(key, 0.0)) for d in dicts])[inv.reshape(-1)]
        out[key] = present(col, has)
    return out


def floor_sum(n, m, a, b) -> np.ndarray:
    """sum_{i=0}^{n-1} floor((a i + b) / m) per row, exactly (int64 columns; n >= 0, m >= 1, a, b >= 0).

    The Euclid-like reduction of the AtCoder Library's ``floor_sum``: O(log m) steps."""
    n, m, a, b = (np.array(np.broadcast_to(v, np.broadcast_shapes(*map(np.shape, (n, m, a, b)))), dtype=INT)
                  for v in (n, m, a, b))  # fmt: skip
    ans = np.zeros_like(n)
    live = n > 0
    while live.any():
        q = a // m
        ans += np.where(live, (n - 1) * n // 2 * q, 0)
        a = a - q * m
        q = b // m
        ans += np.where(live, n * q, 0)
        b = b - q * m
        y_max = a * n + b
        live &= y_max >= m
        n, b, m, a = (
            np.where(live, y_max // m, n),
            np.where(live, y_max % m, b),
            np.where(live, a, m),
            np.where(live, m, a),
        )
    return ans


def present(col: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``col`` where ``mask`` holds and ``None`` elsewhere (a key the scalar form leaves out of those rows)."""
    if mask.all():
        return col
    out = np.empty(len(col), dtype=object)
    out[:] = list(col)
    out[~mask] = None
    return out


class Counts(dict):
    """Action counts by ``component.action``, each a column (an action absent from a row: 0)."""

    def add(self, key: str, n) -> None:
        self[key] = self.get(key, 0) + n


def energy(table: EnergyTable, actions: Mapping[str, Any], n: int, zeros: bool = False):
    """(rows the table cannot price, energy column, {component: column}) as :meth:`EnergyTable.energy`
    gives them; a component's column is ``None`` in rows where none of its actions happen (``zeros``:
    the scalar form lists every action, counted or not, so every component is there)."""
    missing = np.zeros(n, dtype=bool)
    parts: dict[str, list] = {}
    for key, count in actions.items():
        comp, _, act = key.partition(".")
        count = np.broadcast_to(np.asarray(count, dtype=np.float64), (n,))
        try:
            pj = table.components[comp].actions[act].energy_pj
        except KeyError:
            missing |= (count != 0) | zeros
            continue
        parts.setdefault(comp, []).append((pj * count, (count != 0) | zeros))
    total = np.zeros(n)
    breakdown = {}
    for comp, terms in parts.items():
        col = sum(t for t, _ in terms)
        total = total + col
        breakdown[comp] = present(col, np.logical_or.reduce([h for _, h in terms]))
    return missing, total, breakdown


def actions_columns(actions: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """``actions.KEY`` columns as floats (the scalar form sums them as floats), ``None`` where a count is 0."""
    out = {}
    for key, count in actions.items():
        col = np.broadcast_to(np.asarray(count, dtype=np.float64), (n,))
        out[f"actions.{key}"] = present(col, col != 0)
    return out


def lex_less(a: list, b: list) -> np.ndarray:
    """Row by row, whether the tuple of columns ``a`` sorts before ``b``."""
    less = np.zeros(np.broadcast_shapes(*map(np.shape, a + b)), dtype=bool)
    equal = np.ones_like(less)
    for x, y in zip(a, b):
        less |= equal & (x < y)
        equal &= x == y
    return less


def mapper(order: list[np.ndarray], valid: np.ndarray, bound: np.ndarray, traffic: np.ndarray, better: list, time):
    """A scalar mapper's choice over candidate plans, for every row at once.

    Candidates are ``(Q, n)`` columns (plan q of row r at [q, r]). Per row, as the scalar mappers do:
    visit the valid plans in the order of the ``order`` columns (first the most significant), skip one
    whose ``bound`` exceeds the best cycles so far, or equals or exceeds them without less ``traffic``,
    time the others (``time(q, mask)``: the plan index per row and the rows to time -> (cycles,
    {name: column})), and keep a plan whose (cycles, *``better``) sorts before the best's. Returns the
    chosen plan per row (-1: none valid), its cycles and its other columns.
    """
    Q, n = valid.shape
    rank = np.lexsort([*[np.where(valid, k, 0) for k in reversed(order)], ~valid], axis=0)
    cols = np.arange(n)
    best = np.full(n, -1, dtype=np.int64)
    best_cycles = np.zeros(n, dtype=np.int64)
    best_rest: list = [np.zeros(n, dtype=np.asarray(k).dtype) for k in better]
    kept: dict[str, np.ndarray] = {}
    for i in range(Q):
        q = rank[i]
        live = valid[q, cols]
        if not live.any():
            break  # the invalid plans sort last
        some = best >= 0
        b, t = bound[q, cols], traffic[q, cols]
        skip = some & ((b > best_cycles) | ((b >= best_cycles) & (t >= best_rest[0])))
        go = live & ~skip
        if not go.any():
            continue
        cycles, other = time(q, go)
        rest = [k[q, cols] for k in better]
        take = go & (~some | lex_less([cycles, *rest], [best_cycles, *best_rest]))
        best = np.where(take, q, best)
        best_cycles = np.where(take, cycles, best_cycles)
        best_rest = [np.where(take, x, y) for x, y in zip(rest, best_rest)]
        for k, v in other.items():
            kept[k] = np.where(take, v, kept[k]) if k in kept else np.where(take, v, 0)
    return best, best_cycles, kept


def from_scalar(out: dict, rows: np.ndarray, fn, points: Points, table: EnergyTable) -> dict:
    """``out`` with the rows of ``rows`` (a mask) computed by the scalar form ``fn`` instead: for rows whose
    result hangs on a tie the scalar form breaks by its own float rounding."""
    from attnkit.sim.result import flatten

    n = len(points)
    out = {k: (np.array(np.broadcast_to(v, (n,))) if np.ndim(v) == 0 else np.array(v)) for k, v in out.items()}
    for i in np.flatnonzero(rows):
        arch, wl = points.archs[points.arch_index[i]], points.workloads[points.workload_index[i]]
        rec = flatten(fn(arch, wl, table).to_dict())
        for k in set(rec) | set(out):
            v = rec.get(k)
            col = out.get(k)
            if col is None:
                col = out[k] = np.full(n, None, dtype=object)
            kind = col.dtype.kind
            fits = (
                (kind == "i" and type(v) is int)
                or (kind == "f" and type(v) is float)
                or (kind == "b" and type(v) is bool)
            )
            fits = fits or (
                kind in "US" and isinstance(v, str) and len(v) <= col.dtype.itemsize // (4 if kind == "U" else 1)
            )
            if not fits and kind != "O":
                col = out[k] = col.astype(object)
            col[i] = v
    return out
