"""Synthesis with the open tools: resources counted from Yosys's cells, DSP inference, the device fit,
place and route on ECP5, the cache, and one-line errors. The big blocks' table is `make synth`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from attnkit import api
from attnkit.errors import AttnkitError
from attnkit.hw import synth

PY = sys.executable


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One synthesis cache for the tests that only read results (each netlist is made once)."""
    return tmp_path_factory.mktemp("synth-cache")


def test_count_by_target():
    cells = {
        "LUT2": 16,
        "LUT5": 15,
        "RAM32M16": 2,
        "FDRE": 30,
        "FDSE": 5,
        "DSP48E2": 1,
        "RAMB18E2": 3,
        "RAMB36E2": 1,
        "CARRY8": 2,
        "IBUF": 20,
    }
    assert synth.count(cells, "xcup") == {"luts": 16 + 15 + 16, "ffs": 35, "dsps": 1, "brams": 2.5, "carry": 2}
    ecp5 = {"LUT4": 46, "CCU2C": 17, "TRELLIS_DPR16X4": 2, "TRELLIS_FF": 35, "MULT18X18D": 4, "DP16KD": 3}
    assert synth.count(ecp5, "ecp5") == {"luts": 46 + 34 + 8, "ffs": 35, "dsps": 4, "brams": 3, "carry": 17}
    dev = synth.load_device("ice40up5k", "ice40")
    assert synth.fits({"luts": 6000, "ffs": 10, "dsps": 9, "brams": 0}, dev) == ["6,000 LUTs > 5,280", "9 DSPs > 8"]


@pytest.mark.parametrize("target, dsp", [("xcup", "DSP48E2"), ("ecp5", "MULT18X18D")])
def test_mac_maps_to_dsp_blocks(target, dsp, cache):
    r = api.synth("mac", target, out=cache)
    assert r["cells"].get(dsp, 0) >= 1 and r["dsps"] >= 1, f"the MAC's multiplier was not mapped to a {dsp}"
    # the 8 x 8 product is in the DSP, so what is left is the accumulator's adder and registers
    assert r["luts"] < 100 and r["ffs"] >= 35 and r["fits"]


def test_place_and_route_gives_fmax_and_is_cached(tmp_path):
    first = api.synth("mac", "ecp5", pnr=True, out=tmp_path)
    assert first["fmax_mhz"] > 50 and first["utilisation"]["MULT18X18D"]["used"] == 1
    assert not first["cached"]
    again = api.synth("mac", "ecp5", pnr=True, out=tmp_path)
    assert again["cached"] and again["fmax_mhz"] == first["fmax_mhz"]
    other = api.synth("mac", "ecp5", pnr=True, out=tmp_path, set={"pipeline": 3})  # new Verilog, new key
    assert not other["cached"] and other["ffs"] > first["ffs"]


def _cli(args, cwd, env=None):
    return subprocess.run(
        [PY, "-m", "attnkit", *args], cwd=cwd, capture_output=True, text=True, env=env or dict(os.environ), timeout=600
    )


def test_a_design_too_large_for_its_device_is_one_line(tmp_path):
    (tmp_path / "configs" / "devices").mkdir(parents=True)
    (tmp_path / "configs" / "devices" / "tiny.yaml").write_text(
        "name: tiny\ntarget: ice40\nluts: 20\nffs: 5280\ndsps: 0\nbrams: 30\nsource: a made-up part for this test\n"
    )
    p = _cli(["synth", "mac", "--target", "ice40", "--device", "tiny", "--json"], tmp_path)
    assert p.returncode == 2
    err = [line for line in p.stderr.splitlines() if line.startswith("attnkit: error")]
    assert len(err) == 1 and "mac does not fit tiny" in err[0] and "LUTs > 20" in err[0] and "DSPs > 0" in err[0]
    record = json.loads(p.stdout)  # the numbers are still printed
    assert record["fits"] is False and record["luts"] > 20


@pytest.mark.parametrize(
    "args, message",
    [
        (["synth", "nope", "--target", "ecp5"], "unknown block 'nope'"),
        (["synth", "mac", "--target", "xcup", "--pnr"], "place and route is available for ecp5"),
        (["synth", "mac", "--target", "ecp5", "--device", "xczu9eg"], "device xczu9eg is a xcup part, not ecp5"),
        (["synth", "mac", "--target", "ecp5", "--device", "nosuch"], "no devices config named 'nosuch'"),
    ],
)
def test_bad_input_is_one_line(args, message, tmp_path):
    p = _cli(args, tmp_path)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and message in p.stderr, p.stderr


def test_unknown_target_is_refused_by_the_parser(tmp_path):
    p = _cli(["synth", "mac", "--target", "stratix"], tmp_path)
    assert p.returncode == 2 and "invalid choice: 'stratix'" in p.stderr
    with pytest.raises(AttnkitError, match="unknown target 'stratix'"):
        api.synth("mac", "stratix")


def test_synth_records_make_a_report(tmp_path, cache):
    records = [api.synth("mac", t, out=cache) for t in ("xcup", "ice40")]
    for i, r in enumerate(records):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"{i}.json").write_text(json.dumps(r))
    out = api.report([tmp_path / "in"], tmp_path / "rep")
    assert any("synth-resources" in f for f in map(str, out["figures"]))
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Resources per block, size and target" in md and "xczu9eg" in md and "ice40up5k" in md


def test_attention_records_are_drawn_against_array_size():
    """The size figure names each design from the parameters its record carries, as `attnkit synth` writes
    them (no sets = the shipped 4x4, d16, exact engine), and keeps one point per size, preferring the
    placed-and-routed record."""
    from attnkit.hw import blocks
    from attnkit.params import config
    from attnkit.reports import fig_synth
    from attnkit.reports.data import Table

    def rec(sets, luts, fmax=None):
        return {
            "block": "attention",
            "target": "ecp5",
            "device": "lfe5um-85f",
            "sets": sets,
            "params": config.to_data(blocks.get("attention").load_params(sets)),
            "luts": luts,
            "ffs": luts // 3,
            "dsps": 1,
            "brams": 0,
            "carry": 0,
            "fmax_mhz": fmax,
            "fits": True,
        }

    f16 = ["numerics.acc_frac_bits=16", "numerics.acc_rounding=AP_RND"]
    rows = [
        rec(["array_2d.rows=2", "array_2d.cols=2"], 100),
        rec([], 400),
        rec(f16, 300),
        rec(f16, 300, fmax=29.4),
        rec(["array_2d.rows=8", "array_2d.cols=8"], 1600),
    ]
    assert (
        fig_synth.label(rows[1]) == "attention 4x4 d16 exact"
        and fig_synth.label(rows[2]) == "attention 4x4 d16 F16 RND"
    )
    figs = {f.name: f for f in fig_synth.figures([Table("synth", "t", rows)])}
    size = figs["synth-attention-size"].table
    assert [(r["format"], r["array"], r["luts"], r["fmax_mhz"]) for r in size] == [
        ("F16 RND", "4x4", 300, 29.4),
        ("exact", "2x2", 100, None),
        ("exact", "4x4", 400, None),
        ("exact", "8x8", 1600, None),
    ]
