"""bench/gpu_decode.py: its bad-input errors (no PyTorch needed) and, with PyTorch, a small CPU run's output schema."""

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_decode.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_decode", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_decode = _module()


def test_help_runs_without_torch():
    p = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "--kv-heads" in p.stdout and "--backends" in p.stdout


@pytest.mark.parametrize(
    "args, says",
    [
        (["--heads", "16", "--kv-heads", "3"], "--heads 16 is not a multiple of --kv-heads 3"),
        (["--heads", "2", "--kv-heads", "4"], "--heads 2 is not a multiple of --kv-heads 4"),
        (["--context", "1024", "0"], "--context 0: sizes must be positive"),
        (["--batch", "-1"], "--batch -1: sizes must be positive"),
        (["--head-dim", "0"], "--head-dim 0: sizes must be positive"),
        (["--backends", "flash", "xformers"], "--backends xformers: unknown backend"),
        (["--backends", "flash", "flash"], "named twice"),
        (["--device", "cpu", "--backends", "flash"], "on CPU the only backend is math"),
        (["--rep-ms", "0"], "--rep-ms 0: expected a positive number"),
        (["--out", "build/x.csv"], "expected DIR/NAME"),
    ],
)
def test_bad_input_is_one_line_exit_2_before_torch(args, says, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # importing torch now fails: the checks must come first
    assert gpu_decode.main(args) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err


def test_no_torch_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert gpu_decode.main(["--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "PyTorch is an optional extra" in err and "attnkit[gpu]" in err and err.count("\n") == 1


def test_gpu_names_become_file_names():
    assert gpu_decode.slug("NVIDIA H200") == "h200"
    assert gpu_decode.slug("NVIDIA H100 80GB HBM3") == "h100-80gb-hbm3"
    assert gpu_decode.slug("NVIDIA GeForce RTX 4090") == "geforce-rtx-4090"


def test_a_small_cpu_run_writes_the_measurements_schema(tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "m" / "cpu-test"
    args = ["--device", "cpu", "--batch", "1", "--heads", "4", "--kv-heads", "4", "2", "--head-dim", "16"]
    args += ["--context", "64", "128", "--warmup-ms", "1", "--rep-ms", "5", "--out", str(out)]
    assert gpu_decode.main(args) == 0
    err = capsys.readouterr().err
    assert err.count("context ") >= 4  # one progress line per point

    with open(out.with_suffix(".csv"), newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == gpu_decode.COLUMNS
        rows = list(reader)
    points = {(1, 4, kv, 16, c) for kv in (4, 2) for c in (64, 128)}
    got = [
        (r["backend"], int(r["batch"]), int(r["heads"]), int(r["kv_heads"]), int(r["head_dim"]), int(r["context"]))
        for r in rows
    ]
    assert sorted(got) == sorted(("math", *p) for p in points)  # one row per point and backend
    for r in rows:
        assert float(r["latency_us"]) > 0 and r["latency_us"] == f"{float(r['latency_us']):.1f}"

    meta = yaml.safe_load(out.with_suffix(".yaml").read_text())
    keys = {"gpu", "sms", "software", "timing", "dtype", "copy_bandwidth_bytes_per_s", "backends"}
    assert set(meta) == keys
    assert isinstance(meta["gpu"], str) and meta["sms"] is None  # a CPU has no SMs
    assert set(meta["software"]) == {"torch", "cuda", "python"} and meta["software"]["python"].count(".") == 2
    assert isinstance(meta["timing"], str) and "\n" not in meta["timing"]
    assert meta["dtype"] == "fp32"
    assert isinstance(meta["copy_bandwidth_bytes_per_s"], float) and meta["copy_bandwidth_bytes_per_s"] > 0
    assert meta["backends"] == {"math": {"engine": "fa2", "kernel": "math"}}

    from attnkit.sim import gpu_measurements  # the reader of `attnkit validate` and `calibrate` takes the pair

    meas = gpu_measurements.load(out)
    assert len(meas.rows) == 4 and meas.copy_bandwidth_bytes_per_s == meta["copy_bandwidth_bytes_per_s"]


def test_a_skipped_backend_is_one_line_with_pytorchs_reason():
    warned = [
        "Memory efficient kernel not used because:",
        "Memory Efficient attention does not support grouped query attention\n(see sdp_utils.cpp)",
    ]
    why = gpu_decode.reason(RuntimeError("No available kernel. Aborting execution."), warned)
    assert why == "Memory Efficient attention does not support grouped query attention; (see sdp_utils.cpp)"
    assert gpu_decode.reason(RuntimeError("No viable backend\nmore"), []) == "No viable backend"
    assert len(gpu_decode.reason(RuntimeError("x" * 500), [])) == 200
