"""cocotb testbench for the RTL attention engine: random attention problems, every output element
checked against the golden 1-pass cascade, and the cycles of each problem against the simulator.

``vectors`` is the number of problems. They rotate through four kinds so any
run of four or more has each: no mask, a random mask, a sparse mask with
fully masked query rows and key tiles, and corner values (every input at the
format's extremes, so logits saturate, and all-equal rows). Inputs are driven
one row per cycle and outputs sampled only while rows come out, so Python
does not run every cycle of the compute.

From problem ``BACKPRESSURE_FROM`` on, every other round of the four kinds
drops ``o.ready`` at random (``P_STALL`` of the cycles a row is offered; its
own generator, so the problems are those of a run without it). The engine
freezes in a stall cycle, so such a problem takes its predicted cycles plus
its stall cycles; ``cycles_per_problem`` counts cycles less stalls. The
functional coverage of :mod:`attnkit.testbench.coverage` is sampled on every
problem and reported as ``coverage`` (per point: bins hit, declared, hits).
"""

from __future__ import annotations

import time

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from attnkit.params.rtl_attention import RtlAttentionParams
from attnkit.models.attention import attention
from attnkit.testbench.coverage import AttentionCoverage, summary
from attnkit.testbench.harness import TbConfig, Watchdog, finish, start
from attnkit.testbench.scoreboard import Scoreboard

PERIOD_NS = 10
KINDS = ("plain", "random-mask", "sparse-mask", "corners")
BACKPRESSURE_FROM, P_STALL = len(KINDS), 0.3


def backpressure(k: int) -> bool:
    """Problem ``k`` runs with ``o.ready`` dropped at random (every other round of the kinds)."""
    return k >= BACKPRESSURE_FROM and (k // len(KINDS)) % 2 == 1


def problem(p: RtlAttentionParams, k: int, rng: np.random.Generator):
    """Q, K, V (raw in_fmt, N x d), mask (N x N bool, True = keep) and the kind of problem ``k``."""
    n, d, f = p.seq_len, p.head_dim, p.numerics.in_fmt
    kind = KINDS[k % len(KINDS)]
    if kind == "corners":
        pick = rng.integers(0, 3, (3, n, d))
        vals = np.array([f.min_raw, f.max_raw, 0])
        q, kk, v = (vals[x] for x in pick)
        q[0, :] = f.max_raw          # the largest logits: saturation
        kk[: min(n, 3), :] = f.max_raw
        v[:, 0] = f.min_raw
        if n > 1:
            q[1, :] = 0              # an all-equal row of scores
        return q, kk, v, np.ones((n, n), bool), kind
    amp = [f.max_raw, f.max_raw >> 2, f.max_raw >> 4][k // len(KINDS) % 3]
    q, kk, v = (rng.integers(-amp - 1, amp + 1, (n, d)) for _ in range(3))
    v = rng.integers(f.min_raw, f.max_raw + 1, (n, d))
    mask = np.ones((n, n), bool)
    if kind == "random-mask":
        mask = rng.random((n, n)) < 0.7
    elif kind == "sparse-mask":
        mask = rng.random((n, n)) < 0.1
        mask[rng.integers(0, n)] = False                      # a fully masked query row
        j0 = int(rng.integers(0, p.tiles_per_block)) * p.rows
        mask[:, j0:j0 + p.rows] = False                      # a fully masked key tile
    return q, kk, v, mask, kind


def beats(p: RtlAttentionParams, q, k, v, mask) -> list[int]:
    w = p.in_width
    lo = (1 << w) - 1

    def row(r):
        return sum((int(x) & lo) << (w * i) for i, x in enumerate(r))

    def mrow(r):
        return sum(1 << i for i, b in enumerate(r) if b)

    return [row(r) for r in q] + [row(r) for r in k] + [row(r) for r in v] + [mrow(r) for r in mask]


def unpack(value: int, d: int, w: int) -> list[int]:
    out = []
    for i in range(d):
        x = (value >> (w * i)) & ((1 << w) - 1)
        out.append(x - (1 << w) if x >> (w - 1) else x)
    return out


@cocotb.test()
async def attention_problems(dut):
    from attnkit.sim.engines.rtl_attention import cycles as predict

    tb = TbConfig.from_env(RtlAttentionParams)
    p = tb.params
    n, d, ow = p.seq_len, p.head_dim, p.numerics.out_fmt.width
    rng = np.random.default_rng(tb.seed)
    predicted = predict(p, "event")
    dut._log.info(f"attention {p.rows}x{p.cols}, d={d}, N={n}, causal={p.causal}: {tb.vectors} problems,"
                  f" seed {tb.seed}, predicted {predicted} cycles each")

    await start(dut, {"i__valid": 0, "i__payload": 0, "o__ready": 1})
    sb = Scoreboard("out", [], log=dut._log)   # one item per output row
    # a problem's first row comes at most `predicted` cycles after the previous problem's last
    watchdog = Watchdog(dut, tb, sb, expected_gap=predicted, period_ns=PERIOD_NS)
    latency_errors = total_stalls = 0
    cov, ready_rng = AttentionCoverage(p), np.random.default_rng([tb.seed, 1])
    cycle_counts, kinds, busy_counts = [], [], []
    busy_before = 0
    model_s, t_start = 0.0, time.perf_counter()
    for k in range(tb.vectors):
        t0 = time.perf_counter()
        q, kk, v, mask, kind = problem(p, k, rng)
        want = attention(q, kk, v, p.numerics, mask=mask, causal=p.causal, tile_k=p.rows)
        cov.problem(q, kk, v, mask)
        sb.expect(tuple(row) for row in want.tolist())
        stream = beats(p, q, kk, v, mask)
        model_s += time.perf_counter() - t0
        await FallingEdge(dut.clk)
        while not dut.i__ready.value:
            await FallingEdge(dut.clk)
        dut.i__valid.value = 1
        t_first = None
        for b in stream:           # the engine takes one row per cycle while loading
            dut.i__payload.value = b
            await RisingEdge(dut.clk)
            if t_first is None:
                t_first = get_sim_time("ns")
        await FallingEdge(dut.clk)
        dut.i__valid.value = 0
        rows, t_last, stalls, bp = 0, t_first, 0, backpressure(k)
        while rows < n:            # the watchdog ends the test if rows stop coming
            if not dut.o__valid.value:
                await RisingEdge(dut.o__valid)
                await FallingEdge(dut.clk)
                continue
            if bp and ready_rng.random() < P_STALL:   # the row waits: the engine freezes this cycle
                dut.o__ready.value = 0
                stalls += 1
                await FallingEdge(dut.clk)
                continue
            dut.o__ready.value = 1
            sb.check(tuple(unpack(int(dut.o__payload.value), d, ow)), problem=k, kind=kind, row=rows)
            rows += 1
            t_last = get_sim_time("ns") + PERIOD_NS // 2       # taken at the next rising edge
            await FallingEdge(dut.clk)
        cyc = int(round((t_last - t_first) / PERIOD_NS)) + 1 - stalls
        cycle_counts.append(cyc)
        kinds.append(kind)
        latency_errors += cyc != predicted
        total_stalls += stalls
        cov.output(stalls)
        busy = int(dut.busy_cycles.value)
        busy_counts.append((busy - busy_before) % (1 << 32))
        busy_before = busy

    watchdog.stop()
    sim_s = time.perf_counter() - t_start - model_s   # wall time in the simulator (and the drive loop)
    R, C = p.rows, p.cols
    window = p.slots * d
    finish(dut, tb, sb, checked=tb.vectors, cycles=cycle_counts[0] if cycle_counts else 0,
           predicted_cycles=predicted, latency_errors=latency_errors,
           cycles_per_problem=sorted(set(cycle_counts)), elements=tb.vectors * n * d, causal=p.causal,
           tiles=p.tiles, tiles_unmasked=p.blocks * p.tiles_per_block,   # causal: the tiles skipped are the difference
           kinds={kd: kinds.count(kd) for kd in KINDS},
           array_busy_cycles=busy_counts[0] if busy_counts else 0, array_window_cycles=window,
           steady_util_2d=(busy_counts[0] / window) if busy_counts else 0.0,
           util_2d=p.mac_cycles_used() / (R * C * cycle_counts[0]) if cycle_counts else 0.0,
           sim_wall_s=round(sim_s, 4), model_wall_s=round(model_s, 4), output_stalls=total_stalls,
           coverage=cov.report(), coverage_total=summary(cov.report()))
    assert latency_errors == 0, f"cycles {sorted(set(cycle_counts))} but the simulator predicts {predicted}"
