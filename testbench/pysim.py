"""A stream block in Amaranth's Python simulator: the cases of its bench through the same source and sink.

Used by the unit tests (bit- and cycle-exact without an HDL simulator) and by
``bench/bench_rtl_attention.py`` (cycles per second, against Verilator).
"""

from __future__ import annotations

import time

from amaranth.hdl import Value
from amaranth.sim import Simulator

from attnkit.testbench import streams


def run(bench, p, cases: list, component=None, max_cycles: int = 10**7) -> dict:
    """Run ``cases`` back to back on ``component`` (default: the bench's, built from ``p``).

    Returns traces (one :class:`~attnkit.testbench.streams.Trace` per case), total_cycles, wall_s and
    cycles_per_s; score them with :func:`attnkit.testbench.streams.score`."""
    dut = component if component is not None else bench.component(p)
    idle = streams.idle_beats(streams.width(bench.in_layout(p)))
    traces = []
    total = [0]
    i_payload, o_payload = Value.cast(dut.i.payload), Value.cast(dut.o.payload).as_unsigned()  # raw bits

    async def testbench(ctx):
        for case in cases:
            trace = streams.Trace()
            traces.append(trace)
            src, snk = streams.Source(case, idle, trace), streams.Sink(case, trace)
            c = 0
            while not (src.done and snk.done) and total[0] < max_cycles:
                ov = ctx.get(dut.o.valid)
                valid, payload = src.offer(c)
                r = snk.ready(c, ov)
                ctx.set(dut.i.valid, valid)
                ctx.set(i_payload, payload)
                ctx.set(dut.o.ready, r)
                snk.step(c, ov, r, ctx.get(o_payload) if ov and r else None)
                src.step(c, valid, ctx.get(dut.i.ready) if valid else 0)
                await ctx.tick()
                c += 1
                total[0] += 1
            trace.cycles = c

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    t0 = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - t0
    return {
        "traces": traces,
        "total_cycles": total[0],
        "wall_s": wall,
        "cycles_per_s": total[0] / wall if wall else 0.0,
    }
