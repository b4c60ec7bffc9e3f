"""Edge-MoE's unified linear unit in RTL, the twin of :func:`attnkit.models.edgemoe_golden.linear`, bit for bit.

An ``I x O`` MAC array (``I = linear.in_size`` inputs, ``O = linear.out_size``
outputs; 16 x 16 on the ZCU102) computes, per token row ``x`` and output
``o``, ``y[o] = wrap(b[o] aligned + sum_i tr(x[i] W[o, i]))`` on ``act_fmt``
(every product truncated onto the activation grid, the sum modulo 2^width,
so the order of the sums is free), then optionally GELU through ``O`` lanes
of the GELU unit (:class:`attnkit.hw.gelu.Gelu`, its datapath as it is).
As the HLS kernel ``hls/linear.cpp``: the bias is preloaded into the
accumulators, an output block of ``O`` takes ``in_dim / I`` cycles, and a
row ``C = out_dim / O x in_dim / I`` (:func:`attnkit.params.edgemoe.linear_row_cycles`).

Weights are double-buffered (ping-pong): two banks of ``out_dim x in_dim``
weights and ``out_dim`` biases. A call computes on one bank while the next
call's weights and bias load into the other. Token rows go into two row
slots, so the next row loads while this one computes.

Interfaces (``lib.stream``); the block is built from
:class:`attnkit.params.edgemoe.RtlLinearParams` (``configs/blocks/edgemoe_linear.yaml``):

- ``i``: one beat of ``axi.bits``, the struct :func:`in_layout`: ``kind``
  (:attr:`EdgeMoeLinear.WEIGHTS`, :attr:`~EdgeMoeLinear.BIAS` or
  :attr:`~EdgeMoeLinear.ROW`; 3 is taken and dropped), ``last``, ``gelu``,
  ``attn_bias`` and ``data``, a union of ``w`` (``weights_per_beat`` raw
  ``weight_fmt``), ``b`` (``biases_per_beat`` raw biases, each of
  ``bias_width`` bits, sign-extended) and ``x`` (``acts_per_beat`` raw
  ``act_fmt``). A call is its weights, its bias, then its rows:

  - ``weight_beats`` WEIGHTS beats: the ``out_dim x in_dim`` weights as a
    flat sequence of MAC-array words, word ``ob * (in_dim / I) + ib`` holding
    ``W[ob O + o, ib I + i]`` at element ``o I + i``; beat ``j`` carries
    elements ``j w .. j w + w - 1`` (``w = weights_per_beat``), the last one
    padded;
  - ``bias_beats`` BIAS beats: ``b[o]`` at element ``o``, raw in ``attn_bias_fmt``
    if the beats' ``attn_bias`` is set (Q/K/V) or ``bias_fmt``; the call's
    ``gelu`` and ``attn_bias`` are those of its last bias beat, which
    completes the bank;
  - its rows, ``row_beats`` ROW beats each (activation ``i`` of a row at
    element ``i``, the last beat padded), ``last`` set on the final beat of
    the call's last row.

  The next call's weights and bias may come while this call's rows are in
  flight: between its rows (the block takes them while the rows wait for a
  slot), or after its last row; its rows are taken once this call's last MAC
  has issued.
- ``o``: one beat per output block of a row, the ``O`` outputs ``y[ob O ..
  ob O + O - 1]`` of ``act_fmt`` (raw; ``ArrayLayout``), rows in order.

Timing: the input goes through a one-beat register (so ``i.ready`` depends
on no payload), then into its buffer when that is free. A call of ``T``
rows takes :func:`attnkit.params.edgemoe.linear_cycles` from its first row
beat taken to its last output taken, its bank loaded and the output always
ready: ``R + (T - 1) max(R, C) + C + LINEAR_DEPTH`` with ``R = row_beats``.
Back to back, the next call's first row loads while this call drains, so its
last output comes ``linear_cycles - LINEAR_DEPTH`` cycles after this call's.
The whole unit freezes in a cycle where ``o`` is offered and not taken.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.hw.fixed import adder_tree, low_bits
from attnkit.hw.gelu import Gelu
from attnkit.params.edgemoe import LINEAR_DEPTH, RtlGeluParams, RtlLinearParams


def in_layout(p: RtlLinearParams) -> data.StructLayout:
    """An input beat: its kind, the call's flags and ``axi.bits`` of weights, biases or activations."""
    n = p.numerics
    return data.StructLayout(
        {
            "kind": unsigned(2),
            "last": unsigned(1),
            "gelu": unsigned(1),
            "attn_bias": unsigned(1),
            "data": data.UnionLayout(
                {
                    "w": data.ArrayLayout(signed(n.weight_fmt.width), p.weights_per_beat),
                    "b": data.ArrayLayout(signed(p.bias_width), p.biases_per_beat),
                    "x": data.ArrayLayout(signed(n.act_fmt.width), p.acts_per_beat),
                }
            ),
        }
    )


def out_layout(p: RtlLinearParams) -> data.ArrayLayout:
    """An output beat: one block of ``out_size`` activations."""
    return data.ArrayLayout(signed(p.numerics.act_fmt.width), p.out_size)


def _log2(ratio: int) -> int:
    return ratio.bit_length() - 1


class _Packed:
    """Two banks of ``per_bank`` elements of ``width`` bits in one memory, written ``k`` elements a beat and
    read ``g`` elements a cycle (``k`` and ``g`` divide one another, their ratio a power of two): words of
    ``max(k, g)`` elements; a beat writes a granule of a word (or a whole one); a read takes a lane of a word
    (or a whole one), one cycle after its address."""

    def __init__(self, m: Module, name: str, width: int, k: int, g: int, per_bank: int):
        self.width, self.k, self.g = width, k, g
        self.G = max(k, g)
        self.words = -(-per_bank // self.G)
        self.wbits = _log2(self.G // k)  # granules per word, log2
        self.rbits = _log2(self.G // g)  # lanes per word, log2
        self.mem = Memory(shape=unsigned(self.G * width), depth=2 * self.words, init=[])
        m.submodules[name] = self.mem
        self.wr = self.mem.write_port(granularity=k * width if self.wbits else None)
        self.rd = self.mem.read_port()
        self.name = name

    def _base(self, bank):
        return Mux(bank, self.words, 0)

    def write(self, m: Module, en, bank, index, beat) -> None:
        """Write beat number ``index`` (its ``k`` elements, the bits ``beat``) of bank ``bank`` when ``en``."""
        word = index >> self.wbits
        m.d.comb += [self.wr.addr.eq(self._base(bank) + word), self.wr.data.eq(Cat(*[beat] * (1 << self.wbits)))]
        if self.wbits:
            lane = index[: self.wbits]
            m.d.comb += self.wr.en.eq(Mux(en, Const(1, 1 << self.wbits) << lane, 0))
        else:
            m.d.comb += self.wr.en.eq(en)

    def read(self, m: Module, en, bank, index):
        """Address group ``index`` of ``g`` elements of bank ``bank``; returns its bits, valid the next cycle."""
        m.d.comb += [self.rd.addr.eq(self._base(bank) + (index >> self.rbits)), self.rd.en.eq(en)]
        if not self.rbits:
            return self.rd.data[: self.g * self.width]
        lane = Signal(self.rbits, name=f"{self.name}_lane")
        with m.If(en):
            m.d.sync += lane.eq(index[: self.rbits])
        return self.rd.data.word_select(lane, self.g * self.width)


class EdgeMoeLinear(wiring.Component):
    """The unified linear unit (see the module docstring).

    Ports: ``i`` (input beats, :func:`in_layout`: a call's weights, bias and token rows), ``o`` (output
    blocks of ``out_size`` activations, :func:`out_layout`). ``p``: :class:`RtlLinearParams`, checked when
    it is built (sizes, formats, the GELU lanes against ``out_size``)."""

    WEIGHTS, BIAS, ROW = 0, 1, 2
    DEPTH = LINEAR_DEPTH

    def __init__(self, p: RtlLinearParams):
        if not isinstance(p, RtlLinearParams):
            raise TypeError(f"EdgeMoeLinear takes RtlLinearParams, not {type(p).__name__}")
        self.p = p
        super().__init__({"i": In(stream.Signature(in_layout(p))), "o": Out(stream.Signature(out_layout(p)))})

    def elaborate(self, platform):
        m = Module()
        p, n = self.p, self.p.numerics
        A, wf = n.act_fmt, n.weight_fmt
        AW = A.width
        I, O, NI, NO = p.in_size, p.out_size, p.in_blocks, p.out_blocks

        m.submodules.gelu = gelu = Gelu(RtlGeluParams(p.arch))
        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        rows = _Packed(m, "rows", AW, p.acts_per_beat, I, p.in_dim)
        wts = _Packed(m, "weights", wf.width, p.weights_per_beat, I * O, p.out_dim * p.in_dim)
        bias = _Packed(m, "bias", p.bias_width, p.biases_per_beat, O, p.out_dim)

        # -- the input register and the state of the banks and row slots --------------------------------
        hv = Signal()
        hp = Signal(in_layout(p))
        full = Signal(2)  # bank b holds a whole call's weights and bias
        flag_gelu, flag_attn = Signal(2), Signal(2)
        lbank, cbank = Signal(), Signal()  # the bank loading, the bank computing
        wcount = Signal(range(max(2, p.weight_beats)))
        bcount = Signal(range(max(2, p.bias_beats)))
        rfull, rlast = Signal(2), Signal(2)  # row slot s holds a whole row; it is its call's last
        wslot, cslot = Signal(), Signal()  # the slot loading, the slot computing
        rbeat = Signal(range(max(2, p.row_beats)))
        closed = Signal()  # the computing call's last row is in: the next call's rows wait

        kind = hp.kind
        is_load = (kind == self.WEIGHTS) | (kind == self.BIAS)
        is_row = kind == self.ROW
        load_ok = ~full.bit_select(lbank, 1)
        row_ok = full.bit_select(cbank, 1) & ~rfull.bit_select(wslot, 1) & ~closed
        dispatch = Signal()
        m.d.comb += [
            dispatch.eq(advance & hv & Mux(is_load, load_ok, Mux(is_row, row_ok, 1))),
            self.i.ready.eq(advance & (~hv | dispatch)),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [hv.eq(1), hp.eq(self.i.payload)]
        with m.Elif(dispatch):
            m.d.sync += hv.eq(0)

        w_in = dispatch & (kind == self.WEIGHTS)
        b_in = dispatch & (kind == self.BIAS)
        x_in = dispatch & is_row
        wts.write(m, w_in, lbank, wcount, hp.data.w.as_value())
        bias.write(m, b_in, lbank, bcount, hp.data.b.as_value())
        rows.write(m, x_in, wslot, rbeat, hp.data.x.as_value())
        bank_done = b_in & (bcount == p.bias_beats - 1)
        row_done = x_in & (rbeat == p.row_beats - 1)
        with m.If(w_in):
            m.d.sync += wcount.eq(Mux(wcount == p.weight_beats - 1, 0, wcount + 1))
        with m.If(b_in):
            m.d.sync += bcount.eq(Mux(bank_done, 0, bcount + 1))
            for b in range(2):
                with m.If(lbank == b):
                    m.d.sync += [flag_gelu[b].eq(hp.gelu), flag_attn[b].eq(hp.attn_bias)]
        with m.If(bank_done):
            m.d.sync += [lbank.eq(~lbank), wcount.eq(0)]
        with m.If(x_in):
            m.d.sync += rbeat.eq(Mux(row_done, 0, rbeat + 1))
        with m.If(row_done):
            m.d.sync += wslot.eq(~wslot)
            for s in range(2):
                with m.If(wslot == s):
                    m.d.sync += rlast[s].eq(hp.last)

        # -- issue: one MAC-array word per cycle while a row slot is full ---------------------------------
        ob = Signal(range(max(2, NO)))
        ib = Signal(range(max(2, NI)))
        widx = Signal(range(max(2, NO * NI)))  # ob * NI + ib
        issue = Signal()
        m.d.comb += issue.eq(advance & rfull.bit_select(cslot, 1))
        ib_last, ob_last = ib == NI - 1, ob == NO - 1
        row_end = issue & ib_last & ob_last
        call_end = row_end & rlast.bit_select(cslot, 1)
        xd = rows.read(m, advance, cslot, ib)
        wd = wts.read(m, advance, cbank, widx)
        bd = bias.read(m, advance, cbank, ob)
        with m.If(issue):
            m.d.sync += [
                ib.eq(Mux(ib_last, 0, ib + 1)),
                widx.eq(Mux(ib_last & ob_last, 0, widx + 1)),
            ]
            with m.If(ib_last):
                m.d.sync += ob.eq(Mux(ob_last, 0, ob + 1))
        with m.If(row_end):
            m.d.sync += cslot.eq(~cslot)
        with m.If(call_end):
            m.d.sync += [cbank.eq(~cbank), closed.eq(0)]
        with m.If(row_done & hp.last):
            m.d.sync += closed.eq(1)

        # the flags: set and cleared on different banks and slots in any one cycle
        for b in range(2):
            set_bank = bank_done & (lbank == b)
            clr_bank = call_end & (cbank == b)
            m.d.sync += full[b].eq((full[b] | set_bank) & ~clr_bank)
            set_row = row_done & (wslot == b)
            clr_row = row_end & (cslot == b)
            m.d.sync += rfull[b].eq((rfull[b] | set_row) & ~clr_row)

        # -- stage 1: the products truncated onto act_fmt and summed over I (modulo 2^AW) -----------------
        v1, first1, last1 = Signal(), Signal(), Signal()
        gelu1, attn1 = Signal(), Signal()
        with m.If(advance):
            m.d.sync += [
                v1.eq(issue),
                first1.eq(ib == 0),
                last1.eq(ib_last),
                gelu1.eq(flag_gelu.bit_select(cbank, 1)),
                attn1.eq(flag_attn.bit_select(cbank, 1)),
            ]
        xs = [xd.word_select(k, AW).as_signed() for k in range(I)]
        ws = [wd.word_select(k, wf.width).as_signed() for k in range(I * O)]
        bw = p.bias_width
        bs = [bd.word_select(k, bw).as_signed() for k in range(O)]
        sh_attn = A.frac_bits - n.attn_bias_fmt.frac_bits
        sh_bias = A.frac_bits - n.bias_fmt.frac_bits
        v2, first2, last2, gelu2 = Signal(), Signal(), Signal(), Signal()
        psum = [Signal(unsigned(AW), name=f"psum{o}") for o in range(O)]
        bal = [Signal(unsigned(AW), name=f"bias{o}") for o in range(O)]
        with m.If(advance):
            m.d.sync += [v2.eq(v1), first2.eq(first1), last2.eq(last1), gelu2.eq(gelu1)]
            for o in range(O):
                prods = [low_bits((xs[i] * ws[o * I + i]) >> wf.frac_bits, AW) for i in range(I)]
                m.d.sync += [
                    psum[o].eq(adder_tree(prods)[:AW]),
                    bal[o].eq(low_bits(Mux(attn1, bs[o] << sh_attn, bs[o] << sh_bias), AW)),
                ]

        # -- stage 2: the accumulators, the bias preloaded with an output block's first word ---------------
        acc = [Signal(unsigned(AW), name=f"acc{o}") for o in range(O)]
        v3, gelu3 = Signal(), Signal()
        with m.If(advance):
            m.d.sync += [v3.eq(v2 & last2), gelu3.eq(gelu2)]
            with m.If(v2):
                m.d.sync += [acc[o].eq((Mux(first2, bal[o], acc[o]) + psum[o])[:AW]) for o in range(O)]

        # -- stage 3 on: the GELU lanes, or a bypass of the same depth, into the output register -----------
        y = Cat(*acc)
        m.d.comb += [gelu.i.valid.eq(v3), gelu.i.payload.eq(y), gelu.o.ready.eq(self.o.ready)]
        raw, use = [y], [gelu3]
        for k in range(Gelu.LATENCY):
            r, u = Signal(O * AW, name=f"bypass{k}"), Signal(name=f"use_gelu{k}")
            with m.If(advance):
                m.d.sync += [r.eq(raw[-1]), u.eq(use[-1])]
            raw.append(r)
            use.append(u)
        m.d.comb += [
            self.o.valid.eq(gelu.o.valid),
            self.o.payload.eq(Mux(use[-1], gelu.o.payload, raw[-1])),
        ]
        return m
