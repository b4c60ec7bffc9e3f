"""The Verilated Edge-MoE online-softmax unit against the golden model (softmax_edgemoe on Edge-MoE's formats)."""

import numpy as np
import pytest
from conftest import require_simulator

from attnkit.hw import blocks
from attnkit.models.edgemoe_golden import online_softmax
from attnkit.models.softmax import softmax_edgemoe
from attnkit.params.edgemoe import EdgeMoeParams
from attnkit.testbench import runner
from attnkit.testbench.softmax_tb import KINDS, row

pytestmark = pytest.mark.rtl


def test_block_golden_is_the_edgemoe_golden():
    """The block's reference is the same function on the same formats as edgemoe_golden's attention."""
    p, e = blocks.get("softmax").load_params(), EdgeMoeParams.load()
    rng = np.random.default_rng(0)
    s = rng.integers(-(8 << 22), 8 << 22, (5, 129))
    assert np.array_equal(softmax_edgemoe(s, p.numerics), online_softmax(s, e))


def test_stimulus_rows_are_meaningful():
    """Unmasked rows sum to about 1 (the checks are on real probabilities, not zeros); masked rows give 0."""
    p = blocks.get("softmax").load_params()
    f = p.numerics.prob_fmt
    rng = np.random.default_rng(3)
    for k in range(2 * len(KINDS)):
        s, kind = row(p, k, rng)
        y = f.to_float(softmax_edgemoe(s[None, :], p.numerics)[0])
        if kind == "all-masked":
            assert not y.any()
        else:
            assert abs(y.sum() - 1) < 1e-3 * s.size, (kind, y.sum())
            assert np.all(y[s == p.numerics.in_fmt.min_raw] == 0)


def test_verilator_10k_vectors_bit_exact():
    require_simulator("verilator")
    r = runner.run("softmax", vectors=10_000, seed=2026)  # build/rtl: the compiled model is cached by its Verilog
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (10_000, 0, 0)
    assert r["cycles"] == r["predicted_cycles"]
    assert all(r["kinds"][k] > 0 for k in KINDS)


@pytest.mark.slow
def test_testbench_catches_a_wrong_reciprocal(rtl_build):
    """A DUT with one Newton step fewer in its reciprocal must be caught."""
    require_simulator("verilator")
    rp = EdgeMoeParams.load().numerics.recip  # the YAML leaves recip to its default: set it whole
    one_step = [
        f"numerics.recip.{k}={v}"
        for k, v in (
            ("in_fmt", rp.in_fmt),
            ("seed_bits", rp.seed_bits),
            ("seed_fmt", rp.seed_fmt),
            ("work_fmt", rp.work_fmt),
            ("out_fmt", rp.out_fmt),
            ("iters", 1),
        )
    ]
    r = runner.run("softmax", vectors=1500, seed=4, build_root=rtl_build, dut_sets=one_step)
    assert r["mismatches"] > 0


@pytest.mark.slow
def test_icarus_bit_exact(rtl_build):
    require_simulator("icarus")
    r = runner.run("softmax", sim="icarus", vectors=1500, seed=11, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (1500, 0, 0)


def test_lint_clean(tmp_path):
    """verilator -Wall finds nothing but the generator-style warning kinds (testbench/lint.py)."""
    from attnkit.testbench.lint import GENERATOR_STYLE, lint

    kinds = lint("softmax", [], tmp_path)
    assert set(kinds) <= GENERATOR_STYLE, {k: n for k, n in kinds.items() if k not in GENERATOR_STYLE}
