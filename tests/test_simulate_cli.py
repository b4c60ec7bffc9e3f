"""attnkit simulate: JSON contract, --set, shipped names, and one-line errors for bad YAML files."""

import json
import subprocess
import sys

import pytest

from attnkit.sim.energy import CONFIG_DIR

SYSTOLIC = (CONFIG_DIR / "arch" / "systolic.yaml").read_text()
# The README's JSON keys, which every engine's `simulate --json` record carries (test_decode_sim checks them too).
# Spelt out here, not taken from the command's table columns, so the test does not check the code against itself.
JSON_KEYS = "engine cycles latency_s energy_pj area_mm2 util_2d util_1d dram_bytes energy_breakdown".split()


def attnkit(*args):
    return subprocess.run([sys.executable, "-m", "attnkit", *args], capture_output=True, text=True)


def test_json_has_the_contract_keys():
    r = attnkit(
        "simulate",
        "--arch",
        "systolic",
        "--workload",
        "gemm",
        "--json",
        "--set",
        "array_2d.rows=64",
        "--set",
        "workload.m=512",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in (*JSON_KEYS, "compute_cycles"):
        assert key in out
    assert out["engine"] == "gemm" and out["folds"] == 8 * 8  # 512/64 x 1024/128
    assert set(out["energy_breakdown"]) >= {"mac", "dram", "global_buffer"}


def test_table_output_and_paths(tmp_path):
    arch = tmp_path / "mine.yaml"
    arch.write_text(SYSTOLIC.replace("dataflow: os", "dataflow: ws"))
    r = attnkit("simulate", "--arch", str(arch), "--workload", str(CONFIG_DIR / "workloads" / "gemm.yaml"))
    assert r.returncode == 0, r.stderr
    assert "compute_cycles" in r.stdout and "energy breakdown" in r.stdout


BAD = [
    ("syntax error", SYSTOLIC.replace("rows: 128", "rows: [128"), "YAML syntax error"),
    ("unknown key", SYSTOLIC.replace("rows: 128", "rows: 128\n  rowz: 4"), "array_2d: unknown key 'rowz'"),
    (
        "negative bandwidth",
        SYSTOLIC.replace("bandwidth_bytes_per_s: 429496729600.0", "bandwidth_bytes_per_s: -1.0"),
        "dram.bandwidth_bytes_per_s: -1.0; it must be positive",
    ),
    (
        "tile larger than its buffer",
        SYSTOLIC.replace("tile_depth: 0", "tile_depth: 100000"),
        "array_2d.tile_depth: a double-buffered 128 x 100000",
    ),
    ("wrong type", SYSTOLIC.replace("rows: 128", "rows: many"), "array_2d.rows: expected an integer"),
    ("misspelt key", SYSTOLIC.replace("  rows: 128\n", "  rowz: 128\n"), "unknown key 'rowz'"),
    ("bad dataflow", SYSTOLIC.replace("dataflow: os", "dataflow: rs"), "array_2d.dataflow: expected one of os, ws, is"),
]


@pytest.mark.parametrize("what,text,needle", BAD, ids=[b[0] for b in BAD])
def test_bad_arch_file_gives_one_line(tmp_path, what, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    r = attnkit("simulate", "--arch", str(path), "--workload", "gemm")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnkit: error: "), r.stderr
    assert str(path) in lines[0] and needle in lines[0], lines[0]


def test_bad_workload_and_set_give_one_line(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("name: g\nkind: gemm\nm: 0\nn: 4\nk: 4\n")
    r = attnkit("simulate", "--arch", "systolic", "--workload", str(path))
    assert r.returncode == 2 and str(path) in r.stderr and "m: 0; it must be at least 1" in r.stderr
    r = attnkit("simulate", "--arch", "systolic", "--workload", "gemm", "--set", "global_buffer.bytes=1000")
    assert r.returncode == 2 and "global_buffer.bytes" in r.stderr and "Traceback" not in r.stderr
    r = attnkit("simulate", "--arch", "systolic", "--workload", "gemm", "--engine", "nope")
    assert r.returncode == 2 and "unknown engine 'nope'" in r.stderr
