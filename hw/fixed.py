"""Fixed-point conversion in Amaranth, the RTL twin of :mod:`attnkit.params.fixed`.

:func:`resize` builds the combinational logic that converts a value of one
``QFormat`` into another with the target's rounding and overflow modes,
exactly as ``QFormat.resize`` does on integers; :func:`shift_right_var` and
:func:`shift_signed_var` are the run-time (per-value) shifts of
:func:`attnkit.params.fixed.round_shift`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Shape, Value, signed, unsigned

from attnkit.params.fixed import Overflow, QFormat, Rounding


def shape_of(fmt: QFormat) -> Shape:
    return signed(fmt.width) if fmt.signed else unsigned(fmt.width)


def round_shift(value: Value, shift: int, rounding: Rounding) -> Value:
    """Drop ``shift`` low bits of ``value`` with the given rounding (widens, never overflows)."""
    if shift <= 0:
        return value << -shift
    floor = value >> shift  # arithmetic shift for signed values
    if rounding is Rounding.AP_TRN:
        return floor
    rem = value[:shift]
    half = 1 << (shift - 1)
    if rounding is Rounding.AP_RND:
        up = rem >= half
    else:
        up = (rem > half) | ((rem == half) & floor[0])
    return floor + up


def saturate_or_wrap(value: Value, fmt: QFormat) -> Value:
    """Fit ``value`` (already at ``fmt``'s scale) into ``fmt``'s width by its overflow mode. An unsigned
    ``value`` cannot fall below a ``min_raw`` of 0 or less, so it is clamped at the top only (no
    comparison that is always false, which lint flags as UNSIGNED)."""
    if fmt.overflow is Overflow.AP_SAT:
        if not value.shape().signed and fmt.min_raw <= 0:
            value = Mux(value > fmt.max_raw, fmt.max_raw, value)
        else:
            value = Mux(value > fmt.max_raw, fmt.max_raw, Mux(value < fmt.min_raw, fmt.min_raw, value))
    low = value[: fmt.width]
    return low.as_signed() if fmt.signed else low


def resize(value: Value, src: QFormat, dst: QFormat) -> Value:
    """``value`` of format ``src`` converted to ``dst``: round, then overflow."""
    return saturate_or_wrap(round_shift(value, src.frac_bits - dst.frac_bits, dst.rounding), dst)


def shift_right_var(raw, sh, width: int, rounding: Rounding):
    """``raw >> sh`` (``sh >= 0`` unsigned, ``raw`` at most ``width`` bits) with rounding, as
    :func:`attnkit.params.fixed.round_shift` computes it. Shifts beyond ``width + 1`` give the
    same result as ``width + 1`` (and as the model's cap of 62), so the shifter is capped there."""
    cap = width + 1
    shc = Mux(sh > cap, cap, sh)[: cap.bit_length()]
    floor = raw >> shc
    if rounding is Rounding.AP_TRN:
        return floor
    one = Const(1, unsigned(cap + 2))
    ext = raw + Const(0, signed(cap + 2)) if raw.shape().signed else raw  # sign-extend, as int64 does
    rem = ext.as_unsigned()[: cap + 1] & ((one << shc) - 1)[: cap + 1]
    half = ((one << shc) >> 1)[: cap + 1]
    nz = shc != 0
    if rounding is Rounding.AP_RND:
        return floor + (nz & (rem >= half))
    return floor + (nz & ((rem > half) | ((rem == half) & floor[0])))


def shift_signed_var(raw, sh, width: int, rounding: Rounding, max_left: int):
    """``raw * 2^-sh`` for a signed per-value shift: right with rounding, left exact (at most ``max_left``)."""
    neg = sh < 0
    right = shift_right_var(raw, Mux(neg, 0, sh).as_unsigned(), width, rounding)
    lsh = Mux(neg, -sh, 0).as_unsigned()
    lsh = Mux(lsh > max_left, max_left, lsh)
    left = raw << lsh[: max(1, max_left.bit_length())]
    return Mux(neg, left, right)


def low_bits(value: Value, width: int) -> Value:
    """The low ``width`` bits of ``value``, sign-extended first if it is narrower (a signed value): an
    ``AP_WRAP`` resize of an integer."""
    if len(value) >= width:
        return value[:width]
    return Cat(value, value[-1].replicate(width - len(value)))


def adder_tree(values: list) -> Value:
    """Sum of ``values`` as a balanced tree of adders."""
    while len(values) > 1:
        values = [a + b for a, b in zip(values[::2], values[1::2])] + ([values[-1]] if len(values) % 2 else [])
    return values[0]
