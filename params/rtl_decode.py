"""Parameters and schedule of the RTL decode engine (pure Python: the simulator and testbench read them too).

One frozen dataclass, :class:`RtlDecodeParams`, holds the architecture (a
``multicore`` arch: ``units`` N cores, ``kernels.block_n`` keys per tile,
``clock_hz``), the decode workload (``batch``, ``heads``, ``kv_heads``,
``head_dim``, ``context``) and the golden numerics. The tile schedule is
:func:`attnkit.params.schedule.lean_schedule` with ``grid = units``: the RTL
(:mod:`attnkit.hw.decode`), the golden decode
(:func:`attnkit.models.decode.decode_scheduled`), the testbench and the
simulator's engine ``rtl-decode`` all take it from :meth:`RtlDecodeParams.schedule`.

Cycle constants of the RTL (the engine ``rtl-decode`` and the RTL are built
to them; :mod:`attnkit.hw.decode` says where each cycle goes):

- the problem's ``input_beats`` are taken one per cycle;
- a core spends ``keys + ITEM_OVERHEAD`` cycles on a tile range of ``keys``
  keys (query fetch 2, one key per cycle, 4 pipeline cycles, 1 to write the
  partial) and its partial is visible to the host the next cycle;
- the host spends ``pieces + 2 + recip latency + G`` cycles on a head: one
  read-and-merge per piece, the normaliser, then ``G`` output rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from attnkit.params.arch import MulticoreArch
from attnkit.params.config import FieldError, within
from attnkit.params.fixed import ceil_log2
from attnkit.params.numerics import AttentionNumerics
from attnkit.params.schedule import Schedule, block_n_for, lean_schedule
from attnkit.params.workload import DecodeWorkload

ITEM_OVERHEAD = 7  # per tile range: q address, q latch, 4 pipeline cycles (read, logit, exp x 2), partial write
MAX_ROWS = 8192  # K (and V) rows the engine buffers


@dataclass(frozen=True)
class RtlDecodeParams:
    arch: MulticoreArch
    workload: DecodeWorkload
    numerics: AttentionNumerics = field(default_factory=AttentionNumerics)

    def __post_init__(self) -> None:
        within("arch.units", self.units, 2, 4, "cores", "in the RTL decode engine")
        within("workload.head_dim", self.head_dim, 1, 64, note="in the RTL decode core")
        if self.group > 8:
            raise FieldError(
                "workload.kv_heads",
                f"{self.workload.groups}: {self.group} query heads per KV head; a core has at most 8 query lanes",
            )
        if self.kv_rows > MAX_ROWS:
            raise FieldError(
                "workload.context",
                f"{self.context}: batch x kv_heads x context = {self.kv_rows}"
                f" K rows; the engine buffers at most {MAX_ROWS}",
            )
        if self.block_n > 4096:
            raise FieldError("arch.kernels.block_n", f"{self.block_n}; at most 4096 keys per tile")

    # -- sizes ----------------------------------------------------------------------
    @property
    def units(self) -> int:
        return self.arch.units

    @property
    def head_dim(self) -> int:
        return self.workload.head_dim

    @property
    def batch(self) -> int:
        return self.workload.batch

    @property
    def heads(self) -> int:
        return self.workload.heads

    @property
    def kv_heads(self) -> int:
        return self.workload.groups

    @property
    def group(self) -> int:
        """G: query heads per KV head (the lanes of a core)."""
        return self.heads // self.kv_heads

    @property
    def context(self) -> int:
        return self.workload.context

    @property
    def block_n(self) -> int:
        if self.arch.kernels.block_n:
            return self.arch.kernels.block_n
        try:
            return block_n_for(self.head_dim)
        except ValueError as e:
            raise FieldError("workload.head_dim", str(e)) from None

    @property
    def kv_groups(self) -> int:
        """(batch, KV head) pairs: the schedule's heads."""
        return self.batch * self.kv_heads

    @property
    def kv_rows(self) -> int:
        return self.kv_groups * self.context

    @cached_property
    def schedule(self) -> Schedule:
        return lean_schedule(self.batch, self.kv_heads, self.context, self.block_n, self.units)

    @property
    def rows_per_beat(self) -> int:
        """P: K or V rows per input beat. The input stream is the DRAM port: as many D-element rows as
        ``dram.bandwidth_bytes_per_s / clock_hz`` bytes hold, rounded down to a power of two (1 to 64)."""
        words = self.arch.dram.bandwidth_bytes_per_s / self.arch.clock_hz / self.arch.word_bytes
        rows = max(1, int(words // self.head_dim))
        return min(64, 1 << (rows.bit_length() - 1))

    @property
    def kv_words(self) -> int:
        """Words of the K (and V) buffer: P rows each, the last one padded."""
        return -(-self.kv_rows // self.rows_per_beat)

    @property
    def input_beats(self) -> int:
        """One beat per KV group with its G queries, then the K rows and the V rows, P per beat
        (rows in (batch, KV head, key) order, the last beat of each padded)."""
        return self.kv_groups + 2 * self.kv_words

    # -- widths ---------------------------------------------------------------------
    @property
    def in_width(self) -> int:
        return self.numerics.in_fmt.width

    @property
    def row_width(self) -> int:
        return self.head_dim * self.in_width

    @property
    def payload_width(self) -> int:
        return max(self.group, self.rows_per_beat) * self.row_width

    @property
    def acc_width(self) -> int:
        """The exact q.k: d products of two in_fmt values."""
        return (
            2 * self.in_width + int(ceil_log2(max(self.head_dim, 2))) + 1
        )  # max: a 1-term dot product still takes a bit

    @property
    def e_width(self) -> int:
        return self.numerics.exp.table_fmt.width + 1

    @property
    def term_width(self) -> int:
        """``E << (e - e_min)``: the mantissa shifted over the whole spread."""
        return self.e_width + self.numerics.spread

    @property
    def l_acc_width(self) -> int:
        """The exact sum of up to ``context`` terms (absolute, units of ``2^(e_min - Pm)``)."""
        return self.term_width + int(ceil_log2(self.context + 1)) + 1

    @property
    def o_acc_width(self) -> int:
        return self.l_acc_width + self.in_width + 1

    # -- items ----------------------------------------------------------------------
    def items(self, core: int) -> list[tuple[int, int, int]]:
        """Core ``core``'s tile ranges in order: ``(kv group index b * kv_heads + h, first key, end key)``."""
        s = self.schedule
        if core >= s.grid:
            return []
        out = []
        for r in s.ctas[core]:
            a, b = r.keys(s.block_n, s.context)
            out.append((r.batch * self.kv_heads + r.kv_head, a, b))
        return out

    def pieces(self) -> list[list[tuple[int, int]]]:
        """Per (batch, KV head) in order: its ``(core, item index)`` pieces in the host's merge order."""
        s = self.schedule
        where = {}
        for c in range(s.grid):
            for j, r in enumerate(s.ctas[c]):
                where[(r.batch, r.kv_head, r.first)] = (c, j)
        by_head = s.ranges_by_head()
        return [
            [where[(b, h, r.first)] for _c, r in by_head[(b, h)]]
            for b in range(self.batch)
            for h in range(self.kv_heads)
        ]
