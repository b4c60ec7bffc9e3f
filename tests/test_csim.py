"""Edge-MoE: HLS C-simulation bit-exact against the golden models, the parameter object, and the golden error bounds.

The g++ builds are cached under build/hls/ (a hash of the sources, params.h and
flags), so only the first run pays for compiling (about 8 s per kernel, 25 s
for the whole layer).
"""

import subprocess
import sys

import numpy as np
import pytest

from attnkit.errors import AttnkitError, ConfigError
from attnkit.hls import KERNELS
from attnkit.hls import build as hb
from attnkit.hls.csim import run_csim
from attnkit.models import edgemoe_golden as G
from attnkit.models.exp import exp2_table
from attnkit.models.gelu import delta_table
from attnkit.params.edgemoe import EdgeMoeParams

SEED = 0


@pytest.fixture(scope="module")
def params():
    return EdgeMoeParams.load()


@pytest.mark.parametrize("kernel", [k for k in KERNELS if k != "layer"])  # layer: its own test below
def test_kernel_bit_exact(kernel, params):
    res = run_csim(kernel, 100, SEED, params)
    print(f"csim {kernel} seed {SEED}: {res}")
    assert res["vectors"] >= 100
    assert res["elements"] >= res["vectors"]
    assert res["mismatches"] == 0, res["first_mismatch"]


def test_gelu_extremes_bit_exact(params):
    # corner values (|x| at and around 5.5, the format's extremes) come first, then 10k random
    res = run_csim("gelu", 10_000, 7, params)
    assert res["vectors"] == 10_000 and res["mismatches"] == 0, res["first_mismatch"]


def test_a_wrong_golden_is_caught(params, monkeypatch):
    real = G.gelu_unit

    def off_by_one(x, p):
        y = real(x, p).copy()
        y[5] += 1
        return y

    monkeypatch.setattr(G, "gelu_unit", off_by_one)
    res = run_csim("gelu", 100, SEED, params)
    assert res["mismatches"] == 1 and res["mismatched_elements"] == 1
    assert res["first_mismatch"]["vector"] == 5


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_whole_layer_dense_and_moe_bit_exact(seed, params):
    res = run_csim("layer", 1, seed, params)  # one 129 x 192 input through a dense and an MoE layer
    print(f"csim layer seed {seed}: {res}")
    assert res["vectors"] == 2
    assert res["elements"] == 2 * params.workload.tokens * params.workload.d_model
    assert res["mismatches"] == 0, res["first_mismatch"]


@pytest.mark.slow
def test_params_reach_the_kernel():
    # a different unit size changes params.h and the build, and stays bit-exact
    p = EdgeMoeParams.load(sets=["attention.lanes=3", "linear.in_size=32"])
    assert "constexpr int ATTN_LANES = 3;" in hb.params_header(p)
    for kernel in ("attention", "linear"):
        res = run_csim(kernel, 100, SEED, p)
        assert res["mismatches"] == 0, (kernel, res["first_mismatch"])


def test_params_header_from_the_parameter_object(params):
    text = hb.params_header(params)
    n = params.numerics
    assert "typedef ap_fixed<32,10,AP_TRN,AP_WRAP> fm_t;" in text
    assert "typedef ap_fixed<16,2,AP_TRN,AP_WRAP> wt_linear_t;" in text
    assert "typedef ap_fixed<16,7,AP_TRN,AP_WRAP> wt_attn_bias_t;" in text
    assert f"constexpr int TOKENS = {params.workload.tokens};" in text and params.workload.tokens == 129
    assert f"EXP_TABLE[{exp2_table(n.exp).size}]" in text and f"GELU_DELTA[{delta_table(n.gelu).size}]" in text
    assert f"{int(exp2_table(n.exp)[-1])}LL" in text
    assert f"ATTN_SCALE_RAW = {1 << (22 - 3)}LL" in text  # 1/8 in fm_t


def test_build_is_cached(params):
    exe = hb.build("gelu", params)
    stamp = exe.stat().st_mtime_ns
    assert hb.build("gelu", params) == exe and exe.stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert hb.build_path("gelu", EdgeMoeParams.load(sets=["gelu.units=8"])) != exe  # params.h is in the key


def test_bad_requests(params, monkeypatch):
    with pytest.raises(AttnkitError, match="unknown kernel 'conv'"):
        run_csim("conv", 10, 0, params)
    with pytest.raises(AttnkitError, match="--vectors 0"):
        run_csim("gelu", 0, 0, params)
    monkeypatch.setenv("CXX", "no-such-g++")
    with pytest.raises(AttnkitError, match="C\\+\\+ compiler"):
        run_csim("gelu", 10, 0, params)


@pytest.mark.parametrize(
    "argv, env, message",
    [
        (["csim", "conv"], {}, "unknown kernel 'conv'"),
        (["csim", "gelu", "--vectors", "0"], {}, "--vectors 0"),
        (["csim", "gelu"], {"CXX": "no-such-g++"}, "C++ compiler"),
    ],
)
def test_cli_bad_input_one_line(argv, env, message):
    import os

    res = subprocess.run(
        [sys.executable, "-m", "attnkit", *argv], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnkit: error:") and message in lines[0]
    assert res.stdout == ""


def test_cli_json(params):
    import json

    res = subprocess.run(
        [sys.executable, "-m", "attnkit", "csim", "gelu", "--vectors", "200", "--json"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["kernel"] == "gelu" and out["vectors"] == 200 and out["mismatches"] == 0


def test_params_refuse_what_does_not_fit():
    with pytest.raises(ConfigError, match="d_model"):
        EdgeMoeParams.load(sets=["workload.heads=4"])
    with pytest.raises(ConfigError, match="engine edgemoe takes arch kind fpga; arch .fusemax. is spatial"):
        EdgeMoeParams.load(arch="fusemax")
    with pytest.raises(ConfigError, match="attention.dims"):
        EdgeMoeParams.load(sets=["attention.dims=24"])
    p = EdgeMoeParams.load()
    assert (p.workload.patches, p.workload.tokens, p.arch.acts_per_beat, p.arch.weights_per_beat) == (128, 129, 8, 16)
    assert [p.workload.is_moe(i) for i in range(4)] == [False, True, False, True]


def test_golden_errors_within_stated_bounds():
    rows = G.error_rows(np.random.default_rng(SEED))  # the figures the docstring quotes (129 tokens)
    assert {r["function"] for r in rows} == set(G.ERROR_BOUNDS)
    for r in rows:
        assert r["max_abs_err"] <= G.ERROR_BOUNDS[r["function"]], r


def test_online_softmax_matches_edgemoe_branch_form(params):
    # the golden max-form update equals Edge-MoE's branch ("new max: l * exp + 1, else l + exp")
    from attnkit.models.exp import exp

    A, n = params.numerics.act_fmt, params.numerics
    rng = np.random.default_rng(3)
    s = A.quantize(rng.normal(0, 4, (50, 40)))
    m_gold, l_gold, _ = G.online_softmax_state(s, params)
    for row, mg, lg in zip(s, m_gold[:, 0], l_gold[:, 0]):
        m, l = A.min_raw, 0
        for x in row:
            d = int(x) - m
            if d > 0:
                f = int(exp(n.exp.in_fmt.saturate_or_wrap(np.int64(-d)), n.exp))
                l = int(A.saturate_or_wrap((l * f) >> 22)) + (1 << 22)
                m = int(x)
            else:
                l += int(exp(n.exp.in_fmt.saturate_or_wrap(np.int64(d)), n.exp))
            l = int(A.saturate_or_wrap(l))
        assert (m, l) == (mg, lg)


def test_gate_tie_rule_and_queues(params):
    A = params.numerics.act_fmt
    x = np.zeros((3, params.workload.d_model), np.int64)
    x[1, 0] = A.quantize(1.0)
    wg = np.zeros((params.workload.experts, params.workload.d_model), np.int64)
    wg[5, 0] = wg[9, 0] = params.numerics.weight_fmt.quantize(0.5)  # a tie between 5 and 9 for token 1
    g = G.gate(x, wg, params)
    assert g.indices.tolist() == [[0, 1], [5, 9], [0, 1]]
    assert g.active.tolist() == [0, 1, 5, 9]
    assert g.queues[0, : g.queue_lens[0]].tolist() == [0, 2]
    assert g.weights[0, 0] == g.weights[0, 1]
    assert 0 <= A.quantize(1 / 16) - g.weights[0, 0] <= 1  # 1/16, truncated through 1/sum


def test_no_model_constant_in_the_hls_sources(params):
    # sizes and formats come from the generated params.h only (64 is the int64 word, not a head dim)
    import re

    w = params.workload
    sizes = {w.tokens, w.patches, w.d_model, w.ffn, w.expert_ffn, 3 * w.d_model, 177, 22}
    for path in sorted(hb.SRC.glob("*.[ch]*")):
        if path.suffix not in (".cpp", ".h"):
            continue
        code = re.sub(r"//[^\n]*", "", path.read_text())
        found = {int(v) for v in re.findall(r"\b\d+\b", code)} & sizes
        assert not found, f"{path.name} writes {sorted(found)} itself"
        assert "ap_fixed<" not in code.replace("const ap_fixed<", "").replace("ap_fixed<W, I, Q, O, N>", ""), path.name


def test_cli_exits_1_on_a_mismatch(monkeypatch, capsys):
    from attnkit.cli import main

    real = G.gelu_unit
    monkeypatch.setattr(G, "gelu_unit", lambda x, p: real(x, p) + 1)
    assert main(["csim", "gelu", "--vectors", "50", "--json"]) == 1
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["mismatches"] == 50 and out["first_mismatch"]["vector"] == 0


def test_every_kernel_has_a_vector_maker():
    """The kernel list is KERNEL_SOURCES; csim draws vectors for each of them and for nothing else."""
    from attnkit.hls import csim

    assert set(csim._MAKERS) == set(KERNELS)
