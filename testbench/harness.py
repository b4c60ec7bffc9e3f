"""What every cocotb testbench shares: its configuration, clock and reset, and its result file.

The runner (:mod:`attnkit.testbench.runner`) passes the configuration in the
``ATTNKIT_TB`` environment variable as JSON: the block's parameters (plain
data of its parameter dataclass), the number of vectors, the seed, and the
path where the testbench writes its result.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles

from attnkit import config


@dataclass
class TbConfig:
    params: Any
    vectors: int
    seed: int
    result_path: Path

    @classmethod
    def from_env(cls, params_cls: type) -> "TbConfig":
        raw = json.loads(os.environ["ATTNKIT_TB"])
        return cls(config.build(params_cls, raw["params"], "testbench"), raw["vectors"], raw["seed"],
                   Path(raw["result"]))

    def write_result(self, **fields) -> None:
        self.result_path.write_text(json.dumps(fields, indent=1))


async def start(dut, inputs: dict[str, int], period_ns: int = 10, reset_cycles: int = 2) -> None:
    """Drive ``inputs`` (every input port but clk/rst) to idle values, start the clock
    (in the simulator, not in Python) and pulse reset. Undriven inputs would be Z
    under four-state simulators such as Icarus."""
    for name, value in inputs.items():
        getattr(dut, name).value = value
    Clock(dut.clk, period_ns, unit="ns", impl="gpi").start()
    dut.rst.value = 1
    await ClockCycles(dut.clk, reset_cycles)
    dut.rst.value = 0


def finish(dut, tb: TbConfig, scoreboard, **extra) -> None:
    """Write the result file (``extra`` adds or overrides fields) and fail the cocotb test
    if the scoreboard saw a mismatch or a missing output."""
    tb.write_result(**{**scoreboard.result(), **extra})
    r = scoreboard.result()
    assert scoreboard.passed, f"{r['mismatches']} mismatches, {r['missing']} outputs missing: {r['first_mismatches'][:3]}"


__all__ = ["TbConfig", "start", "finish", "cocotb"]
