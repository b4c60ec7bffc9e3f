"""The attention engine's units and the whole engine in Amaranth's simulator, and its simulator engine."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from attnkit.errors import ConfigError
from attnkit.hw.exp import Exp
from attnkit.hw.recip import RecipMantissa
from attnkit.models.exp import exp
from attnkit.models.recip import recip_mantissa
from attnkit.params import kinds
from attnkit.params.numerics import ExpParams, RecipParams
from attnkit.sim import engines
from attnkit.sim.engines.rtl_attention import cycles, params_of
from attnkit.testbench import pysim, streams
from attnkit.testbench.attention_tb import BENCHES


def _stream(dut, xs):
    got = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        for k in range(len(xs) + 12):
            ctx.set(dut.i.valid, int(k < len(xs)))
            ctx.set(dut.i.p, int(xs[min(k, len(xs) - 1)]))
            await ctx.tick()
            if ctx.get(dut.o.valid):
                got.append(ctx.get(dut.o.p))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("p", [ExpParams(), ExpParams(table_bits=3)])
def test_exp_unit_equals_golden(p):
    rng = np.random.default_rng(0)
    xs = np.concatenate(
        [[p.in_fmt.min_raw, -1, 0, 1, p.in_fmt.max_raw], rng.integers(p.in_fmt.min_raw, p.in_fmt.max_raw + 1, 1500)]
    )
    assert _stream(Exp(p), xs) == exp(xs, p).tolist()


@pytest.mark.parametrize("p", [RecipParams(), RecipParams(iters=2, seed_bits=5)])
def test_recip_unit_equals_golden(p):
    w = p.work_fmt.frac_bits
    xs = np.concatenate([[1 << w, (2 << w) - 1], np.random.default_rng(1).integers(1 << w, 2 << w, 1000)])
    assert _stream(RecipMantissa(p), xs) == recip_mantissa(xs, p).tolist()


def _params(R, C, d, n, causal=False):
    return api_params(
        [
            "array_2d.rows=%d" % R,
            "array_2d.cols=%d" % C,
            "workload.head_dim=%d" % d,
            "workload.seq_len=%d" % n,
            "workload.causal=%s" % str(causal).lower(),
        ]
    )


def api_params(sets):
    from attnkit.hw import blocks

    return blocks.get("attention").load_params(sets)


@pytest.mark.parametrize("shape", [(2, 2, 8, 5, False), (3, 2, 8, 7, True), (4, 4, 8, 9, False)])
def test_engine_in_amaranth_is_bit_and_cycle_exact(shape):
    p = _params(*shape)
    bench = BENCHES["attention"]
    cases = bench.cases(p, 4, seed=7)  # the four kinds, golden outputs, no back-pressure
    r = streams.score(bench, p, cases, pysim.run(bench, p, cases)["traces"])
    assert (r["checked"], r["mismatches"], r["missing"]) == (4, 0, 0), r["first_mismatches"]
    assert r["cycles_per_problem"] == [cycles(p, "event")] and r["latency_errors"] == 0


@pytest.mark.parametrize(
    "R,C,d,n",
    [(2, 2, 8, 1), (2, 2, 8, 256), (4, 4, 16, 72), (4, 3, 8, 50), (8, 8, 8, 129), (8, 8, 32, 256), (2, 8, 16, 33)],
)
def test_event_and_closed_form_agree(R, C, d, n):
    p = _params(R, C, d, n)
    assert cycles(p, "event") == cycles(p, "closed")


def test_steady_state_utilisation_at_16R():
    for R in (2, 4, 8):
        for d in (8, 32):
            r = engines.simulate(
                "rtl-attention-%dx%d" % (R, R),
                "rtl-attention",
                sets=["workload.seq_len=%d" % (16 * R), "workload.head_dim=%d" % d],
            )
            assert r.extra["steady_util_2d"] >= 0.9, (R, d, r.extra)


def test_simulate_command_runs_the_shipped_configs():
    r = engines.simulate("rtl-attention-4x4", "rtl-attention", mode="event")
    assert r.engine == "rtl-attention" and r.cycles == cycles(
        params_of(kinds.load_arch("rtl-attention-4x4"), kinds.load_workload("rtl-attention"))
    )


def test_impossible_configs_are_refused():
    with pytest.raises(ConfigError, match="workload.head_dim"):
        api_params(["array_2d.rows=8", "workload.head_dim=4"])
    with pytest.raises(ConfigError, match="unknown key"):
        api_params(["workload.head_dims=4"])
