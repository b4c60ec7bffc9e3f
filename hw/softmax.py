"""Edge-MoE's online-softmax unit in RTL, the twin of :func:`attnkit.models.softmax.softmax_edgemoe`, bit for bit.

It runs on the formats of :func:`attnkit.models.edgemoe_golden.softmax_params`
(Edge-MoE's activations ``ap_fixed<32,10>`` for scores, running sum and
probabilities), which is what :func:`attnkit.models.edgemoe_golden.online_softmax`
computes. A row of scores comes in twice, as Edge-MoE streams it twice (the
Q x K pass keeps the running statistics, the attention x V pass recomputes
the probabilities):

- **pass 1**: per score ``s`` (keys in order): ``m' = max(m, s)`` (``m`` starts
  at the format minimum), ``l = tr(l * exp(m - m')) + exp(s - m')`` (``l``
  from 0). After the row's last score, ``r = recip(l)``.
- **pass 2**: per score, ``p = tr(exp(s - m) * r)``.

A score equal to the format's minimum code counts as masked (its ``exp`` is 0),
as in the golden model.

Interfaces (``lib.stream``):

- ``i``: ``s`` (raw ``numerics.in_fmt``), ``last`` (the row's last score),
  ``pass2`` (0: pass 1, 1: pass 2). Pass-2 scores use the statistics of the
  most recent row whose pass 1 has ended; each row's pass 2 must come before
  the next row's pass 1 ends.
- ``o``: ``p`` (raw ``numerics.prob_fmt``) and ``last``, one per pass-2 score,
  in order. Pass-1 scores give no output.

Timing: one score per cycle. A pass-2 score's probability is offered
``LATENCY`` = 4 cycles after it is taken (the two exp units, 3 stages, then
the product into the output register). After a pass-1 ``last`` the unit takes
no input for ``STATS_GAP`` cycles (the sum leaves the exp pipeline, then the
reciprocal: normalise, seed and Newton steps, denormalise), so a row of ``n``
scores takes ``2 n + STATS_GAP`` cycles back to back. The whole pipeline
stalls while ``o`` is offered and not taken.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from attnkit.hw.exp import Exp
from attnkit.hw.fixed import resize, saturate_or_wrap, shape_of, shift_signed_var
from attnkit.hw.recip import RecipMantissa, leading_one
from attnkit.params.edgemoe import RtlSoftmaxParams
from attnkit.params.fixed import QFormat, Rounding
from attnkit.params.numerics import SoftmaxParams

# -- the datapath, shared with the Edge-MoE attention unit (hw/edgemoe_attention.py) ------------------------


def exp_arg(n: SoftmaxParams, s, m):
    """``s - m`` of two raw scores (``n.in_fmt``), exact, then into the exp unit's input format."""
    fin = n.in_fmt
    return resize(s - m, fin.with_(int_bits=fin.int_bits + 1), n.exp.in_fmt)


def sum_step(n: SoftmaxParams, l_prev, f, e):
    """The running sum's update ``l = tr(l * f) + e`` on ``n.sum_fmt`` (``f``, ``e`` raw exp outputs)."""
    ex, sf = n.exp, n.sum_fmt
    prod = resize(l_prev * f, sf.with_(frac_bits=sf.frac_bits + ex.out_fmt.frac_bits), sf)
    return saturate_or_wrap(prod + resize(e, ex.out_fmt, sf), sf)


def probability(n: SoftmaxParams, e, r):
    """``p = e * r`` into ``n.prob_fmt`` (``e`` a raw exp output, ``r`` a raw reciprocal)."""
    ex, rp = n.exp, n.recip
    return resize(
        e * r,
        QFormat(False, ex.out_fmt.int_bits + rp.out_fmt.int_bits, ex.out_fmt.frac_bits + rp.out_fmt.frac_bits),
        n.prob_fmt,
    )


def recip_normalise(m: Module, n: SoftmaxParams, l_fin, name: str = "z"):
    """The running sum ``l_fin`` (raw ``n.sum_fmt``) for :class:`RecipMantissa`: ``(mantissa, z, l_fin > 0)``,
    ``z`` its leading one (``models.recip.recip``'s normalisation)."""
    sf, wf = n.sum_fmt, n.recip.work_fmt
    pos = l_fin > 0
    xs = Mux(pos, l_fin, 1).as_unsigned()[: sf.width]
    z = leading_one(m, xs, name)
    mant = shift_signed_var(xs, z - wf.frac_bits, sf.width, Rounding.AP_TRN, max_left=wf.frac_bits)
    return mant[: wf.width], z, pos


def recip_denormalise(m: Module, n: SoftmaxParams, y, z, pos, name: str = "sh"):
    """``1/l`` raw in ``n.recip.out_fmt`` from :class:`RecipMantissa`'s ``y`` and the ``z`` and ``pos`` of
    :func:`recip_normalise` (``l <= 0`` gives the format's maximum)."""
    rp = n.recip
    wf = rp.work_fmt
    base = wf.frac_bits - rp.out_fmt.frac_bits - rp.in_fmt.frac_bits  # the shift is base + z
    sh = Signal(signed(len(z) + abs(base).bit_length() + 2), name=name)
    m.d.comb += sh.eq(base + z)
    shifted = shift_signed_var(y, sh, wf.width, rp.out_fmt.rounding, max_left=max(0, -base))
    return Mux(pos, saturate_or_wrap(shifted, rp.out_fmt), rp.out_fmt.max_raw)


class Softmax(wiring.Component):
    LATENCY = Exp.LATENCY + 1

    def __init__(self, p: RtlSoftmaxParams):
        self.p = p
        n = p.numerics
        self.recip_latency = n.recip.mantissa_latency
        # idle cycles after a pass-1 last is taken: it leaves the exp pipeline (Exp.LATENCY), the final
        # sum is registered and handed to the mantissa unit (1), whose result is registered as r while
        # the next score can already be taken
        self.STATS_GAP = Exp.LATENCY + 1 + self.recip_latency
        super().__init__(
            {
                "i": In(stream.Signature(data.StructLayout({"s": shape_of(n.in_fmt), "last": 1, "pass2": 1}))),
                "o": Out(stream.Signature(data.StructLayout({"p": shape_of(n.prob_fmt), "last": 1}))),
            }
        )

    def row_cycles(self, n: int) -> int:
        """Cycles between the first pass-1 score of a row of ``n`` and the first of the next, back to back."""
        return 2 * n + self.STATS_GAP

    def elaborate(self, platform):
        m = Module()
        n = self.p.numerics
        fin, ex, sf, rp = n.in_fmt, n.exp, n.sum_fmt, n.recip
        W = fin.width
        MIN = Const(fin.min_raw, signed(W))

        advance = Signal()
        busy = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance & ~busy)]
        take = self.i.valid & self.i.ready

        # -- stage 0: running max, the two exp arguments ---------------------------------------
        m_run, m_row = Signal(signed(W)), Signal(signed(W), init=fin.min_raw)
        row_start = Signal(init=1)
        s, last, pass2 = self.i.p.s, self.i.p.last, self.i.p.pass2
        keep = s != MIN
        m_old = Mux(row_start, MIN, m_run)
        sk = Mux(keep, s, MIN)
        m_new = Signal(signed(W))
        m.d.comb += m_new.eq(Mux(sk > m_old, sk, m_old))
        d_f = exp_arg(n, m_old, m_new)
        d_e = exp_arg(n, s, Mux(pass2, m_row, m_new))
        with m.If(take & ~pass2):
            m.d.sync += [m_run.eq(m_new), row_start.eq(last)]
            with m.If(last):
                m.d.sync += [m_row.eq(m_new), busy.eq(1)]

        # Two exp units held in step with the side band: always fed and always drained while the
        # pipeline advances, so every stage stays full and moves exactly when `advance` is high.
        m.submodules.exp_f = exp_f = Exp(ex)
        m.submodules.exp_e = exp_e = Exp(ex)
        for unit, arg in ((exp_f, d_f), (exp_e, d_e)):
            m.d.comb += [unit.i.valid.eq(1), unit.i.p.eq(arg), unit.o.ready.eq(advance)]

        # side band: valid, pass2, last, keep, first, through Exp.LATENCY stages
        band = [(take, pass2, last, keep, row_start)]
        for k in range(Exp.LATENCY):
            regs = tuple(Signal(name=f"{nm}{k + 1}") for nm in ("v", "pass2_", "last", "keep", "first"))
            with m.If(advance):
                m.d.sync += [r.eq(x) for r, x in zip(regs, band[-1])]
            band.append(regs)
        v3, pass2_3, last3, keep3, first3 = band[-1]

        # -- stage 3: the running sum (pass 1) or the probability (pass 2) -------------------------
        f, e = exp_f.o.p, Mux(keep3, exp_e.o.p, 0)
        l_reg = Signal(shape_of(sf))
        l_prev = Mux(first3, 0, l_reg)
        l_new = Signal(shape_of(sf))
        m.d.comb += l_new.eq(sum_step(n, l_prev, f, e))
        r_reg = Signal(shape_of(rp.out_fmt))
        y = probability(n, e, r_reg)
        l_fin, go = Signal(shape_of(sf)), Signal()
        m.d.sync += go.eq(0)
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(v3 & pass2_3), self.o.p.p.eq(y), self.o.p.last.eq(last3)]
            with m.If(v3 & ~pass2_3):
                m.d.sync += l_reg.eq(l_new)
                with m.If(last3):
                    m.d.sync += [l_fin.eq(l_new), go.eq(1)]

        # -- the reciprocal of the final sum: models.recip.recip -----------------------------------
        mant, z, pos = recip_normalise(m, n, l_fin)
        m.submodules.recip = recip = RecipMantissa(rp)
        z_hold, pos_hold = Signal.like(z), Signal()
        m.d.comb += [recip.i.valid.eq(go), recip.i.p.eq(mant), recip.o.ready.eq(1)]
        with m.If(go):
            m.d.sync += [z_hold.eq(z), pos_hold.eq(pos)]
        with m.If(recip.o.valid):
            m.d.sync += [r_reg.eq(recip_denormalise(m, n, recip.o.p, z_hold, pos_hold)), busy.eq(0)]
        return m
