"""cocotb testbench for the MAC PE: random and corner-case streams, checked bit for bit."""

from __future__ import annotations

from dataclasses import dataclass

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

from attnkit.models.mac import mac
from attnkit.params.numerics import MacParams
from attnkit.testbench.harness import TbConfig, Watchdog, finish, start
from attnkit.testbench.scoreboard import Scoreboard


@dataclass
class MacStimulus:
    a: np.ndarray  # raw operands
    b: np.ndarray
    first: np.ndarray  # starts an accumulation
    idle: np.ndarray  # idle cycles (valid low, operands random) before each input


def stimulus(p: MacParams, n: int, rng: np.random.Generator) -> MacStimulus:
    """Corner cases first (so they are in every run), then random accumulations with gaps. When ``n``
    leaves room for every operand pair (2^(2 x width) of them), the rest starts with all of them, in a
    seeded random order, so the multiplier is checked over its whole input space."""
    lo, hi = p.in_fmt.min_raw, p.in_fmt.max_raw
    run = 48  # long enough to drive any accumulator of <= 2x the input width past its limit
    corner = [(lo, lo), (lo, hi), (hi, hi), (0, 0), (lo, 0), (hi, lo)]
    a = np.concatenate([np.full(run, x) for x, _ in corner] + [np.array([lo, hi, 0, -1, 1])])
    b = np.concatenate([np.full(run, y) for _, y in corner] + [np.array([lo, hi, 0, -1, 1])])
    lengths = [run] * len(corner) + [5]
    rest = max(0, n - a.size)
    span = hi - lo + 1
    if rest >= span * span:
        pairs = rng.permutation(span * span)
        ra = np.concatenate([lo + pairs // span, rng.integers(lo, hi + 1, rest - pairs.size)])
        rb = np.concatenate([lo + pairs % span, rng.integers(lo, hi + 1, rest - pairs.size)])
    else:
        ra, rb = rng.integers(lo, hi + 1, rest), rng.integers(lo, hi + 1, rest)
    a = np.concatenate([a, ra])[:n]
    b = np.concatenate([b, rb])[:n]
    while sum(lengths) < n:
        lengths.append(int(rng.integers(1, 33)))
    starts = np.cumsum([0] + lengths[:-1])
    first = np.zeros(n, bool)
    first[starts[starts < n]] = True
    idle = np.where(rng.random(n) < 0.2, rng.integers(1, 4, n), 0)
    idle[0] = 0
    return MacStimulus(a.astype(np.int64), b.astype(np.int64), first, idle)


@cocotb.test()
async def mac_vectors(dut):
    tb = TbConfig.from_env(MacParams)
    p = tb.params
    rng = np.random.default_rng(tb.seed)
    s = stimulus(p, tb.vectors, rng)
    expected = mac(s.a, s.b, s.first, p)
    sb = Scoreboard("acc", expected.tolist(), log=dut._log)
    in_cycle = np.cumsum(s.idle + 1) - 1
    out_cycles = []
    lo, hi = p.in_fmt.min_raw, p.in_fmt.max_raw

    await start(dut, {"a": 0, "b": 0, "valid": 0, "first": 0})
    # outputs follow their inputs by `pipeline` cycles: the longest gap is the longest idle run plus that;
    # a PE that stops producing fails there (the loop itself waits for every output)
    watchdog = Watchdog(dut, tb, sb, expected_gap=int(s.idle.max(initial=0)) + 1 + p.pipeline)
    k, cycle = 0, 0
    while k < s.a.size or sb.pending:
        await RisingEdge(dut.clk)
        if k < s.a.size and in_cycle[k] == cycle:
            dut.a.value, dut.b.value = int(s.a[k]), int(s.b[k])
            dut.first.value, dut.valid.value = int(s.first[k]), 1
            k += 1
        else:  # a gap: operands and first are garbage the PE must ignore
            dut.a.value, dut.b.value = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
            dut.first.value, dut.valid.value = int(rng.integers(0, 2)), 0
        await FallingEdge(dut.clk)  # mid-cycle: registered outputs have settled
        if dut.acc_valid.value:
            sb.check(dut.acc.value.to_signed(), cycle=cycle)
            out_cycles.append(cycle)
        cycle += 1
    watchdog.stop()

    n_out = min(len(out_cycles), s.a.size)
    latency = np.asarray(out_cycles[:n_out]) - in_cycle[:n_out]
    latency_errors = int(np.count_nonzero(latency != p.pipeline))
    finish(
        dut,
        tb,
        sb,
        cycles=(out_cycles[-1] - int(in_cycle[0]) + 1) if out_cycles else 0,
        predicted_cycles=int(in_cycle[-1] - in_cycle[0]) + 1 + p.pipeline,
        latency_errors=latency_errors,
        operand_pairs_covered=len(set(zip(s.a.tolist(), s.b.tolist()))) / (hi - lo + 1) ** 2,
    )
    assert latency_errors == 0, f"{latency_errors} outputs did not appear {p.pipeline} cycles after their input"
