"""Engine ``gemm``: one GEMM on an R x C systolic array (os/ws/is), with its buffer and DRAM.

The GEMM is cut into folds (R x C blocks of the array mapping, see
:mod:`attnkit.sim.systolic`), visited column fold outer, row fold inner (as
SCALE-Sim does) or, for ``os``, row fold outer and column fold inner (the
loop order a mapper chooses: which operand stays resident across the inner
folds), and each fold's streamed dimension T into chunks of
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
the operand the inner loop reuses (os, column order: B's column block, row
order: A's row block; ws/is: the partial-sum block) if it fits, then the
whole other streamed operand if that fits too; anything that does not fit
is fetched again (partial sums spill to DRAM). The mapper times every
(loop order, tile depth) worth trying and keeps the fastest, then the one
moving the least DRAM traffic; the compute (fold) cycles are the same for
all. The JSON adds ``compute_cycles`` (array alone, SCALE-Sim's
convention), ``folds``, ``tiles``, ``tile_depth`` and ``loop_order``
(``col``: column folds outer; ``row``: row folds outer).

The batch form runs the same mapper over a table of points: every plan as
columns, its records summed as the scalar form sums them and timed on
:class:`~attnkit.sim.batch.pipeline.BatchRun` in the mapper's order with its
pruning; a row where a blocked plan ties the chosen one's cycles and traffic
(the winner then hangs on the scalar form's float rounding) takes the scalar
form's answer.
"""

from __future__ import annotations

from math import ceil

from attnkit.errors import AttnkitError
from attnkit.params.arch import SpatialArch
from attnkit.params.workload import GemmWorkload
from attnkit.sim import pipeline, systolic
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import Engine
from attnkit.sim.memo import remembered
from attnkit.sim.pipeline import Pipeline, Repeat, Stage, run_length
from attnkit.sim.result import Result

PIPE = Pipeline((Stage("dram", "dram"), Stage("array", "array_2d")), depth=2)

# A tile record: words moved and cycles, before timing.
IN, OUT, ARRAY, GB_RD, GB_WR = range(5)


def _simulate(arch: SpatialArch, workload: GemmWorkload, table: EnergyTable, mode: str) -> Result:
    # one GEMM (see the module docstring); simulate is this, remembered
    a = arch.array_2d
    if "mac" not in a.ops:
        raise AttnkitError(f"engine gemm needs 'mac' in array_2d.ops (got {', '.join(a.ops) or 'none'})")
    table.check_widths(arch)

    R, C, df = a.rows, a.cols, a.dataflow
    m, n, k = workload.m, workload.n, workload.k
    sr, sc, T = systolic.mapping(df, m, n, k)
    fr, fc = ceil(sr / R), ceil(sc / C)
    words = arch.global_buffer.bytes * 8 // arch.word_bits
    orders = ("col", "row") if df == "os" else ("col",)
    jobs: list[tuple[str, int, tuple[int, int] | None]] = []
    for order in orders:
        if a.tile_depth:
            depths = [min(a.tile_depth, T)]
        else:  # the mapper: the largest depth that fits, and the deepest that leaves room for each reuse
            depths = _depth_candidates(df, R, C, sr, sc, T, words, order)
        jobs += [(order, L, None) for L in depths]
    if df == "os" and a.fold_overlap and not a.tile_depth:
        bw = arch.dram_words_per_cycle
        jobs += [("blk", L, (mb, nb)) for mb, nb, L in _blocked_candidates(R, C, sr, sc, T, words, bw)]
    # Each candidate's cycles are at least its array cycles and its DRAM traffic at full bandwidth:
    # time them in the order of that bound and skip those whose bound exceeds the best time.
    dram_bpc = arch.dram.bandwidth_bytes_per_s / arch.clock_hz
    planned = []
    for order, L, blocks in jobs:
        plan, records = _records(arch, df, R, C, sr, sc, T, L, words, order, blocks)
        _, sums = pipeline.column_sums(records, 5)
        bound = max(sums[ARRAY], (sums[IN] + sums[OUT]) * arch.word_bits / 8 / dram_bpc)
        planned.append((bound, sums[IN] + sums[OUT], -L, order, plan, records, sums))
    best = None
    for bound, traffic, negL, order, plan, records, sums in sorted(planned, key=lambda x: x[:4]):
        if best is not None and (bound > best[0][0] or (bound >= best[0][0] and traffic >= best[0][1])):
            continue  # cannot be faster, nor as fast with less traffic
        timing = _time(arch, records, mode)
        key = (timing.cycles, traffic, negL, order)  # fastest, then least DRAM traffic, then deepest
        if best is None or key < best[0]:
            best = (key, -negL, timing, records, plan, sums)
    assert best is not None  # jobs is never empty: each order has at least one depth
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
        engine="gemm",
        cycles=timing.cycles,
        clock_hz=arch.clock_hz,
        energy_pj=energy,
        area_mm2=area,
        util_2d=macs / (R * C * timing.cycles) if timing.cycles else 0.0,
        util_1d=0.0,
        dram_bytes=(sums[IN] + sums[OUT]) * word_bytes,
        energy_breakdown=breakdown,
        area_breakdown=area_breakdown,
        actions=actions,
        extra={
            "compute_cycles": systolic.scalesim_compute_cycles(df, R, C, m, n, k),
            "dataflow": df,
            "folds": fr * fc,
            "tiles": timing.tiles - 2,
            "tile_depth": L,
            "loop_order": plan["order"],
            "fold_block": plan.get("blocks"),
            "mode": mode,
        },
    )


def _depth_candidates(df, R, C, sr, sc, T, words, order="col") -> list[int]:
    """Tile depths worth timing: the largest that fits, and for each amount of on-chip reuse
    (see :func:`_plan`) the deepest tile that still leaves room for it."""

    def deepest(room_needed):  # room = words - 2 (R L + L C + R C) >= room_needed
        return min(T, (words - 2 * R * C - room_needed) // (2 * (R + C)))

    if order == "row":  # os, row folds outer: A's row blocks, then all of B
        inner, other = 2 * R * T, T * sc
    else:  # os: B's column block, all of A; ws/is: psums, stream
        inner, other = T * C, sr * T
    needs = (0, inner, inner + other, other)
    return sorted({max(1, deepest(0))} | {d for d in map(deepest, needs) if d >= 1})


def _blocked_candidates(R, C, sr, sc, T, words, bw, keep=2) -> list[tuple[int, int, int]]:
    """(mb, nb, L) for the blocked os order: blocks of mb x nb folds whose A rows (mb R x L) and B
    columns (L x nb C) are double-buffered in the buffer, the k loop cut into chunks of L when
    the whole depth does not fit (the block's partial sums then wait in the buffer). A is read
    once per column block, B once per row block; the ``keep`` best by a first-principles estimate
    (max of the fold cycles and the traffic over the bandwidth; then traffic) are timed."""
    fr, fc = ceil(sr / R), ceil(sc / C)

    def sizes(n):
        out, v = {n}, 1
        while v < n:
            out.add(v)
            v *= 2
        return out

    cands = []
    for mb in sizes(fr):
        for nb in sizes(fc):
            per = 2 * (mb * R + nb * C)  # words per unit of depth, double-buffered
            L = (words - 2 * R * C) // per
            if L < T:
                L = (words - 2 * R * C - mb * nb * R * C) // per
                if L < 1:
                    continue
                L = ceil(T / ceil(T / L))  # equal chunks
            traffic = sr * T * ceil(fc / nb) + T * sc * ceil(fr / mb) + sr * sc
            cands.append((max(fr * fc * T, traffic / bw), traffic, -L, mb, nb))
    return [(mb, nb, -negL) for _, _, negL, mb, nb in sorted(cands)[:keep]]


def _records(arch: SpatialArch, df, R, C, sr, sc, T, L, words, order="col", blocks=None):
    """The plan and tile records (words and cycles, untimed) of one mapping."""
    room = words - 2 * arch.array_2d.tile_words(L)
    plan = _plan(df, R, C, sr, sc, T, L, room, arch.array_2d.fold_overlap, order)
    plan["blocks"] = blocks
    return plan, (_blocked_program(plan) if order == "blk" else _program(plan))


def _schedule(arch: SpatialArch, df, R, C, sr, sc, T, L, words, mode, order="col", blocks=None):
    """Time the GEMM with streamed depth ``L`` per tile: (timing, tile records, plan)."""
    plan, records = _records(arch, df, R, C, sr, sc, T, L, words, order, blocks)
    return _time(arch, records, mode), records, plan


def _time(arch: SpatialArch, records, mode):
    """Time tile records on the two-stage pipeline (DRAM, then array or buffer ports)."""
    word_bytes = arch.word_bits / 8
    dram_bpc = arch.dram.bandwidth_bytes_per_s / arch.clock_hz
    gb_bpc = arch.global_buffer.banks * arch.global_buffer.row_bits / 8

    def timed(rec, out_delayed):
        dram = ceil((rec[IN] + out_delayed) * word_bytes / dram_bpc)
        feed = ceil((rec[GB_RD] + rec[GB_WR]) * word_bytes / gb_bpc)
        return (dram, max(rec[ARRAY], feed))

    if mode == "closed":  # the same tiles with equal neighbours merged: fewer nodes to time and walk
        records = pipeline.compress(records)
    program, fifo = _delay_outputs(records, (0, 0), timed)
    program += [(ceil(out * word_bytes / dram_bpc), 0) for out in fifo]  # drain the last results
    return pipeline.run(PIPE, program, mode)


def _plan(df, R, C, sr, sc, T, L, room, overlap=False, order="col") -> dict:
    """What stays on chip, and the fold/chunk geometry.

    ``keep["row"]``: A is not fetched again by column folds after the first; ``keep["col"]``: B is
    not fetched again by row folds after the first. Column order (columns outer) needs B's column
    block for the one and all of A for the other; row order needs A's row block and all of B.
    """
    if df == "os" and order == "row":
        # A's row block, reused by the inner column loop; double-buffered, so the next row fold's
        # block streams in during this one's column folds (spread over its tiles)
        row_res = 2 * R * T <= room
        col_res = T * sc <= room - (2 * R * T if row_res else 0)  # all of B, reused by every row fold
        keep = {"col": col_res, "row": row_res}
    elif df == "os":
        col_res = T * C <= room  # B's column block, reused by the inner row loop
        row_res = sr * T <= room - (T * C if col_res else 0)  # all of A, reused by every column fold
        keep = {"col": col_res, "row": row_res}
    else:
        psum_res = T * C <= room  # the partial-sum block, accumulated over row folds
        stream_res = T * sr <= room - (T * C if psum_res else 0)
        keep = {"psum": psum_res, "stream": stream_res}
    return {
        "df": df,
        "R": R,
        "C": C,
        "sr": sr,
        "sc": sc,
        "T": T,
        "L": L,
        "keep": keep,
        "fill": systolic.fill_cycles(df, R, C),
        "overlap": overlap,
        "order": order,
    }


def _chunk(p, rr, cc, r, c, first, last, l):
    """The record of one tile: chunk of length l of fold (r, c), rr x cc of it used."""
    keep, fr = p["keep"], ceil(p["sr"] / p["R"])
    fill = first and (not p["overlap"] or (r == 0 and c == 0))
    array = l + (p["fill"] if fill else 0)
    if p["df"] == "os" and p["order"] == "row" and keep["row"]:
        # row 0 fetches its A block with its first column fold; every row prefetches the next one's,
        # l / fc of it per tile of depth l (its share of the row's fc x T streamed cycles)
        nxt = min(p["R"], p["sr"] - (r + 1) * p["R"]) if r + 1 < fr else 0
        load_a = (rr * l if (r == 0 and c == 0) else 0) + nxt * l / ceil(p["sc"] / p["C"])
        load_b = l * cc if (r == 0 or not keep["col"]) else 0
        out = rr * cc if last else 0
        dram_in = load_a + load_b
        gb_rd, gb_wr = rr * l + l * cc, out
    elif p["df"] == "os":
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
        prog.append(Repeat(fr - 2, _fold(p, R, cc, 1, c)))  # middle folds: identical (r only matters as 0 / last)
    last_rr = sr - (fr - 1) * R
    prog += _fold(p, last_rr, cc, fr - 1, c)
    return prog


def _row(p, rr, r) -> list:
    """Row order: row fold r's column folds (c matters only as 0 / not 0 in :func:`_chunk`)."""
    C, sc = p["C"], p["sc"]
    fc = ceil(sc / C)
    if fc == 1:
        return _fold(p, rr, sc, r, 0)
    prog = _fold(p, rr, C, r, 0)
    if fc > 2:
        prog.append(Repeat(fc - 2, _fold(p, rr, C, r, 1)))
    prog += _fold(p, rr, sc - (fc - 1) * C, r, fc - 1)
    return prog


def _program(p) -> list:
    if p["order"] == "row":
        R, sr = p["R"], p["sr"]
        fr = ceil(sr / R)
        if fr == 1:
            return _row(p, sr, 0)
        # row 0 (fetches its own A block), rows 1..fr-3 (identical), fr-2 (prefetches the last,
        # possibly partial, row's block), fr-1 (prefetches nothing)
        prog = _row(p, R, 0)
        if fr > 3:
            prog.append(Repeat(fr - 3, _row(p, R, 1)))
        if fr > 2:
            prog += _row(p, R, fr - 2)
        return prog + _row(p, sr - (fr - 1) * R, fr - 1)
    C, sc = p["C"], p["sc"]
    fc = ceil(sc / C)
    if fc == 1:
        return _column(p, sc, 0)
    prog = _column(p, C, 0)
    if fc > 2:
        prog.append(Repeat(fc - 2, _column(p, C, 1)))
    prog += _column(p, sc - (fc - 1) * C, fc - 1)
    return prog


def _blocked_program(p) -> list:
    """Order ``blk`` (os): column blocks of nb folds outer, row blocks of mb folds, k chunks of L,
    then the block's folds. A block-chunk's A rows and B columns stream in while the block-chunk
    before it computes (double-buffered), spread evenly over its tiles; the GEMM's first one is
    fetched before it starts. Partial sums of an unfinished chunk stay in the buffer."""
    R, C, sr, sc, T, L = p["R"], p["C"], p["sr"], p["sc"], p["T"], p["L"]
    mb, nb = p["blocks"]

    def folds(n, size, per):  # blocks of ``per`` fold widths, as runs (block, how many)
        nfull, rem = divmod(n, size)
        nblk, left = divmod(nfull, per)
        runs = [((size,) * per, nblk)] if nblk else []
        tail = (size,) * left + ((rem,) if rem else ())
        if tail:
            runs.append((tail, 1))
        return runs

    nch = ceil(T / L)
    chunks = [(L, i == 0, i == nch - 1) for i in range(nch - 1)] + [(T - (nch - 1) * L, nch == 1, True)]

    def block_chunk(rows, cols, chunk, first_of_gemm):
        l, kf, kl = chunk
        n = len(rows) * len(cols)
        load = l * (sum(rows) + sum(cols))

        def tile(rr, cc, lead):
            dram = (load if lead else 0) if first_of_gemm else load / n
            out = rr * cc if kl else 0
            gb_rd = rr * l + l * cc + (0 if kf else rr * cc) + out
            gb_wr = (0 if kl else rr * cc) + dram
            return (dram, out, l + (p["fill"] if lead and first_of_gemm else 0), gb_rd, gb_wr)

        prog: list = []
        made: dict = {}  # rows of one height after the first are the same: built once, their items shared
        for i, rr in enumerate(rows):
            part = made.get((rr, i == 0))
            if part is None:
                part = made[(rr, i == 0)] = run_length(
                    [(tile(rr, cc, i == 0 and j == 0), 1) for j, cc in enumerate(cols)]
                )
            prog += part
        return prog

    def row_block(rows, cols, first_of_gemm):
        prog = block_chunk(rows, cols, chunks[0], first_of_gemm)
        return prog + run_length([(c, 1) for c in chunks[1:]], lambda c: block_chunk(rows, cols, c, False))

    col_blocks, row_blocks = folds(sc, C, nb), folds(sr, R, mb)
    (first_rows, k0), rest = row_blocks[0], row_blocks[1:]
    later_rows = [(first_rows, k0 - 1)] + rest  # the GEMM's first row block is timed apart

    def col_block(cols, first):
        runs = later_rows if first else row_blocks
        prog = row_block(first_rows, cols, True) if first else []
        return prog + run_length(runs, lambda rows: row_block(rows, cols, False))

    (cols0, n0), crest = col_blocks[0], col_blocks[1:]
    prog = col_block(cols0, True)
    return prog + run_length([(cols0, n0 - 1)] + crest, lambda cols: col_block(cols, False))


def _delay_outputs(program, fifo, timed, memo=None):
    """Time each record, charging its DRAM stage with the results of the tile two earlier.

    ``fifo`` holds the output words of the previous two tiles; returns the
    timed program and the fifo after it. A Repeat's first two repetitions
    see the outputs before it, later ones only the body's own, so the body
    is timed three times at most. A Repeat met again with the same fifo (the
    same body in the next repetition of an enclosing Repeat) gives the same
    timed items, shared rather than rebuilt (``memo``, keyed by the Repeat's
    ``id`` while ``program`` holds it), so the closed form walks them once.
    """
    if memo is None:
        memo = {}
    out = []
    for item in program:
        if isinstance(item, Repeat):
            key = (id(item), fifo)
            done = memo.get(key)
            if done is None:
                if item.count <= 2:
                    items, f = [], fifo
                    for _ in range(item.count):
                        body, f = _delay_outputs(item.body, f, timed, memo)
                        items += body
                else:
                    b1, f1 = _delay_outputs(item.body, fifo, timed, memo)
                    b2, f2 = _delay_outputs(item.body, f1, timed, memo)
                    b3, f = _delay_outputs(item.body, f2, timed, memo)
                    items = b1 + b2 + [Repeat(item.count - 2, b3)]
                done = memo[key] = (items, f)
            out += done[0]
            fifo = done[1]
        else:
            out.append(timed(item, fifo[0]))
            fifo = (fifo[1], item[OUT])
    return out, fifo


# The mapping reads the arch's fields but its name and engine, the GEMM's shape, the table and the mode: a
# GEMM met again in a process (the same layer GEMM on FLAT's and the unfused design's arrays, the same
# projection in another request) is mapped once.
simulate = remembered(_simulate)

ENGINES = {"gemm": Engine(simulate, arch=("spatial",), workload=("gemm",), batch="attnkit.sim.batch.gemm")}
