"""LeanAttention's stream-K merge of partials ``(O, m, l)``, and decode attention split into uneven pieces.

A piece of the context (keys ``[a, b)``) yields a partial from the exact sums
of :mod:`attnkit.models.attention` (same logits, masks and exp mantissas):

- ``m``: the piece's running max, an integer base-2 exponent (``e_min`` for a
  fully masked piece, whose ``l`` is 0);
- ``O = RNV * 2^-m`` and ``l = RD * 2^-m``, each *rounded* from the exact
  accumulator into ``partial_fmt`` / ``partial_l_fmt`` (their rounding and
  overflow; both have the same fraction bits). This is what a compute unit
  writes to memory for the host to merge.

Merging two partials (LeanAttention's online-softmax reduction with base-2
exponents, so every ``e^(m_a - m)`` is an exact power of two):

    m = max(m_a, m_b)
    O = (O_a >> (m - m_a)) + (O_b >> (m - m_b))     each shift rounding by partial_fmt.rounding,
    l = (l_a >> (m - m_a)) + (l_b >> (m - m_b))     the sums by the formats' overflow

and the host normalises the last partial with the attention normaliser
(leading-one detect of ``l``, reciprocal, ``out = O * (1/l)`` into ``out_fmt``).

The shifts round, so the result depends on the order of the merges: a split
and an order define it bit for bit (:func:`decode_split` folds left in the
given order), and any split is within :func:`error_bound` of float64.

Error against float64 decode attention (defaults; see ``attnkit
golden-report``): max abs error 1.5e-4 (0.61 ULP of ``out_fmt``), mean 6.1e-5,
on random splits into 1 to 10 pieces merged in random orders; each merge
adds at most one ULP of ``partial_fmt`` (2^-30 relative to ``2^m``) to ``O``
and ``l``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnkit.models.attention import error_bound as _attn_bound
from attnkit.models.attention import exact_sums, normalise
from attnkit.params.fixed import round_shift, wide
from attnkit.params.numerics import AttentionNumerics


@dataclass(frozen=True)
class Partial:
    """A partial result: ``o`` (``..., D``) raw ``partial_fmt``, ``l`` (``...``) raw ``partial_l_fmt``, ``m`` (``...``) int exponent."""

    o: np.ndarray
    l: np.ndarray
    m: np.ndarray


def partial(q, k, v, num: AttentionNumerics, mask=None, tile_k: int | None = None) -> Partial:
    """The partial of one query ``q`` (``..., D``) against a piece ``k``, ``v`` (``..., n, D``); ``mask`` (``..., n``)."""
    q = np.asarray(q, np.int64)[..., None, :]
    m = None if mask is None else np.asarray(mask, bool)[..., None, :]
    o, l, mx = exact_sums(q, k, v, num, m, False, tile_k)
    o, l, mx = o[..., 0, :], l[..., 0], mx[..., 0]
    pm, fp = num.mantissa_bits, num.partial_fmt.frac_bits
    # exact units are 2^(e_min - Pm) (and 2^-fv more for O); relative to 2^m with fp fraction bits:
    sh = np.asarray(mx - num.e_min + pm - fp, dtype=np.int64).astype(object)
    ol = _round_obj(
        o, np.asarray(sh + num.in_fmt.frac_bits, dtype=object)[..., None], num.partial_fmt
    )  # O in real units of v
    ll = _round_obj(l, sh, num.partial_l_fmt)
    return Partial(ol, ll, np.asarray(mx, np.int64))


def _round_obj(x, sh, fmt):
    """Python-int array ``x * 2^-sh`` rounded by ``fmt.rounding``, then ``fmt``'s overflow."""
    big = 1 << 62
    y = round_shift(wide(x), wide(sh), fmt.rounding)
    return fmt.saturate_or_wrap(np.asarray(np.clip(y, -big, big - 1), dtype=object).astype(np.int64))


def merge(a: Partial, b: Partial, num: AttentionNumerics) -> Partial:
    """Merge two partials (see the module docstring); the result is a partial."""
    m = np.maximum(a.m, b.m)
    fo, fl = num.partial_fmt, num.partial_l_fmt
    da, db = (m - a.m), (m - b.m)
    o = fo.add(round_shift(a.o, da[..., None], fo.rounding), round_shift(b.o, db[..., None], fo.rounding))
    l = fl.add(round_shift(a.l, da, fl.rounding), round_shift(b.l, db, fl.rounding))
    return Partial(o, l, m)


def finish(p: Partial, num: AttentionNumerics) -> np.ndarray:
    """Normalise a (merged) partial: raw ``out_fmt``, shape ``(..., D)``."""
    # partial O is in real units of v; the normaliser wants v's raw units (in_fmt.frac_bits more).
    o = np.asarray(p.o, np.int64).astype(object) << num.in_fmt.frac_bits
    return normalise(o, np.asarray(p.l, np.int64).astype(object), num)


def split_bounds(n: int, pieces: int, rng: np.random.Generator) -> list[int]:
    """Random uneven split of ``range(n)`` into ``pieces`` non-empty pieces: the cut points ``[0, ..., n]``."""
    pieces = max(1, min(pieces, n))
    cuts = np.sort(rng.choice(np.arange(1, n), pieces - 1, replace=False)) if pieces > 1 else np.zeros(0, int)
    return [0, *map(int, cuts), n]


def decode_split(q, k, v, num: AttentionNumerics, bounds, order=None, mask=None) -> np.ndarray:
    """Decode attention over pieces ``[bounds[i], bounds[i+1])``, merged left to right in ``order`` (piece indices).

    ``order`` defaults to ``0, 1, 2, ...``; the result is defined bit for bit
    by the split and the order. Raw ``out_fmt``, shape ``(..., D)``.
    """
    k, v = np.asarray(k, np.int64), np.asarray(v, np.int64)
    bounds = list(bounds)
    if bounds[0] != 0 or bounds[-1] != k.shape[-2] or any(b1 < b0 for b0, b1 in zip(bounds, bounds[1:])):
        raise ValueError(f"bounds {bounds} do not split 0..{k.shape[-2]}")
    parts = []
    for b0, b1 in zip(bounds, bounds[1:]):
        mk = None if mask is None else np.asarray(mask, bool)[..., b0:b1]
        parts.append(partial(q, k[..., b0:b1, :], v[..., b0:b1, :], num, mk))
    order = list(range(len(parts))) if order is None else list(order)
    if sorted(order) != list(range(len(parts))):
        raise ValueError(f"order {order} is not a permutation of the {len(parts)} pieces")
    acc = parts[order[0]]
    for i in order[1:]:
        acc = merge(acc, parts[i], num)
    return finish(acc, num)


def error_bound(num: AttentionNumerics, v_absmax: float, head_dim: int, pieces: int = 1) -> float:
    """The attention bound plus, per merge and per piece, one ULP of the partial formats relative to ``l >= 1``."""
    return _attn_bound(num, v_absmax, head_dim) + 2 * (pieces + 1) * num.partial_fmt.lsb * (1 + v_absmax)
