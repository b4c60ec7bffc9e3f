"""The Verilated attention engine with finite accumulators (numerics.acc_frac_bits) against the golden model.

Fast: one 2x2 build, four problems, and proof that on those problems the
finite golden model differs from the exact one (so matching it is a real
check). Slow (``make test-slow``): 50 problems per width for three widths
and three roundings, bit- and cycle-exact, and an exact-mode DUT checked
against a finite golden model must be caught.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import require_simulator

from attnkit.hw import blocks
from attnkit.models.attention import attention
from attnkit.params import kinds
from attnkit.sim import engines
from attnkit.testbench import runner

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parent.parent / "build" / "rtl-tests"


def _sets(R, C, d, n, causal, frac, rounding):
    return [
        f"array_2d.rows={R}",
        f"array_2d.cols={C}",
        f"workload.head_dim={d}",
        f"workload.seq_len={n}",
        f"workload.causal={str(causal).lower()}",
        f"numerics.acc_frac_bits={frac}",
        f"numerics.acc_rounding={rounding}",
    ]


def _check(sets, problems, seed):
    require_simulator("verilator")
    r = runner.run("attention", sets, vectors=problems, seed=seed, build_root=BUILD)
    assert (r["vectors"], r["mismatches"]) == (problems, 0), r["first_mismatches"]
    arch_sets, wl_sets = kinds.split_sets([s for s in sets if not s.startswith("numerics.")])
    predicted = engines.simulate(
        kinds.load_arch("rtl-attention-4x4", arch_sets),
        "rtl-attention",
        sets=["workload." + s for s in wl_sets],
        mode="event",
    ).cycles
    assert r["cycles_per_problem"] == [predicted] and r["latency_errors"] == 0
    return r


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
    require_simulator("verilator")
    sets = _sets(2, 2, 8, 7, False, 8, "AP_TRN")
    r = runner.run("attention", sets, vectors=4, seed=3, build_root=BUILD, dut_sets=["numerics.acc_frac_bits=null"])
    assert r["mismatches"] > 0
