"""Sweep throughput: the 10,752-point FuseMax sweep (configs/sweeps/fusemax-arrays.yaml) on the local
process pool and on a Dask LocalCluster, both with one worker per core.

Falls back to the GEMM dataflow sweep, enlarged to 10,000+ points, when the fusemax engine is not
there (the note says which ran). Points per second count the whole run: spec loading and expansion,
the evaluation, the fsync'ed CSV appends and the Parquet copy; for Dask, cluster start-up too
(and, separately, without it).
"""

import os
import shutil
import tempfile
import time
from pathlib import Path

from attnkit.sim import engines, sweep, sweep_run
from attnkit.sim.energy import CONFIG_DIR

GEMM_10K = """\
arch: systolic
workloads: [gemm]
engine: gemm
parameters:
  array_2d.dataflow: [os, ws, is]
  array_2d.rows: {start: 16, stop: 256, factor: 2}
  array_2d.cols: {start: 16, stop: 256, factor: 2}
  global_buffer.bytes: {start: 1048576, stop: 16777216, factor: 2}
  workload.m: [64, 512, 4096]
  workload.n: [64, 512, 4096]
  workload.k: [64, 256, 1024]
"""


def _spec(tmp: Path) -> tuple[Path, str]:
    if "fusemax" in engines.registry() and (CONFIG_DIR / "arch" / "fusemax.yaml").exists():
        return CONFIG_DIR / "sweeps" / "fusemax-arrays.yaml", "fusemax-arrays"
    path = tmp / "gemm-10k.yaml"
    path.write_text(GEMM_10K)
    return path, "gemm (fusemax engine not present)"


def run():
    jobs = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    rows = []
    try:
        spec, what = _spec(tmp)
        for executor in ("local", "dask"):
            out = tmp / executor
            t0 = time.perf_counter()
            plan = sweep.load_spec(spec)
            t_load = time.perf_counter() - t0
            s = sweep_run.run(plan, out, jobs=jobs, executor=executor, progress=False)
            total = time.perf_counter() - t0
            n = s["ran"]
            note = f"{what}: {n} points ({s['errors']} errors), {jobs} workers, spec+expansion {t_load:.2f} s"
            rows.append(
                {"name": f"sweep {executor} executor, end to end", "value": n / total, "unit": "points/s", "note": note}
            )
            rows.append(
                {
                    "name": f"sweep {executor} executor, dispatch only",
                    "value": n / s["dispatch_seconds"],
                    "unit": "points/s",
                    "note": f"evaluation, transfer and CSV appends; without {s['startup_seconds']:.2f} s start-up",
                }
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows
