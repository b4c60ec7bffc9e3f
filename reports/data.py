"""Report inputs: result files read into tables, each recognised by its columns.

An input is a CSV or JSON file, or a folder holding ``results.csv`` /
``results.json`` / ``*.json``. Each becomes a :class:`Table` whose ``kind``
says which figure families can use it:

- ``reproduce``: rows with model, seq_len, design, latency_s, energy_pj (``attnkit reproduce``);
- ``sweep``: one row per design point with latency_s, energy_pj, area_mm2 (``attnkit sweep``);
- ``rtl``: rows with block, cycles, predicted_cycles (``attnkit rtl-test --json``);
- ``simulate``: rows with engine, cycles, energy_breakdown (``attnkit simulate --json``).
- ``synth``: rows with block, target, luts, ffs, dsps (``attnkit synth --json``);
- ``decode``: rows with engine, units, context, latency_s (``attnkit reproduce leanattention``; its
  ``"row": "timeline"`` rows give each CTA's unit, start and end).
- ``edgemoe``: rows with layer, stage, cycles, axi_bits, active_experts (``attnkit reproduce edgemoe``).
- ``mutants``: rows with block, mutant, kind, verdict, caught_by (``attnkit rtl-mutate --json``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnkit.errors import AttnkitError

KINDS = {
    "reproduce": {"model", "seq_len", "design", "latency_s", "energy_pj"},
    "rtl": {"block", "cycles", "predicted_cycles"},
    "sweep": {"latency_s", "energy_pj", "area_mm2"},
    "simulate": {"engine", "cycles", "energy_pj"},
    "decode": {"engine", "units", "context", "latency_s"},
    "edgemoe": {"layer", "stage", "cycles", "axi_bits", "active_experts"},
    "synth": {"block", "target", "luts", "ffs", "dsps"},
    "mutants": {"block", "mutant", "kind", "verdict", "caught_by"},
}


CONFIG_FILES = ("config.json", "sweep.json")


@dataclass
class Table:
    kind: str
    source: Path
    rows: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)   # e.g. the command that produced it


def _number(text: str) -> Any:
    if text == "":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text[:1] in "{[":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


def _read_rows(path: Path) -> tuple[list[dict], dict]:
    try:
        text = path.read_text()
    except OSError as e:
        raise AttnkitError(f"{path}: cannot read: {e.strerror or e}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise AttnkitError(f"{path}: not valid JSON (line {e.lineno}: {e.msg})") from None
        meta = {}
        if isinstance(data, dict) and isinstance(data.get("rows"), list):
            meta = {k: v for k, v in data.items() if k != "rows"}
            data = data["rows"]
        rows = data if isinstance(data, list) else [data]
        if not all(isinstance(r, dict) for r in rows):
            raise AttnkitError(f"{path}: expected a JSON object or a list of objects")
        return rows, meta
    if path.suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            raise AttnkitError(f"{path}: empty CSV (no header)")
        rows = [{k: _number(v) for k, v in r.items() if k is not None} for r in reader]
        return rows, {}
    raise AttnkitError(f"{path}: unsupported input (expected .csv, .json or a folder of them)")


def _kind(rows: list[dict], path: Path) -> str:
    keys = set().union(*(r.keys() for r in rows)) if rows else set()
    for kind, needed in KINDS.items():
        if needed <= keys:
            return kind
    raise AttnkitError(f"{path}: not a result file attnkit knows (columns: {', '.join(sorted(keys)) or 'none'}; "
                       f"expected the columns of one of: " +
                       "; ".join(f"{k} ({', '.join(sorted(v))})" for k, v in KINDS.items()) + ")")


def load(path: str | Path) -> list[Table]:
    path = Path(path)
    if path.is_dir():
        files = [p for p in (path / "results.json", path / "results.csv") if p.exists()]
        files = files[:1] or sorted(p for p in path.glob("*.json") if p.name not in CONFIG_FILES)
        if not files:
            raise AttnkitError(f"{path}: folder holds no results.csv, results.json or *.json")
        tables = [t for f in files for t in load(f)]
        for name in CONFIG_FILES:  # the configuration a run saved beside its results
            if (path / name).exists():
                for t in tables:
                    t.meta.setdefault("configuration", _read_rows(path / name)[0][0])
        return tables
    if not path.exists():
        raise AttnkitError(f"{path}: no such file")
    rows, meta = _read_rows(path)
    if not rows:
        raise AttnkitError(f"{path}: holds no rows")
    return [Table(_kind(rows, path), path, rows, meta)]


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
