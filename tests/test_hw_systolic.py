"""The systolic array alone in Amaranth's simulator: skewed QK and PV waves against the MAC arithmetic."""

import numpy as np
from amaranth.sim import Simulator

from attnkit.hw.systolic import PV, QK, ArrayFormats, SystolicArray
from attnkit.models.fixed import Overflow, QFormat, Rounding, mul
from attnkit.models.mac import MacParams, mac

F = ArrayFormats(q=QFormat(True, 4, 4), k=QFormat(True, 4, 4), v=QFormat(True, 3, 5),
                 p=QFormat(False, 1, 7), score_acc=QFormat(True, 8, 6, Rounding.AP_RND, Overflow.AP_SAT),
                 pv_acc=QFormat(True, 6, 8, Rounding.AP_RND_CONV, Overflow.AP_SAT))


def _rand(rng, fmt, shape):
    return rng.integers(fmt.min_raw, fmt.max_raw + 1, shape)


def test_qk_then_pv_waves():
    R, C, d = 3, 2, 5
    rng = np.random.default_rng(1)
    K, Q, V = _rand(rng, F.k, (R, d)), _rand(rng, F.q, (C, d)), _rand(rng, F.v, (R, d))
    K[0, :] = F.k.max_raw  # drive one accumulator into saturation
    Q[0, :] = F.q.max_raw
    P = _rand(rng, F.p, (R, C))
    dut = SystolicArray(R, C, F)
    got_acc, got_psum = {}, {c: [] for c in range(C)}

    async def bench(ctx):
        for c in range(C):
            for r in range(R):
                ctx.set(dut.p_we[c][r], 0)
        # load the probabilities (slot 1) through the column write ports
        for r in range(R):
            for c in range(C):
                ctx.set(dut.p_we[c][r], 1)
                ctx.set(dut.p_slot[c], 1)
                ctx.set(dut.p_data[c], int(P[r, c]))
            await ctx.tick()
            for c in range(C):
                ctx.set(dut.p_we[c][r], 0)
        # wave: d QK beats, then d PV beats, row r / column c delayed by r / c cycles
        beats = [(QK, e) for e in range(d)] + [(PV, f) for f in range(d)]
        for t in range(len(beats) + R + C + 4):
            for r in range(R):
                i = t - r
                if 0 <= i < len(beats):
                    mode, e = beats[i]
                    ctx.set(dut.x[r], int((K if mode == QK else V)[r, e]))
                    ctx.set(dut.ctl[r], {"valid": 1, "mode": mode, "first": e == 0, "last": e == d - 1, "slot": 1})
                else:
                    ctx.set(dut.ctl[r], {"valid": 0, "mode": 0, "first": 0, "last": 0, "slot": 0})
            for c in range(C):
                i = t - c
                if 0 <= i < d:
                    ctx.set(dut.q[c], int(Q[c, i]))
            await ctx.tick()
            for c in range(C):
                if ctx.get(dut.done[c]):
                    got_acc[c] = [ctx.get(dut.acc[c][r]) for r in range(R)]
                if ctx.get(dut.psum_valid[c]):
                    got_psum[c].append(ctx.get(dut.psum[c]))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()

    mp = MacParams(in_fmt=F.q, acc_fmt=F.score_acc, pipeline=1)
    for c in range(C):
        want = [int(mac(K[r], Q[c], np.arange(d) == 0, mp)[-1]) for r in range(R)]
        assert got_acc[c] == want
    assert got_acc[0][0] == F.score_acc.max_raw  # K[0] = Q[0] = max saturates the accumulator
    for c in range(C):
        psum = np.zeros(d, np.int64)
        for r in range(R):
            psum = F.pv_acc.add(psum, mul(V[r], F.v, P[r, c], F.p, F.pv_acc))
        assert got_psum[c] == psum.tolist()
