"""The reciprocal unit in RTL, the twin of :mod:`attnkit.models.recip`, bit for bit.

:class:`RecipMantissa` is ``1/m`` for ``m`` in ``[1, 2)`` (raw in
``work_fmt``): the seed ROM (``lib.memory.Memory``) and ``iters``
Newton-Raphson steps, one pipeline stage per product, as
:func:`attnkit.models.recip.recip_mantissa`. The attention row unit feeds it
a value it has already normalised with :func:`leading_one`.

:class:`Recip` is the whole unit, ``1/x`` for raw ``x`` of ``p.in_fmt`` into
``p.out_fmt`` (:func:`attnkit.models.recip.recip`, ``big`` shift and ``x <= 0``
cases included), a fixed-latency stream pipeline (:mod:`attnkit.hw.pipeline`):

- ``i``: ``In(stream.Signature(in_fmt))``, ``o``: ``Out(stream.Signature(out_fmt))``;
- ``LATENCY = 3 + 2 * iters`` cycles from an input taken to its output offered
  (the leading-one normalisation stage, :class:`RecipMantissa`, the output
  shift stage); the pipeline holds while ``o`` is offered and not taken.
"""

from __future__ import annotations

from amaranth.hdl import Const, EnableInserter, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.hw.fixed import resize, saturate_or_wrap, shape_of, shift_signed_var
from attnkit.hw.pipeline import stream_pipeline
from attnkit.models.recip import seed_table
from attnkit.params.numerics import RecipParams


def leading_one(m: Module, x, name: str = "lod") -> Signal:
    """``bit_length(x) - 1`` of an unsigned value (0 for 0): a priority encoder."""
    width = len(x)
    z = Signal(range(max(2, width)), name=name)
    for k in range(width):  # the last assignment (highest set bit) wins
        with m.If(x[k]):
            m.d.comb += z.eq(k)
    return z


class RecipMantissa(wiring.Component):
    """``y = 1/m`` raw in ``p.work_fmt`` for ``m`` in [1, 2) raw in ``p.work_fmt``."""

    def __init__(self, p: RecipParams):
        self.p = p
        self.LATENCY = p.mantissa_latency
        super().__init__(
            {
                "i": In(stream.Signature(shape_of(p.work_fmt))),
                "o": Out(stream.Signature(shape_of(p.work_fmt))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, w = self.p, self.p.work_fmt
        table = [int(v) for v in seed_table(p)]
        m.submodules.rom = rom = Memory(shape=unsigned(p.seed_fmt.width), depth=len(table), init=table)
        rd = rom.read_port()

        core = Module()
        i = (self.i.p >> (w.frac_bits - p.seed_bits)) - (1 << p.seed_bits)
        top = (1 << p.seed_bits) - 1
        core.d.comb += rd.addr.eq(Mux(i < 0, 0, Mux(i > top, top, i)))
        m_s = Signal(shape_of(w), name="m_s0")
        core.d.sync += m_s.eq(self.i.p)
        y = Signal(shape_of(w), name="y0")
        core.d.comb += y.eq(resize(rd.data, p.seed_fmt, w))
        two = Const(2 << w.frac_bits, unsigned(w.width + 2))
        for k in range(p.iters):
            e, m_e, y_e = (
                Signal(shape_of(w), name=f"e{k}"),
                Signal(shape_of(w), name=f"m_e{k}"),
                Signal(shape_of(w), name=f"y_e{k}"),
            )
            core.d.sync += [e.eq(resize(m_s * y, w.with_(frac_bits=2 * w.frac_bits), w)), m_e.eq(m_s), y_e.eq(y)]
            y_n, m_n = Signal(shape_of(w), name=f"y{k + 1}"), Signal(shape_of(w), name=f"m_s{k + 1}")
            core.d.sync += [y_n.eq(resize(y_e * (two - e), w.with_(frac_bits=2 * w.frac_bits), w)), m_n.eq(m_e)]
            y, m_s = y_n, m_n
        core.d.comb += self.o.p.eq(y)

        advance, _ = stream_pipeline(m, self, self.LATENCY)
        m.submodules.core = EnableInserter(advance)(core)
        m.d.comb += rd.en.eq(advance)
        return m


class Recip(wiring.Component):
    """``1/x`` for raw ``x`` of ``p.in_fmt``, raw in ``p.out_fmt``; ``x <= 0`` gives ``out_fmt``'s
    maximum. Stages: normalise (leading one, ``m`` in [1, 2) in ``work_fmt``), :class:`RecipMantissa`
    (its ``z`` and ``x > 0`` carried beside it), shift ``y * 2^(fi - z)`` into ``out_fmt``."""

    def __init__(self, p: RecipParams):
        self.p = p
        self.mantissa = RecipMantissa(p)
        self.LATENCY = 1 + self.mantissa.LATENCY + 1
        super().__init__(
            {
                "i": In(stream.Signature(shape_of(p.in_fmt))),
                "o": Out(stream.Signature(shape_of(p.out_fmt))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, fin, out = self.p, self.p.in_fmt, self.p.out_fmt
        w, ww = p.work_fmt.frac_bits, p.work_fmt.width
        m.submodules.mantissa = rc = self.mantissa
        iw = fin.width

        # -- normalise: z = bit_length(x) - 1, m = x * 2^(w - z) truncated, as models.recip.recip ----
        x = self.i.p
        pos = x > 0
        xs = Mux(pos, x.as_unsigned(), 1)[:iw]
        z = leading_one(m, xs, "z")
        lz = Signal(range(max(2, iw)), name="lz")
        m.d.comb += lz.eq((iw - 1) - z)
        aligned = (xs << lz)[:iw]  # the leading one at bit iw - 1
        mant = aligned >> (iw - 1 - w) if iw - 1 > w else aligned << (w - (iw - 1))
        v1, m1, z1, pos1 = Signal(), Signal(shape_of(p.work_fmt)), Signal.like(z, name="z1"), Signal()
        advance1 = ~v1 | rc.i.ready
        m.d.comb += [self.i.ready.eq(advance1), rc.i.valid.eq(v1), rc.i.p.eq(m1)]
        with m.If(advance1):
            m.d.sync += [v1.eq(self.i.valid), m1.eq(mant), z1.eq(z), pos1.eq(pos)]

        # -- z and x > 0 ride beside the mantissa pipeline, moving when it moves ---------------------
        advance_rc = ~rc.o.valid | rc.o.ready
        zk, pk = z1, pos1
        for k in range(rc.LATENCY):
            zn, pn = Signal.like(z, name=f"z_s{k}"), Signal(name=f"pos_s{k}")
            with m.If(advance_rc):
                m.d.sync += [zn.eq(zk), pn.eq(pk)]
            zk, pk = zn, pn

        # -- 1/x = y * 2^(fi - z): y has w fraction bits, the output out.frac_bits ------------------
        const = w - out.frac_bits - fin.frac_bits
        sh_bits = max(abs(const), abs(const + iw)).bit_length() + 2
        sh = Signal(signed(sh_bits))
        m.d.comb += sh.eq(const + zk)
        big = sh < -(62 - ww)  # the model's shift limit; its result is out_fmt's maximum
        max_left = max(0, min(-const, 62 - ww))
        # signed, so saturation's lower bound is no constant comparison of an unsigned value (lint)
        shifted = shift_signed_var(rc.o.p + Const(0, signed(2)), sh, ww + 2, out.rounding, max_left=max_left)
        res = Mux(pk & ~big, saturate_or_wrap(shifted, out), Const(out.max_raw, shape_of(out)))
        advance_out = ~self.o.valid | self.o.ready
        with m.If(advance_out):
            m.d.sync += [self.o.valid.eq(rc.o.valid), self.o.p.eq(res)]
        m.d.comb += rc.o.ready.eq(advance_out)
        return m
