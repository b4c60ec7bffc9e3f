"""Fixed-point conversion in Amaranth, the RTL twin of :mod:`attnkit.models.fixed`.

:func:`resize` builds the combinational logic that converts a value of one
``QFormat`` into another with the target's rounding and overflow modes,
exactly as ``QFormat.resize`` does on integers.
"""

from __future__ import annotations

from amaranth.hdl import Mux, Shape, Value, signed, unsigned

from attnkit.models.fixed import Overflow, QFormat, Rounding


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
    """Fit ``value`` (already at ``fmt``'s scale) into ``fmt``'s width by its overflow mode."""
    if fmt.overflow is Overflow.AP_SAT:
        value = Mux(value > fmt.max_raw, fmt.max_raw, Mux(value < fmt.min_raw, fmt.min_raw, value))
    low = value[:fmt.width]
    return low.as_signed() if fmt.signed else low


def resize(value: Value, src: QFormat, dst: QFormat) -> Value:
    """``value`` of format ``src`` converted to ``dst``: round, then overflow."""
    return saturate_or_wrap(round_shift(value, src.frac_bits - dst.frac_bits, dst.rounding), dst)
