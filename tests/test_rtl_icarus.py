"""The LeanAttention blocks under Icarus, the second HDL simulator: the same testbenches, the same
golden values and the same predicted cycles as under Verilator (issue 12's simulator agreement)."""

from __future__ import annotations

import pytest

from attnkit.testbench import runner, toolchain

pytestmark = pytest.mark.rtl


@pytest.mark.parametrize("block, vectors", [("merge", 2000), ("decode", 4)])
def test_icarus_agrees_with_the_golden_model_and_the_cycle_model(block, vectors, rtl_build):
    reason = toolchain.unavailable_reason("icarus")
    if reason:
        pytest.skip(f"icarus: {reason}")
    r = runner.run(block, sim="icarus", vectors=vectors, seed=5, build_root=rtl_build)
    assert r["vectors"] == vectors and r["mismatches"] == 0
    assert r["cycles"] == r["predicted_cycles"]
