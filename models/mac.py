"""The multiply-accumulate processing element, at function level.

Each accepted input pair ``(a, b)`` yields one accumulator value:

    p   = a * b, exact, then converted to ``acc_fmt`` (its rounding and overflow)
    acc = p               when ``first`` is set (a new accumulation starts)
    acc = acc + p         otherwise, converted to ``acc_fmt`` (its overflow)

This is the specification the RTL PE (:mod:`attnkit.hw.mac`) must meet bit
for bit; ``pipeline`` does not change values, only when they appear.
"""

from __future__ import annotations

import numpy as np

from attnkit.params.fixed import mul
from attnkit.params.numerics import MacParams


def mac(a, b, first, p: MacParams) -> np.ndarray:
    """Accumulator values for a stream of inputs (raw ints of ``p.in_fmt``).

    ``first[i]`` starts a new accumulation at input ``i`` (``first[0]`` is
    taken as set). Vectorised over accumulations: the loop runs over the
    position within an accumulation, not over elements.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    first = np.asarray(first, bool).copy()
    n = a.size
    if n == 0:
        return np.zeros(0, np.int64)
    first[0] = True
    prod = mul(a, p.in_fmt, b, p.in_fmt, p.acc_fmt)
    # Lay the stream out as a (accumulations x position) grid and scan along position.
    seg = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    pos = np.arange(n) - starts[seg]
    grid = np.zeros((starts.size, pos.max() + 1), np.int64)
    grid[seg, pos] = prod
    acc = grid.copy()
    for j in range(1, grid.shape[1]):
        acc[:, j] = p.acc_fmt.add(acc[:, j - 1], grid[:, j])
    return acc[seg, pos]
