"""The shipped sweeps on the real engines: specs load, and a swept row equals `simulate --set` of its parameters."""

import random
import subprocess
import sys

import numpy as np
import pytest

from attnkit.errors import ConfigError
from attnkit.params import kinds
from attnkit.sim import engines, sweep, sweep_run
from attnkit.sim.energy import CONFIG_DIR

SPECS = sorted((CONFIG_DIR / "sweeps").glob("*.yaml"))


def _needs(spec_path):
    """A shipped spec's engine, evaluator and configs must exist: a rename that breaks a spec fails here."""
    from attnkit.evaluators import EVALUATORS

    data = sweep.config.load_yaml(spec_path)
    engine = data.get("engine")
    assert not engine or engine in engines.registry(), f"{spec_path.name}: engine {engine!r} is not registered"
    evaluator = data.get("evaluator")
    assert not evaluator or evaluator in EVALUATORS, f"{spec_path.name}: evaluator {evaluator!r} is not registered"
    for a in [data["arch"]] if isinstance(data["arch"], str) else data["arch"]:
        assert kinds.resolve_arch(a).exists(), f"{spec_path.name}: configs/arch/{a}.yaml is missing"
    for w in [data["workloads"]] if isinstance(data["workloads"], str) else data["workloads"]:
        assert kinds.resolve(w, "workloads").exists(), f"{spec_path.name}: configs/workloads/{w}.yaml is missing"


@pytest.mark.parametrize("spec", SPECS, ids=[p.stem for p in SPECS])
def test_shipped_spec_loads_and_rows_equal_simulate_with_sets(spec, tmp_path):
    _needs(spec)
    if spec.stem == "attention-numerics":  # 40 golden-model points, some synthesised (minutes each)
        pytest.skip("checked by tests/test_sim_attention_numerics.py")
    plan = sweep.load_spec(spec)
    assert len(plan) >= 1000
    # A sample of points, run through the sweep machinery...
    rng = random.Random(0)
    pick = sorted(rng.sample(range(len(plan)), 40))
    if "fusemax" in spec.stem:  # and a design whose tile cannot fit its buffer (512 x 512 array, 1 MiB)
        t = plan.table
        rows, cols, gb = (t[c] for c in plan.columns[2:5])
        pick = sorted(set(pick) | {int(np.flatnonzero((rows == 512) & (cols == 512) & (gb == 1048576))[0])})
    plan = plan.take(pick)
    assert len(plan) == len(pick)
    sweep_run.run(plan, tmp_path, jobs=1, progress=False)
    from attnkit.sim.result import load_results

    out = tmp_path / ("results.parquet" if plan.output == "parquet" else "results.csv")
    rows = {r["point_id"]: r for r in load_results(out).rows}
    assert len(rows) == len(pick)
    # ...equal the simulate API given the same parameters as --set strings on the loaded configs.
    errors = 0
    for pid, values in zip(plan.ids, plan.points):
        row = rows[pid]
        sets = [f"{k}={v}" for k, v in zip(plan.columns, values) if k in plan.edit_keys]
        try:
            arch = kinds.load_arch(kinds.load_arch(values[0]), kinds.split_sets(sets)[0])
            wl = kinds.load_workload(kinds.load_workload(values[1]), kinds.split_sets(sets)[1])
            want = engines.simulate(arch, wl, plan.engine, mode=plan.mode).to_dict()
        except Exception as e:  # an impossible design: the sweep recorded the same reason
            reason = " ".join(str(e).split()).removeprefix("--set: ")
            assert row["error"] and reason in row["error"], (row["error"], e)
            errors += 1
            continue
        assert not row["error"], row["error"]
        for k in ("cycles", "latency_s", "energy_pj", "area_mm2", "dram_bytes"):
            assert row[k] == want[k], (k, row[k], want[k])
    assert errors == sum(bool(r["error"]) for r in rows.values())


def test_spec_evaluator_is_looked_up_in_the_callers_evaluators(tmp_path):
    """sim/ knows no evaluator by name: the caller (attnkit.evaluators.load_spec) gives them."""
    from attnkit import evaluators

    spec = tmp_path / "s.yaml"
    spec.write_text("arch: systolic\nworkloads: [gemm]\nevaluator: nosuch\nparameters: {array_2d.rows: [8]}\n")
    with pytest.raises(
        ConfigError, match=r"s.yaml: evaluator: unknown evaluator 'nosuch' \(known: attention-numerics,"
    ):
        evaluators.load_spec(spec)
    with pytest.raises(ConfigError, match=r"unknown evaluator 'nosuch' \(known: none here: run the spec with attnkit"):
        sweep.load_spec(spec)
    spec.write_text("arch: systolic\nworkloads: [gemm]\nevaluator: simulate\nparameters: {array_2d.rows: [8]}\n")
    assert evaluators.load_spec(spec).evaluate is sweep_run.simulate


def test_shipped_spec_with_missing_engine_is_refused(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("arch: systolic\nworkloads: [gemm]\nengine: nosuch\nparameters: {array_2d.rows: [8]}\n")
    with pytest.raises(ConfigError, match=r"s.yaml: engine: unknown engine 'nosuch'"):
        sweep.load_spec(spec)


def test_cli_sweep_json_and_resume(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "arch: systolic\nworkloads: [gemm]\nparameters:\n  array_2d.rows: [16, 32, 64]\n"
        "  array_2d.dataflow: [os, ws, is]\n  workload.m: [64, 128]\n"
    )
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "attnkit", "sweep", str(spec), "--out", str(out), "--jobs", "2", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json

    s = json.loads(r.stdout)
    assert s["points"] == s["ran"] == 18 and s["errors"] == 0
    assert (out / "results.parquet").exists()
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 2 and "pass --resume" in r.stderr
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["ran"] == 0
