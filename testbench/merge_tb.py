"""cocotb testbench for the merge block: partial pairs checked bit for bit against :func:`attnkit.models.merge.merge`.

``vectors`` partial pairs: the corner cases first (equal maxima, one or both
partials fully masked, the largest and smallest ``O`` and ``l`` with the
exponents ``spread`` apart, saturating sums, shifts that round every bit
away), then partials the golden model computes from random decode pieces
(``attnkit.models.merge.partial``), then uniformly random fields. The
stimulus streams one pair per cycle with the output always ready, and the
count of cycles is ``vectors + LATENCY``; a last short run (an eighth of the
pairs, at most 500) drops ``valid`` and ``ready`` at random to exercise the
stall, checked for values only. The two runs are the cases of
:class:`MergeBench`, the block's definition for every driver
(:mod:`attnkit.testbench.streams`); the payloads are the component's
``lib.data`` layouts.
"""

from __future__ import annotations

import cocotb
import numpy as np

from attnkit.hw.merge import Merge
from attnkit.models.merge import Partial, merge, partial
from attnkit.params.merge import MergeParams
from attnkit.testbench import streams


def _cat(parts: list[Partial]) -> Partial:
    return Partial(*(np.concatenate([getattr(x, f) for x in parts]) for f in ("o", "l", "m")))


def corners(p: MergeParams) -> tuple[Partial, Partial]:
    """Hand-picked pairs: every combination of extreme fields, masks and exponent gaps."""
    num, d = p.numerics, p.head_dim
    fo, fl = num.partial_fmt, num.partial_l_fmt
    os_ = [fo.min_raw, fo.max_raw, 0, -1, 1, fo.max_raw >> 1, fo.min_raw >> 1]
    ls = [fl.max_raw, 0, 1, fl.max_raw >> 1, 1 << fl.frac_bits]
    ms = [num.e_min, num.e_max, 0, num.e_min + 1, num.e_max - 1]
    rows_a, rows_b = [], []
    for oa in os_:
        for ob in os_:
            for la, lb in ((ls[0], ls[0]), (ls[2], ls[3]), (ls[4], ls[1])):
                for ma, mb in (
                    (ms[0], ms[0]),
                    (ms[1], ms[1]),
                    (ms[0], ms[1]),
                    (ms[1], ms[0]),
                    (ms[2], ms[3]),
                    (ms[4], ms[2]),
                ):
                    rows_a.append((oa, la, ma))
                    rows_b.append((ob, lb, mb))
    masked = (0, 0, num.e_min)  # a fully masked piece
    for o, l, m in [
        (fo.max_raw, fl.max_raw, num.e_max),
        (fo.min_raw, 1, 0),
        (12345, 1 << fl.frac_bits, num.e_min),
        (-7, 3, num.e_min),
    ]:
        rows_a += [masked, (o, l, m)]
        rows_b += [(o, l, m), masked]
    rows_a.append(masked)
    rows_b.append(masked)

    def partials(rows):
        o = np.array([[r[0]] * d for r in rows], np.int64)
        o[:, 1::2] = np.where(o[:, 1::2] == 0, 0, -o[:, 1::2] - 1)  # mixed signs within O (stays in range)
        return Partial(o, np.array([r[1] for r in rows], np.int64), np.array([r[2] for r in rows], np.int64))

    return partials(rows_a), partials(rows_b)


def golden_pairs(p: MergeParams, n: int, rng: np.random.Generator) -> tuple[Partial, Partial]:
    """Partials of two random pieces of a decode problem each, from the golden model (as the engine writes them)."""
    num, d = p.numerics, p.head_dim
    f = num.in_fmt
    out = []
    for _ in range(2):
        keys = int(rng.integers(1, 9))
        amp = np.array([f.max_raw, f.max_raw >> 3, f.max_raw >> 6])[rng.integers(0, 3, (n, 1, 1))]
        q = (rng.integers(-(1 << 20), 1 << 20, (n, 1, d)) % (2 * amp + 1) - amp)[:, 0]
        k = rng.integers(-(1 << 20), 1 << 20, (n, keys, d)) % (2 * amp + 1) - amp
        v = rng.integers(f.min_raw, f.max_raw + 1, (n, keys, d))
        mask = rng.random((n, keys)) < 0.9
        mask[rng.random(n) < 0.05] = False  # fully masked pieces
        out.append(partial(q, k, v, num, mask))
    return out[0], out[1]


def random_pairs(p: MergeParams, n: int, rng: np.random.Generator) -> tuple[Partial, Partial]:
    num, d = p.numerics, p.head_dim
    fo, fl = num.partial_fmt, num.partial_l_fmt
    parts = []
    for _ in range(2):
        bits = rng.integers(1, fo.width + 1, (n, 1))  # magnitudes at every scale, so rounding matters
        o = rng.integers(fo.min_raw, fo.max_raw + 1, (n, d)) >> (fo.width - bits)
        l = rng.integers(0, fl.max_raw + 1, n) >> (fl.width - bits[:, 0])
        m = rng.integers(num.e_min, num.e_max + 1, n)
        parts.append(Partial(o, l, m))
    a, b = parts
    close = rng.random(n) < 0.3  # exponents close together (and equal)
    b.m[close] = np.clip(a.m[close] + rng.integers(-2, 3, close.sum()), num.e_min, num.e_max)
    span = num.e_max - num.e_min + 1
    if n >= span * span:  # room for the exponent path's whole input space: every (m_a, m_b), seeded order
        pairs = rng.permutation(span * span)
        a.m[: pairs.size], b.m[: pairs.size] = num.e_min + pairs // span, num.e_min + pairs % span
    return a, b


def stimulus(p: MergeParams, n: int, rng: np.random.Generator) -> tuple[Partial, Partial]:
    """``n`` pairs: corners, then golden partials (a third of the rest), then random fields."""
    ca, cb = corners(p)
    rest = max(0, n - len(ca.l))
    ga, gb = golden_pairs(p, rest // 3, rng)
    ra, rb = random_pairs(p, rest - rest // 3, rng)
    a, b = _cat([ca, ga, ra]), _cat([cb, gb, rb])
    return Partial(a.o[:n], a.l[:n], a.m[:n]), Partial(b.o[:n], b.l[:n], b.m[:n])


def expected(p: MergeParams, a: Partial, b: Partial) -> list[tuple]:
    """The golden merge of each pair as the output layout unpacks: ``((o...), l, m)``."""
    r = merge(a, b, p.numerics)
    return [(tuple(o), l, m) for o, l, m in zip(r.o.tolist(), r.l.tolist(), r.m.tolist())]


def fields(x: Partial) -> list[tuple]:
    return [(tuple(o), l, m) for o, l, m in zip(x.o.tolist(), x.l.tolist(), x.m.tolist())]


class MergeBench(streams.Bench):
    """Pairs of :func:`stimulus` in (the component's ``{a, b}`` layout), merged partials out; two cases:
    the bulk one pair per cycle, output always ready (cycles ``pairs + LATENCY``), then a short run with
    ``valid`` and ``ready`` dropped at random (values only)."""

    def component(self, p):
        return Merge(p)

    def cases(self, p, vectors, seed):
        rng = np.random.default_rng(seed)
        n = vectors
        n_stall = min(500, max(1, n // 8)) if n >= 16 else 0
        n_bulk = n - n_stall
        a, b = stimulus(p, n, rng)
        want = expected(p, a, b)
        lay = self.in_layout(p)
        beats = [streams.pack(lay, {"a": x, "b": y}) for x, y in zip(fields(a), fields(b))]
        info = {"a": a, "b": b}
        out = [streams.Case(beats[:n_bulk], want[:n_bulk], "bulk", info=info)] if n_bulk else []
        if n_stall:
            gaps = streams.gap_schedule(n_stall, rng, 0.3)
            ready = streams.ready_bernoulli(2 * (n_stall + sum(gaps)) + 8 + Merge.LATENCY, rng, 0.4)
            out.append(streams.Case(beats[n_bulk:], want[n_bulk:], "stalls", gaps=gaps, ready=ready, info=info))
        return out

    def predicted_cycles(self, p, case):
        return len(case.beats) + Merge.LATENCY if case.kind == "bulk" else None

    def watchdog_gap(self, p, cases):
        return Merge.LATENCY + max(streams.flow_gap(c) for c in cases)

    def summary(self, p, cases, traces):
        a, b = cases[0].info["a"], cases[0].info["b"]
        n = {c.kind: len(c.beats) for c in cases}
        num = p.numerics
        return {
            "latency": Merge.LATENCY,
            "bulk_vectors": n.get("bulk", 0),
            "stall_vectors": n.get("stalls", 0),
            "exponent_pairs_covered": len(set(zip(a.m.tolist(), b.m.tolist()))) / (num.e_max - num.e_min + 1) ** 2,
        }


BENCHES = {"merge": MergeBench()}


@cocotb.test()
async def merge_pairs(dut):
    await streams.run_cocotb(dut, BENCHES["merge"])
