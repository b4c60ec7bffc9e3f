"""The decode engine in RTL: N small attention cores fed by a stream-K tile scheduler, and a host that merges.

Decode attention (one query per sequence and query head against a KV cache
of ``context`` keys; grouped-query: the G = heads / kv_heads queries of a KV
head share its K/V) split as :func:`attnkit.params.schedule.lean_schedule`
splits it over ``grid = units`` CTAs, computing exactly
:func:`attnkit.models.decode.decode_scheduled`, bit for bit.

Interfaces (``lib.stream``), parameters :class:`attnkit.params.rtl_decode.RtlDecodeParams`:

- ``i``: the problem, as the DRAM port delivers it (``P = rows_per_beat``
  rows of D values of ``in_fmt`` per beat, row ``i`` at bits ``[i D W, (i+1)
  D W)``, element ``e`` of a row ``W`` bits further each): for each (batch
  ``b``, KV head ``h``) in order one beat with the group's G queries (query
  head ``h G + g`` as row ``g``); then the K rows of every group in (batch,
  KV head, key) order, P per beat (the last beat padded); then the V rows
  likewise.
- ``o``: ``batch x heads`` output rows in (batch, query head) order, D
  values of ``out_fmt`` each.

Structure and schedule:

- Buffers: Q (one word per KV group), K and V (P rows per word); each core
  has its own read port on each, so cores never wait for one another.
- Tile scheduler: per core, a descriptor ROM of its tile ranges
  ``(KV group, first key, last key)`` in the order ``lean_schedule`` gives
  them (``ceil(T/N)`` or ``ceil(T/N) - 1`` consecutive tiles, crossing head
  boundaries), built at elaboration from the same parameters.
- Core (:class:`DecodeCore`): G lanes. Per range: the group's queries are
  read (1 cycle) and latched (1 cycle); then one key per cycle: K/V read,
  ``q.k`` exact -> ``score_fmt`` -> logit (the golden datapath), the exp
  unit's mantissa ``E`` and exponent ``e`` (2 cycles), and the exact sums
  ``l += E 2^(e - e_min)``, ``O += E 2^(e - e_min) v`` (absolute Kulisch
  accumulators: no rescaling, so the order of keys does not matter) and the
  max exponent ``m``; after 4 pipeline cycles the partial (``O``, ``l``
  relative to ``2^m`` rounded into ``partial_fmt``/``partial_l_fmt``) is
  written to the core's partial memory (1 cycle), and the next range starts.
  A range of ``n`` keys takes ``n + ITEM_OVERHEAD`` (7) cycles.
- Host: the KV groups in order; it waits until every piece of the group is
  written, then reads them in :meth:`Schedule.pieces` order (its own range
  first, then the peers' in context order), folding each into the
  accumulator with the merge unit's logic (:func:`attnkit.hw.merge.merge_comb`,
  one merge per cycle, G lanes), then normalises ``O / l`` (leading one of
  ``l``, the reciprocal unit, ``out = rnd(sat(O 2^-z) * 1/L)``) and emits the
  G rows, one per cycle. A group of ``k`` pieces takes ``k + 2 + recip
  latency + G`` cycles of the host.

The problem's beats are taken one per cycle (``input_beats``), the cores start
in the cycle after the last one, and the engine takes the next problem after
its last output row. The only stall is the output's ``ready``: while a row
is offered and not taken the host waits (the cores go on).
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.hw.exp import Exp2Mantissa
from attnkit.hw.fixed import resize, saturate_or_wrap, shape_of, shift_signed_var
from attnkit.hw.merge import merge_comb, partial_layout
from attnkit.hw.recip import RecipMantissa, leading_one
from attnkit.params.fixed import Overflow, QFormat, Rounding
from attnkit.params.merge import MergeParams
from attnkit.params.rtl_decode import ITEM_OVERHEAD, RtlDecodeParams

PIPE_CYCLES = 4  # key issue -> K/V data (1), logit register (1), exp unit (2)
assert ITEM_OVERHEAD == 2 + PIPE_CYCLES + 1


def merge_params(p: RtlDecodeParams) -> MergeParams:
    return MergeParams(head_dim=p.head_dim, numerics=p.numerics)


def lanes_layout(p: RtlDecodeParams) -> data.ArrayLayout:
    return data.ArrayLayout(partial_layout(merge_params(p)), p.group)


def pick(elems, index: Value) -> Value:
    """``elems[index]``, the table padded with zeros to every value of ``index``'s width: what an ``Array``
    reads past its end anyway (the counters step one past their tables), made explicit so that the
    generated case statement is complete."""
    elems = [Value.cast(x) for x in elems]
    pad = (1 << len(index)) - len(elems)
    return Array(elems + [Const(0, elems[0].shape())] * pad)[index]


class DecodeCore(wiring.Component):
    """One core: walks its tile ranges, writing one partial (G lanes) per range into its partial memory."""

    def __init__(self, p: RtlDecodeParams, core: int):
        self.p, self.core = p, core
        self.items = p.items(core)
        n_items = max(1, len(self.items))
        D, W, G = p.head_dim, p.in_width, p.group
        super().__init__(
            {
                "run": In(1),
                "q_addr": Out(range(max(2, p.kv_groups))),
                "q_data": In(unsigned(G * D * W)),
                "kv_addr": Out(range(max(2, p.kv_words))),
                "k_data": In(unsigned(p.rows_per_beat * D * W)),
                "v_data": In(unsigned(p.rows_per_beat * D * W)),
                "p_we": Out(1),
                "p_addr": Out(range(max(2, n_items))),
                "p_data": Out(lanes_layout(p)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, num = self.p, self.p.numerics
        D, W, G, N = p.head_dim, p.in_width, p.group, p.context
        fi, lf = num.in_fmt.frac_bits, num.logit_fmt.frac_bits
        items = self.items or [(0, 0, 1)]
        n_items = len(self.items)

        # descriptor ROM (the stream-K assignment of this core)
        rom_q = [Const(g, range(max(2, p.kv_groups))) for g, _, _ in items]
        rom_base = [Const(g * N, range(max(2, p.kv_rows))) for g, _, _ in items]
        rom_a = [Const(a, range(N + 1)) for _, a, _ in items]
        rom_last = [Const(b - 1, range(N + 1)) for _, _, b in items]

        IDLE, FETCH, LATCH, STREAM, DRAIN, FIN, DONE = range(7)
        state = Signal(range(7))
        j = Signal(range(max(2, n_items + 1)))
        key = Signal(range(N + 1))
        cnt = Signal(range(PIPE_CYCLES + 1))
        issue = Signal()
        # key row r = base + key lives in word r / P, row r mod P of it (P a power of two)
        lg = p.rows_per_beat.bit_length() - 1
        r = Signal(range(max(2, p.kv_rows + N + 1)))
        sel = Signal(range(max(2, p.rows_per_beat)))
        m.d.comb += [
            r.eq(pick(rom_base, j) + key),
            self.q_addr.eq(pick(rom_q, j)),
            self.kv_addr.eq(r >> lg),
            issue.eq(state == STREAM),
            self.p_addr.eq(j),
        ]
        m.d.sync += sel.eq(r[:lg] if lg else 0)

        # the key and drain counters step outside the state switch, which then assigns state and j in its last
        # case (the Verilog case statements are complete)
        with m.If(state == LATCH):
            m.d.sync += key.eq(pick(rom_a, j))
        with m.Elif(state == STREAM):
            m.d.sync += [key.eq(key + 1), cnt.eq(0)]
        with m.Elif(state == DRAIN):
            m.d.sync += cnt.eq(cnt + 1)
        with m.Switch(state):
            with m.Case(IDLE):  # doubles as the query fetch of range 0
                with m.If(self.run):
                    m.d.sync += state.eq(LATCH if n_items else DONE)
            with m.Case(FETCH):  # q_addr shows range j; its data is latched next cycle
                m.d.sync += state.eq(LATCH)
            with m.Case(LATCH):
                m.d.sync += state.eq(STREAM)
            with m.Case(STREAM):
                with m.If(key == pick(rom_last, j)):
                    m.d.sync += state.eq(DRAIN)
            with m.Case(DRAIN):
                with m.If(cnt == PIPE_CYCLES - 1):
                    m.d.sync += state.eq(FIN)
            with m.Case(FIN):  # the partial of range j is written
                m.d.sync += [j.eq(j + 1), state.eq(Mux(j == n_items - 1, DONE, FETCH))]
            with m.Default():  # DONE (and the unused code 7)
                with m.If(~self.run):
                    m.d.sync += [state.eq(IDLE), j.eq(0)]
        # ---- the key pipeline: s1 (K/V data), s2 (logit registered, exp in), s4 (exp out, accumulate)
        v1, v2 = Signal(), Signal()
        m.d.sync += [v1.eq(issue & self.run), v2.eq(v1)]
        q_reg = Signal(unsigned(G * D * W))
        with m.If(state == LATCH):
            m.d.sync += q_reg.eq(self.q_data)
        k_row = self.k_data.word_select(sel, D * W)
        kd = [k_row.word_select(e, W).as_signed() for e in range(D)]
        vd1, vd2, vd3 = (Signal(unsigned(D * W), name=f"vd{i}") for i in (1, 2, 3))
        m.d.sync += [vd1.eq(self.v_data.word_select(sel, D * W)), vd2.eq(vd1), vd3.eq(vd2)]

        acc_fmt = QFormat(True, p.acc_width - 2 * fi, 2 * fi)
        prod_fmt = QFormat(
            True, num.score_fmt.int_bits + num.scale_fmt.int_bits + 1, num.score_fmt.frac_bits + num.scale_fmt.frac_bits
        )
        cconst = num.logit_const(D)
        e_min = num.e_min
        sh_bits = max(1, num.spread.bit_length())
        l_acc = [Signal(unsigned(p.l_acc_width), name=f"l_acc{g}") for g in range(G)]
        o_acc = [[Signal(signed(p.o_acc_width), name=f"o_acc{g}_{f}") for f in range(D)] for g in range(G)]
        m_acc = [Signal(signed(p.numerics.logit_fmt.int_bits + 2), name=f"m_acc{g}") for g in range(G)]
        exps = []
        for g in range(G):
            qg = [q_reg.word_select(g * D + e, W).as_signed() for e in range(D)]
            dot = Signal(signed(p.acc_width), name=f"dot{g}")
            m.d.comb += dot.eq(sum(qg[e] * kd[e] for e in range(D)))
            score = Signal(shape_of(num.score_fmt), name=f"score{g}")
            m.d.comb += score.eq(resize(dot, acc_fmt, num.score_fmt))
            t_sat = Signal(shape_of(num.logit_fmt), name=f"t_sat{g}")
            m.d.comb += t_sat.eq(
                resize(
                    score * Const(cconst, unsigned(num.scale_fmt.width)),
                    prod_fmt,
                    num.logit_fmt.with_(overflow=Overflow.AP_SAT),
                )
            )
            t1 = Signal(shape_of(num.logit_fmt), name=f"t1_{g}")
            m.d.sync += t1.eq(Mux(t_sat < num.logit_fmt.min_raw + 1, num.logit_fmt.min_raw + 1, t_sat))
            ex = Exp2Mantissa(num.exp, lf, num.logit_fmt.width)
            m.submodules[f"exp{g}"] = ex
            exps.append(ex)
            m.d.comb += [ex.i.valid.eq(v2), ex.i.p.y.eq(t1), ex.i.p.zero.eq(0), ex.o.ready.eq(1)]
            E = Cat(ex.o.p.e, Const(0, 1)).as_signed()
            sh = Signal(unsigned(sh_bits), name=f"sh{g}")
            m.d.comb += sh.eq((ex.o.p.n - e_min).as_unsigned()[:sh_bits])
            with m.If(state == LATCH):
                m.d.sync += [l_acc[g].eq(0), m_acc[g].eq(e_min - 1)] + [o_acc[g][f].eq(0) for f in range(D)]
            with m.Elif(ex.o.valid):
                m.d.sync += [
                    l_acc[g].eq(l_acc[g] + (ex.o.p.e << sh)),
                    m_acc[g].eq(Mux(ex.o.p.n > m_acc[g], ex.o.p.n, m_acc[g])),
                ]
                for f in range(D):
                    vf = vd3.word_select(f, W).as_signed()
                    m.d.sync += o_acc[g][f].eq(o_acc[g][f] + ((E * vf) << sh))

            # ---- the partial: O and l relative to 2^m, rounded into the partial formats
            fo, fl = num.partial_fmt, num.partial_l_fmt
            mx = Mux(m_acc[g] < e_min, e_min, m_acc[g])
            shp = Signal(signed(10), name=f"shp{g}")
            m.d.comb += shp.eq(mx - e_min + num.mantissa_bits - fo.frac_bits)
            left = max(0, fo.frac_bits - num.mantissa_bits)
            lane = self.p_data[g]
            m.d.comb += [
                lane.m.eq(mx),
                lane.l.eq(
                    saturate_or_wrap(shift_signed_var(l_acc[g], shp, p.l_acc_width, fl.rounding, max_left=left), fl)
                ),
            ]
            for f in range(D):
                m.d.comb += lane.o[f].eq(
                    saturate_or_wrap(
                        shift_signed_var(o_acc[g][f], shp + fi, p.o_acc_width, fo.rounding, max_left=left), fo
                    )
                )
        m.d.comb += self.p_we.eq(state == FIN)
        return m


class DecodeEngine(wiring.Component):
    def __init__(self, p: RtlDecodeParams):
        self.p = p
        super().__init__(
            {
                "i": In(stream.Signature(unsigned(p.payload_width))),
                "o": Out(stream.Signature(unsigned(p.head_dim * p.numerics.out_fmt.width))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, num = self.p, self.p.numerics
        D, W, G, H = p.head_dim, p.in_width, p.group, p.kv_groups
        U = p.units

        # ---- buffers, loaded one beat per cycle: the Q beats of every KV group, then the K words, then the V words
        P, KW = p.rows_per_beat, p.kv_words
        m.submodules.qmem = qmem = Memory(shape=unsigned(G * D * W), depth=max(2, H), init=[])
        m.submodules.kmem = kmem = Memory(shape=unsigned(P * D * W), depth=max(2, KW), init=[])
        m.submodules.vmem = vmem = Memory(shape=unsigned(P * D * W), depth=max(2, KW), init=[])
        qw, kw, vw = qmem.write_port(), kmem.write_port(), vmem.write_port()
        LOAD, RUN = 0, 1
        state = Signal()
        sec = Signal(2)  # 0: Q, 1: K, 2: V
        cnt = Signal(range(max(2, H, KW)))
        take = Signal()
        m.d.comb += [self.i.ready.eq(state == LOAD), take.eq(self.i.valid & (state == LOAD))]
        m.d.comb += [
            qw.addr.eq(cnt),
            qw.data.eq(self.i.p[: G * D * W]),
            qw.en.eq(take & (sec == 0)),
            kw.addr.eq(cnt),
            kw.data.eq(self.i.p[: P * D * W]),
            kw.en.eq(take & (sec == 1)),
            vw.addr.eq(cnt),
            vw.data.eq(self.i.p[: P * D * W]),
            vw.en.eq(take & (sec == 2)),
        ]
        with m.If(take):
            last = Mux(sec == 0, cnt == H - 1, cnt == KW - 1)
            m.d.sync += cnt.eq(Mux(last, 0, cnt + 1))
            with m.If(last):
                m.d.sync += sec.eq(Mux(sec == 2, 0, sec + 1))
                with m.If(sec == 2):
                    m.d.sync += state.eq(RUN)

        # ---- cores and their partial memories
        lay = lanes_layout(p)
        cores, pmems = [], []
        for c in range(U):
            core = DecodeCore(p, c)
            m.submodules[f"core{c}"] = core
            cores.append(core)
            qr, kr, vr = qmem.read_port(), kmem.read_port(), vmem.read_port()
            m.d.comb += [
                qr.addr.eq(core.q_addr),
                core.q_data.eq(qr.data),
                kr.addr.eq(core.kv_addr),
                vr.addr.eq(core.kv_addr),
                core.k_data.eq(kr.data),
                core.v_data.eq(vr.data),
                core.run.eq(state == RUN),
            ]
            depth = max(2, len(core.items))
            pm = Memory(shape=unsigned(lay.size), depth=depth, init=[])
            m.submodules[f"pmem{c}"] = pm
            pw = pm.write_port()
            m.d.comb += [pw.addr.eq(core.p_addr), pw.data.eq(core.p_data.as_value()), pw.en.eq(core.p_we)]
            pmems.append(pm.read_port())

        # ready flags: one per (core, range), set when its partial is written, cleared while loading
        flags = [[Signal(name=f"done{c}_{j}") for j in range(len(cores[c].items))] for c in range(U)]
        for c in range(U):
            for j, f in enumerate(flags[c]):
                with m.If(state == LOAD):
                    m.d.sync += f.eq(0)
                with m.Elif(cores[c].p_we & (cores[c].p_addr == j)):
                    m.d.sync += f.eq(1)

        # ---- host: per KV group, wait for its pieces, fold them, normalise, emit G rows
        pieces = p.pieces()
        steps = [(c, j, k == len(ps) - 1) for ps in pieces for k, (c, j) in enumerate(ps)]
        ready = [Cat(*[flags[c][j] for c, j in ps]).all() for ps in pieces]
        S = len(steps)
        st_core = [Const(c, range(max(2, U))) for c, _, _ in steps]
        st_item = [Const(j, range(max(2, max(len(x.items) for x in cores)))) for _, j, _ in steps]
        st_last = [Const(int(last), 1) for _, _, last in steps]

        WAIT, READ, FOLD, NORM, RECIP, EMIT = range(6)
        hs = Signal(range(6))
        head = Signal(range(max(2, H)))
        sp = Signal(range(max(2, S + 1)))
        issue = Signal()
        m.d.comb += issue.eq(((hs == WAIT) & (state == RUN) & pick(ready, head)) | (hs == READ))
        for c in range(U):
            m.d.comb += pmems[c].addr.eq(pick(st_item, sp))
        rd_valid, rd_first, rd_core = Signal(), Signal(), Signal(range(max(2, U)))
        m.d.sync += rd_valid.eq(issue)
        with m.If(issue):
            m.d.sync += [rd_first.eq(hs == WAIT), rd_core.eq(pick(st_core, sp)), sp.eq(sp + 1)]
            with m.If(pick(st_last, sp)):
                m.d.sync += hs.eq(FOLD)
            with m.Else():
                m.d.sync += hs.eq(READ)

        pdata = lay(pick([pm.data for pm in pmems], rd_core))
        acc = Signal(lay)
        mp = merge_params(p)
        merged = Signal(lay)
        for g in range(G):
            merge_comb(m, acc[g], pdata[g], merged[g], mp, name=f"merge{g}")
        with m.If(rd_valid):
            m.d.sync += acc.eq(Mux(rd_first, pdata.as_value(), merged.as_value()))

        # normaliser, per lane: z = leading one of l, y = 1 / (l 2^-z), out = rnd(sat(O 2^-z) * y)
        rp, g_fmt, out_fmt = num.recip, num.norm_fmt, num.out_fmt
        w = rp.work_fmt.frac_bits
        ny_fmt = QFormat(True, g_fmt.int_bits + rp.work_fmt.int_bits, g_fmt.frac_bits + w)
        out_rows = [Signal(unsigned(D * out_fmt.width), name=f"out_row{g}") for g in range(G)]
        recips = []
        for g in range(G):
            lane = acc[g]
            z = leading_one(m, lane.l, f"z{g}")
            rc = RecipMantissa(rp)
            m.submodules[f"recip{g}"] = rc
            recips.append(rc)
            lm_in = Mux(
                z >= w, lane.l >> (z - w).as_unsigned(), lane.l << (w - z).as_unsigned()[: max(1, w.bit_length())]
            )
            m.d.comb += [rc.i.valid.eq(hs == NORM), rc.i.p.eq(lm_in[: rp.work_fmt.width]), rc.o.ready.eq(1)]
            zero = lane.l == 0
            outs = []
            for f in range(D):
                nsh = Signal(signed(len(z) + 2), name=f"nsh{g}_{f}")
                m.d.comb += nsh.eq(z - g_fmt.frac_bits)
                n_val = Signal(shape_of(g_fmt), name=f"n{g}_{f}")
                m.d.comb += n_val.eq(
                    saturate_or_wrap(
                        shift_signed_var(lane.o[f], nsh, mp.o_width, Rounding.AP_TRN, max_left=g_fmt.frac_bits), g_fmt
                    )
                )
                outs.append(Mux(zero, 0, resize(n_val * rc.o.p, ny_fmt, out_fmt))[: out_fmt.width])
            with m.If(rc.o.valid):
                m.d.sync += out_rows[g].eq(Cat(*outs))

        emit_g = Signal(range(max(2, G)))
        m.d.comb += [self.o.valid.eq(hs == EMIT), self.o.p.eq(pick(out_rows, emit_g))]
        with m.Switch(hs):
            with m.Case(WAIT, READ):  # the fold's issue logic above
                pass
            with m.Case(FOLD):  # the last piece is folded in this cycle
                m.d.sync += hs.eq(NORM)
            with m.Case(NORM):  # the reciprocal unit takes l
                m.d.sync += hs.eq(RECIP)
            with m.Case(RECIP):
                with m.If(recips[0].o.valid):
                    m.d.sync += [hs.eq(EMIT), emit_g.eq(0)]
            with m.Default():  # EMIT; the unused codes 6 and 7 go back to WAIT
                with m.If(hs != EMIT):
                    m.d.sync += hs.eq(WAIT)
                with m.Elif(self.o.ready):
                    m.d.sync += emit_g.eq(emit_g + 1)
                    with m.If(emit_g == G - 1):
                        m.d.sync += [hs.eq(WAIT), head.eq(head + 1)]
                        with m.If(head == H - 1):  # the problem is done: take the next one
                            m.d.sync += [head.eq(0), sp.eq(0), state.eq(LOAD)]
        return m
