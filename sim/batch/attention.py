"""The batch forms of :mod:`attnkit.sim.engines.attention` (FuseMax's cascades, FLAT, the unfused
mapping and their ``-layer`` forms): the scalar forms' arithmetic over columns of rows, one
:class:`~attnkit.sim.batch.pipeline.BatchRun` for their tile programs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.params.workload import GemmWorkload
from attnkit.sim import cascade
from attnkit.sim.batch import BatchFn, BatchUnsupported, Points, common
from attnkit.sim.batch.pipeline import BatchRun, BatchSums, PeriodicWalk
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines.attention import (
    FLAT_PIPE,
    SERIAL_PIPE,
    TILE_PIPE,
    _area,
    _need_binding,
    _one_pass_extra,
    layer_gemms,
)


@dataclass
class _Rows:
    """The columns a batch form reads (one value per row), named as in the scalar forms."""

    n: int
    R: np.ndarray
    C: np.ndarray
    N1: np.ndarray
    E: np.ndarray
    F: np.ndarray
    B: np.ndarray
    Bkv: np.ndarray
    h: np.ndarray
    M: np.ndarray
    P: np.ndarray
    causal: np.ndarray
    words: np.ndarray  # global buffer words
    word_bits: np.ndarray
    clock: np.ndarray
    bw: np.ndarray
    exp: dict  # "array_2d" / "array_1d": has an exp unit
    taylor: np.ndarray
    operand_registers: np.ndarray

    @property
    def M1(self) -> np.ndarray:
        return common.cdiv(self.M, self.R)

    @property
    def G(self) -> np.ndarray:
        return common.cdiv(self.P, self.C)

    @property
    def L(self) -> np.ndarray:
        """Entries of a K/V head: a query group per query head (h of them) and position group."""
        return self.G * self.h

    def blocks(self, gq) -> np.ndarray:
        """Blocks of ``gq`` entries in a K/V head."""
        return common.cdiv(self.L, gq)

    def A(self, gq) -> np.ndarray:
        """Blocks of ``gq`` entries per block period: causal, the key tiles of the entries ``A gq`` on are
        those here plus the same number (entries: h per query group, J(g) = ceil((g + 1) C / R))."""
        a = self.h * self.R // np.gcd(self.R, self.C)
        return np.where(self.causal, a // np.gcd(a, gq), 1 << 40)  # not causal: every block alike

    @property
    def unmasked(self) -> np.ndarray:
        return np.where(self.causal, self.P * (self.P + 1) // 2, self.M * self.P)

    def key_tiles(self, q_end) -> np.ndarray:
        """:meth:`Shape.key_tiles` per row."""
        M1 = self.M1
        return np.where(self.causal, np.minimum(M1, (q_end - 1) // self.R + 1), M1)

    def keys(self, q_end) -> np.ndarray:
        return np.minimum(self.M, self.key_tiles(q_end) * self.R)

    def take(self, rows: np.ndarray) -> _Rows:
        """The rows at indices ``rows``."""
        cols = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        cols = {k: v[rows] if isinstance(v, np.ndarray) else v for k, v in cols.items()}
        return _Rows(**{**cols, "n": len(rows), "exp": {w: v[rows] for w, v in self.exp.items()}})

    def dram_cycles(self, nbytes) -> np.ndarray:
        """:func:`_dram_cycles` per row (``nbytes`` a float column, computed as the scalar form does)."""
        return np.ceil(nbytes * self.clock / self.bw).astype(np.int64)


def _rows(points: Points, bad: np.ndarray) -> _Rows:
    """The rows' columns; rows in ``bad`` (refused) get harmless stand-ins where a division needs them."""
    arch, wl = points.arch, points.workload
    one = np.int64(1)
    context = wl("context")
    seq = wl("seq_len")
    return _Rows(
        n=len(points),
        R=arch("array_2d.rows"),
        C=arch("array_2d.cols"),
        N1=np.where(bad, one, arch("array_1d.pes")),
        E=wl("head_dim"),
        F=wl("head_dim"),
        B=wl("batch") * wl("heads"),
        Bkv=wl("batch") * wl("groups"),
        h=wl("heads") // wl("groups"),
        M=np.where(context > 0, context, seq),
        P=np.where(context > 0, 1, seq),
        # decode (context > 0): the one query is the newest position and sees every key
        causal=wl("causal").astype(bool) & (context == 0),
        words=arch("global_buffer.bytes") * 8 // arch("word_bits"),
        word_bits=arch("word_bits"),
        clock=arch("clock_hz").astype(np.float64),
        bw=arch("dram.bandwidth_bytes_per_s").astype(np.float64),
        exp={w: _has_exp(points, w) for w in ARRAYS},
        taylor=arch("exp_taylor_macs"),
        operand_registers=arch("array_2d.operand_registers").astype(bool),
    )


ARRAYS = ("array_2d", "array_1d")


def _has_exp(points: Points, where: str) -> np.ndarray:
    def has(arch) -> bool:
        return "exp" in getattr(arch, where).ops

    return common.per_arch(points, has, bool)


def _e_cycles(e: cascade.Einsum, r: _Rows, where: str):
    """:meth:`cascade.Einsum.cycles` per row."""
    if e.kind == "exp":
        return np.where(r.exp[where], 1, 1 + r.taylor)
    E: Any = r.E  # Einsum's action counts are arithmetic: columns in, columns out
    F: Any = r.F
    counts: Any = e.actions(E, F, False, 0).values()
    return sum(counts)


def _e_actions(e: cascade.Einsum, r: _Rows, where: str) -> dict:
    """:meth:`cascade.Einsum.actions` per row (an action a row does not do: 0)."""
    if e.kind == "exp":
        has = r.exp[where]
        return {"adder.add": 1, "exp.exp": has.astype(np.int64), "mac.mac": np.where(has, 0, r.taylor)}
    E: Any = r.E
    F: Any = r.F
    return e.actions(E, F, False, 0)


@dataclass
class _BAcc:
    """:class:`Acc` with a column per figure (exact int64 sums)."""

    actions: common.Counts = field(default_factory=common.Counts)
    ops_2d: Any = 0
    ops_1d: Any = 0
    einsum_2d: dict = field(default_factory=dict)
    einsum_1d: dict = field(default_factory=dict)
    dram_words: Any = 0  # words read and written (bytes: times word_bits / 8)


def _charge_b(acc: _BAcc, r: _Rows, where: str, e: cascade.Einsum, units, useful) -> None:
    """:func:`_charge` per row."""
    acts = _e_actions(e, r, where)
    per = _e_cycles(e, r, where)
    slots = per * units
    ops = per * useful
    for k, v in acts.items():
        acc.actions.add(k, v * units)
    if where == "array_2d":
        acc.ops_2d = acc.ops_2d + ops
        acc.einsum_2d[e.name] = acc.einsum_2d.get(e.name, 0) + ops
        macs = acts.get("mac.mac", 0) * units
        latched = 3 * macs + (slots - macs)  # operand_registers: both operands latched, accumulator updated
        if e.kind == "mac_e":
            read = write = macs
        elif e.kind == "mac_f":
            read, write = units, 0
        else:
            read, write = slots, (slots if e.kind != "max" else 0)
        acc.actions.add("regfile_2d.read", np.where(r.operand_registers, latched, read))
        acc.actions.add("regfile_2d.write", np.where(r.operand_registers, latched, write))
    else:
        acc.ops_1d = acc.ops_1d + ops
        acc.einsum_1d[e.name] = acc.einsum_1d.get(e.name, 0) + ops
        acc.actions.add("regfile_1d.read", slots)
        acc.actions.add("regfile_1d.write", slots)


def _traffic_b(points: Points, acc: _BAcc, r: _Rows, dram_read, dram_write, gb_read, gb_write) -> None:
    """:func:`_dram` and :func:`_gb` per row (word counts exact; actions as the scalar form divides them)."""
    per = points.arch("dram.access_bits") / r.word_bits
    row = points.arch("global_buffer.row_bits") / r.word_bits
    acc.actions.add("dram.read", dram_read / per)
    acc.actions.add("dram.write", dram_write / per)
    acc.actions.add("global_buffer.read", gb_read / row)
    acc.actions.add("global_buffer.write", gb_write / row)
    acc.dram_words = acc.dram_words + dram_read + dram_write


def _unpriced_traffic(table: EnergyTable, acc: _BAcc, n: int) -> np.ndarray:
    """Rows whose actions so far, with DRAM and buffer traffic beside them (every design moves data through
    both), the table cannot price: those the scalar form refuses, known before the traffic is."""
    probe = acc.actions.copy()
    for key in ("dram.read", "dram.write", "global_buffer.read", "global_buffer.write"):
        probe[key] = 1
    return common.energy(table, probe, n)[0]


def _result_b(name: str, points: Points, table: EnergyTable, r: _Rows, timing: tuple, acc: _BAcc, extra: dict) -> dict:
    """:func:`_result` per row: the flattened ``Result.to_dict()`` columns; ``timing``: (cycles, tiles,
    busy cycles by resource) columns."""
    n = r.n
    cyc, tiles, busy = timing
    _, energy, breakdown = common.energy(table, acc.actions, n)
    area = common.per_arch(points, lambda a: _area(a, table)[0], np.float64)
    area_breakdown = common.per_arch_dict(points, lambda a: _area(a, table)[1])
    some = cyc > 0
    safe = np.where(some, cyc, 1)
    pes2 = r.R * r.C
    pes1 = r.N1
    ops_2d = np.broadcast_to(acc.ops_2d, (n,)).astype(np.float64)
    ops_1d = np.broadcast_to(acc.ops_1d, (n,)).astype(np.float64)

    def frac(v, pes):  # v / (pes * cyc), 0.0 where no cycles
        return np.where(some, np.asarray(v, dtype=np.float64) / (pes * safe), 0.0)

    out: dict[str, Any] = {
        "engine": name,
        "cycles": cyc,
        "latency_s": cyc / r.clock,
        "energy_pj": energy,
        "area_mm2": area,
        "util_2d": frac(ops_2d, pes2),
        "util_1d": frac(ops_1d, pes1),
        "dram_bytes": acc.dram_words * r.word_bits / 8,
    }
    out.update({f"einsum_util_2d.{k}": frac(v, pes2) for k, v in acc.einsum_2d.items()})
    out.update({f"einsum_util_1d.{k}": frac(v, pes1) for k, v in acc.einsum_1d.items()})
    out["busy_2d"] = np.where(some, busy.get("array_2d", 0) / safe, 0.0)
    out["busy_1d"] = np.where(some, busy.get("array_1d", 0) / safe, 0.0)
    out["tiles"] = tiles
    out["bound_compute_s"] = np.maximum(ops_2d / pes2, np.where(pes1 > 0, ops_1d / np.maximum(pes1, 1), 0.0)) / r.clock
    out["bound_dram_s"] = r.word_bits / 8 * (r.B * r.P + r.Bkv * r.M) * (r.E + r.F) / r.bw
    out.update(extra)
    out.update({f"energy_breakdown.{k}": v for k, v in breakdown.items()})
    out.update({f"area_breakdown.{k}": v for k, v in area_breakdown.items()})
    out.update(common.actions_columns(acc.actions, n))
    return out


def _and(active, mask):
    return mask if active is None else active & mask


def _row_b(run: BatchRun, tile, first: bool, n_last, n_cont, active) -> None:
    """:func:`row` of :func:`_one_pass` per row: one key tile against a block's groups (n_last end there)."""
    if active is not None and not active.any():
        return
    ends = n_last > 0
    run.step(tile(first, ends, True), active)
    run.repeat(np.where(ends, n_last - 1, 0), lambda act: run.step(tile(first, True, False), act), active)
    run.repeat(np.where(ends, n_cont, n_cont - 1), lambda act: run.step(tile(first, False, False), act), active)


def _block_b(run: BatchRun, tile, J, n, active) -> None:
    """A block of ``n`` query groups that all need key tiles 0 .. J - 1."""
    one = J == 1
    _row_b(run, tile, True, np.where(one, n, 0), np.where(one, 0, n), active)
    run.repeat(np.maximum(J - 2, 0), lambda act: _row_b(run, tile, False, 0, n, act), active)
    _row_b(run, tile, False, n, 0, _and(active, ~one))


@dataclass
class _Tiles:
    """The durations of :func:`_one_pass`'s tiles, per row: ``tile(first, last, fetch)``."""

    kv: np.ndarray
    q: np.ndarray
    o: np.ndarray
    d2: np.ndarray
    d1: np.ndarray
    d1_last: np.ndarray
    serial: bool

    def __call__(self, first: bool, last, fetch: bool) -> tuple:
        dram = (self.kv if fetch else 0) + (self.q if first else 0) + np.where(last, self.o, 0)
        one_d = np.where(last, self.d1_last, self.d1)
        return (dram, self.d2 + one_d) if self.serial else (dram, self.d2, one_d)

    def take(self, rows: np.ndarray) -> _Tiles:
        cols = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return _Tiles(**{k: v[rows] if isinstance(v, np.ndarray) else v for k, v in cols.items()})


def _nodes(r: _Rows, gq, b, g) -> dict:
    """Everything a walk iteration at block ``b``, group ``g`` derives from them: each node one floor,
    min, comparison or product of earlier ones (so :func:`_leap` can tell where they stay affine)."""
    R, C, h, M1, P, L = r.R, r.C, r.h, r.M1, r.P, r.L
    d: dict[str, np.ndarray] = {}

    def J(name, grp):  # key tiles group ``grp`` needs, through its nodes
        d[f"{name}q"] = np.minimum((grp + 1) * C, P)
        d[f"{name}k"] = (d[f"{name}q"] - 1) // R
        d[name] = np.where(r.causal, np.minimum(M1, d[f"{name}k"] + 1), M1)
        return d[name]

    d["live"] = b < r.blocks(gq)
    e0 = d["e0"] = b * gq
    e1 = d["e1"] = np.minimum(e0 + gq, L)
    v = J("v", g)
    d["one"] = v == 1
    d["v2"] = np.maximum(v - 2, 0)
    start = d["start"] = g * h <= e0
    s0 = d["s0"] = np.maximum(e0, g * h)
    d["more"] = r.causal & (v < M1)
    d["vRC"] = v * R // C
    gn = d["gn"] = np.where(d["more"], d["vRC"], r.G)  # the first group needing more key tiles
    y = d["y"] = np.minimum(gn * h, L)  # the first entry needing more
    d["ye"] = (y - e0) // gq
    A = r.A(gq)
    d["bA"] = b // A
    d["toA"] = np.minimum(d["ye"], (d["bA"] + 1) * A - b)  # not past the next block period
    nrep = d["nrep"] = np.where(start & d["live"], d["toA"], 0)  # whole blocks inside this run
    same = d["same"] = nrep > 0
    d["N"] = e1 - s0  # entries needing v or more key tiles
    d["me"] = np.minimum(e1, y)
    m = d["m"] = d["me"] - s0  # exactly v
    d["Nm"] = d["N"] - m
    d["mpos"], d["Nmpos"] = m > 0, d["Nm"] > 0
    prev = np.where(start, 0, J("p", g - 1))
    d["mid"] = np.where(start, d["v2"], v - 1 - prev)
    inside = d["inside"] = ~same & (y < e1)  # the block goes on with the groups needing more
    d["bn"] = b + np.where(same, nrep, 1)
    d["gb"] = d["bn"] * gq // h
    d["l"] = (e1 - 1) // h
    d["kvl"] = np.minimum(r.M, R * J("lv", d["l"]))
    d["kvv"] = np.minimum(r.M, v * R)
    d["g2"] = np.where(inside, gn, d["gb"])
    d["b2"] = np.where(inside, b, d["bn"])
    # the counts of the repeats the iteration runs (0: it runs no such repeat)
    seg = ~same
    d["c_rows"] = np.where(same, d["v2"], 0)
    for k in ("N", "m", "Nm", "mid"):
        d[f"c_{k}"] = np.where(seg, d[k], 0)
    return d


# Counts of repeats a walk iteration runs: where one moves, its runs must be past their transient.
_COUNTS = ("nrep", "c_rows", "c_N", "c_m", "c_Nm", "c_mid")


def _node_table(r: _Rows, gq, b, g) -> tuple[list[str], np.ndarray]:
    """:func:`_nodes` as one (nodes, rows) int table, and the nodes' names in its order."""
    d = _nodes(r, gq, b, g)
    return list(d), np.stack([np.asarray(v, dtype=np.int64) for v in d.values()])


def _leap(r: _Rows, gq, walk: PeriodicWalk, rows: np.ndarray, p: np.ndarray, run: BatchRun, nb) -> np.ndarray:
    """Per row of ``rows``, the most whole periods (of ``p`` iterations) the walk may jump: every node of
    every iteration of the period affine over the three recorded periods and still affine ``q`` periods
    on (whether a floor of an affine sequence, or a min or comparison of two, follows the line through
    its first values is monotone in how far one looks: true at the far end, true between), and every
    moving count past its runs' transient and moving by whole periods of theirs."""
    sub = r.take(rows)
    sgq = gq[rows]
    step = walk.step(rows, p)
    b0, g0 = walk.at(np.zeros_like(p), rows)
    # a bound to search below: the walk's end (its last block ``nb``, or groups within the block)
    hi = np.where(
        step[0] > 0,
        (nb - b0) // np.maximum(step[0], 1),
        (sub.G - g0) // np.maximum(step[1], 1),
    )
    hi = np.maximum(hi, 0)
    thr = run.settled(rows, 1)
    cycle = run.cycle[1, rows]
    ok_all = np.ones(len(rows), dtype=bool)
    phases = []
    for i in range(int(p.max())):
        back = np.where(i < p, p - i, p)  # boundary t - p + i (rows with shorter periods: repeat phase 0)
        c1 = walk.at(back, rows)
        (keys, n1), (_, n2), (_, n3) = (_node_table(sub, sgq, *walk.at(back + j * p, rows)) for j in range(3))
        counts = np.array([keys.index(k) for k in _COUNTS])
        slope = n1 - n2
        ok_all &= (slope == n2 - n3).all(0)
        moving = slope[counts] != 0
        fine = (n3[counts] >= thr) & (n1[counts] >= thr) & (slope[counts] % cycle == 0)
        ok_all &= (~moving | fine).all(0)
        phases.append((c1, n1, slope))
        # a count moving down stays at thr or more for (count - thr) // -slope periods
        down = slope[counts] < 0
        room = (n1[counts] - thr) // np.where(down, -slope[counts], 1)
        hi = np.minimum(hi, np.where(down, room, hi).min(0))
    hi = np.where(ok_all, np.maximum(hi, 0), 0)

    def ok(q, idx):  # the far-end check of rows idx, q periods on
        good = np.ones(len(idx), dtype=bool)
        s = sub.take(idx)
        t = thr[idx]
        for c1, n1, slope in phases:
            _, far = _node_table(s, sgq[idx], *(c1[:, idx] + q * step[:, idx]))
            good &= (far == n1[:, idx] + q * slope[:, idx]).all(0)
            good &= ((slope[counts][:, idx] >= 0) | (far[counts] >= t)).all(0)
        return good

    lo = np.zeros(len(rows), dtype=np.int64)  # ok(lo) holds; search (lo, hi]
    idx = np.flatnonzero(hi > 0)
    if idx.size:  # mostly the bound itself holds
        good = ok(hi[idx], idx)
        lo[idx] = np.where(good, hi[idx], 0)
        hi[idx] = np.where(good, hi[idx], hi[idx] - 1)
    probe = np.minimum(hi, 1)
    while True:  # gallop: 1, 2, 4, ... while it holds, then halve the gap
        idx = np.flatnonzero(probe > lo)
        if not idx.size:
            break
        good = ok(probe[idx], idx)
        lo[idx] = np.where(good, probe[idx], lo[idx])
        hi[idx] = np.where(good, hi[idx], probe[idx] - 1)
        probe[idx] = np.where(good, np.minimum(hi[idx], 2 * probe[idx]), lo[idx])
    while True:
        idx = np.flatnonzero(hi > lo)
        if not idx.size:
            break
        mid = (lo[idx] + hi[idx] + 1) // 2
        good = ok(mid, idx)
        lo[idx] = np.where(good, mid, lo[idx])
        hi[idx] = np.where(good, hi[idx], mid - 1)
    return lo


def _regular_blocks(r: _Rows, gq) -> np.ndarray:
    """Per row, the blocks before which :meth:`_Rows.A` holds: every entry's group ends at a query below
    P (J by the formula, not capped at M1) and fetches at most M keys (R J <= M)."""
    X = np.minimum(r.L, r.h * np.minimum(r.P // r.C, r.R * (r.M // r.R) // r.C))
    return X // gq


def _block_leap(r: _Rows, gq, blocks: PeriodicWalk, rows: np.ndarray, p: np.ndarray, run: BatchRun) -> np.ndarray:
    """Per row of ``rows`` (recorded at block periods, found periodic over ``p`` of them: the state at a
    period's start may alternate), the spans of ``p`` block periods the walk may jump: all inside the
    regular blocks, where each span's program is the last one's with dJ more full rows in every block;
    those runs past their transient, dJ whole periods of theirs. So the per-span increments are affine,
    and two of them give the line."""
    sub = r.take(rows)
    sgq = gq[rows]
    A = sub.A(sgq) * p
    b, _ = blocks.at(np.zeros(len(rows), dtype=np.int64), rows)
    b_old, g_old = blocks.at(2 * p, rows)
    q = np.maximum((_regular_blocks(sub, sgq) - b) // A, 0)
    q = np.where(b - b_old == 2 * A, q, 0)
    dJ = A * sgq // sub.h * sub.C // sub.R
    full = sub.key_tiles(np.minimum((g_old + 1) * sub.C, sub.P)) - 2  # the fewest full rows seen
    ok = (full >= run.settled(rows, 0)) & (dJ % run.cycle[0, rows] == 0)
    return np.where(ok, q, 0)


@dataclass
class _Walk:
    """Where a K/V head's walk is, per row: its block and group, the keys its blocks fetched so far, and
    the records of its two periodic walks (segments and block periods). ``skip``: the row's next
    iteration, at a block's start, begins after the block's full rows (a probe of :func:`_stretch`);
    ``tried``: the stretches tried from the row's block starts that did not hold."""

    b: np.ndarray
    g: np.ndarray
    kv_keys: np.ndarray
    segs: PeriodicWalk
    blocks: PeriodicWalk
    skip: np.ndarray
    tried: np.ndarray

    @classmethod
    def start(cls, n: int, run: BatchRun, b=None, g=None) -> _Walk:
        zero = np.zeros(n, dtype=np.int64)
        b = zero.copy() if b is None else b
        g = zero.copy() if g is None else g
        no = np.zeros(n, dtype=bool)
        segs, blocks = PeriodicWalk(n, 2, 1, run), PeriodicWalk(n, 2, 1, run, longest=2, seen=2)
        w = cls(b, g, zero, segs, blocks, no, zero.copy())
        w.segs.record([w.b, w.g], [w.kv_keys])
        w.blocks.record([w.b, w.g], [w.kv_keys])
        return w

    def take(self, rows: np.ndarray, run: BatchRun) -> _Walk:
        """The walk of rows ``rows`` only, on ``run`` (their own; :meth:`put` it back)."""
        walks = self.segs.take(rows, run), self.blocks.take(rows, run)
        return _Walk(self.b[rows], self.g[rows], self.kv_keys[rows], *walks, self.skip[rows], self.tried[rows])

    def put(self, sub: _Walk, rows: np.ndarray) -> None:
        """The state of ``sub`` (from :meth:`take`) back into rows ``rows``."""
        self.b[rows], self.g[rows], self.kv_keys[rows] = sub.b, sub.g, sub.kv_keys
        self.skip[rows], self.tried[rows] = sub.skip, sub.tried
        self.segs.put(sub.segs, rows)
        self.blocks.put(sub.blocks, rows)

    def moved(self, rows: np.ndarray) -> None:
        """Rows ``rows`` were moved by other means than walking: their records start again."""
        self.segs.valid[rows] = 0
        self.blocks.valid[rows] = 0
        self.segs.record([self.b, self.g], [self.kv_keys], rows)
        self.blocks.record([self.b, self.g], [self.kv_keys], rows)


# Probes (rows x block classes) a stretch walks at once.
_PROBES = 1 << 17
# Full rows a block runs after its first before its state is taken for the full rows' own (checked).
_SETTLE_ROWS = 2
# Block starts a row tries a stretch from: the full rows' state after the walk's first blocks may be one
# of several the full rows keep (a stage that is never the bottleneck keeps its lag), and differ from
# the one a block boundary leaves, which is the one the probes start from.
_TRIES = 3


def _enter(run: BatchRun, tile: _Tiles, n, full, active) -> None:
    """A block's first row and ``full`` full rows, all ``n`` of its groups going on."""
    _row_b(run, tile, True, 0, n, active)
    run.repeat(full, lambda act: _row_b(run, tile, False, 0, n, act), active)


def _stretch_end(r: _Rows, gq, at: _Walk, live, A, b1) -> np.ndarray:
    """Per row, the block where a stretch from the walk's place would end (0: none may start there): the
    row at a block's start, causal, every block on to ``b1``, the end of the regular ones, with
    ``_SETTLE_ROWS + 1`` full rows or more, and no more than ``_PROBES`` probes (``A``: blocks a period)."""
    b, g = at.b, at.g
    v = r.key_tiles(np.minimum((g + 1) * r.C, r.P))
    ok = live & r.causal & (at.tried < _TRIES) & (g * r.h <= b * gq) & (b1 - b >= 2) & (v >= _SETTLE_ROWS + 3)
    ok &= np.minimum(A, b1 - b) <= _PROBES
    return np.where(ok, b1, 0)


def _stretch(r: _Rows, gq, run: BatchRun, tile: _Tiles, at: _Walk, rows: np.ndarray, b1: np.ndarray) -> np.ndarray:
    """Rows ``rows`` of the walk, at the start of block b0, on to the start of block ``b1`` (theirs) at
    once; returns those moved (the others count one more in ``tried`` and walk on to the next block).

    In the regular blocks a block's program is its first row, ``F_b`` full rows (every group goes on),
    then its diagonal: the rows where its groups end. After a few full rows the state has the full rows'
    own shape u (one more adds lambda to every end), whatever came before. So from that point of block
    b, the program to the same point of block b + 1 (the rest of b's full rows, its diagonal, b + 1's
    first row and first full rows) takes ``(F_b - settled) lambda + kappa(b)``, and kappa depends only on
    b's diagonal, the same for b and b + A (:meth:`_Rows.A`). One probe per class, all rows' probes
    walked side by side from state u, gives each kappa; the full-row counts add in closed form."""
    A = r.A(gq)[rows]
    b0 = at.b[rows]
    ns = b1[rows] - b0
    npr = np.minimum(A, ns)  # probes per row
    if npr.sum() > _PROBES:  # a batch of probes at a time: memory bounded as the chunk's is
        cut = np.searchsorted(np.cumsum(npr), np.arange(_PROBES, int(npr.sum()), _PROBES), side="right")
        parts = np.split(rows, np.unique(np.clip(cut, 1, len(rows) - 1))) if len(rows) > 1 else [rows]
        if len(parts) > 1:
            return np.concatenate([_stretch(r, gq, run, tile, at, part, b1) for part in parts])
    T = _SETTLE_ROWS
    sr, sgq, stile = r.take(rows), gq[rows], tile.take(rows)
    m = len(rows)
    first = run.take(rows)  # the real state is changed only if the stretch holds
    _enter(first, stile, sgq, T, None)
    a0 = first.snapshot()
    _row_b(first, stile, False, 0, sgq, None)
    a1 = first.snapshot()
    ok = first.same_shape(a0)
    u = a1[0][1:] - a1[0][0]
    owner = np.repeat(np.arange(m), npr)
    starts = np.cumsum(npr) - npr
    j = np.arange(owner.size) - starts[owner]
    vr, vgq, vtile = sr.take(owner), sgq[owner], stile.take(owner)
    probe = BatchRun(run.pipe, owner.size, run.settle)
    probe.x = np.concatenate([np.zeros((1, owner.size), dtype=np.int64), u[:, owner]])
    vb = b0[owner] + j
    vat = _Walk.start(owner.size, probe, vb, vb * vgq // vr.h)
    vat.skip[:] = True
    _kv_head_b(vr, vgq, probe, vtile, None, vat, end=vb + 1, stretch=False)
    z = probe.snapshot()
    _enter(probe, vtile, vgq, T, None)
    e = probe.snapshot()
    # blocks of each probe's class before the last block (their kappa counts) and in all
    before = np.maximum(common.cdiv(ns[owner] - 1 - j, A[owner]), 0)
    every = common.cdiv(ns[owner] - j, A[owner])
    held = ((e[0][1:] - e[0][0]) == u[:, owner]).all(0) | (before == 0)
    ok &= np.logical_and.reduceat(held, starts)

    def total(v):  # per row, the sum over its probes
        return np.add.reduceat(v, starts, axis=-1)

    dJ = A * sgq // sr.h * sr.C // sr.R  # key tiles a block has more than the block A before it
    grow = every * (every - 1) // 2  # the class's blocks: 0, 1, ... periods on
    v = vr.key_tiles(np.minimum((vb * vgq // vr.h + 1) * vr.C, vr.P))
    extra = total(every * v) + dJ * total(grow) - 2 * ns - T * ns - 1  # full rows beyond those run
    last = starts + (ns - 1) % A  # the probe of the last block's class
    base = a1[0][0] + extra * (a1[0][0] - a0[0][0]) + total(before * e[0][0])
    x = z[0][:, last] + base
    tiles = a1[1] + extra * (a1[1] - a0[1]) + total(before * e[1]) + z[1][last]
    work = a1[2] + extra * (a1[2] - a0[2]) + total(before * e[2]) + z[2][:, last]
    keys = total(every * vat.kv_keys) + sr.R * dJ * total(grow)

    go, stay = rows[ok], rows[~ok]
    at.tried[stay] += 1
    run.x[:, go], run.tiles[go], run.work[:, go] = x[:, ok], tiles[ok], work[:, ok]
    # the runs' transients and periods, the probes' included, bound later jumps
    run.transient[:, go] = np.maximum(
        first.transient[:, ok], np.maximum.reduceat(probe.transient, starts, axis=1)[:, ok]
    )
    run.cycle[:, go] = np.lcm(first.cycle[:, ok], np.lcm.reduceat(probe.cycle, starts, axis=1)[:, ok])
    run.restart(go)
    at.b[go] = b1[go]
    at.g[go] = b1[go] * gq[go] // r.h[go]
    at.kv_keys[go] += keys[ok]
    at.moved(go)
    return go


def _kv_head_b(
    r: _Rows,
    gq,
    run: BatchRun,
    tile: _Tiles,
    active=None,
    at: _Walk | None = None,
    stop: int | None = None,
    end=None,
    stretch: bool = True,
) -> _Walk:
    """One K/V head's blocks timed on ``run`` (from where ``at`` left them; ``stop``: for that many walk
    iterations only; ``end``: up to that block), and where its walk ends (with the keys its blocks fetch).

    The walk visits, per row, each run of equal blocks (every block of it inside one run of query groups
    needing the same key tiles: one repeat, as the scalar form's run-length program has it) or else each
    segment of a block: the groups needing the same key tiles, with the key tiles only the later ones need
    before them. Causal, every :meth:`_Rows.A` blocks the program repeats with more full rows per block, so
    a :class:`PeriodicWalk` over block periods jumps the regular blocks a few periods in; another, over
    iterations, jumps a long block's segments. A row takes steps in proportion to its period, not to its
    key tiles. With ``stretch``, a row goes through its regular blocks at once where :func:`_stretch` holds.
    Once most rows are done, the walk goes on with the others alone."""
    n = r.n
    nb = r.blocks(gq) if end is None else np.minimum(end, r.blocks(gq))
    A = r.A(gq)
    regular = np.minimum(_regular_blocks(r, gq), r.blocks(gq))
    at = _Walk.start(n, run) if at is None else at
    walk, blocks = at.segs, at.blocks
    live = np.ones(n, dtype=bool) if active is None else active.copy()
    live &= at.b < nb
    while live.any() and stop != 0:
        if n >= 64 and 2 * np.count_nonzero(live) < n:
            left = np.flatnonzero(live)
            sub, part = run.take(left), tile.take(left)
            sub_at = at.take(left, sub)
            _kv_head_b(r.take(left), gq[left], sub, part, None, sub_at, stop, nb[left], stretch)
            at.put(sub_at, left)
            run.put(sub, left)
            break
        if stop is not None:
            stop -= 1
        if stretch:
            b1 = _stretch_end(r, gq, at, live, A, regular)
            if b1.any():
                _stretch(r, gq, run, tile, at, np.flatnonzero(b1 > 0), b1)
                live &= at.b < nb
        b, g, kv_keys = at.b, at.g, at.kv_keys
        d = _nodes(r, gq, b, g)
        same = d["same"] & live
        seg = live & ~same
        v, N, m, start = d["v"], d["N"], d["m"], d["start"]

        def blocks_(act, v=v):
            _block_b(run, tile, v, gq, act)

        # a probe's first iteration begins after its block's full rows, and runs that block only
        skip = at.skip & live
        skipped = np.flatnonzero(skip)
        at.skip = at.skip & ~live
        run.repeat(d["nrep"], blocks_, _and(active, same & ~skip))
        _row_b(run, tile, False, N, 0, same & skip)  # a block whose groups all end on one row: its last
        one = d["one"]
        full = seg & ~skip
        _row_b(run, tile, True, np.where(one, m, 0), np.where(one, N - m, N), full & start)

        def rows(act, N=N):
            _row_b(run, tile, False, 0, N, act)

        run.repeat(np.where(full, d["mid"], 0), rows, full)
        _row_b(run, tile, False, m, N - m, seg & ~(start & one))
        nrep = np.where(skip, 1, d["nrep"])
        kv_keys += np.where(same, nrep * d["kvv"], 0)
        kv_keys += np.where(seg & ~d["inside"], d["kvl"], 0)
        b2 = np.where(same, b + nrep, d["b2"])
        moved = live & (b2 != b)
        g = np.where(live, np.where(same, b2 * gq // r.h, d["g2"]), g)
        b = np.where(live, b2, b)
        live &= b < nb
        walk.record([b, g], [kv_keys])
        walk.valid[skipped] = 1  # a period never spans a probe's shortened first iteration
        # a block period's start: record it, and jump whole periods once they repeat
        edge = moved & live & (b % A == 0)
        if edge.any():
            blocks.record([b, g], [kv_keys], np.flatnonzero(edge))
            p = blocks.periods(edge)
            rows_ = np.flatnonzero(p > 0)
            if rows_.size:
                q = _block_leap(r, gq, blocks, rows_, p[rows_], run)
                q = np.minimum(q, (nb[rows_] - b[rows_]) // (A[rows_] * p[rows_]))
                go = q > 0
                if go.any():
                    rows_ = rows_[go]
                    coords, sums = blocks.jump(rows_, p[rows_], q[go])
                    b[rows_], g[rows_], kv_keys[rows_] = coords[0], coords[1], sums[0]
                    walk.valid[rows_] = 0
                    run.restart(rows_)
                    walk.record([b, g], [kv_keys], rows_)  # their first record
                    live &= b < nb
        p = walk.periods(live)
        if p.any():
            rows_ = np.flatnonzero(p > 0)
            q = _leap(r, gq, walk, rows_, p[rows_], run, nb[rows_])
            go = q > 0
            walk.valid[rows_[~go]] = 1  # no leap here: look again three periods on
            run.restart(rows_)  # the runs of the next three periods bound the next leap
            if go.any():
                rows_, p_, q_ = rows_[go], p[rows_][go], q[go]
                coords, sums = walk.jump(rows_, p_, q_)
                b[rows_], g[rows_], kv_keys[rows_] = coords[0], coords[1], sums[0]
                live &= b < nb
        at.b, at.g, at.kv_keys = b, g, kv_keys
    return at


# Walk iterations after which the first K/V head's state is kept, and the second's compared with it.
_COUPLE = (1, 2, 4, 8, 16, 32, 64, 128)


def _kv_heads_b(r: _Rows, gq, run: BatchRun, tile: _Tiles) -> np.ndarray:
    """``r.Bkv`` K/V heads timed on ``run`` one after another (:func:`_kv_head_b`); the keys one fetches.

    Every head runs the same program. The first is walked, its state kept after the iterations of
    :data:`_COUPLE`. The second is walked until, at one of those, its state has the shape the first's
    had: from there it runs as the first ran, later by the same cycles, and ends in the first's end
    shape, so every head after it adds what the second added (:meth:`BatchRun.follow`). Rows that do
    not couple walk on, and their later heads are repeated as any body is."""
    heads = r.Bkv
    nb = r.blocks(gq)
    at, kept, done = None, [], 0
    for k in _COUPLE:
        at = _kv_head_b(r, gq, run, tile, None, at, stop=k - done)
        kept.append((run.snapshot(), at.b.copy(), at.g.copy()))
        done = k
        if not (at.b < nb).any():
            break
    keys = _kv_head_b(r, gq, run, tile, None, at).kv_keys
    first = run.snapshot()
    left = heads >= 2
    at, done = None, 0
    for k, (state, b, g) in zip(_COUPLE, kept):
        if not left.any():
            break
        at = _kv_head_b(r, gq, run, tile, left, at, stop=k - done)
        done = k
        # the same point of the program (a jump of one head's walk need not be the other's) in the same shape
        rows = np.flatnonzero(left & (at.b == b) & (at.g == g) & run.same_shape(state))
        run.follow(rows, state, first)
        left[rows] = False
    if left.any():
        _kv_head_b(r, gq, run, tile, left, at)
    second = run.snapshot()
    more = np.maximum(heads - 2, 0)
    periodic = (more > 0) & run.same_shape(first)
    rows = np.flatnonzero(periodic)
    run.follow(rows, first, second, more[rows])
    rest = (more > 0) & ~periodic
    if rest.any():

        def head(act):
            _kv_head_b(r, gq, run, tile, act)

        run.repeat(np.where(rest, more, 0), head, rest)
    return keys


def _group_sums(r: _Rows) -> tuple:
    """Over the query groups g of C queries (nq of them, needing J key tiles holding ``keys`` keys): the
    sums of J, nq x J and nq x keys per row, in closed form. Causal, every group but the last ends at
    (g + 1) C and needs ceil((g + 1) C / R) key tiles; the last needs all M1."""
    R, C, M1 = r.R, r.C, r.M1
    G = common.cdiv(r.P, C)
    nq_last = r.P - (G - 1) * C
    head = common.floor_sum(G - 1, R, C, C + R - 1)  # J of groups 0 .. G-2
    full = np.maximum(0, G - 1 - (M1 - 1) * R // C)  # of them, those needing all M1 tiles
    causal = r.causal
    sum_J = np.where(causal, head + M1, G * M1)
    sum_nqJ = np.where(causal, C * head + nq_last * M1, r.P * M1)
    sum_nq_keys = np.where(causal, C * (R * head - (R * M1 - r.P) * full) + nq_last * r.P, r.P * r.M)
    return sum_J, sum_nqJ, sum_nq_keys


def _checker(table: EnergyTable, cas, on_2d):
    """The scalar forms' refusals of an arch (a 1D array, the ops its Einsums need, the table's widths)."""

    def check(arch):
        if arch.array_1d.pes < 1:
            raise AttnkitError("no 1D array")
        _need_binding(arch, cas, on_2d)
        table.check_widths(arch)

    return check


def _one_pass_batch(points: Points, table: EnergyTable, binding: str, serial: bool, name: str) -> dict:
    """:func:`_one_pass` over a table of points."""
    cas = cascade.ONE_PASS
    on_2d = cascade.BINDINGS[binding]
    on_1d = [e.name for e in cas if e.name not in on_2d]
    named = cascade.by_name(cas)

    bad = common.refused_archs(points, _checker(table, cas, on_2d))
    r = _rows(points, bad)
    R, C, N1, E, F = r.R, r.C, r.N1, r.E, r.F
    k = common.cdiv(C, N1)  # 1D passes per query group

    def slots(nm, where):
        e = named[nm]
        c = _e_cycles(e, r, where)
        if e.per == "element":
            return c * (1 if where == "array_2d" else common.cdiv(R * C, N1))
        return c * k

    d2 = sum(slots(nm, "array_2d") for nm in on_2d)
    d2 = d2 + sum(slots(nm, "array_1d") for nm in cascade.stall_between(cas, on_2d))
    d1 = sum(slots(nm, "array_1d") for nm in on_1d if named[nm].per != "query")
    av = slots("AV", "array_1d")
    room = r.words - TILE_PIPE.depth * R * (E + F)
    per_group = C * (E + 2 + F)
    bad |= room < per_group
    # every count below is at most (batch x heads) x queries x keys x (issue slots per element) x 4
    bad |= r.B.astype(float) * r.P * r.M * (E + F + r.taylor + 8) * 4 > common.SAFE
    M1, G = r.M1, r.G
    gq = np.maximum(np.minimum(r.L, room // per_group), 1)

    sum_J, sum_nqJ, sum_nq_keys = _group_sums(r)
    nb = r.blocks(gq)

    acc = _BAcc()
    elems = r.B * sum_nq_keys
    tq = r.B * sum_nqJ
    qs = r.B * r.P
    useful = {"element": r.B * r.unmasked, "tile_query": tq, "query": qs}
    units = {"element": elems, "tile_query": tq, "query": qs}
    for e in cas:
        _charge_b(acc, r, "array_2d" if e.name in on_2d else "array_1d", e, units[e.per], useful[e.per])
    bad |= _unpriced_traffic(table, acc, r.n)
    if bad.any():
        raise BatchUnsupported(f"engine {name}: rows the scalar form rejects", rows=bad)

    wb = r.word_bits / 8
    kv = r.dram_cycles(R * (E + F) * wb)
    q = r.dram_cycles(C * E * wb)
    o = r.dram_cycles(C * F * wb)
    kv, q, o, d2, d1, d1_last = (np.broadcast_to(v, (r.n,)) for v in (kv, q, o, d2, d1, d1 + av))
    tile = _Tiles(kv=kv, q=q, o=o, d2=d2, d1=d1, d1_last=d1_last, serial=serial)
    run = BatchRun(SERIAL_PIPE if serial else TILE_PIPE, r.n)
    kv_words = r.Bkv * _kv_heads_b(r, gq, run, tile) * (E + F)
    rnv_in_gb = F + 4 > points.arch("array_1d.regfile_entries")
    tiles = r.Bkv * r.h * sum_J
    rnv = np.where(rnv_in_gb, F * tq, 0)
    _traffic_b(
        points,
        acc,
        r,
        dram_read=kv_words + r.B * r.P * E,
        dram_write=r.B * r.P * F,
        gb_read=tiles * (C * E + R * (E + F)) + 2 * rnv + r.B * r.P * F,
        gb_write=kv_words + r.B * r.P * E + rnv + r.B * r.P * F,
    )
    extra = _one_pass_extra(name, binding, serial, d2, d1, gq, M1, tiles, r.B * M1 * G, nb, "closed")
    return _result_b(name, points, table, r, (run.cycles, run.tiles, run.busy), acc, extra)


def _flat_block_b(r: _Rows, n, keys, spill, kv_words, slots) -> tuple:
    """:func:`_flat_block` per row: (dram, 2D, 1D) cycles and DRAM words of one row block."""
    d2 = common.cdiv(keys, r.R) * common.cdiv(n, r.C) * (r.E + r.F)
    d1 = n * common.cdiv(keys, r.N1) * slots
    words = n * (r.E + r.F) + kv_words + np.where(spill, 4 * n * keys, 0)
    return r.dram_cycles(words * r.word_bits / 8), d2, d1, words


def _flat_program_b(run, r: _Rows, rq, spill, resident: bool, slots, active=None):
    """:func:`_flat_plan` per row (not causal: every row block sees all M keys): the tile program on
    ``run`` (a BatchRun or BatchSums) and its DRAM words."""
    M, EF, h = r.M, r.E + r.F, r.h
    nfull, rem = r.P // rq, r.P % rq
    some = rem > 0

    def blk(n, kv):
        return _flat_block_b(r, n, M, spill, kv, slots)

    kv_all = M * EF
    if not resident:
        full, part = blk(rq, kv_all), blk(rem, kv_all)

        def head(act):
            run.repeat(nfull, full[:3], act)
            run.repeat(some, part[:3], act)

        run.repeat(r.Bkv, lambda act: run.repeat(h, head, act), active)
        return (nfull * full[3] + np.where(some, part[3], 0)) * h * r.Bkv

    share = kv_all / (h * (nfull + some))  # the next K/V head's, per block

    def kv_head(first: bool, prefetch, act):
        sh = np.where(prefetch, share, 0.0)
        full, part = blk(rq, sh), blk(rem, sh)
        if first:  # the head's K/V arrive with its first block
            run.step(blk(rq, kv_all + sh)[:3], act)
            run.repeat(nfull - 1, full[:3], act)
        else:
            run.repeat(nfull, full[:3], act)
        run.repeat(some, part[:3], act)

        def others(a):
            run.repeat(nfull, full[:3], a)
            run.repeat(some, part[:3], a)

        run.repeat(h - 1, others, act)

    many = r.Bkv > 1
    kv_head(True, many, active)
    run.repeat(np.maximum(r.Bkv - 2, 0), lambda act: kv_head(False, True, act), active)
    run.repeat(many, lambda act: kv_head(False, False, act), active)
    return r.Bkv * (h * (r.P * EF + np.where(spill, 4 * r.P * M, 0)) + kv_all)


def _flat_candidates_b(r: _Rows) -> np.ndarray:
    """:func:`_flat_candidates` per row: a (K, n) table of row-block sizes, 0 where a row has fewer."""
    C, P = r.C, r.P
    cands = []
    v = C.copy()
    while (v > 1).any():  # C / 2, C / 4, ..., 1
        v = np.where(v > 1, v // 2, 0)
        cands.append(v)
    v = C.copy()
    while (v < P).any():  # C, 2 C, ... below P
        cands.append(np.where(v < P, v, 0))
        v = np.where(v < P, v * 2, v)
    cands.append(P)
    room = r.words - 2 * 2 * r.R * np.maximum(r.E, r.F)
    cands.append(np.maximum(1, np.minimum(P, room // (FLAT_PIPE.depth * (r.M + r.E + r.F)))))
    table = np.sort(np.where(np.array(cands) <= P, np.array(cands), 0), axis=0)
    table[1:][table[1:] == table[:-1]] = 0  # each size once
    return table


def flat_batch(points: Points, table: EnergyTable) -> dict:
    """:func:`flat` over a table of points; causal rows (row blocks seeing different key tiles) are left
    to the scalar form."""

    bad = common.refused_archs(points, _checker(table, cascade.THREE_PASS, cascade.THREE_PASS_2D))
    r = _rows(points, bad)
    n, R, EF = r.n, r.R, r.E + r.F
    bad |= r.causal
    bad |= r.B.astype(float) * r.P * r.M * (EF + r.taylor + 8) * 4 > common.SAFE
    named = cascade.by_name(cascade.THREE_PASS)
    slots = sum(_e_cycles(named[k], r, "array_1d") for k in ("M", "SN", "SD", "A"))

    # Every plan (row-block size, spilled, resident) that fits, and its bound (the busiest stage) and words.
    cand = _flat_candidates_b(r)
    plans = [(j, spill, resident) for j in range(len(cand)) for spill in (False, True) for resident in (False, True)]
    Q = len(plans)
    rq = np.array([cand[j] for j, _, _ in plans])
    spill = np.array([np.full(n, s) for _, s, _ in plans])
    resident = np.array([np.full(n, res) for _, _, res in plans])
    staging = 2 * 2 * R * np.maximum(r.E, r.F)
    kv = np.where(resident, np.where(r.Bkv > 1, 2, 1) * r.M * EF, staging)
    block = rq * EF + np.where(spill, 2 * R * rq, rq * r.M)
    valid = (rq > 0) & (FLAT_PIPE.depth * block + kv <= r.words) & ~bad
    bad |= ~valid.any(axis=0)  # no row block fits: the scalar form says so
    safe_rq = np.where(valid, rq, 1)
    bound = np.zeros((Q, n), dtype=np.int64)
    words = np.zeros((Q, n), dtype=np.int64)
    for q, (_, s, res) in enumerate(plans):
        if valid[q].any():
            sums = BatchSums(3, n)
            words[q] = _flat_program_b(sums, r, safe_rq[q], s, res, slots, valid[q])
            bound[q] = sums.sums.max(axis=0)

    # Buffer and DRAM traffic of each row's plan follow from its choice; check the table prices them.
    acc = _BAcc()
    elems = r.B * r.P * r.M
    for e in cascade.THREE_PASS:
        where = "array_2d" if e.name in cascade.THREE_PASS_2D else "array_1d"
        _charge_b(acc, r, where, e, elems, r.B * r.unmasked)
    bad |= _unpriced_traffic(table, acc, n)
    if bad.any():
        raise BatchUnsupported("engine flat: rows the scalar form rejects or this batch form does not model", rows=bad)

    cols = np.arange(n)

    def time(q, go):
        run = BatchRun(FLAT_PIPE, n)
        for res in (False, True):
            rows = go & (resident[q, cols] == res)
            if rows.any():
                _flat_program_b(run, r, np.where(rows, rq[q, cols], 1), spill[q, cols], res, slots, rows)
        busy = run.busy
        return run.cycles.copy(), {"tiles": run.tiles, "busy_2d": busy["array_2d"], "busy_1d": busy["array_1d"]}

    best, cycles, kept = common.mapper([bound, words, rq, spill, resident], valid, bound, words, [words], time)
    rq, spill, resident, dram_words = (a[best, cols] for a in (rq, spill, resident, words))
    timing = (cycles, kept["tiles"], {"array_2d": kept["busy_2d"], "array_1d": kept["busy_1d"]})
    nfull, rem = r.P // rq, r.P % rq
    spilled = np.where(spill, 2 * elems, 0)
    kv_words = dram_words - r.B * r.P * EF - 2 * spilled
    qk_tiles = r.B * common.cdiv(r.M, R) * (nfull * common.cdiv(rq, r.C) + common.cdiv(rem, r.C))
    qtile = np.minimum(rq, r.C)
    _traffic_b(
        points,
        acc,
        r,
        dram_read=kv_words + r.B * r.P * r.E + spilled,
        dram_write=r.B * r.P * r.F + spilled,
        gb_read=4 * elems + qk_tiles * (qtile * r.E + R * EF) + r.B * r.P * r.F + spilled,
        gb_write=3 * elems + kv_words + r.B * r.P * r.E + r.B * r.P * r.F + spilled,
    )
    extra = {"design": "flat", "row_block": rq, "spilled": spill, "kv_resident": resident, "mode": "closed"}
    return _result_b("flat", points, table, r, timing, acc, extra)


def unfused_batch(points: Points, table: EnergyTable) -> dict:
    """:func:`unfused` over a table of points (causal included: the tile sums in closed form)."""

    bad = common.refused_archs(points, _checker(table, cascade.THREE_PASS, cascade.THREE_PASS_2D))
    r = _rows(points, bad)
    R, C, N1, E, F = r.R, r.C, r.N1, r.E, r.F
    bad |= r.B.astype(float) * r.P * r.M * (E + F + r.taylor + 8) * 4 > common.SAFE
    named = cascade.by_name(cascade.THREE_PASS)
    sum_J, _, sum_nq_keys = _group_sums(r)  # query tiles of C queries against key tiles of R keys
    elems = r.B * sum_nq_keys
    n_tiles = r.B * sum_J
    off = elems > r.words // 2  # the score tensor does not fit: through DRAM
    acc = _BAcc()
    for e in cascade.THREE_PASS:
        where = "array_2d" if e.name in cascade.THREE_PASS_2D else "array_1d"
        _charge_b(acc, r, where, e, elems, r.B * r.unmasked)
    inter = np.where(off, 7 * elems, 0)  # S w, S r x2, P w, P r, A w, A r
    # K and V read once per K/V head when they fit half the buffer, else once per query head
    kv_reads = np.where(r.M * (E + F) <= r.words // 2, r.Bkv, r.B)
    _traffic_b(
        points,
        acc,
        r,
        dram_read=r.B * r.P * E + kv_reads * r.M * (E + F) + np.where(off, 4 * elems, 0),
        dram_write=r.B * r.P * F + np.where(off, 3 * elems, 0),
        gb_read=4 * elems + n_tiles * (R + C) * E + n_tiles * R * F,
        gb_write=3 * elems + inter,
    )
    bad |= common.energy(table, acc.actions, r.n)[0]
    if bad.any():
        raise BatchUnsupported("engine unfused: rows the scalar form rejects", rows=bad)

    wb = r.word_bits / 8
    tile_w = R * C

    def io(n_in, n_out):
        return np.where(off, r.dram_cycles((n_in + n_out) * tile_w * wb), 0)

    def row_1d(nm):
        return common.cdiv(tile_w, N1) * _e_cycles(named[nm], r, "array_1d")

    qk_in = r.dram_cycles((R + C) * E * wb)
    av_in = r.dram_cycles(R * F * wb)
    phases = [
        (np.maximum(qk_in, io(0, 1)), E, 0),
        (io(1, 0), 0, row_1d("M")),
        (io(1, 1), 0, row_1d("SN") + row_1d("SD")),
        (io(1, 1), 0, row_1d("A")),
        (np.maximum(av_in, io(1, 0)), F, 0),
    ]
    # Phases are separated by barriers: each runs on its own and they add up.
    cycles = np.zeros(r.n, dtype=np.int64)
    tiles = np.zeros(r.n, dtype=np.int64)
    busy = {res: np.zeros(r.n, dtype=np.int64) for res in TILE_PIPE.resources}
    for d in phases:
        run = BatchRun(TILE_PIPE, r.n)
        run.repeat(n_tiles, d)
        cycles += run.cycles
        tiles += run.tiles
        for res, b in run.busy.items():
            busy[res] += b
    extra = {"design": "unfused", "spilled": off, "mode": "closed"}
    return _result_b("unfused", points, table, r, (cycles, tiles, busy), acc, extra)


def _layer_batch(attn: BatchFn, name: str) -> BatchFn:
    """:func:`_layer` over a table of points: the attention's batch form, then engine ``gemm``'s batch form
    on every distinct (arch, projection or FFN shape) of the rows, added up in the scalar form's order."""

    def run(points: Points, table: EnergyTable) -> dict:
        from attnkit.sim import engines

        gemm = engines.get("gemm")
        n = len(points)
        # The layer's GEMMs as points of their own: each distinct shape once per arch.
        shapes: dict[tuple, int] = {}
        objs: list[GemmWorkload] = []
        used, inv = np.unique(points.workload_index, return_inverse=True)
        per_wl = []
        for j in used:
            idx = []
            for _, g in layer_gemms(points.workloads[j]):
                shape = (g.m, g.n, g.k)
                if shape not in shapes:
                    shapes[shape] = len(objs)
                    objs.append(g)
                idx.append(shapes[shape])
            per_wl.append(idx)
        part_shape = np.array(per_wl, dtype=np.int64)[inv.reshape(-1)]  # (n, 6)
        pairs = np.stack([np.repeat(points.arch_index, 6), part_shape.reshape(-1)])
        uniq, back = np.unique(pairs, axis=1, return_inverse=True)
        back = back.reshape(n, 6)
        g_points = Points(points.archs, objs, uniq[0], uniq[1])
        bad = np.zeros(n, dtype=bool)
        gemm_batch = gemm.batch_form()
        assert gemm_batch is not None
        try:
            g_cols = gemm_batch(g_points, table)
        except BatchUnsupported as e:
            if e.rows is None:
                raise
            bad |= np.asarray(e.rows, dtype=bool)[back].any(axis=1)
        try:
            a_cols = attn(points, table)
        except BatchUnsupported as e:
            if e.rows is None:
                raise
            bad |= np.asarray(e.rows, dtype=bool)
        bad |= common.energy(table, {"regfile_2d.read": 1, "regfile_2d.write": 1}, n, zeros=True)[0]
        if bad.any():
            raise BatchUnsupported(f"engine {name}: rows the scalar form rejects or does not model", rows=bad)

        def column(cols, key, rows=None):  # a column of every row (a gemm column: of every pair, then picked)
            v = np.asarray(cols[key])
            v = np.broadcast_to(v, (len(uniq[0]) if rows is not None else n,)) if v.ndim == 0 else v
            return v if rows is None else v[rows]

        def numbers(v):  # an action column, None (not done) as 0
            return np.where(v == None, 0.0, v).astype(np.float64) if v.dtype == object else v  # noqa: E711

        att_cycles = column(a_cols, "cycles")
        clock = points.arch("clock_hz").astype(np.float64)
        pes2 = points.arch("array_2d.rows") * points.arch("array_2d.cols")
        pes1 = points.arch("array_1d.pes")
        opreg = points.arch("array_2d.operand_registers").astype(bool)
        cycles = att_cycles
        energy = column(a_cols, "energy_pj")
        dram = column(a_cols, "dram_bytes")
        ops_2d = column(a_cols, "util_2d") * pes2 * att_cycles
        ops_1d = column(a_cols, "util_1d") * pes1 * att_cycles
        actions = {k[8:]: numbers(column(a_cols, k)) for k in a_cols if k.startswith("actions.")}
        done = {k: column(a_cols, f"actions.{k}") != None for k in actions}  # noqa: E711
        everywhere = np.ones(n, dtype=bool)
        macs_of = np.array([g.m * g.n * g.k for g in objs], dtype=np.int64)
        parts = {"attention": att_cycles}
        for p, gname in enumerate(("Q", "K", "V", "O", "FFN1", "FFN2")):
            rows = back[:, p]
            macs = macs_of[part_shape[:, p]]
            regs = np.where(opreg, 3 * macs, macs)  # as in attention's MACs
            extra_acts = {"regfile_2d.read": regs, "regfile_2d.write": regs}
            _, e_regs, _ = common.energy(table, extra_acts, n)
            r_cycles = column(g_cols, "cycles", rows)
            cycles = cycles + r_cycles
            energy = energy + (column(g_cols, "energy_pj", rows) + e_regs)
            dram = dram + column(g_cols, "dram_bytes", rows)
            ops_2d = ops_2d + macs
            parts[gname] = r_cycles
            acts = [(k[8:], column(g_cols, k, rows)) for k in g_cols if k.startswith("actions.")]
            for key, v in acts + list(extra_acts.items()):
                actions[key] = actions.get(key, 0.0) + v
                done[key] = everywhere
        _, _, breakdown = common.energy(table, actions, n)
        out: dict[str, Any] = {
            "engine": name,
            "cycles": cycles,
            "latency_s": cycles / clock,
            "energy_pj": energy,
            "area_mm2": a_cols["area_mm2"],
            "util_2d": ops_2d / (pes2 * cycles),
            "util_1d": ops_1d / (pes1 * cycles),
            "dram_bytes": dram,
            "design": name,
        }
        out.update({f"cycles_by_part.{k}": v for k, v in parts.items()})
        out.update({"attention_cycles": att_cycles, "mode": "closed"})
        out.update({f"energy_breakdown.{k}": v for k, v in breakdown.items()})
        out.update({k: v for k, v in a_cols.items() if k.startswith("area_breakdown.")})
        out.update({f"actions.{k}": common.present(np.asarray(v, np.float64), done[k]) for k, v in actions.items()})
        return out

    return run


def fusemax_batch(points: Points, table: EnergyTable) -> dict:
    return _one_pass_batch(points, table, "fusemax", False, "fusemax")


def cascade_flat_batch(points: Points, table: EnergyTable) -> dict:
    return _one_pass_batch(points, table, "flat", False, "fusemax-cascade-flat")


def serial_batch(points: Points, table: EnergyTable) -> dict:
    return _one_pass_batch(points, table, "fusemax", True, "fusemax-serial")


FORMS: dict[str, BatchFn] = {
    "fusemax": fusemax_batch,
    "fusemax-cascade-flat": cascade_flat_batch,
    "fusemax-serial": serial_batch,
    "flat": flat_batch,
    "unfused": unfused_batch,
}
FORMS.update({f"{n}-layer": _layer_batch(fn, f"{n}-layer") for n, fn in list(FORMS.items())})
