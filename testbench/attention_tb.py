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

The block's definition for every driver is :class:`AttentionBench`
(:mod:`attnkit.testbench.streams`): the cocotb test below, ``rtl-test
attention --fast`` and Amaranth's simulator run it.
"""

from __future__ import annotations

import cocotb
import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from attnkit.models.attention import attention
from attnkit.params.rtl_attention import RtlAttentionParams
from attnkit.testbench import streams
from attnkit.testbench.coverage import AttentionCoverage, CoverageMonitor

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
        q[0, :] = f.max_raw  # the largest logits: saturation
        kk[: min(n, 3), :] = f.max_raw
        v[:, 0] = f.min_raw
        if n > 1:
            q[1, :] = 0  # an all-equal row of scores
        return q, kk, v, np.ones((n, n), bool), kind
    amp = [f.max_raw, f.max_raw >> 2, f.max_raw >> 4][k // len(KINDS) % 3]
    q, kk, v = (rng.integers(-amp - 1, amp + 1, (n, d)) for _ in range(3))
    v = rng.integers(f.min_raw, f.max_raw + 1, (n, d))
    mask = np.ones((n, n), bool)
    if kind == "random-mask":
        mask = rng.random((n, n)) < 0.7
    elif kind == "sparse-mask":
        mask = rng.random((n, n)) < 0.1
        mask[rng.integers(0, n)] = False  # a fully masked query row
        j0 = int(rng.integers(0, p.tiles_per_block)) * p.rows
        mask[:, j0 : j0 + p.rows] = False  # a fully masked key tile
    return q, kk, v, mask, kind


def row_layout(p: RtlAttentionParams):
    """An input beat: a row of d in_fmt values (Q, K or V), or a mask row of J R bits (True = keep)."""
    return data.UnionLayout(
        {
            "row": data.ArrayLayout(signed(p.in_width), p.head_dim),
            "mask": data.ArrayLayout(unsigned(1), p.tiles_per_block * p.rows),
        }
    )


def beats(p: RtlAttentionParams, q, k, v, mask) -> list[int]:
    """Q, K, V rows, then the mask rows (each padded to the port's J R bits)."""
    lay, pad = row_layout(p), [0] * (p.tiles_per_block * p.rows - p.seq_len)
    return [streams.pack(lay, {"row": r}) for x in (q, k, v) for r in x.tolist()] + [
        streams.pack(lay, {"mask": [int(b) for b in r] + pad}) for r in mask.tolist()
    ]


class AttentionBench(streams.EngineBench):
    """Problems of :func:`problem`, one case each; output rows of d out_fmt values; every problem takes the
    ``rtl-attention`` event prediction plus its output stalls (the engine freezes in a stall)."""

    P_STALL = P_STALL
    backpressure = staticmethod(backpressure)

    def component(self, p):
        from attnkit.hw.attention import AttentionEngine

        return AttentionEngine(p)

    def in_layout(self, p):
        return row_layout(p)

    def problem_case(self, p, k, rng):
        q, kk, v, mask, kind = problem(p, k, rng)
        want = attention(q, kk, v, p.numerics, mask=mask, causal=p.causal, tile_k=p.rows)
        return beats(p, q, kk, v, mask), [tuple(r) for r in want.tolist()], kind, (q, kk, v, mask)

    def predicted_cycles(self, p, case):
        from attnkit.sim.engines.rtl_attention import cycles as predict

        return predict(p, "event")

    def summary(self, p, cases, traces):
        n, d = p.seq_len, p.head_dim
        kinds = [c.kind for c in cases]
        return {
            "checked": len(traces),
            "elements": len(cases) * n * d,
            "causal": p.causal,
            "tiles": p.tiles,
            "tiles_unmasked": p.blocks * p.tiles_per_block,  # causal: the tiles skipped are the difference
            "kinds": {kd: kinds.count(kd) for kd in KINDS},
        }

    def monitor(self, p, dut):
        return _Monitor(p, dut)


class _Monitor(CoverageMonitor):
    """Coverage, and the array's busy counter (cycles a wave beat issued) per problem."""

    def __init__(self, p, dut):
        super().__init__(AttentionCoverage(p))
        self.p, self.dut, self.busy, self.before, self.spans = p, dut, [], 0, []

    def case_done(self, case, trace):
        super().case_done(case, trace)
        b = int(self.dut.busy_cycles.value)
        self.busy.append((b - self.before) % (1 << 32))
        self.before = b
        self.spans.append(trace.span - sum(trace.held))

    def result(self):
        p, busy = self.p, self.busy
        window = p.slots * p.head_dim
        return {
            "array_busy_cycles": busy[0] if busy else 0,
            "array_window_cycles": window,
            "steady_util_2d": (busy[0] / window) if busy else 0.0,
            "util_2d": p.mac_cycles_used() / (p.rows * p.cols * self.spans[0]) if self.spans else 0.0,
            **super().result(),
        }


BENCHES = {"attention": AttentionBench()}


@cocotb.test()
async def attention_problems(dut):
    await streams.run_cocotb(dut, BENCHES["attention"], period_ns=PERIOD_NS)
