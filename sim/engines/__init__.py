"""The simulator's engines, by name.

Each module in this package that simulates something defines
``ENGINES = {"name": Engine(function, arch=(...), workload=(...))}``: the
function (an :class:`EngineFn`) and the arch and workload kinds it takes::

    ENGINES = {"gemm": Engine(simulate, arch=("spatial",), workload=("gemm",))}

Modules are found by name, so a new engine is a new module: the CLI, sweeps
and reports pick it up with no other change. Other installed packages add
engines the same way through the ``attnkit.engines`` entry-point group
(:mod:`attnkit.plugins`); a plugin's bare function (no :class:`Engine`) takes
any kind and checks its own inputs.

Every call through the registry (:func:`get`) checks the kinds first, so an
engine function only sees the kinds it declared: a wrong kind is one line
naming the engine, the kinds it takes and what it was given.

An engine with a closed form may also give a batch form (``Engine(...,
batch=fn)``, a :class:`BatchFn`): the same closed form over a table of design
points (:class:`Points`), arithmetic on NumPy columns, returning each metric
as a column. The scalar form stays the reference: a batch form gives the same
numbers (equal integers, floats within 1e-12 relative; tested on random
points of every shipped sweep spec), and where a row is outside what it
models it raises :class:`BatchUnsupported` (naming those rows, or all of
them) before computing, and the caller runs those points one by one through
the scalar form, which gives each its own result or error, and the other
rows through the batch form again. A batch form refuses the rows its scalar
form would reject, so every error message is the scalar form's.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.params import kinds
from attnkit.params.config import get_path
from attnkit.sim.energy import EnergyTable, load_table
from attnkit.sim.result import Result, flatten


class EngineFn(Protocol):
    """What an engine computes: one workload on one architecture, priced with an energy table.

    ``mode`` is ``"closed"`` for the closed form or ``"event"`` for the
    event-driven run. The first three are passed by position (some engines
    name the workload ``w``). ``arch`` and ``workload`` are ``Any`` here
    because each engine takes its own classes, those of the kinds it
    declares; refusals beyond the kinds (a head dim a tile does not take, a
    causal mask it cannot model) are one-line :class:`AttnkitError`.
    """

    def __call__(self, arch: Any, workload: Any, table: EnergyTable, /, mode: str = "closed") -> Result: ...


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


@dataclass(frozen=True)
class Engine:
    """A registry entry: the function and the kinds it takes (``None``: any kind, the function checks),
    and the batch form of its closed form where it has one."""

    fn: EngineFn
    arch: tuple[str, ...] | None = None  # arch kinds (attnkit.params.kinds.ARCH_KINDS)
    workload: tuple[str, ...] | None = None  # workload kinds (attnkit.params.kinds.WORKLOAD_KINDS)
    name: str = ""  # filled in from the ENGINES key by the registry
    doc: str = ""  # default: the first line of the function's docstring
    batch: BatchFn | None = None  # the closed form over many points (None: point by point)

    def check(self, arch: Any, workload: Any) -> None:
        """Refuse an arch or workload of a kind this engine does not take, in one line (a ConfigError)."""
        kinds.check_kind(f"engine {self.name}", "arch", arch, self.arch)
        kinds.check_kind(f"engine {self.name}", "workload", workload, self.workload)

    def __call__(self, arch: Any, workload: Any, table: EnergyTable, mode: str = "closed") -> Result:
        self.check(arch, workload)
        return self.fn(arch, workload, table, mode=mode)


def _entry(name: str, value: Any) -> Engine:
    """A registry entry from an ENGINES value: an :class:`Engine`, or a plugin's bare function (any kind)."""
    if not isinstance(value, Engine):
        if not callable(value):
            raise AttnkitError(f"engine {name!r}: expected an Engine or a function, found {type(value).__name__}")
        value = Engine(value)
    if value.name not in ("", name):
        raise AttnkitError(f"engine {name!r}: its Engine is named {value.name!r}")
    for what, takes, known in (
        ("arch", value.arch, kinds.ARCH_KINDS),
        ("workload", value.workload, kinds.WORKLOAD_KINDS),
    ):
        unknown = [k for k in takes or () if k not in known]
        if unknown or takes == ():  # a typo would refuse every arch with a puzzling message
            raise AttnkitError(f"engine {name!r}: {what} kinds {list(takes)!r}; expected some of {', '.join(known)}")
    doc = value.doc or (getattr(value.fn, "__doc__", None) or "").strip().split("\n")[0]
    return dataclasses.replace(value, name=name, doc=doc)


@cache
def registry() -> dict[str, Engine]:
    """Every engine by name: this package's modules, then the ``attnkit.engines`` entry points."""
    from attnkit import plugins

    builtin = [
        (module.__name__, module)
        for module in (
            importlib.import_module(f"{__name__}.{info.name}")
            for info in pkgutil.iter_modules(__path__)
            if not info.name.startswith("_")
        )
    ]
    found = plugins.collect("engine", "attnkit.engines", "ENGINES", builtin)
    return {name: _entry(name, value) for name, value in found.items()}


def get(name: str) -> Engine:
    """The engine ``name``; calling it checks the kinds, then runs the function."""
    engines = registry()
    if name not in engines:
        raise AttnkitError(f"unknown engine {name!r} (known engines: {', '.join(sorted(engines)) or 'none'})")
    return engines[name]


def simulate(arch, workload, engine: str | None = None, sets: Iterable[str] = (), mode: str = "closed") -> Result:
    """Run ``engine`` (default: the arch's own) on configs given as paths, names or loaded objects,
    ``sets`` split between them as :func:`attnkit.params.kinds.split_sets` does."""
    arch, workload = kinds.load_pair(arch, workload, sets)
    fn = get(engine or arch.engine)
    return fn(arch, workload, load_table(arch.energy), mode=mode)


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
        if fn.batch is not None:
            done, cols = _run_batch(fn.batch, points, ok, table)
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
