"""What a simulation answers: cycles, actions, energy, area, utilisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    engine: str
    cycles: int
    clock_hz: float
    energy_pj: float
    area_mm2: float
    util_2d: float
    util_1d: float
    dram_bytes: float
    energy_breakdown: dict[str, float] = field(default_factory=dict)
    area_breakdown: dict[str, float] = field(default_factory=dict)
    actions: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)   # engine-specific figures (e.g. compute_cycles)

    @property
    def latency_s(self) -> float:
        return self.cycles / self.clock_hz

    def to_dict(self) -> dict[str, Any]:
        """The flat record ``attnkit simulate --json`` prints and sweeps write (DESIGN.md's JSON keys first)."""
        return {
            "engine": self.engine,
            "cycles": self.cycles,
            "latency_s": self.latency_s,
            "energy_pj": self.energy_pj,
            "area_mm2": self.area_mm2,
            "util_2d": self.util_2d,
            "util_1d": self.util_1d,
            "dram_bytes": self.dram_bytes,
            **self.extra,
            "energy_breakdown": self.energy_breakdown,
            "area_breakdown": self.area_breakdown,
            "actions": self.actions,
        }

    to_json = to_dict     # the older name, kept for callers that use it
