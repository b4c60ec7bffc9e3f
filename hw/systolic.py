"""An R x C systolic array of MAC PEs that runs both products of attention.

Rows are keys of a tile, columns are queries of a block (FuseMax's binding).
Every PE sees a skewed wave: operand ``x`` (a K or V element) and its
control enter row ``r`` at the left and move one PE right per cycle; in a QK
wave a Q element enters column ``c`` at the top and moves one PE down per
cycle, so PE(r, c) meets K[r, e] and Q[c, e] in the same cycle.

- QK wave (output-stationary): ``acc = sum_e x * q``, with the MAC PE's
  arithmetic (:mod:`attnkit.models.mac`): each product converted to the
  accumulator format, each sum converted by its overflow mode. A ``done``
  pulse marks the cycle the finished score is in ``acc``.
- PV wave (weight-stationary): each PE holds a probability in one of two
  slots (ping-pong, so the next tile's probabilities can be written while the
  current ones are used); partial sums flow down the column,
  ``psum_out = psum_in + x * p``, so the bottom of column ``c`` yields
  ``sum_r p[r, c] * V[r, f]`` for ``f = 0, 1, ...``: the column reduction.

The column max and sum reductions of the scores are in
:mod:`attnkit.hw.row_unit` (they need the exp unit between them).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from attnkit.hw.fixed import resize, saturate_or_wrap, shape_of
from attnkit.models.fixed import QFormat

QK, PV = 0, 1


# Control that travels with ``x`` along a row. first/last: first and last element of a QK dot
# product (the accumulator restarts / the score is final the next cycle); slot: PV's probability slot.
Ctl = data.StructLayout({"valid": 1, "mode": 1, "first": 1, "last": 1, "slot": 1})


@dataclass(frozen=True)
class ArrayFormats:
    """Formats the array computes in (all taken from the golden numerics)."""
    q: QFormat
    k: QFormat
    v: QFormat
    p: QFormat          # probabilities held in the PEs
    score_acc: QFormat  # QK accumulator
    pv_acc: QFormat     # PV partial sums

    @property
    def x_width(self) -> int:
        return max(self.k.width, self.v.width)

    @property
    def b_width(self) -> int:
        return max(self.q.width, self.p.width)


def _product(fa: QFormat, fb: QFormat) -> QFormat:
    return QFormat(True, fa.int_bits + fb.int_bits, fa.frac_bits + fb.frac_bits)


class SystolicPE(wiring.Component):
    """One PE: a multiplier shared by the QK accumulation and the PV partial sum."""

    def __init__(self, f: ArrayFormats):
        self.f = f
        super().__init__({
            "x_in": In(signed(f.x_width)), "ctl_in": In(Ctl),
            "x_out": Out(signed(f.x_width)), "ctl_out": Out(Ctl),
            "q_in": In(shape_of(f.q)), "q_out": Out(shape_of(f.q)),
            "psum_in": In(shape_of(f.pv_acc)), "psum_out": Out(shape_of(f.pv_acc)),
            "acc": Out(shape_of(f.score_acc)), "done": Out(1),
            "p_we": In(1), "p_slot": In(1), "p_data": In(shape_of(f.p)),
        })

    def elaborate(self, platform):
        m = Module()
        f = self.f
        p_slots = Array(Signal(shape_of(f.p), name=f"p{i}") for i in range(2))
        with m.If(self.p_we):
            m.d.sync += p_slots[self.p_slot].eq(self.p_data)

        ctl = self.ctl_in
        m.d.sync += [self.x_out.eq(self.x_in), self.ctl_out.eq(ctl), self.q_out.eq(self.q_in)]
        k = v = self.x_in  # K and V arrive sign-extended to the wider of the two
        qk_prod = Signal(shape_of(f.score_acc))
        pv_prod = Signal(shape_of(f.pv_acc))
        m.d.comb += [
            qk_prod.eq(resize(k * self.q_in, _product(f.k, f.q), f.score_acc)),
            pv_prod.eq(resize(v * p_slots[ctl.slot], _product(f.v, f.p), f.pv_acc)),
        ]
        m.d.sync += self.done.eq(ctl.valid & (ctl.mode == QK) & ctl.last)
        with m.If(ctl.valid & (ctl.mode == QK)):
            with m.If(ctl.first):
                m.d.sync += self.acc.eq(qk_prod)
            with m.Else():
                m.d.sync += self.acc.eq(saturate_or_wrap(self.acc + qk_prod, f.score_acc))
        with m.If(ctl.valid & (ctl.mode == PV)):
            m.d.sync += self.psum_out.eq(saturate_or_wrap(self.psum_in + pv_prod, f.pv_acc))
        with m.Else():
            m.d.sync += self.psum_out.eq(0)
        return m


class SystolicArray(wiring.Component):
    """``rows`` x ``cols`` PEs. Row inputs ``x[r]``/``ctl[r]`` and column inputs ``q[c]`` must be
    skewed by the caller (row ``r`` and column ``c`` one cycle later than row/column 0)."""

    def __init__(self, rows: int, cols: int, f: ArrayFormats):
        self.rows, self.cols, self.f = rows, cols, f
        super().__init__({
            "x": In(signed(f.x_width)).array(rows), "ctl": In(Ctl).array(rows),
            "q": In(shape_of(f.q)).array(cols),
            "psum": Out(shape_of(f.pv_acc)).array(cols),       # bottom of each column
            "psum_valid": Out(1).array(cols),
            "acc": Out(shape_of(f.score_acc)).array(cols, rows),  # acc[c][r]
            "done": Out(1).array(cols),                          # the last row of column c finished a score
            "p_we": In(1).array(cols, rows), "p_slot": In(1).array(cols), "p_data": In(shape_of(f.p)).array(cols),
        })

    def elaborate(self, platform):
        m = Module()
        R, C = self.rows, self.cols
        pe = [[SystolicPE(self.f) for _ in range(C)] for _ in range(R)]
        for r in range(R):
            for c in range(C):
                m.submodules[f"pe_{r}_{c}"] = p = pe[r][c]
                left_x, left_ctl = (self.x[r], self.ctl[r]) if c == 0 else (pe[r][c - 1].x_out, pe[r][c - 1].ctl_out)
                top_q, top_psum = (self.q[c], 0) if r == 0 else (pe[r - 1][c].q_out, pe[r - 1][c].psum_out)
                m.d.comb += [
                    p.x_in.eq(left_x), p.ctl_in.eq(left_ctl), p.q_in.eq(top_q), p.psum_in.eq(top_psum),
                    p.p_we.eq(self.p_we[c][r]), p.p_slot.eq(self.p_slot[c]), p.p_data.eq(self.p_data[c]),
                    self.acc[c][r].eq(p.acc),
                ]
            # the bottom PE's psum is valid one cycle after it saw a PV beat
        for c in range(C):
            last = pe[R - 1][c]
            valid = Signal(name=f"psum_valid_{c}")
            m.d.sync += valid.eq(last.ctl_in.valid & (last.ctl_in.mode == PV))
            m.d.comb += [self.psum[c].eq(last.psum_out), self.psum_valid[c].eq(valid), self.done[c].eq(last.done)]
        return m
