"""The reciprocal unit in RTL, the twin of :mod:`attnkit.models.recip`, bit for bit.

:class:`RecipMantissa` is ``1/m`` for ``m`` in ``[1, 2)`` (raw in
``work_fmt``): the seed ROM (``lib.memory.Memory``) and ``iters``
Newton-Raphson steps, one pipeline stage per product, as
:func:`attnkit.models.recip.recip_mantissa`. The attention row unit feeds it
a value it has already normalised with :func:`leading_one`.
"""

from __future__ import annotations

from amaranth.hdl import Const, EnableInserter, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.hw.fixed import resize, shape_of
from attnkit.hw.pipeline import stream_pipeline
from attnkit.models.recip import RecipParams, seed_table


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
        self.LATENCY = 1 + 2 * p.iters
        super().__init__({
            "i": In(stream.Signature(shape_of(p.work_fmt))),
            "o": Out(stream.Signature(shape_of(p.work_fmt))),
        })

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
            e, m_e, y_e = Signal(shape_of(w), name=f"e{k}"), Signal(shape_of(w), name=f"m_e{k}"), \
                Signal(shape_of(w), name=f"y_e{k}")
            core.d.sync += [e.eq(resize(m_s * y, w.with_(frac_bits=2 * w.frac_bits), w)), m_e.eq(m_s), y_e.eq(y)]
            y_n, m_n = Signal(shape_of(w), name=f"y{k + 1}"), Signal(shape_of(w), name=f"m_s{k + 1}")
            core.d.sync += [y_n.eq(resize(y_e * (two - e), w.with_(frac_bits=2 * w.frac_bits), w)), m_n.eq(m_e)]
            y, m_s = y_n, m_n
        core.d.comb += self.o.p.eq(y)

        advance, _ = stream_pipeline(m, self, self.LATENCY)
        m.submodules.core = EnableInserter(advance)(core)
        m.d.comb += rd.en.eq(advance)
        return m
