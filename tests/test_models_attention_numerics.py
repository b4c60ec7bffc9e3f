"""Finite accumulators in the attention golden model (numerics.acc_frac_bits, acc_rounding).

The vectorised model (:func:`finite_sums`) is checked against a scalar
Python-int re-implementation of the cascade written from the docstring's
equations; the exact mode stays the default; every mode's measured error is
within the bound golden-report states.
"""

import dataclasses

import numpy as np
import pytest

from attnkit.models.attention import _keep, attention, cascade_state, exact_sums, finite_sums, logits, normalise
from attnkit.models.error import numerics_error_table
from attnkit.models.exp import exp2_mantissa
from attnkit.params import config
from attnkit.params.config import FieldError
from attnkit.params.fixed import Rounding
from attnkit.params.numerics import AttentionNumerics

NUM = AttentionNumerics()


def _rnd(x: int, s: int, rounding: Rounding) -> int:
    """x * 2^-s on Python ints, dropped bits rounded."""
    if s <= 0:
        return x << -s
    fl = x >> s
    rem, half = x - (fl << s), 1 << (s - 1)
    if rounding is Rounding.AP_TRN:
        return fl
    if rounding is Rounding.AP_RND:
        return fl + (rem >= half)
    return fl + (rem > half or (rem == half and fl & 1))


def _scalar(q, k, v, num, mask, causal, tile_k):
    """The finite cascade one query row and one key at a time: RNV (rows x d) and RD (rows) as Python ints."""
    F, Pm, rnd = num.acc_frac_bits, num.mantissa_bits, num.acc_rounding
    nq, nk, d = q.shape[0], k.shape[0], v.shape[1]
    t = logits(q, k, num, _keep(nq, nk, mask, causal))
    rnv_all, rd_all = [], []
    for i in range(nq):
        m, rd, rnv = None, 0, [0] * d
        for j0 in range(0, nk, tile_k):
            ws = []
            for j in range(j0, min(nk, j0 + tile_k)):
                if t[i, j] == num.logit_fmt.min_raw:
                    continue
                e_man, e = exp2_mantissa(np.array([t[i, j]]), num.logit_fmt.frac_bits, num.exp)
                ws.append((j, int(e_man[0]), int(e[0])))
            if not ws:
                continue  # a fully masked tile leaves M, RD and RNV as they are
            lm = max(e for _, _, e in ws)
            m_new = lm if m is None else max(m, lm)
            if m is not None:
                rd = _rnd(rd, m_new - m, rnd)
                rnv = [_rnd(x, m_new - m, rnd) for x in rnv]
            m = m_new
            for j, E, e in ws:
                sh = m - e + Pm - F  # the term E 2^(e - M) with F fraction bits
                rd += _rnd(E, sh, rnd)
                for f in range(d):
                    rnv[f] += _rnd(E * int(v[j, f]), sh, rnd)
        rnv_all.append(rnv)
        rd_all.append(rd)
    return np.array(rnv_all, dtype=object), np.array(rd_all, dtype=object)


CASES = [  # F, rounding, n, d, tile_k, masked, causal, seed
    (12, "AP_TRN", 9, 4, 2, False, False, 1),
    (12, "AP_RND", 13, 8, 4, True, False, 2),
    (8, "AP_RND_CONV", 11, 4, 3, True, True, 3),
    (20, "AP_TRN", 10, 8, 10, False, True, 4),
    (4, "AP_RND", 12, 4, 5, True, False, 5),
    (16, "AP_RND_CONV", 7, 4, 1, False, False, 6),
]


@pytest.mark.parametrize("F,rounding,n,d,tile_k,masked,causal,seed", CASES)
def test_finite_sums_match_the_scalar_cascade(F, rounding, n, d, tile_k, masked, causal, seed):
    num = dataclasses.replace(NUM, acc_frac_bits=F, acc_rounding=Rounding(rounding))
    rng = np.random.default_rng(seed)
    f = num.in_fmt
    q, k = (rng.integers(-(f.max_raw >> 1), f.max_raw >> 1, (n, d)) for _ in range(2))
    v = rng.integers(f.min_raw, f.max_raw + 1, (n, d))
    mask = rng.random((n, n)) < 0.6 if masked else None
    if masked:
        mask[0] = False  # a fully masked row
        mask[:, :tile_k] = False  # a fully masked first key tile
    rnv, rd, _ = finite_sums(q, k, v, num, mask, causal, tile_k)
    want_rnv, want_rd = _scalar(q, k, v, num, mask, causal, tile_k)
    assert rd.tolist() == want_rd.tolist()
    assert rnv.tolist() == want_rnv.tolist()
    out = attention(q, k, v, num, mask, causal, tile_k)
    assert np.array_equal(out, normalise(want_rnv, want_rd, num))
    if masked:
        assert not out[0].any()  # the fully masked row gives 0


def test_exact_is_the_default_and_the_modes_are_kept_apart():
    assert NUM.acc_frac_bits is None and not NUM.finite
    fin = dataclasses.replace(NUM, acc_frac_bits=8)
    q = k = v = np.zeros((2, 4), np.int64)
    with pytest.raises(ValueError, match="finite_sums"):
        exact_sums(q, k, v, fin)
    with pytest.raises(ValueError, match="acc_frac_bits"):
        finite_sums(q, k, v, NUM)


def test_finite_differs_from_exact_and_depends_on_the_tile():
    rng = np.random.default_rng(7)
    f = NUM.in_fmt
    q, k, v = (rng.integers(f.min_raw >> 2, f.max_raw >> 2, (40, 16)) for _ in range(3))
    fin = dataclasses.replace(NUM, acc_frac_bits=8)
    exact = attention(q, k, v, NUM, tile_k=4)
    a, b = attention(q, k, v, fin, tile_k=4), attention(q, k, v, fin, tile_k=40)
    assert np.any(a != exact) and np.any(a != b)
    assert np.array_equal(exact, attention(q, k, v, NUM, tile_k=40))


def test_cascade_state_in_finite_mode_ends_at_the_sums():
    rng = np.random.default_rng(8)
    f = NUM.in_fmt
    q, k, v = (rng.integers(f.min_raw, f.max_raw + 1, (6, 4)) for _ in range(3))
    fin = dataclasses.replace(NUM, acc_frac_bits=14, acc_rounding=Rounding.AP_RND)
    states = cascade_state(q, k, v, fin, tile_k=2)
    rnv, rd, m = finite_sums(q, k, v, fin, tile_k=2)
    assert len(states) == 3
    assert np.array_equal(states[-1][0], m) and np.array_equal(states[-1][1], rd)
    assert np.array_equal(states[-1][2], rnv)


def test_config_keys_and_their_checks():
    num = config.load(AttentionNumerics, None, ["acc_frac_bits=12", "acc_rounding=AP_RND"])
    assert (num.acc_frac_bits, num.acc_rounding) == (12, Rounding.AP_RND)
    for bad in (0, 29):
        with pytest.raises(FieldError, match="acc_frac_bits"):
            AttentionNumerics(acc_frac_bits=bad)


def test_every_mode_within_the_stated_bound():
    """golden-report's accumulator table (quick: 128 x 128 x 64): measured error <= stated bound, every mode
    and tile; the exact mode is the same at every tile size."""
    rows = numerics_error_table(0, quick=True)
    assert {r["mode"] for r in rows} >= {"exact", "F12 AP_TRN", "F16 AP_RND"}
    for r in rows:
        assert r["max_abs_err"] <= r["bound"], r
    exact = [r["max_abs_err"] for r in rows if r["mode"] == "exact"]
    assert len(set(exact)) == 1 and exact[0] < 2.5e-4
