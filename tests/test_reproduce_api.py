"""attnkit.api.reproduce: the one place that times a reproduction, writes its files and prints its line.

A target module only computes rows (``run``) and names ``COLUMNS``; these tests
give api.reproduce small stand-in targets and check what it writes, then check
that every shipped target keeps to the contract.
"""

import inspect
import json
import re
import types

import pytest

import attnkit
from attnkit import api, cli
from attnkit.errors import AttnkitError

LINE = re.compile(r"^reproduce (?P<name>\S+): (?P<counted>.+) in \d+\.\d\d s; wrote (?P<written>.+)$")


def _target(**extra):
    calls = []

    def run(sets=(), models=None, seq_lens=None):
        calls.append((list(sets), models, seq_lens))
        if models:
            raise AttnkitError("toy: --models does not apply")
        return [
            {"row": "point", "a": 1, "b": None, "hidden": "x"},
            {"row": "point", "a": 2, "b": 3.5},
            {"row": "summary", "metric": "m", "ours": 1.5},
        ]

    mod = types.SimpleNamespace(
        run=run,
        COLUMNS=["row", "a", "b", "metric", "ours"],
        POINT_COLUMNS=["a", "b"],
        SUMMARY_COLUMNS=["metric", "ours"],
        **extra,
    )
    return mod, calls


def test_rows_written_and_one_line(monkeypatch, tmp_path, capsys):
    mod, calls = _target()
    monkeypatch.setattr(api, "reproduce_module", lambda name: mod)
    rows = attnkit.reproduce("toy", out=tmp_path / "o", set={"array_2d.rows": 64}, seq_lens=[8])
    assert calls == [(["array_2d.rows=64"], None, [8])]
    assert rows == mod.run() and isinstance(rows, api.Rows)
    assert (tmp_path / "o" / "results.csv").read_text().splitlines() == [
        "row,a,b,metric,ours",
        "point,1,,,",
        "point,2,3.5,,",
        "summary,,,m,1.5",
    ]
    assert json.loads((tmp_path / "o" / "results.json").read_text()) == rows  # every key, "hidden" too
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["manifest.json", "results.csv", "results.json"]
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["kind"] == "reproduce"  # the default kind
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    m = LINE.match(err[0])
    assert m and m["name"] == "toy" and m["counted"] == "2 points", err
    assert m["written"] == f"{tmp_path / 'o'}/results.csv and results.json"


def test_configuration_files_and_count(monkeypatch, tmp_path, capsys):
    seen = {}

    def configuration(sets, models):
        seen["configuration"] = (list(sets), models)
        return {"sets": list(sets), "archs": {"toy": {"rows": 64}}}

    mod, _ = _target(
        configuration=configuration,
        files=lambda sets: {"notes.md": f"# notes {list(sets)}\n"},
        counted=lambda rows: f"{len(rows)} things",
    )
    monkeypatch.setattr(api, "reproduce_module", lambda name: mod)
    attnkit.reproduce("toy", out=tmp_path, set=["workload.seq_len=8"])
    assert seen["configuration"] == (["workload.seq_len=8"], None)
    assert (tmp_path / "config.json").read_text() == json.dumps(
        {"sets": ["workload.seq_len=8"], "archs": {"toy": {"rows": 64}}}, indent=1
    )
    assert (tmp_path / "notes.md").read_text() == "# notes ['workload.seq_len=8']\n"
    m = LINE.match(capsys.readouterr().err.strip())
    assert m and m["counted"] == "3 things"
    assert m["written"] == f"{tmp_path}/results.csv, results.json and notes.md"


@pytest.mark.parametrize("show", [True, False])
def test_cli_shows_the_points_unless_the_target_says_they_are_too_many(monkeypatch, tmp_path, capsys, show):
    mod, _ = _target(**({} if show else {"SHOW_POINTS": False}))
    monkeypatch.setattr(api, "reproduce_module", lambda name: mod)
    monkeypatch.setattr(api, "reproduce_targets", lambda: {"toy": "toy"})
    assert cli.main(["reproduce", "toy", "--out", str(tmp_path / "o")]) == 0
    shown = [line.split() for line in capsys.readouterr().out.splitlines() if line.strip()]
    points = [["a", "b"], ["1", "-"], ["2", "3.5"]]
    assert shown == (points if show else []) + [["metric", "ours"], ["m", "1.5"]]
    assert len((tmp_path / "o" / "results.csv").read_text().splitlines()) == 4  # every row written either way


def test_leanattention_summary_fits_on_one_screen(tmp_path, capsys):
    """Its ~1,700 points are the figures' series (results.csv); the CLI prints the headline rows only."""
    assert cli.main(["reproduce", "leanattention", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "metric" and 10 <= len(lines) <= 40
    points = sum(1 for line in (tmp_path / "results.csv").read_text().splitlines() if line.startswith("point,"))
    assert points > 1000


def test_refused_filter_writes_nothing(monkeypatch, tmp_path, capsys):
    mod, _ = _target()
    monkeypatch.setattr(api, "reproduce_module", lambda name: mod)
    with pytest.raises(AttnkitError, match="--models does not apply"):
        attnkit.reproduce("toy", out=tmp_path / "o", models=["bert"])
    assert not (tmp_path / "o").exists() and capsys.readouterr().err == ""


@pytest.mark.parametrize("name", sorted(api.reproduce_targets()))
def test_shipped_targets_keep_the_contract(name):
    mod = api.reproduce_module(name)
    assert isinstance(mod, api.ReproduceTarget), name
    params = inspect.signature(mod.run).parameters
    assert list(params)[:3] == ["sets", "models", "seq_lens"], name
    assert all(params[p].default in ((), None) for p in ("sets", "models", "seq_lens"))
    assert not hasattr(mod, "main") and not hasattr(mod, "write"), f"{name}: writing belongs to api.reproduce"
    assert mod.COLUMNS[0] == "row"
    assert set(mod.POINT_COLUMNS) <= set(mod.COLUMNS) and set(mod.SUMMARY_COLUMNS) <= set(mod.COLUMNS), name
    for optional, arity in (("configuration", 2), ("files", 1), ("counted", 1)):
        if hasattr(mod, optional):
            assert len(inspect.signature(getattr(mod, optional)).parameters) >= arity, (name, optional)


@pytest.mark.parametrize(
    "name,kw",
    [("leanattention", {"models": ["bert"]}), ("edgemoe", {"models": ["bert"]}), ("edgemoe", {"seq_lens": [1024]})],
)
def test_targets_refuse_filters_they_cannot_apply(name, kw, tmp_path):
    with pytest.raises(AttnkitError, match="does not apply|do not"):
        attnkit.reproduce(name, out=tmp_path / "o", **kw)
    assert not (tmp_path / "o").exists()
