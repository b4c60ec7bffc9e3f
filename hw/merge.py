"""The merge unit in RTL: two partials ``(O, m, l)`` in, one out, as :func:`attnkit.models.merge.merge`, bit for bit.

LeanAttention's online-softmax reduction with base-2 exponents: every
``e^(m_a - m)`` is an exact power of two, so the "exp" of the merge is a
right shift (rounded by ``partial_fmt.rounding``)::

    m = max(m_a, m_b)
    O = sat(O_a >> (m - m_a)  +  O_b >> (m - m_b))      per element, partial_fmt
    l = sat(l_a >> (m - m_a)  +  l_b >> (m - m_b))      partial_l_fmt

A fully masked partial (``l = 0``, ``O = 0``, ``m = e_min``) is a neutral
element of the merge; it needs no special case.

Interfaces (``lib.stream``), parameters :class:`attnkit.params.merge.MergeParams`:

- ``i``: payload ``{a: partial, b: partial}``; a partial is ``{o: head_dim x
  signed(partial_fmt.width), l: unsigned(partial_l_fmt.width), m:
  signed(logit_fmt.int_bits + 1)}``, packed LSB first (``o[0]`` at bit 0,
  then ``l``, then ``m``; ``a`` below ``b``).
- ``o``: the merged partial, same layout.

Schedule: a pipeline of ``LATENCY = 2`` stages (the maximum and the two
shift amounts, then the shifts and saturating sums), one merge per cycle
(II = 1); it stalls only while its output is offered and not taken.
:func:`merge_comb` is the same logic without registers, which the decode
engine's host uses for its fold (one merge per cycle).
"""

from __future__ import annotations

from amaranth.hdl import EnableInserter, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from attnkit.hw.fixed import saturate_or_wrap, shift_right_var
from attnkit.hw.pipeline import stream_pipeline
from attnkit.params.merge import MergeParams


def partial_layout(p: MergeParams) -> data.StructLayout:
    return data.StructLayout(
        {"o": data.ArrayLayout(signed(p.o_width), p.head_dim), "l": unsigned(p.l_width), "m": signed(p.m_width)}
    )


def _aligned(m: Module, a, b, p: MergeParams, sync: bool, name: str):
    """The common maximum and each partial's right shift (registered when ``sync``)."""
    mx = Signal(signed(p.m_width), name=f"{name}_m")
    da, db = Signal(unsigned(p.m_width + 1), name=f"{name}_da"), Signal(unsigned(p.m_width + 1), name=f"{name}_db")
    dom = m.d.sync if sync else m.d.comb
    big = Mux(a.m > b.m, a.m, b.m)
    dom += [mx.eq(big), da.eq((big - a.m).as_unsigned()), db.eq((big - b.m).as_unsigned())]
    return mx, da, db


def _sum(p: MergeParams, a, b, da, db):
    """The merged ``(o list, l)`` of two partials whose shifts are ``da``, ``db``."""
    num = p.numerics
    fo, fl = num.partial_fmt, num.partial_l_fmt
    o = [
        saturate_or_wrap(
            shift_right_var(a.o[k], da, p.o_width, fo.rounding) + shift_right_var(b.o[k], db, p.o_width, fo.rounding),
            fo,
        )
        for k in range(p.head_dim)
    ]
    l = saturate_or_wrap(
        shift_right_var(a.l, da, p.l_width, fl.rounding) + shift_right_var(b.l, db, p.l_width, fl.rounding), fl
    )
    return o, l


def merge_comb(m: Module, a, b, out, p: MergeParams, name: str = "merge") -> None:
    """Combinational merge of partial views ``a``, ``b`` into the partial signal ``out``."""
    mx, da, db = _aligned(m, a, b, p, False, name)
    o, l = _sum(p, a, b, da, db)
    m.d.comb += [out.m.eq(mx), out.l.eq(l)] + [out.o[k].eq(o[k]) for k in range(p.head_dim)]


class Merge(wiring.Component):
    LATENCY = 2

    def __init__(self, p: MergeParams):
        self.p = p
        lay = partial_layout(p)
        super().__init__(
            {
                "i": In(stream.Signature(data.StructLayout({"a": lay, "b": lay}))),
                "o": Out(stream.Signature(lay)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.p
        core = Module()
        a, b = self.i.p.a, self.i.p.b
        # stage 1: the maximum and the shifts; the operands ride along
        a1, b1 = Signal(partial_layout(p), name="a1"), Signal(partial_layout(p), name="b1")
        core.d.sync += [a1.eq(a), b1.eq(b)]
        mx, da, db = _aligned(core, a, b, p, True, "s1")
        # stage 2: shifts and saturating sums into the output register
        o, l = _sum(p, a1, b1, da, db)
        core.d.sync += [self.o.p.m.eq(mx), self.o.p.l.eq(l)] + [self.o.p.o[k].eq(o[k]) for k in range(p.head_dim)]
        advance, _ = stream_pipeline(m, self, self.LATENCY)
        m.submodules.core = EnableInserter(advance)(core)
        return m
