"""Edge-MoE's reordered attention unit in RTL (hw/edgemoe_attention.py) against the golden attention
(models/edgemoe_golden.py) and the HLS kernel (hls/attention.cpp), bit for bit, and against the engine's closed
form (params.edgemoe.attention_cycles), cycle for cycle; what both units share (the simulators, the sizes, a
wrong DUT, the watchdog, lint) is tested in test_rtl_edgemoe_units.py."""

import numpy as np
import pytest
from conftest import require_simulator
from helpers import assert_refused
from test_rtl_edgemoe_units import one_call_fast

from attnkit.errors import AttnkitError
from attnkit.hw import blocks
from attnkit.models.edgemoe_golden import attention, scores
from attnkit.params.edgemoe import (
    ATTN_DEPTH,
    EdgeMoeParams,
    attention_av_cycles,
    attention_cycles,
    attention_qk_cycles,
)
from attnkit.sim.engines.edgemoe import derive
from attnkit.testbench import runner
from attnkit.testbench.edgemoe_attention_tb import AttentionBench, chained_cycles, golden_params, make_call, mask_parts

pytestmark = pytest.mark.rtl


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


REFUSED = [
    (["head_dim=20"], "head_dim: 20; expected a multiple of arch.attention.dims = 8"),
    (["tokens=0"], "tokens: 0; expected 1 to 4096 tokens per call (the score buffer's depth)"),
    (["heads=0"], "heads: 0; expected 1 to 64 heads"),
    (["attention.lanes=65"], "arch.attention.lanes: 65; expected 1 to 64 query lanes"),
]


@pytest.mark.parametrize("sets, message", REFUSED)
def test_parameters_refused_in_one_line(sets, message):
    assert_refused("edgemoe_attention", AttnkitError, sets, message)


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


def _hls_attention(calls, p: EdgeMoeParams) -> list[np.ndarray]:
    """The HLS kernel (hls/attention.cpp, g++ C-simulation) on the calls' Q, K and V: its outputs per call."""
    from attnkit.hls.build import build
    from attnkit.hls.csim import run_harness

    ins = [[len(calls)]] + [x for c in calls for x in ([c.tokens], c.q, c.k, c.v)]
    got = run_harness("attention", build("attention", p), ins)
    return np.split(got, np.cumsum([c.q.size for c in calls])[:-1])


def test_hls_rtl_and_golden_agree_on_the_same_inputs(rtl_build):
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
    hls = _hls_attention(calls, m3vit)
    for c, h in zip(calls, hls):
        assert (c.y == attention(c.q, c.k, c.v, m3vit)).all()
        assert (h == c.y.ravel()).all()
    r = runner.run("edgemoe_attention", sets, sim="icarus", vectors=5, seed=11, build_root=rtl_build)
    assert (r["vectors"], r["calls"], r["mismatches"], r["latency_errors"]) == (5, 5, 0, 0)


def test_m3vit_attention_takes_the_engines_attention_stages(rtl_build):
    """One call at M3ViT's shape (3 heads of 64, 129 tokens) on the shipped 4 x 8 unit, Verilated (--fast
    harness): bit-exact, and its first beat to last output is the engine's qk plus av stage compute,
    204,861 cycles."""
    p = params(["heads=3", "tokens=129"])
    tr = one_call_fast("edgemoe_attention", p, make_call(p, 0, 129, np.random.default_rng(2026)), rtl_build)
    rows = {row.stage: row for row in derive(EdgeMoeParams.load()) if row.layer == "L0"}
    assert tr.span == p.cycles(129) == rows["qk"].compute + rows["av"].compute == 204_861
