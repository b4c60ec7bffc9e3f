"""cocotb testbench shared by the fixed-latency stream function units (``exp``, ``recip``).

A unit here is a block whose component has ``i: In(stream.Signature(in_fmt))``,
``o: Out(stream.Signature(out_fmt))`` and a ``LATENCY`` (cycles from an input
taken to its output offered, :mod:`attnkit.hw.pipeline`), and whose golden
model maps raw inputs to raw outputs element by element. Adding a unit is one
entry in :data:`UNITS` (the block name, which is the Verilog top's name, and
its golden function); the block's testbench module is this one.

Stimulus: when ``vectors >= 2^in_fmt.width`` every input of the format, once
each, in a seeded random order (``exhaustive: true`` in the result;
``space_covered`` is the share of the input space checked);
otherwise corner cases (the format's limits and their neighbours, 0, +-1,
+-2^k and +-2^k +- 1 for every bit k) followed by uniform random inputs.
The inputs run in three phases, each starting with the pipeline empty:

1. ``gaps``: random idle cycles between inputs, the output always taken
   (40% of the inputs, or all but ``2 x STALLED_MAX``).
   Every input's accept cycle and every output's cycle is predicted from the
   schedule (``accept + LATENCY``).
2. ``backpressure`` (30%, at most ``STALLED_MAX``): inputs offered back to
   back, ``o.ready`` low in random bursts.
   Predicted too: after the fill, the pipeline stays full, so output ``j``
   leaves on the ``j``-th ready cycle from ``LATENCY`` on and input ``k``
   enters beside output ``k - LATENCY``.
3. ``mixed`` (as many): gaps and back-pressure together (bubbles may close up, so
   cycles are not predicted; latencies are bounded).

Checked: every output bit for bit in order (:class:`Scoreboard`); every
output's latency (from the cycle its input was taken to the cycle it is first
offered) equals ``LATENCY`` when no output stall fell in between, and lies in
``[LATENCY, LATENCY + stalls in between]`` otherwise; in phases 1 and 2 each
accept and output cycle equals its prediction (``timing_errors``); no output
comes while no input is outstanding (``early_outputs``).
``cycles`` and ``predicted_cycles`` sum phases 1 and 2 (less output stalls).
A watchdog fails a run with no output for twice the longest expected wait
(the latency, the longest gap and the longest stall) plus 1000 cycles, in one
line naming the unit, the seed, the cycle and the output it was waiting for.

The phases are the cases of :class:`UnitBench`, the units' definition for
every driver (:mod:`attnkit.testbench.streams`: the generic cocotb test, the
C++ harness of ``rtl-test --fast``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

import cocotb
import numpy as np

from attnkit.hw import blocks
from attnkit.testbench import streams


@dataclass(frozen=True)
class Unit:
    golden: Callable  # (raw inputs int64 array, params) -> raw outputs
    in_fmt: Callable = lambda p: p.in_fmt
    out_fmt: Callable = lambda p: p.out_fmt


def _exp(x, p):
    from attnkit.models.exp import exp

    return exp(x, p)


def _recip(x, p):
    from attnkit.models.recip import recip

    return recip(x, p)


UNITS = {"exp": Unit(_exp), "recip": Unit(_recip)}

P_GAP, P_STALL = 0.1, 0.25  # chance of an idle gap before an input; share of cycles with o.ready low
STALLED_MAX = 8192  # inputs in each of the phases with back-pressure


def corners(fmt) -> np.ndarray:
    """The format's limits and neighbours, 0, +-1, +-2 and +-2^k (+-1) for every bit, in range, once each."""
    lo, hi = fmt.min_raw, fmt.max_raw
    v = [lo, lo + 1, lo + 2, hi, hi - 1, hi - 2, 0, -1, 1, -2, 2]
    for k in range(fmt.width):
        for s in (1, -1):
            v += [s * (1 << k), s * (1 << k) - 1, s * (1 << k) + 1]
    v = [x for x in v if lo <= x <= hi]
    return np.asarray(list(dict.fromkeys(v)), np.int64)


def inputs(fmt, n: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """``n`` raw inputs and whether they are the whole input space."""
    space = 1 << fmt.width
    if n >= space:
        return rng.permutation(np.arange(fmt.min_raw, fmt.max_raw + 1, dtype=np.int64)), True
    c = corners(fmt)[:n]
    return np.concatenate([c, rng.integers(fmt.min_raw, fmt.max_raw + 1, n - c.size)]), False


def gap_schedule(n: int, rng: np.random.Generator) -> np.ndarray:
    g = np.where(rng.random(n) < P_GAP, rng.integers(1, 5, n), 0)
    if n:
        g[0] = 0
    return g


def ready_schedule(cycles: int, rng: np.random.Generator) -> np.ndarray:
    """``o.ready`` per cycle: runs high and low of random length (mean low run 3 cycles), low a
    ``P_STALL`` share of the time; bursts, as a busy consumer stalls."""
    low_mean = 3.0
    high_mean = low_mean * (1 - P_STALL) / P_STALL
    out, level, total = [], 1, 0
    while total < cycles:
        out.append(np.full(int(rng.geometric(1 / (high_mean if level else low_mean))), level, np.int64))
        total += out[-1].size
        level ^= 1
    return np.concatenate(out)[:cycles] if out else np.ones(0, np.int64)


def predict_gaps(gaps: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Accept and output cycles with the output always taken: item ``k`` enters ``gaps[k]`` idle
    cycles after item ``k - 1`` and leaves ``L`` cycles after it entered."""
    acc = np.cumsum(gaps + 1) - 1
    return acc, acc + L


def predict_backpressure(n: int, ready: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs offered back to back against ``ready`` (1 beyond its end): the first ``L`` enter in
    cycles 0..L-1 (nothing is offered yet); from cycle ``L`` on the pipeline is full and moves only
    on ready cycles, so output ``j`` leaves on the ``j``-th ready cycle at or after ``L`` and input
    ``k >= L`` enters in the cycle output ``k - L`` leaves."""
    cyc = np.flatnonzero(ready[L:]) + L
    if cyc.size < n:
        cyc = np.concatenate([cyc, np.arange(n - cyc.size) + max(ready.size, L)])
    out = cyc[:n]
    acc = np.concatenate([np.arange(min(n, L)), out[: max(0, n - L)]])
    return acc, out


def latency_errors(acc, offered, stalls, L: int) -> int:
    """Outputs whose latency is not ``L`` with no stall since their input, or outside
    ``[L, L + stalls since their input]``."""
    bad = 0
    for a, o in zip(acc, offered):
        s = bisect.bisect_left(stalls, o) - bisect.bisect_left(stalls, a)
        lat = o - a
        bad += (lat != L) if s == 0 else not (L <= lat <= L + s)
    return bad


def early_outputs(accepted, taken) -> int:
    """Outputs taken while no input was outstanding (inputs accepted in earlier cycles, fewer than outputs)."""
    return sum(j >= bisect.bisect_left(accepted, t) for j, t in enumerate(taken))


class UnitBench(streams.Bench):
    """A fixed-latency unit as a stream bench: the three phases are three cases."""

    def __init__(self, name: str, unit: Unit):
        self.name, self.unit = name, unit

    def component(self, p):
        return blocks.get(self.name).component(p)

    def latency(self, p) -> int:
        L = streams.inspected(self.component(p)).LATENCY
        assert L >= 1, f"{self.name}: a stream unit here has registered outputs (LATENCY >= 1), got {L}"
        return L

    def cases(self, p, vectors, seed):
        fin = self.unit.in_fmt(p)
        rng = np.random.default_rng(seed)
        x, exhaustive = inputs(fin, vectors, rng)
        want = np.asarray(self.unit.golden(x, p), np.int64).tolist()
        rng.integers(0, 1 << fin.width, 64)  # drawn here once for idle payloads: the schedules stay the seed's
        n, L, lay = x.size, self.latency(p), self.in_layout(p)
        # 30% of the inputs each to the stalled phases, at most STALLED_MAX: a long exhaustive run streams
        # mostly in phase 1, where a cycle costs least
        share = min((3 * n) // 10, STALLED_MAX)
        cut1, cut2 = n - 2 * share, n - share
        out = []
        for phase, sl in {"gaps": slice(0, cut1), "backpressure": slice(cut1, cut2), "mixed": slice(cut2, n)}.items():
            xs = x[sl]
            m = xs.size
            gaps = gap_schedule(m, rng) if phase != "backpressure" else np.zeros(m, np.int64)
            span = int(m + gaps.sum()) + L
            ready = ready_schedule(2 * span + 8, rng).tolist() if phase != "gaps" else None
            if m:
                out.append(
                    streams.Case(
                        [streams.pack(lay, v) for v in xs.tolist()],
                        want[sl],
                        phase,
                        gaps=gaps.tolist(),
                        ready=ready,
                        info={"exhaustive": exhaustive, "x": x},
                    )
                )
        return out

    def predicted_cycles(self, p, case):
        if case.kind == "mixed":  # bubbles may close up: latencies bounded, cycles not predicted
            return None
        return len(case.beats) + sum(case.gaps) + self.latency(p)

    def watchdog_gap(self, p, cases):
        return self.latency(p) + max(streams.flow_gap(c) for c in cases) + 1

    def checks(self, p, case, trace):
        L = self.latency(p)
        stalls = [c for t, h in zip(trace.taken, trace.held) for c in range(t - h, t)]
        offered = [t - h for t, h in zip(trace.taken, trace.held)]
        timing = 0
        if case.kind != "mixed":
            m = len(case.beats)
            pa, pd = (
                predict_gaps(np.asarray(case.gaps), L)
                if case.kind == "gaps"
                else predict_backpressure(m, np.asarray(case.ready, np.int64), L)
            )
            if len(trace.accepted) == len(trace.taken) == m:
                timing = int(np.count_nonzero((np.asarray(trace.accepted) != pa) | (np.asarray(trace.taken) != pd)))
            else:
                timing = m
        return {
            "latency_errors": latency_errors(trace.accepted, offered, stalls, L),
            "timing_errors": timing,
            "early_outputs": early_outputs(trace.accepted, trace.taken),
        }

    def summary(self, p, cases, traces):
        fin, x = self.unit.in_fmt(p), cases[0].info["x"]
        return {
            "latency": self.latency(p),
            "exhaustive": cases[0].info["exhaustive"],
            "input_space": 1 << fin.width,
            "space_covered": np.unique(x).size / (1 << fin.width),
            "stalls": sum(sum(t.held) for t in traces),
            "gap_cycles": sum(sum(c.gaps) for c in cases),
            "phase_cycles": {c.kind: t.cycles for c, t in zip(cases, traces)},
        }


BENCHES = {name: UnitBench(name, unit) for name, unit in UNITS.items()}


@cocotb.test()
async def unit_vectors(dut):
    name = dut._name
    assert name in BENCHES, (
        f"block {name!r} has no entry in attnkit.testbench.unit_tb.UNITS (known: {', '.join(UNITS)})"
    )
    await streams.run_cocotb(dut, BENCHES[name])
