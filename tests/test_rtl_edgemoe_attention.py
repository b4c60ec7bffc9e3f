"""Edge-MoE's reordered attention unit in RTL (hw/edgemoe_attention.py) against the golden attention
(models/edgemoe_golden.py) and the HLS kernel (hls/attention.cpp), bit for bit, and against the engine's closed
form (params.edgemoe.attention_cycles), cycle for cycle: under Amaranth's simulator, Verilator and Icarus,
through the CLI's runner."""

import re
import subprocess

import numpy as np
import pytest
from conftest import require_simulator

from attnkit.errors import AttnkitError
from attnkit.hw import blocks
from attnkit.hw.mutate import Stuck
from attnkit.models.edgemoe_golden import attention, scores
from attnkit.params.edgemoe import (
    ATTN_DEPTH,
    EdgeMoeParams,
    attention_av_cycles,
    attention_cycles,
    attention_qk_cycles,
)
from attnkit.sim.engines.edgemoe import derive
from attnkit.testbench import pysim, runner, streams
from attnkit.testbench.edgemoe_attention_tb import AttentionBench, chained_cycles, golden_params, make_call, mask_parts

pytestmark = pytest.mark.rtl

# Three unit sizes (lanes x dims): the shipped 4 x 8 (the block file: 2 heads of 64, calls of up to 12 tokens),
# and two more, each with a problem small enough to simulate and long enough to chain calls
UNITS = {
    "4x8": [],
    "2x4": ["attention.lanes=2", "attention.dims=4", "head_dim=16", "tokens=6"],
    "8x8": ["attention.lanes=8", "heads=1", "tokens=12"],
}


def params(sets=()):
    return blocks.get("edgemoe_attention").load_params(list(sets))


def test_closed_form():
    """L0 B + nb (2 T B + G) + Ll B + ATTN_DEPTH: M3ViT's shape, one partial block, one query, none."""
    a = EdgeMoeParams.load().arch  # 4 lanes x 8 dims; two Newton steps: G = 7 + 5
    assert attention_cycles(a, 192, 129) == 4 * 24 + 33 * (2 * 129 * 24 + 12) + 1 * 24 + ATTN_DEPTH == 204_861
    assert attention_qk_cycles(a, 192, 129) + attention_av_cycles(a, 192, 129) == 204_861
    assert attention_cycles(a, 128, 3) == 3 * 16 + (2 * 3 * 16 + 12) + 3 * 16 + ATTN_DEPTH
    assert attention_cycles(a, 128, 1) == 16 + (2 * 16 + 12) + 16 + ATTN_DEPTH
    assert attention_cycles(a, 128, 0) == 0
    assert params().cycles(9) == attention_cycles(a, 128, 9) == 4 * 16 + 3 * (2 * 9 * 16 + 12) + 16 + 9
    assert params(["numerics.recip.iters=3"]).stats_gap == 7 + 7


def test_chained_calls_save_the_first_q_rows_and_the_drains():
    p = params()
    rng = np.random.default_rng(0)
    calls = [make_call(p, j, t, rng) for j, t in enumerate((5, 12, 8))]
    ends = chained_cycles(p, calls)
    total = sum(p.cycles(c.tokens) for c in calls)
    saved = sum(min(p.lanes, c.tokens) * p.dim_blocks for c in calls[1:])  # Q rows ride on the V beats
    saved += sum((c.tokens - (p.blocks(c.tokens) - 1) * p.lanes) * p.dim_blocks + ATTN_DEPTH for c in calls[:-1])
    assert ends[-1] + 1 == total - saved
    assert ends[0] + 1 == p.cycles(5)


def test_engine_charges_the_closed_form():
    """Every attention stage of the image: Q x K and A x V are the unit's two parts for 129 tokens of 192."""
    p = EdgeMoeParams.load()
    rows = {r.stage: r for r in derive(p) if r.layer == "L0" and r.stage in ("qk", "av")}
    assert rows["qk"].loops.startswith(f"q.k {attention_qk_cycles(p.arch, 192, 129)}x1;")
    assert rows["av"].loops.startswith(f"p.v {attention_av_cycles(p.arch, 192, 129)}x1;")
    assert rows["qk"].compute + rows["av"].compute == attention_cycles(p.arch, 192, 129)


@pytest.mark.parametrize(
    "sets, message",
    [
        (["head_dim=20"], "head_dim: 20; expected a multiple of arch.attention.dims = 8"),
        (["tokens=0"], "tokens: 0; expected 1 to 4096 tokens per call (the score buffer's depth)"),
        (["heads=0"], "heads: 0; expected 1 to 64 heads"),
        (["attention.lanes=65"], "arch.attention.lanes: 65; expected 1 to 64 query lanes"),
    ],
)
def test_parameters_refused_in_one_line(sets, message):
    with pytest.raises(AttnkitError, match=re.escape(message)):
        params(sets)


def test_masked_calls_score_the_mask_code():
    """A masked call's masked queries score act_fmt's minimum against its masked keys, in every head; the
    golden model of the block is the Edge-MoE golden attention; a head too short to reach the minimum has no
    masked kind."""
    p = params()
    rng = np.random.default_rng(3)
    c = make_call(p, 4, 9, rng)
    assert c.kind == "masked"
    s = scores(c.q, c.k, golden_params(p))
    masked = s == p.numerics.act_fmt.min_raw
    assert masked.any() and (masked == masked[0]).all()  # the same (query, key) pairs in both heads
    assert (c.y == attention(c.q, c.k, c.v, golden_params(p))).all()
    assert mask_parts(params(["head_dim=16"])) is None  # 2 blocks x 1/4 < 1
    assert make_call(params(["head_dim=16"]), 4, 3, rng).kind == "normal"


def test_amaranth_simulator_bit_and_cycle_exact():
    p = params(UNITS["2x4"])
    bench = AttentionBench()
    cases = bench.cases(p, 6, 5)
    r = streams.score(bench, p, cases, pysim.run(bench, p, cases)["traces"])
    assert (r["mismatches"], r["missing"], r["latency_errors"]) == (0, 0, 0), r["first_mismatches"]
    assert r["cycles"] == r["predicted_cycles"] > 0
    assert [c.kind for c in cases] == ["single", "single", "chained", "random-flow"]


def test_verilator_200_problems_bit_and_cycle_exact(rtl_build):
    """The shipped 4 x 8 unit: 200 calls, 0 mismatches, every timed case on the closed form, every cover point
    hit (masked keys and fully masked rows among them)."""
    require_simulator("verilator")
    r = runner.run("edgemoe_attention", vectors=200, seed=2026, build_root=rtl_build)
    assert (r["vectors"], r["calls"], r["mismatches"], r["latency_errors"]) == (200, 200, 0, 0)
    assert r["cycles"] == r["predicted_cycles"] > 0 and r["unit"] == "4x8"
    assert r["masked_scores"] > 0 and r["fully_masked_rows"] > 0
    assert r["coverage_total"]["hit"] == r["coverage_total"]["declared"], r["coverage_total"]["missed"]


@pytest.mark.slow  # two more Verilator builds; the 2 x 4 unit also runs in tests/test_rtl_fast.py
@pytest.mark.parametrize("unit", ["2x4", "8x8"])
def test_verilator_cycle_exact_other_units(unit, rtl_build):
    require_simulator("verilator")
    r = runner.run("edgemoe_attention", UNITS[unit], vectors=12, seed=7, build_root=rtl_build)
    assert (r["mismatches"], r["latency_errors"]) == (0, 0), r["first_mismatches"]
    assert r["cycles"] == r["predicted_cycles"] > 0 and r["unit"] == unit


@pytest.mark.slow
def test_icarus_200_problems_bit_and_cycle_exact(rtl_build):
    """Icarus runs this unit at a few hundred cycles a second: 200 calls of the 2 x 4 unit."""
    require_simulator("icarus")
    r = runner.run("edgemoe_attention", UNITS["2x4"], sim="icarus", vectors=200, seed=2026, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (200, 0, 0)
    assert r["cycles"] == r["predicted_cycles"] > 0
    assert r["coverage_total"]["hit"] == r["coverage_total"]["declared"], r["coverage_total"]["missed"]


def test_icarus_small_unit(rtl_build):
    require_simulator("icarus")
    r = runner.run("edgemoe_attention", UNITS["2x4"], sim="icarus", vectors=10, seed=3, build_root=rtl_build)
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (10, 0, 0)
    assert r["cycles"] == r["predicted_cycles"] > 0


def test_testbench_catches_a_wrong_reciprocal(rtl_build):
    """A DUT with one Newton step fewer in its reciprocals must be caught (values, and cycles: its gap is
    two cycles shorter)."""
    require_simulator("icarus")
    r = runner.run(
        "edgemoe_attention",
        UNITS["2x4"],
        sim="icarus",
        vectors=4,
        seed=4,
        build_root=rtl_build,
        dut_sets=["numerics.recip.iters=1"],
    )
    assert r["mismatches"] > 0 and r["latency_errors"] > 0


def test_stuck_output_valid_trips_the_watchdog(rtl_build):
    require_simulator("icarus")
    r = runner.run(
        "edgemoe_attention",
        UNITS["2x4"],
        sim="icarus",
        vectors=2,
        seed=5,
        build_root=rtl_build,
        dut_wrap=lambda c: Stuck(c, "o.valid", 0),
    )
    assert re.fullmatch(
        r"edgemoe_attention: watchdog: no output for \d+ cycles \(limit \d+, from the predicted cycles\) "
        r"at cycle \d+, seed 5; waiting for edgemoe_attention\[0\]",
        r.get("watchdog", ""),
    ), r.get("watchdog")
    assert r["mismatches"] > 0


def test_lint_clean(tmp_path):
    """verilator -Wall finds nothing but the generator-style warning kinds (testbench/lint.py)."""
    from attnkit.testbench.lint import GENERATOR_STYLE, lint

    kinds = lint("edgemoe_attention", ["heads=3"], tmp_path)  # 3 heads: per-head tables not a power of two
    assert set(kinds) <= GENERATOR_STYLE, {k: n for k, n in kinds.items() if k not in GENERATOR_STYLE}


def _hls_attention(calls, p: EdgeMoeParams, tmp_path) -> list[np.ndarray]:
    """The HLS kernel (hls/attention.cpp, g++ C-simulation) on the calls' Q, K and V: its outputs per call."""
    from attnkit.hls.build import build

    exe = build("attention", p)
    ins = [np.array([len(calls)])]
    for c in calls:
        ins += [np.array([c.tokens]), c.q.ravel(), c.k.ravel(), c.v.ravel()]
    fin, fout = tmp_path / "in.bin", tmp_path / "out.bin"
    np.concatenate(ins).astype("<i8").tofile(fin)
    subprocess.run([str(exe), str(fin), str(fout)], check=True, capture_output=True)
    got = np.fromfile(fout, dtype="<i8")
    return np.split(got, np.cumsum([c.q.size for c in calls])[:-1])


def test_hls_rtl_and_golden_agree_on_the_same_inputs(rtl_build, tmp_path):
    """M3ViT's attention (3 heads of 64) on the shipped 4 x 8 unit: the calls of one seeded run (every kind:
    wrapping, extremes, equal keys, masked keys) through the HLS kernel (g++), the RTL (Icarus) and the golden
    model: all three equal."""
    require_simulator("icarus")
    sets = ["heads=3", "tokens=5"]
    p = params(sets)
    cases = AttentionBench().cases(p, 5, 11)
    calls = [c for case in cases for c in case.info["calls"]]
    assert {c.kind for c in calls} == {"normal", "wide", "extremes", "equal-rows", "masked"}
    m3vit = EdgeMoeParams.load()
    hls = _hls_attention(calls, m3vit, tmp_path)
    for c, h in zip(calls, hls):
        assert (c.y == attention(c.q, c.k, c.v, m3vit)).all()
        assert (h == c.y.ravel()).all()
    r = runner.run("edgemoe_attention", sets, sim="icarus", vectors=5, seed=11, build_root=rtl_build)
    assert (r["vectors"], r["calls"], r["mismatches"], r["latency_errors"]) == (5, 5, 0, 0)


@pytest.mark.slow
def test_m3vit_attention_takes_the_engines_attention_stages(rtl_build):
    """One call at M3ViT's shape (3 heads of 64, 129 tokens) on the shipped 4 x 8 unit, Verilated (--fast
    harness): bit-exact, and its first beat to last output is the engine's qk plus av stage compute,
    204,861 cycles."""
    from attnkit.testbench import fast

    require_simulator("verilator")
    p = params(["heads=3", "tokens=129"])
    bench = AttentionBench()
    case = bench._case(p, [make_call(p, 0, 129, np.random.default_rng(2026))], "single")
    binary, _ = fast.build("edgemoe_attention", p, rtl_build)
    lay_in, lay_out = streams.width(bench.in_layout(p)), streams.width(bench.out_layout(p))
    tr = fast.simulate(binary, [case], lay_in, lay_out, 10**6)["traces"][0]
    r = streams.score(bench, p, [case], [tr])
    assert (r["mismatches"], r["missing"], r["latency_errors"]) == (0, 0, 0)
    rows = {row.stage: row for row in derive(EdgeMoeParams.load()) if row.layer == "L0"}
    assert tr.span == p.cycles(129) == rows["qk"].compute + rows["av"].compute == 204_861
