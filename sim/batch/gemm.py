"""The batch form of :mod:`attnkit.sim.engines.gemm`: its mapper over a table of points, every plan as
columns, each candidate's tile program stepped on one :class:`~attnkit.sim.batch.pipeline.BatchRun` in
the mapper's order."""

from __future__ import annotations

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.sim.batch import BatchUnsupported, Points, common
from attnkit.sim.batch.pipeline import BatchRun, BatchSums
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines.gemm import ARRAY, GB_RD, GB_WR, IN, OUT, PIPE, simulate

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
        self.fr, self.fc = common.cdiv(self.sr, self.R), common.cdiv(self.sc, self.C)
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
            L = np.where(short, common.cdiv(T, common.cdiv(T, L2)), L)  # equal chunks
            traffic = sr * T * common.cdiv(fc, nb1) + T * sc * common.cdiv(fr, mb1) + sr * sc
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
    nch = common.cdiv(T, L)
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
    nch = common.cdiv(T, L)
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

    bad = common.refused_archs(points, check)
    g = _G(points)
    n, cols = g.n, np.arange(g.n)
    bad |= g.sr.astype(float) * g.sc * g.T * 4 + g.fr * g.fc * (g.T + g.fill) > common.SAFE
    keys = ("mac.mac", "global_buffer.read", "global_buffer.write", "dram.read", "dram.write")
    bad |= common.energy(table, dict.fromkeys(keys, 1), n, zeros=True)[0]
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

    best, cycles, kept = common.mapper([bound, traffic, negL, code], valid, bound, traffic, [traffic, negL, code], time)
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
    _, energy, breakdown = common.energy(table, actions, n, zeros=True)

    def instances(arch):
        return {
            "mac": arch.array_2d.rows * arch.array_2d.cols,
            "global_buffer": table.memory_instances("global_buffer", arch.global_buffer.bytes),
        }

    area = common.per_arch(points, lambda a: table.area_mm2(instances(a))[0], np.float64)
    area_breakdown = common.per_arch_dict(points, lambda a: table.area_mm2(instances(a))[1])
    static_mw = common.per_arch(
        points, lambda a: sum(table.components[c].static_mw * k for c, k in instances(a).items()), np.float64
    )
    static = static_mw * 1e9 * (cycles / g.clock)
    if (static != 0).any():
        breakdown["static"] = common.present(static, static != 0)
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
    return common.from_scalar(out, unsure, simulate, points, table) if unsure.any() else out


def _run_plan(run: _GemmRun, g: _G, order: str, L, blocks, active) -> None:
    p = _plan_b(g, L, order)
    plan = {"keep": p, "L": L}
    if order == "blk":
        _blocked_program_b(run, g, plan, blocks[0], blocks[1], active)
    else:
        _program_b(run, g, plan, order, active)


FORMS = {"gemm": simulate_batch}
