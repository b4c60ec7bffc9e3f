"""The gemm engine's compute cycles equal SCALE-Sim's, run side by side (scalesim in .venv-scalesim)."""

import pytest
from helpers import gemm_sets

from attnkit.sim import engines, scalesim_bridge

pytestmark = pytest.mark.skipif(not scalesim_bridge.available(), reason=scalesim_bridge.missing_reason())

# Square, skinny, shapes that do not divide the array, one row/column/depth: (m, n, k) by kind.
SHAPE_KINDS = {
    "square (multiples of the array)": [(8, 8, 8), (16, 16, 16), (32, 32, 32), (24, 24, 24)],
    "square, not dividing it": [(7, 7, 7), (9, 9, 9), (13, 13, 13), (31, 31, 31)],
    "skinny": [(64, 4, 4), (4, 64, 4), (4, 4, 64), (96, 8, 3), (3, 8, 96)],
    "skinnier (a side of 1 or 2)": [(128, 2, 16), (2, 128, 16), (50, 1, 20), (1, 50, 20)],
    "one row": [(1, 8, 8), (1, 1, 1), (1, 17, 33), (1, 64, 5), (1, 3, 100)],
    "one column / depth 1": [(8, 1, 8), (17, 33, 1), (40, 1, 1), (1, 1, 40)],
    "other": [(10, 20, 30), (30, 20, 10), (33, 17, 9), (45, 11, 27), (12, 40, 6), (5, 3, 7)],
}
SHAPES = [shape for shapes in SHAPE_KINDS.values() for shape in shapes]
ARRAYS = [(8, 8), (4, 16)]
SLOW_ARRAYS = [(16, 4), (1, 8), (8, 1), (32, 32), (5, 3)]
DATAFLOWS = ["os", "ws", "is"]


def _ours(rows, cols, df, shape):
    return engines.simulate("systolic", "gemm", sets=gemm_sets(rows, cols, df, *shape)).extra["compute_cycles"]


def _check(arrays):
    jobs = [(r, c, df, SHAPES) for r, c in arrays for df in DATAFLOWS]
    theirs = scalesim_bridge.scalesim_cycles(jobs)
    mismatches = []
    for (r, c, df, shapes), got in zip(jobs, theirs):
        assert len(got) == len(shapes)
        for shape, cyc in zip(shapes, got):
            ours = _ours(r, c, df, shape)
            if ours != cyc:
                mismatches.append(f"{r}x{c} {df} m,n,k={shape}: ours {ours}, SCALE-Sim {cyc}")
    assert not mismatches, "\n".join(mismatches)
    return sum(len(s) for *_, s in jobs)


def test_shape_set_is_broad():
    assert len(SHAPES) >= 30
    assert any(m == 1 for m, _, _ in SHAPES) and any(m % 8 and n % 8 for m, n, _ in SHAPES)


def test_compute_cycles_equal_scalesim():
    assert _check(ARRAYS) == len(SHAPES) * len(ARRAYS) * 3


@pytest.mark.slow
def test_compute_cycles_equal_scalesim_more_arrays():
    _check(SLOW_ARRAYS)
