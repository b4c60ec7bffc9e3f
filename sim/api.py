"""Load an architecture and a workload, apply --set overrides, run an engine.

One entry point shared by ``attnkit simulate``, sweeps and reports.
``--set`` keys that start with ``workload.`` edit the workload; all others
edit the architecture (``array_2d.rows=64``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from attnkit import config
from attnkit.errors import ConfigError
from attnkit.sim import engines
from attnkit.sim.arch import ARCH_KINDS
from attnkit.sim.energy import load_table
from attnkit.sim.result import Result
from attnkit.sim.workload import WORKLOAD_KINDS


def resolve(path: str | Path, folder: str) -> Path:
    """A config by path, or by name through the search path (see :func:`attnkit.config.resolve`)."""
    return config.resolve(path, folder)


def split_sets(sets: Iterable[str]) -> tuple[list[str], list[str]]:
    arch, workload = [], []
    for s in sets:
        if s.startswith("workload."):
            workload.append(s.removeprefix("workload."))
        else:
            arch.append(s)
    return arch, workload


def _load_kind(path: str | Path, folder: str, kinds: dict, sets: list[str]):
    path = resolve(path, folder)
    data = config.load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    kind = data.get("kind", next(iter(kinds)))
    if kind not in kinds:
        raise ConfigError(f"{path}: kind: expected one of {', '.join(kinds)}, got {kind!r}")
    source = str(path)
    if sets:
        data = config.apply_sets(data, sets, kinds[kind])
        source += " with --set"
    return config.build(kinds[kind], data, source)


def _edit(obj, sets: list[str]):
    """An already-loaded parameter object with ``sets`` applied."""
    return config.build(type(obj), config.apply_sets(config.to_data(obj), sets, type(obj)), "--set")


def load_arch(arch, sets: Iterable[str] = ()):
    """An architecture from a path or name (or an already-loaded one), with ``sets`` applied."""
    if hasattr(arch, "kind"):
        return _edit(arch, list(sets)) if sets else arch
    return _load_kind(arch, "arch", ARCH_KINDS, list(sets))


def load_workload(workload, sets: Iterable[str] = ()):
    """A workload from a path or name (or an already-loaded one), with ``sets`` applied."""
    if hasattr(workload, "kind"):
        return _edit(workload, list(sets)) if sets else workload
    return _load_kind(workload, "workloads", WORKLOAD_KINDS, list(sets))


def simulate(arch, workload, engine: str | None = None, sets: Iterable[str] = (), mode: str = "closed") -> Result:
    """Run ``engine`` (default: the arch's own) on configs given as paths, names or loaded objects."""
    arch_sets, workload_sets = split_sets(sets)
    arch, workload = load_arch(arch, arch_sets), load_workload(workload, workload_sets)
    fn = engines.get(engine or arch.engine)
    return fn(arch, workload, load_table(arch.energy), mode=mode)
