"""cocotb testbench for the RTL GELU unit: every lane of every beat checked against :func:`attnkit.models.gelu.gelu`.

``vectors`` activations are packed ``lanes`` to a beat. Corner cases come
first (so every run has them): zero and one lsb either side, every table
knot ``i / 2^step_bits`` and its neighbours, ``|x|`` just below, at and beyond
the cutoff (5.5), up to the format's largest and smallest values. The rest
are random: half over the whole format, half over ``|x| < 8``.

Two phases: the first half of the beats streams back to back with the
output always taken, and its cycle count is checked against ``beats +
LATENCY``; the second half has random input gaps and output stalls
(values checked, not cycles). Every lane of every beat is checked, the
zeros padding the last beat too. They are the two cases of
:class:`GeluBench`, the block's definition for every driver
(:mod:`attnkit.testbench.streams`).
"""

from __future__ import annotations

import cocotb
import numpy as np
from amaranth.hdl import signed
from amaranth.lib import data

from attnkit.hw.gelu import Gelu
from attnkit.models.gelu import gelu
from attnkit.params.numerics import GeluParams
from attnkit.testbench import streams

P_FLOW = 0.3  # the random-flow case: the chance of an idle input cycle, and of o.ready low


def corners(p: GeluParams) -> np.ndarray:
    f = p.act_fmt
    one = 1 << f.frac_bits
    step = one >> p.step_bits
    cut = int(round(p.cutoff * one))
    knots = np.arange(p.table_size + 2, dtype=np.int64) * step
    base = np.concatenate(
        [
            knots - 1,
            knots,
            knots + 1,
            [0, 1, cut - 1, cut, cut + 1, cut + step, 6 * one, 8 * one, f.max_raw - 1, f.max_raw],
        ]
    )
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


class GeluBench(streams.Bench):
    """Beats of ``lanes`` activations in and out; two cases: back to back (cycles ``beats + LATENCY``), then
    random input gaps and output stalls (each cycle idle or stalled with ``P_FLOW``; values only)."""

    def component(self, p):
        return Gelu(p)

    def in_layout(self, p):
        return data.ArrayLayout(signed(p.numerics.act_fmt.width), p.lanes)

    out_layout = in_layout

    def cases(self, p, vectors, seed):
        g, L = p.numerics, p.lanes
        rng = np.random.default_rng(seed)
        x = stimulus(g, vectors, rng)
        nb = -(-x.size // L)
        x = np.concatenate([x, np.zeros(nb * L - x.size, np.int64)]).reshape(nb, L)  # the last beat padded with zeros
        want = [tuple(r) for r in gelu(x, g).tolist()]
        lay = self.in_layout(p)
        beats = [streams.pack(lay, r) for r in x.tolist()]
        half = (nb + 1) // 2
        steady = streams.Case(beats[:half], want[:half], "back-to-back", info=vectors)
        m = nb - half
        gaps = streams.gap_schedule(m, rng, P_FLOW)
        ready = streams.ready_bernoulli(2 * (m + sum(gaps)) + 8 + Gelu.LATENCY, rng, P_FLOW)
        return [steady] + (
            [streams.Case(beats[half:], want[half:], "random-flow", gaps=gaps, ready=ready)] if m else []
        )

    def predicted_cycles(self, p, case):
        return len(case.beats) + Gelu.LATENCY if case.kind == "back-to-back" else None

    def watchdog_gap(self, p, cases):
        # a beat leaves LATENCY cycles after it enters; the random flow stretches that by its gaps and stalls
        return Gelu.LATENCY + max(streams.flow_gap(c) for c in cases)

    def summary(self, p, cases, traces):
        vectors = cases[0].info
        return {
            "checked": min(vectors, p.lanes * sum(len(t.outputs) for t in traces)),
            "beats": sum(len(c.beats) for c in cases),
            "lanes": p.lanes,
        }


BENCHES = {"gelu": GeluBench()}


@cocotb.test()
async def gelu_vectors(dut):
    await streams.run_cocotb(dut, BENCHES["gelu"])
