"""The exp unit in RTL, the twin of :mod:`attnkit.models.exp`, bit for bit.

:class:`Exp2` is ``2^y`` for ``y <= 0`` (raw, ``frac_bits`` fraction bits)
converted into an output format: the integer part becomes a right shift, the
fraction indexes a ``2^table_bits + 1`` entry ROM (``lib.memory.Memory``, two
read ports for the interpolation's two neighbours). :class:`Exp` puts the
``x * log2(e)`` product in front, as :func:`attnkit.models.exp.exp` does.
Both are pipelines with a fixed latency (``LATENCY`` cycles from an input
to its output) behind ``lib.stream`` interfaces; the pipeline stalls while
the output is offered and not taken.

:class:`Exp` is the ``exp`` block (:mod:`attnkit.hw.blocks`):

- ``i``: ``In(stream.Signature(in_fmt))``, ``o``: ``Out(stream.Signature(out_fmt))``;
- ``LATENCY = 3``: the ``x * log2(e)`` product in the input cycle, the ROM read
  and the interpolation (``Exp2Mantissa``, 2 stages), the output shift (1
  stage); one input per cycle.
"""

from __future__ import annotations

from amaranth.hdl import Const, EnableInserter, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.hw.fixed import round_shift, saturate_or_wrap, shape_of, shift_signed_var
from attnkit.hw.pipeline import stream_pipeline
from attnkit.models.exp import exp2_table
from attnkit.params.fixed import QFormat
from attnkit.params.numerics import ExpParams


class Exp2Mantissa(wiring.Component):
    """``2^y`` for raw ``y`` (``frac_bits`` fraction bits) as mantissa ``e`` (``p.mantissa_bits``
    fraction bits, in [1, 2]) and exponent ``n = floor(y)``:
    :func:`attnkit.models.exp.exp2_mantissa`. Payload ``zero`` forces ``e = 0`` (a masked logit)."""

    LATENCY = 2

    def __init__(self, p: ExpParams, frac_bits: int, y_width: int):
        self.p, self.frac_bits, self.y_width = p, frac_bits, y_width
        if frac_bits < p.table_bits:
            raise ValueError(f"exp2 needs at least {p.table_bits} fraction bits in its argument, got {frac_bits}")
        self.n_width = max(2, y_width - frac_bits + 1)
        super().__init__(
            {
                "i": In(stream.Signature(data.StructLayout({"y": signed(y_width), "zero": 1}))),
                "o": Out(
                    stream.Signature(
                        data.StructLayout({"e": unsigned(p.table_fmt.width + 1), "n": signed(self.n_width)})
                    )
                ),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, fy = self.p, self.frac_bits
        tf = p.table_fmt
        table = [int(v) for v in exp2_table(p)]
        m.submodules.rom = rom = Memory(shape=unsigned(tf.width), depth=len(table), init=table)
        rd0, rd1 = rom.read_port(), rom.read_port()
        low = fy - p.table_bits

        core = Module()
        y = self.i.p.y
        f = y.as_unsigned()[:fy]
        i = f >> low
        n1, r1, zero1 = Signal(signed(self.n_width)), Signal(max(1, low)), Signal()
        core.d.comb += [rd0.addr.eq(i), rd1.addr.eq(i + 1)]
        core.d.sync += [n1.eq(y >> fy), r1.eq(f[:low] if low else 0), zero1.eq(self.i.p.zero)]
        t0, t1 = rd0.data + Const(0, signed(2)), rd1.data + Const(0, signed(2))  # as signed
        e = t0 + round_shift((t1 - t0) * r1, low, tf.rounding)
        core.d.sync += [self.o.p.e.eq(Mux(zero1, 0, e)), self.o.p.n.eq(n1)]

        advance, _ = stream_pipeline(m, self, self.LATENCY)
        m.submodules.core = EnableInserter(advance)(core)
        m.d.comb += [rd0.en.eq(advance), rd1.en.eq(advance)]
        return m


class Exp2(wiring.Component):
    """``2^y`` for raw ``y <= 0`` with ``frac_bits`` fraction bits, into ``out``:
    :func:`attnkit.models.exp.exp2_to` (the mantissa, then a rounding right shift by ``-n``)."""

    LATENCY = Exp2Mantissa.LATENCY + 1

    def __init__(self, p: ExpParams, frac_bits: int, y_width: int, out: QFormat):
        self.p, self.frac_bits, self.y_width, self.out = p, frac_bits, y_width, out
        super().__init__(
            {
                "i": In(stream.Signature(data.StructLayout({"y": signed(y_width), "zero": 1}))),
                "o": Out(stream.Signature(shape_of(out))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, out = self.p, self.out
        m.submodules.man = man = Exp2Mantissa(p, self.frac_bits, self.y_width)
        wiring.connect(m, wiring.flipped(self.i), man.i)
        sh = Signal(signed(man.n_width + 8))
        m.d.comb += sh.eq((p.mantissa_bits - out.frac_bits) - man.o.p.n)
        shifted = shift_signed_var(
            man.o.p.e + Const(0, signed(2)),
            sh,
            p.table_fmt.width + 2,
            out.rounding,
            max_left=max(0, out.frac_bits - p.mantissa_bits),
        )
        with m.If(~self.o.valid | self.o.ready):
            m.d.sync += [self.o.valid.eq(man.o.valid), self.o.p.eq(saturate_or_wrap(shifted, out))]
        m.d.comb += man.o.ready.eq(~self.o.valid | self.o.ready)
        return m


class Exp(wiring.Component):
    """``exp(x)`` for raw ``x`` of ``p.in_fmt`` (above 0 clamped to 0), raw in ``p.out_fmt``:
    :func:`attnkit.models.exp.exp`. The ``x * log2(e)`` product is computed in the input cycle."""

    LATENCY = Exp2.LATENCY

    def __init__(self, p: ExpParams):
        self.p = p
        super().__init__(
            {
                "i": In(stream.Signature(shape_of(p.in_fmt))),
                "o": Out(stream.Signature(shape_of(p.out_fmt))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.p
        m.submodules.exp2 = e2 = Exp2(p, p.arg_fmt.frac_bits, p.arg_fmt.width, p.out_fmt)
        x = Mux(self.i.p > 0, 0, self.i.p)
        prod_fmt = QFormat(
            True, p.in_fmt.int_bits + p.log2e_fmt.int_bits + 1, p.in_fmt.frac_bits + p.log2e_fmt.frac_bits
        )
        y = saturate_or_wrap(
            round_shift(
                x * Const(p.log2e_raw, unsigned(p.log2e_fmt.width)),
                prod_fmt.frac_bits - p.arg_fmt.frac_bits,
                p.arg_fmt.rounding,
            ),
            p.arg_fmt,
        )
        ys = Signal(shape_of(p.arg_fmt))
        m.d.comb += ys.eq(y)
        m.d.comb += [
            e2.i.valid.eq(self.i.valid),
            e2.i.p.y.eq(Mux(ys > 0, 0, ys)),
            e2.i.p.zero.eq(0),
            self.i.ready.eq(e2.i.ready),
        ]
        wiring.connect(m, e2.o, wiring.flipped(self.o))
        return m
