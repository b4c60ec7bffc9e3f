"""Edge-MoE's unified linear unit in RTL (hw/edgemoe_linear.py) against the golden linear
(models/edgemoe_golden.py), bit for bit, and against the engine's closed form (params.edgemoe.linear_cycles),
cycle for cycle; what both units share (the simulators, the sizes, a wrong DUT, the watchdog, lint) is tested
in test_rtl_edgemoe_units.py."""

import numpy as np
import pytest
from helpers import EDGEMOE_SMALL, assert_refused
from test_rtl_edgemoe_units import one_call_fast

from attnkit.errors import AttnkitError
from attnkit.hw import blocks
from attnkit.params.edgemoe import LINEAR_DEPTH, EdgeMoeParams, linear_cycles
from attnkit.sim.engines.edgemoe import derive
from attnkit.testbench.edgemoe_linear_tb import capacity, make_call, rows_to_hide, sequence

pytestmark = pytest.mark.rtl


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


REFUSED = [
    (["in_dim=24"], "in_dim: 24; expected a multiple of arch.linear.in_size = 16"),
    (["out_dim=40"], "out_dim: 40; expected a multiple of arch.linear.out_size = 16"),
    (["gelu.units=8"], "arch.gelu.units: 8; expected arch.linear.out_size = 16 (one GELU lane per output)"),
    (["in_dim=0"], "in_dim: 0; expected 1 to 4096 activations per token row"),
    (
        ["linear.in_size=3", "in_dim=48"],
        "arch.linear.in_size: 3; it and the 8 elements of an axi.bits = 256 beat must divide one another",
    ),
]


@pytest.mark.parametrize("sets, message", REFUSED)
def test_parameters_refused_in_one_line(sets, message):
    assert_refused("edgemoe_linear", AttnkitError, sets, message)


def test_pingpong_loads_fit_the_slack():
    """The ping-pong case's T hides the next load; the sequence puts C - R load beats after rows 1 .. T-2."""
    p = params()
    T = rows_to_hide(p)
    assert capacity(p, T) >= p.load_beats > capacity(p, T - 1)
    rng = np.random.default_rng(1)
    calls = [make_call(p, k, T, rng) for k in range(2)]
    _, owner = sequence(p, calls)
    assert owner.count((1, "load")) == p.load_beats and owner.count((0, "load")) == p.load_beats


def test_m3vit_q_projection_takes_the_engines_q_stage(rtl_build):
    """One call at M3ViT's Q shape (192 x 192, 129 tokens) on the shipped 16 x 16 unit, Verilated (--fast
    harness): bit-exact, and its first row to last output is the engine's q stage MAC process, 18,606 cycles."""
    p = params(["in_dim=192", "out_dim=192"])
    tr = one_call_fast("edgemoe_linear", p, make_call(p, 0, 129, np.random.default_rng(2026)), rtl_build)
    q = next(row for row in derive(EdgeMoeParams.load()) if row.layer == "L0" and row.stage == "q")
    assert tr.taken[-1] - tr.accepted[p.load_beats] + 1 == p.cycles(129) == 18_606
    assert q.loops.startswith("mac 18606x1;")


def _hls_linear(calls, p: EdgeMoeParams) -> list[np.ndarray]:
    """The HLS kernel (hls/linear.cpp, g++ C-simulation) on the calls' rows, weights and bias: its outputs per
    call."""
    from attnkit.hls.build import build
    from attnkit.hls.csim import run_harness

    ins = [[len(calls)]]
    for c in calls:
        ins += [[c.w.shape[0], c.w.shape[1], len(c.x), int(c.gelu), int(c.attn_bias)], c.x, c.w, c.b]
    got = run_harness("linear", build("linear", p), ins)
    return np.split(got, np.cumsum([c.x.shape[0] * c.w.shape[0] for c in calls])[:-1])


def test_hls_rtl_and_golden_agree_on_the_same_inputs(rtl_build):
    """An 8 x 8 unit's calls of one seeded run (every kind: wrapping, extremes, equal rows, GELU on and off,
    both bias formats) through the HLS kernel (g++), the RTL (Icarus) and the golden model: all three equal."""
    from conftest import require_simulator

    from attnkit.models.edgemoe_golden import linear
    from attnkit.testbench import runner
    from attnkit.testbench.edgemoe_linear_tb import LinearBench, golden_params

    require_simulator("icarus")
    sets = EDGEMOE_SMALL["edgemoe_linear"]
    p = params(sets)
    calls = [c for case in LinearBench().cases(p, 6, 11) for c in case.info["calls"]]
    assert {c.kind for c in calls} >= {"normal", "wide", "extremes", "equal-rows"}
    assert {c.gelu for c in calls} == {True, False} and {c.attn_bias for c in calls} == {True, False}
    g = golden_params(p)
    for c, h in zip(calls, _hls_linear(calls, EdgeMoeParams.load())):
        bias_fmt = g.numerics.attn_bias_fmt if c.attn_bias else g.numerics.bias_fmt
        assert (c.y == linear(c.x, c.w, c.b, g, bias_fmt=bias_fmt, gelu=c.gelu)).all()
        assert (h == c.y.ravel()).all()
    r = runner.run("edgemoe_linear", sets, sim="icarus", vectors=6, seed=11, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (6, 0, 0)
