"""Engine ``gemm``: one GEMM on an R x C systolic array (os/ws/is), with its buffer and DRAM.

The GEMM is cut into folds (R x C blocks of the array mapping, see
:mod:`attnkit.sim.systolic`), visited column fold outer, row fold inner (as
SCALE-Sim does), and each fold's streamed dimension T into chunks of
``array_2d.tile_depth`` words (0: the largest that fits the buffer
double-buffered). One chunk is one tile of a two-stage pipeline:

- ``dram`` (resource ``dram``): bring the tile's operands into the global
  buffer and write back the results of the tile two earlier (its buffer
  half is free by then: depth-2 double buffering), at
  ``dram.bandwidth_bytes_per_s``; two drain tiles write the last results.
- ``array`` (resource ``array_2d``): the fold's cycles (the first chunk
  carries the fill; with ``array_2d.fold_overlap`` only the GEMM's very
  first chunk does), or longer if the global buffer's ports
  (``banks x row_bits`` per cycle) cannot feed it.

Reuse follows capacity: beside the double-buffered tiles, the buffer keeps
the operand the inner loop reuses (os: B's column block; ws/is: the
partial-sum block) if it fits, then the whole other streamed operand if
that fits too; anything that does not fit is fetched again (partial sums
spill to DRAM). The JSON adds ``compute_cycles`` (array alone, SCALE-Sim's
convention), ``folds``, ``tiles`` and ``tile_depth``.
"""

from __future__ import annotations

from math import ceil

from attnkit.errors import AttnkitError
from attnkit.sim import pipeline, systolic
from attnkit.sim.pipeline import Pipeline, Repeat, Stage
from attnkit.sim.result import Result

PIPE = Pipeline((Stage("dram", "dram"), Stage("array", "array_2d")), depth=2)

# A tile record: words moved and cycles, before timing.
IN, OUT, ARRAY, GB_RD, GB_WR = range(5)


def simulate(arch, workload, table, mode: str = "closed") -> Result:
    if getattr(arch, "kind", None) != "spatial":
        raise AttnkitError(f"engine gemm runs on a spatial architecture, not {getattr(arch, 'kind', arch)!r}")
    if getattr(workload, "kind", None) != "gemm":
        raise AttnkitError(f"engine gemm runs a gemm workload (keys m, n, k), not {getattr(workload, 'kind', workload)!r}")
    a = arch.array_2d
    if "mac" not in a.ops:
        raise AttnkitError(f"engine gemm needs 'mac' in array_2d.ops (got {', '.join(a.ops) or 'none'})")
    table.check_widths(arch)

    R, C, df = a.rows, a.cols, a.dataflow
    m, n, k = workload.m, workload.n, workload.k
    sr, sc, T = systolic.mapping(df, m, n, k)
    fr, fc = ceil(sr / R), ceil(sc / C)
    words = arch.global_buffer.bytes * 8 // arch.word_bits
    if a.tile_depth:
        depths = [min(a.tile_depth, T)]
    else:  # the mapper: the largest depth that fits, and the deepest that leaves room for each reuse
        depths = _depth_candidates(df, R, C, sr, T, words)
    best = None
    for L in depths:
        timing, records, plan = _schedule(arch, df, R, C, sr, sc, T, L, words, mode)
        _, sums = pipeline.column_sums(records, 5)
        key = (timing.cycles, sums[IN] + sums[OUT], -L)   # fastest, then least DRAM traffic, then deepest
        if best is None or key < best[0]:
            best = (key, L, timing, records, plan, sums)
    _, L, timing, records, plan, sums = best
    word_bytes = arch.word_bits / 8
    macs = m * n * k
    bits = arch.word_bits
    actions = {
        "mac.mac": macs,
        "global_buffer.read": sums[GB_RD] * bits / arch.global_buffer.row_bits,
        "global_buffer.write": sums[GB_WR] * bits / arch.global_buffer.row_bits,
        "dram.read": sums[IN] * bits / arch.dram.access_bits,
        "dram.write": sums[OUT] * bits / arch.dram.access_bits,
    }
    energy, breakdown = table.energy(actions)
    instances = {"mac": R * C, "global_buffer": table.memory_instances("global_buffer", arch.global_buffer.bytes)}
    area, area_breakdown = table.area_mm2(instances)
    static = table.static_pj(instances, timing.cycles / arch.clock_hz)
    if static:
        breakdown["static"] = static
        energy += static
    return Result(
        engine="gemm", cycles=timing.cycles, clock_hz=arch.clock_hz, energy_pj=energy, area_mm2=area,
        util_2d=macs / (R * C * timing.cycles) if timing.cycles else 0.0, util_1d=0.0,
        dram_bytes=(sums[IN] + sums[OUT]) * word_bytes,
        energy_breakdown=breakdown, area_breakdown=area_breakdown, actions=actions,
        extra={"compute_cycles": systolic.scalesim_compute_cycles(df, R, C, m, n, k),
               "dataflow": df, "folds": fr * fc, "tiles": timing.tiles - 2, "tile_depth": L,
               "mode": mode},
    )



def _depth_candidates(df, R, C, sr, T, words) -> list[int]:
    """Tile depths worth timing: the largest that fits, and for each amount of on-chip reuse
    (see :func:`_plan`) the deepest tile that still leaves room for it."""
    def deepest(room_needed):   # room = words - 2 (R L + L C + R C) >= room_needed
        return min(T, (words - 2 * R * C - room_needed) // (2 * (R + C)))
    other = sr * T                                     # os: all of A; ws/is: the whole streamed operand
    needs = (0, T * C, T * C + other, other)
    return sorted({max(1, deepest(0))} | {d for d in map(deepest, needs) if d >= 1})


def _schedule(arch, df, R, C, sr, sc, T, L, words, mode):
    """Time the GEMM with streamed depth ``L`` per tile: (timing, tile records, plan)."""
    room = words - 2 * arch.array_2d.tile_words(L)
    plan = _plan(df, R, C, sr, sc, T, L, room, arch.array_2d.fold_overlap)
    records = _program(plan)

    word_bytes = arch.word_bits / 8
    dram_bpc = arch.dram.bandwidth_bytes_per_s / arch.clock_hz
    gb_bpc = arch.global_buffer.banks * arch.global_buffer.row_bits / 8

    def timed(rec, out_delayed):
        dram = ceil((rec[IN] + out_delayed) * word_bytes / dram_bpc)
        feed = ceil((rec[GB_RD] + rec[GB_WR]) * word_bytes / gb_bpc)
        return (dram, max(rec[ARRAY], feed))

    program, fifo = _delay_outputs(records, (0, 0), timed)
    program += [(ceil(out * word_bytes / dram_bpc), 0) for out in fifo]     # drain the last results
    return pipeline.run(PIPE, program, mode), records, plan


def _plan(df, R, C, sr, sc, T, L, room, overlap=False) -> dict:
    """What stays on chip, and the fold/chunk geometry."""
    if df == "os":
        col_res = T * C <= room                        # B's column block, reused by the inner row loop
        row_res = sr * T <= room - (T * C if col_res else 0)   # all of A, reused by every column fold
        keep = {"col": col_res, "row": row_res}
    else:
        psum_res = T * C <= room                       # the partial-sum block, accumulated over row folds
        stream_res = T * sr <= room - (T * C if psum_res else 0)
        keep = {"psum": psum_res, "stream": stream_res}
    return {"df": df, "R": R, "C": C, "sr": sr, "sc": sc, "T": T, "L": L, "keep": keep,
            "fill": systolic.fill_cycles(df, R, C), "overlap": overlap}


def _chunk(p, rr, cc, r, c, first, last, l):
    """The record of one tile: chunk of length l of fold (r, c), rr x cc of it used."""
    keep, fr = p["keep"], ceil(p["sr"] / p["R"])
    fill = first and (not p["overlap"] or (r == 0 and c == 0))
    array = l + (p["fill"] if fill else 0)
    if p["df"] == "os":
        load_a = rr * l if (c == 0 or not keep["row"]) else 0
        load_b = l * cc if (r == 0 or not keep["col"]) else 0
        out = rr * cc if last else 0
        dram_in = load_a + load_b
        gb_rd, gb_wr = rr * l + l * cc, out
    else:
        stationary = rr * cc if first else 0
        stream = l * rr if (c == 0 or not keep["stream"]) else 0
        psum_in = l * cc if (r > 0 and not keep["psum"]) else 0
        out = l * cc if (r == fr - 1 or not keep["psum"]) else 0
        dram_in = stationary + stream + psum_in
        gb_rd = stationary + l * rr + (l * cc if r > 0 else 0)
        gb_wr = l * cc
    # DRAM fills are buffer writes; write-backs are buffer reads.
    return (dram_in, out, array, gb_rd + out, gb_wr + dram_in)


def _fold(p, rr, cc, r, c) -> list:
    T, L = p["T"], p["L"]
    nch = ceil(T / L)
    if nch == 1:
        return [_chunk(p, rr, cc, r, c, True, True, T)]
    body = [_chunk(p, rr, cc, r, c, True, False, L)]
    if nch > 2:
        body.append(Repeat(nch - 2, [_chunk(p, rr, cc, r, c, False, False, L)]))
    body.append(_chunk(p, rr, cc, r, c, False, True, T - (nch - 1) * L))
    return body


def _column(p, cc, c) -> list:
    R, sr = p["R"], p["sr"]
    fr = ceil(sr / R)
    if fr == 1:
        return _fold(p, sr, cc, 0, c)
    prog = _fold(p, R, cc, 0, c)
    if fr > 2:
        prog.append(Repeat(fr - 2, _fold(p, R, cc, 1, c)))    # middle folds: identical (r only matters as 0 / last)
    last_rr = sr - (fr - 1) * R
    prog += _fold(p, last_rr, cc, fr - 1, c)
    return prog


def _program(p) -> list:
    C, sc = p["C"], p["sc"]
    fc = ceil(sc / C)
    if fc == 1:
        return _column(p, sc, 0)
    prog = _column(p, C, 0)
    if fc > 2:
        prog.append(Repeat(fc - 2, _column(p, C, 1)))
    prog += _column(p, sc - (fc - 1) * C, fc - 1)
    return prog


def _delay_outputs(program, fifo, timed):
    """Time each record, charging its DRAM stage with the results of the tile two earlier.

    ``fifo`` holds the output words of the previous two tiles; returns the
    timed program and the fifo after it. A Repeat's first two repetitions
    see the outputs before it, later ones only the body's own, so the body
    is timed three times at most.
    """
    out = []
    for item in program:
        if isinstance(item, Repeat):
            if item.count <= 2:
                for _ in range(item.count):
                    body, fifo = _delay_outputs(item.body, fifo, timed)
                    out += body
                continue
            b1, f1 = _delay_outputs(item.body, fifo, timed)
            b2, f2 = _delay_outputs(item.body, f1, timed)
            b3, f3 = _delay_outputs(item.body, f2, timed)
            out += b1 + b2 + [Repeat(item.count - 2, b3)]
            fifo = f3
        else:
            out.append(timed(item, fifo[0]))
            fifo = (fifo[1], item[OUT])
    return out, fifo


ENGINES = {"gemm": simulate}
