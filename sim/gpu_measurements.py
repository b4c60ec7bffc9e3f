"""Measured decode attention on a real GPU, and the engines' predictions of it (``attnkit validate``).

A measurements file is a pair in ``configs/measurements/`` (or anywhere):

- ``NAME.csv``: one row per timed call, columns ``backend, batch, heads,
  kv_heads, head_dim, context, latency_us`` (others are kept and ignored);
- ``NAME.yaml``: what the rows cannot say: ``gpu``, ``software``, ``timing``,
  ``copy_bandwidth_bytes_per_s`` (a measured device copy, bytes read plus
  written; null if none), ``backends`` (for each backend the ``engine`` whose
  schedule models it and the arch's ``kernel`` profile it runs;
  ``best_measured: true`` for a backend with no public schedule, shown beside
  its engine's prediction as the best measured time) and ``calibrate`` (the
  one point each derived constant comes from: :mod:`attnkit.sim.gpu_calibration`).

``bench/gpu_decode.py`` writes such a pair on a user's own GPU.
:func:`validate` predicts every row with the arch's engines; the points a
calibration used are marked and left out of the error figures.
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean, median
from typing import Any

from attnkit.errors import AttnkitError
from attnkit.params import config
from attnkit.params.arch import GpuArch
from attnkit.params.kinds import load_workload
from attnkit.sim.energy import load_table
from attnkit.sim.engines import decode

COLUMNS = ("backend", "batch", "heads", "kv_heads", "head_dim", "context", "latency_us")
SHAPE = COLUMNS[1:6]
FOLDER = "measurements"
CONSTANTS = ("cta_fixed_s", "cta_bandwidth_bytes_per_s", "combine_bandwidth_bytes_per_s")  # per kernel profile


@dataclass(frozen=True)
class Backend:
    """How one measured backend is modelled: ``engine`` (fa2, flashdecoding, lean) on the arch's ``kernels[kernel]``."""

    engine: str
    kernel: str
    best_measured: bool = False


@dataclass(frozen=True)
class Measurements:
    name: str
    csv_path: Path
    rows: list[dict[str, Any]]
    backends: dict[str, Backend]
    copy_bandwidth_bytes_per_s: float | None
    calibrate: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def describe(self, row: dict[str, Any]) -> str:
        """A row as a one-line name: ``flash, batch 1, heads 16, kv_heads 2, head_dim 128, context 16384 (41.5 us)``."""
        shape = ", ".join(f"{k} {row[k]}" for k in SHAPE)
        return f"{row['backend']}, {shape} ({row['latency_us']:g} us)"

    def find(self, spec: dict[str, Any], why: str) -> dict[str, Any]:
        """The one row matching every column of ``spec`` (``why`` names what needs it)."""
        if not isinstance(spec, dict) or not spec:
            raise AttnkitError(f"{self.name}.yaml: {why}: expected a point such as {{backend: flash, context: 1024}}")
        unknown = sorted(set(spec) - set(COLUMNS))
        if unknown:
            raise AttnkitError(
                f"{self.name}.yaml: {why}: no column {', '.join(unknown)} (columns: {', '.join(COLUMNS)})"
            )
        hits = [r for r in self.rows if all(str(r[k]) == str(v) for k, v in spec.items())]
        point = ", ".join(f"{k} {v}" for k, v in spec.items())
        if not hits:
            raise AttnkitError(f"{self.csv_path}: {why} needs the point ({point}), which is not in the file")
        if len(hits) > 1:
            raise AttnkitError(f"{self.name}.yaml: {why}: ({point}) matches {len(hits)} rows; name more columns")
        return hits[0]


def resolve(name_or_path: str | Path) -> tuple[Path, Path]:
    """(csv, yaml) of a measurements file given by either path or by name on the config search path."""
    p = Path(name_or_path)
    if p.suffix in (".csv", ".yaml", ".yml") or len(p.parts) > 1:
        base = p.with_suffix("")
    else:
        base = config.resolve(str(name_or_path), FOLDER).with_suffix("")
    csv_path, yaml_path = base.with_suffix(".csv"), base.with_suffix(".yaml")
    for f in (csv_path, yaml_path):
        if not f.is_file():
            raise AttnkitError(f"{f}: no such file (a measurements file is a NAME.csv with its NAME.yaml beside it)")
    return csv_path, yaml_path


def load(name_or_path: str | Path) -> Measurements:
    """Read and check a measurements pair; every problem is one line naming the file (and row)."""
    csv_path, yaml_path = resolve(name_or_path)
    meta = config.load_yaml(yaml_path)
    if not isinstance(meta, dict):
        raise AttnkitError(f"{yaml_path}: expected a mapping")
    backends = _backends(yaml_path, meta.get("backends"))
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise AttnkitError(f"{csv_path}: missing column(s) {', '.join(missing)} (expected {', '.join(COLUMNS)})")
        rows = [_row(csv_path, i, raw, backends) for i, raw in enumerate(reader, start=2)]
    if not rows:
        raise AttnkitError(f"{csv_path}: no rows")
    copy = meta.get("copy_bandwidth_bytes_per_s")
    if copy is not None and not (isinstance(copy, (int, float)) and copy > 0):
        raise AttnkitError(f"{yaml_path}: copy_bandwidth_bytes_per_s: {copy!r}; expected a positive number or null")
    calibrate = meta.get("calibrate") or {}
    if not isinstance(calibrate, dict):
        raise AttnkitError(f"{yaml_path}: calibrate: expected a mapping of constant -> point")
    return Measurements(csv_path.stem, csv_path, rows, backends, copy, calibrate, meta)


def _backends(path: Path, data: Any) -> dict[str, Backend]:
    if not isinstance(data, dict) or not data:
        raise AttnkitError(
            f"{path}: backends: expected a mapping such as flash: {{engine: flashdecoding, kernel: flash}}"
        )
    out = {}
    for name, spec in data.items():
        where = f"{path}: backends.{name}"
        if not isinstance(spec, dict) or "engine" not in spec or "kernel" not in spec:
            raise AttnkitError(f"{where}: expected {{engine: ..., kernel: ...}}")
        if spec["engine"] not in decode.ENGINES:
            raise AttnkitError(
                f"{where}: engine {spec['engine']!r} is not a decode engine ({', '.join(decode.ENGINES)})"
            )
        out[str(name)] = Backend(str(spec["engine"]), str(spec["kernel"]), bool(spec.get("best_measured", False)))
    return out


def _row(path: Path, line: int, raw: dict[str, str], backends: dict[str, Backend]) -> dict[str, Any]:
    where = f"{path} line {line}"
    row: dict[str, Any] = dict(raw)
    if raw["backend"] not in backends:
        raise AttnkitError(
            f"{where}: backend {raw['backend']!r} has no engine that models it "
            f"(the .yaml's backends: {', '.join(backends)})"
        )
    for k in SHAPE:
        try:
            row[k] = int(raw[k])
        except (TypeError, ValueError):
            raise AttnkitError(f"{where}: {k} {raw[k]!r} is not an integer") from None
        if row[k] < 1:
            raise AttnkitError(f"{where}: {k} {row[k]} is not positive")
    try:
        row["latency_us"] = float(raw["latency_us"])
    except (TypeError, ValueError):
        raise AttnkitError(f"{where}: latency_us {raw['latency_us']!r} is not a number") from None
    if not row["latency_us"] > 0:
        raise AttnkitError(f"{where}: latency_us {raw['latency_us']} is not positive")
    if row["heads"] % row["kv_heads"]:
        raise AttnkitError(f"{where}: heads {row['heads']} is not a multiple of kv_heads {row['kv_heads']}")
    return row


def recipe(meas: Measurements) -> dict[str, dict[str, Any] | None]:
    """Constant path -> the row it comes from (``hbm_fraction`` -> None: it comes from the copy bandwidth)."""
    spec = meas.calibrate or _default(meas)
    out: dict[str, dict[str, Any] | None] = {}
    for path, point in spec.items():
        if path == "hbm_fraction":
            if point != "copy":
                raise AttnkitError(f"{meas.name}.yaml: calibrate.hbm_fraction: expected `copy`, got {point!r}")
            if meas.copy_bandwidth_bytes_per_s is None:
                raise AttnkitError(f"{meas.name}.yaml: calibrate.hbm_fraction needs copy_bandwidth_bytes_per_s")
            out[path] = None
            continue
        kernel, _, name = str(path).partition(".")
        if name not in CONSTANTS:
            raise AttnkitError(
                f"{meas.name}.yaml: calibrate.{path}: expected hbm_fraction or KERNEL.CONSTANT with CONSTANT one of"
                f" {', '.join(CONSTANTS)}"
            )
        row = meas.find(point, f"calibrate.{path}")
        if meas.backends[row["backend"]].kernel != kernel:
            raise AttnkitError(
                f"{meas.name}.yaml: calibrate.{path}: its point is of backend {row['backend']}, which runs kernel "
                f"{meas.backends[row['backend']].kernel}, not {kernel}"
            )
        out[path] = row
    return out


def _default(meas: Measurements) -> dict[str, Any]:
    spec: dict[str, Any] = {"hbm_fraction": "copy"} if meas.copy_bandwidth_bytes_per_s else {}
    for name, b in meas.backends.items():
        rows = [r for r in meas.rows if r["backend"] == name]
        if b.best_measured or not rows or f"{b.kernel}.cta_fixed_s" in spec:
            continue
        top = max(r["kv_heads"] for r in rows)
        mine = [r for r in rows if r["kv_heads"] == top]
        for const, pick in (("cta_fixed_s", min), ("cta_bandwidth_bytes_per_s", max)):
            r = pick(mine, key=lambda r: r["context"])
            spec[f"{b.kernel}.{const}"] = {k: r[k] for k in ("backend", "batch", "heads", "kv_heads", "context")}
    return spec


class Predictor:
    """The engines' time for a measured row on ``arch`` (the row's backend picks engine and kernel profile)."""

    def __init__(self, arch: GpuArch, meas: Measurements):
        if not isinstance(arch, GpuArch):
            raise AttnkitError(f"arch {getattr(arch, 'name', '?')!r} is not a gpu; measurements are of a GPU")
        self.arch, self.meas = arch, meas
        self.table = load_table(arch.energy)
        self.base = load_workload("decode")
        for name, b in meas.backends.items():
            if b.kernel not in arch.kernels:
                raise AttnkitError(
                    f"arch {arch.name} has no kernels.{b.kernel} (the kernel of backend {name} in {meas.name}.yaml;"
                    f" it has {', '.join(sorted(arch.kernels))})"
                )

    def seconds(self, row: dict[str, Any], arch: GpuArch | None = None) -> float:
        b = self.meas.backends[row["backend"]]
        a = dataclasses.replace(arch or self.arch, kernel=b.kernel)
        w = dataclasses.replace(self.base, **{k: row[k] for k in SHAPE})
        return decode.result(b.engine, a, w, self.table).latency_s


def calibration_points(meas: Measurements) -> dict[int, str]:
    """Row index -> the constant a calibration derives from it (the rows the error figures leave out)."""
    out = {}
    for path, row in recipe(meas).items():
        if row is not None:
            out[meas.rows.index(row)] = path
    return out


def validate(meas: Measurements, arch: GpuArch) -> dict[str, Any]:
    """Every row beside its prediction, and |error| figures per backend without the calibration points.

    Returns ``{"rows": [...], "backends": {name: {"median", "mean", "worst", "points"}}, "calibration": [...]}``;
    a row has the file's columns plus ``engine``, ``kernel``, ``predicted_us``, ``error`` (predicted / measured - 1)
    and ``role`` (``calibration``, ``prediction``, or ``best measured`` for a backend with no public schedule).
    """
    pred = Predictor(arch, meas)
    used = calibration_points(meas)
    rows = []
    for i, r in enumerate(meas.rows):
        b = meas.backends[r["backend"]]
        us = pred.seconds(r) * 1e6
        role = "calibration" if i in used else "best measured" if b.best_measured else "prediction"
        rows.append(
            {
                **{k: r[k] for k in COLUMNS},
                "engine": b.engine,
                "kernel": b.kernel,
                "predicted_us": us,
                "error": us / r["latency_us"] - 1,
                "role": role,
                "calibrates": used.get(i),
            }
        )
    stats = {}
    for name in meas.backends:
        errs = [abs(r["error"]) for r in rows if r["backend"] == name and r["role"] == "prediction"]
        if errs:
            stats[name] = {"median": median(errs), "mean": fmean(errs), "worst": max(errs), "points": len(errs)}
    return {
        "measurements": meas.name,
        "arch": arch.name,
        "rows": rows,
        "backends": stats,
        "calibration": [{"constant": used[i], "point": meas.describe(meas.rows[i])} for i in sorted(used)],
    }
