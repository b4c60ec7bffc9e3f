"""An R x C systolic array of MAC PEs that runs both products of attention.

Rows are keys of a tile, columns are queries of a block (FuseMax's binding).
Every PE sees a skewed wave: operand ``x`` (a K or V element) and its
control enter row ``r`` at the left and move one PE right per cycle; in a QK
wave a Q element enters column ``c`` at the top and moves one PE down per
cycle, so PE(r, c) meets K[r, e] and Q[c, e] in the same cycle.

- QK wave (output-stationary): ``acc = sum_e x * q``, exact (the golden
  model sums q.k exactly before converting it). A ``done`` pulse marks the
  cycle the finished score is in ``acc``.
- PV wave (weight-stationary): each PE holds a probability ``E * 2^-sh`` in
  one of two slots (ping-pong, so the next tile's probabilities can be
  written while the current ones are used); partial sums flow down the
  column, ``psum_out = psum_in + x * E << (spread - sh)``, so the bottom of
  column ``c`` yields ``sum_r p[r, c] * V[r, f]`` for ``f = 0, 1, ...``
  exactly: the column reduction. With finite accumulators
  (``ArrayFormats.acc_frac_bits`` = F) a PE adds ``rnd((x * E) 2^(F - Pm - sh))``
  instead, the rounding of the golden model's finite mode.

The column max and sum reductions of the scores are in
:mod:`attnkit.hw.row_unit` (they need the exp unit between them).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from attnkit.hw.fixed import shift_right_var
from attnkit.params.fixed import Rounding

QK, PV = 0, 1


# Control that travels with ``x`` along a row. first/last: first and last element of a QK dot
# product (the accumulator restarts / the score is final the next cycle); slot: PV's probability slot.
Ctl = data.StructLayout({"valid": 1, "mode": 1, "first": 1, "last": 1, "slot": 1})


@dataclass(frozen=True)
class ArrayFormats:
    """Widths of the array's exact datapath (from :class:`attnkit.params.rtl_attention.RtlAttentionParams`).

    QK: ``acc = sum_e k * q`` exactly (``acc_width`` bits). PV: a PE holds a probability as mantissa
    ``E`` (``e_width`` bits) and right shift ``sh`` (``0..spread``); it adds ``(v * E) << (spread - sh)``
    to the partial sum (``psum_width`` bits), so the column sum is exact (a Kulisch accumulator).
    """

    in_width: int
    acc_width: int
    e_width: int
    spread: int
    psum_width: int
    # Finite accumulators (AttentionNumerics.acc_frac_bits): the PE adds rnd((v * E) 2^(F - Pm - sh)) instead.
    acc_frac_bits: int | None = None
    mantissa_bits: int = 0
    rounding: Rounding = Rounding.AP_TRN

    @property
    def sh_width(self) -> int:
        return max(1, self.spread.bit_length())


class SystolicPE(wiring.Component):
    """One PE: a multiplier shared by the QK accumulation and the PV partial sum."""

    def __init__(self, f: ArrayFormats):
        self.f = f
        super().__init__(
            {
                "x_in": In(signed(f.in_width)),
                "ctl_in": In(Ctl),
                "x_out": Out(signed(f.in_width)),
                "ctl_out": Out(Ctl),
                "q_in": In(signed(f.in_width)),
                "q_out": Out(signed(f.in_width)),
                "psum_in": In(signed(f.psum_width)),
                "psum_out": Out(signed(f.psum_width)),
                "acc": Out(signed(f.acc_width)),
                "done": Out(1),
                "p_we": In(1),
                "p_slot": In(1),
                "p_e": In(unsigned(f.e_width)),
                "p_sh": In(unsigned(f.sh_width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        f = self.f
        p_e = Array(Signal(unsigned(f.e_width), name=f"p_e{i}") for i in range(2))
        p_sh = Array(Signal(unsigned(f.sh_width), name=f"p_sh{i}") for i in range(2))
        for i in range(2):  # explicit enables rather than an Array write (which exports as an incomplete case)
            with m.If(self.p_we & (self.p_slot == i)):
                m.d.sync += [p_e[i].eq(self.p_e), p_sh[i].eq(self.p_sh)]

        ctl = self.ctl_in
        m.d.sync += [self.x_out.eq(self.x_in), self.ctl_out.eq(ctl), self.q_out.eq(self.q_in)]
        # One multiplier: x * q in a QK beat, x * E in a PV beat.
        b = Mux(ctl.mode == PV, p_e[ctl.slot] + Const(0, signed(2)), self.q_in)
        prod = Signal(signed(f.in_width + max(f.in_width, f.e_width + 1)))
        m.d.comb += prod.eq(self.x_in * b)
        m.d.sync += self.done.eq(ctl.valid & (ctl.mode == QK) & ctl.last)
        with m.If(ctl.valid & (ctl.mode == QK)):
            with m.If(ctl.first):
                m.d.sync += self.acc.eq(prod)
            with m.Else():
                m.d.sync += self.acc.eq(self.acc + prod)
        if f.acc_frac_bits is None:
            aligned = prod << (f.spread - p_sh[ctl.slot])[: f.sh_width]
        else:
            up, down = max(0, f.acc_frac_bits - f.mantissa_bits), max(0, f.mantissa_bits - f.acc_frac_bits)
            aligned = shift_right_var(prod << up, p_sh[ctl.slot] + down, len(prod) + up, f.rounding)
        with m.If(ctl.valid & (ctl.mode == PV)):
            m.d.sync += self.psum_out.eq(self.psum_in + aligned)
        with m.Else():
            m.d.sync += self.psum_out.eq(0)
        return m


class SystolicArray(wiring.Component):
    """``rows`` x ``cols`` PEs. Row inputs ``x[r]``/``ctl[r]`` and column inputs ``q[c]`` must be
    skewed by the caller (row ``r`` and column ``c`` one cycle later than row/column 0)."""

    def __init__(self, rows: int, cols: int, f: ArrayFormats):
        self.rows, self.cols, self.f = rows, cols, f
        super().__init__(
            {
                "x": In(signed(f.in_width)).array(rows),
                "ctl": In(Ctl).array(rows),
                "q": In(signed(f.in_width)).array(cols),
                "psum": Out(signed(f.psum_width)).array(cols),  # bottom of each column
                "psum_valid": Out(1).array(cols),
                "acc": Out(signed(f.acc_width)).array(cols, rows),  # acc[c][r]
                "done": Out(1).array(cols),  # row 0 of column c has a finished score
                "p_we": In(1).array(cols),
                "p_slot": In(1).array(cols),
                "p_e": In(unsigned(f.e_width)).array(cols, rows),
                "p_sh": In(unsigned(f.sh_width)).array(cols, rows),
            }
        )

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
                    p.x_in.eq(left_x),
                    p.ctl_in.eq(left_ctl),
                    p.q_in.eq(top_q),
                    p.psum_in.eq(top_psum),
                    p.p_we.eq(self.p_we[c]),
                    p.p_slot.eq(self.p_slot[c]),
                    p.p_e.eq(self.p_e[c][r]),
                    p.p_sh.eq(self.p_sh[c][r]),
                    self.acc[c][r].eq(p.acc),
                ]
        for c in range(C):
            last = pe[R - 1][c]
            valid = Signal(name=f"psum_valid_{c}")  # the bottom PE's psum is valid one cycle after a PV beat
            m.d.sync += valid.eq(last.ctl_in.valid & (last.ctl_in.mode == PV))
            m.d.comb += [self.psum[c].eq(last.psum_out), self.psum_valid[c].eq(valid), self.done[c].eq(pe[0][c].done)]
        return m
