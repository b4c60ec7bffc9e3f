"""Edge-MoE's GELU unit in RTL, the twin of :func:`attnkit.models.gelu.gelu`, bit for bit.

``GELU(x) = ReLU(x) - delta(|x|)``: ``delta`` is read from a ROM of
``table_size`` entries (``lib.memory.Memory``, two read ports per lane for
the interpolation's two neighbours) and linearly interpolated; ``delta = 0``
from ``cutoff`` up (and for the format minimum, whose ``|x|`` wraps to itself).

Interfaces (``lib.stream``), ``L = lanes`` GELU units side by side (Edge-MoE
has 16, one per output of its linear unit):

The block is sized from the Edge-MoE arch config (``numerics.gelu``, ``gelu.units``
lanes; :func:`load`).

- ``i``: one beat carries ``L`` activations of ``numerics.act_fmt`` (raw two's
  complement), lane ``k`` at bits ``[k W, (k+1) W)``, ``W = act_fmt.width``.
- ``o``: one beat of ``L`` results of ``act_fmt``, same packing.

Latency: ``LATENCY = 2`` cycles from a beat taken on ``i`` to its result
offered on ``o`` (the ROM read, then the interpolation and the subtraction
into the output register); one beat per cycle. The pipeline stalls while
``o`` is offered and not taken (``i.ready`` low).
"""

from __future__ import annotations

from amaranth.hdl import Const, EnableInserter, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.hw.fixed import resize, saturate_or_wrap, shape_of
from attnkit.hw.pipeline import stream_pipeline
from attnkit.models.gelu import delta_table
from attnkit.params.edgemoe import RtlGeluParams
from attnkit.params.numerics import GeluParams


def _lane(core: Module, m: Module, p: GeluParams, x, out, k: int, table: list[int]) -> list:
    """Build lane ``k``: ``x`` the raw input (this cycle), ``out`` the output register. Returns the ROM read ports."""
    f = p.act_fmt
    W, low = f.width, f.frac_bits - p.step_bits
    rom = Memory(shape=unsigned(p.table_fmt.width), depth=len(table), init=table)
    m.submodules[f"rom{k}"] = rom
    rd0, rd1 = rom.read_port(), rom.read_port()

    # stage 0: |x| (wrapping, as ap_fixed's negation does), the table index and the fraction
    a = Signal(signed(W), name=f"abs{k}")
    core.d.comb += a.eq(saturate_or_wrap(Mux(x < 0, -x, x), f))
    cut = int(round(p.cutoff * (1 << f.frac_bits)))
    inside = (a >= 0) & (a < cut)
    ac = Mux(inside, a, 0).as_unsigned()
    i = ac >> low
    top = p.table_size - 1
    core.d.comb += [rd0.addr.eq(i), rd1.addr.eq(Mux(i + 1 > top, top, i + 1))]
    r1 = Signal(max(1, low), name=f"frac{k}")
    inside1 = Signal(name=f"inside{k}")
    relu1 = Signal(signed(W), name=f"relu{k}")
    core.d.sync += [r1.eq(ac[:low] if low else 0), inside1.eq(inside), relu1.eq(Mux(x < 0, 0, x))]

    # stage 1: interpolate (the product's shift truncates: floor) and subtract
    d0 = rd0.data + Const(0, signed(2))
    d1 = rd1.data + Const(0, signed(2))
    dl = d0 + ((d1 - d0) * r1 >> low)
    delta = Mux(inside1, resize(dl, p.table_fmt, f), 0)
    core.d.sync += out.eq(saturate_or_wrap(relu1 - delta, f))
    return [rd0, rd1]


class Gelu(wiring.Component):
    LATENCY = 2

    def __init__(self, p: RtlGeluParams):
        self.p = p
        W = p.numerics.act_fmt.width
        super().__init__(
            {
                "i": In(stream.Signature(unsigned(p.lanes * W))),
                "o": Out(stream.Signature(unsigned(p.lanes * W))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, g = self.p, self.p.numerics
        W = g.act_fmt.width
        table = [int(v) for v in delta_table(g)]
        core = Module()
        ports = []
        for k in range(p.lanes):
            x = self.i.p[k * W : (k + 1) * W].as_signed()
            out = Signal(shape_of(g.act_fmt), name=f"y{k}")
            ports += _lane(core, m, g, x, out, k, table)
            m.d.comb += self.o.p[k * W : (k + 1) * W].eq(out)
        advance, _ = stream_pipeline(m, self, self.LATENCY)
        m.submodules.core = EnableInserter(advance)(core)
        m.d.comb += [rd.en.eq(advance) for rd in ports]
        return m
