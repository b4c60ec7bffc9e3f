"""The exp, reciprocal and GELU units: tables from first principles, stated error, refusals by field name."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.errors import ConfigError
from attnkit.models.exp import exp, exp2_table
from attnkit.models.gelu import delta_table, gelu
from attnkit.models.recip import bit_length, recip
from attnkit.params import config
from attnkit.params.fixed import QFormat
from attnkit.params.numerics import ExpParams, GeluParams, RecipParams


def test_exp_exhaustive_error_and_corners():
    p = ExpParams()
    x = np.arange(p.in_fmt.min_raw, 1)
    y = p.out_fmt.to_float(exp(x, p))
    err = np.abs(y - np.exp(p.in_fmt.to_float(x)))
    assert err.max() < 3 * p.out_fmt.lsb
    assert exp(np.array([0]), p)[0] == 1 << p.out_fmt.frac_bits  # exp(0) = 1 exactly
    assert exp(np.array([p.in_fmt.min_raw]), p)[0] == 0
    assert np.all(np.diff(exp(x, p)) >= 0)  # monotone
    assert exp(np.array([5]), p)[0] == exp(np.array([0]), p)[0]  # positive arguments clamp to 0


def test_exp2_table_from_first_principles():
    p = ExpParams(table_bits=4)
    t = exp2_table(p)
    assert t.size == 17 and t[0] == 1 << p.table_fmt.frac_bits and t[-1] == 2 << p.table_fmt.frac_bits
    np.testing.assert_allclose(p.table_fmt.to_float(t), 2 ** (np.arange(17) / 16), atol=p.table_fmt.lsb)


@settings(max_examples=25, deadline=None)
@given(table_bits=st.integers(2, 10), frac=st.integers(10, 16))
def test_exp_error_shrinks_with_table(table_bits, frac):
    p = ExpParams(table_bits=table_bits, arg_fmt=QFormat(True, 8, frac), out_fmt=QFormat(False, 1, 16))
    x = np.arange(p.in_fmt.min_raw, 1, 7)
    err = np.abs(p.out_fmt.to_float(exp(x, p)) - np.exp(p.in_fmt.to_float(x)))
    bound = (
        math.log(2) ** 2 / 8 * 4.0**-table_bits
        + 2 * math.log(2) * 2.0**-frac
        + 32 * 2.0**-17
        + 2.0**-p.table_fmt.frac_bits
    ) + 2 * p.out_fmt.lsb
    assert err.max() <= bound


def test_recip_exhaustive_and_zero():
    p = RecipParams()
    x = np.arange(1, p.in_fmt.max_raw + 1)
    ref = 1 / p.in_fmt.to_float(x)
    y = p.out_fmt.to_float(recip(x, p))
    assert np.all(np.abs(y - ref) <= ref * 2.0**-18 * 1.01 + p.out_fmt.lsb)
    assert recip(np.array([0, -3]), p).tolist() == [p.out_fmt.max_raw] * 2


def test_recip_more_iterations_converge():
    p = RecipParams(seed_bits=4, iters=2)
    x = np.arange(1, 1 << 16, 3)
    y = p.out_fmt.to_float(recip(x, p))
    ref = 1 / p.in_fmt.to_float(x)
    assert np.all(np.abs(y - ref) <= ref * (1.1 * 2.0**-20 + 2.0**-26) + p.out_fmt.lsb)  # (2^-5)^4


def test_bit_length_matches_python():
    vals = np.array([0, 1, 2, 3, 255, 256, (1 << 53) - 1, 1 << 52, (1 << 40) + 1])
    assert bit_length(vals).tolist() == [int(v).bit_length() for v in vals]


def test_gelu_table_within_2_pow_minus_22_at_every_point():
    p = GeluParams()
    t = delta_table(p)
    assert t.size == 177
    pts = np.arange(177) / 32
    exact = np.array([a * 0.5 * math.erfc(a / math.sqrt(2)) for a in pts])  # the test's own erfc
    assert np.all(np.abs(p.table_fmt.to_float(t) - exact) < 2.0**-22)


def test_gelu_against_float64_and_corners():
    p = GeluParams()
    f = p.act_fmt
    xs = np.concatenate([np.linspace(-8, 8, 4001), [-5.5, 5.5, 5.5 - f.lsb, 0.0]])
    raw = f.quantize(xs)
    xv = f.to_float(raw)
    ref = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in xv])
    assert np.abs(f.to_float(gelu(raw, p)) - ref).max() < 3.5e-4
    assert gelu(np.array([f.max_raw]), p)[0] == f.max_raw  # delta is 0 beyond 5.5
    assert gelu(np.array([f.min_raw]), p)[0] == 0  # |min| wraps to min: delta 0, ReLU 0


@pytest.mark.parametrize(
    "cls,data,needle",
    [
        (ExpParams, {"table_bits": 0}, "u.table_bits: 0 index bits"),
        (ExpParams, {"table_bits": 20}, "u.table_bits"),
        (ExpParams, {"arg_fmt": {"int_bits": 3, "frac_bits": 10}}, "u.arg_fmt.int_bits"),
        (ExpParams, {"arg_fmt": {"int_bits": 0, "frac_bits": 0}}, "u.arg_fmt.int_bits: width"),
        (ExpParams, {"out_fmt": {"int_bits": 40, "frac_bits": 30}}, "u.out_fmt.frac_bits: width"),
        (RecipParams, {"iters": 9}, "u.iters"),
        (RecipParams, {"work_fmt": {"signed": False, "int_bits": 2, "frac_bits": 40}}, "u.work_fmt"),
        (GeluParams, {"table_size": 100}, "u.table_size: 100 entries cannot cover |x| < 5.5"),
        (GeluParams, {"step_bits": 30}, "u.step_bits"),
        (GeluParams, {"cutoff": 5.51}, "u.cutoff"),
    ],
)
def test_invalid_unit_params_name_the_field(cls, data, needle):
    with pytest.raises(ConfigError) as e:
        config.build(cls, data, "units.yaml", "u")
    assert str(e.value).startswith("units.yaml: ")
    assert needle in str(e.value)
