"""cocotb testbench for the RTL decode engine: random decode problems, every output row checked against the
golden schedule-driven decode (:func:`attnkit.models.decode.decode_scheduled` through ``lean_schedule`` with
``grid = units``), and the cycles of each problem against the simulator's engine ``rtl-decode``.

``vectors`` is the number of problems. They rotate through kinds: full-range
random values, small values (logits near 0, so exponents tie across pieces),
peaked scores (one key per head dominates: partials whose maxima are far
apart) and corner values (every input at the format's extremes, so logits
saturate). A problem's input is packed beforehand into the DRAM port's wide
beats (``rows_per_beat`` K or V rows each) and written one per cycle in a
loop that does nothing else; output rows are sampled only while they come
out: while the cores compute, no Python runs. The decode coverage of
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

import time

import numpy as np
import cocotb
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from attnkit.params.rtl_decode import RtlDecodeParams
from attnkit.models.decode import decode_scheduled
from attnkit.testbench.coverage import DecodeCoverage, summary
from attnkit.testbench.harness import TbConfig, Watchdog, finish, start
from attnkit.testbench.scoreboard import Scoreboard

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
        kk[:, :, : min(N, 3), :] = f.max_raw             # the largest logits: saturation
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


def beats(p: RtlDecodeParams, q, k, v) -> list[int]:
    """Input beats: per (batch, KV head) one with the group's queries; then K rows, then V rows, P per beat."""
    w, G, D, P = p.in_width, p.group, p.head_dim, p.rows_per_beat
    lo = (1 << w) - 1

    def pack(rows):
        flat = np.asarray(rows).reshape(-1)
        return sum((int(x) & lo) << (w * i) for i, x in enumerate(flat.tolist()))

    q = np.asarray(q).reshape(p.batch, p.kv_heads, G, D)
    out = [pack(q[b, h]) for b in range(p.batch) for h in range(p.kv_heads)]
    for x in (k, v):
        rows = np.asarray(x).reshape(-1, D)
        out += [pack(rows[i:i + P]) for i in range(0, len(rows), P)]
    return out


def unpack(value: int, d: int, w: int) -> tuple:
    out = []
    for i in range(d):
        x = (value >> (w * i)) & ((1 << w) - 1)
        out.append(x - (1 << w) if x >> (w - 1) else x)
    return tuple(out)


def expected_rows(p: RtlDecodeParams, want) -> list[tuple]:
    return [tuple(int(x) for x in want[b, h]) for b in range(p.batch) for h in range(p.heads)]


@cocotb.test()
async def decode_problems(dut):
    from attnkit.sim.engines.rtl_decode import cycles as predict

    tb = TbConfig.from_env(RtlDecodeParams)
    p = tb.params
    d, ow = p.head_dim, p.numerics.out_fmt.width
    rows_out = p.batch * p.heads
    rng = np.random.default_rng(tb.seed)
    predicted = predict(p, "event")
    dut._log.info(f"decode {p.units} cores, batch {p.batch}, heads {p.heads}/{p.kv_heads}, d={d}, context"
                  f" {p.context}, block_n {p.block_n}, tiles per core {p.schedule.tiles_per_cta()}: {tb.vectors}"
                  f" problems, seed {tb.seed}, predicted {predicted} cycles each")

    if stalled_cycles(p, [0] * p.kv_groups) != predicted:     # the stall model must be the simulator's without stalls
        raise AssertionError(f"decode_tb.stalled_cycles gives {stalled_cycles(p, [0] * p.kv_groups)} without stalls,"
                             f" rtl-decode {predicted}")

    await start(dut, {"i__valid": 0, "i__payload": 0, "o__ready": 1})
    sb = Scoreboard("out", [], log=dut._log)
    # a problem's first row comes at most `predicted` cycles after the previous problem's last; a DUT that
    # stops producing (or never takes input) fails there in one line
    watchdog = Watchdog(dut, tb, sb, expected_gap=predicted, period_ns=PERIOD_NS)
    latency_errors = total_stalls = total_delay = stalled_problems = 0
    cycle_counts, kinds = [], []
    cov, ready_rng = DecodeCoverage(p), np.random.default_rng([tb.seed, 1])
    G = p.group
    model_s, t_start = 0.0, time.perf_counter()
    valid, payload, o_valid, o_payload = dut.i__valid, dut.i__payload, dut.o__valid, dut.o__payload
    ready = dut.o__ready
    for k in range(tb.vectors):
        t0 = time.perf_counter()
        q, kk, v, kind = problem(p, k, rng)
        sb.expect(expected_rows(p, golden(p, q, kk, v)))
        cov.problem()
        stream = beats(p, q, kk, v)
        model_s += time.perf_counter() - t0
        await FallingEdge(dut.clk)
        while not dut.i__ready.value:
            await FallingEdge(dut.clk)
        valid.value = 1
        t_first = get_sim_time("ns") + PERIOD_NS // 2        # taken at the next rising edge
        for b in stream:             # the engine takes one beat per cycle while loading
            payload.value = b
            await FallingEdge(dut.clk)
        valid.value = 0
        rows, t_last, bp = 0, t_first, backpressure(k)
        stalls = [0] * p.kv_groups   # per KV group: the host emits its G rows
        while rows < rows_out:       # the watchdog ends the test if rows stop coming
            if not o_valid.value:
                await RisingEdge(o_valid)
                await FallingEdge(dut.clk)
                continue
            if bp and ready_rng.random() < P_STALL:   # the row waits: the host holds it this cycle
                ready.value = 0
                stalls[rows // G] += 1
                await FallingEdge(dut.clk)
                continue
            ready.value = 1
            sb.check(unpack(int(o_payload.value), d, ow), problem=k, kind=kind, row=rows)
            rows += 1
            t_last = get_sim_time("ns") + PERIOD_NS // 2
            await FallingEdge(dut.clk)
        cyc = int(round((t_last - t_first) / PERIOD_NS)) + 1
        delay = stalled_cycles(p, stalls) - predicted
        cycle_counts.append(cyc - delay)
        kinds.append(kind)
        latency_errors += cyc != predicted + delay
        total_stalls += sum(stalls)
        total_delay += delay
        stalled_problems += sum(stalls) > 0
        cov.output(sum(stalls))

    watchdog.stop()
    wall = time.perf_counter() - t_start
    sim_s = wall - model_s
    finish(dut, tb, sb, checked=tb.vectors, cycles=cycle_counts[0] if cycle_counts else 0,
           predicted_cycles=predicted, latency_errors=latency_errors,
           cycles_per_problem=sorted(set(cycle_counts)), elements=tb.vectors * rows_out * d,
           kinds={kd: kinds.count(kd) for kd in KINDS}, units=p.units, tiles_per_unit=p.schedule.tiles_per_cta(),
           pieces_per_group=[len(x) for x in p.pieces()],
           sim_wall_s=round(sim_s, 4), model_wall_s=round(model_s, 4),
           cycles_per_s=round((sum(cycle_counts) + total_delay) / sim_s, 1) if sim_s > 0 else 0.0,
           output_stalls=total_stalls, stall_delay=total_delay, stalled_problems=stalled_problems,
           coverage=cov.report(), coverage_total=summary(cov.report()))
    assert latency_errors == 0, (f"cycles less stall delay {sorted(set(cycle_counts))} but the simulator predicts"
                                 f" {predicted}")
