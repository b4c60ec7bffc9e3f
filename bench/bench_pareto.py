"""Pareto fronts at sweep scale: a million rows over 2, 3 and 4 metrics (attnkit.sim.pareto)."""

import time

import numpy as np

from attnkit.sim import pareto

N = 1_000_000


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run():
    rng = np.random.default_rng(2026)
    rows = []
    for k in (2, 3, 4):
        for kind in ("trade-off", "independent"):
            # trade-off: as sweeps are, a bigger array is faster and costs more of everything else (a big front);
            # with 4 metrics that front has ~20k rows and the block filter takes minutes: 100k rows there
            n = N // 10 if (k, kind) == (4, "trade-off") else N
            x = rng.random((n, k))
            if kind == "trade-off":
                x[:, 1:] = 1 - x[:, :1] + 0.3 * x[:, 1:]
            mask, s = _timed(lambda x=x: pareto.nondominated(x))
            rows.append(
                {
                    "name": f"pareto.nondominated, {n:,} rows, {k} metrics, {kind}",
                    "value": s,
                    "unit": "s",
                    "note": f"{int(mask.sum())} on the front",
                }
            )
    dicts = [
        {"point_id": str(i), "latency_s": a, "energy_pj": b, "area_mm2": c} for i, (a, b, c) in enumerate(x[:, :3])
    ]
    front, s = _timed(lambda: pareto.front(dicts, ["latency_s", "energy_pj", "area_mm2"]))
    rows.append(
        {
            "name": f"pareto.front on {N:,} result rows, 3 metrics",
            "value": s,
            "unit": "s",
            "note": f"{len(front)} on the front",
        }
    )
    return rows
