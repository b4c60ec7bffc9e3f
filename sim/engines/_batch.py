"""Helpers of the engines' batch forms: per-arch columns, exact integer sums, action counts to energy, and
the result columns as the scalar form's flattened ``Result.to_dict()`` has them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import Points

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


def energy(table: EnergyTable, actions: Mapping[str, np.ndarray], n: int):
    """(rows the table cannot price, energy column, {component: column}) as :meth:`EnergyTable.energy`
    gives them; a component's column is ``None`` in rows where none of its actions happen."""
    missing = np.zeros(n, dtype=bool)
    parts: dict[str, list] = {}
    for key, count in actions.items():
        comp, _, act = key.partition(".")
        count = np.broadcast_to(np.asarray(count, dtype=np.float64), (n,))
        try:
            pj = table.components[comp].actions[act].energy_pj
        except KeyError:
            missing |= count != 0
            continue
        parts.setdefault(comp, []).append((pj * count, count != 0))
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
