"""The systolic array alone in Amaranth's simulator: skewed QK and PV waves against exact integer sums."""

import numpy as np
from amaranth.sim import Simulator

from attnkit.hw.systolic import PV, QK, ArrayFormats, SystolicArray

F = ArrayFormats(in_width=8, acc_width=8 + 8 + 4, e_width=6, spread=9, psum_width=8 + 6 + 1 + 9 + 3)


def test_qk_then_pv_waves():
    R, C, d = 3, 2, 5
    rng = np.random.default_rng(1)
    lo, hi = -(1 << (F.in_width - 1)), (1 << (F.in_width - 1)) - 1
    K, Q, V = rng.integers(lo, hi + 1, (R, d)), rng.integers(lo, hi + 1, (C, d)), rng.integers(lo, hi + 1, (R, d))
    K[0, :], Q[0, :] = lo, lo  # the largest products
    E = rng.integers(0, 1 << F.e_width, (R, C))
    SH = rng.integers(0, F.spread + 1, (R, C))
    SH[0, 0] = 0
    dut = SystolicArray(R, C, F)
    got_acc, got_psum = {c: [] for c in range(C)}, {c: [] for c in range(C)}

    async def bench(ctx):
        for c in range(C):  # probabilities into slot 1, all rows of a column at once
            ctx.set(dut.p_we[c], 1)
            ctx.set(dut.p_slot[c], 1)
            for r in range(R):
                ctx.set(dut.p_e[c][r], int(E[r, c]))
                ctx.set(dut.p_sh[c][r], int(SH[r, c]))
        await ctx.tick()
        for c in range(C):
            ctx.set(dut.p_we[c], 0)
        # one wave: d QK beats, then d PV beats; row r and column c are delayed by r and c cycles
        beats = [(QK, e) for e in range(d)] + [(PV, f) for f in range(d)]
        done_at = {}
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
                if 0 <= t - c < d:
                    ctx.set(dut.q[c], int(Q[c, t - c]))
            await ctx.tick()
            for c in range(C):
                if ctx.get(dut.done[c]):
                    done_at[c] = 0
                if c in done_at and done_at[c] < R:  # row r's score is final r cycles after row 0's
                    got_acc[c].append(ctx.get(dut.acc[c][done_at[c]]))
                    done_at[c] += 1
                if ctx.get(dut.psum_valid[c]):
                    got_psum[c].append(ctx.get(dut.psum[c]))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for c in range(C):
        assert got_acc[c] == (K @ Q[c]).tolist()
        want = sum((V[r] * E[r, c]) << (F.spread - SH[r, c]) for r in range(R))
        assert got_psum[c] == want.tolist()
