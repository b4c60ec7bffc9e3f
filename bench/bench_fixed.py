"""QFormat conversion throughput (the inner step of every golden model)."""

import time

import numpy as np

from attnkit.params.fixed import Overflow, QFormat, Rounding


def run():
    rng = np.random.default_rng(0)
    src = QFormat(True, 12, 28)
    raw = rng.integers(-(1 << 39), 1 << 39, 4_000_000)
    QFormat(True, 6, 10).resize(raw[:1000], src)  # warm up
    rows = []
    for r in Rounding:
        dst = QFormat(True, 6, 10, r, Overflow.AP_SAT)
        t0 = time.perf_counter()
        dst.resize(raw, src)
        rows.append(
            {"name": f"resize {src} -> {dst}", "value": raw.size / (time.perf_counter() - t0), "unit": "values/s"}
        )
    return rows
