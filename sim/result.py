"""What a simulation answers: cycles, actions, energy, area, utilisation."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


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
        """The flat record ``attnkit simulate --json`` prints and sweeps write (the README's JSON keys first)."""
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


def write_results(rows: list[dict], out: str | Path, columns: Sequence[str]) -> Path:
    """A reproduction's rows as ``out``/results.csv (``columns``, blanks for None) and results.json (all)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        wr.writeheader()
        for r in rows:
            wr.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    return out
