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

import numpy as np

from attnkit.params.fixed import QFormat, mul, round_shift
from attnkit.params.numerics import ExpParams


def exp2_table(p: ExpParams) -> np.ndarray:
    """The ROM: ``2^(i / 2^table_bits)`` for ``i = 0 .. 2^table_bits``, raw in ``p.table_fmt``."""
    size = 1 << p.table_bits
    return p.table_fmt.quantize(np.exp2(np.arange(p.table_entries, dtype=np.float64) / size))


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
