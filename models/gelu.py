"""Edge-MoE's GELU: ``GELU(x) = ReLU(x) - delta(|x|)``, ``delta`` by table.

``delta(a) = a * (1 - Phi(a))`` (``Phi`` the standard normal CDF), so that
``ReLU(x) - delta(|x|) = x * Phi(x)`` for either sign of ``x``. With the
defaults (Edge-MoE, ICCAD 2023):

- activations ``ap_fixed<32,10,AP_TRN,AP_WRAP>`` (22 fraction bits);
- ``delta`` is a 177-entry ROM ``D[i] = delta(i / 32)``, ``i = 0 .. 176``
  (step 2^-5, covering ``[0, 5.5]``), entries ``ap_ufixed<22,0>`` (truncated);
- ``a = |x|`` in the activation format (``AP_WRAP``: the most negative value
  wraps to itself, as ap_fixed does); for ``a >= cutoff`` (5.5) ``delta = 0``;
- otherwise ``i = a >> (fa - step_bits)`` and ``r`` the low ``fa - step_bits``
  bits: ``delta = D[i] + ((D[i+1] - D[i]) * r >> (fa - step_bits))``, the
  shift truncating, then converted to the activation format;
- ``GELU = ReLU(x) - delta`` in the activation format (its overflow).

The table is computed at construction from ``erfc`` (a positive-term series,
accurate to about 1e-16 over the table's range), never pasted.

Error against float64 ``x * Phi(x)`` (defaults; see ``attnkit golden-report``):
max abs error 9.8e-5 (409 ULP of the 2^-22 activation lsb), mean 7.9e-6, over
212,294 inputs in [-8, 8); it is the linear interpolation (at most
``|delta''| / 8 * 2^-10``, ``|delta''| <= 2 phi(0)``, so below 1.0e-4); at
``|x| >= 5.5`` the dropped ``delta`` is below ``5.5 * (1 - Phi(5.5)) = 1.0e-7``.
Every table entry is within 2^-22 of ``delta`` (truncation).
"""

from __future__ import annotations

import math

import numpy as np

from attnkit.params.fixed import Rounding, round_shift
from attnkit.params.numerics import GeluParams


def erfc(x) -> np.ndarray:
    """``erfc(x)`` for ``0 <= x <= 6``, float64, by ``erf(x) = 2/sqrt(pi) e^-x^2 sum 2^n x^(2n+1) / (2n+1)!!``.

    Every term is positive, so there is no cancellation; 200 terms reach
    double precision on the range (the loop runs over the series index).
    """
    x = np.asarray(x, np.float64)
    if np.any((x < 0) | (x > 6)):
        raise ValueError("erfc here covers 0 <= x <= 6")
    term = x.copy()
    total = term.copy()
    for n in range(1, 200):
        term = term * (2.0 * x * x) / (2 * n + 1)
        total = total + term
    return 1.0 - 2.0 / math.sqrt(math.pi) * np.exp(-x * x) * total


def delta_exact(a) -> np.ndarray:
    """``a * (1 - Phi(a))`` in float64, for ``0 <= a <= 8``."""
    a = np.asarray(a, np.float64)
    return a * 0.5 * erfc(a / math.sqrt(2.0))


def delta_table(p: GeluParams) -> np.ndarray:
    """The ROM: ``delta(i * 2^-step_bits)`` for ``i < table_size``, raw in ``p.table_fmt``."""
    return p.table_fmt.quantize(delta_exact(np.arange(p.table_size, dtype=np.float64) / (1 << p.step_bits)))


def gelu(x, p: GeluParams, table: np.ndarray | None = None) -> np.ndarray:
    """GELU of raw activations ``x`` (``p.act_fmt``), raw in ``p.act_fmt``."""
    f = p.act_fmt
    d = delta_table(p) if table is None else table
    x = np.asarray(x, np.int64)
    a = f.saturate_or_wrap(np.abs(x))
    cut = int(round(p.cutoff * (1 << f.frac_bits)))
    inside = (a >= 0) & (a < cut)
    low = f.frac_bits - p.step_bits
    ac = np.where(inside, a, 0)
    i = ac >> low
    r = ac & ((np.int64(1) << low) - 1)
    i1 = np.minimum(i + 1, p.table_size - 1)
    dl = d[i] + round_shift((d[i1] - d[i]) * r, low, Rounding.AP_TRN)
    delta = np.where(inside, f.resize(dl, p.table_fmt), 0)
    return f.sub(np.maximum(x, 0), delta)
