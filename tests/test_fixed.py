"""QFormat against apytypes, an independent fixed-point library, and its own invariants."""

import itertools

import numpy as np
import pytest

apytypes = pytest.importorskip("apytypes")

from attnkit.errors import ConfigError
from attnkit.params import config
from attnkit.params.fixed import Overflow, QFormat, Rounding, add, mul

N = 100_000
APY_ROUNDING = {
    Rounding.AP_TRN: apytypes.QuantizationMode.TO_NEG,
    Rounding.AP_RND: apytypes.QuantizationMode.TIES_POS,
    Rounding.AP_RND_CONV: apytypes.QuantizationMode.TIES_EVEN,
}
APY_OVERFLOW = {Overflow.AP_WRAP: apytypes.OverflowMode.WRAP, Overflow.AP_SAT: apytypes.OverflowMode.SAT}
MODES = list(itertools.product(Rounding, Overflow))


def apy_resize(raw: np.ndarray, src: QFormat, dst: QFormat) -> np.ndarray:
    """Convert with apytypes, going through bit patterns so no float is involved."""
    bits = (raw & ((1 << src.width) - 1)).tolist()
    x = apytypes.APyFixedArray(bits, int_bits=src.int_bits, frac_bits=src.frac_bits)
    y = x.cast(
        int_bits=dst.int_bits,
        frac_bits=dst.frac_bits,
        quantization=APY_ROUNDING[dst.rounding],
        overflow=APY_OVERFLOW[dst.overflow],
    )
    out = np.asarray(y.to_bits(), dtype=np.int64)
    return np.where(out >= 1 << (dst.width - 1), out - (1 << dst.width), out)


@pytest.mark.parametrize("rounding,overflow", MODES, ids=lambda m: m.name)
def test_resize_matches_apytypes(rounding, overflow):
    rng = np.random.default_rng(hash((rounding.name, overflow.name)) % 2**32)
    src = QFormat(True, 12, 28)
    dst = QFormat(True, 6, 10, rounding, overflow)
    # Mostly in range with every rounding case, plus a share of overflowing values.
    raw = np.concatenate([rng.integers(-(1 << 33), 1 << 33, N - N // 4), rng.integers(-(1 << 39), 1 << 39, N // 4)])
    raw[:8] = [-(1 << 39), (1 << 39) - 1, 0, -1, 1 << 17, -(1 << 17), 3 << 17, -(3 << 17)]  # ties and extremes
    np.testing.assert_array_equal(dst.resize(raw, src), apy_resize(raw, src, dst))


@pytest.mark.parametrize("rounding,overflow", MODES, ids=lambda m: m.name)
def test_mul_and_add_match_apytypes(rounding, overflow):
    rng = np.random.default_rng(7)
    fa, fb = QFormat(True, 4, 12), QFormat(True, 3, 9)
    out = QFormat(True, 5, 11, rounding, overflow)
    a = rng.integers(fa.min_raw, fa.max_raw + 1, N)
    b = rng.integers(fb.min_raw, fb.max_raw + 1, N)
    a[0], b[0] = fa.min_raw, fb.min_raw  # most negative x most negative
    # apytypes: exact product/sum at full width, then the same cast.
    pa = apytypes.APyFixedArray((a & 0xFFFF).tolist(), int_bits=4, frac_bits=12)
    pb = apytypes.APyFixedArray((b & 0xFFF).tolist(), int_bits=3, frac_bits=9)
    for ours, exact in ((mul(a, fa, b, fb, out), pa * pb), (add(a, fa, b, fb, out), pa + pb)):
        y = exact.cast(
            int_bits=out.int_bits,
            frac_bits=out.frac_bits,
            quantization=APY_ROUNDING[rounding],
            overflow=APY_OVERFLOW[overflow],
        )
        ref = np.asarray(y.to_bits(), dtype=np.int64)
        ref = np.where(ref >= 1 << 15, ref - (1 << 16), ref)
        np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("rounding,overflow", MODES, ids=lambda m: m.name)
def test_quantize_matches_apytypes(rounding, overflow):
    rng = np.random.default_rng(11)
    fmt = QFormat(True, 4, 8, rounding, overflow)
    # Values exactly representable with 20 fraction bits, so the reference is exact.
    fine = QFormat(True, 8, 20)
    raw = rng.integers(fine.min_raw, fine.max_raw + 1, N)
    x = fine.to_float(raw)
    np.testing.assert_array_equal(fmt.quantize(x), apy_resize(raw, fine, fmt))


def test_unsigned_formats():
    u = QFormat(False, 0, 8, Rounding.AP_RND, Overflow.AP_SAT)
    np.testing.assert_array_equal(u.quantize([-0.5, 0.0, 0.5, 0.99999, 1.5]), [0, 0, 128, 255, 255])
    w = u.with_(overflow=Overflow.AP_WRAP)
    np.testing.assert_array_equal(w.quantize([1.0, 1.25, -0.25]), [0, 64, 192])


def test_text_form_round_trips():
    for fmt in (QFormat(True, 10, 22), QFormat(False, 0, 22, Rounding.AP_RND_CONV, Overflow.AP_SAT)):
        assert QFormat.from_string(str(fmt)) == fmt
    assert QFormat.from_string("ap_fixed<16,7>") == QFormat(True, 7, 9)


@pytest.mark.parametrize(
    "data,needle",
    [
        ({"int_bits": 0, "frac_bits": 0}, "fmt.int_bits: width int_bits + frac_bits = 0"),
        ({"int_bits": -4, "frac_bits": 2}, "fmt.int_bits"),
        ({"int_bits": 40, "frac_bits": 30}, "fmt.frac_bits: width int_bits + frac_bits = 70"),
        ({"rounding": "AP_NEAREST"}, "fmt.rounding: expected one of AP_TRN, AP_RND, AP_RND_CONV"),
        ({"int_bits": 4.5}, "fmt.int_bits: expected an integer"),
    ],
)
def test_invalid_formats_are_refused_by_name(data, needle):
    with pytest.raises(ConfigError) as e:
        config.build(QFormat, data, "test.yaml", "fmt")
    assert needle in str(e.value)
    assert str(e.value).startswith("test.yaml: ")


@pytest.mark.parametrize("rounding,overflow", MODES)
def test_scalar_quantize_and_value_are_the_array_forms_on_one_value(rounding, overflow):
    """quantize_one and value (no NumPy, for config checks) give quantize's integer and to_float's float."""
    import math
    import random

    rng = random.Random(hash((rounding.name, overflow.name)) % 1000)
    for _ in range(400):
        i = rng.randint(0, 30)
        f = rng.randint(max(0, 1 - i), 62 - i)
        q = QFormat(rng.random() < 0.7, i, f, rounding, overflow)
        lsb = 2.0**-f
        for x in (
            rng.uniform(-(2.0**i), 2.0**i),
            rng.uniform(-4, 4) * 2.0 ** rng.randint(-70, 40),
            0.5 * lsb,
            -2.5 * lsb,
        ):
            assert _outcome(q.quantize_one, x) == _outcome(lambda v: int(q.quantize(v)), x), (q, x)
        for raw in (q.min_raw, q.max_raw, rng.randint(q.min_raw, q.max_raw)):
            assert q.value(raw) == float(q.to_float(raw)) and isinstance(q.value(raw), float)
    for bad in (math.inf, math.nan, 2.0**70):
        with pytest.raises(ValueError):
            QFormat(True, 8, 8, rounding, overflow).quantize_one(bad)


def _outcome(fn, x):
    try:
        return fn(x)
    except ValueError as e:
        return str(e)


def test_ceil_log2_is_amaranths():
    from amaranth.utils import ceil_log2 as amaranth_ceil_log2

    from attnkit.params.fixed import ceil_log2

    for n in [*range(0, 1100), *(2**k + d for k in range(11, 70) for d in (-1, 0, 1))]:
        assert ceil_log2(n) == amaranth_ceil_log2(n)
    with pytest.raises(ValueError, match="negative"):
        ceil_log2(-1)
