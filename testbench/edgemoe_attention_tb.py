"""cocotb testbench for the RTL reordered attention unit: every output of every call checked against
:func:`attnkit.models.edgemoe_golden.attention`, and its cycles against :func:`attnkit.params.edgemoe.attention_cycles`.

``vectors`` is the number of calls (problems): multi-head attention of
``T`` tokens (1 to ``tokens``), its own Q, K and V. They rotate through the
kinds of :data:`KINDS`, so any run of five or more has each: ``normal``
(values of a trained ViT's spread), ``wide`` (every value uniform over its
whole format: sums and scores wrap), ``extremes`` (every value a format's
minimum, maximum, 0 or one lsb from them), ``equal-rows`` (every K row the
same: all scores of a query equal) and ``masked`` (some queries score exactly
the format's minimum against some keys, so those keys are masked; with
probability one half against every key, a fully masked row). Masked scores
are built from the data (:func:`mask_parts`): a masked query's first element
of every dim block is chosen so that its head's score sums to the minimum
against a masked key, whose blocks are ``[1, 0, ..., 0]``; where the head is
too short for that (``head_dim / dims x 1/sqrt(head_dim) < 1``) the kind
runs as ``normal``.

Three groups of calls, the cases of :class:`AttentionBench` (the block's
definition for every driver, :mod:`attnkit.testbench.streams`):

- ``single``: one case per call: its first query block's Q rows as Q beats,
  then per block its K and V rows, the next block's Q rows riding on the V
  beats; the output always taken: ``attention_cycles(T)``.
- ``chained``: :data:`CHAINED_CALLS` calls of more than ``lanes`` tokens in
  one case, each call's first Q rows riding on the previous call's last V
  beats: its K beats follow them at once, and its last block's outputs drain
  behind the next call's Q x K. The case takes the first call's
  ``attention_cycles`` plus each later call's less its first Q rows, less
  each earlier call's last drain and ``ATTN_DEPTH``; each call's last output
  is checked at its predicted cycle.
- ``random-flow``: the rest as one chained case with random input gaps and
  output stalls (values only); Q rows that do not fit on the previous V beats
  follow them as Q beats.

The functional coverage of :class:`attnkit.testbench.coverage.EdgeMoeAttentionCoverage`
is sampled on every call (cocotb only) and reported as ``coverage``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cocotb
import numpy as np

from attnkit.hw.edgemoe_attention import EdgeMoeAttention, in_layout, out_layout
from attnkit.models.edgemoe_golden import attention
from attnkit.params.edgemoe import (
    ATTN_DEPTH,
    EdgeMoeParams,
    GateUnit,
    LayerNormUnit,
    LinearUnit,
    RtlEdgeMoeAttentionParams,
    VitMoeWorkload,
)
from attnkit.testbench import streams
from attnkit.testbench.coverage import EdgeMoeAttentionCoverage

KINDS = ("normal", "wide", "extremes", "equal-rows", "masked")
CHAINED_CALLS = 3
P_FLOW = 0.3  # the random-flow case: the chance of an idle input cycle, and of o.ready low


@dataclass
class Call:
    """One call: raw ``q``, ``k``, ``v`` ``[T, heads x head_dim]`` (``act_fmt``), its kind, and the golden
    outputs ``y [T, heads x head_dim]``."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    kind: str
    y: np.ndarray | None = None

    @property
    def tokens(self) -> int:
        return len(self.q)


def golden_params(p: RtlEdgeMoeAttentionParams) -> EdgeMoeParams:
    """The Edge-MoE parameters the golden model reads: the machine's numerics and ``attention.dims``, the
    block's heads; the units attention does not use are set to 1 so that no model size constrains them."""
    arch = dataclasses.replace(
        p.arch, linear=LinearUnit(1, 1), gate=GateUnit(p.arch.gate.experts, 1), layernorm=LayerNormUnit(1)
    )
    w = VitMoeWorkload(heads=p.heads, head_dim=p.head_dim, d_model=p.d_model, experts=arch.gate.experts)
    return EdgeMoeParams(arch, w)


def golden(p: RtlEdgeMoeAttentionParams, q, k, v) -> np.ndarray:
    return attention(q, k, v, golden_params(p))


def mask_parts(p: RtlEdgeMoeAttentionParams) -> list[int] | None:
    """Raw first elements of a masked query's dim blocks within one head (``head_dim / dims`` of them) whose
    scaled block sums against a ``[1, 0, ..., 0]`` key block add up to ``act_fmt``'s minimum (the mask
    code); None where they cannot (the head's blocks times the scale reach less than the format's range)."""
    A = p.numerics.act_fmt
    F, s = A.frac_bits, p.scale_raw
    lo = (A.min_raw * s) >> F  # the most negative scaled block sum
    rem, out = A.min_raw, []
    for b in range(p.head_blocks):
        c = rem if b == p.head_blocks - 1 else max(lo, rem)
        if c < lo:
            return None
        part = -((-(c << F)) // s)  # the smallest raw block sum whose scaled value is c
        if part < A.min_raw or (part * s) >> F != c:
            return None
        out.append(part)
        rem -= c
    return out


def _pick(rng, fmt, shape):
    vals = np.array([fmt.min_raw, fmt.min_raw + 1, fmt.max_raw, fmt.max_raw - 1, 0, 1, -1])
    return rng.choice(vals, shape)


def make_call(p: RtlEdgeMoeAttentionParams, j: int, tokens: int, rng: np.random.Generator) -> Call:
    """Call ``j`` of the run (its kind by rotation) on ``tokens`` tokens."""
    A = p.numerics.act_fmt
    kind = KINDS[j % len(KINDS)]
    T, D = tokens, p.d_model
    parts = mask_parts(p) if kind == "masked" else None
    if kind == "wide":
        q, k, v = (rng.integers(A.min_raw, A.max_raw + 1, (T, D)) for _ in range(3))
    elif kind == "extremes":
        q, k, v = (_pick(rng, A, (T, D)) for _ in range(3))
    else:
        q, k, v = (A.quantize(rng.normal(0, 1.5, (T, D))) for _ in range(3))
        if kind == "equal-rows":
            k = np.broadcast_to(k[:1], (T, D)).copy()
        if parts is not None:
            P = p.dims
            first = np.arange(0, D, P)  # the first element of every dim block
            qm = rng.random(T) < 0.5
            qm[rng.integers(T)] = True
            km = np.ones(T, bool) if rng.random() < 0.5 else rng.random(T) < 0.5
            km[rng.integers(T)] = True
            k[:, first] = 0
            k[km] = 0
            k[np.ix_(km, first)] = 1 << A.frac_bits
            q[np.ix_(qm, first)] = np.tile(parts, p.heads)
    q, k, v = (np.asarray(x, np.int64) for x in (q, k, v))
    return Call(q, k, v, kind if kind != "masked" or parts is not None else "normal", golden(p, q, k, v))


# -- beats --------------------------------------------------------------------------------------------------


class _Packer:
    """Input beats of :func:`in_layout` as raw bits, fast (the fields' offsets looked up once; a case has
    thousands of beats): the same bits :func:`attnkit.testbench.streams.pack` gives."""

    def __init__(self, p: RtlEdgeMoeAttentionParams):
        lay = in_layout(p)
        self.off = {name: lay[name].offset for name in ("kind", "last", "q_valid", "q_end", "kv", "q")}
        self.w = p.numerics.act_fmt.width
        self.mask = (1 << self.w) - 1

    def block(self, values) -> int:
        out, w, mask = 0, self.w, self.mask
        for k, v in enumerate(values):
            out |= (int(v) & mask) << (k * w)
        return out

    def beat(self, kind: int, kv=None, q=None, last: int = 0, q_end: int = 0) -> int:
        o = self.off
        bits = (kind << o["kind"]) | (last << o["last"]) | (int(q is not None) << o["q_valid"]) | (q_end << o["q_end"])
        if kv is not None:
            bits |= self.block(kv) << o["kv"]
        if q is not None:
            bits |= self.block(q) << o["q"]
        return bits


def q_blocks(p: RtlEdgeMoeAttentionParams, c: Call, b: int) -> list[np.ndarray]:
    """Query block ``b``'s Q rows as dim blocks, in row order."""
    P, L = p.dims, p.lanes
    rows = c.q[b * L : (b + 1) * L]
    return [row[j * P : (j + 1) * P] for row in rows for j in range(p.dim_blocks)]


def sequence(p: RtlEdgeMoeAttentionParams, calls: list[Call]) -> tuple[list[int], list[tuple[int, str]]]:
    """The beats of ``calls`` in one stream; and per beat (call, ``"q"``, ``"k"`` or ``"v"``). Each query
    block's Q rows ride on the V beats before them (the previous block's, or the previous call's last);
    those that do not fit, and the first call's first, go as Q beats."""
    P, B = p.dims, p.dim_blocks
    pk = _Packer(p)
    beats: list[int] = []
    owner: list[tuple[int, str]] = []

    def q_only(blocks, who):
        for j, blk in enumerate(blocks):
            beats.append(pk.beat(EdgeMoeAttention.Q, q=blk, q_end=int(j == len(blocks) - 1)))
            owner.append(who)

    q_only(q_blocks(p, calls[0], 0), (0, "q"))
    for ci, c in enumerate(calls):
        T, nb = c.tokens, p.blocks(c.tokens)
        for b in range(nb):
            for t in range(T):
                for j in range(B):
                    beats.append(pk.beat(EdgeMoeAttention.K, kv=c.k[t, j * P : (j + 1) * P], last=int(t == T - 1)))
                    owner.append((ci, "k"))
            if b + 1 < nb:
                nxt, who = q_blocks(p, c, b + 1), (ci, "q")
            elif ci + 1 < len(calls):
                nxt, who = q_blocks(p, calls[ci + 1], 0), (ci + 1, "q")
            else:
                nxt, who = [], (ci, "q")
            for t in range(T):
                for j in range(B):
                    n = len(nxt) - (t * B + j)  # Q blocks left after this one
                    rider = nxt[t * B + j] if n > 0 else None
                    beats.append(
                        pk.beat(
                            EdgeMoeAttention.V,
                            kv=c.v[t, j * P : (j + 1) * P],
                            q=rider,
                            last=int(t == T - 1),
                            q_end=int(n == 1),
                        )
                    )
                    owner.append((ci, "v"))
            q_only(nxt[T * B :], who)  # the rows that did not fit
    return beats, owner


def outputs(p: RtlEdgeMoeAttentionParams, c: Call) -> list[tuple]:
    P = p.dims
    assert c.y is not None
    return [tuple(int(x) for x in row[j * P : (j + 1) * P]) for row in c.y for j in range(p.dim_blocks)]


def chained_cycles(p: RtlEdgeMoeAttentionParams, calls: list[Call]) -> list[int]:
    """Per call of a chained case, the cycle of its last output taken, from the case's first beat taken (0)."""
    B, G = p.dim_blocks, p.stats_gap
    t = min(p.lanes, calls[0].tokens) * B
    out = []
    for c in calls:
        T, nb = c.tokens, p.blocks(c.tokens)
        t += nb * (2 * T * B + G)
        out.append(t + (T - (nb - 1) * p.lanes) * B + ATTN_DEPTH - 1)
    return out


def chainable(p: RtlEdgeMoeAttentionParams, tokens: int) -> bool:
    """Whether calls of ``tokens`` chain at full speed: the next call's first Q rows fit on this call's last V
    beats, and this call's last drain ends before the next call's first V beat."""
    return tokens > p.lanes


# -- the bench ----------------------------------------------------------------------------------------------


class AttentionBench(streams.CallsBench):
    """Calls of :func:`make_call`: ``single`` cases, one ``chained`` case and one ``random-flow`` case (the
    module docstring)."""

    unit = EdgeMoeAttention
    in_layout = staticmethod(in_layout)
    out_layout = staticmethod(out_layout)
    sequence = staticmethod(sequence)
    outputs = staticmethod(outputs)
    coverage = EdgeMoeAttentionCoverage

    def cases(self, p, vectors, seed):
        rng = np.random.default_rng(seed)
        long = (p.lanes + 1, p.tokens)  # tokens of a chained call
        n_ch = CHAINED_CALLS if chainable(p, p.tokens) and vectors >= CHAINED_CALLS + 2 else 0
        n_flow = max(0, min(vectors - n_ch - 1, vectors // 4)) if vectors > 1 else 0
        n_single = vectors - n_ch - n_flow
        out, j = [], 0
        for _ in range(n_single):
            out.append(self._case(p, [make_call(p, j, int(rng.integers(1, p.tokens + 1)), rng)], "single"))
            j += 1
        if n_ch:
            calls = [make_call(p, j + i, int(rng.integers(long[0], long[1] + 1)), rng) for i in range(n_ch)]
            out.append(self._case(p, calls, "chained"))
            j += n_ch
        if n_flow:
            calls = [make_call(p, j + i, int(rng.integers(1, p.tokens + 1)), rng) for i in range(n_flow)]
            out.append(self._flow_case(p, calls, rng, P_FLOW))
        return out

    def predicted_cycles(self, p, case):
        calls = case.info["calls"]
        if case.kind == "single":
            return p.cycles(calls[0].tokens)
        if case.kind == "chained":
            return chained_cycles(p, calls)[-1] + 1
        return None

    def checks(self, p, case, trace):
        """Per call of a chained case: its last output at :func:`chained_cycles`."""
        if case.kind != "chained" or len(trace.taken) < len(case.want) or not trace.accepted:
            return {}
        ends = np.cumsum([c.tokens * p.dim_blocks for c in case.info["calls"]]) - 1
        got = [trace.taken[e] - trace.accepted[0] for e in ends]
        return {"latency_errors": sum(a != b for a, b in zip(got, chained_cycles(p, case.info["calls"])))}

    def watchdog_gap(self, p, cases):
        longest = max(p.cycles(c.tokens) for case in cases for c in case.info["calls"])
        return 2 * longest + max(streams.flow_gap(c) for c in cases)

    def summary(self, p, cases, traces):
        calls = [c for case in cases for c in case.info["calls"]]
        gp = golden_params(p)
        from attnkit.models.edgemoe_golden import scores

        masked = rows_masked = 0
        for c in calls:
            if c.kind == "masked":
                s = scores(c.q, c.k, gp) == p.numerics.act_fmt.min_raw
                masked += int(s.sum())
                rows_masked += int(s.all(axis=2).sum())
        return {
            "checked": len(calls),
            "calls": len(calls),
            "tokens": sum(c.tokens for c in calls),
            "unit": f"{p.lanes}x{p.dims}",
            "heads": f"{p.heads}x{p.head_dim}",
            "kinds": {kd: sum(c.kind == kd for c in calls) for kd in KINDS},
            "masked_scores": masked,
            "fully_masked_rows": rows_masked,
            "cycles_by_tokens": {
                str(t): p.cycles(t)
                for t in sorted({c.tokens for case in cases if case.kind == "single" for c in case.info["calls"]})
            },
        }


BENCHES = {"edgemoe_attention": AttentionBench()}


@cocotb.test()
async def edgemoe_attention_calls(dut):
    await streams.run_cocotb(dut, BENCHES["edgemoe_attention"])
