"""Engine and evaluator attention-numerics (arch kind numerics) and the sweep spec configs/sweeps/attention-numerics.yaml."""

import csv

import pytest

from attnkit.errors import ConfigError
from attnkit.evaluators import load_spec
from attnkit.params import kinds
from attnkit.params.arch import NumericsArch
from attnkit.params.config import FieldError
from attnkit.sim import engines, sweep_run


def _run(*sets):
    return engines.simulate(
        "attention-numerics", "rtl-attention", sets=["workload.head_dim=8", "workload.seq_len=24", *sets]
    )


def test_accuracy_of_each_mode_within_its_bound():
    exact = _run()
    f8 = _run("numerics.acc_frac_bits=8")
    f20 = _run("numerics.acc_frac_bits=20", "numerics.acc_rounding=AP_RND")
    for r in (exact, f8, f20):
        assert 0 < r.extra["max_abs_err"] <= r.extra["bound"]
        assert r.cycles > 0
    assert f8.extra["max_abs_err"] > 4 * exact.extra["max_abs_err"]  # 8 truncated bits cost accuracy
    assert f20.extra["max_abs_err"] <= 2 * exact.extra["max_abs_err"]
    assert f8.extra["rd_bits"] < exact.extra["rd_bits"] and f8.extra["psum_bits"] < exact.extra["psum_bits"]
    assert exact.extra["luts"] is None and exact.extra["ffs"] is None  # synth: "" by default


def test_simulate_refuses_synth():
    """Synthesis is the evaluator's (the simulator does not call up into the RTL flow)."""
    with pytest.raises(ConfigError, match="synth 'ecp5': engine attention-numerics measures accuracy; synthesis runs"):
        _run("synth=ecp5")


def test_evaluator_adds_synthesis(monkeypatch):
    """With synth set, the evaluator runs the engine without it and adds `attnkit synth attention`'s figures."""
    from attnkit import api as kit
    from attnkit import evaluators

    calls = []

    def fake_synth(block, target, set=None, **kw):
        calls.append((block, target, list(set)))
        return {"luts": 123, "ffs": 45, "dsps": 0, "brams": 1, "fmax_mhz": None}

    monkeypatch.setattr(kit, "synth", fake_synth)
    arch = kinds.load_arch("attention-numerics", ["synth=ecp5", "numerics.acc_frac_bits=12"])
    wl = kinds.load_workload("rtl-attention", ["head_dim=8", "seq_len=24"])
    r = evaluators.EVALUATORS["attention-numerics"](arch, wl, None, "closed")
    want = _run("numerics.acc_frac_bits=12").to_dict()
    got = r.to_dict()
    assert {k: got[k] for k in ("luts", "ffs", "brams")} == {"luts": 123, "ffs": 45, "brams": 1}
    assert {k: v for k, v in got.items() if k not in evaluators.SYNTH_KEYS} == {
        k: v for k, v in want.items() if k not in evaluators.SYNTH_KEYS
    }
    assert calls == [
        (
            "attention",
            "ecp5",
            [
                "array_2d.rows=2",
                "array_2d.cols=2",
                "workload.head_dim=8",
                "workload.seq_len=24",
                "workload.causal=false",
                "numerics.acc_frac_bits=12",
            ],
        )
    ]


def test_arch_checks():
    with pytest.raises(FieldError, match="synth"):
        NumericsArch(synth="vivado")
    with pytest.raises(FieldError, match="rows"):
        NumericsArch(rows=1)


def test_sweep_spec_expands_and_evaluates_accuracy(tmp_path):
    plan = load_spec("configs/sweeps/attention-numerics.yaml")
    assert len(plan.points) == 40
    synth_col = plan.columns.index("synth")
    assert sum(1 for p in plan.points if p[synth_col] == "ecp5") == 10
    spec = tmp_path / "mini.yaml"
    spec.write_text(
        "name: mini\narch: attention-numerics\nworkloads: [rtl-attention]\nevaluator: attention-numerics\n"
        "parameters:\n  numerics.acc_frac_bits: [null, 10]\n  workload.head_dim: 8\n"
        "  workload.seq_len: 16\n"
    )
    sweep_run.run(load_spec(spec), tmp_path / "out", jobs=1, progress=False)
    with open(tmp_path / "out" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(r["error"] == "" for r in rows)
    errs = {r["numerics.acc_frac_bits"]: float(r["max_abs_err"]) for r in rows}
    assert errs["10"] > errs[""] > 0


def test_shipped_spec_rows_equal_simulate(tmp_path):
    """Points of the shipped spec (those without synthesis) through the sweep equal the simulate API."""
    plan = load_spec("configs/sweeps/attention-numerics.yaml")
    synth_col = plan.columns.index("synth")
    pick = [i for i, p in enumerate(plan.points) if p[synth_col] == ""][::10]
    plan = plan.take(pick)
    sweep_run.run(plan, tmp_path, jobs=1, progress=False)
    from attnkit.sim.result import load_results

    rows = {r["point_id"]: r for r in load_results(tmp_path / "results.csv").rows}
    assert len(rows) == len(pick) >= 3
    for pid, values in zip(plan.ids, plan.points):
        sets = [
            f"{k}={'null' if v is None else getattr(v, 'value', v)}"
            for k, v in zip(plan.columns, values)
            if k in plan.edit_keys and v != ""
        ]  # synth "" is the YAML's value
        want = engines.simulate("attention-numerics", "rtl-attention", plan.engine, sets).to_dict()  # from the YAML
        assert not rows[pid]["error"], rows[pid]["error"]
        for k in ("cycles", "max_abs_err", "mean_abs_err", "bound", "rd_bits", "psum_bits"):
            assert rows[pid][k] == pytest.approx(want[k], rel=1e-12), k


def test_synth_sets_rebuild_the_same_numerics():
    """The --set strings the evaluator passes to `attnkit synth` rebuild exactly the swept numerics."""
    import dataclasses

    from attnkit.evaluators import numerics_sets
    from attnkit.params import config
    from attnkit.params.fixed import QFormat, Rounding
    from attnkit.params.numerics import AttentionNumerics

    num = dataclasses.replace(
        AttentionNumerics(), acc_frac_bits=12, acc_rounding=Rounding.AP_RND, in_fmt=QFormat(True, 4, 10)
    )
    num = dataclasses.replace(num, exp=dataclasses.replace(num.exp, table_fmt=num.exp.table_fmt.with_(frac_bits=12)))
    sets = [s.removeprefix("numerics.") for s in numerics_sets(num)]
    assert config.load(AttentionNumerics, None, sets) == num
    assert numerics_sets(AttentionNumerics()) == []


def test_report_figure_draws_the_front():
    from pathlib import Path

    from attnkit.reports import fig_numerics
    from attnkit.reports.data import Table

    def row(w, rnd, err, luts):
        return {
            "numerics.acc_frac_bits": w,
            "numerics.acc_rounding": f"Rounding.{rnd}",
            "numerics.in_fmt.frac_bits": 12,
            "numerics.exp.table_fmt.frac_bits": 16,
            "max_abs_err": err,
            "luts": luts,
            "ffs": 1,
            "synth": "ecp5",
            "problems": 4,
        }

    rows = [
        row(None, "AP_TRN", 2e-4, 20000),
        row(8, "AP_TRN", 0.3, 11000),
        row(8, "AP_RND", 0.04, 12500),
        row(12, "AP_RND", 2e-3, 12000),
        row(20, "AP_RND", 2e-4, 14000),
    ]
    (f,) = fig_numerics.figures([Table("sweep", Path("x.csv"), rows)])
    assert [t["mode"] for t in f.table] == ["F8 AP_TRN", "F12 AP_RND", "F20 AP_RND"]  # exact and F8 RND dominated
    assert fig_numerics.figures([Table("sweep", Path("y.csv"), [{"cycles": 1}])]) == []
