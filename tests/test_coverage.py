"""Functional coverage of the attention testbench (issue 12): the cover points, what a run reaches, and
that `rtl-test attention --json` reports every declared bin hit for a suitable run (slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import rtl_test_cli

from attnkit.hw import blocks
from attnkit.testbench.attention_tb import KINDS, backpressure, problem
from attnkit.testbench.coverage import POINTS, AttentionCoverage, summary

RAGGED = ["array_2d.rows=2", "array_2d.cols=2", "workload.head_dim=8", "workload.seq_len=7"]


def _sampled(sets, problems, seed=1):
    p = blocks.get("attention").load_params(sets)
    cov, rng = AttentionCoverage(p), np.random.default_rng(seed)
    for k in range(problems):
        q, kk, v, mask, _ = problem(p, k, rng)
        cov.problem(q, kk, v, mask)
        cov.output(1 if backpressure(k) else 0)
    return cov.report()


def test_eight_problems_of_a_ragged_configuration_hit_every_bin():
    rep = _sampled(RAGGED, 2 * len(KINDS))
    assert set(rep) == set(POINTS)
    assert all(r["declared"] == len(POINTS[name]) for name, r in rep.items())
    assert summary(rep) == {"hit": 21, "declared": 21, "missed": {}}


def test_what_a_run_does_not_reach_is_reported_missed():
    rep = _sampled([], len(KINDS))  # N = 72 on 4 rows: no ragged tile; one round: no back-pressure
    assert summary(rep)["missed"] == {"ragged_tile": ["ragged"], "backpressure": ["stalled"]}
    assert rep["running_max"]["hit"] == 3 and rep["row_mask"]["bins"]["fully-masked"] > 0


def test_running_max_bins_follow_the_tiles():
    p = blocks.get("attention").load_params(RAGGED)
    cov = AttentionCoverage(p)
    d, n = p.head_dim, p.seq_len
    q = np.zeros((n, d), np.int64)
    q[:, 0] = p.numerics.in_fmt.max_raw
    k = np.zeros((n, d), np.int64)
    k[:, 0] = np.array([0, 0, 1, 1, 1, 1, 0]) * p.numerics.in_fmt.max_raw  # tiles of 2 keys: low, high, high, low
    cov.problem(q, k, k, np.ones((n, n), bool))
    rm = cov.report()["running_max"]["bins"]
    assert rm == {"rises": n, "stays": n, "falls": n}  # each row: tile 1 rises, tile 2 stays, tile 3 falls
    assert cov.report()["equal_scores"]["bins"] == {"all-equal": 0, "varied": n}


def test_two_instances_do_not_share_bins():
    a, b = _sampled(RAGGED, 1), _sampled(RAGGED, 1)
    assert a == b


@pytest.mark.slow
@pytest.mark.rtl
def test_rtl_test_reports_every_declared_bin_hit():
    r = rtl_test_cli("attention", RAGGED)
    assert r["mismatches"] == 0 and r["latency_errors"] == 0 and r["output_stalls"] > 0
    assert r["coverage_total"] == {"hit": 21, "declared": 21, "missed": {}}
    assert {name: c["hit"] for name, c in r["coverage"].items()} == {name: len(b) for name, b in POINTS.items()}


def test_report_draws_a_coverage_table():
    from attnkit.reports import fig_coverage
    from attnkit.reports.data import Table

    rep = _sampled([], 1)
    rows = [
        {"block": "attention", "simulator": "icarus", "cycles": 1, "predicted_cycles": 1, "vectors": 1, "coverage": rep}
    ]
    (f,) = fig_coverage.figures([Table("rtl", Path("x.json"), rows)])
    assert len(f.table) == len(POINTS) and f.caption == "0 of 1 runs hit every declared bin."
    assert {r["point"]: r["missed"] for r in f.table}["ragged_tile"] == "ragged"
