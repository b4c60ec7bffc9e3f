"""Pareto fronts: checked against a brute-force dominance test, and the `attnkit pareto` command."""

import json
import random
import subprocess
import sys

import numpy as np
import pytest
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
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnkit",
            "pareto",
            str(csv_path),
            "--minimize",
            "lat",
            "energy",
            "--json",
            "-o",
            str(tmp_path / "front.csv"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert [row["point_id"] for row in json.loads(r.stdout)] == ["p4"]
    assert (tmp_path / "front.csv").read_text().splitlines()[1].startswith("p4,t5,1.0,1.0")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnkit",
            "pareto",
            str(csv_path),
            "--minimize",
            "lat",
            "energy",
            "--maximize",
            "util",
            "--by",
            "workload",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert [row["point_id"] for row in json.loads(r.stdout)] == ["p1", "p2", "p4"]
    r = subprocess.run(
        [sys.executable, "-m", "attnkit", "pareto", str(csv_path), "--minimize", "latency"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and r.stderr.startswith(f"attnkit: error: {csv_path}: no column 'latency'")


def _quadratic(x):
    """The simple filter: a row is kept unless another is <= everywhere and < somewhere."""
    return [not any(all(o <= v for o, v in zip(other, row)) and other != row for other in x) for row in x]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda k: st.lists(st.lists(st.integers(0, 4), min_size=k, max_size=k), min_size=1, max_size=40)
    ),
    st.integers(1, 9),
)
def test_vectorised_filter_equals_the_quadratic_one(x, block):
    """Small integer grids: many exact ties and repeated rows, every metric count the filter treats apart."""
    got = pareto.nondominated(np.array(x, dtype=float), block=block).tolist()
    assert got == _quadratic([tuple(r) for r in x])


def test_front_keeps_its_order_and_ties_on_random_floats():
    rng = np.random.default_rng(7)
    x = np.round(rng.random((400, 3)), 1)
    rows = [{"point_id": str(i), "a": a, "b": b, "c": c} for i, (a, b, c) in enumerate(x.tolist())]
    got = pareto.front(rows, ["a", "b"], ["c"])
    want = brute(rows, ["a", "b"], ["c"])
    assert {r["point_id"] for r in got} == {r["point_id"] for r in want}
    assert [(r["a"], r["b"], -r["c"]) for r in got] == sorted((r["a"], r["b"], -r["c"]) for r in got)
