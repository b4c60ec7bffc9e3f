"""FuseMax reproduction: the paper's figures (ANCHORS.md) from the attention engines.

The targets come from configs/anchors/fusemax.yaml (the paper's figures as
data); everything compared with them is computed by the engines.
"""

import json

import pytest
from helpers import (
    ABLATION_ENGINES,
    DESIGN_ENGINES,
    LAYER_ENGINES,
    assert_event_equals_closed,
    attnkit_cli,
    attnkit_json,
)

from attnkit.params.kinds import load_arch, load_workload
from attnkit.sim import cascade, reproduce_fusemax
from attnkit.sim.engines import simulate
from attnkit.sim.reproduce_fusemax import points

REF = reproduce_fusemax.anchors()


@pytest.fixture(scope="module")
def rows():
    return reproduce_fusemax.run()


def metric(rows, name, scope="attention", model="all", design="fusemax"):
    (r,) = [
        r
        for r in rows
        if r["row"] == "summary"
        and r["metric"] == name
        and r["scope"] == scope
        and r["model"] == model
        and r["design"] == design
    ]
    return r["ours"]


def test_every_point_is_there(rows):
    designs = set(reproduce_fusemax.DESIGNS)
    assert len([r for r in rows if r["row"] == "point" and r["scope"] == "attention"]) == 4 * 6 * len(designs)
    for r in rows:
        if r["row"] == "point":
            for key in ("model", "seq_len", "design", "latency_s", "energy_pj", "util_2d", "util_1d", "dram_bytes"):
                assert r[key] is not None
            assert 0 < r["util_2d"] <= 1 and 0 < r["util_1d"] <= 1


def test_attention_means(rows):
    assert abs(metric(rows, "mean_speedup_vs_flat") - 6.7) <= 0.4
    assert abs(metric(rows, "mean_energy_vs_flat") - 0.79) <= 0.04


def test_attention_per_model(rows):
    for model, want in REF["attention"]["model_speedup"].items():
        assert metric(rows, "mean_speedup_vs_flat", model=model) == pytest.approx(want, rel=0.10), model


def test_end_to_end_means(rows):
    assert abs(metric(rows, "mean_speedup_vs_flat", "end-to-end") - 5.3) <= 0.4
    assert abs(metric(rows, "mean_energy_vs_flat", "end-to-end") - 0.83) <= 0.05


def test_bert_latencies(rows):
    for L, by_design in REF["latency_s"]["bert"].items():
        for design, want in by_design.items():
            (r,) = points(rows, design, model="bert", L=L)
            assert r["latency_s"] == pytest.approx(want, rel=0.10), (L, design)


def test_utilisation(rows):
    for r in points(rows, "fusemax"):
        assert r["util_1d"] >= 0.995
        if r["seq_len"] == 1024:
            assert 0.885 <= r["util_2d"] <= 0.905, r
        if r["seq_len"] >= 65536:
            assert r["util_2d"] >= 0.99, r
    for r in points(rows, "flat"):
        if r["seq_len"] <= 65536:
            want = 0.25 if r["model"] == "xlm" else 0.125
            assert r["util_2d"] == pytest.approx(want, abs=0.002), r
            assert r["util_1d"] >= 0.995
        else:  # the score block no longer fits 32 MiB: DRAM-bound, as in the paper (0.108 / 0.865)
            assert r["util_1d"] < 0.95


def test_einsum_shares_bert_1m(rows):
    (r,) = points(rows, "fusemax", model="bert", L=1 << 20)
    for e, want in REF["einsum_share_2d_bert_1m"].items():
        assert r["einsum_util_2d"][e] == pytest.approx(want, rel=0.03), e
    assert set(r["einsum_util_1d"]) == {"RM", "PRM", "SPD", "SPNV", "RD", "RNV", "AV"}


def test_fusemax_dram_is_qkvo_only(rows):
    (r,) = points(rows, "fusemax", model="bert", L=1024)
    assert r["dram_bytes"] == 4 * 64 * 12 * 1024 * 64 * 2


def test_cascade_op_count():
    # Per (key, query) element on FuseMax's 2D array: E + F MACs, 7 for SLN, 1 each for LM and SLD.
    named = cascade.by_name(cascade.ONE_PASS)
    ops = sum(named[n].cycles(64, 64, False, 6) for n in cascade.BINDINGS["fusemax"])
    assert ops == 137
    assert cascade.stall_between(cascade.ONE_PASS, cascade.BINDINGS["fusemax"]) == ["RM"]


SMALL = ["workload.batch=2", "workload.heads=2"]


@pytest.mark.parametrize("engine,arch", DESIGN_ENGINES + ABLATION_ENGINES + LAYER_ENGINES)
@pytest.mark.parametrize(
    "sets",
    [
        ["workload.seq_len=1024"],
        ["workload.seq_len=777", "workload.head_dim=96"],
        ["array_2d.rows=32", "array_2d.cols=16", "array_1d.pes=8", "workload.seq_len=300"],
    ],
)
def test_event_equals_closed(engine, arch, sets):
    assert_event_equals_closed(arch, "bert", engine, SMALL + sets)


def test_padding_loss_is_visible():
    full = simulate("fusemax", "bert", sets=SMALL + ["workload.seq_len=1024"])
    ragged = simulate("fusemax", "bert", sets=SMALL + ["workload.seq_len=1025"])
    assert ragged.cycles > full.cycles and ragged.util_2d < 0.75 * full.util_2d
    flat = simulate("flat", "bert", sets=SMALL + ["workload.seq_len=1025"])
    assert flat.util_1d < 0.85


def test_head_dim_larger_than_the_array():
    # E and F are streamed in time on both arrays, so a head dimension beyond the array still runs.
    sets = SMALL + [
        "array_2d.rows=64",
        "array_2d.cols=64",
        "array_1d.pes=64",
        "workload.head_dim=200",
        "workload.seq_len=500",
    ]
    for engine, arch in (("fusemax", "fusemax"), ("flat", "flat")):
        r = simulate(arch, "bert", engine, sets=sets)
        assert 0 < r.util_2d <= 1 and 0 < r.util_1d <= 1
        assert r.cycles > 0


def test_smaller_array_is_slower_and_prediction_is_labelled(tmp_path):
    array_64 = ["--set", "array_2d.rows=64", "--set", "array_2d.cols=64", "--set", "array_1d.pes=64"]
    rows = attnkit_json(
        "reproduce", "fusemax", "--json", "--models", "bert", "--seq-lens", "4096", *array_64, "--out", tmp_path
    )
    fm = [x for x in rows if x["row"] == "point" and x["design"] == "fusemax" and x["scope"] == "attention"]
    assert len(fm) == 1 and fm[0].get("paper_latency_s") is None  # the paper did not publish 64 x 64
    assert fm[0]["latency_s"] > 10 * REF["latency_s"]["bert"][4096]["fusemax"]
    assert (tmp_path / "results.csv").read_text().startswith("row,model,seq_len,design")
    assert json.loads((tmp_path / "results.json").read_text()) == rows


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--set", "array_2d.rowz=64"], "unknown key 'rowz'"),
        (["--set", "workload.seq_len=0"], "seq_len"),
        (["--set", "global_buffer.bytes=300000"], "global_buffer.bytes"),
    ],
)
def test_user_mistakes(args, needle, tmp_path):
    r = attnkit_cli("reproduce", "fusemax", "--models", "bert", "--seq-lens", "1024", "--out", tmp_path, *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnkit: error: ") and needle in lines[0], r.stderr


def test_flat_lacking_exp_unit_is_refused_for_fusemax_binding():
    arch = load_arch("flat")  # FLAT's 2D PEs have no max unit: FuseMax's LM cannot run there
    with pytest.raises(Exception, match="lacks 'max'"):
        simulate(arch, load_workload("bert"), "fusemax")


def test_flat_bounds_its_plans_without_building_them():
    """The FLAT mapper's bound and words per plan (_flat_sums) are the column sums and words of the plan it builds."""
    import itertools

    from attnkit.params.kinds import load_arch, load_workload
    from attnkit.sim import pipeline
    from attnkit.sim.engines import attention

    seen = 0
    for arch_name, (model, sets) in itertools.product(
        ("flat", "fusemax"),
        [("bert", ["seq_len=1024"]), ("bert", ["seq_len=4096", "causal=true"]), ("llama3-8b", ["seq_len=8192"])],
    ):
        arch = load_arch(arch_name)
        for extra in ([], ["batch=3", "seq_len=1000"], ["batch=1", "kv_heads=1"]):
            w = load_workload(model, sets + [e for e in extra if not e.startswith("kv_heads") or model == "llama3-8b"])
            s = attention._shape(arch, w)
            for rq in attention._flat_candidates(arch, s):
                for spill, resident in itertools.product((False, True), repeat=2):
                    if attention._flat_fits(arch, s, rq, spill, resident):
                        program, words = attention._flat_plan(arch, s, rq, spill, resident)
                        want = (pipeline.column_sums(program, 3)[1], words)
                        assert attention._flat_sums(arch, s, rq, spill, resident) == want, (w, rq, spill, resident)
                        seen += 1
                memo = attention._FlatMemo(arch, s)
                for (n, k), _ in memo.rows(rq):
                    for spill, kv in itertools.product((False, True), (0, k * (s.E + s.F), 1234.5678, 1 / 3)):
                        assert memo.block(n, k, spill, kv) == attention._flat_block(arch, s, n, k, spill, kv)
    assert seen > 100


def test_flat_mapper_chooses_as_visiting_every_plan_by_its_exact_bound():
    """_flat_choose skips plans by a cheaper bound; its choice is the original mapper's: every plan by
    (bound, words, rq, spill, resident), the first that is fastest, then moves the least DRAM."""
    import itertools

    from attnkit.params.kinds import load_arch, load_workload
    from attnkit.sim import pipeline
    from attnkit.sim.engines import attention as at

    checked = 0
    for arch_sets, (model, sets) in itertools.product(
        ([], ["global_buffer.bytes=1048576"], ["global_buffer.bytes=262144", "array_2d.rows=64", "array_2d.cols=64"]),
        [
            ("bert", ["seq_len=1024"]),
            ("bert", ["seq_len=4096", "causal=true"]),
            ("llama3-8b", ["seq_len=8192", "causal=true"]),
            ("llama3-8b", ["seq_len=2000", "batch=2"]),
        ],
    ):
        arch = load_arch("flat", arch_sets)
        s = at._shape(arch, load_workload(model, sets))
        memo = at._FlatMemo(arch, s)
        plans = []
        for rq in at._flat_candidates(arch, s):
            for spill, resident in itertools.product((False, True), repeat=2):
                if at._flat_fits(arch, s, rq, spill, resident):
                    sums, words = at._flat_sums(arch, s, rq, spill, resident, memo)
                    plans.append((max(sums), words, rq, spill, resident))
        best = None
        for bound, words, rq, spill, resident in sorted(plans):
            if best is not None and (bound > best[0][0] or (bound >= best[0][0] and words >= best[0][1])):
                continue
            program, _ = at._flat_plan(arch, s, rq, spill, resident, memo)
            key = (pipeline.run(at.FLAT_PIPE, program, "closed").cycles, words)
            if best is None or key < best[0]:
                best = (key, rq, spill, resident)
        got = at._flat_choose(arch, s, at._FlatMemo(arch, s))
        if best is None:
            assert got is None
            continue
        assert got[:4] == (best[1], best[2], best[3], best[0][1]) and got[5].cycles == best[0][0], (arch_sets, sets)
        checked += 1
    assert checked >= 8
