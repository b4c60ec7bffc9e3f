"""cocotb testbench for the merge block: partial pairs checked bit for bit against :func:`attnkit.models.merge.merge`.

``vectors`` partial pairs: the corner cases first (equal maxima, one or both
partials fully masked, the largest and smallest ``O`` and ``l`` with the
exponents ``spread`` apart, saturating sums, shifts that round every bit
away), then partials the golden model computes from random decode pieces
(``attnkit.models.merge.partial``), then uniformly random fields. The
stimulus is packed beforehand and streamed one pair per cycle with the
output always ready, so the drive loop is one write and one read per cycle
and the count of cycles is ``vectors + LATENCY``; a last short run (an
eighth of the pairs, at most 500) drops ``valid`` and ``ready`` at random
to exercise the stall, checked for values only.
"""

from __future__ import annotations

import time

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge

from attnkit.hw.merge import Merge
from attnkit.params.merge import MergeParams
from attnkit.models.merge import Partial, merge, partial
from attnkit.testbench.harness import TbConfig, Watchdog, finish, start
from attnkit.testbench.scoreboard import Scoreboard


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
                for ma, mb in ((ms[0], ms[0]), (ms[1], ms[1]), (ms[0], ms[1]), (ms[1], ms[0]), (ms[2], ms[3]),
                               (ms[4], ms[2])):
                    rows_a.append((oa, la, ma))
                    rows_b.append((ob, lb, mb))
    masked = (0, 0, num.e_min)                                  # a fully masked piece
    for o, l, m in [(fo.max_raw, fl.max_raw, num.e_max), (fo.min_raw, 1, 0), (12345, 1 << fl.frac_bits, num.e_min),
                    (-7, 3, num.e_min)]:
        rows_a += [masked, (o, l, m)]
        rows_b += [(o, l, m), masked]
    rows_a.append(masked)
    rows_b.append(masked)

    def pack(rows):
        o = np.array([[r[0]] * d for r in rows], np.int64)
        o[:, 1::2] = np.where(o[:, 1::2] == 0, 0, -o[:, 1::2] - 1)     # mixed signs within O (stays in range)
        return Partial(o, np.array([r[1] for r in rows], np.int64), np.array([r[2] for r in rows], np.int64))

    return pack(rows_a), pack(rows_b)


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
        mask[rng.random(n) < 0.05] = False                    # fully masked pieces
        out.append(partial(q, k, v, num, mask))
    return out[0], out[1]


def random_pairs(p: MergeParams, n: int, rng: np.random.Generator) -> tuple[Partial, Partial]:
    num, d = p.numerics, p.head_dim
    fo, fl = num.partial_fmt, num.partial_l_fmt
    parts = []
    for _ in range(2):
        bits = rng.integers(1, fo.width + 1, (n, 1))        # magnitudes at every scale, so rounding matters
        o = rng.integers(fo.min_raw, fo.max_raw + 1, (n, d)) >> (fo.width - bits)
        l = rng.integers(0, fl.max_raw + 1, n) >> (fl.width - bits[:, 0])
        m = rng.integers(num.e_min, num.e_max + 1, n)
        parts.append(Partial(o, l, m))
    a, b = parts
    close = rng.random(n) < 0.3                               # exponents close together (and equal)
    b.m[close] = np.clip(a.m[close] + rng.integers(-2, 3, close.sum()), num.e_min, num.e_max)
    span = num.e_max - num.e_min + 1
    if n >= span * span:   # room for the exponent path's whole input space: every (m_a, m_b), seeded order
        pairs = rng.permutation(span * span)
        a.m[:pairs.size], b.m[:pairs.size] = num.e_min + pairs // span, num.e_min + pairs % span
    return a, b


def stimulus(p: MergeParams, n: int, rng: np.random.Generator) -> tuple[Partial, Partial]:
    """``n`` pairs: corners, then golden partials (a third of the rest), then random fields."""
    ca, cb = corners(p)
    rest = max(0, n - len(ca.l))
    ga, gb = golden_pairs(p, rest // 3, rng)
    ra, rb = random_pairs(p, rest - rest // 3, rng)
    a, b = _cat([ca, ga, ra]), _cat([cb, gb, rb])
    return Partial(a.o[:n], a.l[:n], a.m[:n]), Partial(b.o[:n], b.l[:n], b.m[:n])


def pack(p: MergeParams, x: Partial) -> list[int]:
    """Raw partials -> payload integers (``o[0]`` at bit 0, then ``l``, then ``m``)."""
    wo, wl, wm = p.o_width, p.l_width, p.m_width
    words = []
    for o, l, m in zip(x.o.tolist(), x.l.tolist(), x.m.tolist()):
        w = 0
        for k, e in enumerate(o):
            w |= (e & ((1 << wo) - 1)) << (k * wo)
        w |= (l & ((1 << wl) - 1)) << (len(o) * wo)
        w |= (m & ((1 << wm) - 1)) << (len(o) * wo + wl)
        words.append(w)
    return words


def unpack(p: MergeParams, w: int) -> tuple:
    """Payload integer -> ``(o..., l, m)`` as signed/unsigned Python ints."""
    wo, wl, wm, d = p.o_width, p.l_width, p.m_width, p.head_dim

    def signed(x, n):
        return x - (1 << n) if x >> (n - 1) else x

    o = tuple(signed((w >> (k * wo)) & ((1 << wo) - 1), wo) for k in range(d))
    return o + ((w >> (d * wo)) & ((1 << wl) - 1), signed((w >> (d * wo + wl)) & ((1 << wm) - 1), wm))


def expected(p: MergeParams, a: Partial, b: Partial) -> list[tuple]:
    r = merge(a, b, p.numerics)
    return [tuple(o) + (l, m) for o, l, m in zip(r.o.tolist(), r.l.tolist(), r.m.tolist())]


@cocotb.test()
async def merge_pairs(dut):
    tb = TbConfig.from_env(MergeParams)
    p = tb.params
    rng = np.random.default_rng(tb.seed)
    n = tb.vectors
    n_stall = min(500, max(1, n // 8)) if n >= 16 else 0
    n_bulk = n - n_stall
    t0 = time.perf_counter()
    a, b = stimulus(p, n, rng)
    sb = Scoreboard("merge", expected(p, a, b), log=dut._log)
    beats = [x | (y << p.partial_width) for x, y in zip(pack(p, a), pack(p, b))]
    model_s = time.perf_counter() - t0
    dut._log.info(f"merge d={p.head_dim}: {n} pairs ({n_bulk} streamed, {n_stall} with stalls), seed {tb.seed}")

    await start(dut, {"i__valid": 0, "i__payload": 0, "o__ready": 1})
    # the bulk outputs are checked after the bulk loop (at most n_bulk + 50 cycles): that is the longest gap
    watchdog = Watchdog(dut, tb, sb, expected_gap=n_bulk + Merge.LATENCY + 50)
    await FallingEdge(dut.clk)
    # bulk: one pair per cycle (input k is taken at rising edge k), output always ready; the outputs
    # are collected raw and checked afterwards
    t1 = time.perf_counter()
    raw, last_take = [], None
    valid_in, payload, o_valid, o_payload = dut.i__valid, dut.i__payload, dut.o__valid, dut.o__payload
    cycle = 0
    while len(raw) < n_bulk and cycle < n_bulk + 50:
        if cycle < n_bulk:
            valid_in.value, payload.value = 1, beats[cycle]
        elif cycle == n_bulk:
            valid_in.value = 0
        await FallingEdge(dut.clk)     # after rising edge `cycle`
        if o_valid.value:              # offered now, taken at rising edge cycle + 1
            raw.append(int(o_payload.value))
            last_take = cycle + 1
        cycle += 1
    sim_s = time.perf_counter() - t1
    for k, w in enumerate(raw):
        sb.check(unpack(p, w), pair=k)
    cycles = last_take + 1 if last_take is not None else 0     # edges 0 .. last_take, both counted
    predicted = n_bulk + Merge.LATENCY if n_bulk else 0

    # stalls: valid and ready dropped at random; checked for values only. o.valid is a register, so
    # what it shows after a falling edge is what the next rising edge decides on.
    valid_in.value = 0
    await FallingEdge(dut.clk)         # the last bulk output is taken
    k, seen = n_bulk, 0
    while k < n or sb.pending:         # a DUT that stops producing: the watchdog ends the test
        go = k < n and rng.random() < 0.7
        ready = rng.random() < 0.6
        valid_in.value, dut.o__ready.value = int(go), int(ready)
        if go:
            payload.value = beats[k]
        offered = bool(o_valid.value)
        if offered and ready:
            sb.check(unpack(p, int(o_payload.value)), pair=n_bulk + seen, stall=True)
            seen += 1
        if go and (not offered or ready):   # the pipeline advances: the input is taken
            k += 1
        await FallingEdge(dut.clk)
    valid_in.value = 0
    watchdog.stop()
    finish(dut, tb, sb, cycles=cycles, predicted_cycles=predicted, latency=Merge.LATENCY,
           bulk_vectors=n_bulk, stall_vectors=n_stall, sim_wall_s=round(sim_s, 4), model_wall_s=round(model_s, 4),
           cycles_per_s=round(cycles / sim_s, 1) if sim_s > 0 else 0.0,
           exponent_pairs_covered=len(set(zip(a.m.tolist(), b.m.tolist()))) / (p.numerics.e_max - p.numerics.e_min + 1) ** 2)
