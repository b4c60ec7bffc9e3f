"""What every cocotb testbench shares: its configuration, clock and reset, and its result file.

The runner (:mod:`attnkit.testbench.runner`) passes the configuration in the
``ATTNKIT_TB`` environment variable as JSON: the block's name and parameters
(plain data of its parameter dataclass), the number of vectors, the seed, and
the path where the testbench writes its result.

Every testbench arms a :class:`Watchdog` on its scoreboard, so a DUT that
stops producing outputs fails in bounded time instead of hanging.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer
from cocotb.utils import get_sim_time

from attnkit.params import config


@dataclass
class TbConfig:
    params: Any
    vectors: int
    seed: int
    result_path: Path
    block: str = "?"

    @classmethod
    def from_env(cls, params_cls: type) -> TbConfig:
        raw = json.loads(os.environ["ATTNKIT_TB"])
        return cls(
            config.build(params_cls, raw["params"], "testbench"),
            raw["vectors"],
            raw["seed"],
            Path(raw["result"]),
            raw.get("block", "?"),
        )

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


class Watchdog:
    """Fails the test when the scoreboard has checked no output for ``limit`` cycles.

    ``limit`` comes from the cycle model: a testbench passes the longest gap
    it expects between two outputs (its predicted cycles per problem, say)
    and the watchdog allows twice that plus ``margin``. When it fires it
    writes the result file (what was checked, what is missing) and fails with
    one line naming the block, the seed, the cycle and the output it was
    waiting for. It wakes every ``step`` cycles, so it costs no Python per cycle.
    """

    def __init__(
        self,
        dut,
        tb: TbConfig,
        scoreboard,
        expected_gap: int,
        margin: int = 1000,
        period_ns: int = 10,
        step: int = 256,
        extra=None,
    ):
        self.dut, self.tb, self.sb = dut, tb, scoreboard
        self.extra = extra  # () -> further result fields at the time it fires (the timing checks so far)
        self.limit = 2 * int(expected_gap) + margin
        self.period_ns, self.step = period_ns, max(1, min(step, self.limit // 4 or 1))
        self.fired: str | None = None
        self._task = cocotb.start_soon(self._watch())

    def stop(self) -> None:
        self._task.cancel()

    def _cycle(self) -> int:
        return int(get_sim_time("ns") // self.period_ns)

    async def _watch(self) -> None:
        last, since = self.sb.checked, self._cycle()
        while True:
            await Timer(self.step * self.period_ns, "ns")
            if self.sb.checked != last:
                last, since = self.sb.checked, self._cycle()
            elif self._cycle() - since > self.limit:
                break
        self.fired = (
            f"{self.tb.block}: watchdog: no output for {self._cycle() - since} cycles "
            f"(limit {self.limit}, from the predicted cycles) at cycle {self._cycle()}, seed {self.tb.seed}; "
            f"waiting for {self.sb.name}[{self.sb.checked}]"
        )
        self.dut._log.error(self.fired)
        self.sb.drop_pending(watchdog=True)
        fields = {"cycles": 0, "predicted_cycles": 0, **(self.extra() if self.extra else {})}
        self.tb.write_result(**self.sb.result(), **fields, watchdog=self.fired)
        raise AssertionError(self.fired)


def finish(dut, tb: TbConfig, scoreboard, **extra) -> None:
    """Write the result file (``extra`` adds or overrides fields) and fail the cocotb test
    if the scoreboard saw a mismatch or a missing output."""
    tb.write_result(**{**scoreboard.result(), **extra})
    r = scoreboard.result()
    assert scoreboard.passed, (
        f"{r['mismatches']} mismatches, {r['missing']} outputs missing: {r['first_mismatches'][:3]}"
    )


__all__ = ["TbConfig", "start", "finish", "cocotb"]
