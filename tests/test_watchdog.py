"""A DUT that stops producing outputs fails its testbench within the watchdog, never hangs (issue 12).

The faults are made by wrapping the built block (:class:`attnkit.hw.mutate.Stuck`), so the design
itself is untouched: an output valid stuck low (rows never come out) and an input ready stuck low
(the engine never takes a problem).
"""

from __future__ import annotations

import re

import pytest

from attnkit.hw.mutate import Stuck
from attnkit.testbench import runner

pytestmark = pytest.mark.rtl

SMALL = ["array_2d.rows=2", "array_2d.cols=2", "workload.head_dim=8", "workload.seq_len=6"]


@pytest.mark.parametrize("port", ["o.valid", pytest.param("i.ready", marks=pytest.mark.slow)])
def test_attention_dut_that_stops_fails_within_the_watchdog(port, rtl_build):
    from attnkit.hw import blocks
    from attnkit.sim.engines.rtl_attention import cycles as predict

    # under Icarus, as every block's stuck-valid test (test_tb_watchdogs.py): the watchdog is the testbench's
    r = runner.run(
        "attention", SMALL, sim="icarus", vectors=3, seed=11, build_root=rtl_build, dut_wrap=lambda c: Stuck(c, port)
    )
    msg = r["watchdog"]
    assert msg.startswith("attention: watchdog:") and "seed 11" in msg
    if port == "o.valid":  # no row ever comes out: the first problem's 6 rows are missing
        assert "waiting for attention[0]" in msg and r["mismatches"] == 6
    else:  # the source holds beat 0 while i.ready reads low, which the inner engine takes again and again
        assert r["mismatches"] > 0
    limit = 2 * predict(blocks.get("attention").load_params(SMALL), "event") + 1000
    gap = int(re.search(r"no output for (\d+) cycles", msg).group(1))
    assert limit < gap <= limit + 256  # it fires within one watchdog step of the limit, from the last output
