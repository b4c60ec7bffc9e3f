"""The kinds of architecture and workload by name, and loading them with ``--set`` edits.

A config file's ``kind`` picks its class (``spatial``, ``gpu``, ``multicore``,
``fpga``, ``numerics``, ``system``; ``attention``, ``decode``, ``gemm``,
``vit-moe``, ``request``). An arch name is looked up in ``arch/``, then in
``systems/``; a workload file may say ``model: NAME`` to take its shapes
(heads, K/V heads, head dim, d_model, MLP width) from ``models/NAME.json``.
Edits are ``dotted.key=value`` strings: keys that start with ``workload.``
edit the workload and all others the architecture (``array_2d.rows=64``);
:func:`split_sets` is the one place that knows this.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from attnkit.errors import ConfigError
from attnkit.params import config
from attnkit.params.arch import GpuArch, MulticoreArch, NumericsArch, SpatialArch
from attnkit.params.edgemoe import FpgaArch, VitMoeWorkload
from attnkit.params.model import load_model
from attnkit.params.system import RequestWorkload, SystemArch
from attnkit.params.workload import AttentionWorkload, DecodeWorkload, GemmWorkload

Arch = SpatialArch | GpuArch | MulticoreArch | FpgaArch | NumericsArch | SystemArch
Workload = AttentionWorkload | DecodeWorkload | GemmWorkload | VitMoeWorkload | RequestWorkload

ARCH_KINDS: dict[str, type[Any]] = {
    "spatial": SpatialArch,
    "fpga": FpgaArch,
    "gpu": GpuArch,
    "multicore": MulticoreArch,
    "numerics": NumericsArch,
    "system": SystemArch,
}
WORKLOAD_KINDS: dict[str, type[Any]] = {
    "gemm": GemmWorkload,
    "attention": AttentionWorkload,
    "vit-moe": VitMoeWorkload,
    "decode": DecodeWorkload,
    "request": RequestWorkload,
}
WORKLOAD_PREFIX = "workload."


def check_kind(who: str, what: str, obj: Any, takes: tuple[str, ...] | None) -> None:
    """Refuse ``obj`` (an arch or a workload, ``what``) of a kind ``who`` does not take, in one line
    (``takes`` None: any kind)."""
    kind = getattr(obj, "kind", None)
    if takes is not None and kind not in takes:
        s = "" if len(takes) == 1 else "s"
        raise ConfigError(
            f"{who} takes {what} kind{s} {', '.join(takes)}; "
            f"{what} {getattr(obj, 'name', '?')!r} is {kind or 'of no kind'}"
        )


def resolve(path: str | Path, folder: str) -> Path:
    """A config by path, or by name through the search path (see :func:`attnkit.params.config.resolve`)."""
    return config.resolve(path, folder)


def split_sets(sets: Iterable[str]) -> tuple[list[str], list[str]]:
    """``--set`` edits as (arch edits, workload edits without their ``workload.`` prefix)."""
    arch, workload = [], []
    for s in sets:
        if s.startswith(WORKLOAD_PREFIX):
            workload.append(s.removeprefix(WORKLOAD_PREFIX))
        else:
            arch.append(s)
    return arch, workload


def _resolve_kind(path: str | Path, folder: str, kinds: dict[str, type[Any]]) -> Path:
    """A name in ``folder``, else in another folder one of ``kinds`` lives in (a system in systems/)."""
    others = [f for f in dict.fromkeys(getattr(c, "CONFIG_FOLDER", folder) for c in kinds.values()) if f != folder]
    for other in others:
        if not config.candidates(str(path), folder) and config.candidates(str(path), other):
            return resolve(path, other)
    return resolve(path, folder)


def resolve_arch(name: str | Path) -> Path:
    """An arch (or system) config's file, as :func:`load_arch` finds it."""
    return _resolve_kind(name, "arch", ARCH_KINDS)


def _with_model(data: dict[str, Any], cls: type[Any], path: Path) -> dict[str, Any]:
    """A workload's ``model: NAME``: the model's shapes (configs/models/NAME.json) under the file's own keys."""
    if "model" not in data or "model" in config.field_names(cls):
        return data
    name = data["model"]
    if not isinstance(name, str):
        raise ConfigError(f"{path}: model: expected a model name or path, got {name!r}")
    model = load_model(name, f"{path}: model")
    fields = {k: v for k, v in model.workload_fields().items() if k in config.field_names(cls)}
    return {**fields, **{k: v for k, v in data.items() if k != "model"}}


def _load_kind(path: str | Path, folder: str, kinds: dict[str, type[Any]], sets: list[str]) -> Any:
    path = _resolve_kind(path, folder, kinds)
    data = config.load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    kind = data.get("kind", next(iter(kinds)))
    if kind not in kinds:
        raise ConfigError(f"{path}: kind: expected one of {', '.join(kinds)}, got {kind!r}")
    data = _with_model(data, kinds[kind], path)
    source = str(path)
    if sets:
        data = config.apply_sets(data, sets, kinds[kind])
        source += " with --set"
    return config.build(kinds[kind], data, source)


def load_arch(arch: Any, sets: Iterable[str] = ()) -> Any:
    """An architecture from a path or name (or an already-loaded one), with ``sets`` applied."""
    if hasattr(arch, "kind"):
        return config.edit(arch, list(sets))
    return _load_kind(arch, "arch", ARCH_KINDS, list(sets))


def load_workload(workload: Any, sets: Iterable[str] = ()) -> Any:
    """A workload from a path or name (or an already-loaded one), with ``sets`` applied."""
    if hasattr(workload, "kind"):
        return config.edit(workload, list(sets))
    return _load_kind(workload, "workloads", WORKLOAD_KINDS, list(sets))


def load_pair(arch: Any, workload: Any, sets: Iterable[str] = ()) -> tuple[Any, Any]:
    """An architecture and a workload with ``sets`` split between them by :func:`split_sets`."""
    arch_sets, workload_sets = split_sets(sets)
    return load_arch(arch, arch_sets), load_workload(workload, workload_sets)


def split_key(key: str) -> tuple[str, str]:
    """("workload", "seq_len") for "workload.seq_len", ("arch", "array_2d.rows") for "array_2d.rows"."""
    if key.startswith(WORKLOAD_PREFIX):
        return "workload", key.removeprefix(WORKLOAD_PREFIX)
    return "arch", key
