"""Decode-attention tile schedules: which compute unit (CTA) does which context tiles. No timing.

A decode problem is ``batch`` sequences x ``heads`` KV heads (grouped-query:
the *KV* heads; each tile serves all the query heads of its group), each
against a context of ``context`` keys cut into ``m = ceil(context / block_n)``
tiles (LeanAttention's LeanTiles; the last one may be short). Tiles are
numbered in one linear order, batch-major, then head, then block:
``t = (b * heads + h) * m + block``.

Data structure (all frozen dataclasses):

- :class:`TileRange` ``(batch, kv_head, first, last)``: blocks
  ``[first, last)`` of one (batch, head), plus ``host``: True when the range
  holds the head's first block (``first == 0``). The host CTA waits for the
  other ranges of its head (its *peers*), merges their partials with its own
  and writes the normalised output; a peer writes a partial ``(O, m, l)``.
  ``keys(block_n, context)`` is the key interval ``[a, b)`` it covers.
- :class:`Schedule`: ``ctas``, a tuple over CTAs of tuples of
  :class:`TileRange` in the order the CTA walks them, and the problem's
  ``batch``, ``heads``, ``context``, ``block_n``, ``blocks`` (= m). Helpers:
  ``tiles_per_cta()``, ``pieces(b, h)`` (the ranges of one head in context
  order with their CTA index), ``peers(b, h)`` (how many ranges a head has).

Three schedules:

- :func:`lean_schedule` (LeanAttention / stream-K, ONNX Runtime's kernel):
  ``T = m * batch * heads`` tiles; grid ``G = min(grid, T)``; CTA ``c`` gets
  ``ceil(T/G)`` consecutive tiles if ``c < T mod G`` else ``floor(T/G)``
  (so ``ceil(T/G)`` or ``ceil(T/G) - 1``), crossing head boundaries.
- :func:`flashdecoding_schedule`: ``S`` splits of each (batch, head) from
  :func:`flashdecoding_splits` (flash-attention's ``num_splits_heuristic``):
  split ``s`` holds blocks ``[s * ceil(m/S), min(m, (s+1) * ceil(m/S)))``,
  one CTA per (batch, head, split); a second kernel combines the partials
  (so no split is a "host" that merges in place, but the split holding block
  0 is still marked ``host`` for a uniform merge order).
- :func:`fa2_schedule` (FlashAttention-2 in decode): one CTA per (batch,
  head) walking the whole context; nothing to merge.

The merge order a host uses (and :mod:`attnkit.models.decode` follows bit
for bit) is the order of :meth:`Schedule.pieces`: its own range (block 0)
first, then the peers' ranges in increasing context position.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from math import ceil

__all__ = [
    "TileRange",
    "Schedule",
    "lean_schedule",
    "lean_cuts",
    "lean_spans",
    "flashdecoding_splits",
    "flashdecoding_schedule",
    "split_blocks",
    "fa2_schedule",
    "block_n_for",
]


@dataclass(frozen=True)
class TileRange:
    """Blocks ``[first, last)`` of the context of (``batch``, ``kv_head``); ``host`` if it holds block 0."""

    batch: int
    kv_head: int
    first: int
    last: int
    host: bool

    @property
    def tiles(self) -> int:
        return self.last - self.first

    def keys(self, block_n: int, context: int) -> tuple[int, int]:
        """The key interval ``[a, b)`` this range covers (the last block may be short)."""
        return self.first * block_n, min(context, self.last * block_n)


@dataclass(frozen=True)
class Schedule:
    """Per-CTA lists of :class:`TileRange` (see the module docstring)."""

    ctas: tuple[tuple[TileRange, ...], ...]
    batch: int
    heads: int
    context: int
    block_n: int

    @property
    def blocks(self) -> int:
        return ceil(self.context / self.block_n)

    @property
    def grid(self) -> int:
        return len(self.ctas)

    def tiles_per_cta(self) -> list[int]:
        return [sum(r.tiles for r in rs) for rs in self.ctas]

    def pieces(self, batch: int, kv_head: int) -> list[tuple[int, TileRange]]:
        """``(cta, range)`` of one head in context order (the host's range first)."""
        out = [(c, r) for c, rs in enumerate(self.ctas) for r in rs if r.batch == batch and r.kv_head == kv_head]
        return sorted(out, key=lambda cr: cr[1].first)

    def peers(self, batch: int, kv_head: int) -> int:
        """How many ranges (CTAs) hold part of this head."""
        return len(self.pieces(batch, kv_head))

    def ranges_by_head(self) -> dict[tuple[int, int], list[tuple[int, TileRange]]]:
        """Every head's ``(cta, range)`` list in context order, in one pass."""
        out: dict[tuple[int, int], list[tuple[int, TileRange]]] = {}
        for c, rs in enumerate(self.ctas):
            for r in rs:
                out.setdefault((r.batch, r.kv_head), []).append((c, r))
        for v in out.values():
            v.sort(key=lambda cr: cr[1].first)
        return out


def block_n_for(head_dim: int) -> int:
    """LeanTile / FlashDecoding key block: 256 keys for head dim <= 64, 128 for <= 128; larger is refused."""
    if head_dim <= 0:
        raise ValueError(f"head_dim must be positive, got {head_dim}")
    if head_dim <= 64:
        return 256
    if head_dim <= 128:
        return 128
    raise ValueError(f"head_dim {head_dim} is not supported by the decode tile (at most 128)")


def _check(batch: int, heads: int, context: int, block_n: int) -> None:
    for name, v in (("batch", batch), ("heads", heads), ("context", context), ("block_n", block_n)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v}")


def _ranges(start: int, stop: int, m: int, heads: int) -> tuple[TileRange, ...]:
    """Cut linear tiles ``[start, stop)`` at head boundaries."""
    out = []
    for head, first, last in _cuts(start, stop, m):
        b, h = divmod(head, heads)
        out.append(TileRange(b, h, first, last, first == 0))
    return tuple(out)


def _cuts(start: int, stop: int, m: int) -> list[tuple[int, int, int]]:
    """Linear tiles ``[start, stop)`` cut at head boundaries: (head, first block, last block) each."""
    out = []
    t = start
    while t < stop:
        head, blk = divmod(t, m)
        end = min(stop, (head + 1) * m)
        out.append((head, blk, blk + (end - t)))
        t = end
    return out


def lean_schedule(batch: int, kv_heads: int, context: int, block_n: int, grid: int) -> Schedule:
    """LeanAttention's stream-K split of ``T = ceil(context/block_n) * batch * kv_heads`` tiles over ``min(grid, T)`` CTAs."""
    m, spans = lean_spans(batch, kv_heads, context, block_n, grid)
    ctas = [_ranges(start, stop, m, kv_heads) for start, stop in spans]
    return Schedule(tuple(ctas), batch, kv_heads, context, block_n)


def lean_cuts(batch: int, kv_heads: int, context: int, block_n: int, grid: int) -> list[list[tuple[int, int, int]]]:
    """:func:`lean_schedule`'s CTAs as plain tuples: per CTA, (head, first block, last block) of each range, the
    head numbered ``b * kv_heads + kv_head`` (a range is its head's host when its first block is 0)."""
    m, spans = lean_spans(batch, kv_heads, context, block_n, grid)
    return [_cuts(start, stop, m) for start, stop in spans]


def lean_spans(batch: int, kv_heads: int, context: int, block_n: int, grid: int) -> tuple[int, list[tuple[int, int]]]:
    """Blocks per head and each CTA's linear tiles ``[start, stop)`` in :func:`lean_schedule` (tile ``t`` is
    block ``t mod m`` of head ``t // m``; a CTA's ranges are its span cut at head boundaries)."""
    _check(batch, kv_heads, context, block_n)
    if int(grid) != grid or grid < 1:
        raise ValueError(f"grid must be a positive integer, got {grid}")
    m = ceil(context / block_n)
    total = m * batch * kv_heads
    g = min(grid, total)
    q, r = divmod(total, g)
    spans = []
    for c in range(g):
        start = c * q + min(c, r)
        spans.append((start, start + q + (1 if c < r else 0)))
    return m, spans


@cache
def flashdecoding_splits(batch: int, heads: int, context_blocks: int, slots: int, max_splits: int = 128) -> int:
    """flash-attention's ``num_splits_heuristic`` (FlashDecoding), called with ``slots = 2 x SMs``.

    One split if ``batch * heads >= 0.8 * slots`` (decode: one query block);
    otherwise, over the eligible ``S <= min(max_splits, slots, context_blocks)``
    (``S`` is eligible if ``ceil(m/S) != ceil(m/(S-1))``: otherwise it is the
    same split as ``S - 1``), the smallest whose wave efficiency
    ``x / ceil(x)``, ``x = batch * heads * S / slots``, is at least 0.85 of the best.
    """
    for name, v in (("batch", batch), ("heads", heads), ("context_blocks", context_blocks), ("slots", slots)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v}")
    bh = batch * heads
    if bh >= 0.8 * slots:
        return 1
    top = min(max_splits, slots, context_blocks)

    def eligible(s: int) -> bool:
        return s == 1 or ceil(context_blocks / s) != ceil(context_blocks / (s - 1))

    eff = {}
    for s in range(1, top + 1):
        if eligible(s):
            x = bh * s / slots
            eff[s] = x / ceil(x)
    best = max(eff.values())
    for s in range(1, top + 1):
        if s in eff and eff[s] >= 0.85 * best:
            return s
    return 1


def flashdecoding_schedule(batch: int, kv_heads: int, context: int, block_n: int, splits: int) -> Schedule:
    """One CTA per (batch, head, split); split ``s`` holds ``ceil(m/S)`` blocks from ``s * ceil(m/S)`` (empty splits dropped)."""
    _check(batch, kv_heads, context, block_n)
    pieces = split_blocks(context, block_n, splits)
    ctas = [(TileRange(b, h, a, e, a == 0),) for b in range(batch) for h in range(kv_heads) for a, e in pieces]
    return Schedule(tuple(ctas), batch, kv_heads, context, block_n)


@cache
def split_blocks(context: int, block_n: int, splits: int) -> tuple[tuple[int, int], ...]:
    """Every head's splits in :func:`flashdecoding_schedule`: blocks ``[first, last)`` of each, in order."""
    _check(1, 1, context, block_n)
    if int(splits) != splits or splits < 1:
        raise ValueError(f"splits must be a positive integer, got {splits}")
    m = ceil(context / block_n)
    per = ceil(m / splits)
    return tuple((s * per, min(m, (s + 1) * per)) for s in range(splits) if s * per < min(m, (s + 1) * per))


def fa2_schedule(batch: int, kv_heads: int, context: int, block_n: int) -> Schedule:
    """FlashAttention-2 in decode: one CTA per (batch, head) walking all ``ceil(context/block_n)`` blocks."""
    return flashdecoding_schedule(batch, kv_heads, context, block_n, 1)
