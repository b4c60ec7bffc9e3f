"""attnkit golden-report: one JSON value on stdout, the Markdown table written."""

import json

from attnkit.cli import main


def test_golden_report_json_and_file(tmp_path, capsys):
    out = tmp_path / "err.md"
    assert main(["golden-report", "--quick", "--json", "--out", str(out)]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["function"] for r in rows]
    for want in (
        "exp",
        "recip",
        "gelu (Edge-MoE)",
        "softmax 3pass",
        "softmax 2pass",
        "softmax 1pass",
        "softmax edgemoe",
        "attention 1-pass tiled",
        "decode split + merge",
    ):
        assert want in names
    for r in rows:
        assert set(r) == {"function", "max_abs_err", "mean_abs_err", "max_ulp", "inputs"}
        assert r["max_abs_err"] >= r["mean_abs_err"] >= 0
    byname = {r["function"]: r for r in rows}
    assert byname["attention 1-pass tiled"]["max_ulp"] < 1.5
    assert byname["softmax 3pass"]["max_ulp"] < 1.0
    assert "| function | max_abs_err |" in out.read_text()
