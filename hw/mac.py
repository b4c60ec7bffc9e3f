"""The multiply-accumulate processing element in RTL."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from attnkit.hw.fixed import resize, saturate_or_wrap, shape_of
from attnkit.params.numerics import MacParams


class Mac(wiring.Component):
    """A signed fixed-point MAC PE with ``params.pipeline`` cycles of latency.

    Ports
    -----
    a, b : in, ``params.in_fmt``
        Operands, taken in a cycle where ``valid`` is high.
    valid : in
        ``a``/``b``/``first`` hold an input this cycle.
    first : in
        This input starts a new accumulation (the accumulator is replaced, not added to).
    acc : out, ``params.acc_fmt``
        The accumulator after the input taken ``pipeline`` cycles earlier.
    acc_valid : out
        ``acc`` holds a new value this cycle.

    Values follow :func:`attnkit.models.mac.mac` bit for bit.
    """

    def __init__(self, params: MacParams):
        self.params = params
        super().__init__(
            {
                "a": In(shape_of(params.in_fmt)),
                "b": In(shape_of(params.in_fmt)),
                "valid": In(1),
                "first": In(1),
                "acc": Out(shape_of(params.acc_fmt)),
                "acc_valid": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        prod_fmt = p.in_fmt.with_(int_bits=2 * p.in_fmt.int_bits, frac_bits=2 * p.in_fmt.frac_bits)
        prod = Signal(shape_of(p.acc_fmt))
        m.d.comb += prod.eq(resize(self.a * self.b, prod_fmt, p.acc_fmt))

        # pipeline - 1 register stages carry the product, its valid and first flags.
        stage_val, stage_valid, stage_first = prod, self.valid, self.first
        for i in range(p.pipeline - 1):
            nv, nvl, nf = (
                Signal(shape_of(p.acc_fmt), name=f"prod_s{i}"),
                Signal(name=f"valid_s{i}"),
                Signal(name=f"first_s{i}"),
            )
            m.d.sync += [nv.eq(stage_val), nvl.eq(stage_valid), nf.eq(stage_first)]
            stage_val, stage_valid, stage_first = nv, nvl, nf

        m.d.sync += self.acc_valid.eq(stage_valid)
        with m.If(stage_valid):
            with m.If(stage_first):
                m.d.sync += self.acc.eq(stage_val)
            with m.Else():
                m.d.sync += self.acc.eq(saturate_or_wrap(self.acc + stage_val, p.acc_fmt))
        return m
