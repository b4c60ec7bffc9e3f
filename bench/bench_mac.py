"""The MAC PE: cycles per second under Verilator (cocotb) and Amaranth's Python simulator, side by side."""

import tempfile
import time

import numpy as np
from amaranth.sim import Simulator

from attnkit.hw.mac import Mac
from attnkit.params.numerics import MacParams
from attnkit.testbench import runner


def amaranth_cycles_per_s(cycles: int = 20_000) -> float:
    p = MacParams()
    dut = Mac(p)
    rng = np.random.default_rng(0)
    a = rng.integers(p.in_fmt.min_raw, p.in_fmt.max_raw + 1, cycles).tolist()

    async def bench(ctx):
        for i in range(cycles):
            ctx.set(dut.a, a[i])
            ctx.set(dut.b, a[-i])
            ctx.set(dut.valid, 1)
            await ctx.tick()
            ctx.get(dut.acc)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    t0 = time.perf_counter()
    sim.run()
    return cycles / (time.perf_counter() - t0)


def run():
    with tempfile.TemporaryDirectory() as tmp:
        runner.run("mac", vectors=100, seed=1, build_root=tmp)  # build outside the timing
        r = runner.run("mac", vectors=50_000, seed=1, build_root=tmp)
    veri = r["cycles"] / r["run_s"]
    ama = amaranth_cycles_per_s()
    return [
        {
            "name": "mac: cocotb + Verilator, Python drives each cycle",
            "value": veri,
            "unit": "cycles/s",
            "note": f"{r['cycles']} cycles incl. simulator start-up",
        },
        {"name": "mac: Amaranth Python simulator", "value": ama, "unit": "cycles/s"},
        {"name": "mac: Verilator / Amaranth", "value": veri / ama, "unit": "x"},
    ]
