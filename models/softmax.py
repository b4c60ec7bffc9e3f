"""Softmax over the last axis in four orders, all on the same exp and reciprocal units.

Inputs are raw scores of ``p.in_fmt`` (natural-log domain), shape ``(..., N)``,
with an optional boolean ``mask`` (True = keep) broadcastable to them. A
masked score, or a score equal to ``in_fmt``'s minimum code (the "-inf"
code), has probability exactly 0: the exp unit's output is forced to 0 by the
mask bit. A fully masked row has ``l = 0``, ``1/l`` saturates, and every
probability is ``0 * (1/l) = 0``: a defined all-zero row, never NaN.

Common steps, each with its rounding:

- ``d = s - m``: the exact difference converted into ``exp.in_fmt`` (its
  rounding and overflow; saturating by default), then ``e = exp(d)`` into
  ``exp.out_fmt``;
- sums: exact integer sums of ``e`` converted into ``sum_fmt``;
- rescale of a running sum: ``l * exp(m_old - m_new)`` rounded into ``sum_fmt``;
- ``r = recip(l)`` (``recip.in_fmt`` is ``sum_fmt``), ``y = e * r`` rounded into
  ``prob_fmt``.

Orders:

- :func:`softmax_3pass`: pass 1 ``m = max s``; pass 2 ``l = sum exp(s - m)``;
  pass 3 ``y = exp(s - m) * r``.
- :func:`softmax_2pass`: pass 1 keeps a running ``(m, l)`` over key tiles of
  ``p.tile`` (``m`` starts at ``in_fmt``'s minimum, ``l`` at 0; per tile:
  ``m' = max(m, max tile)``, ``l = l * exp(m - m') + sum_tile exp(s - m')``);
  pass 2 as pass 3 above.
- :func:`softmax_1pass`: one pass; each tile's ``e = exp(s - m')`` is kept with
  the ``m'`` it was taken against, and at the end rescaled:
  ``y = (e * exp(m' - m_final) rounded into exp.out_fmt) * r`` (what the
  fused attention does to its running output).
- :func:`softmax_edgemoe`: Edge-MoE's single pass: the running ``(m, l)`` one
  key at a time (``tile = 1``), ``m`` initialised to the format minimum, then
  probabilities recomputed as ``exp(s - m) * (1/l)``.

Error against float64 softmax (defaults, random rows of 64 to 256 scores in
``[-8, 8)`` and adversarial rows, seed 0; see ``attnkit golden-report``): max
abs error 1.73e-5 (0.57 ULP of ``prob_fmt``, lsb 3.05e-5) for 3-pass, 1.75e-5
(0.57 ULP) for 2-pass, 1-pass and Edge-MoE; mean 4.9e-6 for all. The
running-sum rescales add their rounding once per tile.
"""

from __future__ import annotations

import numpy as np

from attnkit.models.exp import exp
from attnkit.models.recip import recip
from attnkit.params.fixed import QFormat, add, mul
from attnkit.params.numerics import SoftmaxParams


def _prep(x, mask, p: SoftmaxParams):
    x = np.asarray(x, np.int64)
    keep = x != p.in_fmt.min_raw
    if mask is not None:
        keep = keep & np.broadcast_to(np.asarray(mask, bool), x.shape)
    return x, keep


def _row_max(x, keep, p: SoftmaxParams, axis=-1):
    return np.max(np.where(keep, x, p.in_fmt.min_raw), axis=axis, keepdims=True)


def _exp_diff(x, m, keep, p: SoftmaxParams, table=None):
    """``exp(x - m)`` into exp.out_fmt, 0 where masked."""
    d = add(x, p.in_fmt, -m, p.in_fmt.with_(int_bits=p.in_fmt.int_bits + 1), p.exp.in_fmt)
    return np.where(keep, exp(d, p.exp), 0)


def _sum(e, p: SoftmaxParams):
    total = np.sum(e, axis=-1, keepdims=True)
    return p.sum_fmt._from_scale(total, p.exp.out_fmt.frac_bits, 63 - 1)


def _finish(e, l, p: SoftmaxParams):
    r = recip(l, p.recip)
    return mul(e, p.exp.out_fmt, r, p.recip.out_fmt, p.prob_fmt)


def _running(x, keep, p: SoftmaxParams, tile: int):
    """Pass 1 of the 2-pass order: running ``(m, l)`` over tiles; also each tile's ``(e, m')`` for the 1-pass order."""
    n = x.shape[-1]
    m = np.full(x.shape[:-1] + (1,), p.in_fmt.min_raw, np.int64)
    l = np.zeros(x.shape[:-1] + (1,), np.int64)
    parts = []
    for j0 in range(0, n, tile):
        xs, ks = x[..., j0 : j0 + tile], keep[..., j0 : j0 + tile]
        m_new = np.maximum(m, _row_max(xs, ks, p))
        factor = _exp_diff(m, m_new, np.ones_like(m, bool), p)
        e = _exp_diff(xs, m_new, ks, p)
        l = p.sum_fmt.add(mul(l, p.sum_fmt, factor, p.exp.out_fmt, p.sum_fmt), _sum(e, p))
        parts.append((e, m_new))
        m = m_new
    return m, l, parts


def softmax_3pass(x, p: SoftmaxParams, mask=None) -> np.ndarray:
    """Max, sum of exp, divide; raw probabilities in ``p.prob_fmt``."""
    x, keep = _prep(x, mask, p)
    m = _row_max(x, keep, p)
    e = _exp_diff(x, m, keep, p)
    return _finish(e, _sum(e, p), p)


def softmax_2pass(x, p: SoftmaxParams, mask=None, tile: int | None = None) -> np.ndarray:
    """Running (max, sum) over tiles, then exp(s - m) * (1/l); raw in ``p.prob_fmt``."""
    x, keep = _prep(x, mask, p)
    m, l, _ = _running(x, keep, p, tile or p.tile)
    return _finish(_exp_diff(x, m, keep, p), l, p)


def softmax_1pass(x, p: SoftmaxParams, mask=None, tile: int | None = None) -> np.ndarray:
    """One pass with rescaling of the kept exponentials; raw in ``p.prob_fmt``."""
    x, keep = _prep(x, mask, p)
    m, l, parts = _running(x, keep, p, tile or p.tile)
    ones = np.ones_like(m, bool)
    e = (
        np.concatenate(
            [mul(ei, p.exp.out_fmt, _exp_diff(mi, m, ones, p), p.exp.out_fmt, p.exp.out_fmt) for ei, mi in parts],
            axis=-1,
        )
        if parts
        else np.zeros_like(x)
    )
    return _finish(e, l, p)


def softmax_edgemoe(x, p: SoftmaxParams, mask=None) -> np.ndarray:
    """Edge-MoE: running (max from the format minimum, sum) one key at a time, then exp(s - max) * (1/sum)."""
    return softmax_2pass(x, p, mask, tile=1)


def softmax_reference(x, fmt: QFormat, mask=None) -> np.ndarray:
    """float64 softmax of raw scores of ``fmt``, same masking (masked and fully masked rows give 0)."""
    x = np.asarray(x, np.int64)
    keep = x != fmt.min_raw
    if mask is not None:
        keep = keep & np.broadcast_to(np.asarray(mask, bool), x.shape)
    v = np.where(keep, fmt.to_float(x), -np.inf)
    m = np.max(v, axis=-1, keepdims=True)
    e = np.where(keep, np.exp(v - np.where(np.isfinite(m), m, 0)), 0.0)
    s = np.sum(e, axis=-1, keepdims=True)
    return np.divide(e, s, out=np.zeros_like(e), where=s > 0)


ORDERS = {"3pass": softmax_3pass, "2pass": softmax_2pass, "1pass": softmax_1pass, "edgemoe": softmax_edgemoe}
