"""The golden models' parameters: number formats and unit sizes of the exp, reciprocal, GELU, softmax,
MAC and attention datapaths (each model in :mod:`attnkit.models` computes on one of these)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from attnkit.params.config import FieldError, integers, within
from attnkit.params.fixed import Overflow, QFormat, Rounding

TRN, RND, WRAP, SAT = Rounding.AP_TRN, Rounding.AP_RND, Overflow.AP_WRAP, Overflow.AP_SAT


LOG2E = 1.0 / math.log(2.0)


@dataclass(frozen=True)
class ExpParams:
    """Formats and table size of the exp unit (``exp(x)`` for ``x <= 0``)."""

    in_fmt: QFormat = field(default_factory=lambda: QFormat(True, 6, 10))
    log2e_fmt: QFormat = field(default_factory=lambda: QFormat(False, 1, 16, Rounding.AP_RND))
    arg_fmt: QFormat = field(default_factory=lambda: QFormat(True, 8, 14, Rounding.AP_RND, Overflow.AP_SAT))
    table_bits: int = 6
    table_fmt: QFormat = field(default_factory=lambda: QFormat(False, 2, 16, Rounding.AP_RND))
    out_fmt: QFormat = field(default_factory=lambda: QFormat(False, 1, 16, Rounding.AP_RND, Overflow.AP_SAT))

    def __post_init__(self) -> None:
        integers(self, "table_bits")
        within("table_bits", self.table_bits, 1, 16, "index bits", "(a table of 2^table_bits + 1 entries)")
        if not self.in_fmt.signed:
            raise FieldError("in_fmt.signed", "exp takes arguments <= 0, so its input format must be signed")
        if not self.arg_fmt.signed:
            raise FieldError("arg_fmt.signed", "x * log2(e) is <= 0, so this format must be signed")
        if self.log2e_fmt.int_bits < (2 if self.log2e_fmt.signed else 1):
            raise FieldError("log2e_fmt.int_bits", f"{self.log2e_fmt} cannot hold log2(e) = 1.4427")
        if self.table_bits > self.arg_fmt.frac_bits:
            raise FieldError(
                "table_bits",
                f"{self.table_bits} index bits but arg_fmt has only {self.arg_fmt.frac_bits} fraction bits",
            )
        # The reduced argument must reach as low as the input does, or the table is indexed outside its range.
        lowest = self.in_fmt.value(self.in_fmt.min_raw) * LOG2E
        if lowest < self.arg_fmt.value(self.arg_fmt.min_raw) - 1:
            raise FieldError(
                "arg_fmt.int_bits",
                f"{self.arg_fmt} cannot hold x * log2(e) down to {lowest:.4g} (the lowest input of {self.in_fmt})",
            )
        if self.table_fmt.int_bits < (3 if self.table_fmt.signed else 2):
            raise FieldError("table_fmt.int_bits", f"{self.table_fmt} cannot hold 2^f up to 2 (the last table entry)")
        if self.out_fmt.int_bits < (2 if self.out_fmt.signed else 1):
            raise FieldError("out_fmt.int_bits", f"{self.out_fmt} cannot hold exp(0) = 1")
        if (1 << (self.table_fmt.int_bits + self.table_fmt.frac_bits)) >= 1 << 40:
            raise FieldError("table_fmt", f"{self.table_fmt}: at most 40 bits so interpolation products fit int64")

    @property
    def table_entries(self) -> int:
        """Entries of the exp table, ``2^table_bits + 1`` (the last one is 2)."""
        return (1 << self.table_bits) + 1

    @property
    def mantissa_bits(self) -> int:
        """Fraction bits of the mantissa ``E`` that :func:`exp2_mantissa` returns."""
        return self.table_fmt.frac_bits

    @property
    def log2e_raw(self) -> int:
        return int(self.log2e_fmt.quantize(LOG2E))


@dataclass(frozen=True)
class RecipParams:
    """Formats, seed-table size and Newton-Raphson steps of the reciprocal unit."""

    in_fmt: QFormat = field(default_factory=lambda: QFormat(False, 8, 8))
    seed_bits: int = 8
    seed_fmt: QFormat = field(default_factory=lambda: QFormat(False, 1, 12, Rounding.AP_RND))
    iters: int = 1
    work_fmt: QFormat = field(default_factory=lambda: QFormat(False, 2, 28))
    out_fmt: QFormat = field(default_factory=lambda: QFormat(False, 9, 16, Rounding.AP_RND, Overflow.AP_SAT))

    def __post_init__(self) -> None:
        integers(self, "seed_bits", "iters")
        within("seed_bits", self.seed_bits, 1, 16, "index bits", "(a seed table of 2^seed_bits entries)")
        within("iters", self.iters, 0, 4, "Newton-Raphson steps")
        if self.seed_bits > self.work_fmt.frac_bits:
            raise FieldError(
                "seed_bits",
                f"{self.seed_bits} index bits but work_fmt has only {self.work_fmt.frac_bits} fraction bits",
            )
        if self.work_fmt.int_bits < (3 if self.work_fmt.signed else 2):
            raise FieldError("work_fmt.int_bits", f"{self.work_fmt} cannot hold 2 - m*y (up to 2)")
        if self.work_fmt.width > 31:
            raise FieldError("work_fmt", f"{self.work_fmt.width} bits; at most 31 so m * y fits int64")
        if self.seed_fmt.int_bits < (2 if self.seed_fmt.signed else 1):
            raise FieldError("seed_fmt.int_bits", f"{self.seed_fmt} cannot hold seeds up to 1")
        if self.in_fmt.width > 53:
            raise FieldError("in_fmt", f"{self.in_fmt.width} bits; at most 53 for the leading-one detect")

    @property
    def mantissa_latency(self) -> int:
        """Cycles of the RTL's ``1/m`` pipeline (:class:`attnkit.hw.recip.RecipMantissa`): the seed-table read,
        then two stages per Newton-Raphson step. Schedules that wait for a reciprocal count these."""
        return 1 + 2 * self.iters


@dataclass(frozen=True)
class GeluParams:
    """Edge-MoE's GELU: activation format, delta table size, step and entry format."""

    act_fmt: QFormat = field(default_factory=lambda: QFormat(True, 10, 22, Rounding.AP_TRN, Overflow.AP_WRAP))
    table_size: int = 177
    step_bits: int = 5
    cutoff: float = 5.5
    table_fmt: QFormat = field(default_factory=lambda: QFormat(False, 0, 22, Rounding.AP_TRN, Overflow.AP_SAT))

    def __post_init__(self) -> None:
        integers(self, "table_size", "step_bits")
        if not 0 <= self.step_bits <= self.act_fmt.frac_bits:
            raise FieldError(
                "step_bits", f"step 2^-{self.step_bits}; expected 0 to act_fmt.frac_bits = {self.act_fmt.frac_bits}"
            )
        if not 0 < self.cutoff <= 8:
            raise FieldError("cutoff", f"{self.cutoff}; expected a value in (0, 8]")
        if self.cutoff * (1 << self.step_bits) != int(self.cutoff * (1 << self.step_bits)):
            raise FieldError("cutoff", f"{self.cutoff} is not a multiple of the step 2^-{self.step_bits}")
        need = int(self.cutoff * (1 << self.step_bits)) + 1
        if self.table_size < need:
            raise FieldError(
                "table_size",
                f"{self.table_size} entries cannot cover |x| < {self.cutoff} at step"
                f" 2^-{self.step_bits}; at least {need} needed",
            )
        if self.table_size > 1 << 16:
            raise FieldError("table_size", f"{self.table_size} entries; at most 65536")
        if not self.act_fmt.signed:
            raise FieldError("act_fmt.signed", "GELU takes signed activations")
        if self.table_fmt.signed or self.table_fmt.int_bits < 0:
            raise FieldError("table_fmt", f"{self.table_fmt}: expected an unsigned format holding [0, 0.17]")
        if self.table_fmt.frac_bits > self.act_fmt.frac_bits + 8:
            raise FieldError("table_fmt.frac_bits", "at most act_fmt.frac_bits + 8 so interpolation fits int64")


@dataclass(frozen=True)
class MacParams:
    """Parameters of the MAC PE, read by the golden model, the RTL and the testbench.

    ``pipeline`` is the latency in cycles from an accepted input to its
    accumulator value on the output (1 = the accumulator register only).
    """

    in_fmt: QFormat = field(default_factory=lambda: QFormat(True, 4, 4))
    acc_fmt: QFormat = field(default_factory=lambda: QFormat(True, 8, 8, Rounding.AP_RND, Overflow.AP_SAT))
    pipeline: int = 2

    def __post_init__(self) -> None:
        if not self.in_fmt.signed:
            raise FieldError("in_fmt.signed", "the MAC PE takes signed inputs")
        if self.in_fmt.width > 31:
            raise FieldError("in_fmt", f"{self.in_fmt.width}-bit inputs; at most 31 bits so products fit int64")
        within("pipeline", self.pipeline, 1, 8, "stages")


def _softmax_exp() -> ExpParams:
    return ExpParams(in_fmt=QFormat(True, 7, 10, Rounding.AP_TRN, Overflow.AP_SAT))


def _softmax_recip() -> RecipParams:
    return RecipParams(
        in_fmt=QFormat(False, 16, 16, Rounding.AP_TRN, Overflow.AP_SAT),
        out_fmt=QFormat(False, 1, 24, Rounding.AP_RND, Overflow.AP_SAT),
    )


@dataclass(frozen=True)
class SoftmaxParams:
    """Formats and units of the softmax orders."""

    in_fmt: QFormat = field(default_factory=lambda: QFormat(True, 6, 10))
    exp: ExpParams = field(default_factory=_softmax_exp)
    sum_fmt: QFormat = field(default_factory=lambda: QFormat(False, 16, 16, Rounding.AP_TRN, Overflow.AP_SAT))
    recip: RecipParams = field(default_factory=_softmax_recip)
    prob_fmt: QFormat = field(default_factory=lambda: QFormat(False, 1, 15, Rounding.AP_RND, Overflow.AP_SAT))
    tile: int = 16

    def __post_init__(self) -> None:
        if isinstance(self.tile, bool) or not isinstance(self.tile, int) or self.tile < 1:
            raise FieldError("tile", f"{self.tile!r}; expected a positive integer (keys per step)")
        if not self.in_fmt.signed:
            raise FieldError("in_fmt.signed", "scores are signed")
        if self.recip.in_fmt != self.sum_fmt:
            raise FieldError(
                "recip.in_fmt",
                f"{self.recip.in_fmt}; the reciprocal takes the running sum, so expected sum_fmt = {self.sum_fmt}",
            )
        if self.sum_fmt.frac_bits < self.exp.out_fmt.frac_bits - 8:
            raise FieldError(
                "sum_fmt.frac_bits", f"{self.sum_fmt.frac_bits}; too coarse for exp outputs of {self.exp.out_fmt}"
            )
        if self.exp.out_fmt.width + self.recip.out_fmt.width > 62:
            raise FieldError("recip.out_fmt", "exp.out_fmt and recip.out_fmt together must fit 62 bits (their product)")


def _attention_exp() -> ExpParams:
    return ExpParams(table_bits=6, table_fmt=QFormat(False, 2, 16, Rounding.AP_RND))


@dataclass(frozen=True)
class AttentionNumerics:
    """Every format of the attention datapath (see the module docstring for where each applies)."""

    in_fmt: QFormat = field(default_factory=lambda: QFormat(True, 4, 12))
    score_fmt: QFormat = field(default_factory=lambda: QFormat(True, 16, 24, Rounding.AP_TRN, Overflow.AP_SAT))
    scale: float | None = None
    scale_fmt: QFormat = field(default_factory=lambda: QFormat(False, 1, 20, Rounding.AP_RND, Overflow.AP_SAT))
    logit_fmt: QFormat = field(default_factory=lambda: QFormat(True, 6, 12, Rounding.AP_TRN, Overflow.AP_SAT))
    exp: ExpParams = field(default_factory=_attention_exp)
    recip: RecipParams = field(default_factory=RecipParams)
    norm_fmt: QFormat = field(default_factory=lambda: QFormat(True, 6, 24, Rounding.AP_TRN, Overflow.AP_SAT))
    out_fmt: QFormat = field(default_factory=lambda: QFormat(True, 4, 12, Rounding.AP_RND, Overflow.AP_SAT))
    partial_fmt: QFormat = field(default_factory=lambda: QFormat(True, 30, 30, Rounding.AP_TRN, Overflow.AP_SAT))
    partial_l_fmt: QFormat = field(default_factory=lambda: QFormat(False, 30, 30, Rounding.AP_TRN, Overflow.AP_SAT))
    # Running sum and output accumulators: None = exact (Kulisch, Pm + S fraction bits below 2^M); an int F =
    # finite, F fraction bits below 2^M (RNV F + in_fmt.frac_bits), every shift rounded by acc_rounding.
    acc_frac_bits: int | None = None
    acc_rounding: Rounding = Rounding.AP_TRN

    def __post_init__(self) -> None:
        if not self.in_fmt.signed:
            raise FieldError("in_fmt.signed", "q, k and v are signed")
        if self.in_fmt.width > 24:
            raise FieldError("in_fmt", f"{self.in_fmt.width}-bit inputs; at most 24 so q.k is exact in the model")
        if self.score_fmt.width > 40:
            raise FieldError("score_fmt", f"{self.score_fmt.width} bits; at most 40 so score * scale fits int64")
        if self.scale is not None and not (0 < self.scale < 2 / LOG2E):
            raise FieldError(
                "scale", f"{self.scale}; expected 0 < scale < {2 / LOG2E:.4g} (scale * log2 e must fit scale_fmt)"
            )
        if self.scale_fmt.signed or self.scale_fmt.int_bits < 1 or self.scale_fmt.width > 22:
            raise FieldError(
                "scale_fmt",
                f"{self.scale_fmt}: expected an unsigned format with at least 1 integer bit and at most 22 bits",
            )
        if not self.logit_fmt.signed or not 2 <= self.logit_fmt.int_bits <= 8:
            raise FieldError(
                "logit_fmt.int_bits",
                f"{self.logit_fmt}: expected a signed format with 2 to 8 integer bits"
                " (the spread of the exact accumulators is 2^int_bits)",
            )
        if self.logit_fmt.frac_bits < self.exp.table_bits:
            raise FieldError(
                "exp.table_bits",
                f"{self.exp.table_bits} index bits but logit_fmt has only {self.logit_fmt.frac_bits} fraction bits",
            )
        if self.exp.table_fmt.frac_bits > 20:
            raise FieldError(
                "exp.table_fmt.frac_bits", f"{self.exp.table_fmt.frac_bits}; at most 20 for the exact model"
            )
        if self.norm_fmt.width + self.recip.work_fmt.width > 62:
            raise FieldError("norm_fmt", f"{self.norm_fmt} times {self.recip.work_fmt} does not fit 62 bits")
        if self.norm_fmt.frac_bits < self.out_fmt.frac_bits:
            raise FieldError(
                "norm_fmt.frac_bits",
                f"{self.norm_fmt.frac_bits}; at least out_fmt.frac_bits = {self.out_fmt.frac_bits}",
            )
        if self.norm_fmt.int_bits < self.in_fmt.int_bits + 2:
            raise FieldError(
                "norm_fmt.int_bits",
                f"{self.norm_fmt.int_bits}; RNV / 2^z reaches 2 * max|v|, so at least"
                f" in_fmt.int_bits + 2 = {self.in_fmt.int_bits + 2}",
            )
        if self.partial_fmt.frac_bits != self.partial_l_fmt.frac_bits:
            raise FieldError(
                "partial_l_fmt.frac_bits", "must equal partial_fmt.frac_bits (O and l share the scale of M)"
            )
        if not self.partial_fmt.signed or self.partial_l_fmt.signed:
            raise FieldError("partial_fmt.signed", "partial O is signed and partial l unsigned")
        if self.acc_frac_bits is not None and not 1 <= self.acc_frac_bits <= 28:
            raise FieldError(
                "acc_frac_bits",
                f"{self.acc_frac_bits}; expected 1 to 28 fraction bits (or null:"
                " exact), so the model's terms fit int64",
            )

    # -- derived quantities ---------------------------------------------------------
    @property
    def mantissa_bits(self) -> int:
        """``Pm``: fraction bits of the probability mantissa ``E``."""
        return self.exp.table_fmt.frac_bits

    @property
    def finite(self) -> bool:
        """True when the running sum and output accumulators are finite (``acc_frac_bits`` set)."""
        return self.acc_frac_bits is not None

    @property
    def e_min(self) -> int:
        """The lowest exponent ``floor(t)`` of an unmasked logit."""
        return (self.logit_fmt.min_raw + 1) >> self.logit_fmt.frac_bits

    @property
    def e_max(self) -> int:
        return self.logit_fmt.max_raw >> self.logit_fmt.frac_bits

    @property
    def spread(self) -> int:
        """``S``: the largest ``M - e_j``; the exact accumulators keep ``Pm + S`` fraction bits below ``2^M``."""
        return self.e_max - self.e_min

    def scale_for(self, head_dim: int) -> float:
        return self.scale if self.scale is not None else 1.0 / math.sqrt(head_dim)

    def logit_const(self, head_dim: int) -> int:
        """Raw ``c = scale * log2(e)`` in ``scale_fmt``."""
        c = int(self.scale_fmt.quantize(self.scale_for(head_dim) * LOG2E))
        if c <= 0:
            raise ValueError(
                f"scale * log2 e = {self.scale_for(head_dim) * LOG2E:.3g} quantises to 0 in {self.scale_fmt}"
            )
        return c


def accumulator_bits(num: AttentionNumerics, n_keys: int) -> dict[str, dict[str, int]]:
    """Integer and fraction bits of the row unit's accumulators for ``n_keys`` keys (relative to ``2^M``):
    exact, ``Pm + S`` fraction bits; finite, ``acc_frac_bits``."""
    frac = num.acc_frac_bits if num.acc_frac_bits is not None else num.mantissa_bits + num.spread
    lsum_int = 1 + max(1, math.ceil(math.log2(max(n_keys, 1)))) + 1
    return {
        "rd": {"int_bits": lsum_int, "frac_bits": frac, "width": lsum_int + frac},
        "rnv": {
            "int_bits": lsum_int + num.in_fmt.int_bits,
            "frac_bits": frac + num.in_fmt.frac_bits,
            "width": lsum_int + num.in_fmt.width + frac,
        },
    }


def _act() -> QFormat:
    return QFormat(True, 10, 22, TRN, WRAP)


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

    def __post_init__(self) -> None:
        integers(self, "seed_bits", "iters")
        within("seed_bits", self.seed_bits, 2, 12)
        within("iters", self.iters, 0, 4, "Newton steps")
        if self.work_fmt.signed or self.work_fmt.int_bits < 3 or self.work_fmt.width > 30:
            raise FieldError("work_fmt", f"{self.work_fmt}: expected unsigned, >= 3 integer bits (m < 4), <= 30 bits")
        if self.in_fmt.width > 40:
            raise FieldError("in_fmt", f"{self.in_fmt.width} bits; at most 40")
        if self.out_fmt.width > 32:
            raise FieldError("out_fmt", f"{self.out_fmt.width} bits; at most 32 (it multiplies 32-bit activations)")


def _edgemoe_exp() -> ExpParams:
    # exp(d), d <= 0 of the activation format: saturating input (a first key against the
    # format-minimum running max must not wrap), output on the activation grid in [0, 1].
    return ExpParams(
        in_fmt=QFormat(True, 10, 22, TRN, SAT),
        log2e_fmt=QFormat(False, 1, 24, RND, SAT),
        arg_fmt=QFormat(True, 12, 28, TRN, SAT),
        table_bits=10,
        table_fmt=QFormat(False, 2, 26, RND, SAT),
        out_fmt=QFormat(False, 1, 22, TRN, SAT),
    )


def _edgemoe_recip() -> RecipParams:
    # 1/sum: the running sum is an activation (>= 1 whenever a key is unmasked); output in [0, 1].
    return RecipParams(
        in_fmt=_act(),
        seed_bits=8,
        seed_fmt=QFormat(False, 1, 12, RND, SAT),
        iters=2,
        work_fmt=QFormat(False, 2, 28, TRN, WRAP),
        out_fmt=QFormat(False, 1, 22, TRN, SAT),
    )


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
    exp: ExpParams = field(default_factory=_edgemoe_exp)
    recip: RecipParams = field(default_factory=_edgemoe_recip)
    rsqrt: RsqrtParams = field(default_factory=RsqrtParams)
    gelu: GeluParams = field(default_factory=GeluParams)

    def __post_init__(self) -> None:
        a = self.act_fmt
        if not a.signed or a.rounding is not TRN or a.overflow is not WRAP:
            raise FieldError(
                "act_fmt",
                f"{a}: the datapath model assumes signed AP_TRN/AP_WRAP activations"
                " (accumulation is then exact modulo 2^width and order-free)",
            )
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
            raise FieldError(
                "exp.out_fmt", f"{self.exp.out_fmt}; expected ap_ufixed<{a.frac_bits + 1},1> (act_fmt's grid on [0, 1])"
            )
        if self.recip.in_fmt != a:
            raise FieldError(
                "recip.in_fmt", f"{self.recip.in_fmt}; the reciprocal takes the running sum, expected act_fmt = {a}"
            )
        if self.recip.out_fmt.frac_bits != a.frac_bits or self.recip.out_fmt.signed or self.recip.out_fmt.int_bits != 1:
            raise FieldError("recip.out_fmt", f"{self.recip.out_fmt}; expected ap_ufixed<{a.frac_bits + 1},1>")
        if self.rsqrt.in_fmt != a:
            raise FieldError("rsqrt.in_fmt", f"{self.rsqrt.in_fmt}; expected act_fmt = {a}")

    @property
    def eps_raw(self) -> int:
        return int(self.act_fmt.quantize(self.ln_eps))

    @property
    def softmax(self) -> SoftmaxParams:
        """The online softmax's formats (all on the activation grid), as :func:`attnkit.models.softmax.softmax_edgemoe`
        takes them."""
        return SoftmaxParams(
            in_fmt=self.act_fmt, exp=self.exp, sum_fmt=self.act_fmt, recip=self.recip, prob_fmt=self.act_fmt, tile=1
        )
