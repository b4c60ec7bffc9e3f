"""Softmax in four orders: error against float64, masks, all-equal rows, extremes (hypothesis)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from attnkit.errors import ConfigError
from attnkit.models.softmax import ORDERS, softmax_reference
from attnkit.params import config
from attnkit.params.numerics import SoftmaxParams

P = SoftmaxParams()
F = P.in_fmt
LSB = P.prob_fmt.lsb


def _exp_max_abs_error() -> float:
    """The exp unit's worst error, measured over every input x <= 0 of its format."""
    from attnkit.models.exp import exp

    fmt = P.exp.in_fmt
    x = np.arange(fmt.min_raw, 1)
    return float(np.abs(P.exp.out_fmt.to_float(exp(x, P.exp)) - np.exp(fmt.to_float(x))).max())


EXP_ERR = _exp_max_abs_error()


def rows(draw_shape=st.tuples(st.integers(1, 5), st.integers(1, 70))):
    return draw_shape.flatmap(
        lambda s: st.tuples(
            hnp.arrays(
                np.int64,
                s,
                elements=st.one_of(
                    st.integers(F.min_raw + 1, F.max_raw), st.sampled_from([F.min_raw + 1, F.max_raw, 0])
                ),
            ),
            hnp.arrays(bool, s),
        )
    )


@pytest.mark.parametrize("order", ORDERS)
def test_random_rows_within_bound(order):
    rng = np.random.default_rng(3)
    x = F.quantize(rng.uniform(-8, 8, (64, 200)))
    y = P.prob_fmt.to_float(ORDERS[order](x, P))
    assert np.abs(y - softmax_reference(x, F)).max() < 1.0 * LSB


@settings(max_examples=40, deadline=None)
@given(data=rows(), order=st.sampled_from(list(ORDERS)))
def test_property_any_row_mask_and_range(data, order):
    x, mask = data
    y = ORDERS[order](x, P, mask=mask)
    ref = softmax_reference(x, F, mask)
    assert y.shape == x.shape and y.dtype == np.int64
    yf = P.prob_fmt.to_float(y)
    # masked entries and fully masked rows are exactly 0
    assert np.all(y[~mask] == 0)
    assert np.all(y[~mask.any(axis=-1)] == 0)
    # Each exp is off by at most EXP_ERR and the row sum is at least 1 (the max term), so
    # p_i = e_i / sum is off by at most EXP_ERR (its numerator) + p_i * n * EXP_ERR (the
    # sum's relative error: the errors share a sign when the unit truncates), plus 2 ULP.
    n = mask.sum(axis=-1, keepdims=True)
    assert np.all(np.abs(yf - ref) <= 2 * LSB + EXP_ERR + ref * n * EXP_ERR)


@pytest.mark.parametrize("order", ORDERS)
def test_all_equal_rows_are_uniform(order):
    for val in (F.min_raw + 1, 0, F.max_raw):
        x = np.full((2, 50), val)
        y = ORDERS[order](x, P)
        assert np.all(y == y[0, 0])
        assert abs(P.prob_fmt.to_float(y[0, 0]) - 1 / 50) <= LSB


def test_orders_agree_when_one_tile():
    rng = np.random.default_rng(5)
    x = F.quantize(rng.uniform(-8, 8, (8, 32)))
    from attnkit.models.softmax import softmax_1pass, softmax_2pass, softmax_3pass

    a = softmax_3pass(x, P)
    np.testing.assert_array_equal(softmax_2pass(x, P, tile=32), a)
    np.testing.assert_array_equal(softmax_1pass(x, P, tile=32), a)


def test_mismatched_recip_input_is_refused_by_name():
    with pytest.raises(ConfigError, match=r"^sm.yaml: sm.recip.in_fmt: "):
        config.build(SoftmaxParams, {"recip": {"in_fmt": "ap_ufixed<8,4>"}}, "sm.yaml", "sm")
    with pytest.raises(ConfigError, match=r"sm.tile"):
        config.build(SoftmaxParams, {"tile": 0}, "sm.yaml", "sm")
