"""Parameters and schedule of the RTL attention engine (pure Python: the simulator reads them too).

One frozen dataclass, :class:`RtlAttentionParams`, holds the architecture
(``array_2d.rows`` R keys per tile, ``array_2d.cols`` C queries per block,
``clock_hz``), the workload (``head_dim`` d, ``seq_len`` N, ``causal``) and
the golden numerics (:class:`attnkit.models.attention.AttentionNumerics`).
The RTL (:mod:`attnkit.hw.attention`), its testbench and the simulator's
engine ``rtl-attention`` are all built from it.

The schedule (what the controller issues; see :mod:`attnkit.hw.attention`):
the problem's ``4 N`` input rows (Q, K, V, mask) arrive one per cycle; then
the array runs slots of ``d`` cycles, QK of tile ``t`` in slot ``2t`` and PV
of tile ``t`` in slot ``2t + 3`` (tiles in order: query block ``b``, then key
tile ``j < J_b``), so that in steady state every slot is busy and the row
unit's work for tile ``t`` (logits, running max, exp, sums) overlaps the QK
of tile ``t + 1`` and the PV of tile ``t - 1``. A causal problem skips the key
tiles its mask empties: block ``b`` runs ``J_b`` key tiles (:meth:`key_tiles`),
those holding a key at or before its last query; the tiles it keeps (the
diagonal ones included) run in full, the mask applied in the row unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from attnkit.params.arch import SpatialArch
from attnkit.params.config import FieldError
from attnkit.params.fixed import ceil_log2
from attnkit.params.numerics import AttentionNumerics, accumulator_bits
from attnkit.params.workload import AttentionWorkload

# Pipeline depths after the array that the schedule depends on (the RTL is built to them).
# A PV beat issued in cycle x reaches row R-1 of column 0 in cycle x + R (the bank read register,
# then R - 1 hops) and its column sum is in the lane's input register in cycle x + R + 1.
OUT_STAGES = 2  # RNV update + n = sat(RNV 2^-z) register, then out = rnd(n * y) into the output row
EMIT_STAGES = 1  # the output row register (full flag) in front of the output stream


@dataclass(frozen=True)
class RtlAttentionParams:
    # No defaults for the sizes: they come from the arch and workload configs (configs/arch/rtl-attention-*.yaml,
    # configs/workloads/rtl-attention.yaml), the one place they are set.
    arch: SpatialArch
    workload: AttentionWorkload
    numerics: AttentionNumerics = field(default_factory=AttentionNumerics)

    def __post_init__(self) -> None:
        R, C, d, N = self.rows, self.cols, self.head_dim, self.seq_len
        if self.workload.context:
            raise FieldError("workload.context", f"{self.workload.context}; the RTL engine runs prefill (context: 0)")
        if self.workload.kv_heads not in (0, self.workload.heads):
            raise FieldError(
                "workload.kv_heads",
                f"{self.workload.kv_heads}; the RTL engine runs one head with its own K/V (kv_heads: 0 or heads)",
            )
        if self.workload.batch * self.workload.heads != 1:
            raise FieldError(
                "workload.heads",
                f"batch {self.workload.batch} x heads {self.workload.heads}; the RTL"
                " engine runs one attention problem (batch: 1, heads: 1)",
            )
        if R < 2 or C < 1:
            raise FieldError("arch.array_2d.rows", f"{R} x {C}; the engine needs at least 2 rows and 1 column")
        # The row unit's work for one tile must fit between its QK and its PV slot (2 d cycles).
        if R + 4 > 2 * d:
            raise FieldError(
                "workload.head_dim",
                f"{d}; an array of {R} rows needs head_dim >= {(R + 5) // 2} so the"
                " row unit finishes a tile's exp within the two slots before its PV",
            )
        if C > 2 * d * self.key_tiles(0):  # a block's rows leave before the next block's (J_b grows with b)
            raise FieldError("arch.array_2d.cols", f"{C}; at most 2 * head_dim * key tiles output rows per block")
        if N > 4096:
            raise FieldError("workload.seq_len", f"{N}; the RTL engine buffers the whole sequence, at most 4096")

    # -- sizes ----------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return self.arch.array_2d.rows

    @property
    def cols(self) -> int:
        return self.arch.array_2d.cols

    @property
    def head_dim(self) -> int:
        return self.workload.head_dim

    @property
    def seq_len(self) -> int:
        return self.workload.seq_len

    @property
    def causal(self) -> bool:
        return self.workload.causal

    @property
    def tiles_per_block(self) -> int:
        """J: key tiles of R keys (the last one padded with masked keys)."""
        return -(-self.seq_len // self.rows)

    @property
    def blocks(self) -> int:
        """B: query blocks of C queries (the last one padded; its padding is never output)."""
        return -(-self.seq_len // self.cols)

    def key_tiles(self, b: int) -> int:
        """J_b: key tiles query block ``b`` runs (causal: only those with a key <= its last query)."""
        if not self.causal:
            return self.tiles_per_block
        last_query = min((b + 1) * self.cols, self.seq_len) - 1
        return last_query // self.rows + 1

    @property
    def tiles(self) -> int:
        return sum(self.key_tiles(b) for b in range(self.blocks))

    @property
    def input_rows(self) -> int:
        """Q, K, V and mask rows, one per input beat."""
        return 4 * self.seq_len

    def queries_in_block(self, b: int) -> int:
        return min(self.cols, self.seq_len - b * self.cols)

    # -- widths ---------------------------------------------------------------------
    @property
    def in_width(self) -> int:
        return self.numerics.in_fmt.width

    @property
    def payload_width(self) -> int:
        """An input beat holds a row of d values, or a mask row of J R bits."""
        return max(self.head_dim * self.in_width, self.tiles_per_block * self.rows)

    @property
    def acc_width(self) -> int:
        """The PE's exact QK accumulator: d products of two in_fmt values."""
        return 2 * self.in_width + int(ceil_log2(self.head_dim)) + 1

    @property
    def e_width(self) -> int:
        """The probability mantissa E (in [1, 2], Pm fraction bits) held by a PE."""
        return self.numerics.exp.table_fmt.width

    @property
    def spread(self) -> int:
        return self.numerics.spread

    @property
    def psum_width(self) -> int:
        """The PV partial sum: E * v aligned over the spread (exact) or rounded to acc_frac_bits, summed over R rows."""
        F = self.numerics.acc_frac_bits
        if F is not None:  # finite: rounded terms with F fraction bits below 2^M'
            up = max(0, F - self.numerics.mantissa_bits)
            return self.e_width + self.in_width + 1 + up + int(ceil_log2(self.rows)) + 1
        return self.e_width + self.in_width + 1 + self.spread + int(ceil_log2(self.rows)) + 1

    @property
    def rd_width(self) -> int:
        return accumulator_bits(self.numerics, self.seq_len)["rd"]["width"]

    @property
    def rnv_width(self) -> int:
        return accumulator_bits(self.numerics, self.seq_len)["rnv"]["width"] + 1  # signed

    # -- schedule -------------------------------------------------------------------
    @property
    def slots(self) -> int:
        """Array slots of d cycles: QK(t) in 2t, PV(t) in 2t + 3."""
        return 2 * self.tiles + 2

    @property
    def lane_output_delay(self) -> int:
        """Cycles from the end of a PV slot to its column's output row (PE rows, drain, output stage)."""
        return self.rows + OUT_STAGES + EMIT_STAGES

    def mac_cycles_used(self) -> int:
        """PE-cycles doing QK or PV work on real (unpadded) key/query pairs the mask (causal) keeps."""
        n, d = self.seq_len, self.head_dim
        return 2 * (n * (n + 1) // 2 if self.causal else n * n) * d

    def mac_cycles_busy(self) -> int:
        """PE-cycles in slots that hold a wave (padding included)."""
        return 2 * self.tiles * self.head_dim * self.rows * self.cols
