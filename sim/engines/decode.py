"""Decode-attention engines: ``fa2``, ``flashdecoding``, ``lean`` (LeanAttention and its baselines).

Engines (``fn(arch, workload, table, mode="closed")``): the workload is a
:class:`~attnkit.params.workload.DecodeWorkload` (one new query per sequence
and query head against ``context`` cached keys; ``kv_heads`` K/V heads);
the architecture is a ``gpu`` (:class:`~attnkit.params.arch.GpuArch`: SMs,
HBM, and the library whose kernels it runs, ``kernels[kernel]``, a
:class:`~attnkit.params.arch.KernelProfile`) or a ``multicore`` accelerator
(:class:`~attnkit.params.arch.MulticoreArch`: cores, each a small 2D + 1D array,
sharing DRAM, one CTA per core). The three engines differ only in their
schedule, from :mod:`attnkit.params.schedule` (tiles of ``block_n`` keys):

- ``fa2``: a forward kernel with no split (FlashAttention-2's as the
  FlashDecoding blog ran it, or CUTLASS's memory-efficient one): one CTA per
  (batch, *query* head) walking the whole context on the profile's ``fwd``
  tile (its ``block_m`` query rows, one real). With grouped-query heads the
  ``heads / kv_heads`` CTAs of a group stream the same K/V; on a GPU their
  repeated reads are served by L2, so DRAM counts K/V once per KV head; a
  multicore accelerator has no shared cache and reads it once per query head.
- ``flashdecoding``: the split-KV kernel: ``S`` splits per (batch, KV head)
  from :func:`~attnkit.params.schedule.flashdecoding_splits` (called with
  ``units x split_slots_per_unit`` slots, a group's 64-row query blocks
  counted as heads, as flash_api.cpp does), the group's queries packed in one
  ``split`` tile. When ``S > 1`` each CTA writes a partial and a second
  kernel, after the first, merges them: on a GPU each of its CTAs takes
  ``combine_rows`` rows of the output and reads every split's partial of them
  (at the profile's combine rate); a multicore core takes a head's group.
  With one split the library runs ``one_split`` (its forward or its split kernel).
- ``lean``: LeanAttention's stream-K schedule over ``G = units x
  split.ctas_per_unit`` CTAs (:func:`~attnkit.params.schedule.lean_schedule`)
  on the ``split`` tile; a peer writes its partial, a host waits for its
  head's peers and merges their partials in context order, one after another.

Timing (closed form; the stream-K cost model of Osama et al., a + b [peers > 1]
+ c iters + d (peers - 1)):

- ``a`` = the CTA's fixed time (GPU: the profile's ``cta_fixed_s``; multicore:
  the array's fill ``rows + cols`` cycles plus loading the queries and writing the output);
- ``c`` per key: GPU ``max(mem + comp, k comp)`` with ``mem = K/V bytes per key /
  cta_bandwidth_bytes_per_s`` (one CTA's own stream), ``comp = (4 rows d /
  tensor_flops_per_cycle + rows / exp_per_cycle) / clock`` for the tile's
  padded rows, and ``k`` the CTAs resident on that SM (they share its math);
  multicore ``max(2D, 1D, DMA)`` per tile: the 2D array runs ``ceil(block_n /
  rows) x ceil(queries / cols)`` passes of ``2 d + exp_taylor_macs + 3``
  cycles (QK, LM, SLN, SLD, SLNV), the 1D array ``ceil(queries / pes)`` of
  ``2 d + exp_taylor_macs + 5``, the DMA the tile's K/V at the full DRAM bandwidth;
- ``b`` = writing a partial (``queries x (d + 2)`` fp32 words: O, m, l) at
  the CTA's rate; ``d`` = reading one and merging it (2 exps and ``2 d + 2``
  FMAs per query);
- the CTAs of a wave share DRAM: while their demand exceeds the achievable
  bandwidth (GPU: ``dram.bandwidth_bytes_per_s x hbm_fraction``) all streams
  slow in proportion (piecewise, as CTAs finish); waves: ``ceil(CTAs / (units
  x ctas_per_unit))`` of the kernel's tile, each starting when the previous one has ended.

``--json`` adds: ``ctas``, ``waves``, ``grid``, ``splits``, ``block_n``,
``unit_busy_s`` and ``unit_tiles`` (per unit), ``partials_merged_per_head``
(per (batch, KV head)), ``dram_floor_s`` (K/V bytes over the achievable
bandwidth) and ``dram_fraction`` (DRAM bytes over latency x bandwidth).
Only the closed form exists (``mode="event"`` is refused). :func:`run`
returns the per-CTA timeline too (for the report's schedule figure).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from math import ceil

from attnkit.errors import AttnkitError
from attnkit.params import schedule as sch
from attnkit.params.arch import GpuArch, MulticoreArch
from attnkit.params.workload import DecodeWorkload
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import Engine, EngineFn
from attnkit.sim.result import Result

PARTIAL_BYTES = 4  # partials (O, m, l) are fp32


@dataclass(frozen=True)
class Problem:
    batch: int
    heads: int
    kv_heads: int
    head_dim: int
    context: int
    block_n: int

    @property
    def group(self) -> int:
        return self.heads // self.kv_heads

    @property
    def blocks(self) -> int:
        return ceil(self.context / self.block_n)


def problem(engine: str, arch: GpuArch | MulticoreArch, workload: DecodeWorkload) -> Problem:
    """The decode problem of the pair (kinds checked by the registry); refusals are one-line AttnkitErrors."""
    d = workload.head_dim
    try:
        block_n = sch.block_n_for(d)
    except ValueError as e:
        raise AttnkitError(f"engine {engine}: workload.{e}") from None
    fixed_n = arch.profile.block_n if isinstance(arch, GpuArch) else arch.kernels.block_n
    return Problem(workload.batch, workload.heads, workload.groups, d, workload.context, fixed_n or block_n)


@dataclass(frozen=True)
class Tile:
    """The kernel a CTA runs: query rows per tile (0: the queries it has, unpadded) and CTAs resident per unit."""

    block_m: int
    ctas_per_unit: int


class _Costs:
    """Per-machine costs: seconds per key of a CTA, fixed, partial and merge times, DRAM."""

    def __init__(self, arch: GpuArch | MulticoreArch, p: Problem):
        self.arch, self.p = arch, p
        self.gpu = isinstance(arch, GpuArch)
        self.units = arch.units
        self.dram_bw = arch.hbm_bytes_per_s if isinstance(arch, GpuArch) else arch.dram.bandwidth_bytes_per_s
        self.key_bytes = 2 * p.head_dim * arch.word_bytes  # K and V of one key of one head
        if isinstance(arch, GpuArch):
            k = arch.profile
            if not k.cta_bandwidth_bytes_per_s:
                raise AttnkitError(
                    f"arch {arch.name}: kernels.{arch.kernel} is not calibrated (cta_bandwidth_bytes_per_s is 0);"
                    f" derive it with `attnkit calibrate MEASUREMENTS --arch {arch.name}`"
                )
            self.fwd, self.split = (
                Tile(k.fwd.block_m, k.fwd.ctas_per_unit),
                Tile(k.split.block_m, k.split.ctas_per_unit),
            )
            self.split_slots, self.max_splits = arch.units * k.split_slots_per_unit, k.max_splits
        else:
            self.fwd = self.split = Tile(0, 1)
            self.split_slots, self.max_splits = arch.units, arch.kernels.max_splits

    def slots(self, tile: Tile) -> int:
        return self.units * tile.ctas_per_unit

    @staticmethod
    def rows(queries: int, tile: Tile) -> int:
        """Query rows a tile computes: GPU tiles are padded to the kernel's block, accelerators use what they have."""
        return tile.block_m * ceil(queries / tile.block_m) if tile.block_m else queries

    def key_time(self, rows: int, resident: int) -> float:
        """Seconds per key for one CTA computing ``rows`` query rows (its own stream, before DRAM sharing)."""
        a, d = self.arch, self.p.head_dim
        if isinstance(a, GpuArch):
            u = a.unit
            comp = (4 * rows * d / u.tensor_flops_per_cycle + rows / u.exp_per_cycle) / a.clock_hz
            mem = self.key_bytes / a.profile.cta_bandwidth_bytes_per_s
            return max(mem + comp, resident * comp)
        bn = self.p.block_n
        c2 = ceil(bn / a.array_2d.rows) * ceil(rows / a.array_2d.cols) * (2 * d + a.exp_taylor_macs + 3)
        c1 = ceil(rows / a.array_1d.pes) * (2 * d + a.exp_taylor_macs + 5)
        return max(max(c2, c1) / a.clock_hz / bn, self.key_bytes / self.dram_bw)

    def flops_per_key(self, rows: int) -> float:
        return 4 * rows * self.p.head_dim

    def fixed(self, queries: int) -> float:
        a = self.arch
        if isinstance(a, GpuArch):
            return a.profile.cta_fixed_s
        io = 2 * queries * self.p.head_dim * a.word_bytes / self.dram_bw
        return (a.array_2d.rows + a.array_2d.cols) / a.clock_hz + io

    def partial_bytes(self, queries: int) -> float:
        return queries * (self.p.head_dim + 2) * PARTIAL_BYTES

    def partial_write(self, queries: int, combine: bool = False) -> float:
        a = self.arch
        if isinstance(a, GpuArch):
            k = a.profile
            return self.partial_bytes(queries) / (k.combine_bandwidth if combine else k.cta_bandwidth_bytes_per_s)
        return self.partial_bytes(queries) / self.dram_bw

    def merge(self, queries: int, combine: bool = False) -> float:
        """Read one partial of ``queries`` rows and fold it into the running one (``combine``: in the combine kernel)."""
        a, d = self.arch, self.p.head_dim
        if isinstance(a, GpuArch):
            u = a.unit
            math = queries * (2 / u.exp_per_cycle + (2 * d + 2) / u.fp32_per_cycle) / a.clock_hz
        else:
            math = ceil(queries / a.array_1d.pes) * (2 * d + 2 * (a.exp_taylor_macs + 1) + 2) / a.clock_hz
        return self.partial_write(queries, combine) + math


@dataclass
class Cta:
    """One scheduled CTA and its timing (filled in by :func:`_time_wave`)."""

    index: int
    ranges: tuple  # TileRange, in the order walked
    queries: int  # query rows it serves (real, not padded)
    tile: Tile
    dram_share: float = 1.0  # DRAM bytes per streamed byte (1/group for fa2's L2-served reads)
    unit: int = 0
    wave: int = 0
    start: float = 0.0  # wave start
    stream_end: float = 0.0
    end: float = 0.0
    range_ends: tuple = ()  # when each range's last tile is done
    keys: tuple = ()  # keys of each range (set by _with_keys)
    tiles: int = 0


def _with_keys(ctas: list[Cta], p: Problem) -> list[Cta]:
    bn, n = p.block_n, p.context
    for c in ctas:
        c.keys = tuple(min(n, r.last * bn) - r.first * bn for r in c.ranges)
        c.tiles = sum(r.last - r.first for r in c.ranges)
    return ctas


def _share(jobs: list[tuple[float, float, float]], bw: float) -> list[list[tuple[float, float]]]:
    """Streams starting together: ``jobs`` = (bytes, own rate bytes/s, DRAM bytes per byte).

    While the DRAM demand ``sum rate x share`` exceeds ``bw`` every stream is
    slowed by the same factor. Returns each job's progress as breakpoints
    ``[(t, bytes done), ...]`` from t = 0 (identical jobs share one list).
    """
    count: dict[tuple[float, float, float], int] = {}
    for j in jobs:
        count[j] = count.get(j, 0) + 1
    prog = _share_kinds(count, bw)
    return [prog[j] for j in jobs]


def _share_kinds(count: dict[tuple[float, float, float], int], bw: float) -> dict:
    """:func:`_share` over the distinct jobs, ``count`` of each (in the order the jobs first come)."""
    kinds = list(count)
    done = {j: 0.0 for j in kinds}
    prog = {j: [(0.0, 0.0)] for j in kinds}
    active = [j for j in kinds if j[0] > 0]
    t = 0.0
    while active:
        demand = sum(count[j] * j[1] * j[2] for j in active)
        scale = min(1.0, bw / demand) if demand > 0 else 1.0
        dt = min((j[0] - done[j]) / (j[1] * scale) for j in active)
        t += dt
        still = []
        for j in active:
            done[j] = min(j[0], done[j] + j[1] * scale * dt)
            prog[j].append((t, done[j]))
            if j[0] - done[j] > 1e-9 * j[0]:
                still.append(j)
        active = still
    return prog


def _at(prog: list[tuple[float, float]], x: float) -> float:
    """Time at which the stream reaches ``x`` bytes (linear between breakpoints)."""
    for (t0, b0), (t1, b1) in zip(prog, prog[1:]):
        if x <= b1 + 1e-9 * max(b1, 1.0):
            return t0 if b1 == b0 else t0 + (t1 - t0) * (x - b0) / (b1 - b0)
    return prog[-1][0]


def _time_wave(ctas: list[Cta], costs: _Costs, start: float) -> None:
    """Place a wave's CTAs on units round-robin, share DRAM, set stream and range end times."""
    resident: dict[int, int] = {}
    for i, c in enumerate(ctas):
        c.unit = i % costs.units
        resident[c.unit] = resident.get(c.unit, 0) + 1
    kts, fixed, memo = {}, {}, {}
    jobs = []
    for c in ctas:
        key = (costs.rows(c.queries, c.tile), resident[c.unit])
        if key not in kts:
            kts[key] = costs.key_time(*key)
        jobs.append((sum(c.keys) * costs.key_bytes, costs.key_bytes / kts[key], c.dram_share))
    progs = _share(jobs, costs.dram_bw)
    for c, prog in zip(ctas, progs):
        c.start = start
        if c.queries not in fixed:
            fixed[c.queries] = costs.fixed(c.queries)
        f = fixed[c.queries]
        memo_key = (id(prog), c.keys)
        if memo_key not in memo:
            acc, ends = 0, []
            for k in c.keys:
                acc += k * costs.key_bytes
                ends.append(_at(prog, acc))
            memo[memo_key] = ends
        cum = memo[memo_key]
        c.range_ends = tuple(start + f + e for e in cum)
        c.stream_end = c.range_ends[-1] if cum else start + f
        c.end = c.stream_end


def _waves(ctas: list[Cta], slots: int) -> list[list[Cta]]:
    return [ctas[i : i + slots] for i in range(0, len(ctas), slots)]


def _run_kernel(ctas: list[Cta], costs: _Costs, start: float, tail) -> float:
    """Time one kernel's CTAs wave by wave from ``start``; ``tail(cta)`` adds what follows its stream. Returns the end."""
    t = start
    for w, wave in enumerate(_waves(ctas, costs.slots(ctas[0].tile))):
        for c in wave:
            c.wave = w
        _time_wave(wave, costs, t)
        for c in wave:
            c.end = c.stream_end + tail(c)
        t = max(c.end for c in wave)
    return t


def _schedule_ctas(name: str, p: Problem, costs: _Costs):
    """The engine's CTAs (kernel 1) and, for FlashDecoding, its split count."""
    if name == "fa2":
        s = sch.fa2_schedule(p.batch, p.heads, p.context, p.block_n)  # per query head
        share = 1.0 / p.group if costs.gpu else 1.0
        return _with_keys([Cta(i, rs, 1, costs.fwd, share) for i, rs in enumerate(s.ctas)], p), s, 1
    if name == "flashdecoding":
        # flash_api.cpp counts a group's query blocks (of the split kernel's 64 rows) as more heads
        m_blocks = ceil(p.group / costs.split.block_m) if costs.split.block_m else 1
        splits = sch.flashdecoding_splits(p.batch, p.kv_heads * m_blocks, p.blocks, costs.split_slots, costs.max_splits)
        s = sch.flashdecoding_schedule(p.batch, p.kv_heads, p.context, p.block_n, splits)
        one = isinstance(costs.arch, GpuArch) and splits == 1 and costs.arch.profile.one_split == "fwd"
        tile = costs.fwd if one else costs.split
        return _with_keys([Cta(i, rs, p.group, tile) for i, rs in enumerate(s.ctas)], p), s, splits
    s = sch.lean_schedule(p.batch, p.kv_heads, p.context, p.block_n, costs.slots(costs.split))
    return _with_keys([Cta(i, rs, p.group, costs.split) for i, rs in enumerate(s.ctas)], p), s, 1


@dataclass
class Run:
    """An engine's result with its schedule and per-CTA timeline."""

    result: Result
    schedule: sch.Schedule
    ctas: list[Cta]
    combine: list[Cta]  # FlashDecoding's second kernel (empty otherwise)


def run(
    name: str, arch: GpuArch | MulticoreArch, workload: DecodeWorkload, table: EnergyTable, mode: str = "closed"
) -> Run:
    """Simulate engine ``name`` (fa2, flashdecoding, lean) and keep its timeline."""
    if mode != "closed":
        raise AttnkitError(f"engine {name} has a closed form only (mode 'closed'), not {mode!r}")
    p = problem(name, arch, workload)
    costs = _Costs(arch, p)
    ctas, s, splits = _schedule_ctas(name, p, costs)
    pw, mg = costs.partial_write(p.group), costs.merge(p.group)
    combine: list[Cta] = []
    partial_traffic = 0.0
    merged = {}
    if name == "fa2":
        end = _run_kernel(ctas, costs, 0.0, lambda c: 0.0)
    elif name == "flashdecoding":
        end = _run_kernel(ctas, costs, 0.0, lambda c: pw if splits > 1 else 0.0)
        if splits > 1:
            heads = s.ranges_by_head()
            for key, pieces in heads.items():
                merged[key] = len(pieces) - 1
            n = max(len(v) for v in heads.values())  # every head has the same splits
            # The combine kernel streams no K/V: each CTA reads every split's partial of its rows and merges them
            # (a GPU's library gives a CTA a few rows; a multicore core takes a head's group).
            rows = arch.profile.combine_rows(p.head_dim) if isinstance(arch, GpuArch) else p.group
            combine = [Cta(i, (), rows, costs.split) for i in range(ceil(p.batch * p.heads / rows))]
            t = end
            for w, wave in enumerate(_waves(combine, costs.slots(costs.split))):
                for i, c in enumerate(wave):
                    c.wave, c.unit, c.start = w, i % costs.units, t
                    c.stream_end = c.end = t + costs.fixed(rows) + n * costs.merge(rows, combine=True)
                t = max(c.end for c in wave)
            end = t
            partial_traffic = 2 * n * len(heads) * costs.partial_bytes(p.group)
    else:
        end = _lean(ctas, s, costs, pw, mg, merged)
        partial_traffic = 2 * sum(merged.values()) * costs.partial_bytes(p.group)
    tot = _totals(ctas, combine, costs)
    return Run(_result(name, arch, table, p, costs, tot, end, splits, merged, partial_traffic), s, ctas, combine)


def _sum_cycle(terms: list[float], n: int) -> float:
    """``sum(terms[i % len(terms)] for i in range(n))``, added in that order. Integer-valued terms whose
    total stays below 2**53 add exactly in any order (every partial sum is an integer a double holds), so
    their total is the integers' sum; other terms are added one by one."""
    k = len(terms)
    if all(float(x).is_integer() for x in terms):
        exact = (n // k) * sum(int(x) for x in terms) + sum(int(x) for x in terms[: n % k])
        if abs(exact) < 2**53 and all(x >= 0 for x in terms):
            return float(exact) if n else 0
    total: float = 0
    for i in range(n):
        total += terms[i % k]
    return total


_WAVE_SHAPES: dict[tuple[int, int, int, int], tuple] = {}


def _wave_shape(first: int, nw: int, P: int, U: int) -> tuple[list[tuple[int, int]], list[tuple[tuple, list]]]:
    """A wave of ``nw`` CTAs from split ``first`` of P, round-robin on U units: CTA j is split
    ``(first + j) mod P`` on unit ``j mod U``, which runs ``nw // U + (j mod U < nw mod U)`` CTAs. Its
    codes (``2 split + (unit runs one more)``) with their counts, in the order the CTAs first have them,
    and the units grouped by the codes of their CTAs in order. Integers only: kept for the process."""
    key = (first, nw, P, U)
    if key not in _WAVE_SHAPES:
        extra = nw % U
        codes = [((first + j) % P) * 2 + (j % U < extra) for j in range(nw)]
        groups: dict[tuple, list] = {}
        for u in range(min(U, nw)):
            groups.setdefault(tuple(codes[u::U]), []).append(u)
        if len(_WAVE_SHAPES) >= 4096:
            _WAVE_SHAPES.clear()
        _WAVE_SHAPES[key] = (list(Counter(codes).items()), list(groups.items()))
    return _WAVE_SHAPES[key]


def _uniform(name: str, arch: GpuArch | MulticoreArch, workload: DecodeWorkload, table: EnergyTable) -> Result:
    """:func:`run`'s result for ``fa2`` and ``flashdecoding`` without a CTA object per CTA.

    Their CTAs are every head's splits (fa2: one per query head), so CTA ``i``
    is split ``i mod P`` of one of P splits; a wave's timing depends only on
    where it starts in that cycle and how many CTAs it has, so each kind of
    wave is shared once (:func:`_share_kinds`) and each wave placed at its
    start. Every float is the reference's (:func:`run`), formed by the same
    operations in the same order (ends as ``start + fixed + stream``, per-unit
    busy times and DRAM bytes added CTA by CTA); tests compare the two.
    """
    p = problem(name, arch, workload)
    costs = _Costs(arch, p)
    bn, n = p.block_n, p.context
    if name == "fa2":
        pieces = sch.split_blocks(n, bn, 1)
        heads, queries, tile, splits = p.batch * p.heads, 1, costs.fwd, 1
        share = 1.0 / p.group if costs.gpu else 1.0
    else:
        m_blocks = ceil(p.group / costs.split.block_m) if costs.split.block_m else 1
        splits = sch.flashdecoding_splits(p.batch, p.kv_heads * m_blocks, p.blocks, costs.split_slots, costs.max_splits)
        pieces = sch.split_blocks(n, bn, splits)
        one = isinstance(arch, GpuArch) and splits == 1 and arch.profile.one_split == "fwd"
        heads, queries, tile, share = p.batch * p.kv_heads, p.group, costs.fwd if one else costs.split, 1.0
    P = len(pieces)
    keys = [min(n, e * bn) - a * bn for a, e in pieces]
    ptiles = [e - a for a, e in pieces]
    N, U = heads * P, costs.units
    slots = costs.slots(tile)
    rows = costs.rows(queries, tile)
    f = costs.fixed(queries)
    tail = costs.partial_write(p.group) if name == "flashdecoding" and splits > 1 else 0.0
    kb = costs.key_bytes
    busy = [0.0] * U
    utiles = [0] * U
    kts: dict[int, float] = {}
    waves: dict[tuple[int, int], tuple] = {}  # (first split, CTAs) -> its CTAs' jobs by unit group, and streams
    t = 0.0
    nwaves = ceil(N / slots)
    for w in range(nwaves):
        i0 = w * slots
        nw = min(slots, N - i0)
        sig = (i0 % P, nw)
        if sig not in waves:
            lo = nw // U
            code_counts, groups = _wave_shape(i0 % P, nw, P, U)
            count: dict[tuple[float, float, float], int] = {}
            job_of: dict[int, tuple[float, float, float]] = {}
            for code, c in code_counts:  # in the order the CTAs first have them
                r = lo + (code & 1)
                if r not in kts:
                    kts[r] = costs.key_time(rows, r)
                job = job_of[code] = (keys[code >> 1] * kb, kb / kts[r], share)
                count[job] = count.get(job, 0) + c
            progs = _share_kinds(count, costs.dram_bw)
            order = {job: x for x, job in enumerate(count)}
            x_of = {code: order[job] for code, job in job_of.items()}
            tiles_of = {code: ptiles[code >> 1] for code in x_of}
            jobs_of_group = [
                (tuple(map(x_of.__getitem__, codes)), sum(map(tiles_of.__getitem__, codes)), units)
                for codes, units in groups
            ]
            present = sorted({x_of[code] for code, _ in code_counts})
            waves[sig] = (jobs_of_group, present, [_at(progs[job], 0 + job[0]) for job in count])
        jobs_of_group, present, stream = waves[sig]
        ends = [t + f + e + tail for e in stream]
        spans = [e - t for e in ends]
        for xs, tiles, units in jobs_of_group:
            if w == 0:  # every unit starts at 0.0: the group's units add the same spans from the same value
                b = 0.0
                for x in xs:
                    b += spans[x]
                for u in units:
                    busy[u] = b
                    utiles[u] += tiles
                continue
            for u in units:
                b = busy[u]
                for x in xs:
                    b += spans[x]
                busy[u] = b
                utiles[u] += tiles
        t = max(ends[x] for x in present)
    end = t
    combine_ctas = 0
    merged: dict[tuple[int, int], int] = {}
    partial_traffic = 0.0
    if name == "flashdecoding" and splits > 1:
        merged = {(b, h): P - 1 for b in range(p.batch) for h in range(p.kv_heads)}
        rows_c = arch.profile.combine_rows(p.head_dim) if isinstance(arch, GpuArch) else p.group
        combine_ctas = ceil(p.batch * p.heads / rows_c)
        slots_c = costs.slots(costs.split)
        for w in range(ceil(combine_ctas / slots_c)):
            c_end = t + costs.fixed(rows_c) + P * costs.merge(rows_c, combine=True)
            span = c_end - t
            for j in range(min(slots_c, combine_ctas - w * slots_c)):
                busy[j % U] += span
            t = c_end
        end = t
        partial_traffic = 2 * P * len(merged) * costs.partial_bytes(p.group)
    per = [k * kb * share for k in keys]
    dram_kv = _sum_cycle(per, N)
    tot = _Totals(
        keys=heads * sum(keys),
        dram_kv=dram_kv,
        tiles_of={rows: heads * sum(ptiles)},
        busy=busy,
        tiles=utiles,
        grid=N,
        ctas=N + combine_ctas,
        waves=nwaves,
    )
    return _result(name, arch, table, p, costs, tot, end, splits, merged, partial_traffic)


def _stream_k(arch: GpuArch | MulticoreArch, workload: DecodeWorkload, table: EnergyTable) -> Result:
    """:func:`run`'s result for ``lean`` from each CTA's span of tiles (:func:`~attnkit.params.schedule.lean_spans`),
    no CTA or range objects, every float formed as :func:`_time_wave`, :func:`_lean` and :func:`_totals` form it.

    A CTA's ranges are its span cut at head boundaries, so only its first range can be a peer (start past
    block 0 of its head), the ranges between are whole heads (hosts with no peers) and only its last range
    can host peers: the timing needs the stream's progress at the end of the first range and at the end
    of the span. The progress is a function of the bytes streamed before; the engine adds them range by
    range, and integer-valued bytes per key make every partial sum an integer a double holds (below 2**53),
    so the span's total is the sum at its end; otherwise :func:`run` computes the result.
    """
    p = problem("lean", arch, workload)
    costs = _Costs(arch, p)
    bn, n, kv = p.block_n, p.context, p.kv_heads
    kb = costs.key_bytes
    if not float(kb).is_integer() or p.batch * kv * n * kb >= 2**53:
        return run("lean", arch, workload, table).result
    m, spans = sch.lean_spans(p.batch, kv, n, bn, costs.slots(costs.split))
    pw, mg = costs.partial_write(p.group), costs.merge(p.group)
    g, U = len(spans), costs.units
    rows = costs.rows(p.group, costs.split)
    f = costs.fixed(p.group)
    short = m * bn - n  # keys the last block of a head lacks
    lo, extra = g // U, g % U  # one wave: CTA j on unit j mod U
    kts = {r: costs.key_time(rows, r) for r in {lo + (j < extra) for j in range(min(U, g))}}
    keys = [(z - a) * bn - (z // m - a // m) * short for a, z in spans]  # heads ending inside lack `short` each
    codes = [2 * k + (j % U < extra) for j, k in enumerate(keys)]  # a CTA's job: its keys and its unit's CTAs
    count: dict[tuple[float, float, float], int] = {}
    job_of: dict[int, tuple[float, float, float]] = {}
    for code, c in Counter(codes).items():  # in the order the CTAs first have them
        job = job_of[code] = ((code >> 1) * kb, kb / kts[lo + (code & 1)], 1.0)
        count[job] = count.get(job, 0) + c
    progs = _share_kinds(count, costs.dram_bw)
    prog_of = {code: progs[job] for code, job in job_of.items()}
    at_end = {code: _at(prog_of[code], 0 + job[0]) for code, job in job_of.items()}  # the span's last range ends
    at: dict[tuple[int, int], float] = {}
    ready: dict[int, list[float]] = {}  # peers' partials of a head, when each is written
    firsts = []
    stream_end = []
    for (a, z), code in zip(spans, codes):
        head, blk = divmod(a, m)
        first_keys = min(n, min(z - a + blk, m) * bn) - blk * bn
        done = at.get((code, first_keys))
        if done is None:
            done = at[(code, first_keys)] = _at(prog_of[code], 0 + first_keys * kb)
        e = 0.0 + f + done + 0.0
        sh = 0.0
        if blk:  # the first range is a peer: its partial goes out before the CTA walks on
            sh = pw
            ready.setdefault(head, []).append(e + pw)
        last_head = (z - 1) // m
        if last_head != head:  # more ranges: the last ends with the span
            e = 0.0 + f + at_end[code] + sh
        stream_end.append(e)
        firsts.append(-1 if last_head == head and blk else last_head)  # the head its last range hosts, if any
    merged = dict.fromkeys(((b, h) for b in range(p.batch) for h in range(kv)), 0)
    busy = [0.0] * U
    utiles = [0] * U
    ends = []
    for j, (hosted, se, (a, z)) in enumerate(zip(firsts, stream_end, spans)):
        end = se
        if hosted >= 0:
            peers = ready.get(hosted, ())
            merged[divmod(hosted, kv)] = len(peers)
            if peers:
                end = max(se, max(peers)) + len(peers) * mg
        ends.append(end)
        busy[j % U] += end - 0.0
        utiles[j % U] += z - a
    tot = _Totals(
        keys=sum(keys),
        dram_kv=_sum_cycle([k * kb * 1.0 for k in keys], g),
        tiles_of={rows: sum(utiles)},
        busy=busy,
        tiles=utiles,
        grid=g,
        ctas=g,
        waves=1,
    )
    partial_traffic = 2 * sum(merged.values()) * costs.partial_bytes(p.group)
    return _result("lean", arch, table, p, costs, tot, max(ends), 1, merged, partial_traffic)


def _lean(ctas, s, costs, pw, mg, merged) -> float:
    """Time the stream-K kernel: peers write partials, each host waits for its peers and merges."""
    _time_wave(ctas, costs, 0.0)  # G <= slots: one wave
    ready: dict[tuple[int, int], list[float]] = {}
    shift = {}
    for c in ctas:
        sh = 0.0
        ends = []
        for r, e in zip(c.ranges, c.range_ends):
            e += sh
            ends.append(e)
            if not r.host:
                sh += pw  # the partial goes out before the CTA walks on
                ready.setdefault((r.batch, r.kv_head), []).append(e + pw)
        c.range_ends, shift[c.index] = tuple(ends), sh
        c.stream_end = ends[-1]
        c.end = c.stream_end
    heads = s.ranges_by_head()
    for c in ctas:
        last = c.ranges[-1]
        if last.host:
            n = len(heads[(last.batch, last.kv_head)])
            merged[(last.batch, last.kv_head)] = n - 1
            if n > 1:
                c.end = max(c.stream_end, max(ready[(last.batch, last.kv_head)])) + (n - 1) * mg
        for r in c.ranges[:-1]:
            if r.host:
                merged[(r.batch, r.kv_head)] = 0
    return max(c.end for c in ctas)


@dataclass
class _Totals:
    """What the result needs of the CTAs, gathered in CTA order (float sums added one CTA at a time)."""

    keys: int  # keys streamed by the first kernel's CTAs
    dram_kv: float  # their DRAM bytes (keys x bytes per key x dram_share, summed in CTA order)
    tiles_of: dict[int, int]  # padded rows -> tiles (in the order the rows first come)
    busy: list[float]  # per unit: CTA end - start, both kernels, in CTA order
    tiles: list[int]  # per unit
    grid: int  # the first kernel's CTAs
    ctas: int  # both kernels'
    waves: int  # the first kernel's


def _totals(ctas: list[Cta], combine: list[Cta], costs: _Costs) -> _Totals:
    tiles_of: dict[int, int] = {}
    for c in ctas:
        rows = costs.rows(c.queries, c.tile)
        tiles_of[rows] = tiles_of.get(rows, 0) + c.tiles
    busy = [0.0] * costs.units
    tiles = [0] * costs.units
    for c in list(ctas) + list(combine):
        busy[c.unit] += c.end - c.start
        tiles[c.unit] += c.tiles
    return _Totals(
        keys=sum(sum(c.keys) for c in ctas),
        dram_kv=sum(sum(c.keys) * costs.key_bytes * c.dram_share for c in ctas),
        tiles_of=tiles_of,
        busy=busy,
        tiles=tiles,
        grid=len(ctas),
        ctas=len(ctas) + len(combine),
        waves=max(c.wave for c in ctas) + 1,
    )


def _result(
    name,
    arch: GpuArch | MulticoreArch,
    table: EnergyTable,
    p,
    costs,
    tot: _Totals,
    end,
    splits,
    merged,
    partial_traffic,
) -> Result:
    kv_bytes = p.batch * p.kv_heads * p.context * costs.key_bytes
    stream_bytes = tot.keys * costs.key_bytes
    dram_kv = tot.dram_kv
    qo_bytes = 2 * p.batch * p.heads * p.head_dim * arch.word_bytes
    dram = dram_kv + qo_bytes + partial_traffic
    tiles_of = tot.tiles_of
    flops = sum(costs.flops_per_key(rows) * t * p.block_n for rows, t in tiles_of.items())
    exps = sum(rows * t * p.block_n for rows, t in tiles_of.items())
    latency = end
    cycles = max(1, round(latency * arch.clock_hz))
    busy, tiles = tot.busy, tot.tiles
    actions = {
        "dram.read": (dram - p.batch * p.heads * p.head_dim * arch.word_bytes) * 8 / arch.dram.access_bits,
        "dram.write": p.batch * p.heads * p.head_dim * arch.word_bytes * 8 / arch.dram.access_bits,
        "mac.mac": flops / 2,
    }
    energy, breakdown = table.energy(actions)
    if isinstance(arch, GpuArch):
        area, area_breakdown = arch.die_mm2, {"die": arch.die_mm2}
        peak_flops = arch.units * arch.unit.tensor_flops_per_cycle * arch.clock_hz
        peak_exp = arch.units * arch.unit.exp_per_cycle * arch.clock_hz
        util_2d, util_1d = flops / (peak_flops * latency), exps / (peak_exp * latency)
    else:
        a = arch
        inst = {
            "mac": a.array_2d.pes * a.units,
            "global_buffer": table.memory_instances("global_buffer", a.global_buffer.bytes) * a.units,
        }
        area, area_breakdown = table.area_mm2(inst)
        util_2d = (flops / 2) / (a.array_2d.pes * a.units * latency * a.clock_hz)
        util_1d = min(
            1.0,
            sum(tiles_of.values())
            * ceil(p.group / a.array_1d.pes)
            * (2 * p.head_dim + a.exp_taylor_macs + 5)
            / (a.array_1d.pes * a.units * latency * a.clock_hz),
        )
    # per (batch, KV head) in order; a head no partial was merged for has 0
    partials = [merged.get(k, 0) for k in sorted(merged)] if merged else [0] * (p.batch * p.kv_heads)
    extra = {
        "ctas": tot.ctas,
        "grid": tot.grid,
        "waves": tot.waves,
        "splits": splits,
        "block_n": p.block_n,
        "group": p.group,
        "unit_busy_s": busy,
        "unit_tiles": tiles,
        "partials_merged_per_head": partials,
        "kv_bytes": kv_bytes,
        "streamed_bytes": stream_bytes,
        "dram_floor_s": kv_bytes / costs.dram_bw,
        "dram_fraction": dram / (latency * costs.dram_bw),
        "mode": "closed",
    }
    return Result(
        engine=name,
        cycles=cycles,
        clock_hz=arch.clock_hz,
        energy_pj=energy,
        area_mm2=area,
        util_2d=util_2d,
        util_1d=util_1d,
        dram_bytes=dram,
        energy_breakdown=breakdown,
        area_breakdown=area_breakdown,
        actions=actions,
        extra=extra,
    )


def result(
    name: str, arch: GpuArch | MulticoreArch, workload: DecodeWorkload, table: EnergyTable, mode: str = "closed"
) -> Result:
    """Engine ``name``'s result: :func:`run`'s, without its timeline (fa2 and flashdecoding by :func:`_uniform`)."""
    if mode != "closed":
        raise AttnkitError(f"engine {name} has a closed form only (mode 'closed'), not {mode!r}")
    if name in ("fa2", "flashdecoding"):
        return _uniform(name, arch, workload, table)
    if name == "lean":
        return _stream_k(arch, workload, table)
    return run(name, arch, workload, table, mode).result


def _engine(name: str) -> EngineFn:
    def simulate(
        arch: GpuArch | MulticoreArch, workload: DecodeWorkload, table: EnergyTable, mode: str = "closed"
    ) -> Result:
        return result(name, arch, workload, table, mode)

    simulate.__name__ = name
    simulate.__doc__ = f"Engine ``{name}`` (see :mod:`attnkit.sim.engines.decode`)."
    return simulate


ENGINES = {
    name: Engine(_engine(name), arch=("gpu", "multicore"), workload=("decode",))
    for name in ("fa2", "flashdecoding", "lean")
}
