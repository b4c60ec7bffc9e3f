"""Edge-MoE's kernels at function level, bit for bit: the specification of ``hls/``.

Every value is a raw integer (int64 arrays) of a format in
:class:`attnkit.params.numerics.EdgeMoeNumerics` (``A`` = ``act_fmt``,
ap_fixed<32,10>, 22 fraction bits; AP_TRN, AP_WRAP). Because ``A`` truncates
and wraps, ``acc += a * b`` (the product exact, the sum then truncated into
``A``) equals ``acc + floor(a * b)`` modulo 2^32: accumulation is exact
modulo 2^32 and **independent of order**, so the HLS loop nests may block
and interleave their sums as they like. Notation: ``tr(p)`` is a product
truncated onto ``A``'s grid, ``wrap`` reduction modulo 2^32 into ``A``.

Kernels (shapes: ``T`` tokens, ``N`` features):

- :func:`linear` (the unified linear unit): ``y[t, o] = wrap(b[o] +
  sum_i tr(x[t, i] * W[o, i]))``; with ``gelu`` the GELU table unit
  (:func:`attnkit.models.gelu.gelu`) follows. Weights ``weight_fmt``, bias
  ``attn_bias_fmt`` (Q/K/V) or ``bias_fmt``.
- :func:`scores`: per head, ``s[q, k] = wrap(sum_blocks tr(scale *
  wrap(sum_{i in block} tr(q_i k_i))))``, blocks of ``attention.dims`` (8)
  dims, ``scale = 1/sqrt(head_dim)`` in ``A`` (1/8: an exact shift by 3).
  The block order is free; the per-block scaling is not, so it is kept.
- :func:`online_softmax`: Edge-MoE's single pass over keys in order 0..T-1:
  running max ``m`` from ``A``'s minimum, running sum ``l`` from 0; per key
  ``m' = max(m, s)``, ``l = wrap(tr(l * exp(m - m')) + exp(s - m'))``
  (Edge-MoE's branch "new max: ``l * exp + 1``, else ``l + exp``" is the same
  thing, as ``exp(0)`` is exactly 1); then ``p = tr(exp(s - m) * recip(l))``.
  It is :func:`attnkit.models.softmax.softmax_edgemoe` on the formats of
  :attr:`EdgeMoeNumerics.softmax`: ``exp`` (:mod:`attnkit.models.exp`) of the exact
  difference saturated into ``exp.in_fmt``, output on ``A``'s grid in
  ``[0, 1]``; ``recip`` (:mod:`attnkit.models.recip`, two Newton steps).
  A score equal to ``A``'s minimum code counts as masked (probability 0).
- :func:`attention`: ``out[q, h*D + d] = wrap(sum_k tr(p[q, k] * v[k, h*D + d]))``.
- :func:`layernorm`: ``mean = wrap(sum_i tr(x_i * c))`` with ``c = 1/N``
  truncated into ``A``; ``msq = wrap(sum_i tr(x_i * tr(x_i * c)))``;
  ``var = wrap(msq - tr(mean^2) + eps)``; ``r = rsqrt(var)``
  (:func:`rsqrt`, ``rsqrt.out_fmt``); ``y_i = wrap(tr(tr(wrap(x_i - mean) * r) *
  w_i) + b_i)``, weights ``norm_fmt``, bias ``bias_fmt``.
- :func:`gate`: ``g[t, e] = wrap(sum_i tr(x[t, i] * Wg[e, i]))`` (no bias),
  the online softmax over the ``E`` experts in index order, top-``k`` by raw
  score (**rule**: the largest score first, ties to the lower expert index:
  a stable sort, descending), weight ``p`` of each chosen expert from the
  softmax; per-expert patch queues in ascending patch order, and the active
  experts in ascending index order (each loaded once).
- :func:`moe`: ``out = 0``; for each active expert, for each queued patch:
  ``h = linear(x, W1, b1, gelu)``, ``y = linear(h, W2, b2)``, ``out[t] =
  wrap(out[t] + tr(y * p))``.
- :func:`layer` (timm ViT block as Edge-MoE runs it): ``x1 = x +
  proj(attention(qkv(LN1(x))))``; ``x2 = x1 + mlp(LN2(x1))`` (dense:
  ``fc2(gelu(fc1))``; MoE: :func:`moe` with the gate on ``LN2(x1)``).
  :func:`random_layer_weights` draws seeded weights.

Error against float64 (the same quantised inputs and weights, exact
arithmetic; ``attnkit golden-report``, :func:`error_rows`, bounds in
:data:`ERROR_BOUNDS`; ``attnkit golden-report``, seed 0, 129 tokens): max
abs error (ULPs of 2^-22) exp 2.4e-7 (1.0), recip 2.4e-7 (1.0), rsqrt 7.6e-6
(32; its own lsb is 8 ULP), linear FC1+GELU 8.8e-5 (370), FC2 9.9e-5 (415),
online softmax 1.3e-5 (55: the running sum adds up to 129 truncated exps),
attention 2.3e-5 (95), LayerNorm 5.5e-5 (231), gate weights 9.7e-7 (4.1),
whole layer dense 4.0e-4 and MoE 2.1e-4 (outputs up to about 5). Truncation
biases every accumulated product by at most one ``A`` lsb (2^-22) downward,
so a sum of ``n`` products is within ``n * 2^-22`` of exact; the GELU table
adds at most 1.0e-4, the exp unit about 2^-22 relative, the reciprocal and
rsqrt units below 2^-20 relative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnkit.models.gelu import gelu as _gelu
from attnkit.models.recip import bit_length
from attnkit.models.softmax import _prep, _running, softmax_2pass
from attnkit.params.edgemoe import EdgeMoeParams
from attnkit.params.fixed import QFormat, round_shift
from attnkit.params.numerics import RsqrtParams


def _tr(prod, frac_bits: int) -> np.ndarray:
    """A product truncated by ``frac_bits`` (the second factor's fraction bits) onto A's grid (not yet wrapped)."""
    return np.asarray(prod, np.int64) >> frac_bits


# -- linear and GELU ---------------------------------------------------------------------------


def linear(x, w, b, p: EdgeMoeParams, bias_fmt: QFormat | None = None, gelu: bool = False) -> np.ndarray:
    """``x [T, IN]`` (A) times ``w [OUT, IN]`` (weight_fmt) plus ``b [OUT]`` (``bias_fmt``), optional GELU: ``[T, OUT]``."""
    n = p.numerics
    A, wf = n.act_fmt, n.weight_fmt
    bf = bias_fmt or n.bias_fmt
    x, w, b = np.asarray(x, np.int64), np.asarray(w, np.int64), np.asarray(b, np.int64)
    acc = np.broadcast_to(b << (A.frac_bits - bf.frac_bits), (x.shape[0], w.shape[0])).copy()
    for i in range(x.shape[1]):
        acc += _tr(x[:, i : i + 1] * w[None, :, i], wf.frac_bits)
    y = A.saturate_or_wrap(acc)
    return gelu_unit(y, p) if gelu else y


def gelu_unit(x, p: EdgeMoeParams) -> np.ndarray:
    """The GELU table unit (:mod:`attnkit.models.gelu`) on activations."""
    return _gelu(x, p.numerics.gelu)


# -- attention ---------------------------------------------------------------------------------


def scores(q, k, p: EdgeMoeParams) -> np.ndarray:
    """``[heads, Tq, Tk]`` scaled scores of ``q [Tq, H*D]`` against ``k [Tk, H*D]`` (A)."""
    A = p.numerics.act_fmt
    H, D, blk = p.workload.heads, p.workload.head_dim, p.arch.attention.dims
    q, k = np.asarray(q, np.int64), np.asarray(k, np.int64)
    out = np.zeros((H, q.shape[0], k.shape[0]), np.int64)
    for h in range(H):
        for b0 in range(h * D, (h + 1) * D, blk):
            part = np.zeros((q.shape[0], k.shape[0]), np.int64)
            for i in range(b0, b0 + blk):
                part += _tr(q[:, i : i + 1] * k[None, :, i], A.frac_bits)
            part = A.saturate_or_wrap(part)
            out[h] += _tr(part * p.attn_scale_raw, A.frac_bits)
    return A.saturate_or_wrap(out)


def online_softmax(s, p: EdgeMoeParams) -> np.ndarray:
    """Edge-MoE's online softmax over the last axis (keys in order): probabilities in A."""
    return softmax_2pass(s, p.numerics.softmax, tile=1)


def online_softmax_state(s, p: EdgeMoeParams):
    """``(m, l, recip(l))`` after the last key, each ``[..., 1]`` (for tests and the RTL softmax block)."""
    from attnkit.models.recip import recip

    sp = p.numerics.softmax
    x, keep = _prep(s, None, sp)
    m, l, _ = _running(x, keep, sp, 1)
    return m, l, recip(l, sp.recip)


def attention(q, k, v, p: EdgeMoeParams) -> np.ndarray:
    """Multi-head attention of ``q, k, v [T, H*D]`` (A): ``[T, H*D]`` in A."""
    A = p.numerics.act_fmt
    H, D = p.workload.heads, p.workload.head_dim
    v = np.asarray(v, np.int64)
    prob = online_softmax(scores(q, k, p), p)
    out = np.zeros((prob.shape[1], H * D), np.int64)
    for h in range(H):
        vh = v[:, h * D : (h + 1) * D]
        for j in range(vh.shape[0]):
            out[:, h * D : (h + 1) * D] += _tr(prob[h, :, j : j + 1] * vh[None, j, :], A.frac_bits)
    return A.saturate_or_wrap(out)


# -- LayerNorm ---------------------------------------------------------------------------------


def rsqrt_seed_table(r: RsqrtParams) -> np.ndarray:
    """``1/sqrt(midpoint)`` of the ``3 * 2^(seed_bits-1)`` intervals of ``[1, 4)``, raw in ``seed_fmt``."""
    half = 1 << (r.seed_bits - 1)
    mid = (np.arange(3 * half, dtype=np.float64) + half + 0.5) / half
    return r.seed_fmt.quantize(1.0 / np.sqrt(mid))


def rsqrt(x, r: RsqrtParams) -> np.ndarray:
    """``1/sqrt(x)`` for raw ``x`` of ``r.in_fmt`` (see :class:`RsqrtParams`), raw in ``r.out_fmt``."""
    x = np.asarray(x, np.int64)
    pos = x > 0
    xs = np.where(pos, x, 1)
    fi, W, wf = r.in_fmt.frac_bits, r.work_fmt.frac_bits, r.work_fmt
    z = bit_length(xs) - 1
    kk = np.where((z - fi) % 2 == 0, z, z - 1)  # x = m 2^(kk - fi), kk - fi even, m in [1, 4)
    e = kk - fi
    m = round_shift(xs, kk - W, wf.rounding)
    s = rsqrt_seed_table(r)
    half = 1 << (r.seed_bits - 1)
    i = np.clip((m >> (W - (r.seed_bits - 1))) - half, 0, 3 * half - 1)
    y = wf.resize(s[i], r.seed_fmt)
    three = np.int64(3) << W
    for _ in range(r.iters):
        t = wf.saturate_or_wrap((y * y) >> W)
        u = wf.saturate_or_wrap((m * t) >> W)
        y = wf.saturate_or_wrap((y * (three - u)) >> (W + 1))
    sh = (W - r.out_fmt.frac_bits) + e // 2
    out = r.out_fmt.saturate_or_wrap(round_shift(y, sh, r.out_fmt.rounding))
    return np.where(pos, out, r.out_fmt.max_raw)


def layernorm(x, w, b, p: EdgeMoeParams) -> np.ndarray:
    """LayerNorm of each row of ``x [T, N]`` (A); weights ``norm_fmt``, bias ``bias_fmt``."""
    n = p.numerics
    A, rf = n.act_fmt, n.rsqrt.out_fmt
    x, w, b = np.asarray(x, np.int64), np.asarray(w, np.int64), np.asarray(b, np.int64)
    t = A.saturate_or_wrap(_tr(x * p.ln_inv_n_raw, A.frac_bits))
    mean = A.saturate_or_wrap(np.sum(t, axis=-1, keepdims=True))
    msq = A.saturate_or_wrap(np.sum(_tr(x * t, A.frac_bits), axis=-1, keepdims=True))
    sq = A.saturate_or_wrap(_tr(mean * mean, A.frac_bits))
    var = A.saturate_or_wrap(msq - sq + n.eps_raw)
    r = rsqrt(var, n.rsqrt)
    y = A.saturate_or_wrap(x - mean)
    y = A.saturate_or_wrap(_tr(y * r, rf.frac_bits))
    y = A.saturate_or_wrap(_tr(y * w, n.norm_fmt.frac_bits))
    return A.saturate_or_wrap(y + (b << (A.frac_bits - n.bias_fmt.frac_bits)))


# -- the MoE gate and experts ------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    """Top-k experts and weights per patch, and the per-expert queues."""

    indices: np.ndarray  # [T, k] expert of each slot, best first
    weights: np.ndarray  # [T, k] raw A softmax weight of that expert
    queue_lens: np.ndarray  # [E]
    queues: np.ndarray  # [E, T] patch indices in ascending order, -1 padded
    queue_weights: np.ndarray  # [E, T] the weight of each queued patch, 0 padded
    active: np.ndarray  # experts with a non-empty queue, ascending


def gate_scores(x, wg, p: EdgeMoeParams) -> np.ndarray:
    """``[T, E]`` gate logits: ``x [T, N]`` times ``wg [E, N]`` (weight_fmt), no bias."""
    return linear(x, wg, np.zeros(np.asarray(wg).shape[0], np.int64), p)


def topk(s, k: int) -> np.ndarray:
    """Indices of the ``k`` largest per row, largest first, ties to the lower index."""
    s = np.asarray(s, np.int64)
    return np.argsort(-s, axis=-1, kind="stable")[:, :k]


def gate(x, wg, p: EdgeMoeParams) -> GateResult:
    s = gate_scores(x, wg, p)
    E, k = s.shape[1], p.workload.top_k
    prob = online_softmax(s, p)
    idx = topk(s, k)
    wts = np.take_along_axis(prob, idx, axis=1)
    T = s.shape[0]
    queues = np.full((E, T), -1, np.int64)
    qw = np.zeros((E, T), np.int64)
    lens = np.zeros(E, np.int64)
    for t in range(T):
        for j in range(k):
            e = idx[t, j]
            queues[e, lens[e]] = t
            qw[e, lens[e]] = wts[t, j]
            lens[e] += 1
    return GateResult(idx, wts, lens, queues, qw, np.flatnonzero(lens > 0))


def moe(x, wg, w1, b1, w2, b2, p: EdgeMoeParams, g: GateResult | None = None) -> np.ndarray:
    """The MoE block on ``x [T, N]``: experts ``w1 [E, F, N]``, ``b1 [E, F]``, ``w2 [E, N, F]``, ``b2 [E, N]``."""
    A = p.numerics.act_fmt
    g = gate(x, wg, p) if g is None else g
    x = np.asarray(x, np.int64)
    out = np.zeros_like(x)
    for e in g.active:
        rows = g.queues[e, : g.queue_lens[e]]
        h = linear(x[rows], w1[e], b1[e], p, gelu=True)
        y = linear(h, w2[e], b2[e], p)
        out[rows] = A.saturate_or_wrap(out[rows] + _tr(y * g.queue_weights[e, : g.queue_lens[e], None], A.frac_bits))
    return out


# -- one M3ViT layer ---------------------------------------------------------------------------

LAYER_WEIGHTS = (
    "ln1_w",
    "ln1_b",
    "qkv_w",
    "qkv_b",
    "proj_w",
    "proj_b",
    "ln2_w",
    "ln2_b",
    "fc1_w",
    "fc1_b",
    "fc2_w",
    "fc2_b",
    "gate_w",
    "e1_w",
    "e1_b",
    "e2_w",
    "e2_b",
)


def random_layer_weights(p: EdgeMoeParams, moe_layer: bool, seed: int) -> dict[str, np.ndarray]:
    """Seeded weights of one layer (raw), of a size and spread a trained ViT has (LayerNorm weights near 1)."""
    n, w = p.numerics, p.workload
    rng = np.random.default_rng(seed)
    N, F, E, FE = w.d_model, w.ffn, w.experts, w.expert_ffn

    def lin(o, i):
        return n.weight_fmt.quantize(np.clip(rng.normal(0, 1 / math.sqrt(i), (o, i)), -1.9, 1.9))

    def bias(fmt, shape, sd=0.05):
        return fmt.quantize(rng.normal(0, sd, shape))

    d = {
        "ln1_w": n.norm_fmt.quantize(rng.normal(1, 0.1, N)),
        "ln1_b": bias(n.bias_fmt, N),
        "qkv_w": lin(3 * N, N),
        "qkv_b": bias(n.attn_bias_fmt, 3 * N),
        "proj_w": lin(N, N),
        "proj_b": bias(n.bias_fmt, N),
        "ln2_w": n.norm_fmt.quantize(rng.normal(1, 0.1, N)),
        "ln2_b": bias(n.bias_fmt, N),
    }
    if moe_layer:
        d["gate_w"] = lin(E, N)
        d["e1_w"] = np.stack([lin(FE, N) for _ in range(E)])
        d["e1_b"] = bias(n.bias_fmt, (E, FE))
        d["e2_w"] = np.stack([lin(N, FE) for _ in range(E)])
        d["e2_b"] = bias(n.bias_fmt, (E, N))
    else:
        d["fc1_w"], d["fc1_b"] = lin(F, N), bias(n.bias_fmt, F)
        d["fc2_w"], d["fc2_b"] = lin(N, F), bias(n.bias_fmt, N)
    return d


def random_tokens(p: EdgeMoeParams, rng, t: int | None = None, sd: float = 1.0) -> np.ndarray:
    """``[T, d_model]`` activations ~ N(0, sd) in A."""
    A = p.numerics.act_fmt
    return A.quantize(rng.normal(0, sd, (t or p.workload.tokens, p.workload.d_model)))


def layer(x, wts: dict, p: EdgeMoeParams, moe_layer: bool, trace: dict | None = None) -> np.ndarray:
    """One M3ViT encoder layer on ``x [T, N]`` (A): attention + dense MLP, or attention + MoE.

    ``trace``, if given, receives the intermediates (``h``, ``qkv``, ``attn``, ``x1``, ``h2``, ``gate``).
    """
    n, A, N = p.numerics, p.numerics.act_fmt, p.workload.d_model
    x = np.asarray(x, np.int64)
    h = layernorm(x, wts["ln1_w"], wts["ln1_b"], p)
    qkv = linear(h, wts["qkv_w"], wts["qkv_b"], p, bias_fmt=n.attn_bias_fmt)
    a = attention(qkv[:, :N], qkv[:, N : 2 * N], qkv[:, 2 * N :], p)
    x1 = A.saturate_or_wrap(x + linear(a, wts["proj_w"], wts["proj_b"], p))
    h2 = layernorm(x1, wts["ln2_w"], wts["ln2_b"], p)
    if trace is not None:
        trace.update(h=h, qkv=qkv, attn=a, x1=x1, h2=h2)
    if moe_layer:
        g = gate(h2, wts["gate_w"], p)
        if trace is not None:
            trace["gate"] = g
        m = moe(h2, wts["gate_w"], wts["e1_w"], wts["e1_b"], wts["e2_w"], wts["e2_b"], p, g)
    else:
        m = linear(linear(h2, wts["fc1_w"], wts["fc1_b"], p, gelu=True), wts["fc2_w"], wts["fc2_b"], p)
    return A.saturate_or_wrap(x1 + m)


# -- float64 references ------------------------------------------------------------------------


def _phi_cdf(x):
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def ref_gelu(x):
    x = np.asarray(x, np.float64)
    return x * _phi_cdf(x)


def ref_linear(x, w, b, gelu=False):
    y = x @ w.T + b
    return ref_gelu(y) if gelu else y


def ref_softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ref_attention(q, k, v, heads: int):
    T, HD = q.shape
    D = HD // heads
    out = np.zeros((T, HD))
    for h in range(heads):
        sl = slice(h * D, (h + 1) * D)
        out[:, sl] = ref_softmax(q[:, sl] @ k[:, sl].T / math.sqrt(D)) @ v[:, sl]
    return out


def ref_layernorm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def ref_moe(x, wg, w1, b1, w2, b2, idx, top_k):
    """Float MoE with the golden model's expert choice ``idx`` (so a near-tie cannot flip the comparison)."""
    prob = ref_softmax(x @ wg.T)
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        for e in idx[t, :top_k]:
            out[t] += prob[t, e] * ref_linear(ref_linear(x[t : t + 1], w1[e], b1[e], True), w2[e], b2[e])[0]
    return out


def ref_layer(x, wf: dict, p: EdgeMoeParams, moe_layer: bool, idx=None):
    """float64 layer on real-valued inputs and weights (``wf``: the weights as values)."""
    N, eps = p.workload.d_model, p.numerics.ln_eps
    h = ref_layernorm(x, wf["ln1_w"], wf["ln1_b"], eps)
    qkv = ref_linear(h, wf["qkv_w"], wf["qkv_b"])
    a = ref_attention(qkv[:, :N], qkv[:, N : 2 * N], qkv[:, 2 * N :], p.workload.heads)
    x1 = x + ref_linear(a, wf["proj_w"], wf["proj_b"])
    h2 = ref_layernorm(x1, wf["ln2_w"], wf["ln2_b"], eps)
    if moe_layer:
        if idx is None:
            idx = topk(np.round(h2 @ wf["gate_w"].T * 2**30).astype(np.int64), p.workload.top_k)
        m = ref_moe(h2, wf["gate_w"], wf["e1_w"], wf["e1_b"], wf["e2_w"], wf["e2_b"], idx, p.workload.top_k)
    else:
        m = ref_linear(ref_linear(h2, wf["fc1_w"], wf["fc1_b"], True), wf["fc2_w"], wf["fc2_b"])
    return x1 + m


def weight_values(wts: dict, p: EdgeMoeParams) -> dict:
    """The raw layer weights as float64 values (each in its own format)."""
    n = p.numerics
    fmt = {"ln1_w": n.norm_fmt, "ln2_w": n.norm_fmt, "qkv_b": n.attn_bias_fmt}
    out = {}
    for k, v in wts.items():
        f = fmt.get(k, n.weight_fmt if k.endswith("_w") else n.bias_fmt)
        out[k] = f.to_float(v)
    return out


# -- error against float64 (attnkit golden-report) ---------------------------------------------

_LSB = 2.0**-22
ERROR_BOUNDS = {
    # max abs error against float64 that the tests hold the rows of error_rows() to (defaults)
    "edgemoe exp": 2 * _LSB,  # the 2^f interpolation and the output truncation: 1 lsb each
    "edgemoe recip": 2 * _LSB,  # two Newton steps leave < 2^-28 relative; output truncation
    "edgemoe rsqrt": 64 * _LSB,  # 2^-27 relative work precision x outputs up to 2^11, truncation
    "edgemoe linear FC1+GELU": 1.13 * 192 * _LSB + 1.0e-4 + _LSB,  # <1 lsb per truncated product, GELU slope
    # <= 1.13, the GELU table's 1.0e-4
    "edgemoe linear FC2": 768 * _LSB,  # < 1 lsb per truncated product
    "edgemoe online softmax": 2 * 129 * _LSB,  # up to T truncated exps (and rescales) in a sum >= 1
    "edgemoe attention": 1.0e-4,  # the softmax's error times sum |v| plus T truncated products
    "edgemoe layernorm": 2.0e-4,  # truncated mean/variance terms times rstd, then w, b
    "edgemoe gate weights": 1.0e-5,  # 16 exps in the sum; scores off by < 192 lsb
    "edgemoe layer dense": 2.0e-3,  # the above through LN, attention, MLP, residuals
    "edgemoe layer MoE": 2.0e-3,
}


def error_rows(rng, quick: bool = False) -> list[dict]:
    """Rows ``function, max_abs_err, mean_abs_err, max_ulp, inputs`` (ULPs of ``act_fmt``) for the Edge-MoE golden models."""
    from attnkit.models.error import error_stats
    from attnkit.models.exp import exp
    from attnkit.models.recip import recip

    p = EdgeMoeParams.load()
    n, w = p.numerics, p.workload
    A = n.act_fmt
    rows = []

    def row(name, y, ref, inputs, fmt=A):
        st = error_stats(fmt.to_float(y), ref, A.lsb)
        rows.append(
            {
                "function": name,
                "max_abs_err": st["max_abs_err"],
                "mean_abs_err": st["mean_abs_err"],
                "max_ulp": st["max_ulp"],
                "inputs": f"{st['inputs']} ({inputs})",
            }
        )

    x = A.quantize(np.linspace(-24, 0, 200_001))
    row("edgemoe exp", exp(x, n.exp), np.exp(A.to_float(x)), "a grid on [-24, 0]", n.exp.out_fmt)
    x = A.quantize(np.linspace(1, w.tokens, 200_001))
    row("edgemoe recip", recip(x, n.recip), 1 / A.to_float(x), f"a grid on [1, {w.tokens}]", n.recip.out_fmt)
    x = A.quantize(np.geomspace(n.ln_eps, 256, 200_001))
    row(
        "edgemoe rsqrt",
        rsqrt(x, n.rsqrt),
        1 / np.sqrt(A.to_float(x)),
        f"a log grid on [{n.ln_eps:g}, 256]",
        n.rsqrt.out_fmt,
    )

    T = 32 if quick else w.tokens
    wts = random_layer_weights(p, False, 1)
    wf = weight_values(wts, p)
    xs = random_tokens(p, rng, T)
    xv = A.to_float(xs)
    row(
        "edgemoe linear FC1+GELU",
        linear(xs, wts["fc1_w"], wts["fc1_b"], p, gelu=True),
        ref_linear(xv, wf["fc1_w"], wf["fc1_b"], True),
        f"{T} tokens, {w.d_model} -> {w.ffn}, N(0,1) inputs",
    )
    h = A.quantize(np.clip(rng.normal(0, 1, (T, w.ffn)), -8, 8))
    row(
        "edgemoe linear FC2",
        linear(h, wts["fc2_w"], wts["fc2_b"], p),
        ref_linear(A.to_float(h), wf["fc2_w"], wf["fc2_b"]),
        f"{T} tokens, {w.ffn} -> {w.d_model}",
    )
    s = A.quantize(rng.normal(0, 3, (256, w.tokens)))
    row(
        "edgemoe online softmax",
        online_softmax(s, p),
        ref_softmax(A.to_float(s)),
        f"256 rows of {w.tokens} N(0,3) scores",
    )
    q, k, v = (random_tokens(p, rng, T) for _ in range(3))
    row(
        "edgemoe attention",
        attention(q, k, v, p),
        ref_attention(A.to_float(q), A.to_float(k), A.to_float(v), w.heads),
        f"{T} tokens, {w.heads} x {w.head_dim}, N(0,1)",
    )
    lx = A.quantize(rng.normal(0.5, 2, (T, w.d_model)))
    row(
        "edgemoe layernorm",
        layernorm(lx, wts["ln1_w"], wts["ln1_b"], p),
        ref_layernorm(A.to_float(lx), wf["ln1_w"], wf["ln1_b"], n.ln_eps),
        f"{T} tokens of N(0.5, 2)",
    )
    mw = random_layer_weights(p, True, 2)
    mf = weight_values(mw, p)
    g = gate(xs, mw["gate_w"], p)
    ref_w = np.take_along_axis(ref_softmax(xv @ mf["gate_w"].T), g.indices, axis=1)
    row("edgemoe gate weights", g.weights, ref_w, f"{T} tokens x top-{w.top_k} of {w.experts} (the golden's choice)")
    for moe_layer, wl, wlf in ((False, wts, wf), (True, mw, mf)):
        tr: dict[str, Any] = {}  # arrays, and the gate's GateResult
        y = layer(xs, wl, p, moe_layer, tr)
        ref = ref_layer(xv, wlf, p, moe_layer, tr["gate"].indices if moe_layer else None)
        row(f"edgemoe layer {'MoE' if moe_layer else 'dense'}", y, ref, f"{T} tokens, seeded weights, N(0,1) input")
    return rows
