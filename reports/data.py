"""Report inputs: result files read into tables, each of the kind its file declares.

An input is a CSV, JSON or Parquet file (a sweep's ``results.parquet/`` folder of chunks
included), or a folder holding ``results.json`` / ``results.csv`` / ``results.parquet`` /
``*.json``. Each becomes a :class:`Table` (read by
:func:`attnkit.sim.result.load_results`, the one reader of result files)
whose ``kind`` says which figure families can use it:

- ``reproduce``: rows with model, seq_len, design, latency_s, energy_pj (``attnkit reproduce``);
- ``sweep``: one row per design point with latency_s, energy_pj, area_mm2 (``attnkit sweep``);
- ``rtl``: rows with block, cycles, predicted_cycles (``attnkit rtl-test --json``);
- ``simulate``: rows with engine, cycles, energy_breakdown (``attnkit simulate --json``).
- ``synth``: rows with block, target, luts, ffs, dsps (``attnkit synth --json``);
- ``decode``: rows with engine, units, context, latency_s (``attnkit reproduce leanattention``; its
  ``"row": "timeline"`` rows give each CTA's unit, start and end).
- ``edgemoe``: rows with layer, stage, cycles, axi_bits, active_experts (``attnkit reproduce edgemoe``).
- ``mutants``: rows with block, mutant, kind, verdict, caught_by (``attnkit rtl-mutate --json``).

A file that declares no kind (written before kinds, or a ``--json`` list
saved from stdout) is recognised by those columns, and the report says so.
"""

from __future__ import annotations

import json
from pathlib import Path

from attnkit.errors import AttnkitError
from attnkit.sim.result import LEGACY_COLUMNS, MANIFEST, ResultFile, load_results

Table = ResultFile  # what figure families receive: kind, source, rows, meta

CONFIG_FILES = ("config.json", "sweep.json")


def _configuration(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise AttnkitError(f"{path}: not a readable configuration ({e})") from None
    return data if isinstance(data, dict) else None


def load(path: str | Path) -> list[Table]:
    path = Path(path)
    if path.is_dir() and path.suffix != ".parquet":
        files = [p for p in (path / "results.json", path / "results.csv", path / "results.parquet") if p.exists()]
        files = files[:1] or sorted(p for p in path.glob("*.json") if p.name not in (*CONFIG_FILES, MANIFEST))
        if not files:
            raise AttnkitError(f"{path}: folder holds no results.csv, results.json, results.parquet or *.json")
        tables = [t for f in files for t in load(f)]
        for name in CONFIG_FILES:  # the configuration a run saved beside its results
            if (path / name).exists():
                for t in tables:
                    t.meta.setdefault("configuration", _configuration(path / name))
        return tables
    table = load_results(path)
    if not table.rows:
        raise AttnkitError(f"{path}: holds no rows")
    if table.kind is None:
        keys = set().union(*(r.keys() for r in table.rows))
        raise AttnkitError(
            f"{path}: not a result file attnkit knows (columns: {', '.join(sorted(keys))}; it "
            f"declares no kind and lacks the columns of each: "
            + "; ".join(f"{k} ({', '.join(sorted(v))})" for k, v in LEGACY_COLUMNS)
            + ")"
        )
    return [table]


def points(rows: list[dict]) -> list[dict]:
    """Design-point rows (``attnkit reproduce`` mixes them with summary rows)."""
    return [r for r in rows if r.get("row", "point") == "point" and r.get("latency_s") is not None]


def attention_points(rows: list[dict]) -> list[dict]:
    """Design-point rows of attention alone (not the end-to-end layer)."""
    return [r for r in points(rows) if r.get("scope", "attention") == "attention"]


def per_model(rows: list[dict]) -> tuple[list[str], dict[str, list[dict]]]:
    """The designs (in order of appearance) and the rows of each model (in order of appearance)."""
    designs = list(dict.fromkeys(r["design"] for r in rows))
    models: dict[str, list[dict]] = {}
    for r in rows:
        models.setdefault(r["model"], []).append(r)
    return designs, models


def summaries(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r.get("row") == "summary"]


def load_all(paths) -> list[Table]:
    return [t for p in paths for t in load(p)]
