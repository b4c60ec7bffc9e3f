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

An engine with a closed form may also give a batch form over a table of
design points, NumPy columns in and out (:mod:`attnkit.sim.batch`, which
says how it agrees with the scalar form). ``Engine(..., batch="module")``
names the module whose ``FORMS[name]`` it is, imported on its first use, so
the registry and a point run one at a time do not load NumPy (a plugin may
give the function itself).
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from attnkit.errors import AttnkitError
from attnkit.params import kinds
from attnkit.sim.energy import EnergyTable, load_table
from attnkit.sim.result import Result


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
class Engine:
    """A registry entry: the function and the kinds it takes (``None``: any kind, the function checks),
    and the batch form of its closed form where it has one."""

    fn: EngineFn
    arch: tuple[str, ...] | None = None  # arch kinds (attnkit.params.kinds.ARCH_KINDS)
    workload: tuple[str, ...] | None = None  # workload kinds (attnkit.params.kinds.WORKLOAD_KINDS)
    name: str = ""  # filled in from the ENGINES key by the registry
    doc: str = ""  # default: the first line of the function's docstring
    batch: Any = None  # its batch form: the module whose FORMS[name] it is, or the function (None: none)

    def check(self, arch: Any, workload: Any) -> None:
        """Refuse an arch or workload of a kind this engine does not take, in one line (a ConfigError)."""
        kinds.check_kind(f"engine {self.name}", "arch", arch, self.arch)
        kinds.check_kind(f"engine {self.name}", "workload", workload, self.workload)

    def __call__(self, arch: Any, workload: Any, table: EnergyTable, mode: str = "closed") -> Result:
        self.check(arch, workload)
        return self.fn(arch, workload, table, mode=mode)

    def batch_form(self) -> Any:
        """The batch form (an :class:`attnkit.sim.batch.BatchFn`), imported now; None where it has none."""
        if self.batch is None or callable(self.batch):
            return self.batch
        forms = getattr(importlib.import_module(self.batch), "FORMS", {})
        if self.name not in forms:
            raise AttnkitError(f"engine {self.name!r}: its batch module {self.batch} has no FORMS[{self.name!r}]")
        return forms[self.name]


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
