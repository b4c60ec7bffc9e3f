"""Golden schedule-driven decode: partials per CTA range, merged in the host's order, equal the split-and-merge model bit for bit."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.models.decode import decode_scheduled
from attnkit.models.merge import decode_split
from attnkit.params.numerics import AttentionNumerics
from attnkit.params.schedule import fa2_schedule, flashdecoding_schedule, lean_schedule

NUM = AttentionNumerics()


def _tensors(rng, b, h, hk, n, d):
    f = NUM.in_fmt
    lim = 1 << (f.frac_bits + 1)  # values in about [-2, 2): logits spread, nothing saturates
    q = rng.integers(-lim, lim, (b, h, d))
    k = rng.integers(-lim, lim, (b, hk, n, d))
    v = rng.integers(-lim, lim, (b, hk, n, d))
    return q, k, v


def _split_model(q, k, v, sched):
    """Each query head through decode_split with its head's cut points (the existing golden model)."""
    b, h, d = q.shape
    hk = k.shape[1]
    g = h // hk
    out = np.zeros_like(q)
    heads = sched.ranges_by_head()
    for bi in range(b):
        for qh in range(h):
            pieces = heads[(bi, qh // g)]
            bounds = [pieces[0][1].keys(sched.block_n, sched.context)[0]]
            bounds += [r.keys(sched.block_n, sched.context)[1] for _, r in pieces]
            out[bi, qh] = decode_split(q[bi, qh], k[bi, qh // g], v[bi, qh // g], NUM, bounds)
    return out


@settings(max_examples=25, deadline=None)
@given(
    b=st.integers(1, 2),
    hk=st.integers(1, 3),
    g=st.sampled_from([1, 2, 4]),
    n=st.integers(1, 70),
    block_n=st.sampled_from([4, 8, 16]),
    grid=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_lean_schedule_decode_equals_split_model(b, hk, g, n, block_n, grid, seed):
    rng = np.random.default_rng(seed)
    q, k, v = _tensors(rng, b, hk * g, hk, n, 8)
    sched = lean_schedule(b, hk, n, block_n, grid)
    np.testing.assert_array_equal(decode_scheduled(q, k, v, NUM, sched), _split_model(q, k, v, sched))


def test_schedule_decode_mha_gqa_and_baselines():
    rng = np.random.default_rng(3)
    q, k, v = _tensors(rng, 2, 8, 2, 100, 16)
    outs = {}
    for name, s in (
        ("lean", lean_schedule(2, 2, 100, 8, 7)),
        ("fd", flashdecoding_schedule(2, 2, 100, 8, 3)),
        ("fa2", fa2_schedule(2, 2, 100, 8)),
    ):
        outs[name] = decode_scheduled(q, k, v, NUM, s)
        np.testing.assert_array_equal(outs[name], _split_model(q, k, v, s))
    # the lean schedule really splits heads (else the test would not exercise merges)
    assert max(len(p) for p in lean_schedule(2, 2, 100, 8, 7).ranges_by_head().values()) > 1
    # different splits round differently, but each stays close to the unsplit result
    lsb = NUM.out_fmt.lsb
    assert np.abs(NUM.out_fmt.to_float(outs["lean"]) - NUM.out_fmt.to_float(outs["fa2"])).max() <= 4 * lsb


def test_schedule_shape_mismatch_is_refused():
    rng = np.random.default_rng(0)
    q, k, v = _tensors(rng, 1, 4, 2, 20, 8)
    with pytest.raises(ValueError, match="schedule is for"):
        decode_scheduled(q, k, v, NUM, lean_schedule(1, 2, 21, 4, 3))
