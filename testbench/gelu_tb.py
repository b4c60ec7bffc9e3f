"""cocotb testbench for the RTL GELU unit: every lane of every beat checked against :func:`attnkit.models.gelu.gelu`.

``vectors`` activations are packed ``lanes`` to a beat. Corner cases come
first (so every run has them): zero and one lsb either side, every table
knot ``i / 2^step_bits`` and its neighbours, ``|x|`` just below, at and beyond
the cutoff (5.5), up to the format's largest and smallest values. The rest
are random: half over the whole format, half over ``|x| < 8``.

Two phases: the first half of the beats streams back to back with the
output always taken, and its cycle count is checked against ``beats +
LATENCY``; the second half has random input gaps and output stalls
(values checked, not cycles).
"""

from __future__ import annotations

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from attnkit.hw.gelu import Gelu
from attnkit.params.edgemoe import RtlGeluParams
from attnkit.params.numerics import GeluParams
from attnkit.models.gelu import gelu
from attnkit.testbench.harness import TbConfig, Watchdog, finish, start
from attnkit.testbench.scoreboard import Scoreboard


def corners(p: GeluParams) -> np.ndarray:
    f = p.act_fmt
    one = 1 << f.frac_bits
    step = one >> p.step_bits
    cut = int(round(p.cutoff * one))
    knots = np.arange(p.table_size + 2, dtype=np.int64) * step
    base = np.concatenate([knots - 1, knots, knots + 1,
                           [0, 1, cut - 1, cut, cut + 1, cut + step, 6 * one, 8 * one, f.max_raw - 1, f.max_raw]])
    vals = np.concatenate([base, -base, [f.min_raw, f.min_raw + 1, f.min_raw + 2]])
    return np.clip(vals, f.min_raw, f.max_raw).astype(np.int64)


def stimulus(p: GeluParams, n: int, rng: np.random.Generator) -> np.ndarray:
    f = p.act_fmt
    c = corners(p)
    rest = max(0, n - c.size)
    wide = rng.integers(f.min_raw, f.max_raw + 1, rest // 2)
    near = rng.integers(-8 << f.frac_bits, 8 << f.frac_bits, rest - rest // 2)
    x = np.concatenate([c, wide, near])[:n].astype(np.int64)
    return x


def pack(lanes: np.ndarray, w: int) -> int:
    mask = (1 << w) - 1
    return sum((int(v) & mask) << (w * k) for k, v in enumerate(lanes))


def unpack(value: int, lanes: int, w: int) -> tuple:
    out = []
    for k in range(lanes):
        v = (value >> (w * k)) & ((1 << w) - 1)
        out.append(v - (1 << w) if v >> (w - 1) else v)
    return tuple(out)


async def _run(dut, beats, rng, sb, L, W, vectors, first_beat, random_flow):
    """Stream ``beats``; each output lane is checked (beyond ``vectors`` the pad is not). Returns the
    cycle each beat went in and the cycle each result came out (relative to this phase's start)."""
    ins, outs = [], []
    k, j, cycle = 0, first_beat, 0
    n = len(beats)
    while k < n or len(outs) < n:   # a DUT that stops producing: the watchdog ends the test
        await FallingEdge(dut.clk)
        offer = k < n and (not random_flow or rng.random() < 0.7)
        ready = 1 if not random_flow else int(rng.random() < 0.7)
        dut.i__valid.value = int(offer)
        dut.i__payload.value = beats[k] if offer else int(rng.integers(0, 1 << 62))
        dut.o__ready.value = ready
        await Timer(1, "ns")   # the comb ready settles
        if dut.o__valid.value and ready:
            got = unpack(int(dut.o__payload.value), L, W)
            for lane, v in enumerate(got):
                if j * L + lane < vectors:
                    sb.check(v, beat=j, lane=lane, cycle=cycle)
            j += 1
            outs.append(cycle)
        if offer and dut.i__ready.value:
            ins.append(cycle)
            k += 1
        await RisingEdge(dut.clk)
        cycle += 1
    return ins, outs


@cocotb.test()
async def gelu_vectors(dut):
    tb = TbConfig.from_env(RtlGeluParams)
    p, g = tb.params, tb.params.numerics
    L, W = p.lanes, g.act_fmt.width
    rng = np.random.default_rng(tb.seed)
    x = stimulus(g, tb.vectors, rng)
    nb = -(-x.size // L)
    x = np.concatenate([x, np.zeros(nb * L - x.size, np.int64)]).reshape(nb, L)   # the last beat padded with zeros
    want = gelu(x, g)
    sb = Scoreboard("gelu", [int(v) for v in want.reshape(-1)[:tb.vectors]], log=dut._log)
    beats = [pack(row, W) for row in x]
    dut._log.info(f"gelu x{L}: {tb.vectors} activations in {nb} beats, seed {tb.seed}")

    await start(dut, {"i__valid": 0, "i__payload": 0, "o__ready": 1})
    # a beat leaves LATENCY cycles after it enters; the random-flow half only stretches that a little
    watchdog = Watchdog(dut, tb, sb, expected_gap=Gelu.LATENCY)
    half = (nb + 1) // 2
    ins, outs = await _run(dut, beats[:half], rng, sb, L, W, tb.vectors, 0, random_flow=False)
    cycles = (outs[-1] - ins[0] + 1) if ins and len(outs) == half else 0
    predicted = half + Gelu.LATENCY
    await _run(dut, beats[half:], rng, sb, L, W, tb.vectors, half, random_flow=True)
    watchdog.stop()
    sb.drop_pending()
    latency_errors = int(cycles != predicted)
    finish(dut, tb, sb, cycles=cycles, predicted_cycles=predicted, latency_errors=latency_errors,
           beats=nb, lanes=L)
    assert latency_errors == 0, f"{half} back-to-back beats took {cycles} cycles, expected {predicted}"
