"""cocotb testbench for the RTL decode engine: random decode problems, every output row checked against the
golden schedule-driven decode (:func:`attnkit.models.decode.decode_scheduled` through ``lean_schedule`` with
``grid = units``), and the cycles of each problem against the simulator's engine ``rtl-decode``.

``vectors`` is the number of problems. They rotate through kinds: full-range
random values, small values (logits near 0, so exponents tie across pieces),
peaked scores (one key per head dominates: partials whose maxima are far
apart) and corner values (every input at the format's extremes, so logits
saturate). A problem's input is packed beforehand into the DRAM port's wide
beats (``rows_per_beat`` K or V rows each, :func:`beat_layout`); output rows
are sampled only while they come out: while the cores compute, no Python
runs. The problems are the cases of :class:`DecodeBench`, the block's
definition for every driver (:mod:`attnkit.testbench.streams`). The decode coverage of
:mod:`attnkit.testbench.coverage` (heads crossed, pieces merged, peer then
host, GQA or MHA, back-pressure) is sampled on every problem and reported as
``coverage``.

From problem ``BACKPRESSURE_FROM`` on, every other round of the four kinds
drops ``o.ready`` at random (``P_STALL`` of the cycles a row is offered; its
own generator, so the problems are those of a run without it), as the
attention testbench does. Unlike the attention engine, the decode engine
does not freeze in a stall: only the host waits, the cores go on. So a
stalled problem takes :func:`stalled_cycles` (the ``rtl-decode`` closed form
with each KV group's host time lengthened by the stall cycles of its rows),
which the testbench checks cycle for cycle; ``cycles_per_problem`` counts
cycles less that delay (``stall_delay``, never more than ``output_stalls``).
"""

from __future__ import annotations

import cocotb
import numpy as np
from amaranth.hdl import signed
from amaranth.lib import data

from attnkit.models.decode import decode_scheduled
from attnkit.params.rtl_decode import RtlDecodeParams
from attnkit.testbench import streams
from attnkit.testbench.coverage import DecodeCoverage

PERIOD_NS = 10
KINDS = ("random", "small", "peaked", "corners")
BACKPRESSURE_FROM, P_STALL = len(KINDS), 0.3


def backpressure(k: int) -> bool:
    """Problem ``k`` runs with ``o.ready`` dropped at random (every other round of the kinds)."""
    return k >= BACKPRESSURE_FROM and (k // len(KINDS)) % 2 == 1


def stalled_cycles(p: RtlDecodeParams, stalls) -> int:
    """The cycles of a problem whose output rows of KV group ``i`` waited ``stalls[i]`` cycles for ``o.ready``."""
    from attnkit.sim.engines.rtl_decode import timing

    return timing(p, "closed", stalls)["cycles"]


def problem(p: RtlDecodeParams, k: int, rng: np.random.Generator):
    """q ``(batch, heads, D)``, k and v ``(batch, kv_heads, context, D)`` (raw in_fmt), and the kind of problem ``k``."""
    f = p.numerics.in_fmt
    B, H, Hk, N, D = p.batch, p.heads, p.kv_heads, p.context, p.head_dim
    kind = KINDS[k % len(KINDS)]
    v = rng.integers(f.min_raw, f.max_raw + 1, (B, Hk, N, D))
    if kind == "corners":
        vals = np.array([f.min_raw, f.max_raw, 0])
        q = vals[rng.integers(0, 3, (B, H, D))]
        kk = vals[rng.integers(0, 3, (B, Hk, N, D))]
        q[:, 0, :] = f.max_raw
        kk[:, :, : min(N, 3), :] = f.max_raw  # the largest logits: saturation
        v[..., 0] = f.min_raw
        return q, kk, v, kind
    amp = f.max_raw if kind in ("random", "peaked") else f.max_raw >> 5
    q = rng.integers(-amp - 1, amp + 1, (B, H, D))
    kk = rng.integers(-amp - 1, amp + 1, (B, Hk, N, D))
    if kind == "peaked":
        kk >>= 3
        hot = rng.integers(0, N, (B, Hk))
        for b in range(B):
            for h in range(Hk):
                g = p.group
                kk[b, h, hot[b, h]] = np.clip(q[b, h * g] * 4, f.min_raw, f.max_raw)
    return q, kk, v, kind


def golden(p: RtlDecodeParams, q, k, v) -> np.ndarray:
    return decode_scheduled(q, k, v, p.numerics, p.schedule)


def beat_layout(p: RtlDecodeParams):
    """An input beat: a KV group's G queries, or P K or V rows (D in_fmt values each)."""
    w, D = signed(p.in_width), p.head_dim
    return data.UnionLayout({"q": data.ArrayLayout(w, p.group * D), "kv": data.ArrayLayout(w, p.rows_per_beat * D)})


def beats(p: RtlDecodeParams, q, k, v) -> list[int]:
    """Input beats: per (batch, KV head) one with the group's queries; then K rows, then V rows, P per beat
    (the last beat of each padded with zeros)."""
    G, D, P = p.group, p.head_dim, p.rows_per_beat
    lay = beat_layout(p)
    q = np.asarray(q).reshape(p.batch, p.kv_heads, G * D)
    out = [streams.pack(lay, {"q": q[b, h].tolist()}) for b in range(p.batch) for h in range(p.kv_heads)]
    for x in (k, v):
        flat = np.asarray(x).reshape(-1).tolist()
        for i in range(0, len(flat), P * D):
            chunk = flat[i : i + P * D]
            out.append(streams.pack(lay, {"kv": chunk + [0] * (P * D - len(chunk))}))
    return out


def expected_rows(p: RtlDecodeParams, want) -> list[tuple]:
    return [tuple(int(x) for x in want[b, h]) for b in range(p.batch) for h in range(p.heads)]


class DecodeBench(streams.EngineBench):
    """Problems of :func:`problem`, one case each; output rows of D out_fmt values. A problem takes the
    ``rtl-decode`` prediction; its output stalls delay it by :func:`stalled_cycles` less that (the host
    waits, the cores go on), from the stalls of each KV group's rows."""

    P_STALL = P_STALL
    backpressure = staticmethod(backpressure)
    coverage = DecodeCoverage

    def component(self, p):
        from attnkit.hw.decode import DecodeEngine

        return DecodeEngine(p)

    def in_layout(self, p):
        return beat_layout(p)

    def cases(self, p, vectors, seed):
        predicted = self.predicted_cycles(p, None)
        if stalled_cycles(p, [0] * p.kv_groups) != predicted:  # the stall model must be the simulator's without stalls
            raise AssertionError(
                f"decode_tb.stalled_cycles gives {stalled_cycles(p, [0] * p.kv_groups)} without"
                f" stalls, rtl-decode {predicted}"
            )
        return super().cases(p, vectors, seed)

    def problem_case(self, p, k, rng):
        q, kk, v, kind = problem(p, k, rng)
        return beats(p, q, kk, v), expected_rows(p, golden(p, q, kk, v)), kind, None

    def predicted_cycles(self, p, case):
        from attnkit.sim.engines.rtl_decode import cycles as predict

        return predict(p, "event")

    def stall_delay(self, p, case, trace):
        stalls = [0] * p.kv_groups  # per KV group: the host emits its G rows
        for j, h in enumerate(trace.held):
            stalls[j // p.group] += h
        return stalled_cycles(p, stalls) - self.predicted_cycles(p, case)

    def summary(self, p, cases, traces):
        kinds = [c.kind for c in cases]
        delay = [self.stall_delay(p, c, t) for c, t in zip(cases, traces) if len(t.held) == len(c.want)]
        return {
            "checked": len(traces),
            "elements": len(cases) * p.batch * p.heads * p.head_dim,
            "kinds": {kd: kinds.count(kd) for kd in KINDS},
            "units": p.units,
            "tiles_per_unit": p.schedule.tiles_per_cta(),
            "pieces_per_group": [len(x) for x in p.pieces()],
            "stall_delay": sum(delay),
            "stalled_problems": sum(sum(t.held) > 0 for t in traces),
        }


BENCHES = {"decode": DecodeBench()}


@cocotb.test()
async def decode_problems(dut):
    await streams.run_cocotb(dut, BENCHES["decode"], period_ns=PERIOD_NS)
