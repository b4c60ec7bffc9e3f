"""The exp unit for arguments <= 0: base-2 range reduction, a 2^f table with linear interpolation, a shift.

For a raw input ``x`` of ``p.in_fmt`` (values above 0 are clamped to 0 first;
attention only ever needs ``exp(x)`` for ``x <= 0``):

1. ``y = x * LOG2E``: the product of ``x`` and the constant ``LOG2E`` (log2(e)
   quantised into ``p.log2e_fmt`` by its rounding), computed exactly, then
   converted into ``p.arg_fmt`` (its rounding and overflow).
2. Split ``y`` (``fy = arg_fmt.frac_bits`` fraction bits) into its integer part
   ``n = floor(y) <= 0`` (an arithmetic right shift) and fraction ``f = y - n``
   in ``[0, 1)`` (the low ``fy`` bits).
3. ``2^f`` by table: ``i`` = the top ``table_bits`` bits of ``f``, ``r`` = the
   remaining ``fy - table_bits`` bits. ``T[i] = 2^(i / 2^table_bits)``
   quantised into ``p.table_fmt`` (``2^table_bits + 1`` entries; the last is 2).
   ``E = T[i] + ((T[i+1] - T[i]) * r  >> (fy - table_bits))``, the shift
   rounding by ``table_fmt.rounding``. ``E`` is a mantissa in ``[1, 2]`` with
   ``Pm = table_fmt.frac_bits`` fraction bits.
4. ``exp(x) = E * 2^n``: ``E`` shifted right by ``-n`` (and by the fraction
   bit difference) into ``p.out_fmt``, rounding by ``out_fmt.rounding``; a
   shift of 62 or more gives 0 (or the rounding of 0), as a barrel shifter
   whose shift saturates does.

Steps 2-4 alone are :func:`exp2_mantissa` (``2^y`` as mantissa and exponent,
no rounding of the shift): the attention engine folds ``log2(e)`` into its
score scale and calls these directly (see :mod:`attnkit.models.attention`).

Error against float64 ``exp`` (defaults, every one of the 2^16 non-positive
inputs of ``ap_fixed<16,6>``, seed 0; see ``attnkit golden-report``): max abs
error 4.4e-5 (2.9 ULP of the ``ap_ufixed<17,1>`` output), mean 2.0e-6; most
of it is the rounding of ``y`` to 2^-14 and of ``log2(e)`` to 2^-16 (relative
``ln2 * (2^-15 + |x| 2^-17)``),
then the interpolation (``< (ln2)^2 / 8 * 4^-table_bits`` relative) and the
output rounding (half an ULP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from attnkit.config import FieldError
from attnkit.models.fixed import Overflow, QFormat, Rounding, mul, round_shift

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

    def __post_init__(self):
        if isinstance(self.table_bits, bool) or not isinstance(self.table_bits, int):
            raise FieldError("table_bits", f"expected an integer, got {self.table_bits!r}")
        if not 1 <= self.table_bits <= 16:
            raise FieldError("table_bits", f"{self.table_bits} index bits; expected 1 to 16 (a table of 2^table_bits + 1 entries)")
        if not self.in_fmt.signed:
            raise FieldError("in_fmt.signed", "exp takes arguments <= 0, so its input format must be signed")
        if not self.arg_fmt.signed:
            raise FieldError("arg_fmt.signed", "x * log2(e) is <= 0, so this format must be signed")
        if self.log2e_fmt.int_bits < (2 if self.log2e_fmt.signed else 1):
            raise FieldError("log2e_fmt.int_bits", f"{self.log2e_fmt} cannot hold log2(e) = 1.4427")
        if self.table_bits > self.arg_fmt.frac_bits:
            raise FieldError("table_bits", f"{self.table_bits} index bits but arg_fmt has only {self.arg_fmt.frac_bits} fraction bits")
        # The reduced argument must reach as low as the input does, or the table is indexed outside its range.
        lowest = self.in_fmt.to_float(self.in_fmt.min_raw) * LOG2E
        if lowest < self.arg_fmt.to_float(self.arg_fmt.min_raw) - 1:
            raise FieldError("arg_fmt.int_bits", f"{self.arg_fmt} cannot hold x * log2(e) down to {lowest:.4g}"
                             f" (the lowest input of {self.in_fmt})")
        if self.table_fmt.int_bits < (3 if self.table_fmt.signed else 2):
            raise FieldError("table_fmt.int_bits", f"{self.table_fmt} cannot hold 2^f up to 2 (the last table entry)")
        if self.out_fmt.int_bits < (2 if self.out_fmt.signed else 1):
            raise FieldError("out_fmt.int_bits", f"{self.out_fmt} cannot hold exp(0) = 1")
        if (1 << (self.table_fmt.int_bits + self.table_fmt.frac_bits)) >= 1 << 40:
            raise FieldError("table_fmt", f"{self.table_fmt}: at most 40 bits so interpolation products fit int64")

    @property
    def mantissa_bits(self) -> int:
        """Fraction bits of the mantissa ``E`` that :func:`exp2_mantissa` returns."""
        return self.table_fmt.frac_bits

    @property
    def log2e_raw(self) -> int:
        return int(self.log2e_fmt.quantize(LOG2E))


def exp2_table(p: ExpParams) -> np.ndarray:
    """The ROM: ``2^(i / 2^table_bits)`` for ``i = 0 .. 2^table_bits``, raw in ``p.table_fmt``."""
    size = 1 << p.table_bits
    return p.table_fmt.quantize(np.exp2(np.arange(size + 1, dtype=np.float64) / size))


def exp2_mantissa(y, frac_bits: int, p: ExpParams, table: np.ndarray | None = None):
    """``2^y`` for raw ``y`` with ``frac_bits`` fraction bits: ``(E, n)`` with value ``E * 2^(n - Pm)``.

    ``n = floor(y)`` and ``E`` (``Pm = p.mantissa_bits`` fraction bits, in
    ``[1, 2]``) is the interpolated table value of ``2^(y - n)``.
    """
    if frac_bits < p.table_bits:
        raise ValueError(f"exp2 needs at least {p.table_bits} fraction bits in its argument, got {frac_bits}")
    t = exp2_table(p) if table is None else table
    y = np.asarray(y, np.int64)
    n = y >> frac_bits
    f = y & ((np.int64(1) << frac_bits) - 1)
    low = frac_bits - p.table_bits
    i = f >> low
    r = f & ((np.int64(1) << low) - 1)
    t0, t1 = t[i], t[i + 1]
    e = t0 + round_shift((t1 - t0) * r, low, p.table_fmt.rounding)
    return e, n


def exp(x, p: ExpParams) -> np.ndarray:
    """``exp(x)`` for raw ``x`` of ``p.in_fmt`` (values > 0 clamped to 0), raw in ``p.out_fmt``."""
    x = np.minimum(np.asarray(x, np.int64), 0)
    y = mul(x, p.in_fmt, np.int64(p.log2e_raw), p.log2e_fmt, p.arg_fmt)
    y = np.minimum(y, 0)  # rounding up can only reach 0, never above; kept explicit
    return exp2_to(y, p.arg_fmt.frac_bits, p, p.out_fmt)


def exp2_to(y, frac_bits: int, p: ExpParams, out: QFormat, table: np.ndarray | None = None) -> np.ndarray:
    """``2^y`` (``y <= 0`` raw with ``frac_bits`` fraction bits) converted into ``out``."""
    e, n = exp2_mantissa(y, frac_bits, p, table)
    sh = (p.mantissa_bits - out.frac_bits) - n  # n <= 0 adds to the right shift
    return out.saturate_or_wrap(round_shift(e, sh, out.rounding))
