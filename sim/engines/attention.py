"""Attention engines of FuseMax and its baselines, and their end-to-end transformer layers.

Engines (``fn(arch, workload, table, mode)``; the workload is an
:class:`~attnkit.sim.workload.AttentionWorkload`):

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
- ``flat``: the 3-pass softmax. A tile is a block of Rq query rows against
  all keys: QK and AV on 2D, max, exp + sum, divide on 1D (one op per
  element per pass), blocks software-pipelined three deep. The mapper picks
  Rq (powers of two times or fractions of the array width, or the largest
  block whose scores fit) and whether
  the score block stays in the buffer (three blocks must fit) or streams
  through DRAM (4 words per element: S written and read back, P written and
  read back); fastest wins, then the least DRAM traffic.
- ``unfused``: QK, max, exp + sum, divide, AV one after another over whole
  tensors; intermediates larger than the buffer go through DRAM.
- ``<engine>-layer``: the attention plus the transformer layer's Q, K, V, O
  projections and two FFN matmuls, each run by engine ``gemm`` on the same
  2D array (one after another).

Utilisation is useful work over (PEs x cycles): padding (a sequence that is
not a multiple of the tile) and stalls show up as lost utilisation. Energy
is action counts times the table; register-file accesses follow
``array_2d.operand_registers`` (FLAT's PE latches both operands and the
accumulator: 3 reads + 3 writes per MAC; FuseMax's takes operands off the
network and keeps accumulators and intermediates in its register file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil

from attnkit.errors import AttnkitError
from attnkit.sim import cascade, pipeline
from attnkit.sim.pipeline import Pipeline, Repeat, Stage
from attnkit.sim.result import Result
from attnkit.sim.workload import GemmWorkload

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
    B: int          # batch x heads: independent attention problems
    M: int          # keys
    P: int          # queries
    E: int
    F: int


@dataclass
class Acc:
    """Action counts, utilisation numerators and per-Einsum activity, gathered by an engine."""

    actions: dict[str, float] = field(default_factory=dict)
    ops_2d: float = 0.0                  # useful PE-cycles on the 2D array
    ops_1d: float = 0.0
    einsum_2d: dict[str, float] = field(default_factory=dict)
    einsum_1d: dict[str, float] = field(default_factory=dict)
    dram_bytes: float = 0.0

    def add(self, key: str, n: float) -> None:
        if n:
            self.actions[key] = self.actions.get(key, 0.0) + n


# ----------------------------------------------------------------------------- helpers

def _shape(arch, w) -> Shape:
    if getattr(arch, "kind", None) != "spatial":
        raise AttnkitError(f"attention engines run on a spatial architecture, not {getattr(arch, 'kind', arch)!r}")
    if getattr(w, "kind", None) != "attention":
        raise AttnkitError(f"attention engines run an attention workload, not {getattr(w, 'kind', w)!r}")
    if w.causal:
        raise AttnkitError("workload.causal: the FuseMax engines model non-causal attention only")
    if arch.array_1d.pes < 1:
        raise AttnkitError(f"arch {arch.name!r}: array_1d.pes = 0, but these engines need a 1D array")
    M = w.context or w.seq_len
    P = 1 if w.context else w.seq_len
    return Shape(B=w.batch * w.heads, M=M, P=P, E=w.head_dim, F=w.head_dim)


def _need_ops(arch, where: str, einsums, cas) -> None:
    named = cascade.by_name(cas)
    ops = set(getattr(arch, where).ops)
    for name in einsums:
        for key in named[name].actions(1, 1, "exp" in ops, 1):
            op = {"mac": "mac", "max": "max", "adder": "add", "divider": "div", "exp": "exp"}[key.split(".")[0]]
            if op not in ops:
                raise AttnkitError(f"arch {arch.name!r}: {name} runs on {where} but {where}.ops lacks {op!r}"
                                   f" (has {', '.join(ops) or 'none'})")


def _dram_cycles(arch, nbytes: float) -> int:
    return ceil(nbytes * arch.clock_hz / arch.dram.bandwidth_bytes_per_s) if nbytes else 0


def _words_per_row(arch) -> float:
    return arch.global_buffer.row_bits / arch.word_bits


def _gb(arch, acc: Acc, reads: float, writes: float) -> None:
    acc.add("global_buffer.read", reads / _words_per_row(arch))
    acc.add("global_buffer.write", writes / _words_per_row(arch))


def _dram(arch, acc: Acc, read_words: float, write_words: float) -> None:
    per = arch.dram.access_bits / arch.word_bits
    acc.add("dram.read", read_words / per)
    acc.add("dram.write", write_words / per)
    acc.dram_bytes += (read_words + write_words) * arch.word_bits / 8


def _charge(acc: Acc, arch, where: str, e: cascade.Einsum, units: float, s: Shape) -> None:
    """Compute and register-file actions of ``units`` units of Einsum ``e`` on array ``where``."""
    has_exp = "exp" in getattr(arch, where).ops
    acts = e.actions(s.E, s.F, has_exp, arch.exp_taylor_macs)
    slots = e.cycles(s.E, s.F, has_exp, arch.exp_taylor_macs) * units
    for k, v in acts.items():
        acc.add(k, v * units)
    if where == "array_2d":
        acc.ops_2d += slots
        acc.einsum_2d[e.name] = acc.einsum_2d.get(e.name, 0.0) + slots
        rf = "regfile_2d"
        macs = acts.get("mac.mac", 0) * units
        if arch.array_2d.operand_registers:
            # Both operands latched (write + read each) and the accumulator read and updated.
            acc.add(f"{rf}.read", 3 * macs + (slots - macs))
            acc.add(f"{rf}.write", 3 * macs + (slots - macs))
        elif e.kind in ("mac_e",):
            acc.add(f"{rf}.read", macs)          # accumulator in the register file
            acc.add(f"{rf}.write", macs)
        elif e.kind == "mac_f":
            acc.add(f"{rf}.read", units)         # the stationary SLN, latched once per element
        else:
            acc.add(f"{rf}.read", slots)         # elementwise: read operand, write result
            acc.add(f"{rf}.write", slots if e.kind != "max" else 0)
    else:
        acc.ops_1d += slots
        acc.einsum_1d[e.name] = acc.einsum_1d.get(e.name, 0.0) + slots
        acc.add("regfile_1d.read", slots)
        acc.add("regfile_1d.write", slots)


def _area(arch, table) -> tuple[float, dict]:
    names = {"mac": "mac", "add": "adder", "max": "max", "div": "divider", "exp": "exp"}
    inst: dict[str, float] = {}
    for arr, n in ((arch.array_2d, arch.array_2d.pes), (arch.array_1d, arch.array_1d.pes)):
        for op in arr.ops:
            if op in names and names[op] in table.components:
                inst[names[op]] = inst.get(names[op], 0) + n
    if "global_buffer" in table.components:
        inst["global_buffer"] = table.memory_instances("global_buffer", arch.global_buffer.bytes)
    return table.area_mm2(inst)


def _result(name, arch, table, timing, acc: Acc, s: Shape, extra: dict) -> Result:
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
        "bound_dram_s": arch.word_bytes * s.B * (s.P + s.M) * (s.E + s.F) / arch.dram.bandwidth_bytes_per_s,
        **extra,
    }
    return Result(engine=name, cycles=cyc, clock_hz=arch.clock_hz, energy_pj=energy, area_mm2=area,
                  util_2d=acc.ops_2d / (pes2 * cyc) if cyc else 0.0,
                  util_1d=acc.ops_1d / (pes1 * cyc) if cyc else 0.0,
                  dram_bytes=acc.dram_bytes, energy_breakdown=breakdown, area_breakdown=area_breakdown,
                  actions=acc.actions, extra=extra)


# ----------------------------------------------------------------------------- 1-pass cascade

def _one_pass(arch, w, table, mode, binding: str, serial: bool, name: str) -> Result:
    s = _shape(arch, w)
    cas = cascade.ONE_PASS
    on_2d = cascade.BINDINGS[binding]
    on_1d = [e.name for e in cas if e.name not in on_2d]
    _need_ops(arch, "array_2d", on_2d, cas)
    _need_ops(arch, "array_1d", on_1d, cas)
    R, C, N1 = arch.array_2d.rows, arch.array_2d.cols, arch.array_1d.pes
    E, F = s.E, s.F
    named = cascade.by_name(cas)
    k = ceil(C / N1)                                  # 1D passes per query group
    e_args = lambda where: (E, F, "exp" in getattr(arch, where).ops, arch.exp_taylor_macs)

    def slots(n, where):                              # cycles of Einsum n for one tile on its array
        e = named[n]
        c = e.cycles(*e_args(where))
        if e.per == "element":
            return c * (1 if where == "array_2d" else ceil(R * C / N1))
        return c * k

    d2 = sum(slots(n, "array_2d") for n in on_2d)
    d2 += sum(slots(n, "array_1d") for n in cascade.stall_between(cas, on_2d))   # the 2D waits for these
    d1 = sum(slots(n, "array_1d") for n in on_1d if named[n].per != "query")
    av = slots("AV", "array_1d")

    # Resident query block: Q, RM, RD, RNV per query, beside double-buffered K/V tiles.
    words = arch.global_buffer.bytes * 8 // arch.word_bits
    room = words - TILE_PIPE.depth * R * (E + F)     # K/V tiles of the tiles in flight
    per_group = C * (E + 2 + F)
    if room < per_group:
        raise AttnkitError(f"arch {arch.name!r}: global_buffer.bytes = {arch.global_buffer.bytes} cannot hold"
                           f" {TILE_PIPE.depth} {R}-key K/V tiles and one {C}-query group")
    M1, G = ceil(s.M / R), ceil(s.P / C)
    gq = min(G, room // per_group)                    # query groups per resident block
    wb = arch.word_bits / 8
    kv = _dram_cycles(arch, R * (E + F) * wb)
    q = _dram_cycles(arch, C * E * wb)
    o = _dram_cycles(arch, C * F * wb)

    def row(g: int, first: bool, last: bool) -> list:
        """One key tile against the block's g query groups (K/V fetched once, by the first group)."""
        fetch = q if first else 0                     # Q groups are fetched with the first key tile
        store = o if last else 0                      # the last key tile is followed by AV; O goes out
        t1 = (d1 + av) if last else d1
        return [(kv + fetch + store, d2, t1)] + ([Repeat(g - 1, [(fetch + store, d2, t1)])] if g > 1 else [])

    def block(g: int) -> list:
        if M1 == 1:
            return row(g, True, True)
        return row(g, True, False) + ([Repeat(M1 - 2, row(g, False, False))] if M1 > 2 else []) + row(g, False, True)

    nfull, last = divmod(G, gq)
    per_head = ([Repeat(nfull, block(gq))] if nfull else []) + (block(last) if last else [])
    program = [Repeat(s.B, per_head)]
    if serial:
        program = _merge_arrays(program)
    timing = pipeline.run(SERIAL_PIPE if serial else TILE_PIPE, program, mode)

    # Actions: useful (unpadded) work only; padded PEs are idle.
    acc = Acc()
    elems, tq, qs = s.B * s.M * s.P, s.B * M1 * s.P, s.B * s.P
    units = {"element": elems, "tile_query": tq, "query": qs}
    for e in cas:
        _charge(acc, arch, "array_2d" if e.name in on_2d else "array_1d", e, units[e.per], s)
    nblocks = s.B * (nfull + (1 if last else 0))
    kv_words = nblocks * s.M * (E + F)
    _dram(arch, acc, kv_words + s.B * s.P * E, s.B * s.P * F)
    # Buffer: DRAM fills written; every tile reads its Q group and K/V tile; RNV (F per query)
    # lives in the buffer when it does not fit the 1D register file; O written then read out.
    rnv_in_gb = F + 4 > arch.array_1d.regfile_entries
    tiles = s.B * M1 * G
    _gb(arch, acc,
        reads=tiles * (C * E + R * (E + F)) + (2 * F * tq if rnv_in_gb else 0) + s.B * s.P * F,
        writes=kv_words + s.B * s.P * E + (F * tq if rnv_in_gb else 0) + s.B * s.P * F)
    extra = {"design": name, "binding": binding, "pipelined": not serial, "ii_2d": d2, "ii_1d": d1,
             "query_groups_per_block": gq, "key_tiles": M1, "mode": mode}
    return _result(name, arch, table, timing, acc, s, extra)


def _merge_arrays(program):
    """(dram, 2d, 1d) tiles as (dram, 2d + 1d): the arrays take turns."""
    return [Repeat(i.count, _merge_arrays(i.body)) if isinstance(i, Repeat) else (i[0], i[1] + i[2])
            for i in program]


def fusemax(arch, w, table, mode="closed"):
    return _one_pass(arch, w, table, mode, "fusemax", False, "fusemax")


def cascade_flat(arch, w, table, mode="closed"):
    return _one_pass(arch, w, table, mode, "flat", False, "fusemax-cascade-flat")


def serial(arch, w, table, mode="closed"):
    return _one_pass(arch, w, table, mode, "fusemax", True, "fusemax-serial")


# ----------------------------------------------------------------------------- 3-pass (FLAT)

def _flat_candidates(arch, s: Shape):
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
    cands.add(max(1, min(s.P, room // (FLAT_PIPE.depth * (s.M + s.E + s.F)))))   # largest resident block
    return sorted(c for c in cands if c <= s.P)


def _flat_staging(arch, s: Shape) -> int:
    return 2 * 2 * arch.array_2d.rows * max(s.E, s.F)               # double-buffered K/V tiles


def _flat_block(arch, s: Shape, rq: int, spill: bool) -> tuple[int, int, int, float]:
    """(dram, 2D, 1D) cycles of one block of ``rq`` query rows, and its DRAM words."""
    R, C, N1 = arch.array_2d.rows, arch.array_2d.cols, arch.array_1d.pes
    has_exp = "exp" in arch.array_1d.ops
    named = cascade.by_name(cascade.THREE_PASS)
    M1 = ceil(s.M / R)
    d2 = M1 * ceil(rq / C) * (s.E + s.F)
    per_elem_1d = sum(named[n].cycles(s.E, s.F, has_exp, arch.exp_taylor_macs)
                      for n in ("M", "SN", "SD", "A"))
    d1 = rq * ceil(s.M / N1) * per_elem_1d
    words = rq * (s.E + s.F) + s.M * (s.E + s.F) + (4 * rq * s.M if spill else 0)
    return _dram_cycles(arch, words * arch.word_bits / 8), d2, d1, words


def _flat_program(arch, s: Shape, rq: int, spill: bool) -> list:
    nfull, last = divmod(s.P, rq)
    body = [Repeat(nfull, [_flat_block(arch, s, rq, spill)[:3]])] if nfull else []
    if last:
        body.append(_flat_block(arch, s, last, spill)[:3])
    return [Repeat(s.B, body)]


def _flat_fits(arch, s: Shape, rq: int, spill: bool) -> bool:
    words = arch.global_buffer.bytes * 8 // arch.word_bits
    R = arch.array_2d.rows
    staging = _flat_staging(arch, s)
    block = rq * (s.E + s.F) + (2 * R * rq if spill else rq * s.M)  # Q, O; scores (or their staging)
    return FLAT_PIPE.depth * block + staging <= words


def flat(arch, w, table, mode="closed"):
    s = _shape(arch, w)
    _need_ops(arch, "array_2d", cascade.THREE_PASS_2D, cascade.THREE_PASS)
    _need_ops(arch, "array_1d", ("M", "SN", "SD", "A"), cascade.THREE_PASS)
    pipe = FLAT_PIPE
    best = None
    for rq in _flat_candidates(arch, s):
        for spill in (False, True):
            if not _flat_fits(arch, s, rq, spill):
                continue
            cyc = pipeline.run(pipe, _flat_program(arch, s, rq, spill), "closed").cycles
            key = (cyc, _flat_block(arch, s, rq, spill)[3] * ceil(s.P / rq))
            if best is None or key < best[0]:
                best = (key, rq, spill)
    if best is None:
        raise AttnkitError(f"arch {arch.name!r}: global_buffer.bytes = {arch.global_buffer.bytes} cannot hold"
                           f" even one FLAT row block")
    _, rq, spill = best
    timing = pipeline.run(pipe, _flat_program(arch, s, rq, spill), mode)

    acc = Acc()
    elems = s.B * s.M * s.P
    for e in cascade.THREE_PASS:
        _charge(acc, arch, "array_2d" if e.name in cascade.THREE_PASS_2D else "array_1d", e, elems, s)
    nblocks = s.B * ceil(s.P / rq)
    kv_words = nblocks * s.M * (s.E + s.F)
    spilled = 2 * elems if spill else 0
    _dram(arch, acc, kv_words + s.B * s.P * s.E + spilled, s.B * s.P * s.F + spilled)
    # Buffer: S written, read by the max and exp passes; P written, read by the divide pass;
    # A written, read by AV; Q and K per QK tile, V per AV tile; DRAM fills and write-backs.
    M1, cols = ceil(s.M / arch.array_2d.rows), ceil(rq / arch.array_2d.cols)
    qk_tiles = nblocks * M1 * cols
    qtile = min(rq, arch.array_2d.cols)
    _gb(arch, acc,
        reads=4 * elems + qk_tiles * (qtile * s.E + arch.array_2d.rows * (s.E + s.F)) + s.B * s.P * s.F + spilled,
        writes=3 * elems + kv_words + s.B * s.P * s.E + s.B * s.P * s.F + spilled)
    extra = {"design": "flat", "row_block": rq, "spilled": spill, "mode": mode}
    return _result("flat", arch, table, timing, acc, s, extra)


# ----------------------------------------------------------------------------- unfused

def unfused(arch, w, table, mode="closed"):
    s = _shape(arch, w)
    _need_ops(arch, "array_2d", cascade.THREE_PASS_2D, cascade.THREE_PASS)
    _need_ops(arch, "array_1d", ("M", "SN", "SD", "A"), cascade.THREE_PASS)
    R, C, N1 = arch.array_2d.rows, arch.array_2d.cols, arch.array_1d.pes
    has_exp = "exp" in arch.array_1d.ops
    named = cascade.by_name(cascade.THREE_PASS)
    M1, P1 = ceil(s.M / R), ceil(s.P / C)
    elems = s.B * s.M * s.P
    words = arch.global_buffer.bytes * 8 // arch.word_bits
    off = elems > words // 2                          # the score tensor does not fit: through DRAM
    wb = arch.word_bits / 8
    tile_w = R * C
    io = lambda n_in, n_out: _dram_cycles(arch, (n_in + n_out) * tile_w * wb) if off else 0
    row_1d = lambda n: ceil(tile_w / N1) * named[n].cycles(s.E, s.F, has_exp, arch.exp_taylor_macs)
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
    n = s.B * M1 * P1
    program = [Repeat(n, [d]) for _, d in phases]
    # Phases are separated by barriers: run each on its own and add.
    cycles, busy, tiles = 0, {}, 0
    for item in program:
        t = pipeline.run(TILE_PIPE, [item], mode)
        cycles += t.cycles
        tiles += t.tiles
        for r, b in t.busy.items():
            busy[r] = busy.get(r, 0) + b
    timing = pipeline.Timing(cycles=cycles, tiles=tiles, busy=busy)

    acc = Acc()
    for e in cascade.THREE_PASS:
        _charge(acc, arch, "array_2d" if e.name in cascade.THREE_PASS_2D else "array_1d", e, elems, s)
    inter = 7 * elems if off else 0                    # S w, S r x2, P w, P r, A w, A r
    _dram(arch, acc, s.B * (s.M + s.P) * s.E + s.B * s.M * s.F + (4 * elems if off else 0),
          s.B * s.P * s.F + (3 * elems if off else 0))
    _gb(arch, acc, reads=4 * elems + n * (R + C) * s.E + n * R * s.F, writes=3 * elems + inter)
    return _result("unfused", arch, table, timing, acc, s, {"design": "unfused", "spilled": off, "mode": mode})


# ----------------------------------------------------------------------------- end to end

def layer_gemms(w) -> list[tuple[str, GemmWorkload]]:
    """The transformer layer's matmuls besides attention: Q, K, V, O projections and the FFN."""
    rows = w.batch * (1 if w.context else w.seq_len)
    d, hd, kvd = w.d_model, w.heads * w.head_dim, w.groups * w.head_dim
    shapes = [("Q", d, hd), ("K", d, kvd), ("V", d, kvd), ("O", hd, d), ("FFN1", d, w.ffn), ("FFN2", w.ffn, d)]
    return [(n, GemmWorkload(name=n, m=rows, n=nn, k=kk)) for n, kk, nn in shapes]


def _layer(attn_fn, name):
    def run(arch, w, table, mode="closed"):
        from attnkit.sim import engines
        gemm = engines.get("gemm")
        att = attn_fn(arch, w, table, mode)
        cycles, energy, dram = att.cycles, att.energy_pj, att.dram_bytes
        ops_2d = att.util_2d * arch.array_2d.pes * att.cycles
        ops_1d = att.util_1d * arch.array_1d.pes * att.cycles
        actions = dict(att.actions)
        parts = {"attention": att.cycles}
        for gname, g in layer_gemms(w):
            r = gemm(arch, g, table, mode)
            macs = g.m * g.n * g.k
            regs = 3 * macs if arch.array_2d.operand_registers else macs   # as in attention's MACs
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
        return Result(engine=name, cycles=cycles, clock_hz=arch.clock_hz, energy_pj=energy, area_mm2=att.area_mm2,
                      util_2d=ops_2d / (arch.array_2d.pes * cycles), util_1d=ops_1d / (arch.array_1d.pes * cycles),
                      dram_bytes=dram, energy_breakdown=breakdown, area_breakdown=att.area_breakdown,
                      actions=actions, extra={"design": name, "cycles_by_part": parts,
                                              "attention_cycles": att.cycles, "mode": mode})
    return run


ENGINES = {
    "fusemax": fusemax,
    "fusemax-cascade-flat": cascade_flat,
    "fusemax-serial": serial,
    "flat": flat,
    "unfused": unfused,
}
ENGINES.update({f"{n}-layer": _layer(fn, f"{n}-layer") for n, fn in list(ENGINES.items())})
