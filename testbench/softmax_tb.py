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
and output stalls (values checked, not cycles). They are the two cases of
:class:`SoftmaxBench`, the block's definition for every driver
(:mod:`attnkit.testbench.streams`); the payloads are the component's
``lib.data`` layouts.
"""

from __future__ import annotations

import cocotb
import numpy as np

from attnkit.hw.softmax import Softmax
from attnkit.models.softmax import softmax_edgemoe
from attnkit.testbench import streams

P_FLOW = 0.3  # the random-flow case: the chance of an idle input cycle, and of o.ready low

KINDS = (
    "wide",
    "narrow",
    "equal",
    "ascending",
    "descending",
    "masked",
    "all-masked",
    "extremes",
    "cutoff",
    "single",
    "wide-long",
    "narrow-long",
)


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
    else:  # cutoff: scores around +-5.5 and their differences
        c = int(5.5 * one)
        s = rng.choice(np.array([c - 1, c, c + 1, -c, -c - 1, 0, 8 * one]), n)
    return np.asarray(s, np.int64), kind


class SoftmaxBench(streams.Bench):
    """Rows of :func:`row` streamed twice each (``pass2``, ``last``); two cases: the first half of the rows
    back to back (cycles ``sum(2 n + STATS_GAP) + LATENCY``), then the rest with random input gaps and
    output stalls (each cycle idle or stalled with ``P_FLOW``; values only)."""

    def component(self, p):
        return streams.inspected(Softmax(p))

    def cases(self, p, vectors, seed):
        rng = np.random.default_rng(seed)
        rows, kinds, total = [], [], 0
        while total < vectors:
            s, kind = row(p, len(rows), rng)
            s = s[: vectors - total]
            rows.append(s)
            kinds.append(kind)
            total += s.size
        lay = self.in_layout(p)

        def case(rs, kind, **flow):
            want, beats = [], []
            for s in rs:
                y = softmax_edgemoe(s[None, :], p.numerics)[0]
                want += [(int(v), int(j == s.size - 1)) for j, v in enumerate(y)]
                beats += [
                    streams.pack(lay, (int(v), int(j == s.size - 1), pass2))
                    for pass2 in (0, 1)
                    for j, v in enumerate(s)
                ]
            return streams.Case(beats, want, kind, info={"rows": [s.size for s in rs], "kinds": kinds}, **flow)

        half = (len(rows) + 1) // 2
        out = [case(rows[:half], "back-to-back")]
        if rows[half:]:
            m = 2 * sum(s.size for s in rows[half:])
            gaps = streams.gap_schedule(m, rng, P_FLOW)
            span = m + sum(gaps) + sum(self.component(p).row_cycles(s.size) for s in rows[half:])
            out.append(
                case(rows[half:], "random-flow", gaps=gaps, ready=streams.ready_bernoulli(2 * span + 8, rng, P_FLOW))
            )
        return out

    def predicted_cycles(self, p, case):
        if case.kind != "back-to-back":
            return None
        unit = self.component(p)
        return sum(unit.row_cycles(n) for n in case.info["rows"]) + unit.LATENCY

    def watchdog_gap(self, p, cases):
        # a row's outputs come in its second pass: the longest gap is the longest row's cycles plus the latency
        unit = self.component(p)
        return (
            max(unit.row_cycles(n) for c in cases for n in c.info["rows"])
            + unit.LATENCY
            + max(streams.flow_gap(c) for c in cases)
        )

    def summary(self, p, cases, traces):
        kinds = cases[0].info["kinds"]
        return {"rows": len(kinds), "kinds": {kd: kinds.count(kd) for kd in KINDS}}


BENCHES = {"softmax": SoftmaxBench()}


@cocotb.test()
async def softmax_rows(dut):
    await streams.run_cocotb(dut, BENCHES["softmax"])
