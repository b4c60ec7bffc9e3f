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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from attnkit.errors import AttnkitError, ConfigError
from attnkit.params.config import apply_edits
from attnkit.params.kinds import split_key
from attnkit.sim import engines
from attnkit.sim.result import Result, flatten, write_manifest
from attnkit.sim.sweep import Plan

STATUS = ("feasible", "violated", "error", "other_metrics")
MAX_PROBES = 16


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

    def points(self, indices) -> tuple[engines.Points, np.ndarray, dict[int, str]]:
        """The plan's points at ``indices`` as a table for a batch form: its Points (each distinct edited
        arch and workload once), the plan indices it holds, and the error of each index whose edits fail."""
        archs: dict[int, int] = {}
        wls: dict[int, int] = {}
        objs: tuple[list, list] = ([], [])
        ai: list[int] = []
        wi: list[int] = []
        kept: list[int] = []
        errors: dict[int, str] = {}
        for i in indices:
            values = self.plan.points[i]
            arch, err = self._edited(self.plan.archs[values[0]], self.arch_edits, values)
            if err is None:
                workload, err = self._edited(self.plan.workloads[values[1]], self.wl_edits, values)
            if err is not None:
                errors[int(i)] = err
                continue
            for obj, seen, out, lst in ((arch, archs, ai, objs[0]), (workload, wls, wi, objs[1])):
                j = seen.get(id(obj))
                if j is None:
                    j = seen[id(obj)] = len(lst)
                    lst.append(obj)
                out.append(j)
            kept.append(int(i))
        points = engines.Points(objs[0], objs[1], np.array(ai, dtype=np.int64), np.array(wi, dtype=np.int64))
        return points, np.array(kept, dtype=np.int64), errors

    def row(self, pid: str, values: tuple) -> list:
        m, err = self.metrics(values)
        if err is not None:
            return [pid, *values, *[""] * len(self.metric_columns), "", "", _one_line(err), ""]
        assert m is not None  # metrics gives one of the two
        feasible, violated = True, ""
        if self.plan.post:
            env = {**dict(zip(self.columns, values)), **m}
            for e in self.plan.post:
                try:
                    ok = bool(e(env))
                except Exception as ex:
                    return [
                        pid,
                        *values,
                        *[m.get(c, "") for c in self.metric_columns],
                        "",
                        "",
                        _one_line(f"constraint {e.text!r}: {type(ex).__name__}: {ex}"),
                        "",
                    ]
                if not ok:
                    feasible, violated = False, e.text
                    break
        other = {k: v for k, v in m.items() if k not in self._metric_set}
        return [
            pid,
            *values,
            *[m.get(c, "") for c in self.metric_columns],
            feasible,
            violated,
            "",
            json.dumps(other, default=str) if other else "",
        ]

    def set_metric_columns(self, cols: list[str]) -> None:
        self.metric_columns = list(cols)
        self._metric_set = set(cols)

    def chunk(self, points: Iterable[tuple[str, tuple]]) -> tuple[str, int, int]:
        """CSV text for the points, with the number of error and infeasible rows."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        errors = infeasible = 0
        for pid, values in points:
            r = self.row(pid, values)
            errors += bool(r[-2])
            infeasible += r[-4] is False
            w.writerow(r)
        return buf.getvalue(), errors, infeasible


# --- worker entry points (module level, so they pickle by reference) ---------------------------

_WORKER: dict[str, _Evaluator] = {}


def _init_worker(plan: Plan, metric_columns: list[str]) -> None:
    ev = _Evaluator(plan)
    ev.set_metric_columns(metric_columns)
    _WORKER["ev"] = ev


def _pool_chunk(points):
    return _WORKER["ev"].chunk(points)


def _dask_chunk(plan: Plan, metric_columns: list[str], points):
    # One evaluator per worker process and plan: the scattered plan object is the same on every call.
    ev = _WORKER.get(f"dask-{id(plan)}")
    if ev is None:
        ev = _WORKER[f"dask-{id(plan)}"] = _Evaluator(plan)
        ev.set_metric_columns(metric_columns)
    return ev.chunk(points)


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


class _Appender:
    """Appends CSV text to the results file: one write, flush and fsync per batch."""

    def __init__(self, path: Path):
        self.f = open(path, "a", newline="")

    def write(self, text: str) -> None:
        if text:
            self.f.write(text)
            self.f.flush()
            os.fsync(self.f.fileno())

    def close(self) -> None:
        self.f.close()


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
) -> dict[str, Any]:
    """Evaluate every point of ``plan`` not yet in ``out/results.csv``; return a summary."""
    t0 = time.perf_counter()
    jobs = jobs or os.cpu_count() or 1
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: expected at least 1")
    if executor not in ("local", "dask"):
        raise ConfigError(f"--executor {executor}: expected local or dask")
    if scheduler and executor != "dask":
        raise ConfigError("--scheduler: only with --executor dask")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "results.csv"
    expected_header = ["point_id", *plan.columns]
    metric_columns: list[str] | None = None
    done: set[str] = set()
    if csv_path.exists() and csv_path.stat().st_size:
        if not resume:
            raise AttnkitError(f"{csv_path} already exists: pass --resume to complete it, or remove it")
        header, rows = read_results(csv_path, repair=True)
        if header:
            if header[: len(expected_header)] != expected_header or header[-len(STATUS) :] != list(STATUS):
                raise AttnkitError(
                    f"{csv_path}: its columns are not those of {plan.spec_path} "
                    f"(was it written by another spec?); use another --out"
                )
            metric_columns = header[len(expected_header) : -len(STATUS)]
            done = {r[0] for r in rows}
    elif csv_path.exists():
        csv_path.write_bytes(b"")
    pending = [(pid, v) for pid, v in zip(plan.ids, plan.points) if pid not in done]
    n_before = len(plan.ids) - len(pending)

    stack = contextlib.ExitStack()
    client, startup = None, 0.0
    if executor == "dask" and pending:
        # Connect (or start the LocalCluster) before writing anything, so a bad address changes no file.
        t = time.perf_counter()
        client = stack.enter_context(_dask_client(jobs, scheduler))
        startup = time.perf_counter() - t
    write_manifest(out, "sweep", ["results.csv"])  # before any row, so a sweep stopped early says what it is
    appender = _Appender(csv_path)
    stats = {"errors": 0, "infeasible": 0}
    bar = _bar(len(pending), progress)

    def take(result, n):
        text, errors, infeasible = result
        appender.write(text)
        stats["errors"] += errors
        stats["infeasible"] += infeasible
        bar.update(n)

    try:
        if metric_columns is None:
            # Probe in-process: the first point that succeeds fixes the metric columns of the header.
            ev = _Evaluator(plan)
            probed, found = [], None
            for pid, values in pending[:MAX_PROBES]:
                m, err = ev.metrics(values)
                probed.append((pid, values))
                if err is None:
                    found = m
                    break
            metric_columns = list(found) if found else _standard_metrics()
            ev.set_metric_columns(metric_columns)
            appender.write(_csv_line([*expected_header, *metric_columns, *STATUS]))
            take(ev.chunk(probed), len(probed))
            pending = pending[len(probed) :]
        size = chunk or max(1, min(500, math.ceil(len(pending) / (jobs * 4))))
        chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
        t_start = time.perf_counter()
        if not chunks:
            pass
        elif executor == "local" and jobs == 1:
            ev = _Evaluator(plan)
            ev.set_metric_columns(metric_columns)
            for c in chunks:
                take(ev.chunk(c), len(c))
        elif executor == "local":
            startup = _run_pool(plan, metric_columns, chunks, jobs, take)
        else:
            _run_dask(plan, metric_columns, chunks, client, take)
        t_end = time.perf_counter()
    finally:
        appender.close()
        bar.close()
        stack.close()
    parquet = write_parquet(csv_path)
    ran = len(plan.ids) - n_before
    summary: dict[str, Any] = {
        "spec": plan.spec_path,
        "name": plan.name,
        "csv": str(csv_path),
        "parquet": str(parquet) if parquet else None,
        "points": len(plan.ids),
        "already_done": n_before,
        "ran": ran,
        "errors": stats["errors"],
        "infeasible": stats["infeasible"],
        "rejected_by_constraints": plan.rejected,
        "param_columns": plan.columns,
        "executor": executor,
        "jobs": jobs,
        "chunk": size,
        "seconds": time.perf_counter() - t0,
        "startup_seconds": startup,  # pool or cluster start (and connection)
        "dispatch_seconds": t_end - t_start - (startup if executor == "local" else 0.0),
    }
    summary["points_per_s"] = ran / summary["seconds"] if summary["seconds"] > 0 else None
    (out / "sweep.json").write_text(json.dumps(summary, indent=1))
    return summary


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
    return dataclasses.replace(plan, points=[], ids=[])


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
                take(f.result(), futures[f])
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
            take(f.result(), futures[f])
    except BaseException:
        client.cancel(list(futures))
        raise
