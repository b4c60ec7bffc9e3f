"""The Verilated merge block against the golden merge (attnkit.models.merge.merge), bit for bit.

Default suite: 10,000 pairs (corners: equal maxima, masked partials, extreme
values; golden partials of random pieces; random fields), cycles = pairs +
latency. Slow: a DUT rounding where the golden model truncates must be caught;
AP_RND partials and a wider head dim.
"""

from pathlib import Path

import numpy as np
import pytest
from conftest import require_simulator

from attnkit.hw import blocks
from attnkit.testbench import runner
from attnkit.testbench.merge_tb import corners, expected, stimulus

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parent.parent / "build" / "rtl-tests"


def test_corner_set_covers_the_issue_cases():
    p = blocks.get("merge").load_params()
    a, b = corners(p)
    num = p.numerics
    assert np.any(a.m == b.m)  # equal maxima
    masked_a = (a.l == 0) & (a.m == num.e_min) & (a.o == 0).all(axis=1)
    masked_b = (b.l == 0) & (b.m == num.e_min) & (b.o == 0).all(axis=1)
    assert np.any(masked_a & ~masked_b) and np.any(masked_b & ~masked_a) and np.any(masked_a & masked_b)
    assert np.any(np.abs(a.m - b.m) == num.spread)  # the widest gap
    assert a.o.min() == num.partial_fmt.min_raw and a.o.max() == num.partial_fmt.max_raw
    assert a.l.max() == num.partial_l_fmt.max_raw
    out = expected(p, a, b)  # and some sums saturate
    assert any(r[-2] == num.partial_l_fmt.max_raw for r in out)
    a2, b2 = stimulus(p, 10_000, np.random.default_rng(0))
    assert len(a2.l) == len(b2.l) == 10_000


def test_verilator_10k_pairs_bit_exact():
    require_simulator("verilator")
    r = runner.run("merge", vectors=10_000, seed=2026, build_root=BUILD)
    assert (r["vectors"], r["mismatches"]) == (10_000, 0), r["first_mismatches"]
    assert r["cycles"] == r["predicted_cycles"] == r["bulk_vectors"] + 2
    assert r["stall_vectors"] == 500
    assert r["exponent_pairs_covered"] == 1.0  # every (m_a, m_b) of the exponent path, 64 x 64


@pytest.mark.slow
def test_testbench_catches_a_wrong_dut():
    require_simulator("verilator")
    r = runner.run("merge", vectors=3000, seed=4, build_root=BUILD, dut_sets=["numerics.partial_fmt.rounding=AP_RND"])
    assert r["mismatches"] > 0


@pytest.mark.slow
def test_verilator_rounding_partials_and_wide_head():
    require_simulator("verilator")
    sets = ["head_dim=12", "numerics.partial_fmt.rounding=AP_RND", "numerics.partial_l_fmt.rounding=AP_RND_CONV"]
    r = runner.run("merge", sets, vectors=5000, seed=8, build_root=BUILD)
    assert (r["vectors"], r["mismatches"]) == (5000, 0), r["first_mismatches"]
