"""Energy per action and area per component, from configs/energy/<name>.yaml (Accelergy-style).

A table names components (``mac``, ``global_buffer``, ``dram``...), each with
its actions' energies and its area, and the source of every number. An
engine counts actions as ``{"component.action": count}`` and instances as
``{"component": count}``; this module turns them into picojoules and square
millimetres with a per-component breakdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

from attnkit.errors import AttnkitError
from attnkit.params import config
from attnkit.params.config import FieldError

CONFIG_DIR = config.SHIPPED  # the shipped configs (names resolve through config.resolve's search path)


@dataclass(frozen=True)
class Action:
    energy_pj: float
    bits: int = 0  # data moved by one action (0: a compute operation)
    source: str = ""

    def __post_init__(self):
        if self.energy_pj < 0:
            raise FieldError("energy_pj", f"{self.energy_pj}; energy cannot be negative")


@dataclass(frozen=True)
class Component:
    actions: dict[str, Action] = field(default_factory=dict)
    area_um2: float = 0.0
    capacity_bytes: int = 0  # a memory whose area_um2 is for this capacity (scales linearly); 0: not a memory
    static_mw: float = 0.0  # leakage, charged per second of latency when asked
    source: str = ""

    def __post_init__(self):
        if self.area_um2 < 0:
            raise FieldError("area_um2", f"{self.area_um2}; area cannot be negative")
        if self.capacity_bytes < 0:
            raise FieldError("capacity_bytes", f"{self.capacity_bytes}; it must be 0 or more")


@dataclass(frozen=True)
class EnergyTable:
    name: str
    source: str
    components: dict[str, Component]

    def energy(self, actions: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        """Total picojoules and picojoules per component for ``{"component.action": count}``."""
        breakdown: dict[str, float] = {}
        for key, count in actions.items():
            comp, _, act = key.partition(".")
            try:
                pj = self.components[comp].actions[act].energy_pj
            except KeyError:
                raise AttnkitError(f"energy table {self.name!r} has no action {key!r}") from None
            breakdown[comp] = breakdown.get(comp, 0.0) + pj * count
        return sum(breakdown.values()), breakdown

    def area_mm2(self, instances: Mapping[str, float]) -> tuple[float, dict[str, float]]:
        """Total square millimetres and per component for ``{"component": instances}``."""
        breakdown = {}
        for comp, n in instances.items():
            if comp not in self.components:
                raise AttnkitError(f"energy table {self.name!r} has no component {comp!r}")
            breakdown[comp] = self.components[comp].area_um2 * n * 1e-6
        return sum(breakdown.values()), breakdown

    def check_widths(self, arch) -> None:
        """The table's data widths must be the architecture's (global buffer row, DRAM access),
        or action counts derived from the architecture would be in the wrong unit."""
        for key, want in (("global_buffer", arch.global_buffer.row_bits), ("dram", arch.dram.access_bits)):
            comp = self.components.get(key)
            if comp is None:
                raise AttnkitError(f"energy table {self.name!r} has no component {key!r}")
            for name, act in comp.actions.items():
                if act.bits and act.bits != want:
                    raise AttnkitError(
                        f"energy table {self.name!r}: {key}.{name} moves {act.bits} bits,"
                        f" but the architecture's {key} width is {want} bits"
                    )

    def memory_instances(self, component: str, capacity_bytes: float) -> float:
        """How many of the table's ``component`` a memory of ``capacity_bytes`` counts as, for area."""
        comp = self.components.get(component)
        if comp is None:
            raise AttnkitError(f"energy table {self.name!r} has no component {component!r}")
        return capacity_bytes / comp.capacity_bytes if comp.capacity_bytes else 1.0

    def static_pj(self, instances: Mapping[str, float], seconds: float) -> float:
        return sum(self.components[c].static_mw * n for c, n in instances.items()) * 1e9 * seconds


@cache
def load_table(name_or_path: str) -> EnergyTable:
    """A table by path, or by name through the config search path (``<root>/energy/<name>.yaml``)."""
    return config.load(EnergyTable, config.resolve(name_or_path, "energy"))
