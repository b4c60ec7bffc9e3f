"""The fused attention engine in RTL: Q/K/V/mask buffers, a controller, the systolic array and the row unit.

``O = softmax(Q K^T / sqrt(d)) V`` for a whole prefill problem (N queries
against N keys, head dim d), with the 1-pass cascade of the golden model
:func:`attnkit.models.attention.attention`, bit for bit.

Interfaces (``lib.stream``):

- ``i``: the problem, one row per beat: N rows of Q, N of K, N of V (d values
  of ``in_fmt`` each, element ``e`` at bits ``[e W, (e+1) W)``), then N mask
  rows (bit ``k`` of row ``q``: query ``q`` may see key ``k``).
- ``o``: N output rows in query order, d values of ``out_fmt`` each.

The controller runs the schedule of :mod:`attnkit.params.rtl_attention`: slots
of d cycles, QK of tile ``t`` in slot ``2t`` and PV of tile ``t`` in slot
``2t + 3``; a causal problem's blocks skip the key tiles the mask empties. Each row of the array reads its own bank of K and V (key ``k``
is in bank ``k mod R``), each column its bank of Q, one cycle later than the
row or column before (the systolic skew). The running sum and output
accumulators are exact (Kulisch) by default, or finite with
``numerics.acc_frac_bits`` fraction bits and ``numerics.acc_rounding`` (the
golden model's :func:`attnkit.models.attention.finite_sums`). Nothing inside waits: the only
flow control is that the whole core stops while an output row is offered and
not taken, so a slow consumer delays the engine without changing any value.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, EnableInserter, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.hw.exp import Exp2Mantissa
from attnkit.hw.row_unit import RowLane, last_key_tile
from attnkit.hw.systolic import PV, QK, ArrayFormats, SystolicArray
from attnkit.params.rtl_attention import RtlAttentionParams


def check_timing(p: RtlAttentionParams) -> None:
    """The row unit's fixed offsets must fit the schedule (the schedule never waits for it)."""
    lm, lr = Exp2Mantissa.LATENCY, p.numerics.recip.mantissa_latency
    d, R = p.head_dim, p.rows
    # probabilities written at u = d + R + lm + 1, read by the PV wave from u = 3d
    if d + R + lm + 2 > 3 * d:
        raise ValueError(f"R = {R}, d = {d}: the exp unit's results arrive after the PV wave starts")
    # 1/l ready (u = d + R + lm + 3 + lr) before the last tile's RNV update (u = 3d + R)
    if d + R + lm + 4 + lr > 3 * d + R:
        raise ValueError(f"d = {d}: the reciprocal unit's result arrives after the output stage starts")


class AttentionEngine(wiring.Component):
    def __init__(self, p: RtlAttentionParams):
        self.p = p
        check_timing(p)
        ow = p.numerics.out_fmt.width
        super().__init__(
            {
                "i": In(stream.Signature(unsigned(p.payload_width))),
                "o": Out(stream.Signature(unsigned(p.head_dim * ow))),
                "busy_cycles": Out(32),  # cycles in which the controller issued a wave beat
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.p
        R, C, d, N, J, B, T = p.rows, p.cols, p.head_dim, p.seq_len, p.tiles_per_block, p.blocks, p.tiles
        W = p.in_width
        core = Module()
        core_en = Signal()

        # ---- buffers: Q by column bank, K and V by row bank, one row of d values per word
        def bank(name, depth):
            mem = Memory(shape=unsigned(d * W), depth=max(2, depth), init=[0] * max(2, depth))
            core.submodules[name] = mem
            return mem, mem.write_port(), mem.read_port()

        qb = [bank(f"q{c}", B) for c in range(C)]
        kb = [bank(f"k{r}", J) for r in range(R)]
        vb = [bank(f"v{r}", J) for r in range(R)]

        # ---- load: 4 sections of N rows
        LOAD, RUN, DRAIN = 0, 1, 2
        state = Signal(2)
        sec = Signal(2)
        qbank, qaddr = Signal(range(max(2, C))), Signal(range(max(2, B)))
        kbank, kaddr = Signal(range(max(2, R))), Signal(range(max(2, J)))
        row = Signal(range(max(2, N)))
        take = Signal()
        core.d.comb += [self.i.ready.eq((state == LOAD) & core_en), take.eq(self.i.valid & (state == LOAD))]
        word = self.i.p[: d * W]
        for c, (_, wp, _) in enumerate(qb):
            core.d.comb += [wp.addr.eq(qaddr), wp.data.eq(word), wp.en.eq(take & (sec == 0) & (qbank == c))]
        for r in range(R):
            for s_idx, (_, wp, _) in ((1, kb[r]), (2, vb[r])):
                core.d.comb += [wp.addr.eq(kaddr), wp.data.eq(word), wp.en.eq(take & (sec == s_idx) & (kbank == r))]
        with core.If(take):
            last_row = row == N - 1
            core.d.sync += row.eq(Mux(last_row, 0, row + 1))
            wrap_q = last_row | (qbank == C - 1)
            core.d.sync += [
                qbank.eq(Mux(wrap_q, 0, qbank + 1)),
                qaddr.eq(Mux(last_row, 0, Mux(wrap_q, qaddr + 1, qaddr))),
            ]
            wrap_k = last_row | (kbank == R - 1)
            core.d.sync += [
                kbank.eq(Mux(wrap_k, 0, kbank + 1)),
                kaddr.eq(Mux(last_row, 0, Mux(wrap_k, kaddr + 1, kaddr))),
            ]
            with core.If(last_row):
                core.d.sync += sec.eq(sec + 1)
                with core.If(sec == 3):
                    core.d.sync += state.eq(RUN)

        # ---- controller: slots of d cycles
        desc_layout = data.StructLayout(
            {
                "valid": 1,
                "mode": 1,
                "first": 1,
                "last": 1,
                "slot": 1,
                "e": range(max(2, d)),
                "j": range(max(2, J)),
                "b": range(max(2, B)),
            }
        )
        e = Signal(range(max(2, d)))
        slot = Signal(range(p.slots + 1))
        jq, bq, jp = Signal(range(max(2, J))), Signal(range(max(2, B))), Signal(range(max(2, J)))
        bp = Signal(range(max(2, B)))  # PV's block: a causal block's key tiles end at J_b (last_key_tile)
        par_q, par_p = Signal(), Signal()  # tile parity: free-running across problems, as the row unit's
        desc = Signal(desc_layout)
        is_qk = (state == RUN) & ~slot[0] & (slot < 2 * T)
        is_pv = (state == RUN) & slot[0] & (slot >= 3)
        core.d.comb += [
            desc.valid.eq(is_qk | is_pv),
            desc.mode.eq(Mux(is_pv, PV, QK)),
            desc.first.eq(e == 0),
            desc.last.eq(e == d - 1),
            desc.slot.eq(Mux(is_pv, par_p, par_q)),
            desc.e.eq(e),
            desc.j.eq(Mux(is_pv, jp, jq)),
            desc.b.eq(bq),
        ]
        with core.If(state == RUN):
            core.d.sync += e.eq(Mux(e == d - 1, 0, e + 1))
            with core.If(e == d - 1):
                core.d.sync += slot.eq(slot + 1)
                with core.If(is_qk):
                    q_last = last_key_tile(p, jq, bq)
                    core.d.sync += [jq.eq(Mux(q_last, 0, jq + 1)), par_q.eq(~par_q)]
                    with core.If(q_last):
                        core.d.sync += bq.eq(Mux(bq == B - 1, 0, bq + 1))
                with core.If(is_pv):
                    p_last = last_key_tile(p, jp, bp)
                    core.d.sync += [jp.eq(Mux(p_last, 0, jp + 1)), par_p.eq(~par_p)]
                    with core.If(p_last):
                        core.d.sync += bp.eq(Mux(bp == B - 1, 0, bp + 1))
                with core.If(slot == p.slots - 1):
                    core.d.sync += [state.eq(DRAIN), slot.eq(0)]
        busy = Signal(32)
        core.d.sync += busy.eq(busy + desc.valid)
        m.d.comb += self.busy_cycles.eq(busy)

        # ---- skew: descriptor delayed k cycles for row/column k
        dl = [desc]
        for k in range(max(R, C) + 1):
            nxt = Signal(desc_layout, name=f"desc_d{k + 1}")
            core.d.sync += nxt.eq(dl[-1])
            dl.append(nxt)

        fmts = ArrayFormats(
            in_width=W,
            acc_width=p.acc_width,
            e_width=p.e_width,
            spread=p.spread,
            psum_width=p.psum_width,
            acc_frac_bits=p.numerics.acc_frac_bits,
            mantissa_bits=p.numerics.mantissa_bits,
            rounding=p.numerics.acc_rounding,
        )
        core.submodules.array = arr = SystolicArray(R, C, fmts)
        for r in range(R):
            (_, _, krd), (_, _, vrd) = kb[r], vb[r]
            core.d.comb += [krd.addr.eq(dl[r].j), vrd.addr.eq(dl[r].j)]
            dn = dl[r + 1]
            src = Mux(dn.mode == PV, vrd.data, krd.data)
            core.d.comb += [
                arr.x[r].eq(src.word_select(dn.e, W).as_signed()),
                arr.ctl[r].eq(Cat(dn.valid, dn.mode, dn.first, dn.last, dn.slot)),
            ]
        for c in range(C):
            _, _, qrd = qb[c]
            core.d.comb += [qrd.addr.eq(dl[c].b), arr.q[c].eq(qrd.data.word_select(dl[c + 1].e, W).as_signed())]

        # ---- row unit: one lane per column
        lanes = []
        for c in range(C):
            core.submodules[f"lane{c}"] = lane = RowLane(p, c)
            lanes.append(lane)
            core.d.comb += [
                lane.done.eq(arr.done[c]),
                lane.psum.eq(arr.psum[c]),
                lane.psum_valid.eq(arr.psum_valid[c]),
                arr.p_we[c].eq(lane.p_we),
                arr.p_slot[c].eq(lane.p_slot),
                lane.mask_we.eq(take & (sec == 3) & (qbank == c)),
                lane.mask_addr.eq(qaddr),
                lane.mask_data.eq(self.i.p[: J * R]),
            ]
            for r in range(R):
                core.d.comb += [
                    lane.acc[r].eq(arr.acc[c][r]),
                    arr.p_e[c][r].eq(lane.p_e[r]),
                    arr.p_sh[c][r].eq(lane.p_sh[r]),
                ]

        # ---- output: one row register per lane, emitted in query order; the core stops while one waits
        full = Array(Signal(name=f"full{c}") for c in range(C))
        rows = Array(Signal(unsigned(d * p.numerics.out_fmt.width), name=f"row{c}") for c in range(C))
        cur = Signal(range(max(2, C)))
        eb = Signal(range(max(2, B)))  # block being emitted
        emitted = Signal(range(N + 1))
        for c, lane in enumerate(lanes):
            with m.If(lane.row_last & core_en):
                m.d.sync += [full[c].eq(1), rows[c].eq(Cat(*lane.out_row))]
        m.d.comb += [self.o.valid.eq(full[cur]), self.o.p.eq(rows[cur]), core_en.eq(~(self.o.valid & ~self.o.ready))]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += emitted.eq(emitted + 1)
            for c in range(C):
                with m.If(cur == c):
                    m.d.sync += full[c].eq(0)
            last_in_block = (cur == C - 1) | (eb * C + cur == N - 1)
            m.d.sync += cur.eq(Mux(last_in_block, 0, cur + 1))
            with m.If(last_in_block):
                m.d.sync += eb.eq(Mux(eb == B - 1, 0, eb + 1))
        with core.If((state == DRAIN) & (emitted == N)):
            core.d.sync += state.eq(LOAD)
        with m.If((state == DRAIN) & (emitted == N) & core_en):
            m.d.sync += emitted.eq(0)

        m.submodules.core = EnableInserter(core_en)(core)
        return m
