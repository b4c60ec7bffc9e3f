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
:class:`~attnkit.sim.batch.pipeline.BatchRun`; rows the scalar form rejects are
left to it. ``fusemax``, ``fusemax-cascade-flat``, ``fusemax-serial``: the
sums over query groups in closed form (floor sums where causal), a K/V head
walked run of equal blocks by run (causal: segment by segment, jumping whole
periods of blocks and of a block's segments once they repeat with counts
moving by the same amounts: :class:`~attnkit.sim.batch.pipeline.PeriodicWalk`,
and taking the regular blocks at once from one probe per block class, so a
causal row costs steps in proportion to its period, not its key tiles); the
second K/V head is walked only until its state has the first's shape.
``flat``:
the mapper's plans timed in the scalar mapper's order, row by row, with its
pruning; causal rows (row blocks seeing different key tiles) are left to the
scalar form. ``unfused``: every phase one repeat, causal included.
``<engine>-layer``: the attention's batch form, then ``gemm``'s on each
distinct (arch, matmul shape) of the rows.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import cache
from math import ceil

from attnkit.errors import AttnkitError
from attnkit.params.arch import SpatialArch
from attnkit.params.workload import AttentionWorkload, GemmWorkload
from attnkit.sim import cascade, pipeline
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import Engine, EngineFn
from attnkit.sim.memo import remembered
from attnkit.sim.pipeline import Pipeline, Repeat, Stage, run_length
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


def _need_binding(arch: SpatialArch, cas, on_2d) -> None:
    """Refuse an arch whose arrays lack an op of the Einsums of ``cas`` bound to them: ``on_2d`` on the 2D
    array, the others on the 1D array."""
    _need_ops(arch, "array_2d", on_2d, cas)
    _need_ops(arch, "array_1d", [e.name for e in cas if e.name not in on_2d], cas)


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
    _need_binding(arch, cas, on_2d)
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
    extra = _one_pass_extra(name, binding, serial, d2, d1, gq, M1, tiles, s.B * M1 * G, len(blocks), mode)
    return _result(name, arch, table, timing, acc, s, extra)


def _one_pass_extra(name, binding, serial, d2, d1, gq, key_tiles, tiles, unmasked, fetches, mode) -> dict:
    """The 1-pass designs' own JSON keys (values or columns: the batch form gives the same keys)."""
    return {
        "design": name,
        "binding": binding,
        "pipelined": not serial,
        "ii_2d": d2,
        "ii_1d": d1,
        "query_groups_per_block": gq,
        "key_tiles": key_tiles,
        "tiles_run": tiles,
        "tiles_unmasked": unmasked,
        "kv_fetches_per_kv_head": fetches,
        "mode": mode,
    }


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
    _need_binding(arch, cascade.THREE_PASS, cascade.THREE_PASS_2D)
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
    _need_binding(arch, cascade.THREE_PASS, cascade.THREE_PASS_2D)
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


# Every one has a batch form (attnkit.sim.batch.attention.FORMS), imported on first use.
ENGINES = {
    n: Engine(fn, arch=("spatial",), workload=("attention",), batch="attnkit.sim.batch.attention")
    for n, fn in _FNS.items()
}
