"""What a simulation answers (cycles, actions, energy, area, utilisation), and result files written and read.

Every result file says what it is: its ``kind`` (``reproduce``, ``decode``,
``edgemoe``, ``sweep``, ``simulate``, ``rtl``, ``synth``, ``mutants``, or a
plugin's own). A folder of CSV/JSON results (``attnkit reproduce``,
``attnkit sweep``) holds ``manifest.json``, ``{"kind": ..., "files": [...],
"attnkit": VERSION}``, naming the files it describes, so no column of them
changes. A JSON record (``simulate``, ``rtl-test``, ``synth --json``) carries
``"kind"`` beside its keys; a JSON list of rows is written as ``{"kind": ...,
"rows": [...]}`` (``rtl-mutate -o``). :func:`load_results` is the one reader.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnkit.errors import AttnkitError


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
    extra: dict[str, Any] = field(default_factory=dict)  # engine-specific figures (e.g. compute_cycles)

    @property
    def latency_s(self) -> float:
        return self.cycles / self.clock_hz

    def to_dict(self) -> dict[str, Any]:
        """The flat record ``attnkit simulate --json`` prints (less its ``kind``) and sweeps write (the README's
        JSON keys first)."""
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


def flatten(record: dict, prefix: str = "") -> dict[str, Any]:
    """``{"energy_breakdown": {"dram": 1}}`` -> ``{"energy_breakdown.dram": 1}`` (lists as JSON text): a
    record as one sweep row holds it."""
    out = {}
    for k, v in record.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        elif isinstance(v, (list, tuple)):
            out[f"{prefix}{k}"] = json.dumps(v)
        else:
            out[f"{prefix}{k}"] = v
    return out


def write_results(
    rows: list[dict], out: str | Path, columns: Sequence[str], kind: str, target: str | None = None
) -> Path:
    """A reproduction's rows as ``out``/results.csv (``columns``, blanks for None) and results.json (all),
    with ``out``/manifest.json naming their ``kind`` (and the ``target`` that wrote them)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, kind, ["results.csv", "results.json"], target)
    with open(out / "results.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        wr.writeheader()
        for r in rows:
            wr.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    return out


# --- result files: what each holds, and the one reader --------------------------------------------

MANIFEST = "manifest.json"

# Files written before results carried a kind are recognised by the columns each kind always has
# (the first match wins; a sweep by its metrics, or by its id and status columns).
LEGACY_COLUMNS = [
    ("reproduce", {"model", "seq_len", "design", "latency_s", "energy_pj"}),
    ("rtl", {"block", "cycles", "predicted_cycles"}),
    ("sweep", {"latency_s", "energy_pj", "area_mm2"}),
    ("sweep", {"point_id", "feasible", "violated", "error"}),
    ("simulate", {"engine", "cycles", "energy_pj"}),
    ("decode", {"engine", "units", "context", "latency_s"}),
    ("edgemoe", {"layer", "stage", "cycles", "axi_bits", "active_experts"}),
    ("synth", {"block", "target", "luts", "ffs", "dsps"}),
    ("mutants", {"block", "mutant", "kind", "verdict", "caught_by"}),
]


@dataclass
class ResultFile:
    """A result file read back: its ``kind`` (None when it neither says nor looks like a kind attnkit
    knows), its rows (values parsed), ``meta`` (a JSON file's other top-level keys) and whether the kind
    was ``guessed`` from the columns (a file written before kinds)."""

    kind: str | None
    source: Path
    rows: Sequence[dict[str, Any]]  # a list, or ColumnRows for Parquet
    meta: dict[str, Any] = field(default_factory=dict)
    guessed: bool = False


def tagged(kind: str, value: dict | list) -> dict:
    """``value`` as a result file holds it: a record with ``"kind"`` first, a list as ``{"kind", "rows"}``."""
    if isinstance(value, dict):
        if "kind" in value:
            raise ValueError(f"a {kind} record has its own 'kind' key; write it as rows")
        return {"kind": kind, **value}
    return {"kind": kind, "rows": list(value)}


def write_manifest(folder: str | Path, kind: str, files: Sequence[str], target: str | None = None) -> Path:
    """``folder``/manifest.json: the ``kind`` of the result ``files`` in that folder, and the ``target``
    (a reproduction's name) that wrote them, which a reader gets as ``meta["target"]``."""
    from attnkit import __version__

    path = Path(folder) / MANIFEST
    record = {"kind": kind, "files": list(files), "attnkit": __version__}
    if target:
        record["target"] = target
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def parse_cell(text: str) -> Any:
    """A CSV cell back to a Python value: None (blank), bool (True/False), int, float, a JSON list or
    object (lists and nested records are written as JSON), else the text."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
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


# Cells kept as text: a sweep's point_id is a hex digest, which can look like a number (e.g. "1234e567...").
TEXT_COLUMNS = {"point_id"}


def _csv_rows(path: Path, raw: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    cut = raw.rfind(b"\n") + 1  # a row is whole only when its newline was written
    lines = list(csv.reader(io.StringIO(raw[:cut].decode("utf-8", errors="replace"))))
    if not lines:
        raise AttnkitError(f"{path}: empty CSV (no header)")
    header, rows, seen = lines[0], [], set()
    keyed = header[:1] == ["point_id"]  # a sweep: a point written twice (two writers) counts once
    for r in lines[1:]:
        if len(r) != len(header) or (keyed and (not r[0] or r[0] in seen)):
            continue
        seen.add(r[0])
        rows.append({k: v if k in TEXT_COLUMNS else parse_cell(v) for k, v in zip(header, r)})
    return header, rows


class ColumnRows(Sequence[dict[str, Any]]):
    """Rows held as columns (a Parquet sweep's, an Arrow table): a row is a dict built when asked for, and
    :meth:`column` gives a whole column at once, so a million rows cost their columns, not a million dicts.

    Built from Parquet files (:meth:`of_files`), it reads a column from every file when first asked for it
    and a row's whole record only from its own file (:meth:`take`), so a Pareto front of a million rows
    decodes a few columns, not all of them; :attr:`table` reads everything (once)."""

    def __init__(self, table: Any = None):
        self._table = table
        self._files: list[Path] = []
        self._counts: list[int] = []  # rows per file
        self._has: list[set[str]] = []  # columns per file (a chunk of errors lacks the metrics)
        self._names: list[str] = [] if table is None else list(table.column_names)
        self._cache: dict[str, Any] = {}

    @classmethod
    def of_files(cls, files: Sequence[Path]) -> ColumnRows:
        import pyarrow.parquet as pq

        rows = cls()
        rows._files = list(files)
        metas = [pq.read_metadata(f) for f in files]
        rows._counts = [m.num_rows for m in metas]
        names = [m.schema.to_arrow_schema().names for m in metas]
        rows._has = [set(n) for n in names]
        rows._names = list(dict.fromkeys(c for n in names for c in n))
        return rows

    @property
    def table(self) -> Any:
        """Every column as one Arrow table."""
        if self._table is None:
            self._table = _concat([_read(f) for f in self._files])
        return self._table

    def __len__(self) -> int:
        return int(self._table.num_rows) if self._table is not None else sum(self._counts)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.table.slice(*_slice_bounds(i, len(self))).to_pylist()
        n = len(self)
        if not -n <= i < n:
            raise IndexError(i)
        return self.take([i % n])[0]

    def __iter__(self):
        for batch in self.table.to_batches(max_chunksize=4096):
            yield from batch.to_pylist()

    @property
    def columns(self) -> list[str]:
        return list(self._names)

    def column(self, name: str) -> Any:
        """Column ``name`` as an Arrow array (KeyError if there is none)."""
        if name not in self._names:
            raise KeyError(name)
        if self._table is not None:
            return self._table.column(name)
        if name not in self._cache:
            import pyarrow as pa

            parts = [
                _read(f, [name]) if name in has else pa.table({name: pa.nulls(k)})
                for f, k, has in zip(self._files, self._counts, self._has)
            ]
            self._cache[name] = _concat(parts).column(name)
        return self._cache[name]

    def take(self, index: Sequence[int]) -> list[dict[str, Any]]:
        """The rows at ``index``, in that order."""
        if not len(index):
            return []
        if self._table is not None:
            return self._table.take(list(index)).to_pylist()
        import numpy as np  # here: reading CSV results (a reproduction's start-up) needs no NumPy

        at = np.asarray(index, dtype=np.int64)
        starts = np.cumsum([0, *self._counts])
        order = np.argsort(at, kind="stable")
        file_of = np.searchsorted(starts, at[order], side="right") - 1
        parts = []
        for f in np.unique(file_of):
            local = at[order][file_of == f] - starts[f]
            parts.append(_read(self._files[int(f)]).take(local))
        got = _concat(parts)
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return got.take(back).to_pylist()


def _read(path: Path, columns: list[str] | None = None) -> Any:
    """A Parquet file's table (its ``columns`` only). One thread a file: Arrow's pool over a chunk's few
    rows costs more than it gives (54 chunks of the million-point sweep: 3.4 s threaded, 0.7 s not, on 2
    cores)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns, use_threads=False)
    except (OSError, pa.ArrowException) as e:
        raise AttnkitError(f"{path}: not a readable Parquet file ({e})") from None


def _concat(tables: list[Any]) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables, promote_options="permissive")


def _slice_bounds(s: slice, n: int) -> tuple[int, int]:
    start, stop, step = s.indices(n)
    if step != 1:
        raise IndexError("ColumnRows: slices take a step of 1")
    return start, max(0, stop - start)


def _parquet_rows(path: Path) -> ColumnRows:
    """A Parquet file, or a folder of them (a sweep's results.parquet/: one file per chunk), as rows."""
    try:
        import pyarrow as pa
    except ImportError:
        raise AttnkitError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    files = sorted(path.glob("part-*.parquet")) if path.is_dir() else [path]
    if not files:
        raise AttnkitError(f"{path}: no Parquet chunks (part-*.parquet) in it")
    try:
        return ColumnRows.of_files(files)
    except (OSError, pa.ArrowException) as e:
        raise AttnkitError(f"{path}: not a readable Parquet file ({e})") from None


def _manifest(path: Path) -> dict:
    """The folder's manifest record if it lists ``path`` ({} otherwise)."""
    manifest = path.parent / MANIFEST
    if not manifest.is_file():
        return {}
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError) as e:
        raise AttnkitError(f"{manifest}: not a readable manifest ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        raise AttnkitError(f"{manifest}: expected a JSON object with a 'kind'")
    return data if path.name in data.get("files", ()) else {}


def _guess(columns: set[str]) -> str | None:
    return next((kind for kind, needed in LEGACY_COLUMNS if needed <= columns), None)


def load_results(path: str | Path) -> ResultFile:
    """Read one result file (CSV, JSON or Parquet: a file, or a sweep's results.parquet/ folder of chunks)
    and say what it is.

    The kind comes from the file (a JSON ``"kind"``) or its folder's
    manifest.json; a file that says neither (written before kinds) is
    recognised by its columns (``guessed``), and failing that its kind is
    None. CSV cells are parsed by :func:`parse_cell` (a torn last line and a
    sweep point written twice are dropped); JSON values are kept as they are;
    Parquet rows are :class:`ColumnRows`.
    Errors are one line naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise AttnkitError(f"{path}: no such file")
    if path.suffix == ".parquet":
        rows_ = _parquet_rows(path)
        manifest = _manifest(path)
        kind_ = manifest.get("kind") or _guess(set(rows_.columns))
        return ResultFile(kind_, path, rows_, {}, not manifest.get("kind") and kind_ is not None)
    if path.is_dir():
        raise AttnkitError(f"{path}: a folder; name its results.csv, results.json or results.parquet")
    if path.suffix not in (".csv", ".json"):
        raise AttnkitError(f"{path}: unsupported input (expected .csv, .json, .parquet or a folder of them)")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AttnkitError(f"{path}: cannot read: {e.strerror or e}") from None
    kind, meta, columns = None, {}, set()
    if path.suffix == ".csv":
        header, rows = _csv_rows(path, raw)
        columns = set(header)
    else:
        try:
            data = json.loads(raw)
        except ValueError as e:
            where = f"line {e.lineno}: {e.msg}" if isinstance(e, json.JSONDecodeError) else str(e)
            raise AttnkitError(f"{path}: not valid JSON ({where})") from None
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            kind = data.pop("kind")
            if set(data) == {"rows"} and isinstance(data["rows"], list):  # rows, as tagged() writes a list
                data = data["rows"]
        elif isinstance(data, dict) and isinstance(data.get("rows"), list):  # rows with facts beside them
            meta = {k: v for k, v in data.items() if k != "rows"}
            data = data["rows"]
        rows = data if isinstance(data, list) else [data]
        if not all(isinstance(r, dict) for r in rows):
            raise AttnkitError(f"{path}: expected a JSON object or a list of objects")
        columns = set().union(*(r.keys() for r in rows))
    manifest = _manifest(path)
    kind = kind or manifest.get("kind")
    if manifest.get("target"):
        meta = {"target": manifest["target"], **meta}
    guessed = kind is None
    if guessed:
        kind = _guess(columns)
    return ResultFile(kind, path, rows, meta, guessed and kind is not None)
