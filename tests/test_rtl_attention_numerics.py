"""The Verilated attention engine with finite accumulators (numerics.acc_frac_bits) against the golden model.

Fast: one 2x2 build, four problems, and proof that on those problems the
finite golden model differs from the exact one (so matching it is a real
check). Slow (``make test-slow``): 50 problems per width for three widths
and three roundings, bit- and cycle-exact, and an exact-mode DUT checked
against a finite golden model must be caught.
"""

import dataclasses

import numpy as np
import pytest
from helpers import attention_sets, check_rtl, run_wrong_dut

from attnkit.hw import blocks
from attnkit.models.attention import attention

pytestmark = pytest.mark.rtl


def _sets(R, C, d, n, causal, frac, rounding):
    return attention_sets(R, C, d, n, causal) + [f"numerics.acc_frac_bits={frac}", f"numerics.acc_rounding={rounding}"]


def _check(sets, problems, seed):
    # the engine's cycles take no numerics: it predicts from the other sets
    shape = [s for s in sets if not s.startswith("numerics.")]
    return check_rtl(
        "attention", sets, problems, seed, "rtl-attention-4x4", "rtl-attention", modes=("event",), predicted_from=shape
    )


def _differs_from_exact(sets, problems, seed) -> int:
    """Output elements where the finite golden model differs from the exact one on the testbench's problems."""
    from attnkit.testbench.attention_tb import problem

    p = blocks.get("attention").load_params(sets)
    exact = dataclasses.replace(p.numerics, acc_frac_bits=None)
    rng = np.random.default_rng(seed)
    diff = 0
    for k in range(problems):
        q, kk, v, mask, _ = problem(p, k, rng)
        a = attention(q, kk, v, p.numerics, mask=mask, causal=p.causal, tile_k=p.rows)
        b = attention(q, kk, v, exact, mask=mask, causal=p.causal, tile_k=p.rows)
        diff += int(np.count_nonzero(a != b))
    return diff


def test_finite_engine_bit_and_cycle_exact():
    sets = _sets(2, 2, 8, 7, False, 8, "AP_RND")
    r = _check(sets, 4, 31)
    assert r["kinds"] == {"plain": 1, "random-mask": 1, "sparse-mask": 1, "corners": 1}
    assert _differs_from_exact(sets, 4, 31) > 0


MATRIX = [  # (R, C, d, N, causal, F, rounding), problems, seed: 50 problems per width
    ((2, 2, 8, 13, False, 8, "AP_TRN"), 30, 51),
    ((4, 4, 8, 22, True, 8, "AP_TRN"), 20, 52),
    ((4, 4, 16, 30, False, 12, "AP_RND"), 30, 53),
    ((2, 2, 8, 17, True, 12, "AP_RND"), 20, 54),
    ((4, 4, 8, 26, False, 20, "AP_RND_CONV"), 30, 55),
    ((2, 2, 8, 11, True, 20, "AP_RND_CONV"), 20, 56),
]


@pytest.mark.slow
@pytest.mark.parametrize("shape,problems,seed", MATRIX)
def test_finite_engine_matrix(shape, problems, seed):
    sets = _sets(*shape)
    _check(sets, problems, seed)
    if shape[5] < 16:
        assert _differs_from_exact(sets, problems, seed) > 0


@pytest.mark.slow
def test_exact_dut_against_finite_golden_is_caught():
    sets = _sets(2, 2, 8, 7, False, 8, "AP_TRN")
    r = run_wrong_dut("attention", sets, 4, 3, dut_sets=["numerics.acc_frac_bits=null"])
    assert r["mismatches"] > 0
