"""The Verilated Edge-MoE GELU unit against its golden model (models/gelu.py), through the CLI's runner."""

import numpy as np
import pytest
from conftest import require_simulator

from attnkit.models.gelu import gelu
from attnkit.params.numerics import GeluParams
from attnkit.testbench import runner
from attnkit.testbench.gelu_tb import corners

pytestmark = pytest.mark.rtl


def test_corners_cover_the_cutoff_and_the_extremes():
    """The stimulus always holds |x| just below, at and beyond 5.5 and both ends of ap_fixed<32,10>."""
    p = GeluParams()
    c = corners(p)
    f, cut = p.act_fmt, int(5.5 * (1 << p.act_fmt.frac_bits))
    for v in (cut - 1, cut, cut + 1, -cut, -cut - 1, f.max_raw, f.min_raw, f.min_raw + 1):
        assert v in c
    y = gelu(c, p)
    # from the cutoff up, GELU is exactly ReLU; the format minimum (|x| wraps to itself) too
    beyond = (np.abs(c) >= cut) | (c == f.min_raw)
    assert np.array_equal(y[beyond], np.maximum(c[beyond], 0))


def test_verilator_10k_vectors_bit_exact():
    require_simulator("verilator")
    r = runner.run("gelu", vectors=10_000, seed=2026)  # build/rtl: the compiled model is cached by its Verilog
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (10_000, 0, 0)
    assert r["cycles"] == r["predicted_cycles"] == (r["beats"] + 1) // 2 + 2


@pytest.mark.slow
def test_testbench_catches_a_wrong_table(rtl_build):
    """A DUT whose table entries have one fraction bit fewer must be caught."""
    require_simulator("verilator")
    r = runner.run(
        "gelu",
        ["gelu.units=4"],
        vectors=2000,
        seed=4,
        build_root=rtl_build,
        dut_sets=["numerics.gelu.table_fmt=ap_ufixed<21,0,AP_TRN,AP_SAT>"],
    )
    assert r["mismatches"] > 0


@pytest.mark.slow
def test_icarus_bit_exact(rtl_build):
    require_simulator("icarus")
    r = runner.run("gelu", ["gelu.units=4"], sim="icarus", vectors=3000, seed=11, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (3000, 0, 0)


def test_lint_clean(tmp_path):
    """verilator -Wall finds nothing but the generator-style warning kinds (testbench/lint.py)."""
    from attnkit.testbench.lint import GENERATOR_STYLE, lint

    kinds = lint("gelu", [], tmp_path)
    assert set(kinds) <= GENERATOR_STYLE, {k: n for k, n in kinds.items() if k not in GENERATOR_STYLE}
