"""Engine edgemoe: the cycle count's derivation properties, the fit check, and reproduce edgemoe."""

import json
import subprocess
import sys

import pytest

from attnkit.errors import AttnkitError
from attnkit.params.edgemoe import EdgeMoeParams
from attnkit.sim import engines
from attnkit.sim.engines.edgemoe import bram36, derive, dsp_per_mult, resources


def cycles(*sets):
    return engines.simulate("zcu102-edgemoe", "m3vit", sets=list(sets)).cycles


def stage(p, layer, name):
    return next(r for r in derive(p) if r.layer == layer and r.stage == name)


def test_attention_trip_counts_follow_the_code():
    """33 query blocks of 4 (129 tokens), K and V streamed per block: 33 x 129 x 24 blocks of 256 bits, II = 1,
    at a 128-bit port 2 cycles each. The compute is the RTL unit's schedule (params.edgemoe.attention_*_cycles):
    Q x K adds the first block's 4 Q rows (4 x 24 beats) and per block the 12-cycle gap for the reciprocals
    (7 + the two Newton steps' 5 pipeline stages); A x V adds the last block's 1 x 24 outputs and the
    pipeline depth (ATTN_DEPTH = 9)."""
    for bits, per_block in ((256, 1), (128, 2)):
        p = EdgeMoeParams.load(sets=[f"axi.bits={bits}"])
        qk, av = stage(p, "L0", "qk"), stage(p, "L0", "av")
        assert qk.compute == 4 * 24 + 33 * (129 * 24 + 12) == 102_660
        assert av.compute == 33 * 129 * 24 + 1 * 24 + 9 == 102_201
        assert qk.memory == per_block * 33 * 129 * 24
        assert qk.cycles == max(qk.compute, qk.memory) + p.arch.axi.latency
    p = EdgeMoeParams.load()
    # linear unit 16 x 16: 129 rows of (out / 16) x (in / 16) issues, plus the first row's 256-bit beats
    # (8 activations each) and the RTL block's pipeline depth (LINEAR_DEPTH = 6): params.edgemoe.linear_cycles
    assert stage(p, "L0", "q").compute == 129 * (192 // 16) * (192 // 16) + 192 // 8 + 6
    assert stage(p, "L0", "fc1").compute == 129 * (768 // 16) * (192 // 16) + 192 // 8 + 6
    assert stage(p, "L0", "fc2").compute == 129 * (192 // 16) * (768 // 16) + 768 // 8 + 6
    assert stage(p, "L1", "gate").compute == 129 * (192 // 8 + 3 * 16)  # softmax over experts at II = 3


def test_fewer_active_experts_fewer_cycles():
    for bits in (256, 128):
        c = [cycles(f"axi.bits={bits}", f"workload.active_experts={e}") for e in (16, 8, 4, 2)]
        assert c == sorted(c, reverse=True), c
        assert c[-1] < c[0]


def test_narrower_port_more_cycles():
    c = [cycles(f"axi.bits={b}") for b in (512, 256, 128, 64)]
    assert c[0] <= c[1] < c[2] < c[3], c


def test_weight_loads_overlapped_or_not():
    assert cycles("weight_overlap=false") > cycles("weight_overlap=true")
    # each active expert's weights are loaded once per MoE layer: 16 experts load 8x the weights of 2
    p16 = EdgeMoeParams.load(sets=["weight_overlap=false", "workload.active_experts=16"])
    p2 = EdgeMoeParams.load(sets=["weight_overlap=false", "workload.active_experts=2"])

    def expert_loads(p):
        return sum(r.load for r in derive(p) if r.layer == "L1" and (r.stage == "zero" or r.stage.startswith("expert")))

    assert expert_loads(p16) == 8 * expert_loads(p2) > 0


def test_result_adds_up():
    r = engines.simulate("zcu102-edgemoe", "m3vit")
    assert r.cycles == r.extra["cycles_per_image"] == sum(r.extra["layers"].values()) == sum(r.extra["stages"].values())
    assert r.extra["fps"] == pytest.approx(300e6 / r.cycles)
    assert r.extra["resources"]["fits"] is True
    assert set(r.extra["layers"]) == {"embed"} | {f"L{i}" for i in range(12)}
    assert r.dram_bytes > 0 and r.energy_pj > 0 and r.area_mm2 == 0


def test_dsp_and_bram_rules():
    assert dsp_per_mult(32, 16) == 2 and dsp_per_mult(32, 32) == 4 and dsp_per_mult(9, 16) == 1
    assert bram36(576, 4096) == 114  # a ping-pong half of the linear weights: 57 x 72-bit columns, 2 deep
    assert bram36(16, 32) == 0  # small arrays go to registers


def test_a_larger_linear_unit_does_not_fit():
    sets = ["linear.in_size=32", "linear.out_size=32"]
    r = resources(EdgeMoeParams.load(sets=sets))
    assert r["dsp"] > r["dsp_available"] == 2520 and not r["fits"]
    with pytest.raises(AttnkitError, match=r"does not fit the xczu9eg.*DSP \d+ > 2520"):
        engines.simulate("zcu102-edgemoe", "m3vit", sets=sets)


def test_not_fitting_is_one_line_exit_2():
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "attnkit",
            "simulate",
            "--arch",
            "zcu102-edgemoe",
            "--workload",
            "m3vit",
            "--set",
            "linear.in_size=32",
            "--set",
            "linear.out_size=32",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnkit: error: edgemoe: the design does not fit")
    assert "DSP 2952 > 2520" in lines[0]


def test_wrong_kinds_refused():
    with pytest.raises(AttnkitError, match="^engine edgemoe takes arch kind fpga; arch 'fusemax' is spatial$"):
        engines.simulate("fusemax", "bert", engine="edgemoe")


def test_reproduce_edgemoe(tmp_path):
    import attnkit

    rows = attnkit.reproduce("edgemoe", out=tmp_path)
    totals = {
        (r["axi_bits"], r["active_experts"]): r["cycles"] for r in rows if r["row"] == "point" and r["layer"] == "image"
    }
    assert set(totals) == {(256, 16), (256, 2), (128, 16), (128, 2)}
    assert totals[(128, 2)] < totals[(128, 16)] and totals[(256, 16)] < totals[(128, 16)]
    for key in ("layer", "cycles", "latency_s"):
        assert all(key in r for r in rows if r["row"] == "point")
    assert json.loads((tmp_path / "results.json").read_text()) == rows
    assert "| qk |" in (tmp_path / "derivation.md").read_text()
    # what the units' RTL schedules add over their MAC trips alone, at 256 bits and 16 experts
    summary = {
        r["metric"]: r["ours"]
        for r in rows
        if r["row"] == "summary" and r["axi_bits"] == 256 and r["active_experts"] == 16
    }
    trips = summary["cycles per image, the units' MAC trips only (no fill or drain)"]
    linear, attention = (summary[f"cycles the {u} unit's RTL schedule adds"] for u in ("linear", "attention"))
    assert trips + linear + attention == totals[(256, 16)] and linear > 0 and attention > 0
    luts = [r for r in rows if r["row"] == "summary" and r["metric"].startswith("LUTs used")]
    assert (
        len(luts) == 1 and luts[0]["ours"] > 0 and "edgemoe_linear, edgemoe_attention synthesised" in luts[0]["metric"]
    )
    with pytest.raises(AttnkitError, match="--models"):
        attnkit.reproduce("edgemoe", out=tmp_path / "refused", models=["bert"])
    assert not (tmp_path / "refused").exists()


@pytest.mark.parametrize("sets", [[], ["workload.cls_token=false"], ["workload.width=272"], ["attention.lanes=8"]])
def test_attention_trips_against_the_boards_loop_nest_walked(sets):
    """The engine's trips are the RTL unit's: ceil(T / lanes) query blocks, each streaming every key. The board's
    attention.cpp nest, walked literally (FOR_BLOCK over T + lanes - 1 in steps of lanes, every key, returning
    once a block past the last query reaches (T + lanes - 1) mod lanes keys), staggers its lanes and takes
    (T - 1) mod lanes more key iterations: the same for M3ViT's 129 tokens on 4 or 8 lanes (and 137), 3 more
    for 128 tokens on 4."""
    from attnkit.sim.engines.edgemoe import _Model

    p = EdgeMoeParams.load(sets=sets)
    T, lanes = p.workload.tokens, p.arch.attention.lanes
    limit, trips = T + lanes - 1, 0
    over = limit % lanes
    done = False
    for base in range(0, limit, lanes):
        for k in range(T):
            if over > 0 and base >= T and k >= over:
                done = True
                break
            trips += 1
        if done:
            break
    blocks = -(-T // lanes)
    assert _Model(p)._attn_trips() == (blocks, blocks * T)
    assert trips == blocks * T + (T - 1) % lanes
    assert (trips - blocks * T) == {129: 0, 128: 3, 137: 0}[T]


def test_a_wider_mlp_overflows_the_block_ram():
    """FC1 of 4608 x 192 needs ping-pong weight buffers of 2 x 399 BRAM36: over the xczu9eg's 912."""
    with pytest.raises(AttnkitError, match=r"BRAM36 \d+ > 912 \(largest: linear weights \(ping \+ pong\) 798\)"):
        engines.simulate("zcu102-edgemoe", "m3vit", sets=["workload.ffn=4608"])
