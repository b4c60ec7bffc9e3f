"""The simulator's engines, by name.

Each module in this package that simulates something defines
``ENGINES = {"name": function}``, where ``function(arch, workload, table,
mode="closed")`` returns a :class:`attnkit.sim.result.Result` (``mode`` is
``"closed"`` for the closed form or ``"event"`` for the event-driven run).
Modules are found by name, so a new engine is a new module: the CLI, sweeps
and reports pick it up with no other change. Other installed packages add
engines the same way through the ``attnkit.engines`` entry-point group
(:mod:`attnkit.plugins`).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Callable, Iterable

from attnkit.errors import AttnkitError
from attnkit.params import kinds
from attnkit.sim.energy import load_table
from attnkit.sim.result import Result


@lru_cache(maxsize=None)
def registry() -> dict[str, Callable]:
    """Every engine by name: this package's modules, then the ``attnkit.engines`` entry points."""
    from attnkit import plugins
    builtin = [(module.__name__, module) for module in
               (importlib.import_module(f"{__name__}.{info.name}")
                for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))]
    return plugins.collect("engine", "attnkit.engines", "ENGINES", builtin)


def get(name: str) -> Callable:
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
