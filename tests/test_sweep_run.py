"""Running sweeps: rows appended as points finish, SIGKILL + --resume loses and duplicates nothing,
the process pool and Dask give the rows of the in-process run, impossible points record their error."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_sweep import write_spec

from attnkit.errors import AttnkitError
from attnkit.sim import sweep, sweep_run

SPEC = """\
parameters:
  array_2d.rows: {start: 4, stop: 128, factor: 2}
  array_2d.cols: [4, 8, 16, 32, 64]
  clock_hz: {start: 5.0e+8, stop: 1.0e+9, num: 4}
  workload.m: [16, 64, 256]
  word_bits: {choice: [8, 16]}
samples: 2
seed: 5
derived:
  array_1d.pes: array_2d.cols
constraints:
  - area_mm2 < 3
"""


def toy(arch, workload, engine, mode):
    """A deterministic stand-in for an engine: a few closed-form figures; 128 x 4 arrays are 'impossible'."""
    delay = float(os.environ.get("SWEEP_TOY_SLEEP", "0"))
    if delay:
        time.sleep(delay)
    a = arch.array_2d
    if a.rows == 128 and a.cols == 4:
        raise AttnkitError("impossible design: 128 x 4\nsecond line")
    macs = workload.m * workload.n * workload.k
    cycles = -(-macs // a.pes) + a.rows + a.cols
    return {
        "engine": engine or arch.engine,
        "cycles": cycles,
        "latency_s": cycles / arch.clock_hz,
        "energy_pj": macs * 0.1 * arch.word_bits / 16 + a.pes * cycles * 1e-3,
        "area_mm2": a.pes * 1.5e-3 + arch.array_1d.pes * 1e-3,
        "energy_breakdown": {"mac": macs * 0.1, "leak": a.pes * cycles * 1e-3},
    }


def plan_for(tmp_path, body=SPEC):
    return sweep.load_spec(write_spec(tmp_path, body), evaluate=toy)


def rows_of(path):
    with open(path, newline="") as f:
        r = list(csv.reader(f))
    return r[0], r[1:]


def test_rows_metrics_errors_and_infeasible(tmp_path):
    plan = plan_for(tmp_path)
    s = sweep_run.run(plan, tmp_path / "out", jobs=1, progress=False)
    header, rows = rows_of(tmp_path / "out" / "results.csv")
    assert header[: len(plan.columns) + 1] == ["point_id", *plan.columns]
    assert header[-4:] == ["feasible", "violated", "error", "other_metrics"]
    assert {"latency_s", "energy_pj", "area_mm2", "energy_breakdown.mac"} <= set(header)
    assert len(rows) == len(plan.ids) == s["points"] == s["ran"]
    assert sorted(r[0] for r in rows) == sorted(plan.ids)
    by = {r[0]: dict(zip(header, r)) for r in rows}
    errs = [r for r in by.values() if r["error"]]
    assert errs and all(r["array_2d.rows"] == "128" and r["array_2d.cols"] == "4" for r in errs)
    assert all(r["error"] == "AttnkitError: impossible design: 128 x 4 second line" for r in errs)
    assert len(errs) == s["errors"]
    bad = [r for r in by.values() if r["feasible"] == "False"]
    assert bad and all(float(r["area_mm2"]) >= 3 and r["violated"] == "area_mm2 < 3" for r in bad)
    assert len(bad) == s["infeasible"]
    ok = [r for r in by.values() if r["feasible"] == "True"]
    assert ok and all(float(r["area_mm2"]) < 3 for r in ok)
    # Values round-trip: a row's metrics are those of evaluating its parameters again.
    pid, values = plan.ids[7], plan.points[7]
    ev = sweep_run._Evaluator(plan)
    m, err = ev.metrics(values)
    assert err is None and float(by[pid]["energy_pj"]) == m["energy_pj"] and int(by[pid]["cycles"]) == m["cycles"]
    assert (tmp_path / "out" / "results.parquet").exists()


def test_existing_results_need_resume(tmp_path):
    plan = plan_for(tmp_path)
    sweep_run.run(plan, tmp_path / "out", jobs=1, progress=False)
    with pytest.raises(AttnkitError, match="pass --resume"):
        sweep_run.run(plan, tmp_path / "out", jobs=1, progress=False)
    s = sweep_run.run(plan, tmp_path / "out", jobs=1, resume=True, progress=False)
    assert s["ran"] == 0 and s["already_done"] == len(plan.ids)


def test_resume_drops_a_torn_line_and_completes(tmp_path):
    plan = plan_for(tmp_path)
    ref = tmp_path / "ref"
    sweep_run.run(plan, ref, jobs=1, progress=False)
    _, want = rows_of(ref / "results.csv")
    # A run cut short: the header, 40 whole rows and half of the 41st (no newline).
    lines = (ref / "results.csv").read_text().splitlines(keepends=True)
    part = tmp_path / "part"
    part.mkdir()
    (part / "results.csv").write_text("".join(lines[:41]) + lines[41][:17])
    s = sweep_run.run(plan, part, jobs=1, resume=True, progress=False)
    assert s["already_done"] == 40 and s["ran"] == len(plan.ids) - 40
    _, got = rows_of(part / "results.csv")
    assert sorted(got) == sorted(want) and len(got) == len({r[0] for r in got})


def test_read_results_repairs(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("point_id,a\nx,1\ny,2,3\nx,1\nz,4\nw,")
    header, rows = sweep_run.read_results(p, repair=True)
    assert header == ["point_id", "a"] and rows == [["x", "1"], ["z", "4"]]
    assert p.read_text() == "point_id,a\nx,1\nz,4\n"


KILLER = """
import sys
sys.path.insert(0, {tests!r})
import test_sweep_run
from attnkit.sim import sweep, sweep_run
plan = sweep.load_spec({spec!r}, evaluate=test_sweep_run.toy)
sweep_run.run(plan, {out!r}, jobs=2, chunk=10, progress=False)
"""


def test_sigkill_then_resume_gives_the_uninterrupted_rows(tmp_path):
    plan = plan_for(tmp_path)
    ref = tmp_path / "ref"
    sweep_run.run(plan, ref, jobs=1, progress=False)
    _, want = rows_of(ref / "results.csv")

    out = tmp_path / "killed"
    code = KILLER.format(tests=str(Path(__file__).parent), spec=plan.spec_path, out=str(out))
    env = {**os.environ, "SWEEP_TOY_SLEEP": "0.004"}  # ~2 s of work on two workers
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    csv_path = out / "results.csv"
    deadline = time.time() + 60
    while time.time() < deadline:
        if csv_path.exists() and csv_path.read_bytes().count(b"\n") > 100:
            break
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, with no chance to clean up
    proc.wait()
    _, before = rows_of(csv_path)
    assert 100 <= len(before) < len(want), "the kill must land part way"

    s = sweep_run.run(plan, out, jobs=2, resume=True, progress=False)
    assert s["already_done"] >= 100 and s["ran"] == len(want) - s["already_done"]
    _, got = rows_of(csv_path)
    assert len(got) == len(want) == len({r[0] for r in got})
    assert sorted(got) == sorted(want)


def test_process_pool_equals_in_process(tmp_path):
    plan = plan_for(tmp_path)
    sweep_run.run(plan, tmp_path / "one", jobs=1, progress=False)
    sweep_run.run(plan, tmp_path / "pool", jobs=2, chunk=25, progress=False)
    h1, r1 = rows_of(tmp_path / "one" / "results.csv")
    h2, r2 = rows_of(tmp_path / "pool" / "results.csv")
    assert h1 == h2 and sorted(r1) == sorted(r2) and len(r1) == len(plan.ids)


def test_dask_local_cluster_equals_local(tmp_path):
    pytest.importorskip("distributed")
    plan = plan_for(tmp_path)
    sweep_run.run(plan, tmp_path / "local", jobs=2, progress=False)
    s = sweep_run.run(plan, tmp_path / "dask", jobs=2, chunk=40, executor="dask", progress=False)
    assert s["executor"] == "dask" and s["ran"] == len(plan.ids)
    h1, r1 = rows_of(tmp_path / "local" / "results.csv")
    h2, r2 = rows_of(tmp_path / "dask" / "results.csv")
    assert h1 == h2 and len(r1) == len(plan.ids) and sorted(r1) == sorted(r2)


def test_dask_scheduler_address_equals_local(tmp_path):
    """--scheduler ADDRESS: connect to a running cluster (here one we start on this machine)."""
    distributed = pytest.importorskip("distributed")
    import logging

    plan = plan_for(tmp_path)
    sweep_run.run(plan, tmp_path / "local", jobs=1, progress=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster:
        s = sweep_run.run(
            plan, tmp_path / "remote", executor="dask", scheduler=cluster.scheduler_address, chunk=50, progress=False
        )
    assert s["ran"] == len(plan.ids)
    h1, r1 = rows_of(tmp_path / "local" / "results.csv")
    h2, r2 = rows_of(tmp_path / "remote" / "results.csv")
    assert h1 == h2 and sorted(r1) == sorted(r2)


def _plain(rows):
    """Rows as comparable tuples, a CSV row's other_metrics record spread into columns as Parquet keeps
    them; blank text, None and no column alike (CSV cannot tell them apart)."""
    out = []
    for r in rows:
        r = dict(r)
        other = r.pop("other_metrics", None) or {}
        r.update(json.loads(other) if isinstance(other, str) else other)
        out.append(tuple((k, v) for k, v in sorted(r.items()) if v not in ("", None)))
    return sorted(out, key=repr)


def test_parquet_chunks_hold_the_rows_of_the_csv(tmp_path):
    from attnkit.sim.result import ColumnRows, load_results

    plan = plan_for(tmp_path)
    sweep_run.run(plan, tmp_path / "csv", jobs=1, progress=False)
    s = sweep_run.run(plan, tmp_path / "pq", jobs=2, chunk=37, output="parquet", progress=False)
    assert s["output"] == "parquet" and s["csv"] is None and s["chunk"] == 37
    parts = sorted((tmp_path / "pq" / "results.parquet").glob("part-*.parquet"))
    assert len(parts) == -(-len(plan.ids) // 37)
    got = load_results(tmp_path / "pq" / "results.parquet")
    assert got.kind == "sweep" and isinstance(got.rows, ColumnRows) and len(got.rows) == len(plan.ids)
    assert _plain(got.rows) == _plain(load_results(tmp_path / "csv" / "results.csv").rows)


def test_parquet_output_needs_resume_and_the_same_spec(tmp_path):
    plan = plan_for(tmp_path)
    sweep_run.run(plan, tmp_path / "o", jobs=1, chunk=50, output="parquet", progress=False)
    with pytest.raises(AttnkitError, match="pass --resume"):
        sweep_run.run(plan, tmp_path / "o", jobs=1, output="parquet", progress=False)
    s = sweep_run.run(plan, tmp_path / "o", jobs=1, output="parquet", resume=True, progress=False)
    assert s["ran"] == 0 and s["already_done"] == len(plan.ids)
    (tmp_path / "x").mkdir()
    other = plan_for(tmp_path / "x", SPEC.replace("[16, 64, 256]", "[16, 64]"))
    with pytest.raises(AttnkitError, match="another spec"):
        sweep_run.run(other, tmp_path / "o", jobs=1, output="parquet", resume=True, progress=False)


def test_parquet_sigkill_then_resume_gives_the_uninterrupted_rows(tmp_path):
    from attnkit.sim.result import load_results

    plan = plan_for(tmp_path)
    sweep_run.run(plan, tmp_path / "ref", jobs=1, output="parquet", progress=False)
    want = _plain(load_results(tmp_path / "ref" / "results.parquet").rows)

    out = tmp_path / "killed"
    code = KILLER.format(tests=str(Path(__file__).parent), spec=plan.spec_path, out=str(out)).replace(
        "progress=False", "progress=False, output='parquet'"
    )
    env = {**os.environ, "SWEEP_TOY_SLEEP": "0.004"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    folder = out / "results.parquet"
    deadline = time.time() + 60
    while time.time() < deadline:
        if len(list(folder.glob("part-*.parquet"))) >= 10:
            break
        if proc.poll() is not None:
            pytest.fail(f"the sweep ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(folder.glob("part-*.parquet")))
    assert 10 <= done < -(-len(plan.ids) // 10), "the kill must land part way"

    s = sweep_run.run(plan, out, jobs=2, resume=True, progress=False, output="parquet")
    assert s["already_done"] == 10 * done and s["chunk"] == 10
    assert not list(folder.glob(".part-*")), "no torn file is left"
    assert _plain(load_results(folder).rows) == want


def test_dask_cluster_started_as_a_user_would_gives_the_rows_of_a_local_run(tmp_path):
    """`dask scheduler` and two `dask worker` processes, as a user starts them; the sweep connects with
    --scheduler and writes the Parquet chunks of the in-process run."""
    pytest.importorskip("distributed")
    from attnkit.sim.result import load_results

    plan = sweep.load_spec(write_spec(tmp_path, SPEC))  # the gemm engine itself: nothing for workers to import
    sweep_run.run(plan, tmp_path / "local", jobs=1, output="parquet", progress=False)
    dask = Path(sys.executable).with_name("dask")
    info = tmp_path / "scheduler.json"
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", info],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    ]
    try:
        deadline = time.time() + 60
        while not info.exists() and time.time() < deadline:
            time.sleep(0.1)
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [dask, "worker", "--nthreads", "1", "--no-dashboard", "--scheduler-file", info],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        import json

        address = json.loads(info.read_text())["address"]
        s = sweep_run.run(
            plan, tmp_path / "cluster", executor="dask", scheduler=address, chunk=40, output="parquet", progress=False
        )
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            p.wait(timeout=30)
    assert s["executor"] == "dask" and s["ran"] == len(plan)
    want = load_results(tmp_path / "local" / "results.parquet").rows
    got = load_results(tmp_path / "cluster" / "results.parquet").rows
    assert len(got) == len(plan) and _plain(got) == _plain(want)


def test_pareto_and_report_read_the_parquet_folder_as_the_csv(tmp_path):
    from attnkit import api, cli
    from attnkit.reports import data

    plan = plan_for(tmp_path)
    sweep_run.run(plan, tmp_path / "csv", jobs=1, progress=False)
    sweep_run.run(plan, tmp_path / "pq", jobs=1, chunk=64, output="parquet", progress=False)
    metrics = {"minimize": ["latency_s", "area_mm2"], "maximize": [], "by": ["workload.m"]}
    want = api.pareto(tmp_path / "csv" / "results.csv", **metrics)
    got = api.pareto(tmp_path / "pq" / "results.parquet", **metrics)
    assert want and _plain(got) == _plain(want)
    assert cli.main(["pareto", str(tmp_path / "pq" / "results.parquet"), "--minimize", "latency_s", "--json"]) == 0
    (table,) = data.load(tmp_path / "pq")  # the folder, as `attnkit report` takes it
    assert table.kind == "sweep" and table.source.name == "results.parquet" and len(table.rows) == len(plan)
    assert table.meta["configuration"]["output"] == "parquet"
    from attnkit.reports import fig_pareto

    (want_fig,) = fig_pareto.figures(data.load(tmp_path / "csv"))
    (got_fig,) = fig_pareto.figures([table])  # its rows narrowed as columns before any becomes a dict
    assert want_fig.table and _plain(got_fig.table) == _plain(want_fig.table)
