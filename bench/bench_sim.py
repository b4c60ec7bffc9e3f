"""Simulator speed: GEMMs per second in closed form, and our time beside SCALE-Sim's for the same answers."""

import dataclasses
import time

from attnkit.params import kinds
from attnkit.sim import scalesim_bridge
from attnkit.sim.energy import load_table
from attnkit.sim.engines.gemm import simulate

# Same GEMMs for both simulators: SCALE-Sim's compute cycles must equal ours.
SIDE_BY_SIDE = [
    (32, 32, df, [(256, 256, 256), (512, 128, 300), (100, 700, 64), (1, 1024, 512)]) for df in ("os", "ws", "is")
]


def _per_second(fn, seconds=1.0):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn(n)
        n += 1
    return n / (time.perf_counter() - t0)


def run():
    arch, work = kinds.load_arch("systolic"), kinds.load_workload("gemm")
    table = load_table(arch.energy)
    shapes = [(m, n, k) for m in (64, 1000, 4096) for n in (128, 777) for k in (256, 3000)]

    def one(i, mode="closed"):
        m, n, k = shapes[i % len(shapes)]
        return simulate(arch, dataclasses.replace(work, m=m, n=n, k=k), table, mode=mode)

    rows = [
        {"name": "gemm engine, closed form (128x128 os, mixed shapes)", "value": _per_second(one), "unit": "GEMMs/s"}
    ]
    big = dataclasses.replace(work, m=1 << 20, n=1 << 14, k=1 << 14)
    t0 = time.perf_counter()
    r = simulate(arch, big, table)
    rows.append(
        {
            "name": "gemm engine, closed form, one 1M x 16K x 16K GEMM",
            "value": time.perf_counter() - t0,
            "unit": "s",
            "note": f"{r.extra['tiles']:,} tiles, {r.cycles:,} cycles",
        }
    )
    small = dataclasses.replace(work, m=256, n=256, k=256)
    arch_small = kinds.load_arch(arch, ["array_2d.rows=32", "array_2d.cols=32", "dram.bandwidth_bytes_per_s=4.0e+10"])
    rows.append(
        {
            "name": "gemm engine, event-driven (32x32, 256^3, 64 tiles)",
            "value": _per_second(lambda i: simulate(arch_small, small, table, mode="event"), 0.5),
            "unit": "GEMMs/s",
        }
    )

    if not scalesim_bridge.available():
        rows.append(
            {"name": "SCALE-Sim side by side", "value": 0, "unit": "-", "note": scalesim_bridge.missing_reason()}
        )
        return rows
    timing = {}
    theirs = scalesim_bridge.scalesim_cycles(SIDE_BY_SIDE, timing)
    t0 = time.perf_counter()
    ours, count = [], 0
    for rr, cc, df, gemms in SIDE_BY_SIDE:
        a = kinds.load_arch(arch, [f"array_2d.rows={rr}", f"array_2d.cols={cc}", f"array_2d.dataflow={df}"])
        got = []
        for m, n, k in gemms:
            got.append(simulate(a, dataclasses.replace(work, m=m, n=n, k=k), table).extra["compute_cycles"])
            count += 1
        ours.append(got)
    our_s = time.perf_counter() - t0
    same = ours == theirs
    rows += [
        {
            "name": f"SCALE-Sim, {count} GEMMs (32x32, os/ws/is)",
            "value": timing["seconds"],
            "unit": "s",
            "note": f"start-up excluded; {timing['wall_s']:.1f} s with it",
        },
        {
            "name": f"attnkit, the same {count} GEMMs, closed form",
            "value": our_s,
            "unit": "s",
            "note": "same compute cycles as SCALE-Sim on every GEMM" if same else "CYCLE COUNTS DIFFER",
        },
        {
            "name": "speed-up over SCALE-Sim for the same cycle counts",
            "value": timing["seconds"] / our_s if same else 0.0,
            "unit": "x",
            "note": "target >= 100x",
        },
    ]
    return rows
