"""One reader of result files: the report, `attnkit pareto` and the Python API see the same rows, so they
leave infeasible designs off the same Pareto front."""

import json
import subprocess
import sys

import pytest
from conftest import mutant_record

import attnkit
from attnkit.reports import data, fig_pareto

SPEC = """\
name: small-arrays
arch: fusemax
workloads: [bert, xlm]
engine: fusemax
parameters:
  array_2d.rows: [128, 256, 512]
  array_2d.cols: [128, 256, 512]
  workload.seq_len: [4096]
derived:
  array_1d.pes: array_2d.cols
constraints:
  - area_mm2 <= 600          # 512x512 (about 800 mm^2) is the fastest design and breaks it
"""


def _design(r) -> tuple:
    return r["workload"], r["array_2d.rows"], r["array_2d.cols"]


def _cli_front(results, *args) -> list[dict]:
    p = subprocess.run(
        [sys.executable, "-m", "attnkit", "pareto", str(results), *args, "--json"], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _fronts(folder):
    """The latency/area front per workload as the report, the CLI and the API give it."""
    report = fig_pareto.figures(data.load(folder))[0].table
    cli = _cli_front(folder / "results.csv", "--minimize", "latency_s", "area_mm2", "--by", "workload")
    api = attnkit.pareto(folder / "results.csv", ["latency_s", "area_mm2"], by=["workload"])
    return sorted(map(_design, report)), sorted(map(_design, cli)), sorted(map(_design, api))


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "small-arrays.yaml").write_text(SPEC)
    rows = attnkit.sweep(tmp / "small-arrays.yaml", out=tmp / "out", jobs=1)
    return tmp / "out", rows


def test_report_cli_and_api_leave_an_infeasible_design_off_the_same_front(swept):
    folder, rows = swept
    infeasible = [r for r in rows if r["feasible"] is False]
    assert [_design(r)[1:] for r in infeasible] == [(512, 512)] * 2  # read back as a bool
    fastest = min(rows, key=lambda r: r["latency_s"])
    assert fastest["feasible"] is False and fastest["area_mm2"] > 600
    report, cli, api = _fronts(folder)
    assert report == cli == api
    # each feasible design trades latency for area: all of them, and only them, are on the front
    assert report == sorted(_design(r) for r in rows if r["feasible"] is True)


def test_a_sweep_file_without_a_kind_is_read_the_same(swept, tmp_path):
    # results.csv copied away from its folder (or written before kinds): its kind comes from its columns
    folder, _ = swept
    (tmp_path / "results.csv").write_text((folder / "results.csv").read_text())
    assert _fronts(tmp_path) == _fronts(folder)
    (table,) = data.load(tmp_path)
    assert table.kind == "sweep" and table.guessed


def test_csv_cells_are_parsed_one_way(tmp_path):
    from attnkit.sim.result import load_results

    path = tmp_path / "results.csv"
    path.write_text(
        "point_id,n,x,ok,bad,blank,lst,rec,text\n"
        '1234e567,3,2.5,True,False,,"[1, 2]","{""a"": 1}",area_mm2 <= 600\n'
        "1234e567,4,2.5,True,False,,,,twice\n"  # a point written twice counts once
        "0099,5,1e"
    )  # a torn last line is ignored
    got = load_results(path)
    assert got.rows == [
        {
            "point_id": "1234e567",
            "n": 3,
            "x": 2.5,
            "ok": True,
            "bad": False,
            "blank": None,
            "lst": [1, 2],
            "rec": {"a": 1},
            "text": "area_mm2 <= 600",
        }
    ]
    assert got.kind is None and not got.guessed  # no manifest, and not the columns of a kind


def test_a_file_of_no_known_kind_is_still_rows_for_pareto(tmp_path):
    from attnkit.errors import AttnkitError
    from attnkit.sim.result import load_results

    path = tmp_path / "mine.csv"
    path.write_text("name,lat,area\na,1,2\nb,2,1\nc,3,3\n")
    assert load_results(path).kind is None
    assert [r["name"] for r in attnkit.pareto(path, ["lat", "area"])] == ["a", "b"]
    with pytest.raises(AttnkitError, match="not a result file attnkit knows"):
        data.load(path)


def test_reproduce_and_sweep_folders_declare_their_kind(swept, tmp_path):
    from attnkit.sim.result import load_results

    folder, _ = swept
    got = load_results(folder / "results.csv")
    assert (got.kind, got.guessed) == ("sweep", False)
    rows = attnkit.reproduce("leanattention", out=tmp_path / "lean", seq_lens=[1024])
    for name in ("results.csv", "results.json"):
        got = load_results(tmp_path / "lean" / name)
        assert (got.kind, got.guessed) == ("decode", False)
    assert got.rows == json.loads(json.dumps(list(rows)))  # the rows are what reproduce returned
    (table,) = data.load(tmp_path / "lean")  # the report takes results.json, not the manifest
    assert table.source.name == "results.json" and table.kind == "decode"


def test_json_records_declare_their_kind(tmp_path, capsys, monkeypatch):
    from attnkit import api, cli
    from attnkit.sim.result import load_results
    from attnkit.testbench import mutation

    assert cli.main(["simulate", "--arch", "fusemax", "--workload", "bert", "--json"]) == 0
    (tmp_path / "sim.json").write_text(capsys.readouterr().out)
    got = load_results(tmp_path / "sim.json")
    want = json.loads(json.dumps(attnkit.simulate("fusemax", "bert").to_dict()))
    assert (got.kind, got.guessed, got.rows) == ("simulate", False, [want])  # the record without its kind

    monkeypatch.setattr(
        api,
        "rtl_test",
        lambda *a, **k: {"block": "mac", "vectors": 1, "mismatches": 0, "cycles": 5, "predicted_cycles": 5, "log": "x"},
    )
    monkeypatch.setattr(
        api, "synth", lambda *a, **k: {"block": "mac", "target": "ecp5", "device": "d", "luts": 1, "fits": True}
    )
    recs = [mutant_record(run_s=0.1)]
    monkeypatch.setattr(mutation, "run", lambda *a, **k: recs)
    for argv, kind in (
        (["rtl-test", "mac", "--seed", "1", "--json"], "rtl"),
        (["synth", "mac", "--target", "ecp5", "--json"], "synth"),
    ):
        assert cli.main(argv) == 0
        assert json.loads(capsys.readouterr().out)["kind"] == kind
    assert cli.main(["rtl-mutate", "mac", "-o", str(tmp_path / "m.json")]) == 0
    got = load_results(tmp_path / "m.json")
    assert (got.kind, got.guessed, got.rows) == ("mutants", False, recs)  # a fault's own kind stays
