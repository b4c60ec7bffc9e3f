"""Engine ``rtl-decode``: the cycles of the RTL decode engine (:mod:`attnkit.hw.decode`).

The engine's work, from :func:`attnkit.params.schedule.lean_schedule` with
``grid = units`` (constants in :mod:`attnkit.params.rtl_decode`):

========= ============== ================================ ==========================================
what      resource       duration                         when it may start
========= ============== ================================ ==========================================
load      input          ``input_beats`` (1 per cycle)    cycle 0
range     core c         ``keys + ITEM_OVERHEAD``         core c free (its ranges in order), load done
group     host           ``pieces + 2 + recip + G``       host free (groups in order) and every piece
                                                          of the group written (its range's end)
========= ============== ================================ ==========================================

``mode="event"`` runs it as a discrete-event simulation: the load, every
tile range and every KV group is a task on its resource, started when its
resource is free and its inputs are ready (the event core of
:mod:`attnkit.sim.pipeline` steps one pipeline in tile order, which a join
of several cores' ranges into one host task does not fit, so the events are
stepped here with the same rules). ``mode="closed"`` is the max-plus closed
form: a core's range ends at ``L + sum of its ranges so far``; the host's
group ``i`` starts at ``max(end of group i-1, max over its pieces of their
ends)``. The count runs from the first input beat to the last output row,
as the testbench counts it on the Verilated RTL; both modes agree cycle for
cycle (tests/test_hw_decode.py).
"""

from __future__ import annotations

import heapq
from typing import Any

from attnkit.params import config
from attnkit.params.arch import MulticoreArch
from attnkit.params.rtl_decode import ITEM_OVERHEAD, RtlDecodeParams
from attnkit.params.workload import DecodeWorkload
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import Engine
from attnkit.sim.result import Result


def params_of(arch: MulticoreArch, workload: DecodeWorkload, numerics=None) -> RtlDecodeParams:
    """The RTL decode engine's parameter object for a multicore architecture and a decode workload
    (golden numerics by default)."""
    data = {"arch": config.to_data(arch), "workload": config.to_data(workload)}
    if numerics is not None:
        data["numerics"] = config.to_data(numerics)
    return config.build(RtlDecodeParams, data, f"{arch.name} + {workload.name}")


def host_cycles(p: RtlDecodeParams, pieces: int) -> int:
    """The host's cycles on one KV group of ``pieces`` partials: fold, normalise, emit G rows."""
    return pieces + 2 + p.numerics.recip.mantissa_latency + p.group


def range_cycles(keys: int) -> int:
    return keys + ITEM_OVERHEAD


def _host(p: RtlDecodeParams, stalls) -> list[int]:
    """The host's cycles per KV group, each lengthened by the cycles its output rows waited for ``o.ready``."""
    pieces = p.pieces()
    stalls = [0] * len(pieces) if stalls is None else list(stalls)
    if len(stalls) != len(pieces):
        raise ValueError(f"{len(stalls)} stall counts for {len(pieces)} KV groups")
    return [host_cycles(p, len(ps)) + s for ps, s in zip(pieces, stalls)]


def _closed(p: RtlDecodeParams, stalls=None) -> dict:
    load = p.input_beats
    ends, busy = {}, []
    for c in range(p.units):
        t = load
        for j, (_g, a, b) in enumerate(p.items(c)):
            t += range_cycles(b - a)
            ends[(c, j)] = t
        busy.append(t - load)
    host, host_busy = 0, 0
    for ps, d in zip(p.pieces(), _host(p, stalls)):
        host = max([host] + [ends[x] for x in ps]) + d
        host_busy += d
    return {"cycles": host, "core_busy": busy, "host_busy": host_busy, "load": load}


def _event(p: RtlDecodeParams, stalls=None) -> dict:
    """Discrete events: (time, kind, ...) popped in time order; a task starts when its resource is free
    and its inputs are ready, and schedules its end."""
    items = [p.items(c) for c in range(p.units)]
    pieces, host_time = p.pieces(), _host(p, stalls)
    waiting_for = {}  # (core, range) -> KV group
    for i, ps in enumerate(pieces):
        for x in ps:
            waiting_for[x] = i
    missing = [len(ps) for ps in pieces]
    events: list[tuple[int, int, str, Any]] = [
        (p.input_beats, 0, "load_done", None)
    ]  # arg: None, (core, range) or a KV group
    seq = 1
    busy = [0] * p.units
    host_free, host_next, host_busy, end = True, 0, 0, 0
    load = p.input_beats

    def push(t, kind, arg):
        nonlocal seq
        heapq.heappush(events, (t, seq, kind, arg))
        seq += 1

    def host_try(now):
        nonlocal host_free, host_next, host_busy
        if host_free and host_next < len(pieces) and missing[host_next] == 0:
            d = host_time[host_next]
            host_free = False
            host_busy += d
            push(now + d, "group_done", host_next)
            host_next += 1

    while events:
        now, _, kind, arg = heapq.heappop(events)
        if kind == "load_done":
            for c in range(p.units):
                if items[c]:
                    push(now + range_cycles(items[c][0][2] - items[c][0][1]), "range_done", (c, 0))
        elif kind == "range_done":
            c, j = arg
            busy[c] += range_cycles(items[c][j][2] - items[c][j][1])
            missing[waiting_for[(c, j)]] -= 1
            if j + 1 < len(items[c]):
                g, a, b = items[c][j + 1]
                push(now + range_cycles(b - a), "range_done", (c, j + 1))
            host_try(now)
        elif kind == "group_done":
            host_free, end = True, now
            host_try(now)
    return {"cycles": end, "core_busy": busy, "host_busy": host_busy, "load": load}


def timing(p: RtlDecodeParams, mode: str = "event", stalls=None) -> dict:
    """Cycles and busy times; ``stalls[i]``: cycles the output rows of KV group ``i`` waited for ``o.ready``
    (the host waits that much longer on the group; the cores never wait)."""
    if mode == "event":
        return _event(p, stalls)
    if mode == "closed":
        return _closed(p, stalls)
    raise ValueError(f"mode {mode!r}: expected 'closed' or 'event'")


def cycles(p: RtlDecodeParams, mode: str = "event") -> int:
    return timing(p, mode)["cycles"]


def rtl_decode(arch: MulticoreArch, workload: DecodeWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    p = params_of(arch, workload)
    t = timing(p, mode)
    cyc = t["cycles"]
    G, D, n = p.group, p.head_dim, p.context
    keys = p.kv_groups * n
    merges = sum(len(ps) - 1 for ps in p.pieces()) * G
    actions = {
        "mac.mac": float(2 * keys * G * D),  # q.k and p.v per key and query lane
        "exp.exp": float(keys * G),
        "max.max": float(keys * G + merges),
        "adder.add": float(keys * G * (D + 1) + merges * (D + 1)),
        "divider.div": float(p.batch * p.heads),
    }
    energy, breakdown = table.energy(actions)
    area, area_breakdown = table.area_mm2(
        {
            "mac": p.units * G * 2 * D,
            "exp": p.units * G,
            "max": p.units * G,
            "adder": p.units * G * (D + 1),
            "divider": G,
        }
    )
    core_time = sum(t["core_busy"])
    return Result(
        engine="rtl-decode",
        cycles=cyc,
        clock_hz=arch.clock_hz,
        energy_pj=energy,
        area_mm2=area,
        util_2d=core_time / (p.units * cyc) if cyc else 0.0,
        util_1d=t["host_busy"] / cyc if cyc else 0.0,
        dram_bytes=float((2 * keys * D + p.batch * p.heads * 2 * D) * arch.word_bytes),
        energy_breakdown=breakdown,
        area_breakdown=area_breakdown,
        actions=actions,
        extra={
            "mode": mode,
            "units": p.units,
            "block_n": p.block_n,
            "tiles_per_unit": p.schedule.tiles_per_cta(),
            "unit_busy_cycles": t["core_busy"],
            "host_busy_cycles": t["host_busy"],
            "load_cycles": t["load"],
            "partials_merged": merges,
            "group": G,
        },
    )


ENGINES = {"rtl-decode": Engine(rtl_decode, arch=("multicore",), workload=("decode",))}
