"""Edge-MoE's unified linear unit in RTL (hw/edgemoe_linear.py) against the golden linear
(models/edgemoe_golden.py), bit for bit, and against the engine's closed form (params.edgemoe.linear_cycles),
cycle for cycle: under Amaranth's simulator, Verilator and Icarus, through the CLI's runner."""

import re

import numpy as np
import pytest
from conftest import require_simulator

from attnkit.errors import AttnkitError
from attnkit.hw import blocks
from attnkit.hw.mutate import Stuck
from attnkit.params.edgemoe import LINEAR_DEPTH, EdgeMoeParams, linear_cycles
from attnkit.sim.engines.edgemoe import derive
from attnkit.testbench import pysim, runner, streams
from attnkit.testbench.edgemoe_linear_tb import capacity, make_call, rows_to_hide, sequence

pytestmark = pytest.mark.rtl

# Three unit sizes beside the shipped 16 x 16 (in x out; gelu.units = out_size: one GELU lane per output)
UNITS = {
    "16x16": [],
    "4x8": ["linear.in_size=4", "linear.out_size=8", "gelu.units=8"],
    "8x8": ["linear.in_size=8", "linear.out_size=8", "gelu.units=8", "in_dim=16", "out_dim=32"],
}


def params(sets=()):
    return blocks.get("edgemoe_linear").load_params(list(sets))


def test_closed_form():
    """R + (T - 1) max(R, C) + C + LINEAR_DEPTH: compute-bound and input-bound rows, one row, none."""
    a = EdgeMoeParams.load().arch  # 16 x 16, 8 activations per 256-bit beat
    assert linear_cycles(a, 192, 192, 129) == 24 + 128 * 144 + 144 + LINEAR_DEPTH
    assert linear_cycles(a, 16, 64, 5) == 8 + 4 * 8 + 4 + LINEAR_DEPTH  # R = 8 > C = 4
    assert linear_cycles(a, 64, 32, 1) == 4 + 8 + LINEAR_DEPTH
    assert linear_cycles(a, 64, 32, 0) == 0
    assert params().cycles(3) == linear_cycles(a, 64, 32, 3)


def test_engine_charges_the_closed_form():
    """Every linear stage of the image: its MAC process is linear_cycles of its shape and rows."""
    p = EdgeMoeParams.load()
    shapes = {"q": (192, 192), "k": (192, 192), "v": (192, 192), "proj": (192, 192), "fc1": (768, 192)}
    shapes["fc2"] = (192, 768)
    rows = [r for r in derive(p) if r.layer == "L0" and r.stage in shapes]
    assert len(rows) == 6
    for r in rows:
        assert f"mac {linear_cycles(p.arch, *shapes[r.stage], 129)}x1" in r.loops


@pytest.mark.parametrize(
    "sets, message",
    [
        (["in_dim=24"], "in_dim: 24; expected a multiple of arch.linear.in_size = 16"),
        (["out_dim=40"], "out_dim: 40; expected a multiple of arch.linear.out_size = 16"),
        (["gelu.units=8"], "arch.gelu.units: 8; expected arch.linear.out_size = 16 (one GELU lane per output)"),
        (["in_dim=0"], "in_dim: 0; expected 1 to 4096 activations per token row"),
        (
            ["linear.in_size=3", "in_dim=48"],
            "arch.linear.in_size: 3; it and the 8 elements of an axi.bits = 256 beat must divide one another",
        ),
    ],
)
def test_parameters_refused_in_one_line(sets, message):
    with pytest.raises(AttnkitError, match=re.escape(message)):
        params(sets)


def test_pingpong_loads_fit_the_slack():
    """The ping-pong case's T hides the next load; the sequence puts C - R load beats after rows 1 .. T-2."""
    p = params()
    T = rows_to_hide(p)
    assert capacity(p, T) >= p.load_beats > capacity(p, T - 1)
    rng = np.random.default_rng(1)
    calls = [make_call(p, k, T, rng) for k in range(2)]
    _, owner = sequence(p, calls)
    assert owner.count((1, "load")) == p.load_beats and owner.count((0, "load")) == p.load_beats


@pytest.mark.parametrize("unit", ["2x2", "4x8"])
def test_amaranth_simulator_bit_and_cycle_exact(unit):
    sets = {"2x2": ["linear.in_size=2", "linear.out_size=2", "gelu.units=2", "in_dim=8", "out_dim=6"]}.get(
        unit, UNITS.get(unit, [])
    )
    p = params(sets)
    bench = streams.bench_of(blocks.get("edgemoe_linear"))
    cases = bench.cases(p, 10, 5)
    r = streams.score(bench, p, cases, pysim.run(bench, p, cases)["traces"])
    assert (r["mismatches"], r["missing"], r["latency_errors"]) == (0, 0, 0), r["first_mismatches"]
    assert r["cycles"] == r["predicted_cycles"] > 0
    assert r["overlapped_load_beats"] == r["pingpong_load_beats"] == 3 * p.load_beats


def test_verilator_200_problems_bit_and_cycle_exact(rtl_build):
    """The shipped 16 x 16 unit: 200 calls, 0 mismatches, every timed case on the closed form, every load of
    the ping-pong case hidden, every cover point hit."""
    require_simulator("verilator")
    r = runner.run("edgemoe_linear", vectors=200, seed=2026, build_root=rtl_build)
    assert (r["vectors"], r["calls"], r["mismatches"], r["latency_errors"]) == (200, 200, 0, 0)
    assert r["cycles"] == r["predicted_cycles"] > 0 and r["unit"] == "16x16"
    assert r["overlapped_load_beats"] == r["pingpong_load_beats"] > 0
    assert r["coverage_total"]["hit"] == r["coverage_total"]["declared"], r["coverage_total"]["missed"]


@pytest.mark.slow  # two more Verilator builds; the 8 x 8 unit also runs in tests/test_rtl_fast.py
@pytest.mark.parametrize("unit", ["4x8", "8x8"])
def test_verilator_cycle_exact_other_units(unit, rtl_build):
    require_simulator("verilator")
    r = runner.run("edgemoe_linear", UNITS[unit], vectors=12, seed=7, build_root=rtl_build)
    assert (r["mismatches"], r["latency_errors"]) == (0, 0), r["first_mismatches"]
    assert r["cycles"] == r["predicted_cycles"] > 0 and r["unit"] == unit
    assert r["overlapped_load_beats"] == r["pingpong_load_beats"] > 0


@pytest.mark.slow
def test_icarus_200_problems_bit_and_cycle_exact(rtl_build):
    require_simulator("icarus")
    r = runner.run("edgemoe_linear", sim="icarus", vectors=200, seed=2026, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (200, 0, 0)
    assert r["cycles"] == r["predicted_cycles"] > 0


def test_icarus_small_unit(rtl_build):
    require_simulator("icarus")
    r = runner.run("edgemoe_linear", UNITS["8x8"], sim="icarus", vectors=24, seed=3, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (24, 0, 0)
    assert r["cycles"] == r["predicted_cycles"] > 0


def test_testbench_catches_a_wrong_weight_format(rtl_build):
    """A DUT that drops one more fraction bit of every product must be caught."""
    require_simulator("icarus")
    r = runner.run(
        "edgemoe_linear",
        UNITS["8x8"],
        sim="icarus",
        vectors=8,
        seed=4,
        build_root=rtl_build,
        dut_sets=["numerics.weight_fmt=ap_fixed<16,1,AP_TRN,AP_WRAP>"],
    )
    assert r["mismatches"] > 0


def test_stuck_output_valid_trips_the_watchdog(rtl_build):
    require_simulator("icarus")
    r = runner.run(
        "edgemoe_linear",
        UNITS["8x8"],
        sim="icarus",
        vectors=6,
        seed=5,
        build_root=rtl_build,
        dut_wrap=lambda c: Stuck(c, "o.valid", 0),
    )
    assert re.fullmatch(
        r"edgemoe_linear: watchdog: no output for \d+ cycles \(limit \d+, from the predicted cycles\) "
        r"at cycle \d+, seed 5; waiting for edgemoe_linear\[0\]",
        r.get("watchdog", ""),
    ), r.get("watchdog")
    assert r["mismatches"] > 0


def test_lint_clean(tmp_path):
    """verilator -Wall finds nothing but the generator-style warning kinds (testbench/lint.py)."""
    from attnkit.testbench.lint import GENERATOR_STYLE, lint

    kinds = lint("edgemoe_linear", [], tmp_path)
    assert set(kinds) <= GENERATOR_STYLE, {k: n for k, n in kinds.items() if k not in GENERATOR_STYLE}


@pytest.mark.slow
def test_m3vit_q_projection_takes_the_engines_q_stage(rtl_build):
    """One call at M3ViT's Q shape (192 x 192, 129 tokens) on the shipped 16 x 16 unit, Verilated (--fast
    harness): bit-exact, and its first row to last output is the engine's q stage MAC process, 18,606 cycles."""
    from attnkit.testbench import fast
    from attnkit.testbench.edgemoe_linear_tb import LinearBench

    require_simulator("verilator")
    p = params(["in_dim=192", "out_dim=192"])
    bench = LinearBench()
    case = bench._case(p, [make_call(p, 0, 129, np.random.default_rng(2026))], "single")
    binary, _ = fast.build("edgemoe_linear", p, rtl_build)
    lay_in, lay_out = streams.width(bench.in_layout(p)), streams.width(bench.out_layout(p))
    tr = fast.simulate(binary, [case], lay_in, lay_out, 10**6)["traces"][0]
    r = streams.score(bench, p, [case], [tr])
    assert (r["mismatches"], r["missing"], r["latency_errors"]) == (0, 0, 0)
    q = next(row for row in derive(EdgeMoeParams.load()) if row.layer == "L0" and row.stage == "q")
    assert tr.taken[-1] - tr.accepted[p.load_beats] + 1 == p.cycles(129) == 18_606
    assert q.loops.startswith("mac 18606x1;")
