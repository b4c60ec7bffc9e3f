"""Decode engines (fa2, flashdecoding, lean): simulate time per point in closed form (the reproduction: bench_reproduce)."""

import dataclasses
import time

from attnkit.params import kinds
from attnkit.sim.energy import load_table
from attnkit.sim.engines.decode import ENGINES

POINTS = [(b, h, d, c) for b in (1, 16) for h in (32, 64) for d in (64, 128) for c in (1024, 65536, 524288)]


def _per_point(arch_name, engine):
    arch = kinds.load_arch(arch_name)
    table, base = load_table(arch.energy), kinds.load_workload("decode")
    fn = ENGINES[engine]
    ws = [dataclasses.replace(base, batch=b, heads=h, kv_heads=h, head_dim=d, context=c) for b, h, d, c in POINTS]
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        fn(arch, ws[n % len(ws)], table)
        n += 1
    return (time.perf_counter() - t0) / n


def run():
    rows = []
    for arch in ("a100", "fusemax-decode"):
        for engine in ENGINES:
            rows.append(
                {
                    "name": f"{engine} on {arch}, closed form, per point",
                    "value": _per_point(arch, engine) * 1e3,
                    "unit": "ms",
                    "note": "batch 1/16, 32/64 heads, dim 64/128, context 1K/64K/512K",
                }
            )
    return rows
