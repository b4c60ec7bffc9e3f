"""Functional coverage of the decode testbench (issue 12): the decode cover points, which configurations reach
which bins, and that `rtl-test decode --json` runs of two configurations together hit every declared bin (slow)."""

from __future__ import annotations

import pytest
from conftest import rtl_test_cli

from attnkit.hw import blocks
from attnkit.testbench.coverage import DecodeCoverage, decode_bins, merged, summary

# units = 3, block_n = 8 (configs/arch/rtl-decode-2core.yaml): one head over all three cores (MHA), and four
# KV heads of two tiles each over 3 + 3 + 2 tiles (GQA): heads in one piece and in two, cores crossing and not
MHA_3 = ["units=3", "workload.heads=1", "workload.kv_heads=1", "workload.context=24"]
GQA_3 = ["units=3", "workload.heads=8", "workload.kv_heads=4", "workload.context=9"]


def _sampled(sets, stalls=(0, 5)):
    """One problem per entry of ``stalls``, its output stream stalled that many cycles."""
    cov = DecodeCoverage(blocks.get("decode").load_params(sets))
    for s in stalls:
        cov.problem()
        cov.output(s)
    return cov.report()


def test_bins_follow_the_cores():
    assert _sampled([])["pieces"]["declared"] == 2
    assert _sampled(["units=4"])["pieces"]["bins"].keys() == {"1", "2", "3", "4"}


def test_backpressure_is_sampled_from_the_output_stream():
    assert _sampled([], stalls=(0, 0, 2))["backpressure"]["bins"] == {"none": 2, "stalled": 1}
    assert summary(_sampled([], stalls=(0,)))["missed"]["backpressure"] == ["stalled"]


def test_each_configuration_hits_what_its_schedule_does():
    a, b = _sampled(MHA_3), _sampled(GQA_3)
    assert summary(a)["missed"] == {
        "head_cross": ["yes"],
        "pieces": ["1", "2"],
        "peer_then_host": ["yes"],
        "group": ["gqa"],
    }
    assert a["pieces"]["bins"] == {"1": 0, "2": 0, "3": 2}  # one head, merged from 3 pieces, per problem
    assert summary(b)["missed"] == {"pieces": ["3"], "group": ["mha"]}
    # cores: [h0 0-2, h1 0-1] crosses; [h1 1-2, h2 0-2] crosses, peer then host; [h3 0-2] does not
    assert b["head_cross"]["bins"] == {"yes": 4, "no": 2}
    assert b["peer_then_host"]["bins"] == {"yes": 2}
    assert b["pieces"]["bins"] == {"1": 6, "2": 2, "3": 0}


def test_the_two_configurations_together_hit_every_declared_bin():
    total = merged(_sampled(MHA_3), _sampled(GQA_3))
    declared = sum(len(b) for b in decode_bins(3).values())
    assert summary(total) == {"hit": declared, "declared": declared, "missed": {}}


def test_no_single_lean_schedule_merges_both_one_and_all_pieces():
    # why two runs: a head over all N cores is longer than a core's share, and every head has the same length
    from attnkit.params.schedule import lean_schedule

    for kv_heads in range(1, 7):
        for context in range(1, 80):
            s = lean_schedule(1, kv_heads, context, 8, 3)
            n = {len(v) for v in s.ranges_by_head().values()}
            assert not {1, 3} <= n, (kv_heads, context)


@pytest.mark.slow
@pytest.mark.rtl
def test_rtl_test_runs_hit_every_declared_decode_bin():
    reports = []
    for sets in (MHA_3, GQA_3):
        r = rtl_test_cli("decode", sets)  # 8 problems: the second round of the four kinds is back-pressured
        assert r["mismatches"] == 0 and r["latency_errors"] == 0
        assert r["coverage_total"] == summary(r["coverage"])
        reports.append(r["coverage"])
    declared = sum(len(b) for b in decode_bins(3).values())
    assert summary(merged(*reports)) == {"hit": declared, "declared": declared, "missed": {}}
