"""Attention engines of FuseMax and its baselines, and their end-to-end transformer layers.

Engines (``fn(arch, workload, table, mode)``; the workload is an
:class:`~attnkit.params.workload.AttentionWorkload`):

- ``fusemax``: the 1-pass cascade (:mod:`attnkit.sim.cascade`) with
  FuseMax's binding. One tile is a key tile (rows = M0 keys) against a query
  group (cols queries), a pipeline ``dram -> array_2d -> array_1d``
  (double-buffered). The 2D stage is QK, LM, SLN, SLD, SLNV plus the wait
  for the 1D array's RM (SLN needs it); the 1D stage is RM, PRM, SPD, SPNV,
  RD, RNV for the group's queries (ceil(cols / pes) passes), so the two
  arrays overlap across tiles. AV (F divides per query) follows each query
  group's last key tile on the 1D array (it lengthens that tile's 1D stage). Queries are processed in resident
  blocks: as many query groups as their Q, RM, RD and RNV fit the global
  buffer beside double-buffered K/V tiles; each K/V tile is fetched once per
  block. Only Q, K, V and O touch DRAM.
- ``fusemax-cascade-flat``: the same cascade with FLAT's binding (only QK
  and SLNV on 2D), the ablation's "+cascade" step.
- ``fusemax-serial``: FuseMax's binding with no overlap between the arrays
  (depth-1 pipeline), the ablation's "+architecture" step.
- ``flat``: the 3-pass softmax with FLAT's row-granular tiling. A tile is a
  block of Rq query rows against all keys: QK and AV on 2D, max, exp + sum,
  divide on 1D (one op per element per pass), blocks software-pipelined
  three deep. The mapper picks Rq (powers of two times or fractions of the
  array width, or the largest block whose scores fit), whether the score
  block stays in the buffer (three blocks must fit) or streams through DRAM
  (4 words per element: S written and read back, P written and read back),
  and whether the head's K and V stay resident in the buffer across its row
  blocks (fetched once per K/V head) or are fetched again by every block;
  fastest wins, then the least DRAM traffic.
- ``unfused``: QK, max, exp + sum, divide, AV one after another over whole
  tensors; intermediates larger than the buffer go through DRAM.
- ``<engine>-layer``: the attention plus the transformer layer's Q, K, V, O
  projections and two FFN matmuls, each run by engine ``gemm`` on the same
  2D array (one after another).

Causal prefill (``workload.causal``): every engine skips the key tiles that
the mask empties for a query group or row block (those after the tile holding
its last query) and runs the diagonal tiles in full, the mask applied; their
masked elements cost energy but are not useful work. Grouped-query attention
(``workload.kv_heads`` < ``heads``): the h = heads / kv_heads query heads of a
K/V head run back to back, so a K/V tile is fetched once for all of them
where the buffer holds it (FuseMax: a resident block of query groups spans
the heads; FLAT: the head's K/V stay resident; unfused: K/V reused when they
fit half the buffer); compute is unchanged.

Utilisation is useful work over (PEs x cycles): padding (a sequence that is
not a multiple of the tile), masked elements and stalls show up as lost utilisation. Energy
is action counts times the table; register-file accesses follow
``array_2d.operand_registers`` (FLAT's PE latches both operands and the
accumulator: 3 reads + 3 writes per MAC; FuseMax's takes operands off the
network and keeps accumulators and intermediates in its register file).

Batch forms: the same closed forms over a table of points in NumPy columns,
the tile programs run for all rows at once by
:class:`~attnkit.sim.pipeline.BatchRun`; rows the scalar form rejects are
left to it. ``fusemax``, ``fusemax-cascade-flat``, ``fusemax-serial``: the
sums over query groups in closed form (floor sums where causal), a K/V head
walked run of equal blocks by run (causal: segment by segment, so a causal
row costs steps in proportion to its distinct key-tile counts). ``flat``:
the mapper's plans timed in the scalar mapper's order, row by row, with its
pruning; causal rows (row blocks seeing different key tiles) are left to the
scalar form. ``unfused``: every phase one repeat, causal included.
``<engine>-layer``: the attention's batch form, then ``gemm``'s on each
distinct (arch, matmul shape) of the rows.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import cache
from math import ceil
from typing import Any

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.params.arch import SpatialArch
from attnkit.params.workload import AttentionWorkload, GemmWorkload
from attnkit.sim import cascade, pipeline
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import BatchFn, BatchUnsupported, Engine, EngineFn, Points, _batch
from attnkit.sim.memo import remembered
from attnkit.sim.pipeline import BatchRun, BatchSums, Pipeline, Repeat, Stage, run_length
from attnkit.sim.result import Result

# FuseMax: four tiles in flight: one loading, one loaded (the two halves of the double-buffered
# K/V), one on the 2D array, one on the 1D array (its 2D results in the 2D->1D hand-off registers).
TILE_PIPE = Pipeline((Stage("dram", "dram"), Stage("2d", "array_2d"), Stage("1d", "array_1d")), depth=4)
# FLAT: a row block's scores live from its QK to its AV: one block in QK, one in the softmax
# passes, one in AV, so three score blocks share the buffer.
FLAT_PIPE = Pipeline(TILE_PIPE.stages, depth=3)
# No overlap between the arrays: one stage does a tile's 2D work, then its 1D work.
SERIAL_PIPE = Pipeline((Stage("dram", "dram"), Stage("2d+1d", "arrays")), depth=2)


@dataclass
class Shape:
    B: int  # batch x heads: independent attention problems
    M: int  # keys
    P: int  # queries
    E: int
    F: int
    Bkv: int = 0  # batch x kv_heads: K/V tensors (each shared by h query heads)
    h: int = 1  # query heads per K/V head (grouped-query attention; 1: multi-head)
    causal: bool = False  # query i sees keys 0..i (prefill only)

    def key_tiles(self, q_end: int, R: int) -> int:
        """Key tiles of R keys that queries before ``q_end`` need (causal: up to the tile holding q_end - 1)."""
        M1 = ceil(self.M / R)
        return min(M1, (q_end - 1) // R + 1) if self.causal else M1

    def keys(self, q_end: int, R: int) -> int:
        """Keys those tiles hold (the last tile's padding beyond M left out)."""
        return min(self.M, self.key_tiles(q_end, R) * R)

    @property
    def unmasked(self) -> int:
        """(key, query) pairs the mask keeps, per head: useful work."""
        return self.P * (self.P + 1) // 2 if self.causal else self.M * self.P


@dataclass
class Acc:
    """Action counts, utilisation numerators and per-Einsum activity, gathered by an engine."""

    actions: dict[str, float] = field(default_factory=dict)
    ops_2d: float = 0.0  # useful PE-cycles on the 2D array
    ops_1d: float = 0.0
    einsum_2d: dict[str, float] = field(default_factory=dict)
    einsum_1d: dict[str, float] = field(default_factory=dict)
    dram_bytes: float = 0.0

    def add(self, key: str, n: float) -> None:
        if n:
            self.actions[key] = self.actions.get(key, 0.0) + n


# ----------------------------------------------------------------------------- helpers


def _shape(arch: SpatialArch, w: AttentionWorkload) -> Shape:
    if arch.array_1d.pes < 1:
        raise AttnkitError(f"arch {arch.name!r}: array_1d.pes = 0, but these engines need a 1D array")
    M = w.context or w.seq_len
    P = 1 if w.context else w.seq_len
    # Decode (context > 0): the one query is the newest position and sees every key, so causal masks nothing.
    return Shape(
        B=w.batch * w.heads,
        M=M,
        P=P,
        E=w.head_dim,
        F=w.head_dim,
        Bkv=w.batch * w.groups,
        h=w.heads // w.groups,
        causal=bool(w.causal and not w.context),
    )


def _need_ops(arch: SpatialArch, where: str, einsums, cas) -> None:
    named = cascade.by_name(cas)
    ops = set(getattr(arch, where).ops)
    for name in einsums:
        for key in named[name].actions(1, 1, "exp" in ops, 1):
            op = {"mac": "mac", "max": "max", "adder": "add", "divider": "div", "exp": "exp"}[key.split(".")[0]]
            if op not in ops:
                raise AttnkitError(
                    f"arch {arch.name!r}: {name} runs on {where} but {where}.ops lacks {op!r}"
                    f" (has {', '.join(ops) or 'none'})"
                )


def _dram_cycles(arch: SpatialArch, nbytes: float) -> int:
    return ceil(nbytes * arch.clock_hz / arch.dram.bandwidth_bytes_per_s) if nbytes else 0


def _words_per_row(arch: SpatialArch) -> float:
    return arch.global_buffer.row_bits / arch.word_bits


def _gb(arch: SpatialArch, acc: Acc, reads: float, writes: float) -> None:
    acc.add("global_buffer.read", reads / _words_per_row(arch))
    acc.add("global_buffer.write", writes / _words_per_row(arch))


def _dram(arch: SpatialArch, acc: Acc, read_words: float, write_words: float) -> None:
    per = arch.dram.access_bits / arch.word_bits
    acc.add("dram.read", read_words / per)
    acc.add("dram.write", write_words / per)
    acc.dram_bytes += (read_words + write_words) * arch.word_bits / 8


def _charge(
    acc: Acc, arch: SpatialArch, where: str, e: cascade.Einsum, units: float, s: Shape, useful: float | None = None
) -> None:
    """Compute and register-file actions of ``units`` units of Einsum ``e`` on array ``where``;
    ``useful`` of them (default all) count towards utilisation (a causal diagonal tile computes its
    masked elements too: energy, not useful work)."""
    has_exp = "exp" in getattr(arch, where).ops
    acts = e.actions(s.E, s.F, has_exp, arch.exp_taylor_macs)
    per = e.cycles(s.E, s.F, has_exp, arch.exp_taylor_macs)
    slots = per * units
    ops = per * (units if useful is None else useful)
    for k, v in acts.items():
        acc.add(k, v * units)
    if where == "array_2d":
        acc.ops_2d += ops
        acc.einsum_2d[e.name] = acc.einsum_2d.get(e.name, 0.0) + ops
        rf = "regfile_2d"
        macs = acts.get("mac.mac", 0) * units
        if arch.array_2d.operand_registers:
            # Both operands latched (write + read each) and the accumulator read and updated.
            acc.add(f"{rf}.read", 3 * macs + (slots - macs))
            acc.add(f"{rf}.write", 3 * macs + (slots - macs))
        elif e.kind in ("mac_e",):
            acc.add(f"{rf}.read", macs)  # accumulator in the register file
            acc.add(f"{rf}.write", macs)
        elif e.kind == "mac_f":
            acc.add(f"{rf}.read", units)  # the stationary SLN, latched once per element
        else:
            acc.add(f"{rf}.read", slots)  # elementwise: read operand, write result
            acc.add(f"{rf}.write", slots if e.kind != "max" else 0)
    else:
        acc.ops_1d += ops
        acc.einsum_1d[e.name] = acc.einsum_1d.get(e.name, 0.0) + ops
        acc.add("regfile_1d.read", slots)
        acc.add("regfile_1d.write", slots)


def _area(arch: SpatialArch, table: EnergyTable) -> tuple[float, dict]:
    names = {"mac": "mac", "add": "adder", "max": "max", "div": "divider", "exp": "exp"}
    inst: dict[str, float] = {}
    for arr, n in ((arch.array_2d, arch.array_2d.pes), (arch.array_1d, arch.array_1d.pes)):
        for op in arr.ops:
            if op in names and names[op] in table.components:
                inst[names[op]] = inst.get(names[op], 0) + n
    if "global_buffer" in table.components:
        inst["global_buffer"] = table.memory_instances("global_buffer", arch.global_buffer.bytes)
    return table.area_mm2(inst)


def _result(name, arch: SpatialArch, table: EnergyTable, timing, acc: Acc, s: Shape, extra: dict) -> Result:
    table.check_widths(arch)
    energy, breakdown = table.energy(acc.actions)
    area, area_breakdown = _area(arch, table)
    cyc = timing.cycles
    pes2, pes1 = arch.array_2d.pes, arch.array_1d.pes
    extra = {
        "einsum_util_2d": {k: v / (pes2 * cyc) for k, v in acc.einsum_2d.items()},
        "einsum_util_1d": {k: v / (pes1 * cyc) for k, v in acc.einsum_1d.items()},
        "busy_2d": timing.busy.get("array_2d", 0) / cyc if cyc else 0.0,
        "busy_1d": timing.busy.get("array_1d", 0) / cyc if cyc else 0.0,
        "tiles": timing.tiles,
        # roofline: the busier array at full rate, and the compulsory Q, K, V, O traffic at full bandwidth
        "bound_compute_s": max(acc.ops_2d / pes2, acc.ops_1d / pes1 if pes1 else 0.0) / arch.clock_hz,
        "bound_dram_s": arch.word_bytes * (s.B * s.P + s.Bkv * s.M) * (s.E + s.F) / arch.dram.bandwidth_bytes_per_s,
        **extra,
    }
    return Result(
        engine=name,
        cycles=cyc,
        clock_hz=arch.clock_hz,
        energy_pj=energy,
        area_mm2=area,
        util_2d=acc.ops_2d / (pes2 * cyc) if cyc else 0.0,
        util_1d=acc.ops_1d / (pes1 * cyc) if cyc else 0.0,
        dram_bytes=acc.dram_bytes,
        energy_breakdown=breakdown,
        area_breakdown=area_breakdown,
        actions=acc.actions,
        extra=extra,
    )


# ----------------------------------------------------------------------------- 1-pass cascade


def _one_pass(
    arch: SpatialArch, w: AttentionWorkload, table: EnergyTable, mode: str, binding: str, serial: bool, name: str
) -> Result:
    s = _shape(arch, w)
    cas = cascade.ONE_PASS
    on_2d = cascade.BINDINGS[binding]
    on_1d = [e.name for e in cas if e.name not in on_2d]
    _need_ops(arch, "array_2d", on_2d, cas)
    _need_ops(arch, "array_1d", on_1d, cas)
    R, C, N1 = arch.array_2d.rows, arch.array_2d.cols, arch.array_1d.pes
    E, F = s.E, s.F
    named = cascade.by_name(cas)
    k = ceil(C / N1)  # 1D passes per query group

    def e_args(where):
        return (E, F, "exp" in getattr(arch, where).ops, arch.exp_taylor_macs)

    def slots(n, where):  # cycles of Einsum n for one tile on its array
        e = named[n]
        c = e.cycles(*e_args(where))
        if e.per == "element":
            return c * (1 if where == "array_2d" else ceil(R * C / N1))
        return c * k

    d2 = sum(slots(n, "array_2d") for n in on_2d)
    d2 += sum(slots(n, "array_1d") for n in cascade.stall_between(cas, on_2d))  # the 2D waits for these
    d1 = sum(slots(n, "array_1d") for n in on_1d if named[n].per != "query")
    av = slots("AV", "array_1d")

    # Resident query block: Q, RM, RD, RNV per query, beside double-buffered K/V tiles.
    words = arch.global_buffer.bytes * 8 // arch.word_bits
    room = words - TILE_PIPE.depth * R * (E + F)  # K/V tiles of the tiles in flight
    per_group = C * (E + 2 + F)
    if room < per_group:
        raise AttnkitError(
            f"arch {arch.name!r}: global_buffer.bytes = {arch.global_buffer.bytes} cannot hold"
            f" {TILE_PIPE.depth} {R}-key K/V tiles and one {C}-query group"
        )
    M1, G = ceil(s.M / R), ceil(s.P / C)
    # The query groups that share one K/V head: position group g of each of its h query heads, in
    # position order, each with the key tiles it needs (causal: up to its last query's tile).
    nq = [min(C, s.P - g * C) for g in range(G)]
    if s.causal:
        Js = [s.key_tiles(g * C + nq[g], R) for g in range(G) for _ in range(s.h)]
    else:  # every group needs every key tile
        Js = [M1] * (G * s.h)
    nqs = [nq[g] for g in range(G) for _ in range(s.h)]
    gq = min(len(Js), room // per_group)  # query groups per resident block
    wb = arch.word_bits / 8
    kv = _dram_cycles(arch, R * (E + F) * wb)
    q = _dram_cycles(arch, C * E * wb)
    o = _dram_cycles(arch, C * F * wb)

    def tile(first: bool, last: bool, fetch_kv: bool) -> tuple:
        """One key tile of one query group: Q comes with its first key tile, O leaves after its last
        (which AV follows on the 1D array); the row's first tile brings the K/V tile."""
        return ((kv if fetch_kv else 0) + (q if first else 0) + (o if last else 0), d2, (d1 + av) if last else d1)

    made: dict[tuple, list] = {}  # rows (and runs of rows) built once: equal ones are one object for the closed form

    def row(first: bool, n_last: int, n_cont: int, times: int = 1) -> list:
        """``times`` key tiles against the block's groups that need them: n_last end there, n_cont go on."""
        key = (first, n_last, n_cont, times)
        if key not in made:
            if times > 1:
                made[key] = [Repeat(times, row(first, n_last, n_cont))]
            else:
                runs = [(last, n) for last, n in ((True, n_last), (False, n_cont)) if n]
                lead, n0 = runs[0]
                rest = [(lead, n0 - 1)] + runs[1:]
                made[key] = [tile(first, lead, True)] + run_length([(tile(first, last, False), n) for last, n in rest])
        return made[key]

    def block(J: tuple) -> list:
        """Key tiles outer, the block's query groups inner (J: their key tiles, ascending); rows change
        only where a group starts or stops, so each run of equal rows is one Repeat."""
        Jmax = J[-1]
        cuts = sorted({0, 1, Jmax} | {j - 1 for j in J} | {j for j in J if j < Jmax})
        prog: list[pipeline.Tile | Repeat] = []
        for a, b in zip(cuts, cuts[1:]):
            if a >= Jmax:
                break
            past = bisect_right(J, a + 1)  # J ascends: the groups whose last tile is a + 1, and those after it
            n_last = past - bisect_left(J, a + 1)
            n_cont = len(J) - past
            prog += row(a == 0, n_last, n_cont, b - a)
        return prog

    blocks = [tuple(Js[i : i + gq]) for i in range(0, len(Js), gq)]
    per_kv_head = run_length([(b, 1) for b in blocks], expand=block)
    program = [Repeat(s.Bkv, per_kv_head)]
    if serial:
        program = _merge_arrays(program)
    timing = pipeline.run(SERIAL_PIPE if serial else TILE_PIPE, program, mode)

    # Actions: the work of the tiles run (padded PEs idle); utilisation counts the unmasked work only.
    acc = Acc()
    heads = s.Bkv
    if s.causal:
        elems = heads * s.h * sum(n * s.keys(g * C + n, R) for g, n in enumerate(nq))
        tq = heads * sum(n * j for n, j in zip(nqs, Js))
    else:  # every group sees all M keys in M1 tiles (integers: the same sums)
        elems = heads * s.h * (s.P * s.M)
        tq = heads * (s.h * s.P * M1)
    qs = s.B * s.P
    useful = {"element": s.B * s.unmasked, "tile_query": tq, "query": qs}
    units = {"element": elems, "tile_query": tq, "query": qs}
    for e in cas:
        _charge(acc, arch, "array_2d" if e.name in on_2d else "array_1d", e, units[e.per], s, useful[e.per])
    kv_keys = sum(min(s.M, b[-1] * R) for b in blocks)  # each block fetches the key tiles its last group needs
    kv_words = heads * kv_keys * (E + F)
    _dram(arch, acc, kv_words + s.B * s.P * E, s.B * s.P * F)
    # Buffer: DRAM fills written; every tile reads its Q group and K/V tile; RNV (F per query)
    # lives in the buffer when it does not fit the 1D register file; O written then read out.
    rnv_in_gb = F + 4 > arch.array_1d.regfile_entries
    tiles = heads * sum(Js)
    _gb(
        arch,
        acc,
        reads=tiles * (C * E + R * (E + F)) + (2 * F * tq if rnv_in_gb else 0) + s.B * s.P * F,
        writes=kv_words + s.B * s.P * E + (F * tq if rnv_in_gb else 0) + s.B * s.P * F,
    )
    extra = {
        "design": name,
        "binding": binding,
        "pipelined": not serial,
        "ii_2d": d2,
        "ii_1d": d1,
        "query_groups_per_block": gq,
        "key_tiles": M1,
        "tiles_run": tiles,
        "tiles_unmasked": s.B * M1 * G,
        "kv_fetches_per_kv_head": len(blocks),
        "mode": mode,
    }
    return _result(name, arch, table, timing, acc, s, extra)


def _merge_arrays(program):
    """(dram, 2d, 1d) tiles as (dram, 2d + 1d): the arrays take turns."""
    return [Repeat(i.count, _merge_arrays(i.body)) if isinstance(i, Repeat) else (i[0], i[1] + i[2]) for i in program]


def fusemax(arch: SpatialArch, w: AttentionWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    return _one_pass(arch, w, table, mode, "fusemax", False, "fusemax")


def cascade_flat(arch: SpatialArch, w: AttentionWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    return _one_pass(arch, w, table, mode, "flat", False, "fusemax-cascade-flat")


def serial(arch: SpatialArch, w: AttentionWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    return _one_pass(arch, w, table, mode, "fusemax", True, "fusemax-serial")


# ----------------------------------------------------------------------------- 3-pass (FLAT)


def _flat_candidates(arch: SpatialArch, s: Shape):
    """Row-block sizes to try: powers of two around the array width, and the largest that fits."""
    C = arch.array_2d.cols
    cands = set()
    r = C
    while r > 1:
        r //= 2
        cands.add(r)
    r = C
    while r < s.P:
        cands.add(r)
        r *= 2
    cands.add(s.P)
    words = arch.global_buffer.bytes * 8 // arch.word_bits
    room = words - _flat_staging(arch, s)
    cands.add(max(1, min(s.P, room // (FLAT_PIPE.depth * (s.M + s.E + s.F)))))  # largest resident block
    return sorted(c for c in cands if c <= s.P)


def _flat_staging(arch: SpatialArch, s: Shape) -> int:
    return 2 * 2 * arch.array_2d.rows * max(s.E, s.F)  # double-buffered K/V tiles


def _flat_block(
    arch: SpatialArch, s: Shape, n: int, keys: int, spill: bool, kv_words: int
) -> tuple[int, int, int, float]:
    """(dram, 2D, 1D) cycles of one block of ``n`` query rows against ``keys`` keys (causal: the key
    tiles up to its last row; the diagonal ones in full), fetching ``kv_words`` of K/V, and its DRAM words."""
    R, C, N1 = arch.array_2d.rows, arch.array_2d.cols, arch.array_1d.pes
    d2 = ceil(keys / R) * ceil(n / C) * (s.E + s.F)
    d1 = n * ceil(keys / N1) * _softmax_slots(s.E, s.F, "exp" in arch.array_1d.ops, arch.exp_taylor_macs)
    words = n * (s.E + s.F) + kv_words + (4 * n * keys if spill else 0)
    return _dram_cycles(arch, words * arch.word_bits / 8), d2, d1, words


@cache
def _softmax_slots(E: int, F: int, has_exp: bool, taylor_macs: int) -> int:
    """1D issue slots per score element of FLAT's softmax passes (max, exp, sum, divide)."""
    named = cascade.by_name(cascade.THREE_PASS)
    return sum(named[k].cycles(E, F, has_exp, taylor_macs) for k in ("M", "SN", "SD", "A"))


def _flat_rows(s: Shape, rq: int, R: int) -> list[tuple[tuple[int, int], int]]:
    """One head's row blocks in order, as runs ((rows, keys they see), how many)."""
    nfull, rem = divmod(s.P, rq)
    out = []
    k = 0
    M, M1 = s.M, ceil(s.M / R)
    while k < nfull:  # causal: blocks seeing the same key tiles form one run
        t = ceil((k + 1) * rq / R)
        k2 = min(nfull - 1, t * R // rq - 1) if s.causal else nfull - 1
        q_end = (k + 1) * rq  # s.keys(q_end, R), written out
        out.append(((rq, min(M, (min(M1, (q_end - 1) // R + 1) if s.causal else M1) * R)), k2 - k + 1))
        k = k2 + 1
    if rem:
        out.append(((rem, s.keys(s.P, R)), 1))
    return out


class _FlatMemo:
    """One FLAT mapping's row blocks per row-block size and block costs, shared by its plans (every plan of a
    size has the same row blocks; spilling and residency reuse the same block costs)."""

    def __init__(self, arch: SpatialArch, s: Shape):
        self.arch, self.s = arch, s
        self._rows: dict[int, list] = {}
        self._blocks: dict[tuple, tuple[int, int, int, float]] = {}
        self.R, self.C, self.N1, self.EF = arch.array_2d.rows, arch.array_2d.cols, arch.array_1d.pes, s.E + s.F
        self.slots = _softmax_slots(s.E, s.F, "exp" in arch.array_1d.ops, arch.exp_taylor_macs)
        self.word_bits, self.clock_hz, self.bw = arch.word_bits, arch.clock_hz, arch.dram.bandwidth_bytes_per_s

    def array_sums(self, rq: int) -> tuple[int, int]:
        """One head's 2D and 1D cycles over its row blocks of size ``rq`` (any plan of that size runs them
        ``heads x K/V heads`` times; only its DRAM stage differs)."""
        d2 = d1 = 0
        for (n, keys), c in self.rows(rq):
            d2 += ceil(keys / self.R) * ceil(n / self.C) * self.EF * c
            d1 += n * ceil(keys / self.N1) * self.slots * c
        return d2, d1

    def rows(self, rq: int) -> list[tuple[tuple[int, int], int]]:
        if rq not in self._rows:
            self._rows[rq] = _flat_rows(self.s, rq, self.arch.array_2d.rows)
        return self._rows[rq]

    def block(self, n: int, keys: int, spill: bool, kv_words: float) -> tuple[int, int, int, float]:
        """:func:`_flat_block`, its arithmetic written out with the mapping's constants (the same operations)."""
        key = (n, keys, spill, kv_words)
        got = self._blocks.get(key)
        if got is None:
            d2 = ceil(keys / self.R) * ceil(n / self.C) * self.EF
            d1 = n * ceil(keys / self.N1) * self.slots
            words = n * self.EF + kv_words + (4 * n * keys if spill else 0)
            nbytes = words * self.word_bits / 8
            dram = ceil(nbytes * self.clock_hz / self.bw) if nbytes else 0  # _dram_cycles
            got = self._blocks[key] = (dram, d2, d1, words)
        return got


def _flat_plan(
    arch: SpatialArch, s: Shape, rq: int, spill: bool, resident: bool, memo: _FlatMemo | None = None
) -> tuple[list, float]:
    """The tile program (one part per K/V head) and its DRAM words.

    FLAT's row-granular tiling: a block of ``rq`` query rows runs QK, the softmax passes and AV
    against the keys it sees. With ``resident`` the head's K and V stay in the buffer while all
    its row blocks, and those of the other query heads sharing them (grouped-query), stream past:
    they are fetched once per K/V head. The first K/V head's arrive with the first blocks that see
    them; each next head's stream in during the blocks of the one before (double-buffered), an
    equal share per block. Otherwise every block fetches the K/V it sees.
    """
    memo = memo or _FlatMemo(arch, s)
    rows = memo.rows(rq)

    def per_block(n, keys, kv):
        return memo.block(n, keys, spill, kv)

    kv_all = s.M * (s.E + s.F)
    if not resident:
        stream = [(per_block(n, k, k * (s.E + s.F)), c) for (n, k), c in rows]
        head = run_length([(b[:3], c) for b, c in stream])
        words = sum(b[3] * c for b, c in stream) * s.h
        return [Repeat(s.Bkv, run_length([(tuple(head), s.h)], expand=list))], words * s.Bkv

    share = kv_all / (s.h * sum(c for _, c in rows))  # the next K/V head's, per block

    def kv_head(first: bool, prefetch: bool) -> list:
        sh = share if prefetch else 0
        blocks = [(per_block(n, k, sh), c) for (n, k), c in rows]
        if first:  # the first K/V head arrives as its first query head's blocks first see each key tile
            own, seen = [], 0
            for ((n, k), c), (b, _) in zip(rows, blocks):
                own += [(per_block(n, k, (k - seen) * (s.E + s.F) + sh)[:3], 1), (b[:3], c - 1)]
                seen = k
        else:
            own = [(b[:3], c) for b, c in blocks]
        one = run_length([(b[:3], c) for b, c in blocks])
        return run_length(own) + run_length([(tuple(one), s.h - 1)], expand=list)

    if s.Bkv == 1:
        program = kv_head(True, False)
    else:
        program = (
            kv_head(True, True)
            + run_length([(0, s.Bkv - 2)], expand=lambda _: kv_head(False, True))
            + kv_head(False, False)
        )
    words = s.Bkv * (s.h * sum((n * (s.E + s.F) + (4 * n * k if spill else 0)) * c for (n, k), c in rows) + kv_all)
    return program, words


def _flat_sums(
    arch: SpatialArch, s: Shape, rq: int, spill: bool, resident: bool, memo: _FlatMemo | None = None
) -> tuple[list[int], float]:
    """``column_sums`` of :func:`_flat_plan`'s program and its DRAM words, without building the program: the
    same blocks, each times how often the program runs it (all integers, so the order does not matter; a
    test compares the two). The mapper bounds every plan by these and builds only the ones it times."""
    memo = memo or _FlatMemo(arch, s)
    rows = memo.rows(rq)
    EF = s.E + s.F

    def per_block(n, keys, kv):
        return memo.block(n, keys, spill, kv)

    def add(acc: list[int], b: tuple, c: int) -> None:
        acc[0] += b[0] * c
        acc[1] += b[1] * c
        acc[2] += b[2] * c

    kv_all = s.M * EF
    if not resident:
        stream = [(per_block(n, k, k * EF), c) for (n, k), c in rows]
        one = [0, 0, 0]
        for b, c in stream:
            add(one, b, c)
        words = sum(b[3] * c for b, c in stream) * s.h
        return [x * s.h * s.Bkv for x in one], words * s.Bkv

    share = kv_all / (s.h * sum(c for _, c in rows))

    def kv_head(first: bool, prefetch: bool) -> list[int]:
        sh = share if prefetch else 0
        blocks = [(per_block(n, k, sh), c) for (n, k), c in rows]
        own, one = [0, 0, 0], [0, 0, 0]
        seen = 0
        for ((n, k), c), (b, _) in zip(rows, blocks):
            add(one, b, c)
            if first:
                add(own, per_block(n, k, (k - seen) * EF + sh), 1)
                add(own, b, c - 1)
                seen = k
            else:
                add(own, b, c)
        return [a + (s.h - 1) * b for a, b in zip(own, one)]

    if s.Bkv == 1:
        total = kv_head(True, False)
    else:
        parts = [kv_head(True, True), kv_head(False, True), kv_head(False, False)]
        total = [a + (s.Bkv - 2) * b + c for a, b, c in zip(*parts)]
    words = s.Bkv * (s.h * sum((n * EF + (4 * n * k if spill else 0)) * c for (n, k), c in rows) + kv_all)
    return total, words


def _flat_fits(arch: SpatialArch, s: Shape, rq: int, spill: bool, resident: bool) -> bool:
    words = arch.global_buffer.bytes * 8 // arch.word_bits
    R = arch.array_2d.rows
    # the K/V head in use and the next one (when there is one), or the streamed K/V tiles
    kv = (2 if s.Bkv > 1 else 1) * s.M * (s.E + s.F) if resident else _flat_staging(arch, s)
    block = rq * (s.E + s.F) + (2 * R * rq if spill else rq * s.M)  # Q, O; scores (or their staging)
    return FLAT_PIPE.depth * block + kv <= words


def _flat_choose(arch: SpatialArch, s: Shape, memo: _FlatMemo):
    """FLAT's mapper: of the plans that fit, the fastest (closed form), then the one moving the least DRAM,
    then the one with the least busiest-stage bound, then the smallest (row block, spill, resident).
    Returns (rq, spill, resident, DRAM words, program, timing), or None when no plan fits.

    A plan's cycles are at least its bound (its busiest stage's column sum), which is at least the busier
    array's sum; the arrays' sums are the same for the four plans of a row-block size and cost no DRAM
    arithmetic, so plans are visited by that cheaper bound and their exact bound is computed only for
    those that could still win, and timed only when that could still win. This is the choice of
    visiting every plan by its exact bound and keeping the first fastest-then-least-DRAM one (a test
    compares the two)."""
    plans = []
    for rq in _flat_candidates(arch, s):
        arrays = max(memo.array_sums(rq)) * s.h * s.Bkv
        for spill in (False, True):
            for resident in (False, True):
                if _flat_fits(arch, s, rq, spill, resident):
                    plans.append((arrays, _flat_words(memo, rq, spill, resident), rq, spill, resident))
    best: tuple | None = None  # ((cycles, words, bound, rq, spill, resident), program, timing)
    for arrays, words, rq, spill, resident in sorted(plans):
        if best is not None and (arrays, words, arrays, rq, spill, resident) >= best[0]:
            if arrays > best[0][0]:
                break  # every plan after this one is slower still
            continue
        sums, _ = _flat_sums(arch, s, rq, spill, resident, memo)
        bound = max(sums)  # the busiest stage, never overlapped
        if best is not None and (bound, words, bound, rq, spill, resident) >= best[0]:
            continue
        program, _ = _flat_plan(arch, s, rq, spill, resident, memo)
        timed = pipeline.run(FLAT_PIPE, program, "closed")
        key = (timed.cycles, words, bound, rq, spill, resident)
        if best is None or key < best[0]:
            best = (key, program, timed)
    if best is None:
        return None
    (_, words, _, rq, spill, resident), program, timed = best
    return rq, spill, resident, words, program, timed


def _flat_words(memo: _FlatMemo, rq: int, spill: bool, resident: bool) -> int:
    """The DRAM words of :func:`_flat_plan`'s plan (integers, as it adds them), from its row blocks."""
    s, EF = memo.s, memo.EF
    rows = memo.rows(rq)
    if not resident:
        return sum((n * EF + k * EF + (4 * n * k if spill else 0)) * c for (n, k), c in rows) * s.h * s.Bkv
    return s.Bkv * (s.h * sum((n * EF + (4 * n * k if spill else 0)) * c for (n, k), c in rows) + s.M * EF)


def flat(arch: SpatialArch, w: AttentionWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    s = _shape(arch, w)
    _need_ops(arch, "array_2d", cascade.THREE_PASS_2D, cascade.THREE_PASS)
    _need_ops(arch, "array_1d", ("M", "SN", "SD", "A"), cascade.THREE_PASS)
    pipe = FLAT_PIPE
    memo = _FlatMemo(arch, s)
    chosen = _flat_choose(arch, s, memo)
    if chosen is None:
        raise AttnkitError(
            f"arch {arch.name!r}: global_buffer.bytes = {arch.global_buffer.bytes} cannot hold even one FLAT row block"
        )
    rq, spill, resident, dram_words, program, timed = chosen
    timing = timed if mode == "closed" else pipeline.run(pipe, program, mode)

    acc = Acc()
    rows = memo.rows(rq)
    elems = s.B * sum(n * k * c for (n, k), c in rows)
    for e in cascade.THREE_PASS:
        _charge(acc, arch, "array_2d" if e.name in cascade.THREE_PASS_2D else "array_1d", e, elems, s, s.B * s.unmasked)
    spilled = 2 * elems if spill else 0
    kv_words = dram_words - s.B * s.P * (s.E + s.F) - 2 * spilled
    _dram(arch, acc, kv_words + s.B * s.P * s.E + spilled, s.B * s.P * s.F + spilled)
    # Buffer: S written, read by the max and exp passes; P written, read by the divide pass;
    # A written, read by AV; Q and K per QK tile, V per AV tile; DRAM fills and write-backs.
    qk_tiles = s.B * sum(ceil(k / arch.array_2d.rows) * ceil(n / arch.array_2d.cols) * c for (n, k), c in rows)
    qtile = min(rq, arch.array_2d.cols)
    _gb(
        arch,
        acc,
        reads=4 * elems + qk_tiles * (qtile * s.E + arch.array_2d.rows * (s.E + s.F)) + s.B * s.P * s.F + spilled,
        writes=3 * elems + kv_words + s.B * s.P * s.E + s.B * s.P * s.F + spilled,
    )
    extra = {"design": "flat", "row_block": rq, "spilled": spill, "kv_resident": resident, "mode": mode}
    return _result("flat", arch, table, timing, acc, s, extra)


# ----------------------------------------------------------------------------- unfused


def unfused(arch: SpatialArch, w: AttentionWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    s = _shape(arch, w)
    _need_ops(arch, "array_2d", cascade.THREE_PASS_2D, cascade.THREE_PASS)
    _need_ops(arch, "array_1d", ("M", "SN", "SD", "A"), cascade.THREE_PASS)
    R, C, N1 = arch.array_2d.rows, arch.array_2d.cols, arch.array_1d.pes
    has_exp = "exp" in arch.array_1d.ops
    named = cascade.by_name(cascade.THREE_PASS)
    P1 = ceil(s.P / C)
    # Causal: each R x C tile of the score tensor above the diagonal is skipped; the others run in full.
    q_ends = [min((p + 1) * C, s.P) for p in range(P1)]
    elems = s.B * sum((e - p * C) * s.keys(e, R) for p, e in enumerate(q_ends))
    words = arch.global_buffer.bytes * 8 // arch.word_bits
    off = elems > words // 2  # the score tensor does not fit: through DRAM
    wb = arch.word_bits / 8
    tile_w = R * C

    def io(n_in, n_out):
        return _dram_cycles(arch, (n_in + n_out) * tile_w * wb) if off else 0

    def row_1d(n):
        return ceil(tile_w / N1) * named[n].cycles(s.E, s.F, has_exp, arch.exp_taylor_macs)

    qk_in = _dram_cycles(arch, (R + C) * s.E * wb)
    av_in = _dram_cycles(arch, R * s.F * wb)
    # One phase after another; each phase is a pipeline over R x C tiles (dram, 2D, 1D).
    phases = [
        ("QK", (max(qk_in, io(0, 1)), s.E, 0)),
        ("M", (io(1, 0), 0, row_1d("M"))),
        ("SN+SD", (io(1, 1), 0, row_1d("SN") + row_1d("SD"))),
        ("A", (io(1, 1), 0, row_1d("A"))),
        ("AV", (max(av_in, io(1, 0)), s.F, 0)),
    ]
    n = s.B * sum(s.key_tiles(e, R) for e in q_ends)
    program = [Repeat(n, [d]) for _, d in phases]
    # Phases are separated by barriers: run each on its own and add.
    busy: dict[str, int] = {}
    cycles, tiles = 0, 0
    for item in program:
        t = pipeline.run(TILE_PIPE, [item], mode)
        cycles += t.cycles
        tiles += t.tiles
        for r, b in t.busy.items():
            busy[r] = busy.get(r, 0) + b
    timing = pipeline.Timing(cycles=cycles, tiles=tiles, busy=busy)

    acc = Acc()
    for e in cascade.THREE_PASS:
        _charge(acc, arch, "array_2d" if e.name in cascade.THREE_PASS_2D else "array_1d", e, elems, s, s.B * s.unmasked)
    inter = 7 * elems if off else 0  # S w, S r x2, P w, P r, A w, A r
    # K and V of a K/V head are read once for its h query heads (run back to back) when they fit
    # half the buffer beside the tiles in flight; otherwise once per query head.
    kv_reads = s.Bkv if s.M * (s.E + s.F) <= words // 2 else s.B
    _dram(
        arch,
        acc,
        s.B * s.P * s.E + kv_reads * s.M * (s.E + s.F) + (4 * elems if off else 0),
        s.B * s.P * s.F + (3 * elems if off else 0),
    )
    _gb(arch, acc, reads=4 * elems + n * (R + C) * s.E + n * R * s.F, writes=3 * elems + inter)
    return _result("unfused", arch, table, timing, acc, s, {"design": "unfused", "spilled": off, "mode": mode})


# ----------------------------------------------------------------------------- end to end


def layer_gemms(w: AttentionWorkload) -> list[tuple[str, GemmWorkload]]:
    """The transformer layer's matmuls besides attention: Q, K, V, O projections and the FFN."""
    rows = w.batch * (1 if w.context else w.seq_len)
    d, hd, kvd = w.d_model, w.heads * w.head_dim, w.groups * w.head_dim
    shapes = [("Q", d, hd), ("K", d, kvd), ("V", d, kvd), ("O", hd, d), ("FFN1", d, w.ffn), ("FFN2", w.ffn, d)]
    return [(n, GemmWorkload(name=n, m=rows, n=nn, k=kk)) for n, kk, nn in shapes]


def _layer(attn_fn: EngineFn, name: str) -> EngineFn:
    def run(arch: SpatialArch, w: AttentionWorkload, table: EnergyTable, mode: str = "closed") -> Result:
        from attnkit.sim import engines

        gemm = engines.get("gemm")
        att = attn_fn(arch, w, table, mode)
        cycles, energy, dram = att.cycles, att.energy_pj, att.dram_bytes
        ops_2d = att.util_2d * arch.array_2d.pes * att.cycles
        ops_1d = att.util_1d * arch.array_1d.pes * att.cycles
        actions = dict(att.actions)
        parts = {"attention": att.cycles}
        done: dict = {}  # Q, K, V (multi-head) have one shape: map it once
        for gname, g in layer_gemms(w):
            shape = (g.m, g.n, g.k)
            r = done[shape] = done.get(shape) or gemm(arch, g, table, mode)
            macs = g.m * g.n * g.k
            regs = 3 * macs if arch.array_2d.operand_registers else macs  # as in attention's MACs
            extra_acts = {"regfile_2d.read": regs, "regfile_2d.write": regs}
            e_regs, _ = table.energy(extra_acts)
            cycles += r.cycles
            energy += r.energy_pj + e_regs
            dram += r.dram_bytes
            ops_2d += macs
            parts[gname] = r.cycles
            for k_, v in list(r.actions.items()) + list(extra_acts.items()):
                actions[k_] = actions.get(k_, 0.0) + v
        _, breakdown = table.energy(actions)
        return Result(
            engine=name,
            cycles=cycles,
            clock_hz=arch.clock_hz,
            energy_pj=energy,
            area_mm2=att.area_mm2,
            util_2d=ops_2d / (arch.array_2d.pes * cycles),
            util_1d=ops_1d / (arch.array_1d.pes * cycles),
            dram_bytes=dram,
            energy_breakdown=breakdown,
            area_breakdown=att.area_breakdown,
            actions=actions,
            extra={"design": name, "cycles_by_part": parts, "attention_cycles": att.cycles, "mode": mode},
        )

    return run


# Each remembered (attnkit.sim.memo): the -layer engines run the same attention again beside their GEMMs.
_FNS: dict[str, EngineFn] = {
    "fusemax": remembered(fusemax),
    "fusemax-cascade-flat": remembered(cascade_flat),
    "fusemax-serial": remembered(serial),
    "flat": remembered(flat),
    "unfused": remembered(unfused),
}
_FNS.update({f"{n}-layer": _layer(fn, f"{n}-layer") for n, fn in list(_FNS.items())})


# ----------------------------------------------------------------------------- batch forms


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
        return _batch.cdiv(self.M, self.R)

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

    return _batch.per_arch(points, has, bool)


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

    actions: _batch.Counts = field(default_factory=_batch.Counts)
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


def _result_b(name: str, points: Points, table: EnergyTable, r: _Rows, timing: tuple, acc: _BAcc, extra: dict) -> dict:
    """:func:`_result` per row: the flattened ``Result.to_dict()`` columns; ``timing``: (cycles, tiles,
    busy cycles by resource) columns."""
    n = r.n
    cyc, tiles, busy = timing
    _, energy, breakdown = _batch.energy(table, acc.actions, n)
    area = _batch.per_arch(points, lambda a: _area(a, table)[0], np.float64)
    area_breakdown = _batch.per_arch_dict(points, lambda a: _area(a, table)[1])
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
    out.update(_batch.actions_columns(acc.actions, n))
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


def _kv_head_b(r: _Rows, gq, run: BatchRun | None, tile: _Tiles | None, active=None, at=None):
    """One K/V head's blocks (``run``: time them; None: only count) and the keys its blocks fetch.

    The walk visits, per row, each run of equal blocks (every block of it inside one run of query groups
    needing the same key tiles: one repeat, as the scalar form's run-length program has it) or else each
    segment of a block: the groups needing the same key tiles, with the key tiles only the later ones need
    before them. Steps: about twice the distinct key-tile counts, not the blocks or the groups. Once most
    rows are done, the walk goes on with the others alone (``at``: their blocks and groups so far)."""
    n, R, C, h, M1 = r.n, r.R, r.C, r.h, r.M1
    G = _batch.cdiv(r.P, C)
    L = G * h
    nb = _batch.cdiv(L, gq)

    def J(g):  # key tiles group g needs
        return r.key_tiles(np.minimum((g + 1) * C, r.P))

    b, g = (np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)) if at is None else at
    kv_keys = np.zeros(n, dtype=np.int64)
    live = np.ones(n, dtype=bool) if active is None else active.copy()
    live &= b < nb
    while live.any():
        if n >= 256 and 4 * np.count_nonzero(live) < n:
            left = np.flatnonzero(live)
            sub = None if run is None else run.take(left)
            part = None if tile is None else tile.take(left)
            kv_keys[left] += _kv_head_b(r.take(left), gq[left], sub, part, None, (b[left], g[left]))
            if run is not None and sub is not None:
                run.put(sub, left)
            break
        e0 = b * gq
        e1 = np.minimum(e0 + gq, L)
        v = J(g)
        start = g * h <= e0  # at the block's first entry
        s0 = np.maximum(e0, g * h)
        gn = np.where(r.causal & (v < M1), v * R // C, G)  # the first group needing more key tiles
        y = np.minimum(gn * h, L)  # the first entry needing more
        nrep = np.where(start & live, (y - e0) // gq, 0)  # whole blocks inside this run
        same = nrep > 0
        seg = live & ~same
        N, m = e1 - s0, np.minimum(e1, y) - s0  # entries needing v or more key tiles; exactly v
        if run is not None and tile is not None:

            def blocks(act, v=v):
                _block_b(run, tile, v, gq, act)

            run.repeat(nrep, blocks, _and(active, same))
            one = v == 1
            _row_b(run, tile, True, np.where(one, m, 0), np.where(one, N - m, N), seg & start)
            prev = np.where(start, 0, J(g - 1))
            mid = np.where(start, np.maximum(v - 2, 0), v - 1 - prev)

            def rows(act, N=N):
                _row_b(run, tile, False, 0, N, act)

            run.repeat(np.where(seg, mid, 0), rows, seg)
            _row_b(run, tile, False, m, N - m, seg & ~(start & one))
        inside = seg & (y < e1)  # the block goes on with the groups needing more
        done = np.where(same, nrep, 1)
        kv_keys += np.where(same, nrep * np.minimum(r.M, v * R), 0)
        kv_keys += np.where(seg & ~inside, np.minimum(r.M, R * J((e1 - 1) // h)), 0)
        g = np.where(inside, gn, np.where(live, (b + done) * gq // h, g))
        b = np.where(inside | ~live, b, b + done)
        live &= b < nb
    return kv_keys


def _group_sums(r: _Rows) -> tuple:
    """Over the query groups g of C queries (nq of them, needing J key tiles holding ``keys`` keys): the
    sums of J, nq x J and nq x keys per row, in closed form. Causal, every group but the last ends at
    (g + 1) C and needs ceil((g + 1) C / R) key tiles; the last needs all M1."""
    R, C, M1 = r.R, r.C, r.M1
    G = _batch.cdiv(r.P, C)
    nq_last = r.P - (G - 1) * C
    head = _batch.floor_sum(G - 1, R, C, C + R - 1)  # J of groups 0 .. G-2
    full = np.maximum(0, G - 1 - (M1 - 1) * R // C)  # of them, those needing all M1 tiles
    causal = r.causal
    sum_J = np.where(causal, head + M1, G * M1)
    sum_nqJ = np.where(causal, C * head + nq_last * M1, r.P * M1)
    sum_nq_keys = np.where(causal, C * (R * head - (R * M1 - r.P) * full) + nq_last * r.P, r.P * r.M)
    return sum_J, sum_nqJ, sum_nq_keys


def _one_pass_batch(points: Points, table: EnergyTable, binding: str, serial: bool, name: str) -> dict:
    """:func:`_one_pass` over a table of points."""
    cas = cascade.ONE_PASS
    on_2d = cascade.BINDINGS[binding]
    on_1d = [e.name for e in cas if e.name not in on_2d]
    named = cascade.by_name(cas)

    def check(arch):
        if arch.array_1d.pes < 1:
            raise AttnkitError("no 1D array")
        _need_ops(arch, "array_2d", on_2d, cas)
        _need_ops(arch, "array_1d", on_1d, cas)
        table.check_widths(arch)

    bad = _batch.refused_archs(points, check)
    r = _rows(points, bad)
    R, C, N1, E, F = r.R, r.C, r.N1, r.E, r.F
    k = _batch.cdiv(C, N1)  # 1D passes per query group

    def slots(nm, where):
        e = named[nm]
        c = _e_cycles(e, r, where)
        if e.per == "element":
            return c * (1 if where == "array_2d" else _batch.cdiv(R * C, N1))
        return c * k

    d2 = sum(slots(nm, "array_2d") for nm in on_2d)
    d2 = d2 + sum(slots(nm, "array_1d") for nm in cascade.stall_between(cas, on_2d))
    d1 = sum(slots(nm, "array_1d") for nm in on_1d if named[nm].per != "query")
    av = slots("AV", "array_1d")
    room = r.words - TILE_PIPE.depth * R * (E + F)
    per_group = C * (E + 2 + F)
    bad |= room < per_group
    # every count below is at most (batch x heads) x queries x keys x (issue slots per element) x 4
    bad |= r.B.astype(float) * r.P * r.M * (E + F + r.taylor + 8) * 4 > _batch.SAFE
    M1, G = r.M1, _batch.cdiv(r.P, C)
    L = G * r.h
    gq = np.maximum(np.minimum(L, room // per_group), 1)

    sum_J, sum_nqJ, sum_nq_keys = _group_sums(r)
    kv_keys = _kv_head_b(r, gq, None, None)
    nb = _batch.cdiv(L, gq)

    acc = _BAcc()
    elems = r.B * sum_nq_keys
    tq = r.B * sum_nqJ
    qs = r.B * r.P
    useful = {"element": r.B * r.unmasked, "tile_query": tq, "query": qs}
    units = {"element": elems, "tile_query": tq, "query": qs}
    for e in cas:
        _charge_b(acc, r, "array_2d" if e.name in on_2d else "array_1d", e, units[e.per], useful[e.per])
    kv_words = r.Bkv * kv_keys * (E + F)
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
    bad |= _batch.energy(table, acc.actions, r.n)[0]
    if bad.any():
        raise BatchUnsupported(f"engine {name}: rows the scalar form rejects", rows=bad)

    wb = r.word_bits / 8
    kv = r.dram_cycles(R * (E + F) * wb)
    q = r.dram_cycles(C * E * wb)
    o = r.dram_cycles(C * F * wb)
    kv, q, o, d2, d1, d1_last = (np.broadcast_to(v, (r.n,)) for v in (kv, q, o, d2, d1, d1 + av))
    tile = _Tiles(kv=kv, q=q, o=o, d2=d2, d1=d1, d1_last=d1_last, serial=serial)
    run = BatchRun(SERIAL_PIPE if serial else TILE_PIPE, r.n)
    run.repeat(r.Bkv, lambda act: _kv_head_b(r, gq, run, tile, act))
    extra = {
        "design": name,
        "binding": binding,
        "pipelined": not serial,
        "ii_2d": d2,
        "ii_1d": d1,
        "query_groups_per_block": gq,
        "key_tiles": M1,
        "tiles_run": tiles,
        "tiles_unmasked": r.B * M1 * G,
        "kv_fetches_per_kv_head": nb,
        "mode": "closed",
    }
    return _result_b(name, points, table, r, (run.cycles, run.tiles, run.busy), acc, extra)


def _flat_block_b(r: _Rows, n, keys, spill, kv_words, slots) -> tuple:
    """:func:`_flat_block` per row: (dram, 2D, 1D) cycles and DRAM words of one row block."""
    d2 = _batch.cdiv(keys, r.R) * _batch.cdiv(n, r.C) * (r.E + r.F)
    d1 = n * _batch.cdiv(keys, r.N1) * slots
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

    def check(arch):
        if arch.array_1d.pes < 1:
            raise AttnkitError("no 1D array")
        _need_ops(arch, "array_2d", cascade.THREE_PASS_2D, cascade.THREE_PASS)
        _need_ops(arch, "array_1d", ("M", "SN", "SD", "A"), cascade.THREE_PASS)
        table.check_widths(arch)

    bad = _batch.refused_archs(points, check)
    r = _rows(points, bad)
    n, R, EF = r.n, r.R, r.E + r.F
    bad |= r.causal
    bad |= r.B.astype(float) * r.P * r.M * (EF + r.taylor + 8) * 4 > _batch.SAFE
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
    probe = acc.actions.copy()
    for key in ("dram.read", "dram.write", "global_buffer.read", "global_buffer.write"):
        probe[key] = 1
    bad |= _batch.energy(table, probe, n)[0]
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

    best, cycles, kept = _batch.mapper([bound, words, rq, spill, resident], valid, bound, words, [words], time)
    rq, spill, resident, dram_words = (a[best, cols] for a in (rq, spill, resident, words))
    timing = (cycles, kept["tiles"], {"array_2d": kept["busy_2d"], "array_1d": kept["busy_1d"]})
    nfull, rem = r.P // rq, r.P % rq
    spilled = np.where(spill, 2 * elems, 0)
    kv_words = dram_words - r.B * r.P * EF - 2 * spilled
    qk_tiles = r.B * _batch.cdiv(r.M, R) * (nfull * _batch.cdiv(rq, r.C) + _batch.cdiv(rem, r.C))
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

    def check(arch):
        if arch.array_1d.pes < 1:
            raise AttnkitError("no 1D array")
        _need_ops(arch, "array_2d", cascade.THREE_PASS_2D, cascade.THREE_PASS)
        _need_ops(arch, "array_1d", ("M", "SN", "SD", "A"), cascade.THREE_PASS)
        table.check_widths(arch)

    bad = _batch.refused_archs(points, check)
    r = _rows(points, bad)
    R, C, N1, E, F = r.R, r.C, r.N1, r.E, r.F
    bad |= r.B.astype(float) * r.P * r.M * (E + F + r.taylor + 8) * 4 > _batch.SAFE
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
    bad |= _batch.energy(table, acc.actions, r.n)[0]
    if bad.any():
        raise BatchUnsupported("engine unfused: rows the scalar form rejects", rows=bad)

    wb = r.word_bits / 8
    tile_w = R * C

    def io(n_in, n_out):
        return np.where(off, r.dram_cycles((n_in + n_out) * tile_w * wb), 0)

    def row_1d(nm):
        return _batch.cdiv(tile_w, N1) * _e_cycles(named[nm], r, "array_1d")

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
        assert gemm.batch is not None
        try:
            g_cols = gemm.batch(g_points, table)
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
        bad |= _batch.energy(table, {"regfile_2d.read": 1, "regfile_2d.write": 1}, n, zeros=True)[0]
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
            _, e_regs, _ = _batch.energy(table, extra_acts, n)
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
        _, _, breakdown = _batch.energy(table, actions, n)
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
        out.update({f"actions.{k}": _batch.present(np.asarray(v, np.float64), done[k]) for k, v in actions.items()})
        return out

    return run


def fusemax_batch(points: Points, table: EnergyTable) -> dict:
    return _one_pass_batch(points, table, "fusemax", False, "fusemax")


def cascade_flat_batch(points: Points, table: EnergyTable) -> dict:
    return _one_pass_batch(points, table, "flat", False, "fusemax-cascade-flat")


def serial_batch(points: Points, table: EnergyTable) -> dict:
    return _one_pass_batch(points, table, "fusemax", True, "fusemax-serial")


_BATCH: dict[str, BatchFn] = {
    "fusemax": fusemax_batch,
    "fusemax-cascade-flat": cascade_flat_batch,
    "fusemax-serial": serial_batch,
    "flat": flat_batch,
    "unfused": unfused_batch,
}
_BATCH.update({f"{n}-layer": _layer_batch(fn, f"{n}-layer") for n, fn in list(_BATCH.items())})
ENGINES = {n: Engine(fn, arch=("spatial",), workload=("attention",), batch=_BATCH.get(n)) for n, fn in _FNS.items()}
