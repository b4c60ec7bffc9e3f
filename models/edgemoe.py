"""Edge-MoE (Sarkar et al., ICCAD 2023): the parameter object that every level reads.

One frozen dataclass, :class:`EdgeMoeParams`, holds the whole engine, read
from TWO configs (as :class:`attnkit.hw.attention_params.RtlAttentionParams`
does):

- ``arch``: :class:`FpgaArch`, ``kind: fpga`` in ``configs/arch/*.yaml``
  (shipped: ``configs/arch/zcu102-edgemoe.yaml``): the machine. ``clock_hz``,
  ``part``, the memory port ``axi.bits`` (one beat: 256 bits, 8 activations
  or 16 weights), ``weight_overlap`` (weights double-buffered: the next
  layer's weights load while this one computes), the unit sizes
  (``linear.in_size`` x ``linear.out_size`` MACs per cycle, ``attention.lanes``
  query lanes x ``attention.dims`` MACs, ``gelu.units``, ``gate.experts`` x
  ``gate.dims``, ``layernorm.elements`` per cycle) and ``numerics``
  (:class:`EdgeMoeNumerics`: every fixed-point format and the exp, reciprocal,
  inverse-square-root and GELU units).
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
:data:`attnkit.sim.arch.ARCH_KINDS` and ``VitMoeWorkload`` as workload kind
``vit-moe`` in :data:`attnkit.sim.workload.WORKLOAD_KINDS`, so the simulator
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
``edgemoe_golden.softmax_params(p)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Literal

from attnkit.config import FieldError, required
from attnkit.models.exp import ExpParams
from attnkit.models.fixed import Overflow, QFormat, Rounding
from attnkit.models.gelu import GeluParams
from attnkit.models.recip import RecipParams

TRN, RND, WRAP, SAT = Rounding.AP_TRN, Rounding.AP_RND, Overflow.AP_WRAP, Overflow.AP_SAT


def _act() -> QFormat:
    return QFormat(True, 10, 22, TRN, WRAP)


def _positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not value > 0:
            raise FieldError(name, f"{value!r}; it must be positive")


# -- numerics ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RsqrtParams:
    """The inverse-square-root unit (LayerNorm's ``1/sqrt(var)``): leading-one detect, seed table, Newton steps.

    For raw ``x > 0`` of ``in_fmt`` (``fi`` fraction bits): ``z = bit_length(x) - 1``,
    ``e = z - fi``; if ``e`` is odd the mantissa is taken in ``[2, 4)`` and ``e``
    lowered by one, so ``x = m 2^e`` with ``e`` even and ``m`` in ``[1, 4)``,
    held with ``W = work_fmt.frac_bits`` fraction bits (truncated). Seed:
    ``i = (m >> (W - seed_bits + 1))`` - ``2^(seed_bits - 1)`` indexes
    ``3 * 2^(seed_bits - 1)`` intervals of width ``2^-(seed_bits - 1)`` over
    ``[1, 4)``; ``S[i] = 1/sqrt(midpoint)`` in ``seed_fmt``. ``iters`` steps of
    ``y = y * (3 - m y^2) / 2`` (``t = y*y``, ``u = m*t`` and ``y*(3-u)`` each
    truncated into ``work_fmt``, the halving an exact shift folded in). Output
    ``y * 2^(-e/2)`` shifted into ``out_fmt`` (its rounding and overflow);
    ``x <= 0`` gives ``out_fmt``'s largest value.
    """

    in_fmt: QFormat = field(default_factory=_act)
    seed_bits: int = 7
    seed_fmt: QFormat = field(default_factory=lambda: QFormat(False, 1, 12, RND, SAT))
    iters: int = 2
    work_fmt: QFormat = field(default_factory=lambda: QFormat(False, 3, 27, TRN, WRAP))
    out_fmt: QFormat = field(default_factory=lambda: QFormat(False, 11, 19, TRN, SAT))

    def __post_init__(self):
        for name in ("seed_bits", "iters"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise FieldError(name, f"expected an integer, got {v!r}")
        if not 2 <= self.seed_bits <= 12:
            raise FieldError("seed_bits", f"{self.seed_bits}; expected 2 to 12")
        if not 0 <= self.iters <= 4:
            raise FieldError("iters", f"{self.iters} Newton steps; expected 0 to 4")
        if self.work_fmt.signed or self.work_fmt.int_bits < 3 or self.work_fmt.width > 30:
            raise FieldError("work_fmt", f"{self.work_fmt}: expected unsigned, >= 3 integer bits (m < 4), <= 30 bits")
        if self.in_fmt.width > 40:
            raise FieldError("in_fmt", f"{self.in_fmt.width} bits; at most 40")
        if self.out_fmt.width > 32:
            raise FieldError("out_fmt", f"{self.out_fmt.width} bits; at most 32 (it multiplies 32-bit activations)")


def _exp() -> ExpParams:
    # exp(d), d <= 0 of the activation format: saturating input (a first key against the
    # format-minimum running max must not wrap), output on the activation grid in [0, 1].
    return ExpParams(in_fmt=QFormat(True, 10, 22, TRN, SAT),
                     log2e_fmt=QFormat(False, 1, 24, RND, SAT),
                     arg_fmt=QFormat(True, 12, 28, TRN, SAT),
                     table_bits=10,
                     table_fmt=QFormat(False, 2, 26, RND, SAT),
                     out_fmt=QFormat(False, 1, 22, TRN, SAT))


def _recip() -> RecipParams:
    # 1/sum: the running sum is an activation (>= 1 whenever a key is unmasked); output in [0, 1].
    return RecipParams(in_fmt=_act(), seed_bits=8, seed_fmt=QFormat(False, 1, 12, RND, SAT), iters=2,
                       work_fmt=QFormat(False, 2, 28, TRN, WRAP), out_fmt=QFormat(False, 1, 22, TRN, SAT))


@dataclass(frozen=True)
class EdgeMoeNumerics:
    """Every format and arithmetic unit of the Edge-MoE datapath (ANCHORS.md; ``include/datatypes.hpp``).

    ``act_fmt`` (fm_t): activations and every accumulator; ``weight_fmt``: linear
    and gate weights; ``attn_bias_fmt``: the Q/K/V linear bias; ``bias_fmt``:
    every other linear bias and the LayerNorm bias; ``norm_fmt``: LayerNorm
    weights. ``ln_eps`` is quantised into ``act_fmt``.
    """

    act_fmt: QFormat = field(default_factory=_act)
    weight_fmt: QFormat = field(default_factory=lambda: QFormat(True, 2, 14, TRN, WRAP))
    attn_bias_fmt: QFormat = field(default_factory=lambda: QFormat(True, 7, 9, TRN, WRAP))
    bias_fmt: QFormat = field(default_factory=lambda: QFormat(True, 5, 11, TRN, WRAP))
    norm_fmt: QFormat = field(default_factory=lambda: QFormat(True, 5, 11, TRN, WRAP))
    ln_eps: float = 1e-6
    exp: ExpParams = field(default_factory=_exp)
    recip: RecipParams = field(default_factory=_recip)
    rsqrt: RsqrtParams = field(default_factory=RsqrtParams)
    gelu: GeluParams = field(default_factory=GeluParams)

    def __post_init__(self):
        a = self.act_fmt
        if not a.signed or a.rounding is not TRN or a.overflow is not WRAP:
            raise FieldError("act_fmt", f"{a}: the datapath model assumes signed AP_TRN/AP_WRAP activations"
                             " (accumulation is then exact modulo 2^width and order-free)")
        if a.width > 32:
            raise FieldError("act_fmt", f"{a.width} bits; at most 32 so products fit the int64 models")
        for name in ("weight_fmt", "attn_bias_fmt", "bias_fmt", "norm_fmt"):
            f = getattr(self, name)
            if not f.signed or f.width > 31:
                raise FieldError(name, f"{f}: expected a signed format of at most 31 bits")
        for name in ("attn_bias_fmt", "bias_fmt"):
            f = getattr(self, name)
            if f.frac_bits > a.frac_bits or f.int_bits > a.int_bits:
                raise FieldError(name, f"{f} is not exactly representable in act_fmt = {a}")
        if not 0 <= self.ln_eps < 1:
            raise FieldError("ln_eps", f"{self.ln_eps}; expected 0 <= eps < 1")
        if self.gelu.act_fmt != a:
            raise FieldError("gelu.act_fmt", f"{self.gelu.act_fmt}; expected act_fmt = {a}")
        if self.exp.in_fmt.width != a.width or self.exp.in_fmt.frac_bits != a.frac_bits:
            raise FieldError("exp.in_fmt", f"{self.exp.in_fmt}; expected the width and scale of act_fmt = {a}")
        if self.exp.out_fmt.frac_bits != a.frac_bits or self.exp.out_fmt.signed or self.exp.out_fmt.int_bits != 1:
            raise FieldError("exp.out_fmt", f"{self.exp.out_fmt}; expected ap_ufixed<{a.frac_bits + 1},1> (act_fmt's grid on [0, 1])")
        if self.recip.in_fmt != a:
            raise FieldError("recip.in_fmt", f"{self.recip.in_fmt}; the reciprocal takes the running sum, expected act_fmt = {a}")
        if self.recip.out_fmt.frac_bits != a.frac_bits or self.recip.out_fmt.signed or self.recip.out_fmt.int_bits != 1:
            raise FieldError("recip.out_fmt", f"{self.recip.out_fmt}; expected ap_ufixed<{a.frac_bits + 1},1>")
        if self.rsqrt.in_fmt != a:
            raise FieldError("rsqrt.in_fmt", f"{self.rsqrt.in_fmt}; expected act_fmt = {a}")

    @property
    def eps_raw(self) -> int:
        return int(self.act_fmt.quantize(self.ln_eps))


# -- the machine -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Axi:
    """The memory port: ``bits`` per beat (one beat per cycle)."""

    bits: int = required(256)
    # cycles from a burst request to its first beat, paid once per dataflow stage by the cycle model
    # (vitis_hls.tcl: config_interface -m_axi_latency 64)
    latency: int = 64

    def __post_init__(self):
        _positive(self, "bits")
        if isinstance(self.latency, bool) or not isinstance(self.latency, int) or self.latency < 0:
            raise FieldError("latency", f"{self.latency!r}; expected a whole number of cycles >= 0")
        if self.bits % 32:
            raise FieldError("bits", f"{self.bits}; expected a multiple of 32 (whole activations per beat)")


@dataclass(frozen=True)
class LinearUnit:
    """The unified linear unit: ``in_size`` inputs x ``out_size`` outputs of MACs per cycle, II = 1."""

    in_size: int = required(16)
    out_size: int = required(16)

    def __post_init__(self):
        _positive(self, "in_size", "out_size")

    @property
    def macs(self) -> int:
        return self.in_size * self.out_size


@dataclass(frozen=True)
class AttentionUnit:
    """Reordered attention: ``lanes`` queries at once, ``dims`` MACs each (one K/V block of ``dims`` per cycle)."""

    lanes: int = required(4)
    dims: int = required(8)

    def __post_init__(self):
        _positive(self, "lanes", "dims")


@dataclass(frozen=True)
class GeluUnit:
    units: int = required(16)

    def __post_init__(self):
        _positive(self, "units")


@dataclass(frozen=True)
class GateUnit:
    """The MoE gate: ``experts`` outputs x ``dims`` inputs of MACs per cycle."""

    experts: int = required(16)
    dims: int = required(8)

    def __post_init__(self):
        _positive(self, "experts", "dims")


@dataclass(frozen=True)
class LayerNormUnit:
    elements: int = required(8)   # elements per cycle (also residual add and zeroing)

    def __post_init__(self):
        _positive(self, "elements")


@dataclass(frozen=True)
class FpgaArch:
    """An HLS dataflow engine on an FPGA (arch kind ``fpga``): clock, memory port, units, numerics."""

    name: str = "zcu102-edgemoe"
    kind: Literal["fpga"] = "fpga"
    engine: str = "edgemoe"
    energy: str = "horowitz-45nm"
    clock_hz: float = required(300e6)
    axi: Axi = field(default_factory=Axi)
    weight_overlap: bool = True           # weights double-buffered: loading overlaps compute
    linear: LinearUnit = field(default_factory=LinearUnit)
    attention: AttentionUnit = field(default_factory=AttentionUnit)
    gelu: GeluUnit = field(default_factory=GeluUnit)
    gate: GateUnit = field(default_factory=GateUnit)
    layernorm: LayerNormUnit = field(default_factory=LayerNormUnit)
    numerics: EdgeMoeNumerics = field(default_factory=EdgeMoeNumerics)
    device: str = "xczu9eg"               # the FPGA part (configs/devices/<name>.yaml: its resources, for the fit check)

    def __post_init__(self):
        _positive(self, "clock_hz")
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
    active_experts: int = 16              # distinct experts with >= 1 patch per MoE layer (cycle model)

    def __post_init__(self):
        _positive(self, "batch", "channels", "height", "width", "patch", "d_model", "heads", "head_dim",
                  "layers", "ffn", "experts", "top_k", "expert_ffn")
        if self.height % self.patch or self.width % self.patch:
            raise FieldError("patch", f"{self.patch} does not tile a {self.height} x {self.width} image")
        if self.heads * self.head_dim != self.d_model:
            raise FieldError("d_model", f"{self.d_model}; expected heads x head_dim = {self.heads * self.head_dim}")
        if self.top_k > self.experts:
            raise FieldError("top_k", f"{self.top_k}; at most experts = {self.experts}")
        if not self.top_k <= self.active_experts <= self.experts:
            raise FieldError("active_experts", f"{self.active_experts}; expected top_k = {self.top_k} to experts = {self.experts}")

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

    def __post_init__(self):
        a, w = self.arch, self.workload
        if w.d_model % a.linear.in_size or w.d_model % a.linear.out_size:
            raise FieldError("workload.d_model", f"{w.d_model}; expected a multiple of the linear unit's"
                             f" {a.linear.in_size} x {a.linear.out_size}")
        for name in ("ffn", "expert_ffn"):
            v = getattr(w, name)
            if v % a.linear.in_size or v % a.linear.out_size:
                raise FieldError(f"workload.{name}", f"{v}; expected a multiple of the linear unit's sizes")
        if w.head_dim % a.attention.dims:
            raise FieldError("workload.head_dim", f"{w.head_dim}; expected a multiple of attention.dims = {a.attention.dims}")
        if a.attention.lanes >= w.tokens:
            raise FieldError("arch.attention.lanes", f"{a.attention.lanes}; expected fewer than the {w.tokens} tokens")
        if w.experts > a.gate.experts:
            raise FieldError("workload.experts", f"{w.experts}; the gate unit has {a.gate.experts} expert outputs")
        if w.d_model % a.gate.dims or w.d_model % a.layernorm.elements:
            raise FieldError("workload.d_model", f"{w.d_model}; expected a multiple of gate.dims and layernorm.elements")
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
        return int(self.numerics.act_fmt.quantize(self.attn_scale))

    @property
    def ln_inv_n_raw(self) -> int:
        """``1/d_model`` truncated into ``act_fmt``: LayerNorm's mean weight."""
        return int(self.numerics.act_fmt.quantize(1.0 / self.workload.d_model))

    @classmethod
    def load(cls, arch="zcu102-edgemoe", workload="m3vit", sets: Iterable[str] = ()) -> "EdgeMoeParams":
        """From arch and workload configs (names or paths or loaded objects); ``workload.`` sets edit the workload."""
        from attnkit.sim import engines
        from attnkit.sim.api import load_arch, load_workload, split_sets

        arch_sets, wl_sets = split_sets(sets)
        a, w = load_arch(arch, arch_sets), load_workload(workload, wl_sets)
        engines.get("edgemoe").check(a, w)      # the kinds engine edgemoe declares: these are its params
        return cls.of(a, w)

    @classmethod
    def of(cls, a, w) -> "EdgeMoeParams":
        """From loaded arch and workload objects of the engine's kinds, refusing impossible pairs in one line."""
        from attnkit.errors import ConfigError
        try:
            return cls(a, w)
        except FieldError as e:
            raise ConfigError(f"{a.name} + {w.name}: {e.field}: {e.message}") from None
        except ValueError as e:
            raise ConfigError(f"{a.name} + {w.name}: {e}") from None
