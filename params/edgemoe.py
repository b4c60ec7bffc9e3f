"""Edge-MoE (Sarkar et al., ICCAD 2023): the parameter object that every level reads.

One frozen dataclass, :class:`EdgeMoeParams`, holds the whole engine, read
from TWO configs (as :class:`attnkit.params.rtl_attention.RtlAttentionParams`
does):

- ``arch``: :class:`FpgaArch`, ``kind: fpga`` in ``configs/arch/*.yaml``
  (shipped: ``configs/arch/zcu102-edgemoe.yaml``): the machine. ``clock_hz``,
  ``part``, the memory port ``axi.bits`` (one beat: 256 bits, 8 activations
  or 16 weights), ``weight_overlap`` (weights double-buffered: the next
  layer's weights load while this one computes), the unit sizes
  (``linear.in_size`` x ``linear.out_size`` MACs per cycle, ``attention.lanes``
  query lanes x ``attention.dims`` MACs, ``gelu.units``, ``gate.experts`` x
  ``gate.dims``, ``layernorm.elements`` per cycle), ``numerics``
  (:class:`EdgeMoeNumerics`: every fixed-point format and the exp, reciprocal,
  inverse-square-root and GELU units), ``device`` (the part, for the fit
  check) and ``synthesis`` (``configs/synthesis/*.yaml``: the RTL units'
  synthesis records the fit check reads for LUTs and flip-flops).
- ``workload``: :class:`VitMoeWorkload`, ``kind: vit-moe`` in
  ``configs/workloads/*.yaml`` (shipped: ``configs/workloads/m3vit.yaml``):
  the model. Image ``channels x height x width``, ``patch``, ``d_model``,
  ``heads`` x ``head_dim``, ``layers``, ``ffn`` (dense MLP hidden), ``experts``,
  ``top_k``, ``expert_ffn``, which layers are MoE (``moe_layers``), and
  ``active_experts`` (distinct experts with at least one patch in an MoE
  layer; the cycle model's key, the golden model does not read it).
  ``patches`` and ``tokens`` (= ``seq_len``) are derived, never set.

Load with :meth:`EdgeMoeParams.load` (names or paths, ``--set`` edits:
``workload.`` keys edit the workload, the rest the arch, as ``attnkit
simulate`` does). ``FpgaArch`` is registered as arch kind ``fpga`` in
:data:`attnkit.params.kinds.ARCH_KINDS` and ``VitMoeWorkload`` as workload kind
``vit-moe`` in :data:`attnkit.params.kinds.WORKLOAD_KINDS`, so the simulator
engine ``edgemoe`` receives them as its ``(arch, workload)`` and builds
``EdgeMoeParams(arch, workload)`` to have the cross-checks. A field the cycle
model needs beyond these goes into ``FpgaArch`` (or its unit classes) with a
default: an additive edit, never a second place to set a value.

The golden kernels (bit-exact specification of ``hls/``) are in
:mod:`attnkit.models.edgemoe_golden`; the HLS ``params.h`` is generated from
this object by :mod:`attnkit.hls.build`. For RTL blocks: the GELU unit is
``edgemoe_golden.gelu_unit`` (= :func:`attnkit.models.gelu.gelu` with
``numerics.gelu``); the online-softmax unit is ``edgemoe_golden.online_softmax``
(probabilities) and ``online_softmax_state`` (running max, sum and 1/sum after
the last key), i.e. :func:`attnkit.models.softmax.softmax_edgemoe` on
``p.numerics.softmax``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from attnkit.errors import ConfigError
from attnkit.params.config import FieldError, positive, required, within
from attnkit.params.numerics import EdgeMoeNumerics, GeluParams, SoftmaxParams

# -- numerics ----------------------------------------------------------------------------------


# -- the machine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axi:
    """The memory port: ``bits`` per beat (one beat per cycle)."""

    bits: int = required(256)
    # cycles from a burst request to its first beat, paid once per dataflow stage by the cycle model
    # (vitis_hls.tcl: config_interface -m_axi_latency 64)
    latency: int = 64

    def __post_init__(self) -> None:
        positive(self, "bits")
        if isinstance(self.latency, bool) or not isinstance(self.latency, int) or self.latency < 0:
            raise FieldError("latency", f"{self.latency!r}; expected a whole number of cycles >= 0")
        if self.bits % 32:
            raise FieldError("bits", f"{self.bits}; expected a multiple of 32 (whole activations per beat)")


@dataclass(frozen=True)
class LinearUnit:
    """The unified linear unit: ``in_size`` inputs x ``out_size`` outputs of MACs per cycle, II = 1."""

    in_size: int = required(16)
    out_size: int = required(16)

    def __post_init__(self) -> None:
        positive(self, "in_size", "out_size")

    @property
    def macs(self) -> int:
        return self.in_size * self.out_size


@dataclass(frozen=True)
class AttentionUnit:
    """Reordered attention: ``lanes`` queries at once, ``dims`` MACs each (one K/V block of ``dims`` per cycle)."""

    lanes: int = required(4)
    dims: int = required(8)

    def __post_init__(self) -> None:
        positive(self, "lanes", "dims")


@dataclass(frozen=True)
class GeluUnit:
    units: int = required(16)

    def __post_init__(self) -> None:
        positive(self, "units")


@dataclass(frozen=True)
class GateUnit:
    """The MoE gate: ``experts`` outputs x ``dims`` inputs of MACs per cycle."""

    experts: int = required(16)
    dims: int = required(8)

    def __post_init__(self) -> None:
        positive(self, "experts", "dims")


@dataclass(frozen=True)
class LayerNormUnit:
    elements: int = required(8)  # elements per cycle (also residual add and zeroing)

    def __post_init__(self) -> None:
        positive(self, "elements")


@dataclass(frozen=True)
class FpgaArch:
    """An HLS dataflow engine on an FPGA (arch kind ``fpga``): clock, memory port, units, numerics."""

    CONFIG_FOLDER: ClassVar[str] = "arch"  # a config may name one of these: arch/<name>.yaml
    name: str = "zcu102-edgemoe"
    kind: Literal["fpga"] = "fpga"
    engine: str = "edgemoe"
    energy: str = "horowitz-45nm"
    clock_hz: float = required(300e6)
    axi: Axi = field(default_factory=Axi)
    weight_overlap: bool = True  # weights double-buffered: loading overlaps compute
    linear: LinearUnit = field(default_factory=LinearUnit)
    attention: AttentionUnit = field(default_factory=AttentionUnit)
    gelu: GeluUnit = field(default_factory=GeluUnit)
    gate: GateUnit = field(default_factory=GateUnit)
    layernorm: LayerNormUnit = field(default_factory=LayerNormUnit)
    numerics: EdgeMoeNumerics = field(default_factory=EdgeMoeNumerics)
    device: str = "xczu9eg"  # the FPGA part (configs/devices/<name>.yaml: its resources, for the fit check)
    # the synthesised RTL units (configs/synthesis/<name>.yaml): the fit check's LUTs and flip-flops; "" for none
    synthesis: str = "edgemoe-xcup"

    def __post_init__(self) -> None:
        positive(self, "clock_hz")
        act = self.numerics.act_fmt.width
        if self.axi.bits % act:
            raise FieldError("axi.bits", f"{self.axi.bits}; expected a multiple of the {act}-bit activation")

    @property
    def acts_per_beat(self) -> int:
        return self.axi.bits // self.numerics.act_fmt.width

    @property
    def weights_per_beat(self) -> int:
        return self.axi.bits // self.numerics.weight_fmt.width


# -- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VitMoeWorkload:
    """A ViT with mixture-of-experts MLPs (workload kind ``vit-moe``), one image per run."""

    CONFIG_FOLDER: ClassVar[str] = "workloads"  # a config may name one of these: workloads/<name>.yaml
    name: str = "m3vit"
    kind: Literal["vit-moe"] = "vit-moe"
    batch: int = 1
    channels: int = required(3)
    height: int = required(128)
    width: int = required(256)
    patch: int = required(16)
    cls_token: bool = True
    d_model: int = required(192)
    heads: int = required(3)
    head_dim: int = required(64)
    layers: int = required(12)
    ffn: int = required(768)
    experts: int = required(16)
    top_k: int = required(2)
    expert_ffn: int = required(384)
    moe_layers: Literal["odd", "even", "all", "none"] = required("odd")
    active_experts: int = 16  # distinct experts with >= 1 patch per MoE layer (cycle model)

    def __post_init__(self) -> None:
        positive(
            self,
            "batch",
            "channels",
            "height",
            "width",
            "patch",
            "d_model",
            "heads",
            "head_dim",
            "layers",
            "ffn",
            "experts",
            "top_k",
            "expert_ffn",
        )
        if self.height % self.patch or self.width % self.patch:
            raise FieldError("patch", f"{self.patch} does not tile a {self.height} x {self.width} image")
        if self.heads * self.head_dim != self.d_model:
            raise FieldError("d_model", f"{self.d_model}; expected heads x head_dim = {self.heads * self.head_dim}")
        if self.top_k > self.experts:
            raise FieldError("top_k", f"{self.top_k}; at most experts = {self.experts}")
        if not self.top_k <= self.active_experts <= self.experts:
            raise FieldError(
                "active_experts", f"{self.active_experts}; expected top_k = {self.top_k} to experts = {self.experts}"
            )

    @property
    def patches(self) -> int:
        return (self.height // self.patch) * (self.width // self.patch)

    @property
    def tokens(self) -> int:
        return self.patches + int(self.cls_token)

    @property
    def seq_len(self) -> int:
        return self.tokens

    def is_moe(self, layer: int) -> bool:
        """Whether ``layer`` (0-based) has an MoE in place of its dense MLP."""
        return {"odd": layer % 2 == 1, "even": layer % 2 == 0, "all": True, "none": False}[self.moe_layers]


# -- the engine --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgeMoeParams:
    """The Edge-MoE engine: machine and model, checked against each other."""

    arch: FpgaArch
    workload: VitMoeWorkload

    def __post_init__(self) -> None:
        a, w = self.arch, self.workload
        if w.d_model % a.linear.in_size or w.d_model % a.linear.out_size:
            raise FieldError(
                "workload.d_model",
                f"{w.d_model}; expected a multiple of the linear unit's {a.linear.in_size} x {a.linear.out_size}",
            )
        for name in ("ffn", "expert_ffn"):
            v = getattr(w, name)
            if v % a.linear.in_size or v % a.linear.out_size:
                raise FieldError(f"workload.{name}", f"{v}; expected a multiple of the linear unit's sizes")
        if w.head_dim % a.attention.dims:
            raise FieldError(
                "workload.head_dim", f"{w.head_dim}; expected a multiple of attention.dims = {a.attention.dims}"
            )
        if a.attention.lanes >= w.tokens:
            raise FieldError("arch.attention.lanes", f"{a.attention.lanes}; expected fewer than the {w.tokens} tokens")
        if w.experts > a.gate.experts:
            raise FieldError("workload.experts", f"{w.experts}; the gate unit has {a.gate.experts} expert outputs")
        if w.d_model % a.gate.dims or w.d_model % a.layernorm.elements:
            raise FieldError(
                "workload.d_model", f"{w.d_model}; expected a multiple of gate.dims and layernorm.elements"
            )
        if self.attn_scale_raw == 0:
            raise FieldError("workload.head_dim", f"{w.head_dim}: 1/sqrt(head_dim) rounds to 0")

    @property
    def numerics(self) -> EdgeMoeNumerics:
        return self.arch.numerics

    @property
    def attn_scale(self) -> float:
        """Score scale ``1/sqrt(head_dim)`` (1/8 for 64), as a value."""
        return 1.0 / math.sqrt(self.workload.head_dim)

    @property
    def attn_scale_raw(self) -> int:
        """``attn_scale`` truncated into ``act_fmt`` (exact for a power-of-four head_dim)."""
        return self.numerics.act_fmt.quantize_one(self.attn_scale)

    @property
    def ln_inv_n_raw(self) -> int:
        """``1/d_model`` truncated into ``act_fmt``: LayerNorm's mean weight."""
        return self.numerics.act_fmt.quantize_one(1.0 / self.workload.d_model)

    @classmethod
    def load(cls, arch: Any = "zcu102-edgemoe", workload: Any = "m3vit", sets: Iterable[str] = ()) -> EdgeMoeParams:
        """From arch and workload configs (names or paths or loaded objects); ``workload.`` sets edit the workload."""
        from attnkit.params import kinds  # kinds imports this module

        return cls.of(*kinds.load_pair(arch, workload, sets))

    @classmethod
    def of(cls, a: Any, w: Any) -> EdgeMoeParams:
        """From loaded arch and workload objects, refusing the wrong kinds (as engine ``edgemoe`` does) and
        impossible pairs in one line."""
        from attnkit.params.kinds import check_kind

        check_kind("engine edgemoe", "arch", a, (FpgaArch.kind,))
        check_kind("engine edgemoe", "workload", w, (VitMoeWorkload.kind,))
        try:
            return cls(a, w)
        except FieldError as e:
            raise ConfigError(f"{a.name} + {w.name}: {e.field}: {e.message}") from None
        except ValueError as e:
            raise ConfigError(f"{a.name} + {w.name}: {e}") from None


# -- the RTL units ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RtlGeluParams:
    """The RTL GELU block, sized by an Edge-MoE machine: ``arch.numerics.gelu`` and ``arch.gelu.units`` lanes
    (``configs/blocks/gelu.yaml`` names the machine)."""

    arch: FpgaArch = field(default_factory=FpgaArch)

    @property
    def numerics(self) -> GeluParams:
        return self.arch.numerics.gelu

    def __post_init__(self) -> None:
        within("arch.gelu.units", self.lanes, 1, 64, note="GELU units per beat")

    @property
    def lanes(self) -> int:
        """GELU units side by side: elements per beat of the block's streams."""
        return self.arch.gelu.units


@dataclass(frozen=True)
class RtlSoftmaxParams:
    """The RTL online softmax on an Edge-MoE machine's formats (``arch.numerics.softmax``;
    ``configs/blocks/softmax.yaml`` names the machine)."""

    arch: FpgaArch = field(default_factory=FpgaArch)

    def __post_init__(self) -> None:
        n = self.numerics
        if n.exp.in_fmt.frac_bits > n.in_fmt.frac_bits + 8:
            raise FieldError("arch.numerics.exp.in_fmt", "at most 8 more fraction bits than the scores")
        w, ri = n.recip.work_fmt, n.recip.in_fmt
        if w.frac_bits - n.recip.out_fmt.frac_bits - ri.frac_bits < -(62 - w.width):
            raise FieldError(
                "arch.numerics.recip", "the reciprocal's output shift can exceed 62 bits; not built in RTL"
            )

    @property
    def numerics(self) -> SoftmaxParams:
        return self.arch.numerics.softmax


# -- the linear unit's schedule: the RTL block edgemoe_linear and the engine's linear stages ------------------

# The pipeline's part of a call's cycles (hw/edgemoe_linear.py is built to it): the input register a beat
# waits in before its buffer (1), then after the last MAC issue (counted in C) the weight and row reads (1),
# the truncated products summed over in_size (1), the accumulators (1), the GELU lanes or their bypass
# (Gelu.LATENCY = 2) up to the output offered and taken.
LINEAR_DEPTH = 6


def linear_row_beats(arch: FpgaArch, in_dim: int) -> int:
    """Input beats of one token row: ``in_dim`` activations, ``arch.acts_per_beat`` to a beat of ``axi.bits``."""
    return -(-in_dim // arch.acts_per_beat)


def linear_row_cycles(unit: LinearUnit, out_dim: int, in_dim: int) -> int:
    """MAC-array issues for one token row: ``out_dim / out_size`` output blocks of ``in_dim / in_size`` each."""
    return -(-out_dim // unit.out_size) * -(-in_dim // unit.in_size)


def linear_cycles(arch: FpgaArch, out_dim: int, in_dim: int, length: int) -> int:
    """Cycles of one call of the unified linear unit on ``length`` token rows, its weights and bias in their
    bank: from the first row beat taken to the last output block taken, both counted, the output always ready.

    ``R + (length - 1) max(R, C) + C + LINEAR_DEPTH`` with ``R`` = :func:`linear_row_beats` (the first row
    must be in before its MACs start; the next row loads into the other row slot while this one computes)
    and ``C`` = :func:`linear_row_cycles` (one MAC-array issue per cycle); :data:`LINEAR_DEPTH` is the
    pipeline's drain. The engine ``edgemoe`` charges a linear stage's MAC loop this; the RTL block
    (``hw/edgemoe_linear.py``) takes it, as its testbench checks. 0 for no rows."""
    if length <= 0:
        return 0
    r, c = linear_row_beats(arch, in_dim), linear_row_cycles(arch.linear, out_dim, in_dim)
    return r + (length - 1) * max(r, c) + c + LINEAR_DEPTH


def linear_bias_width(arch: FpgaArch) -> int:
    """Bits of one bias in the linear unit's bias beats and bank: the wider of ``bias_fmt`` and ``attn_bias_fmt``."""
    n = arch.numerics
    return max(n.bias_fmt.width, n.attn_bias_fmt.width)


def _packed(per_beat: int, per_read: int, elements: int, width: int) -> tuple[int, int]:
    """(words, bits a word) of two banks of ``elements`` in one memory, written ``per_beat`` elements a beat and
    read ``per_read`` a cycle: words of ``max(per_beat, per_read)`` elements (hw/edgemoe_linear.py ``_Packed``)."""
    g = max(per_beat, per_read)
    return 2 * -(-elements // g), g * width


def linear_memories(arch: FpgaArch, in_dim: int, out_dim: int, weights: int) -> dict[str, tuple[int, int]]:
    """The linear unit's memories as ``(depth, width in bits)``, as the RTL block ``edgemoe_linear`` builds
    them: each holds two banks (ping and pong, or two row slots) packed in one memory, in words of the wider of
    an ``axi.bits`` beat and one cycle's read. ``rows``: two token rows of ``in_dim`` activations; ``weights``:
    two banks of ``weights`` weights (``out_dim x in_dim`` for the block; the largest layer's for the
    engine); ``bias``: two banks of ``out_dim`` biases. The engine's fit check maps them onto block RAM."""
    n, L = arch.numerics, arch.linear
    bw = linear_bias_width(arch)
    return {
        "rows": _packed(arch.acts_per_beat, L.in_size, in_dim, n.act_fmt.width),
        "weights": _packed(arch.weights_per_beat, L.in_size * L.out_size, weights, n.weight_fmt.width),
        "bias": _packed(arch.axi.bits // bw, L.out_size, out_dim, bw),
    }


@dataclass(frozen=True)
class RtlLinearParams:
    """The RTL unified linear unit (``configs/blocks/edgemoe_linear.yaml``): the machine ``arch`` (its
    ``linear.in_size`` x ``linear.out_size`` MAC array, ``axi.bits`` per input beat, ``gelu.units`` GELU
    lanes and ``numerics``), and the layer shape it is built for, ``out_dim`` x ``in_dim`` weights per bank
    (the HLS kernel's ``MAX_LINEAR_DIM`` buffers; small for simulation)."""

    arch: FpgaArch = field(default_factory=FpgaArch)
    in_dim: int = required(32)
    out_dim: int = required(32)

    def __post_init__(self) -> None:
        a = self.arch
        I, O = a.linear.in_size, a.linear.out_size
        within("in_dim", self.in_dim, 1, 4096, note="activations per token row")
        within("out_dim", self.out_dim, 1, 4096, note="outputs per token row")
        if self.in_dim % I:
            raise FieldError("in_dim", f"{self.in_dim}; expected a multiple of arch.linear.in_size = {I}")
        if self.out_dim % O:
            raise FieldError("out_dim", f"{self.out_dim}; expected a multiple of arch.linear.out_size = {O}")
        if a.gelu.units != O:
            raise FieldError(
                "arch.gelu.units", f"{a.gelu.units}; expected arch.linear.out_size = {O} (one GELU lane per output)"
            )
        for name, per_beat, per_read in (
            ("arch.linear.in_size", self.acts_per_beat, I),
            ("arch.linear.in_size x out_size", self.weights_per_beat, I * O),
            ("arch.linear.out_size", self.biases_per_beat, O),
        ):
            if max(per_beat, per_read) % min(per_beat, per_read):
                raise FieldError(
                    name,
                    f"{per_read}; it and the {per_beat} elements of an axi.bits = {a.axi.bits} beat must divide"
                    " one another",
                )

    @property
    def numerics(self) -> EdgeMoeNumerics:
        return self.arch.numerics

    @property
    def in_size(self) -> int:
        return self.arch.linear.in_size

    @property
    def out_size(self) -> int:
        return self.arch.linear.out_size

    @property
    def acts_per_beat(self) -> int:
        return self.arch.acts_per_beat

    @property
    def weights_per_beat(self) -> int:
        return self.arch.weights_per_beat

    @property
    def bias_width(self) -> int:
        """Bits of one bias in a bias beat: the wider of ``bias_fmt`` and ``attn_bias_fmt`` (sign-extended)."""
        return linear_bias_width(self.arch)

    @property
    def memories(self) -> dict[str, tuple[int, int]]:
        """:func:`linear_memories` of this block: ``(depth, width in bits)`` of its rows, weights and bias."""
        return linear_memories(self.arch, self.in_dim, self.out_dim, self.out_dim * self.in_dim)

    @property
    def biases_per_beat(self) -> int:
        return self.arch.axi.bits // self.bias_width

    @property
    def in_blocks(self) -> int:
        return self.in_dim // self.in_size

    @property
    def out_blocks(self) -> int:
        return self.out_dim // self.out_size

    @property
    def row_beats(self) -> int:
        return linear_row_beats(self.arch, self.in_dim)

    @property
    def row_cycles(self) -> int:
        return linear_row_cycles(self.arch.linear, self.out_dim, self.in_dim)

    @property
    def weight_beats(self) -> int:
        """Beats of one bank's weights: ``out_dim x in_dim`` in MAC-array words (see hw/edgemoe_linear.py)."""
        return -(-self.out_dim * self.in_dim // self.weights_per_beat)

    @property
    def bias_beats(self) -> int:
        return -(-self.out_dim // self.biases_per_beat)

    @property
    def load_beats(self) -> int:
        return self.weight_beats + self.bias_beats

    def cycles(self, length: int) -> int:
        """:func:`linear_cycles` of one call on ``length`` rows."""
        return linear_cycles(self.arch, self.out_dim, self.in_dim, length)


# -- the attention unit's schedule: the RTL block edgemoe_attention and the engine's attention stages -----------

# Pipeline constants of hw/edgemoe_attention.py (its component checks them against its units): the exp unit's
# latency (hw.exp.Exp.LATENCY) and the stages of a K/V beat after it is dispatched from the input register: the
# Q read (4), the MAC array (5), the scale and head sum or the accumulator update (6), the score (7).
ATTN_EXP_LATENCY = 3
# From the last V beat dispatched to the first output taken: its products (5), the accumulator written (6), the
# drain's first read (7), the output register (8), the output taken (9).
ATTN_DEPTH = 9


def attention_blocks(lanes: int, length: int) -> int:
    """Query blocks of ``lanes`` over ``length`` tokens (the last one partial)."""
    return -(-length // lanes)


def attention_dim_blocks(d_model: int, dims: int) -> int:
    """Beats of one token row of K, V or Q: ``d_model / dims`` blocks of ``dims`` (``attention.dims``)."""
    return -(-d_model // dims)


def attention_stats_gap(numerics: EdgeMoeNumerics) -> int:
    """Idle cycles between a query block's last K beat and its first V beat, ``7 + recip.mantissa_latency``
    (12 with two Newton steps). The last score comes 7 cycles after its K beat's dispatch, its running sum
    ``ATTN_EXP_LATENCY`` later; the final sum is registered (1), goes through the reciprocal's mantissa
    pipeline (``mantissa_latency``) and into its register (1). A V beat reads that register
    ``1 + ATTN_EXP_LATENCY`` cycles after its dispatch (its score read, then its exp), so the first V beat is
    dispatched ``8 + mantissa_latency`` cycles after the last K beat."""
    return 7 + numerics.recip.mantissa_latency


def attention_qk_cycles(arch: FpgaArch, d_model: int, length: int) -> int:
    """The Q x K part of :func:`attention_cycles`: the first query block's Q rows (they must be in before its
    first K beat; later blocks' Q rows ride on the V beats before them), then per query block its ``length``
    K rows of ``B`` beats (one per cycle) and the stats gap (:func:`attention_stats_gap`)."""
    if length <= 0:
        return 0
    L, B = arch.attention.lanes, attention_dim_blocks(d_model, arch.attention.dims)
    first = min(L, length)
    return first * B + attention_blocks(L, length) * (length * B + attention_stats_gap(arch.numerics))


def attention_av_cycles(arch: FpgaArch, d_model: int, length: int) -> int:
    """The A x V part of :func:`attention_cycles`: per query block its ``length`` V rows of ``B`` beats, then
    the last block's outputs (``B`` beats per query; earlier blocks' drain behind the next block's Q x K)
    and :data:`ATTN_DEPTH`."""
    if length <= 0:
        return 0
    L, B = arch.attention.lanes, attention_dim_blocks(d_model, arch.attention.dims)
    nb = attention_blocks(L, length)
    last = length - (nb - 1) * L
    return nb * length * B + last * B + ATTN_DEPTH


def attention_cycles(arch: FpgaArch, d_model: int, length: int) -> int:
    """Cycles of one call of the reordered attention unit on ``length`` tokens of ``d_model = heads x
    head_dim``: from its first input beat taken to its last output taken, the output always ready.

    ``L0 B + nb (2 T B + G) + Ll B + ATTN_DEPTH`` with ``B = d_model / dims`` beats per row, ``nb`` query
    blocks of ``lanes`` (``L0`` queries in the first, ``Ll`` in the last), ``T = length`` and ``G`` =
    :func:`attention_stats_gap`: the first block's Q rows load, then per block K streams (the Q x K pass with
    the running max and sum), the reciprocals, V streams (A x V with the recomputed probabilities), and the
    last block's outputs drain. The engine ``edgemoe`` charges its ``qk`` stage :func:`attention_qk_cycles`
    and its ``av`` stage :func:`attention_av_cycles` (which add up to this); the RTL block
    (``hw/edgemoe_attention.py``) takes it, as its testbench checks. 0 for no tokens."""
    return attention_qk_cycles(arch, d_model, length) + attention_av_cycles(arch, d_model, length)


def attention_scale_raw(numerics: EdgeMoeNumerics, head_dim: int) -> int:
    """``1/sqrt(head_dim)`` truncated into ``act_fmt``, raw: the attention unit's score scale."""
    return numerics.act_fmt.quantize_one(1.0 / math.sqrt(head_dim))


def attention_memories(arch: FpgaArch, d_model: int, heads: int, tokens: int) -> dict[str, tuple[int, int]]:
    """The attention unit's memories as ``(depth, width in bits)``, as the RTL block ``edgemoe_attention``
    builds them: ``q``, a query block's Q rows (a word per block of ``attention.dims``, every lane's);
    ``scores``, each lane's score of every key and head of a call of up to ``tokens`` tokens; ``acc``, the
    output accumulators (as ``q``). The engine's fit check maps them onto block RAM."""
    L, P, AW = arch.attention.lanes, arch.attention.dims, arch.numerics.act_fmt.width
    B = attention_dim_blocks(d_model, P)
    return {"q": (B, L * P * AW), "scores": (tokens * heads, L * AW), "acc": (B, L * P * AW)}


@dataclass(frozen=True)
class RtlEdgeMoeAttentionParams:
    """The RTL reordered attention unit (``configs/blocks/edgemoe_attention.yaml``): the machine ``arch`` (its
    ``attention.lanes`` x ``attention.dims`` MACs and ``numerics``, the softmax's among them), the heads it
    is built for (``heads`` x ``head_dim``) and ``tokens``, the most tokens of a call (its score buffer)."""

    arch: FpgaArch = field(default_factory=FpgaArch)
    heads: int = required(2)
    head_dim: int = required(64)
    tokens: int = required(16)

    def __post_init__(self) -> None:
        P = self.arch.attention.dims
        within("heads", self.heads, 1, 64, note="heads")
        within("head_dim", self.head_dim, 1, 1024, note="dims per head")
        within("tokens", self.tokens, 1, 4096, note="tokens per call (the score buffer's depth)")
        within("arch.attention.lanes", self.lanes, 1, 64, note="query lanes")
        if self.head_dim % P:
            raise FieldError("head_dim", f"{self.head_dim}; expected a multiple of arch.attention.dims = {P}")
        if self.scale_raw == 0:
            raise FieldError("head_dim", f"{self.head_dim}: 1/sqrt(head_dim) rounds to 0 in act_fmt")
        RtlSoftmaxParams(self.arch)  # the softmax datapath's own limits

    @property
    def numerics(self) -> EdgeMoeNumerics:
        return self.arch.numerics

    @property
    def lanes(self) -> int:
        return self.arch.attention.lanes

    @property
    def dims(self) -> int:
        return self.arch.attention.dims

    @property
    def d_model(self) -> int:
        return self.heads * self.head_dim

    @property
    def dim_blocks(self) -> int:
        """Beats of one token row (``d_model / dims``)."""
        return attention_dim_blocks(self.d_model, self.dims)

    @property
    def head_blocks(self) -> int:
        """Beats of one head of a row (``head_dim / dims``)."""
        return self.head_dim // self.dims

    @property
    def scale_raw(self) -> int:
        """``1/sqrt(head_dim)`` truncated into ``act_fmt`` (:attr:`EdgeMoeParams.attn_scale_raw`)."""
        return attention_scale_raw(self.numerics, self.head_dim)

    @property
    def stats_gap(self) -> int:
        return attention_stats_gap(self.numerics)

    @property
    def memories(self) -> dict[str, tuple[int, int]]:
        """:func:`attention_memories` of this block: ``(depth, width in bits)`` of its Q, score and output
        memories."""
        return attention_memories(self.arch, self.d_model, self.heads, self.tokens)

    def blocks(self, length: int) -> int:
        return attention_blocks(self.lanes, length)

    def cycles(self, length: int) -> int:
        """:func:`attention_cycles` of one call on ``length`` tokens."""
        return attention_cycles(self.arch, self.d_model, length)
