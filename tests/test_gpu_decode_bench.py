"""bench/gpu_decode.py: the file a user's GPU run writes loads as a measurements file; bad input is one line."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_decode.py"


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_a_cpu_run_writes_a_measurements_file(tmp_path):
    pytest.importorskip("torch")
    from attnkit.sim import gpu_measurements

    out = tmp_path / "cpu-sdpa"
    r = _run(
        *"--device cpu --heads 4 --kv-heads 4 2 --head-dim 16 --context 64 128".split(),
        "--out",
        out,
        *"--warmup-ms 1 --rep-ms 5 --copy-mib 4".split(),
    )
    assert r.returncode == 0, r.stderr
    meas = gpu_measurements.load(out.with_suffix(".csv"))  # the same checks as calibrate and validate
    assert [(m["kv_heads"], m["context"]) for m in meas.rows] == [(4, 64), (4, 128), (2, 64), (2, 128)]
    assert {m["backend"] for m in meas.rows} == {"math"} and all(m["latency_us"] > 0 for m in meas.rows)
    assert meas.copy_bandwidth_bytes_per_s > 0 and meas.backends["math"].engine == "fa2"
    assert {"gpu", "software", "timing", "dtype"} <= set(meas.meta)


@pytest.mark.parametrize(
    "args, message",
    [
        ("--heads 6 --kv-heads 4", "--heads 6 is not a multiple of --kv-heads 4"),
        ("--context 0", "--context 0: sizes must be positive"),
        ("--backends xla", "--backends xla: unknown"),
    ],
)
def test_bad_input_is_one_line_before_torch_is_needed(args, message):
    r = _run(*args.split())
    assert r.returncode == 2 and message in r.stderr.strip().splitlines()[-1], r.stderr
