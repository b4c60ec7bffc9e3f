"""Fixed-point numbers as raw integers in int64 NumPy arrays, with ap_fixed semantics.

A value ``v`` of format ``QFormat(signed, int_bits, frac_bits)`` is stored as
the integer ``raw = v * 2**frac_bits``. ``int_bits`` counts the sign bit, as
ap_fixed's ``I`` does: ``ap_fixed<16,5>`` is ``QFormat(True, 5, 11)`` and
``ap_ufixed<22,0>`` is ``QFormat(False, 0, 22)``.

Converting into a format first quantises (drops fraction bits by the
format's ``rounding``) and then handles overflow (by its ``overflow``), as
ap_fixed does:

- ``AP_TRN``: toward minus infinity (floor);
- ``AP_RND``: to nearest, ties toward plus infinity;
- ``AP_RND_CONV``: to nearest, ties to even;
- ``AP_WRAP``: keep the low ``width`` bits (two's complement wrap);
- ``AP_SAT``: clamp to the largest or smallest representable value.

The same rules are built in RTL by :mod:`attnkit.hw.fixed` and in HLS by
ap_fixed itself, so all levels agree bit for bit.
"""

from __future__ import annotations

import enum
import math
import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attnkit.params.config import FieldError, integers

if TYPE_CHECKING:  # NumPy is imported by the functions that compute, so loading a config does not import it
    import numpy as np
    import numpy.typing as npt
    from numpy.typing import ArrayLike

    Raw = npt.NDArray[np.int64]  # raw integers of a format, as the models compute on them
MAX_WIDTH = 62  # leaves headroom in int64 for one carry and one rounding add


class Rounding(enum.Enum):
    AP_TRN = "AP_TRN"
    AP_RND = "AP_RND"
    AP_RND_CONV = "AP_RND_CONV"


class Overflow(enum.Enum):
    AP_WRAP = "AP_WRAP"
    AP_SAT = "AP_SAT"


@dataclass(frozen=True)
class QFormat:
    """A fixed-point format: sign, integer bits (sign included), fraction bits, rounding, overflow."""

    signed: bool = True
    int_bits: int = 8
    frac_bits: int = 8
    rounding: Rounding = Rounding.AP_TRN
    overflow: Overflow = Overflow.AP_WRAP

    def __post_init__(self) -> None:
        integers(self, "int_bits", "frac_bits")
        if self.width < 1:
            raise FieldError("int_bits", f"width int_bits + frac_bits = {self.width}; it must be at least 1")
        if self.width > MAX_WIDTH:
            raise FieldError(
                "frac_bits", f"width int_bits + frac_bits = {self.width}; at most {MAX_WIDTH} bits fit the int64 models"
            )
        if self.signed and self.int_bits < 0 and self.width < 2:
            raise FieldError("int_bits", "a signed format needs at least 2 bits")

    # -- shape of the format ---------------------------------------------------------
    @property
    def width(self) -> int:
        return self.int_bits + self.frac_bits

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        return 2.0**-self.frac_bits

    def quantize_one(self, x: float) -> int:
        """:meth:`quantize` of one real value (the same integer, formed by the same float operations), without NumPy."""
        scaled = math.ldexp(float(x), self.frac_bits)
        if not math.isfinite(scaled):
            raise ValueError(f"{self}: cannot quantize inf or NaN")
        if abs(scaled) >= 2.0**61:
            raise ValueError(f"{self}: value too large to quantize exactly in int64")
        floor = float(math.floor(scaled))
        frac = scaled - floor
        if self.rounding is Rounding.AP_TRN:
            up = False
        elif self.rounding is Rounding.AP_RND:
            up = frac >= 0.5
        else:
            up = frac > 0.5 or (frac == 0.5 and math.fmod(floor, 2.0) != 0)
        raw = int(floor) + up
        if self.overflow is Overflow.AP_SAT:
            return min(max(raw, self.min_raw), self.max_raw)
        low = raw & ((1 << self.width) - 1)
        return low - (1 << self.width) if self.signed and low > self.max_raw else low

    def value(self, raw: int) -> float:
        """One raw integer's real value: :meth:`to_float` of a scalar (the same float), without NumPy."""
        return math.ldexp(float(raw), -self.frac_bits)

    def with_(self, **changes: Any) -> QFormat:
        fields = {k: getattr(self, k) for k in ("signed", "int_bits", "frac_bits", "rounding", "overflow")}
        fields.update(changes)
        return QFormat(**fields)

    # -- text form, as HLS writes it --------------------------------------------------
    def __str__(self) -> str:
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{kind}<{self.width},{self.int_bits},{self.rounding.name},{self.overflow.name}>"

    @classmethod
    def from_string(cls, text: str) -> QFormat:
        """Parse ``ap_fixed<W,I[,Q[,O]]>`` or ``ap_ufixed<...>``."""
        m = re.fullmatch(r"\s*(ap_u?fixed)\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?>\s*", text)
        if not m:
            raise ValueError(f"cannot parse fixed-point format {text!r}; expected e.g. ap_fixed<16,8,AP_RND,AP_SAT>")
        kind, w, i, q, o = m.groups()
        try:
            rounding = Rounding[q] if q else Rounding.AP_TRN
            overflow = Overflow[o] if o else Overflow.AP_WRAP
        except KeyError as e:
            raise ValueError(
                f"{text!r}: unknown mode {e.args[0]} (rounding: {', '.join(r.name for r in Rounding)};"
                f" overflow: {', '.join(o.name for o in Overflow)})"
            ) from None
        return cls(kind == "ap_fixed", int(i), int(w) - int(i), rounding, overflow)

    # -- conversions ------------------------------------------------------------------
    def quantize(self, x: ArrayLike) -> Raw:
        """Real values (float64) -> raw integers of this format."""
        import numpy as np

        scaled = np.ldexp(np.asarray(x, dtype=np.float64), self.frac_bits)
        if not np.all(np.isfinite(scaled)):
            raise ValueError(f"{self}: cannot quantize inf or NaN")
        if np.any(np.abs(scaled) >= 2.0**61):
            raise ValueError(f"{self}: value too large to quantize exactly in int64")
        floor = np.floor(scaled)
        frac = scaled - floor  # exact for |scaled| < 2**52, and zero above it
        if self.rounding is Rounding.AP_TRN:
            up = np.zeros(floor.shape, dtype=bool)
        elif self.rounding is Rounding.AP_RND:
            up = frac >= 0.5
        else:
            up = (frac > 0.5) | ((frac == 0.5) & (np.fmod(floor, 2.0) != 0))
        return self.saturate_or_wrap(floor.astype(np.int64) + up)

    def to_float(self, raw: ArrayLike) -> npt.NDArray[np.float64]:
        import numpy as np

        return np.ldexp(np.asarray(raw, dtype=np.int64).astype(np.float64), -self.frac_bits)

    def saturate_or_wrap(self, raw: ArrayLike) -> Raw:
        """Apply this format's overflow mode to integers already at its scale."""
        import numpy as np

        r: Raw = np.asarray(raw, dtype=np.int64)
        if self.overflow is Overflow.AP_SAT:
            return np.clip(r, self.min_raw, self.max_raw)
        low = r & ((1 << self.width) - 1)
        if self.signed:
            low = np.where(low > self.max_raw, low - (1 << self.width), low)
        return low

    def resize(self, raw: ArrayLike, src: QFormat) -> Raw:
        """Convert raw values of format ``src`` into this format (round, then overflow)."""
        return self._from_scale(raw, src.frac_bits, src.width)

    def _from_scale(self, raw: ArrayLike, frac_bits: int, width: int) -> Raw:
        shift = frac_bits - self.frac_bits
        if shift < 0 and width - shift > 63:
            raise ValueError(
                f"converting {width}-bit values to {self} needs {width - shift} bits; at most 63 fit int64"
            )
        return self.saturate_or_wrap(round_shift(raw, shift, self.rounding))

    # -- arithmetic: operands and result in this format ------------------------------
    def add(self, a: ArrayLike, b: ArrayLike) -> Raw:
        import numpy as np

        return self.saturate_or_wrap(np.asarray(a, np.int64) + np.asarray(b, np.int64))

    def sub(self, a: ArrayLike, b: ArrayLike) -> Raw:
        import numpy as np

        return self.saturate_or_wrap(np.asarray(a, np.int64) - np.asarray(b, np.int64))

    def mul(self, a: ArrayLike, b: ArrayLike) -> Raw:
        return mul(a, self, b, self, self)


def round_shift(raw: ArrayLike, shift: Any, rounding: Rounding) -> npt.NDArray[Any]:
    """``raw * 2**-shift``: dropped bits rounded by ``rounding``, left shifts exact.

    ``shift`` is one int or one per element, of either sign. On int64 arrays
    right shifts of 62 or more give the rounding of ``raw >> 62`` (every model
    value rounds to 0 or -1 there) and left shifts stop at 62; on arrays of
    Python ints (:func:`wide`) every shift is exact, for accumulators wider
    than int64.
    """
    import numpy as np

    exact = np.asarray(raw).dtype == object
    dt: Any = object if exact else np.int64  # int64, or Python ints for wide accumulators
    raw = np.asarray(raw, dtype=dt)
    if np.ndim(shift) == 0 and shift <= 0:
        return np.asarray(raw << -shift, dtype=dt)
    shift = np.asarray(shift, dtype=dt)
    neg = np.asarray(shift < 0, bool)
    right = np.where(neg, 0, shift if exact else np.minimum(shift, 62)).astype(dt)
    floor = raw >> right
    if rounding is not Rounding.AP_TRN:
        pos = np.asarray(right > 0, bool)
        half = np.asarray(1, dtype=dt) << (np.where(pos, right, 1).astype(dt) - 1)
        rem = raw - (floor << right)
        if rounding is Rounding.AP_RND:
            up = rem >= half
        else:
            up = (rem > half) | ((rem == half) & ((floor & 1) == 1))
        inc = pos & np.asarray(up, bool)
        floor = floor + (inc.astype(object) if exact else inc)  # Python bools add exactly to Python ints
    if shift.ndim == 0:
        return np.asarray(floor, dtype=dt)
    lsh = np.where(neg, -shift, 0)
    left = raw << (lsh.astype(dt) if exact else np.minimum(lsh, 62))
    return np.asarray(np.where(neg, left, floor), dtype=dt)


def wide(x: ArrayLike) -> npt.NDArray[np.object_]:
    """``x`` as an array of Python ints: exact integer arithmetic at any width (slower than int64)."""
    import numpy as np

    return np.asarray(x, dtype=object)


def ceil_log2(n: int) -> int:
    """The bits that count ``n`` values: log2 of the smallest power of two >= ``n`` (Amaranth's
    ``amaranth.utils.ceil_log2``, here so the parameter layer does not import Amaranth)."""
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"{n} is negative")
    return (n - 1).bit_length() if n else 0


def _magnitude(f: QFormat) -> int:
    return max(-f.min_raw, f.max_raw)


def mul(a: ArrayLike, fa: QFormat, b: ArrayLike, fb: QFormat, out: QFormat) -> Raw:
    """``a * b`` computed exactly, then converted to ``out``."""
    import numpy as np

    if _magnitude(fa) * _magnitude(fb) >= 1 << 62:
        raise ValueError(f"the product of {fa} and {fb} does not fit int64 exactly")
    prod = np.asarray(a, np.int64) * np.asarray(b, np.int64)
    return out._from_scale(prod, fa.frac_bits + fb.frac_bits, fa.width + fb.width)


def add(a: ArrayLike, fa: QFormat, b: ArrayLike, fb: QFormat, out: QFormat) -> Raw:
    """``a + b`` computed exactly at the finer of the two scales, then converted to ``out``."""
    import numpy as np

    frac = max(fa.frac_bits, fb.frac_bits)
    width = max(fa.width + frac - fa.frac_bits, fb.width + frac - fb.frac_bits) + 1
    if width > 63:
        raise ValueError(f"the sum of {fa} and {fb} needs {width} bits; at most 63 fit int64")
    total = (np.asarray(a, np.int64) << (frac - fa.frac_bits)) + (np.asarray(b, np.int64) << (frac - fb.frac_bits))
    return out._from_scale(total, frac, width)
