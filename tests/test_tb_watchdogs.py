"""Every stream testbench (mac, gelu, softmax, merge, decode, edgemoe_linear, edgemoe_attention) fails within its watchdog when the DUT's output
valid is stuck low, with the one line naming the block, the seed, the cycle and the output awaited
(issue 12); the healthy DUT never trips it. Under Icarus: each build takes under a second."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import EDGEMOE_SMALL

from attnkit.hw.mutate import Stuck
from attnkit.testbench import runner, toolchain

pytestmark = [
    pytest.mark.rtl,
    pytest.mark.skipif(bool(toolchain.unavailable_reason("icarus")), reason="Icarus not available"),
]
BUILD = Path(__file__).resolve().parents[1] / "build" / "rtl" / "test_tb_watchdogs"
VALID = {
    "mac": "acc_valid",
    "gelu": "o.valid",
    "softmax": "o.valid",
    "merge": "o.valid",
    "decode": "o.valid",
    "edgemoe_linear": "o.valid",
    "edgemoe_attention": "o.valid",
}
VECTORS = {
    "mac": 2000,
    "gelu": 400,
    "softmax": 400,
    "merge": 200,
    "decode": 2,
    "edgemoe_linear": 2,
    "edgemoe_attention": 1,
}
SETS = EDGEMOE_SMALL  # Edge-MoE's units at a small size: the shipped ones take seconds to build


@pytest.mark.parametrize("block", sorted(VALID))
def test_stuck_output_valid_fails_with_the_watchdog_line(block):
    r = runner.run(
        block,
        SETS.get(block, []),
        sim="icarus",
        vectors=VECTORS[block],
        seed=5,
        build_root=BUILD,
        dut_wrap=lambda c: Stuck(c, VALID[block], 0),
    )
    msg = r.get("watchdog", "")
    stream = "acc" if block == "mac" else block  # the scoreboard names the awaited stream (mac's: its accumulator)
    assert re.fullmatch(
        rf"{block}: watchdog: no output for \d+ cycles \(limit \d+, from the predicted cycles\) "
        rf"at cycle \d+, seed 5; waiting for {stream}\[0\]",
        msg,
    ), msg
    assert r["mismatches"] > 0
    limit = int(re.search(r"limit (\d+)", msg).group(1))
    assert int(re.search(r"at cycle (\d+)", msg).group(1)) <= limit + 256 + 50  # one watchdog step, the reset


@pytest.mark.slow
@pytest.mark.parametrize("block", sorted(VALID))
def test_a_healthy_dut_passes(block):
    r = runner.run(block, SETS.get(block, []), sim="icarus", vectors=VECTORS[block], seed=5, build_root=BUILD)
    assert "watchdog" not in r and r["mismatches"] == 0 and not r.get("latency_errors")
