"""Batch forms: points per second of the scalar and the batch path on the same points.

The 10,752-point FuseMax sweep (configs/sweeps/fusemax-arrays.yaml), then 2,000 seeded random causal
points of the million-point one (configs/sweeps/fusemax-million.yaml: 1K to 1M tokens, where the batch
form walks a causal schedule's blocks): every point's arch and workload built once (as the sweep
builds them), then the whole table through :func:`attnkit.sim.batch.simulate_points` twice in one
process: with the engine's batch form, and with it removed (every point through the scalar form, one
by one). Both give the same rows (checked here on every point: equal integers, floats within 1e-12
relative). Neither counts the building of the points, nor CSV writing: the figures are the engine's
alone.
"""

import dataclasses
import math
import time

import numpy as np

from attnkit.sim import batch, engines, sweep, sweep_run

SPEC = "fusemax-arrays"


def _timed(points, engine):
    t0 = time.perf_counter()
    cols, errors = batch.simulate_points(points, engine)
    return time.perf_counter() - t0, cols, errors


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0)
    return a == b


def _compare(spec: str, pick=None, label: str = "") -> list[dict]:
    plan = sweep.load_spec(spec)
    if pick is not None:
        plan = plan.take(pick(plan))
    engine = plan.engine or "fusemax"
    t0 = time.perf_counter()
    points, errors = sweep_run._Evaluator(plan).objects(plan.rows())
    points = points.rows(np.array([not e for e in errors], dtype=bool))
    t_build = time.perf_counter() - t0
    n = len(points)
    t_batch, cols_b, err_b = _timed(points, engine)
    reg = engines.registry()
    full = reg[engine]
    reg[engine] = dataclasses.replace(full, batch=None)
    try:
        t_scalar, cols_s, err_s = _timed(points, engine)
    finally:
        reg[engine] = full
    differ = int((err_b != err_s).sum())
    for k in set(cols_b) | set(cols_s):
        a = cols_s.get(k, np.full(n, None, dtype=object))
        b = cols_b.get(k, np.full(n, None, dtype=object))
        differ += sum(not _same(x.item() if hasattr(x, "item") else x, y.item() if hasattr(y, "item") else y)
                      for x, y in zip(a, b))  # fmt: skip
    note = (
        f"{spec}{label}, engine {engine}: {n} points ({int((err_s != '').sum())} errors), built once in {t_build:.2f} s"
    )
    return [
        {
            "name": f"scalar path (simulate_points, no batch form){label}",
            "value": n / t_scalar,
            "unit": "points/s",
            "note": note,
        },
        {"name": f"batch path (simulate_points){label}", "value": n / t_batch, "unit": "points/s", "note": note},
        {"name": f"batch speed-up{label}", "value": t_scalar / t_batch, "unit": "x"},
        {"name": f"values differing between the two paths{label}", "value": differ, "unit": "values"},
    ]


def _causal(plan, n=2000, seed=2026):
    """``n`` seeded random indices of the plan's causal points."""
    causal = np.flatnonzero(plan.table["workload.causal"].astype(bool))
    return np.sort(np.random.default_rng(seed).choice(causal, size=min(n, len(causal)), replace=False))


def run():
    return _compare(SPEC) + _compare("fusemax-million", _causal, ", causal sample")
