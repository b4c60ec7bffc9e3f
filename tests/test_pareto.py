"""Pareto fronts: checked against a brute-force dominance test, and the `attnkit pareto` command."""

import math
import random
from unittest import mock

import numpy as np
import pytest
from helpers import attnkit_cli, attnkit_json
from hypothesis import given, settings
from hypothesis import strategies as st

from attnkit.errors import AttnkitError
from attnkit.sim import pareto


def brute(rows, mins, maxs):
    def key(r):
        return [r[m] for m in mins] + [-r[m] for m in maxs]

    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))

    return [r for r in rows if not any(dominates(key(o), key(r)) for o in rows)]


@pytest.mark.parametrize("seed", range(5))
def test_front_equals_brute_force(seed):
    rng = random.Random(seed)
    rows = [
        {"point_id": str(i), "a": rng.randint(0, 30), "b": rng.random(), "c": rng.randint(0, 5)} for i in range(300)
    ]
    for mins, maxs in ((["a", "b"], []), (["a"], ["c"]), (["a", "b"], ["c"])):
        got = pareto.front(rows, mins, maxs)
        want = brute(rows, mins, maxs)
        assert sorted(r["point_id"] for r in got) == sorted(r["point_id"] for r in want)


def test_front_skips_errors_infeasible_and_missing():
    rows = [
        {"point_id": "a", "x": 1.0, "y": 1.0, "error": "boom", "feasible": None},
        {"point_id": "b", "x": 0.5, "y": 0.5, "error": None, "feasible": False},
        {"point_id": "c", "x": None, "y": 0.1, "error": None, "feasible": None},
        {"point_id": "d", "x": 2.0, "y": 2.0, "error": None, "feasible": True},
        {"point_id": "e", "x": 3.0, "y": 1.5, "error": None, "feasible": True},
        {"point_id": "f", "x": 3.0, "y": 3.0, "error": None, "feasible": True},
    ]
    assert [r["point_id"] for r in pareto.front(rows, ["x", "y"])] == ["d", "e"]
    with pytest.raises(AttnkitError, match="no column 'z'"):
        pareto.front(rows, ["z"])
    with pytest.raises(AttnkitError, match="at least one metric"):
        pareto.front(rows)


def test_cli(tmp_path):
    csv_path = tmp_path / "results.csv"
    csv_path.write_text(
        "point_id,workload,lat,energy,util,error,feasible\n"
        "p1,bert,1.0,5.0,0.5,,True\np2,bert,2.0,4.0,0.9,,True\np3,bert,3.0,6.0,0.1,,True\n"
        "p4,t5,1.0,1.0,0.2,,True\np5,t5,9.0,9.0,0.1,,True\np6,t5,0.5,0.5,0.0,too big,\n"
        "p7,t5,0.1,0."
    )  # a torn last line is ignored
    front = attnkit_json("pareto", csv_path, "--minimize", "lat", "energy", "--json", "-o", tmp_path / "front.csv")
    assert [row["point_id"] for row in front] == ["p4"]
    assert (tmp_path / "front.csv").read_text().splitlines()[1].startswith("p4,t5,1.0,1.0")
    fronts = attnkit_json(
        "pareto", csv_path, "--minimize", "lat", "energy", "--maximize", "util", "--by", "workload", "--json"
    )
    assert [row["point_id"] for row in fronts] == ["p1", "p2", "p4"]
    r = attnkit_cli("pareto", csv_path, "--minimize", "latency")
    assert r.returncode == 2 and r.stderr.startswith(f"attnkit: error: {csv_path}: no column 'latency'")


def _quadratic(x):
    """The simple filter: a row is kept unless another is <= everywhere and < somewhere (a NaN compares false:
    its row is kept and dominates none)."""
    return [not any(all(o <= v for o, v in zip(other, row)) and other != row for other in x) for row in x]


# Values from a small pool, so that ties and repeated rows are common; -0.0 equals 0.0; NaN and infinities.
VALUE = st.one_of(
    st.integers(0, 4).map(float),
    st.sampled_from([-0.0, 0.5, -math.inf, math.inf, math.nan, 1e300]),
    st.floats(-10, 10, allow_nan=False),
)


@st.composite
def tables(draw, max_rows=48):
    k = draw(st.integers(1, 5))
    grid = st.lists(st.integers(0, 3).map(float), min_size=k, max_size=k)  # a small grid: many exact ties
    pool = draw(st.lists(st.lists(VALUE, min_size=k, max_size=k), min_size=1, max_size=8))
    row = st.one_of(grid, st.sampled_from(pool), st.lists(VALUE, min_size=k, max_size=k))
    return draw(st.lists(row, min_size=1, max_size=max_rows))


@settings(max_examples=400, deadline=None)
@given(x=tables(), block=st.integers(1, 9), pivots=st.booleans())
def test_vectorised_filter_equals_the_quadratic_one(x, block, pivots):
    """1-5 metrics (every path: running minimum, divide and conquer, its recursion for five); blocks of 1-9
    rows so that small tables take many levels; with ``pivots``, the pivot filter on tables of a few rows."""
    small = {"PIVOT_MIN_ROWS": 3, "SAMPLE": 5, "PIVOTS": 2} if pivots else {"BLOCK": pareto.BLOCK}
    with mock.patch.multiple(pareto, **small):
        got = pareto.nondominated(np.array(x, dtype=float), block=block).tolist()
    assert got == _quadratic([tuple(r) for r in x])


@settings(max_examples=100, deadline=None)
@given(x=tables(max_rows=40).filter(lambda x: not np.isnan(np.array(x, dtype=float)).any()))
def test_front_order_is_lexicographic_with_ties_by_index(x):
    a = np.array(x, dtype=float)
    with mock.patch.multiple(pareto, PIVOT_MIN_ROWS=3, SAMPLE=5, PIVOTS=2):
        got = pareto._front_order(a, block=2).tolist()
    want = np.flatnonzero(_quadratic([tuple(r) for r in x])).tolist()
    assert got == sorted(want, key=lambda i: (*a[i].tolist(), i))


def test_larger_tables_equal_the_blockwise_filter():
    """Thousands of rows, past the pivots' threshold, against a block-by-block filter (quadratic but exact):
    a near-simplex table whose front is most rows, and a grid with many ties."""

    def blockwise(x):
        keep = np.ones(len(x), dtype=bool)
        for i in range(0, len(x), 250):
            c = x[i : i + 250, None, :]
            keep[i : i + 250] = ~(np.all(x <= c, axis=2) & np.any(x < c, axis=2)).any(axis=1)
        return keep

    rng = np.random.default_rng(3)
    with mock.patch.object(pareto, "PIVOT_MIN_ROWS", 1000):
        for k in (3, 4):
            x = rng.dirichlet(np.ones(k), 3000) * (1 + 0.01 * rng.random((3000, k)))
            assert pareto.nondominated(x).tolist() == blockwise(x).tolist()
            g = rng.integers(0, 12, (3000, k)).astype(float)
            g[:, 1] = 11 - g[:, 0] + rng.integers(0, 2, 3000)
            assert pareto.nondominated(g, block=3).tolist() == blockwise(g).tolist()


CELL = st.one_of(st.integers(0, 4), st.sampled_from([0.5, 1.5, math.nan, math.inf, None, True, False, "3", ""]))


@settings(max_examples=200, deadline=None)
@given(
    cells=st.lists(
        st.tuples(CELL, CELL, CELL, st.sampled_from([None, "", "boom"]), st.sampled_from([None, True, False])),
        max_size=40,
    ),
    by=st.booleans(),
)
def test_front_of_rows_equals_brute_force(cells, by):
    """Rows as load_results gives them: numbers, blanks, booleans, text, errors and infeasible rows."""
    rows = [
        {"point_id": str(i), "g": i % 3, "a": a, "b": b, "c": c, "error": e, "feasible": f}
        for i, (a, b, c, e, f) in enumerate(cells)
    ]

    def usable(r):
        nums = [r[m] for m in "abc"]
        return (
            not r["error"]
            and r["feasible"] is not False
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v) for v in nums)
        )

    def expected(group):
        on = brute([r for r in group if usable(r)], ["a", "b"], ["c"])
        return sorted(on, key=lambda r: (r["a"], r["b"], -r["c"], int(r["point_id"])))

    if by:
        got = pareto.front_by(rows, ["a", "b"], ["c"], by=["g"])
        want = [r for g in sorted({r["g"] for r in rows}, key=str) for r in expected([r for r in rows if r["g"] == g])]
    else:
        got = pareto.front(rows, ["a", "b"], ["c"])
        want = expected(rows)
    assert [r["point_id"] for r in got] == [r["point_id"] for r in want]


def test_duplicates_are_all_kept_in_their_order():
    rows = [{"point_id": p, "x": x, "y": y} for p, x, y in [("a", 2, 1), ("b", 1, 2), ("c", 2, 1), ("d", 1, 2)]]
    assert [r["point_id"] for r in pareto.front(rows, ["x", "y"])] == ["b", "d", "a", "c"]
    assert pareto.nondominated(np.ones((5, 3))).all()
    assert pareto.nondominated(np.zeros((0, 2))).tolist() == []
    assert pareto.front_by([], ["x"], by=["g"]) == []


def test_front_keeps_its_order_and_ties_on_random_floats():
    rng = np.random.default_rng(7)
    x = np.round(rng.random((400, 3)), 1)
    rows = [{"point_id": str(i), "a": a, "b": b, "c": c} for i, (a, b, c) in enumerate(x.tolist())]
    got = pareto.front(rows, ["a", "b"], ["c"])
    want = brute(rows, ["a", "b"], ["c"])
    assert {r["point_id"] for r in got} == {r["point_id"] for r in want}
    assert [(r["a"], r["b"], -r["c"]) for r in got] == sorted((r["a"], r["b"], -r["c"]) for r in got)
