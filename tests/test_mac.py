"""The MAC PE: golden model against a scalar reference, and the RTL in Amaranth's simulator."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from attnkit.hw.mac import Mac
from attnkit.models.mac import mac
from attnkit.params import config
from attnkit.params.fixed import Overflow, QFormat, Rounding
from attnkit.params.numerics import MacParams
from attnkit.testbench.mac_tb import stimulus

PARAMS = [
    MacParams(),
    MacParams(acc_fmt=QFormat(True, 6, 6, Rounding.AP_TRN, Overflow.AP_WRAP), pipeline=1),
    MacParams(
        in_fmt=QFormat(True, 2, 10), acc_fmt=QFormat(True, 9, 13, Rounding.AP_RND_CONV, Overflow.AP_SAT), pipeline=3
    ),
]


def scalar_reference(a, b, first, p: MacParams):
    """One input at a time with Python integers: the obvious reading of the spec."""
    fa, fo = p.in_fmt, p.acc_fmt
    shift = 2 * fa.frac_bits - fo.frac_bits

    def fit(v):
        if fo.overflow is Overflow.AP_SAT:
            return min(max(v, fo.min_raw), fo.max_raw)
        v &= (1 << fo.width) - 1
        return v - (1 << fo.width) if v > fo.max_raw else v

    def round_(v):
        if shift <= 0:
            return v << -shift
        q, r = divmod(v, 1 << shift)  # floor division
        half = 1 << (shift - 1)
        if fo.rounding is Rounding.AP_TRN:
            return q
        if fo.rounding is Rounding.AP_RND:
            return q + (r >= half)
        return q + (r > half or (r == half and q % 2 == 1))

    out, acc = [], 0
    for i, (x, y, f) in enumerate(zip(a.tolist(), b.tolist(), first.tolist())):
        prod = fit(round_(x * y))
        acc = prod if (f or i == 0) else fit(acc + prod)
        out.append(acc)
    return out


@pytest.mark.parametrize("p", PARAMS)
def test_golden_equals_scalar_reference(p):
    s = stimulus(p, 3000, np.random.default_rng(3))
    assert mac(s.a, s.b, s.first, p).tolist() == scalar_reference(s.a, s.b, s.first, p)


def test_corner_cases_reach_the_accumulator_limit():
    p = MacParams()
    s = stimulus(p, 400, np.random.default_rng(0))
    acc = mac(s.a, s.b, s.first, p)
    assert acc.max() == p.acc_fmt.max_raw  # saturated


@pytest.mark.parametrize("p", PARAMS)
def test_rtl_in_amaranth_simulator(p):
    s = stimulus(p, 600, np.random.default_rng(5))
    expected = mac(s.a, s.b, s.first, p).tolist()
    dut = Mac(p)
    got = []

    async def bench(ctx):
        for k in range(s.a.size + p.pipeline + 1):
            if k < s.a.size:
                for _ in range(int(s.idle[k])):
                    ctx.set(dut.valid, 0)
                    await ctx.tick()
                    if ctx.get(dut.acc_valid):
                        got.append(ctx.get(dut.acc))
                ctx.set(dut.a, int(s.a[k]))
                ctx.set(dut.b, int(s.b[k]))
                ctx.set(dut.first, int(s.first[k]))
                ctx.set(dut.valid, 1)
            else:
                ctx.set(dut.valid, 0)
            await ctx.tick()
            if ctx.get(dut.acc_valid):
                got.append(ctx.get(dut.acc))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == expected


def test_params_refuse_impossible_values():
    from attnkit.errors import ConfigError

    with pytest.raises(ConfigError, match="pipeline: 0 stages"):
        config.build(MacParams, {"pipeline": 0}, "x.yaml")
    with pytest.raises(ConfigError, match="in_fmt.signed: the MAC PE takes signed inputs"):
        config.build(MacParams, {"in_fmt": {"signed": False}}, "x.yaml")
