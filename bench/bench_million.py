"""The million-point sweep end to end, as a user runs it: `attnkit sweep fusemax-million` (Parquet
chunks, one worker per core), then `attnkit pareto` on its rows; wall time and peak memory of each
(the whole process tree: the sweep and its workers, polled from /proc), and a sample of 10,000 of its
rows evaluated again through the scalar form, which must give the same numbers.

Run alone: ``python bench/run.py million`` (or ``python bench/bench_million.py [SPEC]``).
"""

from __future__ import annotations

import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SPEC = "fusemax-million"
SAMPLE = 10_000
REL = 1e-12


def _tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return total


def _timed(cmd: list[str]) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak resident bytes of the process tree of ``cmd``, and its result."""
    peak = [0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def poll():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.1)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    t.join()
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}: {err[-2000:]}")
    return wall, peak[0], done


def _same(a, b) -> bool:
    a, b = (None if v == "" else v for v in (a, b))  # a blank cell and no value alike
    if a is None or b is None or isinstance(a, (str, bool)) or isinstance(b, (str, bool)):
        return a == b and type(a) is type(b)
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(float(a), float(b), rel_tol=REL, abs_tol=0.0)


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def sample_check(spec: str, results: Path, n: int = SAMPLE, seed: int = 1) -> tuple[int, int]:
    """(rows checked, rows that differ): ``n`` random rows of ``results`` against the scalar form."""
    from attnkit.sim import sweep, sweep_run
    from attnkit.sim.result import load_results

    plan = sweep.load_spec(spec)
    plan.evaluate = sweep_run.simulate  # the scalar path: one engine call per point
    idx = sorted(random.Random(seed).sample(range(len(plan)), min(n, len(plan))))
    rows = load_results(results).rows
    by_id = dict(zip(rows.column("point_id").to_pylist(), range(len(rows))))
    scalar = sweep_run._Evaluator(plan)
    metrics = [c for c in rows[0] if c not in ("point_id", *plan.columns, *sweep_run.STATUS)]
    scalar.set_metric_columns(metrics)
    values = [plan.rows(i, i + 1)[0] for i in idx]
    ids = plan.point_ids(rows=values)
    stored = rows.take([by_id[p] for p in ids])
    want = scalar.evaluate(list(zip(ids, values)), "parquet")  # the other metrics as columns, as stored
    bad = 0
    for j, got in enumerate(stored):
        if not all(_same(got[c], _plain(want[c][j])) for c in [*metrics, "feasible", "error"]):
            bad += 1
    return len(idx), bad


def run(spec: str = SPEC) -> list[dict]:
    kit = str(Path(sys.executable).with_name("attnkit"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-million-"))
    rows = []
    try:
        out = tmp / "sweep"
        wall, rss, _ = _timed([kit, "sweep", spec, "--out", str(out), "--output", "parquet", "--no-progress", "--json"])
        import json

        summary = json.loads((out / "sweep.json").read_text())
        n = summary["points"]
        note = f"{spec}: {n:,} points, {summary['errors']} errors, {summary['jobs']} workers, {summary['output']}"
        rows.append({"name": "million-point sweep, wall", "value": wall, "unit": "s", "note": note})
        rows.append({"name": "million-point sweep, points/s", "value": n / wall, "unit": "points/s"})
        rows.append({"name": "million-point sweep, peak RSS (all processes)", "value": rss / 2**20, "unit": "MiB"})
        results = out / "results.parquet"
        cmd = [kit, "pareto", str(results), "--minimize", "latency_s", "energy_pj", "area_mm2", "--json"]
        p_wall, p_rss, done = _timed(cmd)
        front = len(json.loads(done.stdout))
        rows.append(
            {
                "name": "pareto of its rows (3 metrics), wall",
                "value": p_wall,
                "unit": "s",
                "note": f"{front} on the front",
            }
        )
        rows.append({"name": "pareto of its rows, peak RSS", "value": p_rss / 2**20, "unit": "MiB"})
        t0 = time.perf_counter()
        checked, bad = sample_check(spec, results)
        rows.append(
            {
                "name": "rows that differ from the scalar form",
                "value": bad,
                "unit": f"of {checked:,}",
                "note": f"random sample, ints equal and floats within {REL:g} relative; {time.perf_counter() - t0:.1f} s",
            }
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for r in run(*sys.argv[1:]):
        print(r)
