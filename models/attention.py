"""Attention at function level: the float64 reference, and the fixed-point 1-pass cascade tile by tile.

This module is the specification of the FuseMax-style engine (an R x C array
of MAC PEs computing ``Q K^T`` and ``P V``, and a 1D row unit with the exp
and reciprocal ROMs holding the running max, sum and output). All formats
are in one frozen dataclass, :class:`AttentionNumerics`.

Datapath, for one query row ``q`` against keys ``k_j`` and values ``v_j`` (all
raw integers of ``in_fmt``):

1. Score (2D array, MAC): ``s_j = q . k_j`` summed exactly (the products of
   two ``in_fmt`` values need ``2*width`` bits; the sum of ``d`` of them is
   exact in the wide MAC accumulator), then converted into ``score_fmt``
   (its rounding and overflow).
2. Logit (row unit, one multiplier): ``t_j = s_j * c`` with the constant
   ``c = scale * log2(e)`` quantised into ``scale_fmt`` (``scale`` defaults to
   ``1/sqrt(d)``), computed exactly and truncated into ``logit_fmt``
   (``AP_TRN``), then clamped *symmetrically* to ``[min_raw + 1, max_raw]``.
   ``t`` is the score in base-2 units: ``exp(scale * s) = 2^t``.
3. Masking: a masked key (``mask`` False, ``causal`` future key, padding)
   gets the logit code ``logit_fmt.min_raw``, which is reserved for -inf:
   its probability is exactly 0. No unmasked logit can take that code.
4. Exponent and mantissa: ``e_j = floor(t_j)`` (the integer field of the
   logit), ``E_j = 2^(t_j - e_j)`` from the exp unit's table with linear
   interpolation (:func:`attnkit.models.exp.exp2_mantissa`; ``Pm =
   exp.table_fmt.frac_bits`` fraction bits, ``E_j`` in ``[1, 2]``). The
   probability weight is ``p_j = E_j * 2^e_j``, held as mantissa and exponent.
5. The cascade, per key tile ``T`` (FuseMax's Einsums; the running max ``M``
   is an *integer*, a base-2 exponent):

   ``LM = max_{j in T} e_j``; ``M' = max(M, LM)`` (``M`` starts at -inf);
   ``PRM = 2^(M - M')`` (an exact right shift by ``M' - M``);
   ``SLN_j = E_j * 2^(e_j - M')`` (``E_j`` shifted right by ``M' - e_j``);
   ``RD' = RD * PRM + sum_j SLN_j``; ``RNV' = RNV * PRM + sum_j SLN_j * v_j``.

   ``RD`` and ``RNV`` are *exact* (Kulisch) accumulators: they hold
   ``Pm + S`` fraction bits below ``2^M``, where ``S = 2^I - 1`` is the
   largest possible ``M - e_j`` (``I = logit_fmt.int_bits``; 63 by default).
   No shift in the cascade can then drop a nonzero bit: every ``SLN_j`` is
   an integer multiple of ``2^-(Pm + S)`` relative to any later ``M``. So
   ``RD = 2^-M * sum_j p_j`` and ``RNV = 2^-M * sum_j p_j v_j`` exactly,
   whatever the tiling and whatever the order of the tiles: **tiled equals
   untiled bit for bit for every tile size** (dividing the sequence or not),
   and the running max only decides where the window of bits sits.
   :func:`accumulator_bits` gives the widths (about 80 bits for ``RD`` and
   100 for ``RNV`` at the defaults and 64K keys); that is the price of
   tiling-independent results, paid in the row unit's registers, not in
   the 2D array.

   *Finite mode* (``acc_frac_bits`` = F, ``acc_rounding``): ``RD`` keeps F
   fraction bits below ``2^M`` and ``RNV`` F + ``in_fmt.frac_bits``; each term
   ``SLN_j`` and each rescaling ``RD * PRM`` is rounded there (the standard
   online-softmax rescaling, the shift exact in position since ``M`` is an
   exponent), so results depend on the tile size (:func:`finite_sums`);
   :func:`error_bound` adds the accumulation error.
6. Normalisation (row unit, once per row): leading-one detect ``z`` of ``RD``;
   ``L = RD * 2^-z`` in ``[1, 2)`` truncated to ``W = recip.work_fmt.frac_bits``
   bits; ``y = 1/L`` by the reciprocal unit's seed table and Newton-Raphson
   steps (:func:`attnkit.models.recip.recip_mantissa`); ``N = RNV * 2^-z``
   truncated into ``norm_fmt``; ``out = N * y`` rounded into ``out_fmt``.
   A fully masked row has ``RD = 0`` and gives ``out = 0``: defined, not NaN.

The NumPy model computes the same integers directly: it splits each
``E_j * 2^(e_j - e_min)`` into 16-bit digits and forms the digit sums with
float64 GEMMs that are exact (every partial sum stays below 2^53), then
joins the digits in Python integers; it loops over key tiles and query
chunks only. :func:`cascade_state` gives the row unit's registers ``(M, RD,
RNV)`` after each key tile, for an RTL testbench to compare against.

Error against float64 attention (defaults, 512 x 512 x 64, seed 0; see
``attnkit golden-report`` and :func:`error_bound`): max abs error 2.4e-4
(1.0 ULP of ``out_fmt``, lsb 2^-12), mean 6.2e-5; causal 2.6e-4 (1.08 ULP).
The dominant terms are the output rounding and the logit truncation
(``ln2 * 2^-12`` relative per weight). :func:`error_bound` states the bound the tests check; it holds
while no logit saturates (``|scale * q.k * log2 e| < 2^(I-1) - 1``).
"""

from __future__ import annotations

import math

import numpy as np

from attnkit.models.exp import exp2_mantissa, exp2_table
from attnkit.models.recip import recip_mantissa
from attnkit.params.fixed import Overflow, QFormat, Rounding, mul, round_shift, wide
from attnkit.params.numerics import LOG2E, AttentionNumerics, accumulator_bits

DIGIT = 16  # bits per digit of the exact accumulators in the NumPy model
_CHUNK = 1 << 21  # logits per query chunk (bounds memory)


# -- reference --------------------------------------------------------------------------
def attention_reference(q, k, v, scale: float | None = None, mask=None, causal: bool = False) -> np.ndarray:
    """float64 attention ``softmax(scale * q k^T) v`` on real values; fully masked rows give 0."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    keep = _keep(q.shape[-2], k.shape[-2], mask, causal)
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
    s = np.where(keep, s, -np.inf)
    m = np.max(s, axis=-1, keepdims=True)
    w = np.where(keep, np.exp(s - np.where(np.isfinite(m), m, 0.0)), 0.0)
    l = np.sum(w, axis=-1, keepdims=True)
    o = np.matmul(w, v)
    return np.divide(o, l, out=np.zeros(o.shape), where=l > 0)


def _keep(nq: int, nk: int, mask, causal: bool):
    keep = np.ones((nq, nk), bool)
    if causal:  # queries are the last nq positions of the nk-long sequence
        keep &= np.arange(nk)[None, :] <= np.arange(nq)[:, None] + (nk - nq)
    if mask is not None:
        keep = keep & np.asarray(mask, bool)
    return keep


# -- the fixed-point datapath -----------------------------------------------------------
def _exact_matmul(a, b, bound: float) -> np.ndarray:
    """``a @ b`` of integer arrays via float64 BLAS; exact because every partial sum is below ``bound`` <= 2^53."""
    if bound >= 2.0**53:
        raise ValueError("integer GEMM would not be exact in float64; use fewer keys per tile")
    return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)


def logits(q, k, num: AttentionNumerics, keep) -> np.ndarray:
    """Steps 1-3: raw logits in ``logit_fmt`` (masked keys get ``min_raw``), shape ``(..., Q, N)``."""
    d = q.shape[-1]
    fi = num.in_fmt
    prod_fmt = QFormat(True, 2 * fi.int_bits + max(1, math.ceil(math.log2(d))), 2 * fi.frac_bits)
    s = _exact_matmul(q, np.swapaxes(k, -1, -2), d * float(1 << (2 * fi.width - 2)))
    s = num.score_fmt._from_scale(s, prod_fmt.frac_bits, min(prod_fmt.width, 62))
    t = mul(
        s, num.score_fmt, np.int64(num.logit_const(d)), num.scale_fmt, num.logit_fmt.with_(overflow=Overflow.AP_SAT)
    )
    t = np.maximum(t, num.logit_fmt.min_raw + 1)
    return np.where(keep, t, num.logit_fmt.min_raw)


def _digit_sums(t, v, num: AttentionNumerics, table):
    """Digits (base 2^16, last axis) of ``sum_j E_j 2^(e_j - e_min)`` and of ``sum_j E_j 2^(e_j - e_min) v_j``."""
    masked = t == num.logit_fmt.min_raw
    e_man, e = exp2_mantissa(np.where(masked, 0, t), num.logit_fmt.frac_bits, num.exp, table)
    e_man = np.where(masked, 0, e_man)
    a = np.where(masked, 0, e - num.e_min)
    qd, rd = a // DIGIT, a % DIGIT
    x = e_man << rd
    lo, hi = x & ((1 << DIGIT) - 1), x >> DIGIT
    ndig = num.spread // DIGIT + 2 + (num.mantissa_bits + 2) // DIGIT
    vmax = float(1 << (num.in_fmt.width - 1))
    limb_max = float(max(1 << DIGIT, 1 << (num.mantissa_bits + 1)))
    bound = t.shape[-1] * limb_max * vmax
    o = np.zeros(t.shape[:-1] + (v.shape[-1], ndig), np.int64)
    l = np.zeros(t.shape[:-1] + (ndig,), np.int64)
    for kd in range(ndig):
        limb = np.where(qd == kd, lo, 0) + np.where(qd == kd - 1, hi, 0)
        if not limb.any():
            continue
        l[..., kd] = limb.sum(axis=-1)
        o[..., kd] = _exact_matmul(limb, v, bound)
    return o, l


def _join(digits) -> np.ndarray:
    """Digits (last axis, base 2^16) -> object array of Python ints."""
    out = np.zeros(digits.shape[:-1], dtype=object)
    for kd in range(digits.shape[-1]):
        out = out + (digits[..., kd].astype(object) << (DIGIT * kd))
    return out


def _floor_shift(x, sh):
    """``floor(x * 2^-sh)``, exact on Python ints, for shifts of either sign."""
    return round_shift(wide(x), wide(sh), Rounding.AP_TRN)


def _bit_length_obj(x) -> np.ndarray:
    """``bit_length`` of non-negative Python ints in an object array (0 for 0), as int64."""
    _, e = np.frexp(x.astype(np.float64))
    e = e.astype(np.int64)
    too_big = (e > 0) & np.asarray(_floor_shift(x, np.maximum(e - 1, 0).astype(object)) == 0, bool)
    return e - too_big


def normalise(o, l, num: AttentionNumerics) -> np.ndarray:
    """Step 6: ``out = o / l`` for integers ``o`` (``..., D``) and ``l`` (``...``) on a common scale (it cancels).

    ``o`` is a sum of weights times raw ``v`` (``in_fmt``), so it carries ``in_fmt.frac_bits`` more.
    """
    o = np.asarray(o, dtype=object)
    l = np.asarray(l, dtype=object)
    zero = np.asarray(l == 0, bool)
    l1 = np.where(zero, 1, l)
    z = _bit_length_obj(l1) - 1
    w = num.recip.work_fmt.frac_bits
    lm = _floor_shift(l1, (z - w).astype(object)).astype(np.int64)
    y = recip_mantissa(lm, num.recip)
    g = num.norm_fmt
    n = _floor_shift(
        o, (z - g.frac_bits + num.in_fmt.frac_bits)[..., None].astype(object)
    )  # o carries v's fraction bits
    n = (
        np.clip(n, g.min_raw, g.max_raw).astype(np.int64)
        if g.overflow is Overflow.AP_SAT
        else g.saturate_or_wrap((n & ((1 << 62) - 1)).astype(np.int64))
    )
    out = mul(n, g, y[..., None], num.recip.work_fmt, num.out_fmt)
    return np.where(zero[..., None], 0, out)


def _check(q, k, v, num):
    q, k, v = (np.asarray(a, np.int64) for a in (q, k, v))
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"shapes q {q.shape}, k {k.shape}, v {v.shape} do not make an attention")
    for name, a in (("q", q), ("k", k), ("v", v)):
        if a.size and (a.min() < num.in_fmt.min_raw or a.max() > num.in_fmt.max_raw):
            raise ValueError(f"{name} holds values outside {num.in_fmt}")
    return q, k, v


def _cascade_inputs(q, k, v, num, mask, causal: bool, tile_k: int | None):
    """What both cascades start from: the checked ``q``, ``k``, ``v``, the keep mask (broadcasting to
    ``..., Q, N``) and the key tile (default all keys)."""
    q, k, v = _check(q, k, v, num)
    nq, nk = q.shape[-2], k.shape[-2]
    tile_k = nk if tile_k is None else int(tile_k)
    if tile_k < 1:
        raise ValueError(f"tile_k = {tile_k}; expected at least 1")
    return q, k, v, _keep(nq, nk, mask, causal), tile_k


def _sums(num: AttentionNumerics):
    """The cascade the numerics ask for: :func:`finite_sums` with finite accumulators, else :func:`exact_sums`."""
    return finite_sums if num.finite else exact_sums


def exact_sums(
    q,
    k,
    v,
    num: AttentionNumerics,
    mask=None,
    causal: bool = False,
    tile_k: int | None = None,
    tile_q: int | None = None,
    trace: bool = False,
):
    """The cascade's exact sums over key tiles: ``(O, l, M)`` with ``O``, ``l`` Python-int object arrays.

    ``O`` and ``l`` are in units of ``2^(e_min - Pm)`` (absolute, not relative
    to ``M``); ``M`` is the final running max (``e_min`` for a fully masked
    row, whose ``l`` is 0). With ``trace`` also returns, per key tile, the
    row unit's registers ``(M, RD, RNV)`` relative to ``2^M`` with ``Pm + S``
    fraction bits.
    """
    if num.finite:
        raise ValueError("exact_sums is the exact mode; numerics with acc_frac_bits set: finite_sums")
    q, k, v, keep, tile_k = _cascade_inputs(q, k, v, num, mask, causal, tile_k)
    nq, nk = q.shape[-2], k.shape[-2]
    table = exp2_table(num.exp)
    tile_q = tile_q or max(1, min(nq, _CHUNK // max(1, min(tile_k, nk))))
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2], keep.shape[:-2])
    o_dig, l_dig = None, None
    m_run = np.full(batch + (nq,), num.e_min - 1, np.int64)  # -inf
    states = []
    for j0 in range(0, nk, tile_k):
        kt, vt = k[..., j0 : j0 + tile_k, :], v[..., j0 : j0 + tile_k, :]
        o_parts, l_parts, m_parts = [], [], []
        for i0 in range(0, nq, tile_q):
            kp = np.broadcast_to(keep, keep.shape[:-2] + (nq, nk))[..., i0 : i0 + tile_q, j0 : j0 + tile_k]
            t = logits(q[..., i0 : i0 + tile_q, :], kt, num, kp)
            o, l = _digit_sums(t, vt, num, table)
            o_parts.append(o)
            l_parts.append(l)
            tm = np.where(t == num.logit_fmt.min_raw, num.e_min - 1, t >> num.logit_fmt.frac_bits)
            m_parts.append(tm.max(axis=-1) if tm.shape[-1] else np.full(tm.shape[:-1], num.e_min - 1))
        o = np.concatenate(o_parts, axis=-3)
        o = np.broadcast_to(o, batch + o.shape[-3:])
        l = np.concatenate(l_parts, axis=-2)
        l = np.broadcast_to(l, batch + l.shape[-2:])
        o_dig = o.copy() if o_dig is None else o_dig + o
        l_dig = l.copy() if l_dig is None else l_dig + l
        m_run = np.maximum(m_run, np.broadcast_to(np.concatenate(m_parts, axis=-1), batch + (nq,)))
        if trace:
            sh = (np.maximum(m_run, num.e_min) - num.e_min - num.spread).astype(object)
            states.append(
                (
                    np.maximum(m_run, num.e_min),
                    _floor_shift(_join(l_dig), sh),
                    _floor_shift(_join(o_dig), sh[..., None]),
                )
            )
    if o_dig is None:  # no keys
        o_dig = np.zeros(batch + (nq, v.shape[-1], 1), np.int64)
        l_dig = np.zeros(batch + (nq, 1), np.int64)
    result = (_join(o_dig), _join(l_dig), np.maximum(m_run, num.e_min))
    return result + (states,) if trace else result


def _finite_terms(x, sh, num: AttentionNumerics):
    """``x * 2^(F - Pm - sh)`` rounded by ``acc_rounding``: one weight (``x = E``) or weighted value (``E v``)
    aligned to ``F`` fraction bits below ``2^M'`` (``sh = M' - e``)."""
    F = num.acc_frac_bits
    assert F is not None, "finite mode only"
    up, down = max(0, F - num.mantissa_bits), max(0, num.mantissa_bits - F)
    return round_shift(np.asarray(x, np.int64) << up, sh + down, num.acc_rounding)


def finite_sums(
    q,
    k,
    v,
    num: AttentionNumerics,
    mask=None,
    causal: bool = False,
    tile_k: int | None = None,
    tile_q: int | None = None,
    trace: bool = False,
):
    """The cascade with finite accumulators (``num.acc_frac_bits`` = F): ``(RNV, RD, M)`` after the last key tile.

    Per key tile, as the row unit computes it: ``M' = max(M, LM)``; ``RD' =
    rnd(RD 2^-(M'-M)) + sum_j rnd(E_j 2^(F - Pm - (M' - e_j)))`` and ``RNV'[f] =
    rnd(RNV[f] 2^-(M'-M)) + sum_j rnd(E_j v_jf 2^(F - Pm - (M' - e_j)))``, every
    ``rnd`` by ``acc_rounding`` (the sums themselves are exact integers). ``RD``
    has ``F`` fraction bits below ``2^M``, ``RNV`` ``F + in_fmt.frac_bits``;
    int64 arrays. With ``trace`` also the list of ``(M, RD, RNV)`` per key tile.
    """
    if not num.finite:
        raise ValueError("finite_sums needs numerics with acc_frac_bits set (exact mode: exact_sums)")
    q, k, v, keep, tile_k = _cascade_inputs(q, k, v, num, mask, causal, tile_k)
    nq, nk, d = q.shape[-2], k.shape[-2], v.shape[-1]
    bits = accumulator_bits(num, nk)
    if bits["rnv"]["width"] + 1 > 62 or num.mantissa_bits + 2 + num.in_fmt.width + bits["rd"]["frac_bits"] > 62:
        raise ValueError(f"acc_frac_bits = {num.acc_frac_bits}: the accumulators for {nk} keys exceed int64")
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2], keep.shape[:-2])
    q = np.broadcast_to(q, batch + q.shape[-2:])
    k = np.broadcast_to(k, batch + k.shape[-2:])
    v = np.broadcast_to(v, batch + v.shape[-2:])
    keep = np.broadcast_to(keep, batch + (nq, nk))
    table = exp2_table(num.exp)
    neg = num.e_min - 1
    tile_q = tile_q or max(1, min(nq, (1 << 20) // max(1, min(tile_k, nk) * d)))
    m_run = np.full(batch + (nq,), neg, np.int64)
    rd = np.zeros(batch + (nq,), np.int64)
    rnv = np.zeros(batch + (nq, d), np.int64)
    states = []
    for j0 in range(0, nk, tile_k):
        kt, vt = k[..., j0 : j0 + tile_k, :], v[..., j0 : j0 + tile_k, :]
        for i0 in range(0, nq, tile_q):
            rows = slice(i0, i0 + tile_q)
            t = logits(q[..., rows, :], kt, num, keep[..., rows, j0 : j0 + tile_k])
            masked = t == num.logit_fmt.min_raw
            e_man, e = exp2_mantissa(np.where(masked, 0, t), num.logit_fmt.frac_bits, num.exp, table)
            e_man = np.where(masked, 0, e_man).astype(np.int64)
            e = np.where(masked, neg, e)
            m_old = m_run[..., rows]
            m_new = np.maximum(m_old, e.max(axis=-1))
            sh = np.where(masked, 0, m_new[..., None] - e)
            rd[..., rows] = round_shift(rd[..., rows], m_new - m_old, num.acc_rounding) + _finite_terms(
                e_man, sh, num
            ).sum(axis=-1)
            terms = _finite_terms(e_man[..., None] * vt[..., None, :, :], sh[..., None], num)
            rnv[..., rows, :] = round_shift(
                rnv[..., rows, :], (m_new - m_old)[..., None], num.acc_rounding
            ) + terms.sum(axis=-2)
            m_run[..., rows] = m_new
        if trace:
            states.append((np.maximum(m_run, num.e_min), rd.copy(), rnv.copy()))
    result = (rnv, rd, np.maximum(m_run, num.e_min))
    return result + (states,) if trace else result


def attention(
    q,
    k,
    v,
    num: AttentionNumerics,
    mask=None,
    causal: bool = False,
    tile_k: int | None = None,
    tile_q: int | None = None,
) -> np.ndarray:
    """The 1-pass cascade, key tile by key tile (``tile_k`` keys, default all); raw ``out_fmt``, shape ``(..., Q, D)``.

    ``q`` is ``(..., Q, D)``, ``k`` and ``v`` ``(..., N, D)``, raw ``in_fmt``;
    ``mask`` (True = keep) broadcasts to ``(..., Q, N)``; ``causal`` masks
    keys after each query, the queries being the last ``Q`` of the ``N``
    positions. ``tile_q`` only chunks the work; it never changes a value.
    """
    o, l, _ = _sums(num)(q, k, v, num, mask, causal, tile_k, tile_q)
    return normalise(o, l, num)


def attention_untiled(q, k, v, num: AttentionNumerics, mask=None, causal: bool = False) -> np.ndarray:
    """The same cascade with one key tile spanning the whole sequence."""
    return attention(q, k, v, num, mask, causal, tile_k=None)


def decode_attention(q, k, v, num: AttentionNumerics, mask=None, tile_k: int | None = None) -> np.ndarray:
    """One query ``q`` (``..., D``) against a KV cache ``k``, ``v`` (``..., N, D``); ``mask`` (``..., N``) for padding."""
    q = np.asarray(q, np.int64)[..., None, :]
    m = None if mask is None else np.asarray(mask, bool)[..., None, :]
    return attention(q, k, v, num, m, False, tile_k)[..., 0, :]


def cascade_state(q, k, v, num: AttentionNumerics, tile_k: int, mask=None, causal: bool = False):
    """The row unit's registers after each key tile: a list of ``(M, RD, RNV)`` (exact: Python ints, ``Pm + S``
    fraction bits; finite: int64, ``acc_frac_bits``)."""
    return _sums(num)(q, k, v, num, mask, causal, tile_k, trace=True)[3]


def error_bound(
    num: AttentionNumerics, v_absmax: float, head_dim: int, n_keys: int | None = None, tile_k: int | None = None
) -> float:
    """A bound on ``|attention - attention_reference|`` (real units) while no logit saturates.

    Each weight ``2^t`` carries a relative error of at most ``delta``: the
    logit truncation (``ln2 * 2^-f_t``), the scale constant's rounding over
    the logit spread (``ln2 * 2^I * rho``), the table's interpolation
    (``(ln2)^2 / 8 * 4^-table_bits``) and its rounding (``2^-Pm``). A
    weighted average whose weights move by a factor within ``1 +- delta``
    moves by at most ``2 delta / (1 - delta) * 2 max|v|``; the reciprocal
    adds its relative error (seed ``2^-(seed_bits+1)`` squared per NR step,
    plus ``2^-(W-2)``) times ``max|v|``, the truncation of ``N`` one ULP of
    ``norm_fmt``, and the output rounding one ULP of ``out_fmt``.

    Finite accumulators (``acc_frac_bits`` = F; ``n_keys`` needed, ``tile_k``
    default all) add the accumulation error: each of the ``n_keys`` terms and
    each of the ``T = ceil(n_keys / tile_k)`` rescalings rounds by at most
    ``eps = 2^-F`` (``AP_TRN``; half that rounding to nearest) relative to the
    final ``2^M``, where the exact ``RD`` is at least 1 (the largest weight's
    ``E``). So ``|dRD| <= B = (n_keys + T) eps``, ``|dRNV| <= B 2^-f_in``, and
    ``|RNV'/RD' - RNV/RD| <= (B 2^-f_in + B max|v|) / (1 - B)``, itself passed
    through the reciprocal's relative error.
    """
    ln2 = math.log(2.0)
    c = num.scale_for(head_dim) * LOG2E
    cq = num.scale_fmt.to_float(num.logit_const(head_dim))
    rho = abs(cq - c) / c
    delta = (
        ln2 * 2.0**-num.logit_fmt.frac_bits
        + ln2 * 2.0**num.logit_fmt.int_bits * rho
        + ln2**2 / 8 * 4.0**-num.exp.table_bits
        + 2.0**-num.mantissa_bits
    )
    r = num.recip
    seed = 2.0 ** -(r.seed_bits + 1)
    eps_r = seed ** (2**r.iters) + 2.0 ** -(r.work_fmt.frac_bits - 2)
    bound = (4 * delta / (1 - delta) + eps_r) * v_absmax + num.norm_fmt.lsb + num.out_fmt.lsb
    if not num.finite:
        return bound
    if n_keys is None:
        raise ValueError("the finite-accumulator bound needs n_keys")
    tiles = -(-n_keys // (tile_k or n_keys)) if n_keys else 0
    assert num.acc_frac_bits is not None  # the exact mode returned above
    eps = 2.0**-num.acc_frac_bits * (1.0 if num.acc_rounding is Rounding.AP_TRN else 0.5)
    b = (n_keys + tiles) * eps
    if b >= 1:
        return math.inf
    return bound + (b * num.in_fmt.lsb + b * v_absmax) / (1 - b) * (1 + eps_r)
