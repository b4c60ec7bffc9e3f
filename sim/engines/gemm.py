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
:class:`~attnkit.sim.pipeline.BatchRun` in the mapper's order with its
pruning; a row where a blocked plan ties the chosen one's cycles and traffic
(the winner then hangs on the scalar form's float rounding) takes the scalar
form's answer.
"""

from __future__ import annotations

from math import ceil

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.params.arch import SpatialArch
from attnkit.params.workload import GemmWorkload
from attnkit.sim import pipeline, systolic
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import BatchUnsupported, Engine, Points, _batch
from attnkit.sim.memo import remembered
from attnkit.sim.pipeline import BatchRun, BatchSums, Pipeline, Repeat, Stage, run_length
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


# ----------------------------------------------------------------------------- batch form

ORDERS = ("blk", "col", "row")  # loop orders, coded by their rank as strings (the mapper sorts them so)


class _GemmRun:
    """:func:`_time` over many rows: tile records stepped on a :class:`BatchRun` of PIPE, each tile's DRAM
    stage also writing back the results of the tile two earlier (the FIFO of the last two outputs), or
    only summed (``sums``: a float :class:`BatchSums` of the five record columns)."""

    def __init__(self, g: _G, sums: bool = False):
        self.g, self.n, self.timed = g, g.n, not sums
        # the FIFO is a body's own after two repetitions
        self.target: BatchRun | BatchSums = BatchSums(5, g.n, np.float64) if sums else BatchRun(PIPE, g.n, settle=2)
        self.fifo = [np.zeros(g.n), np.zeros(g.n)]

    def step(self, rec, active=None) -> None:
        if not self.timed:
            self.target.step(rec, active)
            return
        g = self.g
        dram = np.ceil((rec[IN] + self.fifo[0]) * g.word_bytes / g.dram_bpc).astype(np.int64)
        feed = np.ceil((rec[GB_RD] + rec[GB_WR]) * g.word_bytes / g.gb_bpc).astype(np.int64)
        self.target.step((dram, np.maximum(rec[ARRAY], feed)), active)
        out = np.broadcast_to(np.asarray(rec[OUT], dtype=np.float64), (self.n,))
        if active is None:
            self.fifo = [self.fifo[1], out]
        else:
            self.fifo = [np.where(active, self.fifo[1], self.fifo[0]), np.where(active, out, self.fifo[1])]

    def repeat(self, count, body, active=None) -> None:
        if not callable(body):
            rec = body

            def body(act):
                self.step(rec, act)

        self.target.repeat(count, body, active)

    def when(self, mask, body, active=None) -> None:
        self.target.when(mask, body, active)

    def drain(self, active) -> None:
        """The last two tiles' results written back (two tiles of DRAM only)."""
        for out in list(self.fifo):
            self.target.step((np.ceil(out * self.g.word_bytes / self.g.dram_bpc).astype(np.int64), 0), active)


class _G:
    """The columns the batch form reads, one value per row, named as in :func:`simulate`."""

    def __init__(self, points: Points):
        arch, wl = points.arch, points.workload
        self.n = len(points)
        self.R, self.C = arch("array_2d.rows"), arch("array_2d.cols")
        df = arch("array_2d.dataflow").astype(str)
        self.os, self.df = df == "os", df
        self.m, self.nn, self.k = wl("m"), wl("n"), wl("k")
        self.sr = np.where(self.os, self.m, self.k)
        self.sc = np.where(self.os, self.nn, np.where(df == "ws", self.nn, self.m))
        self.T = np.where(self.os, self.k, np.where(df == "ws", self.m, self.nn))
        self.fr, self.fc = _batch.cdiv(self.sr, self.R), _batch.cdiv(self.sc, self.C)
        self.word_bits = arch("word_bits")
        self.words = arch("global_buffer.bytes") * 8 // self.word_bits
        self.tile_depth = arch("array_2d.tile_depth")
        self.overlap = arch("array_2d.fold_overlap").astype(bool)
        self.clock = arch("clock_hz").astype(np.float64)
        bw = arch("dram.bandwidth_bytes_per_s").astype(np.float64)
        self.word_bytes = self.word_bits / 8
        self.dram_bpc = bw / self.clock
        self.dram_wpc = bw / self.clock / self.word_bytes  # arch.dram_words_per_cycle
        self.gb_bpc = arch("global_buffer.banks") * arch("global_buffer.row_bits") / 8
        self.fill = np.where(self.os, self.R + self.C - 2, 2 * self.R + self.C - 2)


def _depths_b(g: _G, order: str) -> list[np.ndarray]:
    """:func:`_depth_candidates` per row: columns of depths (0: none), each row's set once."""
    R, C, T = g.R, g.C, g.T

    def deepest(need):
        return np.minimum(T, (g.words - 2 * R * C - need) // (2 * (R + C)))

    if order == "row":
        inner, other = 2 * R * T, T * g.sc
    else:
        inner, other = T * C, g.sr * T
    cands = [np.maximum(1, deepest(0))] + [np.where(d >= 1, d, 0) for d in map(deepest, (inner, inner + other, other))]
    out = []
    for i, d in enumerate(cands):
        out.append(np.where(np.any([d == e for e in cands[:i]], axis=0) if i else False, 0, d))
    return out


def _blocked_b(g: _G, keep: int = 2) -> list[tuple]:
    """:func:`_blocked_candidates` per row: ``keep`` columns of (mb, nb, L) (L 0: none)."""
    R, C, sr, sc, T, fr, fc = g.R, g.C, g.sr, g.sc, g.T, g.fr, g.fc

    def sizes(nf):  # {nf} and the powers of two below it, as columns (0: none)
        out, v = [nf], np.ones_like(nf)
        while (v < nf).any():
            out.append(np.where(v < nf, v, 0))
            v = np.where(v < nf, v * 2, v)
        return out

    rows = []
    for mb in sizes(fr):
        for nb in sizes(fc):
            ok = (mb > 0) & (nb > 0)
            mb1, nb1 = np.maximum(mb, 1), np.maximum(nb, 1)
            per = 2 * (mb1 * R + nb1 * C)
            L = (g.words - 2 * R * C) // per
            short = L < T
            L2 = (g.words - 2 * R * C - mb1 * nb1 * R * C) // per
            ok &= ~short | (L2 >= 1)
            L2 = np.maximum(L2, 1)
            L = np.where(short, _batch.cdiv(T, _batch.cdiv(T, L2)), L)  # equal chunks
            traffic = sr * T * _batch.cdiv(fc, nb1) + T * sc * _batch.cdiv(fr, mb1) + sr * sc
            rows.append((ok, np.maximum(fr * fc * T, traffic / g.dram_wpc), traffic, -L, mb1, nb1))
    ok = np.array([r[0] for r in rows])
    keys = [np.array([r[i] for r in rows]) for i in range(1, 6)]
    rank = np.lexsort([*reversed(keys), ~ok], axis=0)
    cols = np.arange(g.n)
    out = []
    for i in range(keep):
        q = rank[i] if i < len(rows) else rank[0]
        valid = ok[q, cols] & (i < len(rows))
        out.append((keys[3][q, cols], keys[4][q, cols], np.where(valid, -keys[2][q, cols], 0)))
    return out


def _plan_b(g: _G, L, order: str) -> dict:
    """:func:`_plan` per row for loop order ``order``: what stays on chip."""
    R, C, T, sr, sc = g.R, g.C, g.T, g.sr, g.sc
    room = g.words - 2 * (R * L + L * C + R * C)
    if order == "row":
        row_res = 2 * R * T <= room
        col_res = T * sc <= room - np.where(row_res, 2 * R * T, 0)
        return {"col": col_res, "row": row_res, "psum": False, "stream": False}
    col_res = T * C <= room  # os: B's column block; ws/is: the partial-sum block
    row_res = sr * T <= room - np.where(col_res, T * C, 0)
    return {"col": col_res, "row": row_res, "psum": col_res, "stream": row_res}


def _chunk_b(g: _G, p: dict, order: str, rr, cc, r0, rlast, nxt, c0, first: bool, last, l) -> tuple:
    """:func:`_chunk` per row: fold row r as (r == 0, r == fr - 1, the next row fold's rows)."""
    keep = p["keep"]
    fill = np.where(first & (~g.overlap | (r0 & c0)), g.fill, 0)
    array = l + fill
    out_os = np.where(last, rr * cc, 0)
    if order == "row":
        prefetch = keep["row"]
        load_a = np.where(prefetch, np.where(r0 & c0, rr * l, 0) + nxt * l / g.fc, rr * l)
    else:
        load_a = np.where(c0 | ~keep["row"], rr * l, 0)
    load_b = np.where(r0 | ~keep["col"], l * cc, 0)
    os_rec = (load_a + load_b, out_os, rr * l + l * cc, out_os)
    if order == "row":  # os only
        dram_in, out, gb_rd, gb_wr = os_rec
    else:
        stationary = rr * cc if first else 0
        stream = np.where(c0 | ~keep["stream"], l * rr, 0)
        psum_in = np.where(~r0 & ~keep["psum"], l * cc, 0)
        out_ws = np.where(rlast | ~keep["psum"], l * cc, 0)
        dram_ws = stationary + stream + psum_in
        gb_rd_ws = stationary + l * rr + np.where(~r0, l * cc, 0)
        dram_in = np.where(g.os, os_rec[0], dram_ws)
        out = np.where(g.os, out_os, out_ws)
        gb_rd = np.where(g.os, os_rec[2], gb_rd_ws)
        gb_wr = np.where(g.os, out_os, l * cc)
    return (dram_in, out, array, gb_rd + out, gb_wr + dram_in)


def _fold_b(run: _GemmRun, g: _G, p, order, rr, cc, r0, rlast, nxt, c0, active) -> None:
    """:func:`_fold` per row: the fold's chunks of depth L, the last one shorter."""
    T, L = g.T, p["L"]
    nch = _batch.cdiv(T, L)
    one = nch == 1

    def chunk(first, last, l):
        return _chunk_b(g, p, order, rr, cc, r0, rlast, nxt, c0, first, last, l)

    run.step(chunk(True, one, np.where(one, T, L)), active)
    run.repeat(np.maximum(nch - 2, 0), chunk(False, False, L), active)
    run.when(~one, lambda a: run.step(chunk(False, True, T - (nch - 1) * L), a), active)


def _program_b(run: _GemmRun, g: _G, p: dict, order: str, active) -> None:
    """:func:`_program` per row (orders ``col`` and ``row``): folds as :func:`_column` and :func:`_row`
    visit them; a fold row matters only as the first, a middle, the one before the last and the last."""
    R, C, sr, sc, fr, fc = g.R, g.C, g.sr, g.sc, g.fr, g.fc
    last_rr, last_cc = sr - (fr - 1) * R, sc - (fc - 1) * C
    no = np.zeros(g.n, dtype=bool)
    if order == "col":

        def column(cc, c0, act):
            def fold(rr, r0, rlast, a):
                _fold_b(run, g, p, order, rr, cc, r0, rlast, 0, c0, a)

            fold(np.where(fr == 1, sr, R), ~no, fr == 1, act)
            run.repeat(np.maximum(fr - 2, 0), lambda a: fold(R, no, no, a), act)
            run.when(fr > 1, lambda a: fold(last_rr, no, ~no, a), act)

        column(np.where(fc == 1, sc, C), ~no, active)
        run.repeat(np.maximum(fc - 2, 0), lambda a: column(C, no, a), active)
        run.when(fc > 1, lambda a: column(last_cc, no, a), active)
        return

    def row(rr, r0, rlast, nxt, act):
        def fold(cc, c0, a):
            _fold_b(run, g, p, order, rr, cc, r0, rlast, nxt, c0, a)

        fold(np.where(fc == 1, sc, C), ~no, act)
        run.repeat(np.maximum(fc - 2, 0), lambda a: fold(C, no, a), act)
        run.when(fc > 1, lambda a: fold(last_cc, no, a), act)

    row(np.where(fr == 1, sr, R), ~no, fr == 1, np.where(fr > 1, np.minimum(R, sr - R), 0), active)
    run.repeat(np.maximum(fr - 3, 0), lambda a: row(R, no, no, R, a), active)
    run.when(fr > 2, lambda a: row(R, no, no, last_rr, a), active)
    run.when(fr > 1, lambda a: row(last_rr, no, ~no, 0, a), active)


def _blocked_program_b(run: _GemmRun, g: _G, p: dict, mb, nb, active) -> None:
    """:func:`_blocked_program` per row: column blocks of nb folds, row blocks of mb folds, k chunks, the
    block's folds. A block is (a full folds, then one of p rows or columns when p > 0)."""
    R, C, sr, sc, T, L = g.R, g.C, g.sr, g.sc, g.T, p["L"]
    nch = _batch.cdiv(T, L)
    one = nch == 1

    def blocks(nf, size, per):  # (full blocks, tail's full folds, tail's partial fold)
        nfull, rem = nf // size, nf % size
        return nfull // per, nfull % per, rem

    nblk_c, left_c, rem_c = blocks(sc, C, nb)  # (a row's unused plan: any stand-in)
    nblk_r, left_r, rem_r = blocks(sr, R, mb)
    tail_c, tail_r = (left_c > 0) | (rem_c > 0), (left_r > 0) | (rem_r > 0)

    def block_chunk(rows, cols, l, kf: bool, kl, fog: bool, act):
        (a_r, p_r), (a_c, p_c) = rows, cols
        nfold = np.maximum((a_r + (p_r > 0)) * (a_c + (p_c > 0)), 1)
        load = l * (a_r * R + p_r + a_c * C + p_c)

        def tile(rr, cc, lead: bool):
            dram = (load if lead else 0) if fog else load / nfold
            out = np.where(kl, rr * cc, 0)
            gb_rd = rr * l + l * cc + (0 if kf else rr * cc) + out
            gb_wr = np.where(kl, 0, rr * cc) + dram
            return (dram, out, l + (g.fill if lead and fog else 0), gb_rd, gb_wr)

        def row(rr, a):
            run.repeat(a_c, tile(rr, C, False), a)
            run.repeat(p_c > 0, tile(rr, p_c, False), a)

        rr0, cc0 = np.where(a_r >= 1, R, p_r), np.where(a_c >= 1, C, p_c)
        run.step(tile(rr0, cc0, True), act)
        run.repeat(np.where(a_c >= 1, a_c - 1, 0), tile(rr0, C, False), act)
        run.repeat((p_c > 0) & (a_c >= 1), tile(rr0, p_c, False), act)
        run.repeat(np.where(a_r >= 1, a_r - 1, 0), lambda a: row(R, a), act)
        run.repeat((p_r > 0) & (a_r >= 1), lambda a: row(p_r, a), act)

    def row_block(rows, cols, fog: bool, act):
        block_chunk(rows, cols, np.where(one, T, L), True, one, fog, act)
        run.repeat(np.maximum(nch - 2, 0), lambda a: block_chunk(rows, cols, L, False, False, False, a), act)
        last = T - (nch - 1) * L
        run.repeat(~one, lambda a: block_chunk(rows, cols, last, False, True, False, a), act)

    full_r, tail_rows = (mb, 0), (left_r, rem_r)
    full_c, tail_cols = (nb, 0), (left_c, rem_c)
    first_rows = tuple(np.where(nblk_r >= 1, f, t) for f, t in zip(full_r, tail_rows))
    first_cols = tuple(np.where(nblk_c >= 1, f, t) for f, t in zip(full_c, tail_cols))

    def col_block(cols, first: bool, act):
        if first:
            row_block(first_rows, cols, True, act)
            run.repeat(np.maximum(nblk_r - 1, 0), lambda a: row_block(full_r, cols, False, a), act)
            run.repeat(tail_r & (nblk_r >= 1), lambda a: row_block(tail_rows, cols, False, a), act)
        else:
            run.repeat(nblk_r, lambda a: row_block(full_r, cols, False, a), act)
            run.repeat(tail_r, lambda a: row_block(tail_rows, cols, False, a), act)

    col_block(first_cols, True, active)
    run.repeat(np.maximum(nblk_c - 1, 0), lambda a: col_block(full_c, False, a), active)
    run.repeat(tail_c & (nblk_c >= 1), lambda a: col_block(tail_cols, False, a), active)


def simulate_batch(points: Points, table: EnergyTable) -> dict:
    """:func:`simulate` over a table of points: every plan the mapper weighs (loop order, tile depth,
    fold blocks) as columns, bounded from its records' sums and timed in the scalar mapper's order with
    its pruning, all rows at once."""

    def check(arch):
        if "mac" not in arch.array_2d.ops:
            raise AttnkitError("no mac")
        table.check_widths(arch)

    bad = _batch.refused_archs(points, check)
    g = _G(points)
    n, cols = g.n, np.arange(g.n)
    bad |= g.sr.astype(float) * g.sc * g.T * 4 + g.fr * g.fc * (g.T + g.fill) > _batch.SAFE
    keys = ("mac.mac", "global_buffer.read", "global_buffer.write", "dram.read", "dram.write")
    bad |= _batch.energy(table, dict.fromkeys(keys, 1), n, zeros=True)[0]
    if bad.any():
        raise BatchUnsupported("engine gemm: rows the scalar form rejects", rows=bad)

    # Plans: (order, depth L, fold blocks), a row's unused slots L = 0.
    plans: list[tuple[str, np.ndarray, tuple | None]] = []
    fixed = np.minimum(g.tile_depth, g.T)  # array_2d.tile_depth set: the one depth
    for order in ("col", "row"):
        takes = g.os if order == "row" else np.ones(n, dtype=bool)
        for i, d in enumerate(_depths_b(g, order)):
            L = np.where(g.tile_depth > 0, fixed if i == 0 else 0, d)
            plans.append((order, np.where(takes, L, 0), None))
    blk = g.os & g.overlap & (g.tile_depth == 0)
    for mb, nb, L in _blocked_b(g):
        plans.append(("blk", np.where(blk, L, 0), (mb, nb)))
    Q = len(plans)
    valid = np.array([L > 0 for _, L, _ in plans])
    sums = np.zeros((Q, 5, n))
    for q, (order, L, blocks) in enumerate(plans):
        if valid[q].any():
            run = _GemmRun(g, sums=True)
            _run_plan(run, g, order, np.maximum(L, 1), blocks, valid[q])
            assert isinstance(run.target, BatchSums)
            sums[q] = run.target.sums
    # The loop orders' sums are the scalar form's, added in its order. A blocked plan's are whole numbers
    # (a block's shares add up to its load) that its run-length program adds in another order: rounded.
    blocked = np.array([o == "blk" for o, _, _ in plans])
    sums[blocked] = np.rint(sums[blocked])
    traffic = sums[:, IN] + sums[:, OUT]
    bound = np.maximum(sums[:, ARRAY], traffic * g.word_bits / 8 / g.dram_bpc)
    negL = -np.array([L for _, L, _ in plans])
    code = np.array([np.full(n, ORDERS.index(order)) for order, _, _ in plans])

    mbs, nbs = (np.array([b[i] if b else np.ones(n, dtype=np.int64) for _, _, b in plans]) for i in (0, 1))

    def time(q, go):
        run = _GemmRun(g)
        for code_i, order in enumerate(ORDERS):
            rows = go & (code[q, cols] == code_i)
            if rows.any():
                blocks = (mbs[q, cols], nbs[q, cols])
                _run_plan(run, g, order, np.where(rows, -negL[q, cols], 1), blocks, rows)
        run.drain(go)
        assert isinstance(run.target, BatchRun)
        return run.target.cycles.copy(), {"tiles": run.target.tiles}

    best, cycles, kept = _batch.mapper([bound, traffic, negL, code], valid, bound, traffic, [traffic, negL, code], time)
    # A plan tying the chosen one's cycles and traffic, one of them blocked: which wins hangs on the
    # rounding of the scalar form's sums, so those rows take its answer.
    tie = valid & (traffic == traffic[best, cols]) & (bound <= cycles) & (np.arange(Q)[:, None] != best)
    unsure = (tie & (blocked[:, None] | blocked[best][None, :])).any(axis=0)
    s = sums[best, :, cols].T  # (5, n)
    L = -negL[best, cols]
    order = np.array(ORDERS)[code[best, cols]]
    fold_block = np.empty(n, dtype=object)  # flatten's JSON text of the (mb, nb) tuple
    fold_block[:] = [f"[{a}, {b}]" if o == "blk" else None for o, a, b in zip(order, mbs[best, cols], nbs[best, cols])]

    macs = g.m * g.nn * g.k
    bits = g.word_bits
    actions = {
        "mac.mac": macs,
        "global_buffer.read": s[GB_RD] * bits / points.arch("global_buffer.row_bits"),
        "global_buffer.write": s[GB_WR] * bits / points.arch("global_buffer.row_bits"),
        "dram.read": s[IN] * bits / points.arch("dram.access_bits"),
        "dram.write": s[OUT] * bits / points.arch("dram.access_bits"),
    }
    _, energy, breakdown = _batch.energy(table, actions, n, zeros=True)

    def instances(arch):
        return {
            "mac": arch.array_2d.rows * arch.array_2d.cols,
            "global_buffer": table.memory_instances("global_buffer", arch.global_buffer.bytes),
        }

    area = _batch.per_arch(points, lambda a: table.area_mm2(instances(a))[0], np.float64)
    area_breakdown = _batch.per_arch_dict(points, lambda a: table.area_mm2(instances(a))[1])
    static_mw = _batch.per_arch(
        points, lambda a: sum(table.components[c].static_mw * k for c, k in instances(a).items()), np.float64
    )
    static = static_mw * 1e9 * (cycles / g.clock)
    if (static != 0).any():
        breakdown["static"] = _batch.present(static, static != 0)
        energy = energy + static
    some = cycles > 0
    out = {
        "engine": "gemm",
        "cycles": cycles,
        "latency_s": cycles / g.clock,
        "energy_pj": energy,
        "area_mm2": area,
        "util_2d": np.where(some, macs / (g.R * g.C * np.where(some, cycles, 1)), 0.0),
        "util_1d": 0.0,
        "dram_bytes": (s[IN] + s[OUT]) * g.word_bytes,
        "compute_cycles": g.fr * g.fc * (g.T + g.fill) - 1,
        "dataflow": g.df,
        "folds": g.fr * g.fc,
        "tiles": kept["tiles"] - 2,
        "tile_depth": L,
        "loop_order": order,
        "fold_block": fold_block,
        "mode": "closed",
    }
    out.update({f"energy_breakdown.{k}": v for k, v in breakdown.items()})
    out.update({f"area_breakdown.{k}": v for k, v in area_breakdown.items()})
    out.update({f"actions.{k}": np.broadcast_to(v, (n,)) for k, v in actions.items()})
    return _batch.from_scalar(out, unsure, simulate, points, table) if unsure.any() else out


def _run_plan(run: _GemmRun, g: _G, order: str, L, blocks, active) -> None:
    p = _plan_b(g, L, order)
    plan = {"keep": p, "L": L}
    if order == "blk":
        _blocked_program_b(run, g, plan, blocks[0], blocks[1], active)
    else:
        _program_b(run, g, plan, order, active)


# The mapping reads the arch's fields but its name and engine, the GEMM's shape, the table and the mode: a
# GEMM met again in a process (the same layer GEMM on FLAT's and the unfused design's arrays, the same
# projection in another request) is mapped once.
simulate = remembered(_simulate)

ENGINES = {"gemm": Engine(simulate, arch=("spatial",), workload=("gemm",), batch=simulate_batch)}
