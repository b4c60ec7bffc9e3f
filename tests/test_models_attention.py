"""Tiled 1-pass attention, decode, split-and-merge: bit-exactness across tilings and bounds against float64."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.errors import ConfigError
from attnkit.models.attention import (
    attention,
    attention_reference,
    attention_untiled,
    cascade_state,
    decode_attention,
    error_bound,
    exact_sums,
)
from attnkit.models.merge import decode_split, split_bounds
from attnkit.models.merge import error_bound as merge_bound
from attnkit.params import config
from attnkit.params.numerics import AttentionNumerics, accumulator_bits

NUM = AttentionNumerics()
F = NUM.in_fmt


def problem(rng, nq, nk, d, sigma=1.0, batch=()):
    q = F.quantize(np.clip(rng.normal(0, sigma, batch + (nq, d)), -8, 7.99))
    k = F.quantize(np.clip(rng.normal(0, sigma, batch + (nk, d)), -8, 7.99))
    v = F.quantize(rng.uniform(-8, 7.99, batch + (nk, d)))
    return q, k, v


def divisors(n):
    return [t for t in range(1, n + 1) if n % t == 0]


def test_tiled_equals_untiled_for_every_divisor_and_within_bound():
    rng = np.random.default_rng(1)
    q, k, v = problem(rng, 24, 48, 16)
    base = attention_untiled(q, k, v, NUM)
    for t in divisors(48):
        np.testing.assert_array_equal(attention(q, k, v, NUM, tile_k=t), base, err_msg=f"tile_k={t}")
    ref = attention_reference(F.to_float(q), F.to_float(k), F.to_float(v))
    err = np.abs(NUM.out_fmt.to_float(base) - ref).max()
    assert err <= error_bound(NUM, 8.0, 16)
    assert err <= 1.5 * NUM.out_fmt.lsb  # what the docstring states


@settings(max_examples=30, deadline=None)
@given(
    nq=st.integers(1, 9),
    nk=st.integers(1, 40),
    d=st.sampled_from([1, 4, 16, 64]),
    causal=st.booleans(),
    seed=st.integers(0, 2**16),
    tile=st.integers(1, 40),
    sigma=st.sampled_from([0.3, 1.0, 2.0]),
)
def test_property_tilings_masks_and_bound(nq, nk, d, causal, seed, tile, sigma):
    rng = np.random.default_rng(seed)
    q, k, v = problem(rng, nq, nk, d, sigma)
    mask = rng.random((nq, nk)) < 0.8
    mask[0] = False  # a fully masked row
    out = attention(q, k, v, NUM, mask=mask, causal=causal, tile_k=tile)
    np.testing.assert_array_equal(out, attention_untiled(q, k, v, NUM, mask=mask, causal=causal))
    assert np.all(out[0] == 0)
    ref = attention_reference(F.to_float(q), F.to_float(k), F.to_float(v), mask=mask, causal=causal)
    c = NUM.scale_for(d) * 1.4427
    s = np.abs(F.to_float(q) @ F.to_float(k).T) * c
    if s.max() < 2 ** (NUM.logit_fmt.int_bits - 1) - 1:  # the bound holds while no logit saturates
        assert np.abs(NUM.out_fmt.to_float(out) - ref).max() <= error_bound(NUM, 8.0, d)


@pytest.mark.parametrize("fill", ["max", "min", "alternate", "zero"])
def test_extreme_inputs_give_defined_outputs(fill):
    nq, nk, d = 4, 32, 64
    val = {"max": F.max_raw, "min": F.min_raw, "zero": 0}.get(fill)
    if fill == "alternate":
        a = np.where(np.arange(nk * d).reshape(nk, d) % 2 == 0, F.max_raw, F.min_raw)
        q, k, v = a[:nq], a, a[::-1]
    else:
        q = np.full((nq, d), val)
        k = np.full((nk, d), val)
        v = np.full((nk, d), val)
    out = attention(q, k, v, NUM, tile_k=8)
    np.testing.assert_array_equal(out, attention_untiled(q, k, v, NUM))
    assert out.dtype == np.int64
    assert np.all((out >= NUM.out_fmt.min_raw) & (out <= NUM.out_fmt.max_raw))
    if fill != "alternate":  # every key equal: the output is v itself
        assert np.all(np.abs(out - NUM.out_fmt.resize(v[:nq], F)) <= 1)


def test_all_equal_scores_average_values():
    rng = np.random.default_rng(2)
    q = np.zeros((3, 8), np.int64)
    k = F.quantize(rng.uniform(-1, 1, (20, 8)))
    v = F.quantize(rng.uniform(-8, 7.9, (20, 8)))
    out = NUM.out_fmt.to_float(attention(q, k, v, NUM, tile_k=5))
    assert np.abs(out - F.to_float(v).mean(axis=0)).max() <= 2 * NUM.out_fmt.lsb


def test_batched_heads_and_decode():
    rng = np.random.default_rng(4)
    q, k, v = problem(rng, 5, 33, 16, batch=(2, 3))
    out = attention(q, k, v, NUM, tile_k=11, causal=True)
    for b in range(2):
        for h in range(3):
            np.testing.assert_array_equal(out[b, h], attention(q[b, h], k[b, h], v[b, h], NUM, causal=True))
    dec = decode_attention(q[..., -1, :], k, v, NUM, tile_k=4)
    np.testing.assert_array_equal(dec, out[..., -1, :])  # the last query sees every key, as decode does


def test_cascade_state_is_the_exact_running_registers():
    rng = np.random.default_rng(6)
    q, k, v = problem(rng, 3, 40, 8)
    states = cascade_state(q, k, v, NUM, tile_k=10)
    o, l, m = exact_sums(q, k, v, NUM)
    m_last, rd, rnv = states[-1]
    np.testing.assert_array_equal(m_last, m)
    shift = NUM.spread - (m - NUM.e_min)  # registers are relative to 2^M with Pm + S fraction bits
    for i in range(3):
        assert rd[i] == l[i] << int(shift[i])
        assert list(rnv[i]) == [x << int(shift[i]) for x in o[i]]
    ms = [s[0] for s in states]
    assert all(np.all(a <= b) for a, b in zip(ms, ms[1:]))  # running max only grows
    widths = accumulator_bits(NUM, 40)
    assert max(int(x).bit_length() for x in rd) <= widths["rd"]["width"]


@settings(max_examples=20, deadline=None)
@given(nk=st.integers(2, 300), pieces=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_split_merge_decode(nk, pieces, seed):
    rng = np.random.default_rng(seed)
    q, k, v = problem(rng, 1, nk, 32)
    q = q[0]
    bounds = split_bounds(nk, pieces, rng)
    order = rng.permutation(len(bounds) - 1)
    out = decode_split(q, k, v, NUM, bounds, order)
    np.testing.assert_array_equal(out, decode_split(q, k, v, NUM, bounds, order))  # same split, same order
    ref = attention_reference(F.to_float(q)[None], F.to_float(k), F.to_float(v))[0]
    assert np.abs(NUM.out_fmt.to_float(out) - ref).max() <= merge_bound(NUM, 8.0, 32, len(bounds) - 1)


def test_split_with_fully_masked_piece():
    rng = np.random.default_rng(8)
    q, k, v = problem(rng, 1, 30, 8)
    mask = np.ones(30, bool)
    mask[10:20] = False
    out = decode_split(q[0], k, v, NUM, [0, 10, 20, 30], [1, 2, 0], mask=mask)
    ref = attention_reference(F.to_float(q), F.to_float(k), F.to_float(v), mask=mask[None])[0]
    assert np.abs(NUM.out_fmt.to_float(out) - ref).max() <= merge_bound(NUM, 8.0, 8, 3)
    assert np.all(decode_split(q[0], k, v, NUM, [0, 30], mask=np.zeros(30, bool)) == 0)


@pytest.mark.parametrize(
    "data,needle",
    [
        ({"logit_fmt": {"int_bits": 12, "frac_bits": 8}}, "n.logit_fmt.int_bits"),
        ({"exp": {"table_bits": 14}}, "n.exp.table_bits"),
        ({"in_fmt": {"int_bits": 0, "frac_bits": 0}}, "n.in_fmt.int_bits: width"),
        ({"out_fmt": {"int_bits": 4, "frac_bits": 60}}, "n.out_fmt.frac_bits: width"),
        ({"partial_l_fmt": {"signed": False, "int_bits": 30, "frac_bits": 20}}, "n.partial_l_fmt.frac_bits"),
        ({"scale": 5.0}, "n.scale"),
    ],
)
def test_invalid_numerics_name_the_field(data, needle):
    with pytest.raises(ConfigError) as e:
        config.build(AttentionNumerics, data, "attn.yaml", "n")
    assert str(e.value).startswith("attn.yaml: ") and needle in str(e.value)


@pytest.mark.slow
def test_tiled_equals_untiled_long_sequence():
    rng = np.random.default_rng(9)
    q, k, v = problem(rng, 64, 1024, 64)
    base = attention_untiled(q, k, v, NUM)
    for t in (16, 64, 256):
        np.testing.assert_array_equal(attention(q, k, v, NUM, tile_k=t), base)
