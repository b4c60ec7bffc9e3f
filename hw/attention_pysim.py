"""The RTL attention engine in Amaranth's Python simulator: same stimulus and cycle count as the cocotb testbench.

Used by the unit tests (bit-exact and cycle-exact without an HDL simulator)
and by ``bench/bench_rtl_attention.py`` (cycles per second, against Verilator).
"""

from __future__ import annotations

import time

import numpy as np
from amaranth.sim import Simulator

from attnkit.hw.attention import AttentionEngine
from attnkit.params.rtl_attention import RtlAttentionParams


def run(p: RtlAttentionParams, problems: list, max_cycles: int = 10**7) -> dict:
    """Run ``problems`` (lists of ``(q, k, v, mask)``, raw ints) back to back.

    Returns the output rows of each problem, its cycle count (from the cycle
    its first input row is taken to the cycle its last output row is taken,
    both included) and the simulated cycles per wall-clock second.
    """
    from attnkit.testbench.attention_tb import beats, unpack

    dut = AttentionEngine(p)
    d, n, ow = p.head_dim, p.seq_len, p.numerics.out_fmt.width
    outs, cycles = [], []
    total = [0]

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        cyc = 0                      # the cycle being driven (edges seen so far)
        for q, k, v, mask in problems:
            while not ctx.get(dut.i.ready):
                await ctx.tick()
                cyc += 1
            first = cyc
            ctx.set(dut.i.valid, 1)
            for b in beats(p, q, k, v, mask):
                ctx.set(dut.i.p, b)
                await ctx.tick()
                cyc += 1
            ctx.set(dut.i.valid, 0)
            rows = []
            while len(rows) < n and cyc < max_cycles:
                if ctx.get(dut.o.valid):
                    rows.append(unpack(ctx.get(dut.o.p), d, ow))
                    last = cyc
                await ctx.tick()
                cyc += 1
            outs.append(np.array(rows, np.int64).reshape(-1, d))
            cycles.append(last - first + 1 if rows else 0)
        total[0] = cyc

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    t0 = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - t0
    return {"outputs": outs, "cycles": cycles, "total_cycles": total[0], "wall_s": wall,
            "cycles_per_s": total[0] / wall if wall else 0.0}
