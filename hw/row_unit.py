"""One lane of the 1D row unit: everything the cascade does per query, beside one array column.

A lane serves column ``c`` (one query of each block). Per key tile, in the
order the golden model (:mod:`attnkit.models.attention`) defines:

1. logits: as the scores of rows 0..R-1 become final (one per cycle, the
   array's skew), ``t = sat(trn(s * c))`` with ``s`` the exact q.k in
   ``score_fmt``; masked keys (mask bit, causal, padding) get the -inf code;
2. exponent ``e = floor(t)`` and the tile max ``LM``; the mantissa ``E = 2^(t-e)``
   from the exp unit (:class:`attnkit.hw.exp.Exp2Mantissa`);
3. running max ``M' = max(M, LM)``; the probabilities ``(E, M' - e)`` are
   written into the column's PEs for the PV wave; ``RD' = RD >> (M' - M) +
   sum E << (S - (M' - e))`` (exact, Kulisch);
4. as the PV column sums arrive (one per cycle), ``RNV'[f] = RNV[f] >> (M' - M)
   + SLNV[f]`` (exact), RNV kept in a rotating register of ``d`` entries;
   with finite accumulators (``numerics.acc_frac_bits`` = F) every shift in 3
   and 4 is rounded by ``numerics.acc_rounding`` and the terms are
   ``rnd(E 2^(F - Pm - (M' - e)))`` (:func:`attnkit.models.attention.finite_sums`);
5. after the last key tile: ``z`` = leading one of ``RD``, ``y = 1/(RD 2^-z)``
   (:class:`attnkit.hw.recip.RecipMantissa`), and per element
   ``n = sat(RNV 2^-z)``, ``out = rnd(n * y)``, into the output row.

All timing is fixed (see :mod:`attnkit.params.rtl_attention`): nothing here
waits, so the lane's cycle offsets are the schedule's.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from attnkit.hw.exp import Exp2Mantissa
from attnkit.hw.fixed import resize, saturate_or_wrap, shape_of, shift_right_var, shift_signed_var
from attnkit.hw.recip import RecipMantissa, leading_one
from attnkit.params.fixed import Overflow, QFormat, Rounding
from attnkit.params.rtl_attention import RtlAttentionParams


def last_key_tile(p: RtlAttentionParams, j, b):
    """True when key tile ``j`` is the last that query block ``b`` runs: ``j == J_b - 1``
    (:meth:`RtlAttentionParams.key_tiles`; a causal block stops at the tile holding its last query)."""
    J = p.tiles_per_block
    if not p.causal:
        return j == J - 1
    R, C, N = p.rows, p.cols, p.seq_len
    end = b * C + C  # one past the block's last query (before the N clamp)
    return (j == J - 1) | ((j + 1) * R >= Mux(end > N, N, end))


class RowLane(wiring.Component):
    def __init__(self, p: RtlAttentionParams, column: int):
        self.p, self.column = p, column
        num = p.numerics
        R, d = p.rows, p.head_dim
        self.sh_width = max(1, p.spread.bit_length())
        super().__init__(
            {
                "acc": In(signed(p.acc_width)).array(R),
                "done": In(1),  # row 0's score is final this cycle
                "psum": In(signed(p.psum_width)),
                "psum_valid": In(1),
                "mask_we": In(1),
                "mask_addr": In(range(max(2, p.blocks))),
                "mask_data": In(p.tiles_per_block * R),
                "p_we": Out(1),
                "p_slot": Out(1),
                "p_e": Out(unsigned(p.e_width)).array(R),
                "p_sh": Out(unsigned(self.sh_width)).array(R),
                "out_row": Out(shape_of(num.out_fmt)).array(d),
                "row_last": Out(1),  # a pulse: out_row holds a complete row
            }
        )

    def elaborate(self, platform):
        m = Module()
        p, num = self.p, self.p.numerics
        R, C, d, N, J, B = p.rows, p.cols, p.head_dim, p.seq_len, p.tiles_per_block, p.blocks
        lf = num.logit_fmt.frac_bits
        S, NEG = p.spread, num.e_min - 1  # NEG: the exponent of a masked key (-inf)
        ew = max(8, num.logit_fmt.int_bits + 3)  # exponent registers
        fi = num.in_fmt.frac_bits

        # ---- the mask memory of this lane's queries (written while loading)
        m.submodules.mask = mask = Memory(shape=unsigned(J * R), depth=max(2, B), init=[0] * max(2, B))
        mw, mr = mask.write_port(), mask.read_port()

        # ---- QK side: counters of the tile whose scores are read
        jq, bq, tq = Signal(range(max(2, J))), Signal(range(max(2, B))), Signal()
        m.d.comb += [mw.en.eq(self.mask_we), mw.addr.eq(self.mask_addr), mw.data.eq(self.mask_data), mr.addr.eq(bq)]
        busy, cnt = Signal(), Signal(range(max(2, R)))
        reading = self.done | busy
        idx = Mux(self.done, 0, cnt)
        with m.If(reading):
            with m.If(idx == R - 1):
                m.d.sync += busy.eq(0)
                q_last = last_key_tile(p, jq, bq)
                m.d.sync += [jq.eq(Mux(q_last, 0, jq + 1)), tq.eq(~tq)]
                with m.If(q_last):
                    m.d.sync += bq.eq(Mux(bq == B - 1, 0, bq + 1))
            with m.Else():
                m.d.sync += [busy.eq(1), cnt.eq(idx + 1)]

        # logit of the score being read
        acc_fmt = QFormat(True, p.acc_width - 2 * fi, 2 * fi)
        score = Signal(shape_of(num.score_fmt))
        m.d.comb += score.eq(resize(Array(self.acc)[idx], acc_fmt, num.score_fmt))
        cconst = num.logit_const(d)
        prod_fmt = QFormat(
            True, num.score_fmt.int_bits + num.scale_fmt.int_bits + 1, num.score_fmt.frac_bits + num.scale_fmt.frac_bits
        )
        t_sat = Signal(shape_of(num.logit_fmt))
        m.d.comb += t_sat.eq(
            resize(
                score * Const(cconst, unsigned(num.scale_fmt.width)),
                prod_fmt,
                num.logit_fmt.with_(overflow=Overflow.AP_SAT),
            )
        )
        t = Mux(t_sat < num.logit_fmt.min_raw + 1, num.logit_fmt.min_raw + 1, t_sat)
        key = jq * R + idx
        query = bq * C + self.column
        keep = Signal()
        m.d.comb += keep.eq(mr.data.bit_select(key, 1) & (key < N) & ((query >= key) if p.causal else 1))
        e_now = Signal(signed(ew))
        m.d.comb += e_now.eq(Mux(keep, t >> lf, NEG))

        eb = Array(Signal(signed(ew), name=f"eb{r}") for r in range(R))  # exponents of the tile
        lm = Signal(signed(ew))
        t_reg, keep_reg, t_valid = Signal(shape_of(num.logit_fmt)), Signal(), Signal()
        m.d.sync += t_valid.eq(reading)
        with m.If(reading):
            for r in range(R):  # explicit enables rather than an Array write (an incomplete case in Verilog)
                with m.If(idx == r):
                    m.d.sync += eb[r].eq(e_now)
            m.d.sync += [t_reg.eq(t), keep_reg.eq(keep), lm.eq(Mux(idx == 0, e_now, Mux(e_now > lm, e_now, lm)))]

        # the tile's flags, latched at the end of its logit pass
        first, last, parity = Signal(), Signal(), Signal()
        lm_done = Signal()
        m.d.sync += lm_done.eq(reading & (idx == R - 1))
        with m.If(reading & (idx == R - 1)):
            m.d.sync += [first.eq(jq == 0), last.eq(last_key_tile(p, jq, bq)), parity.eq(tq)]

        # ---- exp unit: mantissas of the tile's logits, in row order
        m.submodules.exp = ex = Exp2Mantissa(num.exp, lf, num.logit_fmt.width)
        m.d.comb += [
            ex.i.valid.eq(t_valid),
            ex.i.p.y.eq(Mux(keep_reg, t_reg, 0)),
            ex.i.p.zero.eq(~keep_reg),
            ex.o.ready.eq(1),
        ]
        Eb = Array(Signal(unsigned(p.e_width), name=f"E{r}") for r in range(R))
        eo = Signal(range(max(2, R)))
        e_ready = Signal()
        m.d.sync += e_ready.eq(0)
        with m.If(ex.o.valid):
            for r in range(R):
                with m.If(eo == r):
                    m.d.sync += Eb[r].eq(ex.o.p.e)
            m.d.sync += eo.eq(Mux(eo == R - 1, 0, eo + 1))
            with m.If(eo == R - 1):
                m.d.sync += e_ready.eq(1)

        # ---- running max
        M = Signal(signed(ew))
        rsh = Signal(range(S + 2))
        with m.If(lm_done):
            m_old = Mux(first, NEG, M)
            m_new = Mux(lm > m_old, lm, m_old)
            m.d.sync += [M.eq(m_new), rsh.eq(m_new - m_old)]

        # ---- probabilities into the PEs, and the running sum
        rd = Signal(unsigned(p.rd_width))
        rnd = num.acc_rounding
        if num.finite:
            up, down = max(0, num.acc_frac_bits - num.mantissa_bits), max(0, num.mantissa_bits - num.acc_frac_bits)
        terms = []
        for r in range(R):
            sh = Signal(unsigned(self.sh_width), name=f"sh{r}")
            m.d.comb += sh.eq(Mux(Eb[r] == 0, 0, (M - eb[r])[: self.sh_width]))
            m.d.comb += [self.p_e[r].eq(Eb[r]), self.p_sh[r].eq(sh)]
            if num.finite:
                terms.append(shift_right_var(Eb[r] << up, sh + down, p.e_width + up, rnd))
            else:
                terms.append(Eb[r] << (S - sh)[: self.sh_width])
        sld = Signal(unsigned(p.rd_width))
        m.d.comb += sld.eq(sum(terms))
        m.d.comb += [self.p_we.eq(e_ready), self.p_slot.eq(parity)]
        norm_start = Signal()
        m.d.sync += norm_start.eq(e_ready & last)
        with m.If(e_ready):
            rd_old = shift_right_var(rd, rsh, p.rd_width, rnd) if num.finite else rd >> rsh
            m.d.sync += rd.eq(Mux(first, 0, rd_old) + sld)

        # ---- normalisation of the last tile: z = leading one of RD, y = 1 / (RD 2^-z)
        rp = num.recip
        w = rp.work_fmt.frac_bits
        z = leading_one(m, rd, "z")
        m.submodules.recip = rc = RecipMantissa(rp)
        lm_in = Mux(z >= w, rd >> (z - w).as_unsigned(), rd << (w - z).as_unsigned()[: max(1, w.bit_length())])
        m.d.comb += [rc.i.valid.eq(norm_start), rc.i.p.eq(lm_in[: rp.work_fmt.width]), rc.o.ready.eq(1)]
        z_live, zero_live, y_live = Signal.like(z), Signal(), Signal(shape_of(rp.work_fmt))
        with m.If(norm_start):
            m.d.sync += [z_live.eq(z), zero_live.eq(rd == 0)]
        with m.If(rc.o.valid):
            m.d.sync += y_live.eq(rc.o.p)

        # ---- PV side: RNV update as the column sums arrive
        jp, bp = Signal(range(max(2, J))), Signal(range(max(2, B)))
        f = Signal(range(max(2, d)))
        rnv = [Signal(signed(p.rnv_width), name=f"rnv{i}") for i in range(d)]
        rsh_hold, z_hold, zero_hold, y_hold = Signal.like(rsh), Signal.like(z), Signal(), Signal.like(y_live)
        f0 = f == 0
        rsh_use = Mux(f0, rsh, rsh_hold)
        z_use = Mux(f0, z_live, z_hold)
        new = Signal(signed(p.rnv_width))
        rnv_old = shift_right_var(rnv[0], rsh_use, p.rnv_width, rnd) if num.finite else rnv[0] >> rsh_use
        m.d.comb += new.eq(Mux(jp == 0, 0, rnv_old) + self.psum)
        g = num.norm_fmt
        nsh = Signal(signed(len(z) + 3))
        m.d.comb += nsh.eq(z_use - g.frac_bits + fi)
        n_val = saturate_or_wrap(
            shift_signed_var(new, nsh, p.rnv_width, Rounding.AP_TRN, max_left=max(0, g.frac_bits - fi)), g
        )
        n_reg, n_valid, n_last = Signal(shape_of(g)), Signal(), Signal()
        m.d.sync += n_valid.eq(0)
        with m.If(self.psum_valid):
            m.d.sync += [rnv[i].eq(rnv[i + 1]) for i in range(d - 1)]
            m.d.sync += [rnv[d - 1].eq(new), f.eq(Mux(f == d - 1, 0, f + 1))]
            with m.If(f0):
                m.d.sync += [rsh_hold.eq(rsh), z_hold.eq(z_live), zero_hold.eq(zero_live), y_hold.eq(y_live)]
            p_last = last_key_tile(p, jp, bp)
            with m.If(f == d - 1):
                m.d.sync += jp.eq(Mux(p_last, 0, jp + 1))
                with m.If(p_last):
                    m.d.sync += bp.eq(Mux(bp == B - 1, 0, bp + 1))
            with m.If(p_last):
                m.d.sync += [n_reg.eq(n_val), n_valid.eq(1), n_last.eq((f == d - 1) & (bp * C + self.column < N))]

        # ---- output stage: out = rnd(n * y), shifted into the output row
        out_fmt = num.out_fmt
        ny_fmt = QFormat(True, g.int_bits + rp.work_fmt.int_bits, g.frac_bits + w)
        with m.If(n_valid):
            m.d.sync += [self.out_row[i].eq(self.out_row[i + 1]) for i in range(d - 1)]
            m.d.sync += self.out_row[d - 1].eq(Mux(zero_hold, 0, resize(n_reg * y_hold, ny_fmt, out_fmt)))
        m.d.sync += self.row_last.eq(n_valid & n_last)
        return m
