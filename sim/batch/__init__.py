"""Batch forms: an engine's closed form over a table of design points at once.

An engine with a closed form may give a batch form (a :class:`BatchFn`,
``FORMS[name]`` of the module its ``Engine(batch=...)`` names): the same
closed form over a :class:`Points` table, arithmetic on NumPy columns,
returning each metric as a column. The package mirrors the scalar levels:
:mod:`.pipeline` is :mod:`attnkit.sim.pipeline`'s closed form over many rows,
:mod:`.attention` and :mod:`.gemm` the batch forms of
:mod:`attnkit.sim.engines.attention` and :mod:`attnkit.sim.engines.gemm`, and
:mod:`.common` what they share.

The scalar form stays the reference: a batch form gives the same numbers
(equal integers, floats within 1e-12 relative; tested on random points of
every shipped sweep spec), and where a row is outside what it models it
raises :class:`BatchUnsupported` (naming those rows, or all of them) before
computing, and :func:`simulate_points` runs those points one by one through
the scalar form, which gives each its own result or error, and the other
rows through the batch form again. A batch form refuses the rows its scalar
form would reject, so every error message is the scalar form's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.params.config import get_path
from attnkit.sim.energy import EnergyTable, load_table
from attnkit.sim.engines import get
from attnkit.sim.result import flatten


@dataclass(frozen=True)
class Points:
    """A table of design points for a batch form: distinct arch and workload objects (each built and
    validated as the scalar path builds it) and, per row, the index of its arch and of its workload.

    ``arch(path)`` and ``workload(path)`` give a field's value for every row as a NumPy array, so a batch
    form reads what its scalar form reads, by the same dotted names.
    """

    archs: Sequence[Any]
    workloads: Sequence[Any]
    arch_index: np.ndarray  # int, one per row
    workload_index: np.ndarray  # int, one per row

    def __post_init__(self) -> None:
        if self.arch_index.shape != self.workload_index.shape or self.arch_index.ndim != 1:
            raise ValueError("Points: arch_index and workload_index must be 1-D and of one length")

    def __len__(self) -> int:
        return len(self.arch_index)

    def arch(self, path: str) -> np.ndarray:
        """The arch field at dotted ``path`` for every row."""
        return _gather(self.archs, self.arch_index, path)

    def workload(self, path: str) -> np.ndarray:
        """The workload field at dotted ``path`` for every row."""
        return _gather(self.workloads, self.workload_index, path)

    def rows(self, mask: np.ndarray) -> Points:
        """The points where ``mask`` holds (the same objects, fewer rows)."""
        return Points(self.archs, self.workloads, self.arch_index[mask], self.workload_index[mask])


def _gather(objs: Sequence[Any], index: np.ndarray, path: str) -> np.ndarray:
    used, inverse = np.unique(index, return_inverse=True)  # only the rows' objects (a subset may hold others)
    values = [get_path(objs[i], path) for i in used]
    if all(isinstance(v, (bool, int)) for v in values) and not all(isinstance(v, bool) for v in values):
        column = np.array(values, dtype=np.int64)  # Python ints: exact (a batch form keeps them in int64)
    else:
        column = np.array(values)
    return column[inverse.reshape(-1)]


class BatchUnsupported(AttnkitError):
    """A batch form does not model some of its rows (the caller runs them through the scalar form).

    ``rows`` is a boolean mask over the points the batch form was given (None: all of them); the caller
    runs the others through the batch form again, so a batch form raises it before the heavy work.
    """

    def __init__(self, message: str = "", rows: np.ndarray | None = None):
        super().__init__(message)
        self.rows = rows


class BatchFn(Protocol):
    """An engine's closed form over a table of points: every metric the scalar form's ``Result.to_dict()``
    gives (nested dicts flattened to ``"energy_breakdown.dram"``-style keys), each a column of one value
    per row; ``engine`` a string column or a plain string."""

    def __call__(self, points: Points, table: EnergyTable, /) -> dict[str, Any]: ...


def simulate_points(points: Points, engine: str | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Every point of ``points`` through ``engine`` (default: each arch's own), closed form.

    Returns the metric columns (flattened ``Result.to_dict()`` keys; ``None`` in a row that lacks one) and
    each row's error (``""`` for none). Rows sharing an engine and energy table go to its batch form in one
    call; engines without one, and rows a batch form raises :class:`BatchUnsupported` for, run point by
    point through the scalar form, whose exceptions become the row's error. A batch form keeps a few
    dozen int64 columns per row (and a ring of states per repeat): give it chunks of up to some 10^5 rows.
    """
    n = len(points)
    errors = np.full(n, "", dtype=object)
    arch_group = [(engine or a.engine, a.energy) for a in points.archs]
    keys = sorted(set(arch_group), key=str)
    group_of_arch = np.array([keys.index(g) for g in arch_group], dtype=np.int64)
    row_group = group_of_arch[points.arch_index] if n else np.zeros(0, dtype=np.int64)
    parts: list[tuple[np.ndarray, dict[str, Any]]] = []
    for g, (name, energy) in enumerate(keys):
        mask = row_group == g
        if not mask.any():
            continue
        try:
            fn = get(name)
            table = load_table(energy)
        except Exception as e:
            errors[mask] = f"{type(e).__name__}: {e}"
            continue
        ok = mask.copy()
        pairs = np.unique(np.stack([points.arch_index[mask], points.workload_index[mask]]), axis=1)
        for ai, wi in pairs.T:
            try:
                fn.check(points.archs[ai], points.workloads[wi])
            except Exception as e:
                bad = mask & (points.arch_index == ai) & (points.workload_index == wi)
                errors[bad] = f"{type(e).__name__}: {e}"
                ok &= ~bad
        if not ok.any():
            continue
        batch = fn.batch_form()
        if batch is not None:
            done, cols = _run_batch(batch, points, ok, table)
            if done.any():
                parts.append((done, cols))
            ok = ok & ~done
        if not ok.any():
            continue
        rows: list[dict[str, Any] | None] = []
        for i in np.flatnonzero(ok):
            try:
                res = fn.fn(points.archs[points.arch_index[i]], points.workloads[points.workload_index[i]], table)
                rows.append(flatten(res.to_dict()))
            except Exception as e:
                errors[i] = f"{type(e).__name__}: {e}"
                rows.append(None)
        parts.append((ok, columns_of(rows)))
    return _merge(parts, n), errors


def columns_of(records: Sequence[dict[str, Any] | None]) -> dict[str, np.ndarray]:
    """Flat records (None for a row with none) as columns, None where a row lacks a key."""
    columns: dict[str, list] = {}
    for j, r in enumerate(records):
        for k, v in (r or {}).items():
            columns.setdefault(k, [None] * len(records))[j] = v
    return {k: _column(v) for k, v in columns.items()}


def _run_batch(batch: BatchFn, points: Points, ok: np.ndarray, table: EnergyTable) -> tuple[np.ndarray, dict]:
    """The rows of ``ok`` a batch form computes (a mask over all points) and their columns; a refusal of
    some rows leaves them out and runs the batch form again on the others (once: a second refusal of
    any row leaves them all to the scalar form)."""
    none = np.zeros_like(ok)
    for _ in range(2):
        try:
            return ok, batch(points.rows(ok), table)
        except BatchUnsupported as e:
            if e.rows is None:
                return none, {}
            refused = np.zeros_like(ok)
            refused[np.flatnonzero(ok)[np.asarray(e.rows, dtype=bool)]] = True
            ok = ok & ~refused
            if not ok.any():
                return none, {}
    return none, {}


def _column(values: Sequence[Any]) -> np.ndarray:
    """Values as one column: numeric where every value is a number, else objects (None kept)."""
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype=np.int64 if all(isinstance(v, int) for v in values) else np.float64)
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _merge(parts: list[tuple[np.ndarray, dict[str, Any]]], n: int) -> dict[str, np.ndarray]:
    """Columns of the whole table from each group's rows (the mask) and columns."""
    if len(parts) == 1 and parts[0][0].all():
        mask, cols = parts[0]
        return {k: np.broadcast_to(v, (n,)) if np.ndim(v) == 0 else np.asarray(v) for k, v in cols.items()}
    out: dict[str, np.ndarray] = {}
    for mask, cols in parts:
        rows = int(mask.sum())
        for k, v in cols.items():
            col = out.get(k)
            if col is None:
                col = out[k] = np.full(n, None, dtype=object)
            col[mask] = np.broadcast_to(np.asarray(v, dtype=object), (rows,))
    return out
