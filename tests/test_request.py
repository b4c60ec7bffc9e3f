"""A whole LLM request on a system: models from config.json, memory per chip, and the bounds physics sets."""

import json
import shutil

import pytest

import attnkit
from attnkit import cli
from attnkit.errors import AttnkitError, ConfigError
from attnkit.params import config
from attnkit.params.kinds import load_arch, load_workload
from attnkit.params.model import LlmModel, load_model
from attnkit.sim import request as rq

SYSTEMS = ["fusemax-1", "fusemax-8", "a100-1", "a100-8", "h100-1", "h100-8", "h200-1", "h200-8"]
# Parameter counts as the model cards publish them (the safetensors index's total, shown on each card).
PUBLISHED = {
    "llama3-8b": 8_030_261_248,
    "llama3-70b": 70_553_706_496,
    "qwen2.5-7b": 7_615_616_512,
    "mistral-7b": 7_248_023_552,
    "mixtral-8x7b": 46_702_792_704,
}
# meta-llama/Llama-3.2-3B's config.json as published: tied embeddings and an explicit head_dim
LLAMA32_3B = {
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "max_position_embeddings": 131072,
    "mlp_bias": False,
    "model_type": "llama",
    "num_attention_heads": 24,
    "num_hidden_layers": 28,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "rope_type": "llama3"},
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "vocab_size": 128256,
}


def _req(model, system, **kw):
    kw.setdefault("decode_samples", 5)
    return attnkit.request(model, system, **kw)


# --- models -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_is_the_published_one(name):
    assert load_model(name).parameter_count() == PUBLISHED[name]


def test_a_copied_config_json_runs_unchanged(tmp_path):
    """A model card's file given by path: Qwen2.5-7B as shipped, and Llama-3.2-3B (tied, head_dim given)."""
    qwen = tmp_path / "config.json"
    shutil.copy(config.resolve("qwen2.5-7b", "models"), qwen)
    r = _req(str(qwen), "h200-1", prompt=512, generate=8)
    assert r.model == "config" and r.ttft_s > 0 and r.tpot_s > 0
    llama = tmp_path / "llama-3.2-3b.json"
    llama.write_text(json.dumps(LLAMA32_3B))
    m = load_model(str(llama))
    assert m.tied and m.parameters()["lm_head"] == 0
    assert m.parameter_count() == 3_212_749_824  # meta-llama/Llama-3.2-3B's published count
    assert _req(str(llama), "h100-1", prompt=256, generate=4).tokens_per_s > 0


@pytest.mark.parametrize(
    "edit, key",
    [
        ({"kv_lora_rank": 512}, "kv_lora_rank"),
        ({"sliding_window": 4096}, "sliding_window"),
        ({"is_encoder_decoder": True}, "is_encoder_decoder"),
        ({"architectures": ["T5ForConditionalGeneration"]}, "architectures"),
        ({"num_hidden_layers": None}, "num_hidden_layers"),
        ({"hidden_size": "big"}, "hidden_size"),
    ],
)
def test_what_the_kit_cannot_model_is_refused_naming_the_key(edit, key):
    data = {**json.loads(config.resolve("mistral-7b", "models").read_text()), **edit}
    with pytest.raises(ConfigError) as info:
        LlmModel.from_config(data, "mistral.json")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"mistral.json: {key}:")


def test_a_switched_off_sliding_window_is_full_attention():
    """Qwen2.5 lists a window it does not use (use_sliding_window: false): accepted."""
    assert load_model("qwen2.5-7b").qkv_bias


def test_workloads_take_their_shapes_from_the_model():
    m = load_model("llama3-70b")
    w = load_workload("llama3-70b")
    assert (w.heads, w.kv_heads, w.head_dim, w.d_model, w.ffn) == (
        m.heads,
        m.kv_heads,
        m.head_dim,
        m.d_model,
        m.ffn,
    )
    assert (w.heads, w.kv_heads, w.d_model, w.ffn) == (64, 8, 8192, 28672)


# --- memory -----------------------------------------------------------------------------------------


def test_kv_cache_grows_linearly_with_context_and_batch():
    """2 x layers x kv_heads x head_dim x bytes per token, per chip (K/V heads split over the group)."""
    m = load_model("llama3-8b")
    per_token = 2 * m.layers * m.kv_heads * m.head_dim * 2
    assert m.kv_bytes_per_token(2) == per_token == 131072
    for system, tp in (("h200-1", 1), ("h200-8", 8)):
        for batch, prompt in ((1, 1000), (3, 1000), (3, 4000)):
            r = _req("llama3-8b", system, prompt=prompt, generate=24, batch=batch)
            assert r.kv_cache_bytes == batch * (prompt + 24) * per_token / tp


def test_a_batch_that_does_not_fit_names_the_largest_that_does():
    with pytest.raises(AttnkitError) as info:
        _req("llama3-70b", "h200-1", prompt=32768, batch=64, set={"word_bits": 8})
    msg = str(info.value)
    most = int(msg.rsplit(" ", 1)[1])
    assert "\n" not in msg and "the largest batch that fits is" in msg and most >= 1
    _req("llama3-70b", "h200-1", prompt=32768, batch=most, generate=4, set={"word_bits": 8})
    with pytest.raises(AttnkitError):
        _req("llama3-70b", "h200-1", prompt=32768, batch=most + 1, generate=4, set={"word_bits": 8})


def test_llama70b_batch64_32k_refused_on_one_h200_and_runs_on_eight():
    with pytest.raises(AttnkitError) as info:
        _req("llama3-70b", "h200-1", prompt=32768, batch=64)
    msg = str(info.value)
    assert "141.1 GB" in msg and "the largest batch that fits is" in msg  # bf16 weights alone exceed 141 GB
    r = _req("llama3-70b", "h200-8", prompt=32768, batch=64)
    assert r.breakdown["prefill"]["communication"] > 0 and r.breakdown["decode"]["communication"] > 0
    assert r.max_batch >= 64


# --- bounds from first principles --------------------------------------------------------------------


def _streamed_per_token(r, system, model) -> float:
    """Bytes one decode step must read on one chip: every weight but the embedding table (a step gathers
    ``batch`` of its rows; tied, it is also the LM head and streams), and the KV cache."""
    embed = 0 if model.tied else model.parameters()["embeddings"] * system.word_bits / 8 / system.chips
    return r.weights_bytes - embed + r.kv_cache_bytes


@pytest.mark.parametrize("system", SYSTEMS)
def test_tpot_is_at_least_the_bytes_a_token_streams(system):
    s, m = load_arch(system), load_model("llama3-8b")
    r = _req(m, s, prompt=1024, generate=16)
    stage = s.decode.arch
    bandwidth = s.memory.bandwidth_bytes_per_s or stage.dram.bandwidth_bytes_per_s  # the data sheet's
    assert min(r.tpot_steps_s) >= _streamed_per_token(r, s, m) / bandwidth


def test_tpot_is_near_the_floor_for_llama8b_on_one_h200():
    s, m = load_arch("h200-1"), load_model("llama3-8b")
    r = _req(m, s, prompt=1024, generate=16)
    floor = (r.weights_bytes + r.kv_cache_bytes) / s.decode.arch.dram.bandwidth_bytes_per_s
    assert floor <= r.tpot_s <= 1.5 * floor


@pytest.mark.parametrize("system", SYSTEMS)
def test_ttft_is_at_least_prefill_flops_over_peak(system):
    s, m = load_arch(system), load_model("llama3-8b")
    batch, prompt = 2, 2048
    r = _req(m, s, prompt=prompt, generate=2, batch=batch)
    p = m.parameters()
    matmul_params = p["attention"] + p["mlp"]  # every prompt token meets these
    flops = 2 * batch * prompt * matmul_params + 2 * batch * m.vocab * m.d_model  # + the LM head on the last
    flops += 4 * batch * m.layers * m.heads * m.head_dim * prompt * (prompt + 1) / 2  # causal QK and AV
    machine = rq.Machine(s, s.prefill, rq._gemm_arch(s.prefill, s.decode))
    assert r.ttft_s >= flops / (machine.peak_flops() * s.chips)


@pytest.mark.parametrize("base, model", [("h200", "llama3-8b"), ("fusemax", "llama3-8b"), ("h100", "mixtral-8x7b")])
def test_doubling_tensor_parallel_never_more_than_halves_tpot(base, model):
    """Each chip streams at best half the bytes, and the all-reduces are added."""
    m = load_model(model)
    tpots = {}
    for tp in (1, 2, 4, 8):
        try:
            r = _req(m, f"{base}-8", prompt=4096, generate=8, set={"chips": tp, "tensor_parallel": tp})
        except AttnkitError:
            continue  # the weights need more chips
        tpots[tp] = r.tpot_s
    assert len(tpots) >= 2
    for tp in tpots:
        if 2 * tp in tpots:
            assert tpots[2 * tp] >= tpots[tp] / 2, (tp, tpots)


# --- the request's shape ------------------------------------------------------------------------------


def test_sampled_decode_steps_equal_the_full_run_where_simulated():
    full = attnkit.request("llama3-8b", "h100-1", prompt=1000, generate=33, decode_samples=0)
    some = attnkit.request("llama3-8b", "h100-1", prompt=1000, generate=33, decode_samples=5)
    assert full.decode_simulated_steps == 32 and some.decode_simulated_steps == 5
    assert full.tpot_steps_s[0] == some.tpot_steps_s[0] and full.tpot_steps_s[-1] == some.tpot_steps_s[-1]
    assert some.tpot_s == pytest.approx(full.tpot_s, rel=0.02)


def test_latency_is_ttft_plus_every_step_and_the_breakdown_adds_up():
    r = _req("mixtral-8x7b", "h200-8", prompt=2048, generate=32, batch=4)
    assert r.latency_s == pytest.approx(r.ttft_s + sum(r.tpot_steps_s))
    assert sum(r.breakdown["prefill"].values()) == pytest.approx(r.ttft_s)
    assert sum(r.breakdown["decode"].values()) == pytest.approx(sum(r.tpot_steps_s))
    assert r.tokens_per_s == pytest.approx(4 * 32 / r.latency_s)


def test_request_json_keys(capsys):
    assert cli.main(["request", "--model", "llama3-8b", "--system", "fusemax-1", "--prompt", "512",
                     "--generate", "8", "--json"]) == 0  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    want = {"ttft_s", "tpot_s", "tpot_steps_s", "latency_s", "tokens_per_s", "energy_per_token_j"}
    want |= {"weights_bytes", "kv_cache_bytes", "fits", "max_batch", "breakdown", "tokens_per_s_per_mm2"}
    assert want <= set(out) and out["kind"] == "request" and len(out["tpot_steps_s"]) == 7
    assert set(out["breakdown"]) == {"prefill", "decode"}
    assert set(out["breakdown"]["decode"]) == {"attention", "gemm", "communication", "other"}


@pytest.mark.parametrize(
    "sets, key",
    [({"chips": 8, "tensor_parallel": 3}, "tensor_parallel"), ({"memory.capacity_bytes": 0}, "capacity_bytes")],
)
def test_a_system_that_cannot_be_is_refused(sets, key):
    with pytest.raises(ConfigError) as info:
        load_arch("h200-8", [f"{k}={v}" for k, v in sets.items()])
    assert key in str(info.value) and "\n" not in str(info.value)


def test_tp_must_divide_the_heads():
    with pytest.raises(AttnkitError, match="tensor_parallel 5 does not divide"):
        _req("llama3-8b", "h200-8", set={"chips": 5, "tensor_parallel": 5})


def test_a_system_stage_arch_is_editable_by_set():
    """A nested arch given by name is edited as the object it names (a sweep varies a system's arrays)."""
    s = load_arch("fusemax-1", ["prefill.arch.array_2d.rows=128", "prefill.arch.array_2d.cols=128"])
    assert s.prefill.arch.array_2d.pes == 128 * 128 and s.prefill.arch.name == "fusemax"
    assert s.decode.arch.kind == "multicore"
    small = _req("llama3-8b", s, prompt=256, generate=4)
    full = _req("llama3-8b", "fusemax-1", prompt=256, generate=4)
    assert small.area_mm2 < full.area_mm2 and small.ttft_s > full.ttft_s


# --- sweeps, the reproduction and its figures ---------------------------------------------------------


def test_a_sweep_over_a_system_finds_the_tpot_area_front(tmp_path):
    """A small form of the shipped request-systems spec: arrays x memory bandwidth x chips."""
    spec = tmp_path / "small.yaml"
    spec.write_text(
        "arch: fusemax-1\nworkloads: [llama3-8b-request]\nengine: request\nparameters:\n"
        "  prefill.arch.array_2d.rows: [64, 128, 256]\n"
        "  memory.bandwidth_bytes_per_s: [4.295e+11, 1.0e+12, 2.0e+12, 4.0e+12]\n"
        "  chips: [1, 2, 4, 8]\n  workload.decode_samples: 5\n"
        "derived:\n  prefill.arch.array_2d.cols: prefill.arch.array_2d.rows\n"
        "  prefill.arch.array_1d.pes: prefill.arch.array_2d.rows\n  tensor_parallel: chips\n"
    )
    rows = attnkit.sweep(str(spec), out=tmp_path / "sweep", jobs=1)
    assert len(rows) == 48 and not any(r.get("error") for r in rows)
    front = attnkit.pareto(rows, minimize=["tpot_s", "area_mm2"])
    assert 2 <= len(front) < len(rows)
    fastest = min(rows, key=lambda r: r["tpot_s"])
    assert fastest["point_id"] in {r["point_id"] for r in front}
    assert fastest["chips"] == 8 and fastest["memory.bandwidth_bytes_per_s"] == 4e12
    for r in front:  # nothing dominates a front point
        assert not any(o["tpot_s"] < r["tpot_s"] and o["area_mm2"] < r["area_mm2"] for o in rows)


def test_reproduce_requests_rows_and_figures(tmp_path):
    from attnkit.reports import data, fig_requests

    rows = attnkit.reproduce("requests", out=tmp_path, models=["llama3-70b"], seq_lens=[1024, 32768])
    pts = [r for r in rows if r["row"] == "point"]
    assert len(pts) == 8 * 2 * 3 and {r["system"] for r in pts} == set(SYSTEMS)
    one_chip = [r for r in pts if r["chips"] == 1 and not r["system"].startswith("fusemax")]
    assert one_chip and not any(r["fits"] for r in one_chip)  # bf16 weights alone exceed one GPU
    assert all("largest batch that fits" in r["reason"] or "weights alone" in r["reason"] for r in one_chip)
    assert {r["system"] for r in rows if r["row"] == "summary" and r["fits"]} == {
        "fusemax-8",
        "a100-8",
        "h100-8",
        "h200-8",
    }
    figs = fig_requests.figures(data.load(tmp_path))
    assert [f.name for f in figs] == ["requests-llama3-70b", "requests-throughput"]
    assert all(f.caption and f.table for f in figs)


def test_a_stage_arch_is_a_name_or_a_mapping_of_its_kind(tmp_path):
    from attnkit.params.arch import SpatialArch
    from attnkit.params.system import Stage

    assert isinstance(Stage(engine="fusemax", arch="fusemax").arch, SpatialArch)  # Python code may name it
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nkind: system\nprefill: {engine: fusemax, arch: {kind: tpu, clock_hz: 1.0e+9}}\n")
    with pytest.raises(ConfigError) as info:
        load_arch(str(bad))
    assert "kind: expected one of spatial, multicore, gpu, got 'tpu'" in str(info.value)
    inline = tmp_path / "inline.yaml"
    inline.write_text(
        "extends: ../../configs/systems/h200-1.yaml\nname: inline\n"
        "decode: {engine: lean, arch: {kind: multicore, name: mine, clock_hz: 1.0e+9, units: 2}}\n"
    )
    inline.write_text(inline.read_text().replace("../../configs", str(config.SHIPPED)))
    s = load_arch(str(inline))
    assert s.decode.arch.units == 2 and s.prefill.arch.name == "h200"
