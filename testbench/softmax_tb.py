"""cocotb testbench for the RTL online softmax: every probability checked against
:func:`attnkit.models.softmax.softmax_edgemoe` on the block's formats (Edge-MoE's, through
:func:`attnkit.models.edgemoe_golden.softmax_params`).

``vectors`` counts probabilities (scores). Rows of 1 to 129 scores (129: M3ViT's
tokens) rotate through kinds so every run of a dozen rows has each: random
over the whole format, random over |s| < 8, all equal, ascending (a new
maximum every key), descending, with masked scores (the format's minimum
code), fully masked, the format's extremes (largest, smallest + 1, 0; their
differences saturate the exp input), scores around |s| = 5.5, and one score.

Each row streams twice (pass 1, then pass 2), as Edge-MoE streams the scores
in its Q x K and attention x V passes. The first half of the rows runs back
to back with the output always taken, and its cycle count is checked against
``sum(2 n + STATS_GAP) + LATENCY``; the second half has random input gaps
and output stalls (values checked, not cycles).
"""

from __future__ import annotations

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge, RisingEdge, Timer

from attnkit.params.edgemoe import RtlSoftmaxParams
from attnkit.hw.softmax import Softmax
from attnkit.models.softmax import softmax_edgemoe
from attnkit.testbench.harness import TbConfig, Watchdog, finish, start
from attnkit.testbench.scoreboard import Scoreboard

KINDS = ("wide", "narrow", "equal", "ascending", "descending", "masked", "all-masked", "extremes",
         "cutoff", "single", "wide-long", "narrow-long")


def row(p, k: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    f = p.numerics.in_fmt
    one = 1 << f.frac_bits
    kind = KINDS[k % len(KINDS)]
    n = {"single": 1, "wide-long": 129, "narrow-long": 129}.get(kind, int(rng.integers(2, 65)))
    if kind == "wide" or kind == "wide-long":
        s = rng.integers(f.min_raw + 1, f.max_raw + 1, n)
    elif kind in ("narrow", "narrow-long", "single"):
        s = rng.integers(-8 * one, 8 * one, n)
    elif kind == "equal":
        s = np.full(n, int(rng.integers(-8 * one, 8 * one)))
    elif kind == "ascending":
        s = np.sort(rng.integers(-16 * one, 16 * one, n))
    elif kind == "descending":
        s = np.sort(rng.integers(-16 * one, 16 * one, n))[::-1]
    elif kind == "masked":
        s = rng.integers(-8 * one, 8 * one, n)
        s[rng.random(n) < 0.3] = f.min_raw
    elif kind == "all-masked":
        s = np.full(n, f.min_raw)
    elif kind == "extremes":
        s = rng.choice(np.array([f.max_raw, f.min_raw + 1, 0, f.max_raw - 1, f.min_raw]), n)
    else:   # cutoff: scores around +-5.5 and their differences
        c = int(5.5 * one)
        s = rng.choice(np.array([c - 1, c, c + 1, -c, -c - 1, 0, 8 * one]), n)
    return np.asarray(s, np.int64), kind


@cocotb.test()
async def softmax_rows(dut):
    tb = TbConfig.from_env(RtlSoftmaxParams)
    p = tb.params
    unit = Softmax(p)
    W, PW = p.numerics.in_fmt.width, p.numerics.prob_fmt.width
    rng = np.random.default_rng(tb.seed)
    rows, kinds, total = [], [], 0
    while total < tb.vectors:
        s, kind = row(p, len(rows), rng)
        s = s[:tb.vectors - total]
        rows.append(s)
        kinds.append(kind)
        total += s.size
    expected = []
    for s in rows:
        y = softmax_edgemoe(s[None, :], p.numerics)[0]
        expected += [(int(v), int(j == s.size - 1)) for j, v in enumerate(y)]
    sb = Scoreboard("softmax", expected, log=dut._log)
    dut._log.info(f"softmax: {total} scores in {len(rows)} rows, seed {tb.seed}; gap {unit.STATS_GAP},"
                  f" latency {unit.LATENCY}")

    def beats(rs):
        out = []
        for s in rs:
            for pass2 in (0, 1):
                out += [(int(v) & ((1 << W) - 1), int(j == s.size - 1), pass2) for j, v in enumerate(s)]
        return out

    async def drive(bs, random_flow: bool, want_out: int):
        k, got, cycle, ins, outs = 0, 0, 0, [], []
        while k < len(bs) or got < want_out:   # a DUT that stops producing: the watchdog ends the test
            await FallingEdge(dut.clk)
            offer = k < len(bs) and (not random_flow or rng.random() < 0.7)
            ready = 1 if not random_flow else int(rng.random() < 0.7)
            s, last, pass2 = bs[k] if offer else (int(rng.integers(0, 1 << W)), 0, 0)
            dut.i__valid.value = int(offer)
            dut.i__payload.value = s | (last << W) | (pass2 << (W + 1))
            dut.o__ready.value = ready
            await Timer(1, "ns")
            if dut.o__valid.value and ready:
                v = int(dut.o__payload.value)
                pv = v & ((1 << PW) - 1)
                sb.check((pv - (1 << PW) if pv >> (PW - 1) else pv, (v >> PW) & 1), cycle=cycle)
                got += 1
                outs.append(cycle)
            if offer and dut.i__ready.value:
                ins.append(cycle)
                k += 1
            await RisingEdge(dut.clk)
            cycle += 1
        return ins, outs

    await start(dut, {"i__valid": 0, "i__payload": 0, "o__ready": 1})
    # a row's outputs come in its second pass: the longest gap is the longest row's cycles plus the latency
    watchdog = Watchdog(dut, tb, sb, expected_gap=max(unit.row_cycles(s.size) for s in rows) + unit.LATENCY)
    half = (len(rows) + 1) // 2
    first, second = rows[:half], rows[half:]
    ins, outs = await drive(beats(first), False, sum(s.size for s in first))
    cycles = (outs[-1] - ins[0] + 1) if ins and outs else 0
    predicted = sum(unit.row_cycles(s.size) for s in first) + unit.LATENCY
    await drive(beats(second), True, sum(s.size for s in second))
    watchdog.stop()
    sb.drop_pending()
    latency_errors = int(cycles != predicted)
    finish(dut, tb, sb, cycles=cycles, predicted_cycles=predicted, latency_errors=latency_errors,
           rows=len(rows), kinds={kd: kinds.count(kd) for kd in KINDS})
    assert latency_errors == 0, f"{half} rows back to back took {cycles} cycles, expected {predicted}"
