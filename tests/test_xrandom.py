"""No RTL result depends on uninitialised state (issue 12): Verilator built with
``--x-assign unique --x-initial unique`` and run with random initial values (two seeds) gives the
default run's outputs (bit-exact against the golden model) in the same cycles, for mac and attention."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnkit.errors import AttnkitError
from attnkit.testbench import runner, toolchain

BUILD = Path(__file__).resolve().parents[1] / "build" / "rtl" / "test_xrandom"
SMALL = ["array_2d.rows=2", "array_2d.cols=2", "workload.head_dim=8", "workload.seq_len=7"]
CASES = {"mac": ([], 3000), "attention": (SMALL, 8)}


def test_x_seed_is_refused_under_icarus():
    with pytest.raises(AttnkitError, match="Verilator option"):
        runner.run("mac", sim="icarus", vectors=10, x_seed=1, build_root=BUILD)


@pytest.mark.slow
@pytest.mark.rtl
@pytest.mark.skipif(bool(toolchain.unavailable_reason("verilator")), reason="Verilator not available")
@pytest.mark.parametrize("block", sorted(CASES))
def test_random_initial_values_change_nothing(block):
    sets, vectors = CASES[block]
    base = runner.run(block, sets, vectors=vectors, seed=9, build_root=BUILD)
    assert base["mismatches"] == 0
    for x_seed in (1, 12345):
        r = runner.run(block, sets, vectors=vectors, seed=9, build_root=BUILD, x_seed=x_seed)
        assert Path(r["log"]).parents[1] != Path(base["log"]).parents[1]  # its own build, with the X options
        assert (r["vectors"], r["mismatches"], r["cycles"], r.get("latency_errors")) == (
            base["vectors"],
            0,
            base["cycles"],
            base.get("latency_errors"),
        ), x_seed
