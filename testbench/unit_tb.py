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
``cycles`` and ``predicted_cycles`` sum phases 1 and 2. A watchdog ends a
phase at ``2 x its bound + 100`` cycles and fails in one line naming the unit,
the seed, the cycle and the output it was waiting for.

The clock runs in the simulator. Python acts once a cycle, after the falling
edge: it samples the unit's outputs (registered, so settled) and ``i.ready``,
then drives the next inputs; only in a cycle where it changes ``o.ready`` does
it wait for ``i.ready`` to settle (``ReadOnly``) before sampling. So
``i.ready`` may follow ``o.ready`` but not ``i.valid`` or the payload (true
of :func:`attnkit.hw.pipeline.stream_pipeline` and the stages after it).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge, ReadOnly

from attnkit.hw import blocks
from attnkit.testbench.harness import TbConfig, finish, start
from attnkit.testbench.scoreboard import Scoreboard


@dataclass(frozen=True)
class Unit:
    golden: Callable            # (raw inputs int64 array, params) -> raw outputs
    in_fmt: Callable = lambda p: p.in_fmt
    out_fmt: Callable = lambda p: p.out_fmt


def _exp(x, p):
    from attnkit.models.exp import exp
    return exp(x, p)


def _recip(x, p):
    from attnkit.models.recip import recip
    return recip(x, p)


UNITS = {"exp": Unit(_exp), "recip": Unit(_recip)}

P_GAP, P_STALL = 0.1, 0.25      # chance of an idle gap before an input; share of cycles with o.ready low
STALLED_MAX = 8192               # inputs in each of the phases with back-pressure


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
    acc = np.concatenate([np.arange(min(n, L)), out[:max(0, n - L)]])
    return acc, out


class Watchdog(Exception):
    pass


class Driver:
    """Drives one phase: inputs with their gaps, ``o.ready`` by a per-cycle schedule."""

    def __init__(self, dut, in_width: int, rng: np.random.Generator):
        self.dut, self.rng, self.mask = dut, rng, (1 << in_width) - 1
        self.fall, self.ro = FallingEdge(dut.clk), ReadOnly()
        self.i_valid, self.i_ready, self.i_payload = dut.i__valid, dut.i__ready, dut.i__payload
        self.o_valid, self.o_ready, self.o_payload = dut.o__valid, dut.o__ready, dut.o__payload
        self.garbage = rng.integers(0, 1 << in_width, 64).tolist()
        self.cycle = 0   # across phases, for messages
        self.early = 0

    async def phase(self, xs: list[int], gaps: list[int], ready: list[int], limit: int):
        """Returns (accept cycles, first-offered cycles, output cycles, stall cycles, raw outputs),
        cycles counted from this phase's first; raises Watchdog past ``limit`` cycles. Counts in
        ``self.early`` the outputs taken while no input was outstanding."""
        n, nr = len(xs), len(ready)
        acc, offered, done, stalls, outs = [], [], [], [], []
        k, wait, c, since = 0, 0, 0, -1
        cur_valid, cur_ready, driven = -1, -1, -1
        i_valid, i_ready, i_payload = self.i_valid, self.i_ready, self.i_payload
        o_valid, o_ready, o_payload = self.o_valid, self.o_ready, self.o_payload
        fall, ro, mask, garbage = self.fall, self.ro, self.mask, self.garbage
        while k < n or len(done) < n:
            if c >= limit:
                raise Watchdog(f"cycle {self.cycle + c}: {len(acc)} of {n} inputs taken, {len(done)} outputs"
                               f" in this phase, waiting for {'input ' + str(k) if k < n else 'output ' + str(len(done))}")
            await fall
            offer = 1 if (k < n and wait == 0) else 0
            if offer:
                if driven != k:
                    i_payload.value = xs[k] & mask
                    driven = k
            else:   # a gap: the payload is garbage the unit must ignore
                i_payload.value = garbage[c & 63]
                driven = -1
            r = ready[c] if c < nr else 1
            if r != cur_ready:     # i.ready may follow o.ready: let it settle before sampling
                o_ready.value = cur_ready = r
                if offer != cur_valid:
                    i_valid.value = cur_valid = offer
                await ro
            elif offer != cur_valid:   # sampled below as they stand: the unit's outputs are registered
                i_valid.value = cur_valid = offer
            if o_valid.value:
                if since < 0:
                    since = c
                if r:
                    if len(done) >= len(acc):
                        self.early += 1
                    outs.append(o_payload.value)
                    offered.append(since)
                    done.append(c)
                    since = -1
                else:
                    stalls.append(c)
            if offer:
                if i_ready.value:
                    acc.append(c)
                    k += 1
                    wait = gaps[k] if k < n else 0
            elif wait:
                wait -= 1
            c += 1
        self.cycle += c
        return acc, offered, done, stalls, outs


def latency_errors(acc, offered, stalls, L: int) -> int:
    """Outputs whose latency is not ``L`` with no stall since their input, or outside
    ``[L, L + stalls since their input]``."""
    bad = 0
    for a, o in zip(acc, offered):
        s = bisect.bisect_left(stalls, o) - bisect.bisect_left(stalls, a)
        lat = o - a
        bad += (lat != L) if s == 0 else not (L <= lat <= L + s)
    return bad


def to_int(v, signed: bool):
    try:
        return v.to_signed() if signed else v.to_unsigned()
    except ValueError:   # X or Z bits (four-state simulators)
        return str(v)


@cocotb.test()
async def unit_vectors(dut):
    name = dut._name
    block = blocks.get(name)
    assert name in UNITS, f"block {name!r} has no entry in attnkit.testbench.unit_tb.UNITS (known: {', '.join(UNITS)})"
    unit = UNITS[name]
    tb = TbConfig.from_env(block.params)
    p = tb.params
    L = block.component(p).LATENCY
    assert L >= 1, f"{name}: a stream unit here has registered outputs (LATENCY >= 1), got {L}"
    fin, fout = unit.in_fmt(p), unit.out_fmt(p)
    rng = np.random.default_rng(tb.seed)
    x, exhaustive = inputs(fin, tb.vectors, rng)
    want = np.asarray(unit.golden(x, p), np.int64)
    sb = Scoreboard(name, want.tolist(), log=dut._log)
    n = x.size
    # 30% of the inputs each to the stalled phases, at most STALLED_MAX: a long exhaustive run streams
    # mostly in phase 1, where a cycle costs least
    share = min((3 * n) // 10, STALLED_MAX)
    cut1, cut2 = n - 2 * share, n - share
    parts = {"gaps": slice(0, cut1), "backpressure": slice(cut1, cut2), "mixed": slice(cut2, n)}
    dut._log.info(f"{name}: {n} inputs{' (the whole input space)' if exhaustive else ''}, latency {L}, seed {tb.seed}")

    await start(dut, {"i__valid": 0, "i__payload": 0, "o__ready": 1})
    drv = Driver(dut, fin.width, rng)
    cycles = predicted = timing = lat_err = n_stalls = n_gaps = 0
    phase_cycles, failure = {}, None
    for phase, sl in parts.items():
        xs = x[sl]
        m = xs.size
        gaps = gap_schedule(m, rng) if phase != "backpressure" else np.zeros(m, np.int64)
        span = int(m + gaps.sum()) + L
        ready = ready_schedule(2 * span + 8, rng) if phase != "gaps" else np.ones(0, np.int64)
        bound = span + int(np.count_nonzero(ready == 0))
        try:
            acc, offered, done, stalls, outs = await drv.phase(xs.tolist(), gaps.tolist(), ready.tolist(),
                                                               2 * bound + 100)
        except Watchdog as e:
            failure = f"{name} seed {tb.seed}: watchdog in phase {phase}, {e}"
            dut._log.error(failure)
            break
        for v, c in zip(outs, done):
            sb.check(to_int(v, fout.signed), phase=phase, cycle=c)
        lat_err += latency_errors(acc, offered, stalls, L)
        n_stalls += len(stalls)
        n_gaps += int(gaps.sum())
        phase_cycles[phase] = (done[-1] + 1) if done else 0
        if phase != "mixed" and m:
            pa, pd = predict_gaps(gaps, L) if phase == "gaps" else predict_backpressure(m, ready, L)
            if len(acc) == len(done) == m:
                timing += int(np.count_nonzero((np.asarray(acc) != pa) | (np.asarray(done) != pd)))
            else:
                timing += m
            cycles += (done[-1] + 1) if done else 0
            predicted += int(pd[-1]) + 1
    sb.drop_pending(phase="end")
    finish(dut, tb, sb, cycles=cycles, predicted_cycles=predicted, latency=L, latency_errors=lat_err,
           timing_errors=timing, exhaustive=exhaustive, input_space=1 << fin.width,
           space_covered=np.unique(x).size / (1 << fin.width), stalls=n_stalls,
           gap_cycles=n_gaps, phase_cycles=phase_cycles, simulated_cycles=drv.cycle, early_outputs=drv.early,
           **({"watchdog": failure} if failure else {}))
    assert failure is None, failure
    assert drv.early == 0, f"{drv.early} outputs came with no input outstanding"
    assert lat_err == 0, f"{lat_err} outputs with a latency other than {L} (stalls accounted)"
    assert timing == 0 and cycles == predicted, \
        f"{timing} inputs or outputs off their predicted cycle; {cycles} cycles, predicted {predicted}"
