"""Edge-MoE's reordered attention unit in RTL, the twin of :func:`attnkit.models.edgemoe_golden.attention`, bit for bit.

``L = attention.lanes`` queries at a time (a query block) share ``P =
attention.dims`` wide K and V blocks: every cycle one block of ``P`` dims of
one key row comes in and all ``L`` lanes use it, ``L x P`` MACs (4 x 8 on
the ZCU102). As the HLS kernel ``hls/attention.cpp``, per query block:

- **Q x K**: the block's K rows stream in, ``B = d_model / P`` beats each,
  keys in order. Lane ``l``'s scaled score per head is ``s = wrap(sum_blocks
  tr(scale * wrap(sum_{i in block} tr(q_i k_i))))`` (``scale = 1/sqrt(head_dim)``
  on ``act_fmt``); each score goes into the block's score buffer and into the
  lane's online softmax, the datapath of :class:`attnkit.hw.softmax.Softmax`
  (its helpers) with one running max ``m`` and sum ``l`` per head: ``m' =
  max(m, s)``, ``l = tr(l * exp(m - m')) + exp(s - m')``, a score of the
  format's minimum code masked. After the last key, ``r = recip(l)`` per lane
  and head.
- **A x V**: the block's V rows stream in the same way; per beat each lane
  recomputes its probability ``p = tr(exp(s - m) * r)`` from the buffered
  score of that key and head and adds ``tr(p * v_i)`` into its output
  accumulators (``out[q, h D + d] = wrap(sum_k tr(p[q, k] v[k, h D + d]))``).
  The same ``L x P`` multipliers serve both passes. The block's outputs then
  drain, one beat of ``P`` per query and block of dims, while the next block's
  Q x K runs.

Interfaces (``lib.stream``); the block is built from
:class:`attnkit.params.edgemoe.RtlEdgeMoeAttentionParams`
(``configs/blocks/edgemoe_attention.yaml``):

- ``i``: the struct :func:`in_layout`: ``kind``
  (:attr:`EdgeMoeAttention.Q`, :attr:`~EdgeMoeAttention.K` or
  :attr:`~EdgeMoeAttention.V`; 3 is taken and dropped), ``last``, ``q_valid``,
  ``q_end`` and two blocks of ``P`` raw ``act_fmt`` values: ``kv`` (a K or V
  beat's) and ``q`` (a Q block, as from a second memory port). A call on
  ``T`` tokens is, per query block of ``Lb = min(L, T - b L)`` queries:

  - its Q rows, ``Lb x B`` blocks in row order, ``q_end`` on the last: as Q
    beats for the call's first block, and riding on the previous block's V
    beats (``q_valid``) for the others (a call may also ride on the previous
    call's last V beats);
  - ``T x B`` K beats (key rows in order, block ``j`` of a row in beat ``j``),
    ``last`` on every beat of the last key row;
  - ``T x B`` V beats, alike.

  The unit holds the beats it cannot take yet: a block's K beats until its Q
  rows are in, its V beats until its reciprocals are ready.
- ``o``: one beat per query and block of dims, ``P`` raw ``act_fmt`` outputs
  (the bits of :func:`out_layout`, an ``ArrayLayout``), queries in order.

Timing: the input goes through a one-beat register (so ``i.ready`` depends
on no payload). A call of ``T`` tokens takes
:func:`attnkit.params.edgemoe.attention_cycles` from its first beat taken to
its last output taken, the output always ready: ``L0 B`` (the first block's
Q rows), per block ``T B`` K beats, the stats gap
(:func:`~attnkit.params.edgemoe.attention_stats_gap`) and ``T B`` V beats,
then the last block's ``Ll B`` outputs and ``ATTN_DEPTH``. A call whose
first Q rows ride on the previous call's V beats starts its K beats right
after them. The whole unit freezes in a cycle where ``o`` is offered and not
taken.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.hw.decode import pick
from attnkit.hw.exp import Exp
from attnkit.hw.fixed import adder_tree, low_bits, shape_of
from attnkit.hw.recip import RecipMantissa
from attnkit.hw.softmax import exp_arg, probability, recip_denormalise, recip_normalise, sum_step
from attnkit.params.edgemoe import ATTN_DEPTH, ATTN_EXP_LATENCY, RtlEdgeMoeAttentionParams


def in_layout(p: RtlEdgeMoeAttentionParams) -> data.StructLayout:
    """An input beat: its kind, flags, a K or V block and a Q block (``dims`` raw activations each)."""
    blk = data.ArrayLayout(signed(p.numerics.act_fmt.width), p.dims)
    return data.StructLayout(
        {
            "kind": unsigned(2),
            "last": unsigned(1),
            "q_valid": unsigned(1),
            "q_end": unsigned(1),
            "kv": blk,
            "q": blk,
        }
    )


def out_layout(p: RtlEdgeMoeAttentionParams) -> data.ArrayLayout:
    """An output beat: ``dims`` outputs of one query."""
    return data.ArrayLayout(signed(p.numerics.act_fmt.width), p.dims)


def _rng(n: int):
    return range(max(2, n))


def _put(m: Module, regs: list, index, value, when) -> None:
    """``regs[index] <= value`` when ``when`` (a register per head, written by a compare per element)."""
    for j, reg in enumerate(regs):
        with m.If(when & (index == j)):
            m.d.sync += reg.eq(value)


class EdgeMoeAttention(wiring.Component):
    """The reordered attention unit (see the module docstring).

    Ports: ``i`` (input beats, :func:`in_layout`: Q, K and V blocks), ``o`` (output blocks of ``dims``
    activations, :func:`out_layout`). ``p``: :class:`RtlEdgeMoeAttentionParams`."""

    Q, K, V = 0, 1, 2
    DEPTH = ATTN_DEPTH

    def __init__(self, p: RtlEdgeMoeAttentionParams):
        if not isinstance(p, RtlEdgeMoeAttentionParams):
            raise TypeError(f"EdgeMoeAttention takes RtlEdgeMoeAttentionParams, not {type(p).__name__}")
        if Exp.LATENCY != ATTN_EXP_LATENCY:  # the closed form (params.edgemoe) is built on it
            raise ValueError(f"Exp.LATENCY is {Exp.LATENCY}; params.edgemoe.ATTN_EXP_LATENCY says {ATTN_EXP_LATENCY}")
        self.p = p
        # o's payload is the bits of out_layout(p) as a plain value: a registered output port viewed as an array
        # has per-element alias wires (o__payload[0], ...) whose names collide with the port's bits in yosys's
        # ABC9 reintegration (synth_xilinx and synth_ecp5 stop on an assertion, as in YosysHQ/yosys#4349)
        super().__init__(
            {"i": In(stream.Signature(in_layout(p))), "o": Out(stream.Signature(unsigned(out_layout(p).size)))}
        )

    def elaborate(self, platform):
        m = Module()
        p, n = self.p, self.p.numerics
        sm = n.softmax
        A = n.act_fmt
        AW, F = A.width, A.frac_bits
        L, P, H, B, BH = p.lanes, p.dims, p.heads, p.dim_blocks, p.head_blocks
        G = p.stats_gap
        MIN = Const(A.min_raw, signed(AW))

        advance = Signal()
        m.d.comb += advance.eq(~self.o.valid | self.o.ready)

        # -- memories: the block's Q rows, its scores, its output accumulators ----------------------------
        # lane l's block j of Q (and of the outputs) at bits l P AW of word j; key k's head h scores at word k H + h
        mems = p.memories  # (depth, width) of each, as the fit check counts them
        m.submodules.qmem = qmem = Memory(shape=unsigned(mems["q"][1]), depth=mems["q"][0], init=[])
        q_wr = qmem.write_port(granularity=P * AW if L > 1 else None)
        q_rd = qmem.read_port()
        m.submodules.smem = smem = Memory(shape=unsigned(mems["scores"][1]), depth=mems["scores"][0], init=[])
        s_wr, s_rd = smem.write_port(), smem.read_port()
        m.submodules.amem = amem = Memory(shape=unsigned(mems["acc"][1]), depth=mems["acc"][0], init=[])
        a_wr = amem.write_port()
        a_rd = amem.read_port(transparent_for=(a_wr,))

        # -- the input register and dispatch ---------------------------------------------------------------
        hv = Signal()
        hp = Signal(in_layout(p))
        P1, GAP, P2 = 0, 1, 2
        phase = Signal(2)  # P1: K beats of the block; GAP: its reciprocals; P2: its V beats
        gap = Signal(range(G + 1))
        qfull = Signal()  # the Q rows of the next block to run are in
        draining = Signal()
        kind = hp.kind
        carries_q = (kind == self.Q) | ((kind == self.V) & hp.q_valid)
        ok = Mux(
            kind == self.Q,
            ~qfull,
            Mux(
                kind == self.K,
                qfull & (phase == P1),
                Mux(kind == self.V, (phase == P2) & ~draining & ~(hp.q_valid & qfull), 1),
            ),
        )
        dispatch = Signal()
        m.d.comb += [dispatch.eq(advance & hv & ok), self.i.ready.eq(advance & (~hv | dispatch))]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [hv.eq(1), hp.eq(self.i.payload)]
        with m.Elif(dispatch):
            m.d.sync += hv.eq(0)

        # Q blocks: lane qlane, block qdb of the next block's rows
        q_in = dispatch & carries_q
        qdb, qlane = Signal(_rng(B)), Signal(_rng(L))
        qlanes, blk_lanes = Signal(range(L + 1)), Signal(range(L + 1))
        m.d.comb += [q_wr.addr.eq(qdb), q_wr.data.eq(Cat(*[hp.q.as_value()] * L))]
        m.d.comb += q_wr.en.eq(Mux(q_in, Const(1, L) << qlane, 0) if L > 1 else q_in)
        with m.If(q_in):
            m.d.sync += qdb.eq(Mux(qdb == B - 1, 0, qdb + 1))
            with m.If(qdb == B - 1):
                m.d.sync += qlane.eq(qlane + 1)
            with m.If(hp.q_end):
                m.d.sync += [qdb.eq(0), qlane.eq(0), qlanes.eq(qlane + 1), qfull.eq(1)]

        # K and V beats: block db of the row, block hb of head h; sidx = key x H + h
        kv_in = dispatch & ((kind == self.K) | (kind == self.V))
        db, hb, h = Signal(_rng(B)), Signal(_rng(BH)), Signal(_rng(H))
        sidx = Signal(_rng(p.tokens * H))
        first_key = Signal(init=1)
        db_last, hb_last = db == B - 1, hb == BH - 1
        final = kv_in & hp.last & db_last  # the pass's last beat
        with m.If(kv_in):
            m.d.sync += [db.eq(Mux(db_last, 0, db + 1)), hb.eq(Mux(hb_last, 0, hb + 1))]
            with m.If(hb_last):
                m.d.sync += [h.eq(Mux(db_last, 0, h + 1)), sidx.eq(sidx + 1)]
            with m.If(db_last):
                m.d.sync += first_key.eq(0)
        with m.If(final):
            m.d.sync += [sidx.eq(0), first_key.eq(1)]
            with m.If(kind == self.K):
                m.d.sync += [phase.eq(GAP if G else P2), gap.eq(G)]
            with m.Else():
                m.d.sync += phase.eq(P1)
        with m.Elif(advance & (phase == GAP)):
            m.d.sync += gap.eq(gap - 1)
            with m.If(gap == 1):
                m.d.sync += phase.eq(P2)

        # -- the side band of a K/V beat through the stages (stage 0: dispatch) ----------------------------
        band = data.StructLayout(
            {
                "v": 1,
                "pass2": 1,
                "first": 1,
                "lastkey": 1,
                "final": 1,
                "hfirst": 1,
                "hlast": 1,
                "h": _rng(H),
                "db": _rng(B),
                "sidx": _rng(p.tokens * H),
            }
        )
        b0 = Signal(band)
        m.d.comb += [
            b0.v.eq(kv_in),
            b0.pass2.eq(kind == self.V),
            b0.first.eq(first_key),
            b0.lastkey.eq(hp.last),
            b0.final.eq(hp.last & db_last),
            b0.hfirst.eq(hb == 0),
            b0.hlast.eq(hb_last),
            b0.h.eq(h),
            b0.db.eq(db),
            b0.sidx.eq(sidx),
        ]
        bands = [b0]
        for k in range(1, 11):
            bk = Signal(band, name=f"band{k}")
            with m.If(advance):
                m.d.sync += bk.eq(bands[-1])
            bands.append(bk)
        kvs = [hp.kv.as_value()]
        for k in range(1, 6):
            r = Signal(P * AW, name=f"kv{k}")
            with m.If(advance):
                m.d.sync += r.eq(kvs[-1])
            kvs.append(r)
        b1, b4, b5, b6, b7, b10 = (bands[k] for k in (1, 4, 5, 6, 7, 10))
        pass1_at = lambda b: b.v & ~b.pass2  # noqa: E731
        pass2_at = lambda b: b.v & b.pass2  # noqa: E731

        # the block's Q rows are free once its last K beat has read them (stage 4)
        with m.If(advance & pass1_at(b4) & b4.final):
            m.d.sync += [qfull.eq(0), blk_lanes.eq(qlanes)]

        # -- memories read and written by the stages ---------------------------------------------------
        m.d.comb += [s_rd.addr.eq(b0.sidx), s_rd.en.eq(advance)]  # stage 0: a V beat's scores
        m.d.comb += [q_rd.addr.eq(b4.db), q_rd.en.eq(advance)]  # stage 4: a K beat's Q blocks
        dl, ddb, dlanes = Signal(_rng(L)), Signal(_rng(B)), Signal(range(L + 1))
        m.d.comb += [a_rd.addr.eq(Mux(draining, ddb, b5.db)), a_rd.en.eq(advance)]  # stage 5 or the drain

        # per-lane state: the running max and sum per head, the block's final max and 1/sum per head
        SW = shape_of(sm.sum_fmt)
        RW = shape_of(sm.recip.out_fmt)
        valid7 = pass1_at(b7) & b7.hlast  # a score at stage 7
        valid10 = pass1_at(b10) & b10.hlast  # its running sum at stage 10
        scores7, acc_new = [], []
        for lane in range(L):
            nm = f"l{lane}_"
            m_run = [Signal(signed(AW), name=f"{nm}m_run{j}") for j in range(H)]
            l_run = [Signal(SW, name=f"{nm}l_run{j}") for j in range(H)]
            m_row = [Signal(signed(AW), name=f"{nm}m_row{j}") for j in range(H)]
            r_row = [Signal(RW, name=f"{nm}r_row{j}") for j in range(H)]
            m.submodules[f"{nm}exp_f"] = exp_f = Exp(sm.exp)
            m.submodules[f"{nm}exp_e"] = exp_e = Exp(sm.exp)

            # stage 1 (V): the score read at dispatch, exp(s - m) argument
            s1 = s_rd.data.word_select(lane, AW).as_signed()
            arg2 = exp_arg(sm, s1, pick(m_row, b1.h).as_signed())
            # stage 7 (K): the score, the running max, both exp arguments
            acc_h = Signal(AW, name=f"{nm}acc_h")  # the head's score so far; the score at stage 7
            s7 = acc_h.as_signed()
            keep7 = s7 != MIN
            m_old = Mux(b7.first, MIN, pick(m_run, b7.h).as_signed())
            sk = Mux(keep7, s7, MIN)
            m_new = Signal(signed(AW), name=f"{nm}m_new")
            m.d.comb += m_new.eq(Mux(sk > m_old, sk, m_old))
            _put(m, m_run, b7.h, m_new, advance & valid7)
            _put(m, m_row, b7.h, m_new, advance & valid7 & b7.lastkey)
            m.d.comb += [
                exp_f.i.valid.eq(1),
                exp_f.i.p.eq(exp_arg(sm, m_old, m_new)),
                exp_f.o.ready.eq(advance),
                exp_e.i.valid.eq(1),
                exp_e.i.p.eq(Mux(valid7, exp_arg(sm, s7, m_new), arg2)),
                exp_e.o.ready.eq(advance),
            ]
            keep = Mux(valid7, keep7, s1 != MIN)
            for k in range(ATTN_EXP_LATENCY):
                kr = Signal(name=f"{nm}keep{k + 1}")
                with m.If(advance):
                    m.d.sync += kr.eq(keep)
                keep = kr
            e = Mux(keep, exp_e.o.p, 0)

            # stage 4 (V): the probability, registered for the MAC array
            prob = Signal(signed(AW), name=f"{nm}prob")
            with m.If(advance):
                m.d.sync += prob.eq(probability(sm, e, pick(r_row, b4.h)))

            # stage 5: the MAC array, q x k (K) or p x v (V), products truncated onto act_fmt
            qd = q_rd.data.word_select(lane, P * AW)
            prods = []
            for i in range(P):
                a = Mux(b5.pass2, prob, qd.word_select(i, AW).as_signed())
                prods.append(low_bits((a * kvs[5].word_select(i, AW).as_signed()) >> F, AW))
            psum = Signal(AW, name=f"{nm}psum")  # stage 6 (K): the block's sum
            pv = [Signal(AW, name=f"{nm}pv{i}") for i in range(P)]  # stage 6 (V): the products
            with m.If(advance):
                m.d.sync += [psum.eq(adder_tree(prods)[:AW])] + [pv[i].eq(prods[i]) for i in range(P)]

            # stage 6 (K): scaled block sum into the head's score
            scaled = low_bits(
                (psum.as_signed() * Const(p.scale_raw, unsigned(max(1, p.scale_raw.bit_length())))) >> F, AW
            )
            with m.If(advance & pass1_at(b6)):
                m.d.sync += acc_h.eq((Mux(b6.hfirst, 0, acc_h) + scaled)[:AW])
            scores7.append(acc_h)
            # stage 6 (V): the output accumulators, from 0 at the first key
            old = a_rd.data.word_select(lane, P * AW)
            for i in range(P):
                acc_new.append((Mux(b6.first, 0, old.word_select(i, AW)) + pv[i])[:AW])

            # stage 10 (K): the running sum; after the last key, 1/sum
            f10 = exp_f.o.p
            l_prev = Mux(b10.first, 0, pick(l_run, b10.h))
            l_new = Signal(SW, name=f"{nm}l_new")
            m.d.comb += l_new.eq(sum_step(sm, l_prev, f10, e))
            go, l_fin, h_fin = Signal(name=f"{nm}go"), Signal(SW, name=f"{nm}l_fin"), Signal(_rng(H), name=f"{nm}h_fin")
            with m.If(advance):
                m.d.sync += [go.eq(valid10 & b10.lastkey), l_fin.eq(l_new), h_fin.eq(b10.h)]
            _put(m, l_run, b10.h, l_new, advance & valid10)
            # stage 11 on: the reciprocal, its z, sign and head beside it
            mant, z, pos = recip_normalise(m, sm, l_fin, name=f"{nm}z")
            m.submodules[f"{nm}recip"] = rc = RecipMantissa(sm.recip)
            m.d.comb += [rc.i.valid.eq(1), rc.i.p.eq(mant), rc.o.ready.eq(advance)]
            side = [(go, z, pos, h_fin)]
            for k in range(rc.LATENCY):
                regs = (
                    Signal(name=f"{nm}go_r{k}"),
                    Signal.like(z, name=f"{nm}z_r{k}"),
                    Signal(name=f"{nm}pos_r{k}"),
                    Signal(_rng(H), name=f"{nm}h_r{k}"),
                )
                with m.If(advance):
                    m.d.sync += [r_.eq(x) for r_, x in zip(regs, side[-1])]
                side.append(regs)
            go_r, z_r, pos_r, h_r = side[-1]
            r_out = recip_denormalise(m, sm, rc.o.p, z_r, pos_r, name=f"{nm}sh")
            _put(m, r_row, h_r, r_out, advance & go_r)

        # -- the scores (stage 7) and the accumulators (stage 6) into their memories ------------------------
        m.d.comb += [
            s_wr.addr.eq(b7.sidx),
            s_wr.data.eq(Cat(*scores7)),
            s_wr.en.eq(advance & valid7),
            a_wr.addr.eq(b6.db),
            a_wr.data.eq(Cat(*acc_new)),
            a_wr.en.eq(advance & pass2_at(b6)),
        ]

        # -- the drain: from the block's last accumulator write, one output beat per query and block ---------
        rd_v, rd_lane = Signal(), Signal(_rng(L))
        issue = advance & draining
        with m.If(advance & pass2_at(b6) & b6.final):
            m.d.sync += [draining.eq(1), dl.eq(0), ddb.eq(0), dlanes.eq(blk_lanes)]
        with m.If(issue):
            m.d.sync += ddb.eq(Mux(ddb == B - 1, 0, ddb + 1))
            with m.If(ddb == B - 1):
                m.d.sync += dl.eq(dl + 1)
                with m.If(dl == dlanes - 1):
                    m.d.sync += draining.eq(0)
        with m.If(advance):
            m.d.sync += [
                rd_v.eq(issue),
                rd_lane.eq(dl),
                self.o.valid.eq(rd_v),
                self.o.payload.eq(a_rd.data.word_select(rd_lane, P * AW)),
            ]
        return m
