"""Run a sweep plan: evaluate points in chunks (in-process, a process pool or Dask) and append rows to a CSV.

Rows go to ``OUT/results.csv`` as chunks finish (``OUT/manifest.json``,
written first, declares it of kind ``sweep``), each batch flushed and
fsync'ed, so a sweep killed at any moment (SIGKILL included) keeps every
finished point. ``resume=True`` reads the file back, drops a torn last line,
and runs only the points whose ``point_id`` is not there yet. Parquet
(``OUT/results.parquet``) is written from the CSV at the end when pyarrow is
installed.

Workers load nothing per point: the plan (base arch and workloads, already
built) goes to each worker once, and each point's parameters are applied as
path edits (:func:`attnkit.params.config.apply_edits`: ``dataclasses.replace``
once per level, so every field check sees the point's final values). The evaluation function is a
parameter of the plan (default :func:`attnkit.sim.engines.simulate`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from attnkit.errors import AttnkitError, ConfigError
from attnkit.params.config import apply_edits
from attnkit.params.kinds import split_key
from attnkit.sim import batch, engines
from attnkit.sim.result import Result, flatten, write_manifest
from attnkit.sim.sweep import Plan

STATUS = ("feasible", "violated", "error", "other_metrics")  # Parquet: the other metrics are columns
MAX_PROBES = 16
OUTPUTS = ("csv", "parquet")
CSV_MAX = 100_000  # by default a sweep of more points writes Parquet: a CSV that size is no longer read by eye
CHUNK_MAX = 20_000  # points per Parquet chunk (and so per task): bounds a worker's memory
PARQUET = "results.parquet"


def simulate(arch, workload, engine: str | None, mode: str):
    """The default evaluation: the shared simulate API on already-edited objects."""
    return engines.simulate(arch, workload, engine, (), mode)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _Evaluator:
    """Evaluates points of one plan; lives once per worker process (edited objects cached)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.fn = plan.evaluate or simulate
        np_, nl = len(plan.params), len(plan.lets)
        edit_pos = [*range(2, 2 + np_), *range(2 + np_ + nl, len(plan.columns))]
        self.arch_edits = [(i, split_key(k)[1]) for i, k in zip(edit_pos, plan.edit_keys) if split_key(k)[0] == "arch"]
        self.wl_edits = [
            (i, split_key(k)[1]) for i, k in zip(edit_pos, plan.edit_keys) if split_key(k)[0] == "workload"
        ]
        self.cache: dict = {}
        self.columns = plan.columns
        self.metric_columns: list[str] = []

    def _edited(self, base, edits, values):
        key = (id(base), tuple(values[i] for i, _ in edits))
        hit = self.cache.get(key)
        if hit is None:
            if len(self.cache) > 4096:
                self.cache.clear()
            try:
                hit = (apply_edits(base, [(sub, values[i]) for i, sub in edits]), None)
            except Exception as e:  # an impossible combination: recorded in the point's row
                hit = (None, f"{type(e).__name__}: {e}")
            self.cache[key] = hit
        return hit

    def metrics(self, values: tuple) -> tuple[dict | None, str | None]:
        plan = self.plan
        arch, err = self._edited(plan.archs[values[0]], self.arch_edits, values)
        if err is None:
            workload, err = self._edited(plan.workloads[values[1]], self.wl_edits, values)
        if err is not None:
            return None, err
        try:
            res = self.fn(arch, workload, plan.engine, plan.mode)
        except Exception as e:
            return None, f"{type(e).__name__}: {e}"
        return flatten(res.to_dict() if isinstance(res, Result) else dict(res)), None

    def set_metric_columns(self, cols: list[str]) -> None:
        self.metric_columns = list(cols)
        self._metric_set = set(cols)

    def objects(self, values: list[tuple]) -> tuple[batch.Points, list[str]]:
        """The points' (as :meth:`Plan.rows` gives them) edited arch and workload objects, each distinct one
        once, for a batch form; and each row's error ("" for none: a failed edit leaves its row unbuilt)."""
        plan = self.plan
        errors = [""] * len(values)
        archs: list = []
        wls: list = []
        seen: dict[int, int] = {}
        ai = np.zeros(len(values), dtype=np.int64)
        wi = np.zeros(len(values), dtype=np.int64)
        for i, v in enumerate(values):
            a, err = self._edited(plan.archs[v[0]], self.arch_edits, v)
            if err is None:
                w, err = self._edited(plan.workloads[v[1]], self.wl_edits, v)
            if err is not None:
                errors[i] = _one_line(err)
                continue
            for obj, objs, index in ((a, archs, ai), (w, wls, wi)):
                j = seen.get(id(obj))
                if j is None:
                    j = seen[id(obj)] = len(objs)
                    objs.append(obj)
                index[i] = j
        return batch.Points(archs, wls, ai, wi), errors

    def _metrics_of(self, points: batch.Points, rows: np.ndarray, errors: list[str]) -> dict[str, Any]:
        """Metric columns of ``rows`` (the rows whose objects were built): the engine's batch form where it has
        one (closed form, no custom evaluator), else one evaluation per point."""
        plan = self.plan
        pts = points.rows(rows)
        if plan.evaluate is None and plan.mode == "closed":
            metrics, errs = batch.simulate_points(pts, plan.engine)
            for i, e in zip(rows, errs):
                if e:
                    errors[i] = _one_line(e)
            return metrics
        records: list[dict | None] = []
        for i, a, w in zip(rows, pts.arch_index, pts.workload_index):
            try:
                res = self.fn(pts.archs[a], pts.workloads[w], plan.engine, plan.mode)
                records.append(flatten(res.to_dict() if isinstance(res, Result) else dict(res)))
            except Exception as e:
                errors[i] = _one_line(f"{type(e).__name__}: {e}")
                records.append(None)
        return batch.columns_of(records)

    def evaluate(self, points: list[tuple[str, tuple]], fmt: str = "csv") -> dict[str, Any]:
        """The rows of ``points`` as columns (``point_id``, the plan's columns, the metric columns, STATUS).
        The metrics beyond the metric columns go into ``other_metrics``, one JSON record per row (``fmt``
        csv), or each into its own column after STATUS's others (parquet, a columnar file)."""
        n = len(points)
        values = [v for _, v in points]
        out: dict[str, Any] = {"point_id": [pid for pid, _ in points]}
        for j, c in enumerate(self.columns):
            out[c] = [v[j] for v in values]
        objects, errors = self.objects(values)
        built = np.array([not e for e in errors], dtype=bool)
        rows = np.flatnonzero(built)
        metrics = self._metrics_of(objects, rows, errors) if len(rows) else {}
        ok = np.array([not e for e in errors], dtype=bool)
        full: dict[str, list] = {}
        for k, col in metrics.items():
            col = col.tolist() if isinstance(col, np.ndarray) else list(col)
            if len(rows) == n:
                full[k] = col
            else:
                f = full[k] = [None] * n
                for i, v in zip(rows, col):
                    f[i] = v
            if not ok.all():
                f = full[k]
                for i in np.flatnonzero(~ok):
                    f[i] = None
        for c in self.metric_columns:
            out[c] = full.get(c) or [None] * n
        other_keys = [k for k in full if k not in self._metric_set]
        feasible: list = [True if o else None for o in ok]
        violated = [""] * n
        if self.plan.post:
            env = {**{c: out[c] for c in self.columns}, **full}
            self._constraints(env, ok, feasible, violated, errors)
        out["feasible"] = feasible
        out["violated"] = violated
        out["error"] = errors
        if fmt == "parquet":  # NumPy where every row has a number (Arrow takes it whole), else the list
            for k in other_keys:
                numbers = _numbers(metrics[k], n, ok)
                out[k] = full[k] if numbers is None else numbers
        else:
            out["other_metrics"] = _json_records({k: metrics[k] for k in other_keys}, rows, ok, n)
        return out

    def _constraints(self, env: dict[str, list], ok: np.ndarray, feasible: list, violated: list, errors: list) -> None:
        """Mark rows whose metrics break a constraint: over whole columns where an expression allows it
        (arithmetic and comparisons), else row by row."""
        idx = np.flatnonzero(ok)
        if not len(idx):
            return
        for e in self.plan.post:
            vec = None
            try:
                cols = {name: _float_column([env[name][i] for i in idx]) for name in e.names if name in env}
                got = e(cols)
                if isinstance(got, np.ndarray) and got.shape == idx.shape and got.dtype == bool:
                    vec = got
            except Exception:
                vec = None
            for j, i in enumerate(idx):
                if feasible[i] is not True:
                    continue
                if vec is not None:
                    good = bool(vec[j])
                else:
                    try:
                        good = bool(e({name: env[name][i] for name in e.names if name in env}))
                    except Exception as ex:
                        errors[i] = _one_line(f"constraint {e.text!r}: {type(ex).__name__}: {ex}")
                        feasible[i] = None
                        continue
                if not good:
                    feasible[i], violated[i] = False, e.text

    def chunk(self, points: list[tuple[str, tuple]] | dict[str, np.ndarray], fmt: str = "csv") -> tuple[Any, int, int]:
        """The points' rows as CSV text (``fmt`` csv) or an Arrow table (parquet), with the number of error
        and infeasible rows. ``points``: (point id, values) pairs, or a slice of the plan's table."""
        if isinstance(points, dict):
            rows = list(zip(*(points[c].tolist() for c in self.columns)))
            points = list(zip(self.plan.point_ids(rows=rows), rows))
        cols = self.evaluate(points, fmt)
        stats = sum(bool(e) for e in cols["error"]), sum(f is False for f in cols["feasible"])
        if fmt == "parquet":
            import pyarrow as pa

            return pa.table({k: pa.array(v) for k, v in cols.items()}), *stats
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerows(zip(*[["" if v is None else v for v in c] for c in cols.values()]))
        return buf.getvalue(), *stats


def _numbers(col: Any, n: int, ok: np.ndarray) -> np.ndarray | None:
    """``col`` as a NumPy column of numbers if it is one with a value in each of the ``n`` rows."""
    if isinstance(col, np.ndarray) and col.dtype.kind in "biuf" and len(col) == n and ok.all():
        return np.ascontiguousarray(col)
    return None


def _json_records(cols: dict[str, Any], rows: np.ndarray, ok: np.ndarray, n: int) -> list[str]:
    """Per row: ``json.dumps({k: cols[k][j] for k in cols if not None}, default=str)`` for the ``j``-th row
    of ``rows`` where ``ok`` holds ("" for an empty record and elsewhere). The same text, made a column
    at a time: a number column is encoded in one call and split, not a dict per row."""
    out = [""] * n
    if not cols or not len(rows):
        return out
    pieces = []
    for k, col in cols.items():
        head = json.dumps(k) + ": "
        if isinstance(col, np.ndarray) and col.dtype.kind in "biuf":  # no None, no text: split at ", " is safe
            pieces.append([head + t for t in json.dumps(col.tolist())[1:-1].split(", ")])
        else:
            pieces.append(["" if v is None else head + json.dumps(v, default=str) for v in col])
    for i, parts in zip(rows, zip(*pieces)):
        if ok[i]:
            text = ", ".join(filter(None, parts))
            out[i] = "{" + text + "}" if text else ""
    return out


def _float_column(values: list) -> np.ndarray:
    """Numbers as float64 for a constraint over a whole column (exact: ints beyond 2**53 are refused, so
    the row-by-row evaluation takes over)."""
    col = np.array(values)
    if col.dtype.kind in "iu":
        if len(col) and np.abs(col).max() >= 2**53:
            raise OverflowError("integers beyond 2**53")
        return col.astype(np.float64)
    if col.dtype.kind not in "fb":
        raise TypeError("not a number column")
    return col


# --- worker entry points (module level, so they pickle by reference) ---------------------------

_WORKER: dict[str, _Evaluator] = {}


def _init_worker(plan: Plan, metric_columns: list[str]) -> None:
    ev = _Evaluator(plan)
    ev.set_metric_columns(metric_columns)
    _WORKER["ev"] = ev


def _pool_chunk(task):
    k, points, fmt = task
    return k, *_WORKER["ev"].chunk(points, fmt)


def _dask_chunk(plan: Plan, metric_columns: list[str], task):
    # One evaluator per worker process and plan: the scattered plan object is the same on every call.
    ev = _WORKER.get(f"dask-{id(plan)}")
    if ev is None:
        ev = _WORKER[f"dask-{id(plan)}"] = _Evaluator(plan)
        ev.set_metric_columns(metric_columns)
    k, points, fmt = task
    return k, *ev.chunk(points, fmt)


# --- the results file ---------------------------------------------------------------------------


def read_results(path: str | Path, repair: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a results CSV, without a torn last line or duplicate point ids.

    With ``repair`` the file itself is cut back to its last whole row (and
    rewritten if anything else had to be dropped), ready for appending.
    """
    path = Path(path)
    raw = path.read_bytes()
    cut = raw.rfind(b"\n") + 1  # a row is whole only when its newline was written
    text = raw[:cut].decode("utf-8", errors="replace")
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        if repair:
            path.write_bytes(b"")
        return [], []
    header, rows, seen, dropped = lines[0], [], set(), 0
    for r in lines[1:]:
        if len(r) != len(header) or not r[0] or r[0] in seen:
            dropped += 1
            continue
        seen.add(r[0])
        rows.append(r)
    if repair:
        if dropped:
            tmp = path.with_suffix(".csv.tmp")
            with open(tmp, "w", newline="") as f:
                w = csv.writer(f, lineterminator="\n")
                w.writerow(header)
                w.writerows(rows)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        elif cut < len(raw):
            with open(path, "r+b") as f:
                f.truncate(cut)
                f.flush()
                os.fsync(f.fileno())
    return header, rows


def write_parquet(csv_path: Path) -> Path | None:
    try:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError:
        return None
    out = csv_path.with_suffix(".parquet")
    table = pacsv.read_csv(csv_path)
    pq.write_table(table, out)
    return out


# --- running ----------------------------------------------------------------------------------


def run(
    plan: Plan,
    out: str | Path,
    jobs: int | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: str | None = None,
    chunk: int | None = None,
    progress: bool = True,
    output: str | None = None,
) -> dict[str, Any]:
    """Evaluate every point of ``plan`` not yet in ``out``; return a summary.

    ``output`` (default: the spec's, else csv up to :data:`CSV_MAX` points, parquet above) picks the
    results: ``out/results.csv`` appended chunk by chunk, or ``out/results.parquet/``, one Parquet file
    per chunk of points."""
    t0 = time.perf_counter()
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: expected at least 1")
    if chunk is not None and chunk < 1:
        raise ConfigError(f"--chunk {chunk}: expected at least 1")
    if executor not in ("local", "dask"):
        raise ConfigError(f"--executor {executor}: expected local or dask")
    if scheduler and executor != "dask":
        raise ConfigError("--scheduler: only with --executor dask")
    fmt = output or plan.output or ("csv" if len(plan) <= CSV_MAX else "parquet")
    if fmt not in OUTPUTS:
        raise ConfigError(f"--output {fmt}: expected {' or '.join(OUTPUTS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sink = _CsvSink(out, plan, resume) if fmt == "csv" else _ParquetSink(out, plan, resume, chunk, jobs)
    tasks = sink.pending()
    n_todo = sum(len(p) if isinstance(p, list) else len(next(iter(p.values()))) for _, p in tasks)
    n_before = len(plan) - n_todo

    stack = contextlib.ExitStack()
    client, startup = None, 0.0
    if executor == "dask" and tasks:
        # Connect (or start the LocalCluster) before writing anything, so a bad address changes no file.
        t = time.perf_counter()
        client = stack.enter_context(_dask_client(jobs, scheduler))
        startup = time.perf_counter() - t
    write_manifest(out, "sweep", [sink.name])  # before any row, so a sweep stopped early says what it is
    stats = {"errors": 0, "infeasible": 0}
    bar = _bar(n_todo, progress)

    def take(result):
        k, payload, errors, infeasible = result
        sink.write(k, payload)
        stats["errors"] += errors
        stats["infeasible"] += infeasible
        bar.update(payload.num_rows if fmt == "parquet" else payload.count("\n"))

    t_start = t_end = time.perf_counter()
    try:
        if tasks and sink.metric_columns is None:
            # Probe in-process: the first point that succeeds fixes the metric columns of every chunk.
            ev = _Evaluator(plan)
            found = None
            first = tasks[0][1]
            if isinstance(first, list):
                probes = [v for _, v in first[:MAX_PROBES]]
            else:
                probes = list(zip(*(first[c][:MAX_PROBES].tolist() for c in plan.columns)))
            for values in probes:
                m, err = ev.metrics(values)
                if err is None:
                    found = m
                    break
            sink.start(list(found) if found else _standard_metrics())
        metric_columns = sink.metric_columns or []
        tasks = sink.split(tasks, chunk or max(1, min(500, math.ceil(n_todo / (jobs * 4)))))
        t_start = time.perf_counter()
        if not tasks:
            pass
        elif executor == "local" and jobs == 1:
            ev = _Evaluator(plan)
            ev.set_metric_columns(metric_columns)
            for k, pts in tasks:
                take((k, *ev.chunk(pts, fmt)))
        elif executor == "local":
            startup = _run_pool(plan, metric_columns, [(k, p, fmt) for k, p in tasks], jobs, take)
        else:
            _run_dask(plan, metric_columns, [(k, p, fmt) for k, p in tasks], client, take)
        t_end = time.perf_counter()
    finally:
        sink.close()
        bar.close()
        stack.close()
    ran = len(plan) - n_before
    summary: dict[str, Any] = {
        "spec": plan.spec_path,
        "name": plan.name,
        "output": fmt,
        "csv": str(out / "results.csv") if fmt == "csv" else None,
        "parquet": sink.finish(),
        "points": len(plan),
        "already_done": n_before,
        "ran": ran,
        "errors": stats["errors"],
        "infeasible": stats["infeasible"],
        "rejected_by_constraints": plan.rejected,
        "param_columns": plan.columns,
        "executor": executor,
        "jobs": jobs,
        "chunk": sink.size,
        "seconds": time.perf_counter() - t0,
        "startup_seconds": startup,  # pool or cluster start (and connection)
        "dispatch_seconds": t_end - t_start - (startup if executor == "local" else 0.0),
    }
    summary["points_per_s"] = ran / summary["seconds"] if summary["seconds"] > 0 else None
    (out / "sweep.json").write_text(json.dumps(summary, indent=1))
    return summary


class _CsvSink:
    """``results.csv``: rows appended as chunks finish, each write flushed and fsync'ed; resuming reads the
    file back (a torn last line dropped) and runs the points whose ``point_id`` is not there yet."""

    name = "results.csv"

    def __init__(self, out: Path, plan: Plan, resume: bool):
        self.path, self.plan = out / self.name, plan
        self.header = ["point_id", *plan.columns]
        self.metric_columns: list[str] | None = None
        self.done: set[str] = set()
        self.size = 0
        path = self.path
        if path.exists() and path.stat().st_size:
            if not resume:
                raise AttnkitError(f"{path} already exists: pass --resume to complete it, or remove it")
            header, rows = read_results(path, repair=True)
            if header:
                if header[: len(self.header)] != self.header or header[-len(STATUS) :] != list(STATUS):
                    raise AttnkitError(
                        f"{path}: its columns are not those of {plan.spec_path} "
                        f"(was it written by another spec?); use another --out"
                    )
                self.metric_columns = header[len(self.header) : -len(STATUS)]
                self.done = {r[0] for r in rows}
        elif path.exists():
            path.write_bytes(b"")
        self.f = open(path, "a", newline="")

    def pending(self) -> list[tuple[int, list]]:
        return [(0, [(pid, v) for pid, v in zip(self.plan.ids, self.plan.points) if pid not in self.done])]

    def start(self, metric_columns: list[str]) -> None:
        self.metric_columns = metric_columns
        self.write(0, _csv_line([*self.header, *metric_columns, *STATUS]))

    def split(self, tasks: list[tuple[int, list]], size: int) -> list[tuple[int, list]]:
        self.size = size
        pts = [p for _, ps in tasks for p in ps]
        return [(i, pts[i : i + size]) for i in range(0, len(pts), size)]

    def write(self, k: int, text: str) -> None:
        if text:
            self.f.write(text)
            self.f.flush()
            os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()

    def finish(self) -> str | None:
        parquet = write_parquet(self.path)
        return str(parquet) if parquet else None


class _ParquetSink:
    """``results.parquet/``: one ``part-NNNNNN.parquet`` per chunk of ``size`` points in plan order, each
    written under a temporary name and renamed when whole, so a sweep killed at any moment (SIGKILL
    included) keeps every finished chunk and no torn file. ``_chunks.json`` fixes the chunk size and the
    columns; resuming runs the chunks that have no file yet."""

    name = PARQUET

    def __init__(self, out: Path, plan: Plan, resume: bool, chunk: int | None, jobs: int):
        self.folder, self.plan = out / self.name, plan
        self.meta_path = self.folder / "_chunks.json"
        self.header = ["point_id", *plan.columns]
        self.metric_columns: list[str] | None = None
        n = len(plan)
        self.size = chunk or max(1, min(CHUNK_MAX, math.ceil(n / (jobs * 4))))
        if self.folder.exists() and any(self.folder.iterdir()):
            if not resume:
                raise AttnkitError(f"{self.folder} already exists: pass --resume to complete it, or remove it")
            try:
                meta = json.loads(self.meta_path.read_text())
            except (OSError, ValueError):
                meta = None  # killed before the first chunk: start again
            if meta is not None:
                if meta.get("columns") != self.header or meta.get("points") != n:
                    raise AttnkitError(
                        f"{self.folder}: its columns or point count are not those of {plan.spec_path} "
                        f"(was it written by another spec?); use another --out"
                    )
                self.size, self.metric_columns = meta["size"], meta["metric_columns"]
            for tmp in self.folder.glob(".part-*"):
                tmp.unlink()
        self.folder.mkdir(parents=True, exist_ok=True)
        done = {int(p.stem.removeprefix("part-")) for p in self.folder.glob("part-*.parquet")}
        self.done = done if self.metric_columns is not None else set()

    def pending(self) -> list[tuple[int, Any]]:
        table, size = self.plan.table, self.size
        return [
            (k, {c: v[i : i + size] for c, v in table.items()})
            for k, i in enumerate(range(0, len(self.plan), size))
            if k not in self.done
        ]

    def start(self, metric_columns: list[str]) -> None:
        self.metric_columns = metric_columns
        meta = {"size": self.size, "points": len(self.plan), "columns": self.header}
        tmp = self.meta_path.with_name("._chunks.json")
        tmp.write_text(json.dumps({**meta, "metric_columns": metric_columns}, indent=1))
        os.replace(tmp, self.meta_path)

    def split(self, tasks: list[tuple[int, list]], size: int) -> list[tuple[int, list]]:
        return tasks  # the chunks are fixed by _chunks.json

    def write(self, k: int, table) -> None:
        import pyarrow.parquet as pq

        path = self.folder / f"part-{k:06d}.parquet"
        tmp = self.folder / f".part-{k:06d}.parquet.tmp"
        with open(tmp, "wb") as f:
            pq.write_table(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def close(self) -> None:
        pass

    def finish(self) -> str:
        return str(self.folder)


def _csv_line(row: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


def _standard_metrics() -> list[str]:
    return [
        k
        for k in Result("", 0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0).to_dict()
        if k not in ("energy_breakdown", "area_breakdown", "actions")
    ]


def _bar(total: int, progress: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, unit="pt", file=sys.stderr, disable=not progress, smoothing=0.1, mininterval=0.5, desc="sweep"
    )


def _small(plan: Plan) -> Plan:
    """The plan without its point list (each worker gets its points with its chunks)."""
    return dataclasses.replace(plan, table={})


def _run_pool(plan, metric_columns, chunks, jobs, take) -> float:
    """Run the chunks on a process pool; return the pool's start-up seconds (workers start lazily: ~0)."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    t0 = time.perf_counter()
    with ProcessPoolExecutor(
        max_workers=jobs, initializer=_init_worker, initargs=(_small(plan), metric_columns)
    ) as pool:
        startup = time.perf_counter() - t0
        futures = {pool.submit(_pool_chunk, c): len(c) for c in chunks}
        try:
            for f in as_completed(futures):
                take(f.result())
                del futures[f]  # its rows are written: a finished future kept would keep them in memory
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return startup


@contextlib.contextmanager
def _dask_client(jobs: int, scheduler: str | None):
    """A Dask client: to ``scheduler`` if given, else to a LocalCluster of ``jobs`` single-thread workers."""
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise AttnkitError(f"--scheduler {scheduler}: cannot connect: {e}") from None
        with client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _run_dask(plan, metric_columns, chunks, client, take) -> None:
    """Run the chunks on the client's cluster, taking results as they finish."""
    from distributed import as_completed

    small = client.scatter(_small(plan), broadcast=True)
    futures = {}
    for c in chunks:
        futures[client.submit(_dask_chunk, small, metric_columns, c, pure=False)] = len(c)
    try:
        for f in as_completed(futures):
            take(f.result())
            del futures[f]  # released: its result leaves the worker's memory
    except BaseException:
        client.cancel(list(futures))
        raise
