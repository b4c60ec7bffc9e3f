"""The Verilated (and, where installed, Icarus) MAC against its golden model, through the CLI's runner."""

import pytest
from conftest import require_simulator

from attnkit.testbench import runner

pytestmark = pytest.mark.rtl


def test_verilator_every_operand_pair_bit_exact(rtl_build):
    """66,000 inputs: the corner runs, then all 2^16 pairs of 8-bit operands in accumulations of 1..32."""
    require_simulator("verilator")
    r = runner.run("mac", vectors=66_000, seed=2026, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (66_000, 0, 0)
    assert r["operand_pairs_covered"] == 1.0
    assert r["cycles"] == r["predicted_cycles"]


def test_verilator_wrap_truncate_single_stage(rtl_build):
    require_simulator("verilator")
    sets = ["acc_fmt.overflow=AP_WRAP", "acc_fmt.rounding=AP_TRN", "acc_fmt.int_bits=5", "pipeline=1"]
    r = runner.run("mac", sets, vectors=3000, seed=9, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (3000, 0, 0)


def test_icarus_10k_vectors_bit_exact(rtl_build):
    require_simulator("icarus")
    r = runner.run("mac", sim="icarus", vectors=10_000, seed=2026, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (10_000, 0, 0)


def test_testbench_catches_a_wrong_dut(rtl_build):
    """A DUT that wraps where the golden model saturates must be caught."""
    require_simulator("verilator")
    r = runner.run("mac", vectors=2000, seed=4, build_root=rtl_build, dut_sets=["acc_fmt.overflow=AP_WRAP"])
    assert r["mismatches"] > 0
