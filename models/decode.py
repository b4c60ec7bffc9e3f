"""Decode attention computed through a schedule's tile ranges (golden, bit-exact).

:func:`decode_scheduled` is what a machine running a
:class:`~attnkit.params.schedule.Schedule` computes: every CTA computes, for
each of its tile ranges, the partial ``(O, m, l)`` of the group's queries
against the range's keys (:func:`attnkit.models.merge.partial`); each head's
host then merges the partials in :meth:`Schedule.pieces` order (its own range,
which holds key 0, first, then the peers' in context order) with
:func:`attnkit.models.merge.merge` and normalises
(:func:`attnkit.models.merge.finish`).

Shapes (raw integers of ``num.in_fmt``): ``q`` is ``(batch, heads, D)`` (one
query per sequence and query head); ``k`` and ``v`` are ``(batch, kv_heads,
context, D)``; query head ``h`` reads KV head ``h // (heads // kv_heads)``.
The result is ``(batch, heads, D)`` raw ``out_fmt``. A head whose schedule
gives it one range is plain decode attention (no merge).

By construction it equals :func:`attnkit.models.merge.decode_split` with the
cut points of the head's ranges, for any schedule (any grid, any split),
MHA or GQA; the tests check that bit for bit.
"""

from __future__ import annotations

import numpy as np

from attnkit.models.merge import finish, merge, partial
from attnkit.params.numerics import AttentionNumerics
from attnkit.params.schedule import Schedule


def decode_scheduled(q, k, v, num: AttentionNumerics, schedule: Schedule) -> np.ndarray:
    """Decode attention through ``schedule``'s ranges: partials per CTA range, merged by each head's host."""
    q, k, v = (np.asarray(x, np.int64) for x in (q, k, v))
    b, h, d = q.shape
    if k.shape != v.shape or k.ndim != 4 or k.shape[0] != b or k.shape[3] != d:
        raise ValueError(f"k, v must be (batch, kv_heads, context, {d}) with batch {b}; got {k.shape}, {v.shape}")
    hk, n = k.shape[1], k.shape[2]
    if h % hk:
        raise ValueError(f"kv_heads {hk} does not divide heads {h}")
    if (schedule.batch, schedule.heads, schedule.context) != (b, hk, n):
        raise ValueError(
            f"schedule is for batch {schedule.batch}, kv_heads {schedule.heads}, context "
            f"{schedule.context}; the tensors are {b}, {hk}, {n}"
        )
    g = h // hk
    out = np.zeros((b, h, d), np.int64)
    for (bi, hi), pieces in schedule.ranges_by_head().items():
        qg = q[bi, hi * g : (hi + 1) * g]  # (g, D): the group's queries share the tile
        acc = None
        for _cta, r in pieces:  # host's range (key 0) first, then peers in order
            a, e = r.keys(schedule.block_n, n)
            kr, vr = k[bi, hi, None, a:e], v[bi, hi, None, a:e]
            p = partial(qg, kr, vr, num)
            acc = p if acc is None else merge(acc, p, num)
        assert acc is not None  # every head has its host's range
        out[bi, hi * g : (hi + 1) * g] = finish(acc, num)
    return out
