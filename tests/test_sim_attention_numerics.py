"""Engine attention-numerics (arch kind numerics) and the sweep spec configs/sweeps/attention-numerics.yaml."""

import csv

import pytest

from attnkit.config import FieldError
from attnkit.sim import api
from attnkit.sim import sweep_run
from attnkit.sim.engines.attention_numerics import NumericsArch
from attnkit.sim.sweep import load_spec


def _run(*sets):
    return api.simulate("attention-numerics", "rtl-attention", sets=["workload.head_dim=8", "workload.seq_len=24",
                                                                      *sets])


def test_accuracy_of_each_mode_within_its_bound():
    exact = _run()
    f8 = _run("numerics.acc_frac_bits=8")
    f20 = _run("numerics.acc_frac_bits=20", "numerics.acc_rounding=AP_RND")
    for r in (exact, f8, f20):
        assert 0 < r.extra["max_abs_err"] <= r.extra["bound"]
        assert r.cycles > 0
    assert f8.extra["max_abs_err"] > 4 * exact.extra["max_abs_err"]   # 8 truncated bits cost accuracy
    assert f20.extra["max_abs_err"] <= 2 * exact.extra["max_abs_err"]
    assert f8.extra["rd_bits"] < exact.extra["rd_bits"] and f8.extra["psum_bits"] < exact.extra["psum_bits"]
    assert exact.extra["luts"] is None and exact.extra["ffs"] is None     # synth: "" by default


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
    spec.write_text("name: mini\narch: attention-numerics\nworkloads: [rtl-attention]\nengine: attention-numerics\n"
                    "parameters:\n  numerics.acc_frac_bits: [null, 10]\n  workload.head_dim: 8\n"
                    "  workload.seq_len: 16\n")
    sweep_run.run(load_spec(spec), tmp_path / "out", jobs=1, progress=False)
    with open(tmp_path / "out" / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and all(r["error"] == "" for r in rows)
    errs = {r["numerics.acc_frac_bits"]: float(r["max_abs_err"]) for r in rows}
    assert errs["10"] > errs[""] > 0
