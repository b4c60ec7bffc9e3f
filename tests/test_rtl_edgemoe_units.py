"""What Edge-MoE's two RTL units share, tested alike on both (hw/edgemoe_linear.py, hw/edgemoe_attention.py):
bit- and cycle-exact under Amaranth's simulator, Verilator and Icarus at several sizes, and a wrong DUT caught.
What is each unit's own (its closed form, its refusals, its golden and HLS checks, the engine's stages) lives in
test_rtl_edgemoe_linear.py and test_rtl_edgemoe_attention.py; a stuck DUT stopped by the watchdog in
test_tb_watchdogs.py, lint in test_lint.py, as for every block."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from conftest import require_simulator
from helpers import EDGEMOE_SMALL

from attnkit.hw import blocks
from attnkit.testbench import pysim, runner, streams

pytestmark = pytest.mark.rtl


@dataclass(frozen=True)
class Unit:
    shipped: str  # the block file's size (in x out lanes, or lanes x dims)
    sizes: dict[str, list[str]]  # more sizes: their --set edits, each small enough to simulate in seconds
    small: str  # the size the Icarus tests run
    pysim: tuple[str, ...]  # the sizes Amaranth's simulator runs
    wrong_dut: list[str]  # a DUT built with these edits must disagree with the testbench
    wrong_cycles: bool  # ... in its cycles too
    slow_sizes: tuple[str, ...] = ()  # of ``sizes``, those only `make test-slow` runs under Verilator
    holds: Callable[[dict], bool] = lambda r: True  # of every run's summary
    shipped_holds: Callable[[dict], bool] = lambda r: True  # of the shipped size's 200 calls
    small_covers: bool = False  # 200 calls of the small size hit every cover point


UNITS = {
    # gelu.units = out_size: one GELU lane per output
    "edgemoe_linear": Unit(
        shipped="16x16",
        sizes={
            "2x2": ["linear.in_size=2", "linear.out_size=2", "gelu.units=2", "in_dim=8", "out_dim=6"],
            "4x8": ["linear.in_size=4", "linear.out_size=8", "gelu.units=8"],
            "8x8": EDGEMOE_SMALL["edgemoe_linear"],
        },
        small="8x8",
        slow_sizes=("8x8",),  # make test runs it under Icarus, and Verilated in test_rtl_fast.py
        pysim=("2x2", "4x8"),
        wrong_dut=["numerics.weight_fmt=ap_fixed<16,1,AP_TRN,AP_WRAP>"],  # one more fraction bit dropped
        wrong_cycles=False,
        holds=lambda r: r["overlapped_load_beats"] == r["pingpong_load_beats"] > 0,  # every ping-pong load hidden
    ),
    # the shipped 4 x 8: 2 heads of 64, calls of up to 12 tokens
    "edgemoe_attention": Unit(
        shipped="4x8",
        sizes={
            "2x4": EDGEMOE_SMALL["edgemoe_attention"],
            "1x8": ["attention.lanes=1", "heads=1", "tokens=5"],  # one query lane: the narrowest unit
            "8x8": ["attention.lanes=8", "heads=1", "tokens=12"],
        },
        slow_sizes=("2x4", "8x8"),  # 2x4: as linear's 8x8; 8x8: 16 exp tables, the suite's costliest build
        small="2x4",
        pysim=("2x4",),
        wrong_dut=["numerics.recip.iters=1"],  # one Newton step fewer: values, and a gap two cycles shorter
        wrong_cycles=True,
        shipped_holds=lambda r: r["masked_scores"] > 0 and r["fully_masked_rows"] > 0,
        small_covers=True,
    ),
}


def _exact(block: str, r: dict) -> None:
    # a runner record counts missing outputs among its mismatches; a scored trace (Amaranth) has both keys
    assert (r["mismatches"], r.get("missing", 0), r["latency_errors"]) == (0, 0, 0), r.get("first_mismatches")
    assert r["cycles"] == r["predicted_cycles"] > 0
    assert UNITS[block].holds(r)


def _small(block: str) -> list[str]:
    u = UNITS[block]
    return u.sizes[u.small]


@pytest.mark.parametrize("block,size", [(b, s) for b, u in UNITS.items() for s in u.pysim])
def test_amaranth_simulator_bit_and_cycle_exact(block, size):
    p = blocks.get(block).load_params(UNITS[block].sizes[size])
    bench = streams.bench_of(blocks.get(block))
    cases = bench.cases(p, 6, 5)
    _exact(block, streams.score(bench, p, cases, pysim.run(bench, p, cases)["traces"]))


@pytest.mark.parametrize("block", UNITS)
def test_verilator_200_calls_bit_and_cycle_exact(block, rtl_build):
    """The shipped size: 200 calls, 0 mismatches, every timed case on the closed form, every cover point hit."""
    require_simulator("verilator")
    r = runner.run(block, vectors=200, seed=2026, build_root=rtl_build)
    assert (r["vectors"], r["calls"]) == (200, 200) and r["unit"] == UNITS[block].shipped
    _exact(block, r)
    assert UNITS[block].shipped_holds(r)
    assert r["coverage_total"]["hit"] == r["coverage_total"]["declared"], r["coverage_total"]["missed"]


@pytest.mark.parametrize(
    "block,size",
    [
        pytest.param(b, s, marks=[pytest.mark.slow] if s in u.slow_sizes else [])
        for b, u in UNITS.items()
        for s in u.sizes
    ],
)
def test_verilator_cycle_exact_other_sizes(block, size, rtl_build):
    require_simulator("verilator")
    r = runner.run(block, UNITS[block].sizes[size], vectors=12, seed=7, build_root=rtl_build)
    _exact(block, r)
    assert r["unit"] == size


@pytest.mark.parametrize("block", UNITS)
def test_icarus_200_calls_bit_and_cycle_exact(block, rtl_build):
    """The small size under Icarus (a few hundred cycles a second at the shipped sizes)."""
    require_simulator("icarus")
    r = runner.run(block, _small(block), sim="icarus", vectors=200, seed=2026, build_root=rtl_build)
    assert r["vectors"] == 200
    _exact(block, r)
    if UNITS[block].small_covers:
        assert r["coverage_total"]["hit"] == r["coverage_total"]["declared"], r["coverage_total"]["missed"]


@pytest.mark.parametrize("block", UNITS)
def test_testbench_catches_a_wrong_dut(block, rtl_build):
    require_simulator("icarus")
    u = UNITS[block]
    r = runner.run(block, _small(block), sim="icarus", vectors=4, seed=4, build_root=rtl_build, dut_sets=u.wrong_dut)
    assert r["mismatches"] > 0
    assert (r["latency_errors"] > 0) == u.wrong_cycles


def one_call_fast(block: str, p, call, rtl_build):
    """One call through the Verilated unit (--fast harness), scored: its trace, after checking it bit-exact."""
    from attnkit.testbench import fast

    require_simulator("verilator")
    bench = streams.bench_of(blocks.get(block))
    case = bench._case(p, [call], "single")
    binary, _ = fast.build(block, p, rtl_build)
    lay_in, lay_out = streams.width(bench.in_layout(p)), streams.width(bench.out_layout(p))
    tr = fast.simulate(binary, [case], lay_in, lay_out, 10**6)["traces"][0]
    r = streams.score(bench, p, [case], [tr])
    assert (r["mismatches"], r["missing"], r["latency_errors"]) == (0, 0, 0)
    return tr
