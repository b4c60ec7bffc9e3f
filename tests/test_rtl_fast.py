"""Stream blocks in the C++ stream harness (:mod:`attnkit.testbench.fast`): bit- and cycle-exact.

Default suite: the attention engine at 2x2, d 8, causal N 13, eight problems
(the four kinds, then the same with random back-pressure), checked against
the golden model and the cycle prediction; then the same simulated outputs
scored against a tampered expectation and a wrong prediction (the checks can
fail), and a cycle limit below the problem's length (the watchdog ends the
run); the same traces from Amaranth's simulator. Then every other stream
block through ``fast.run`` on a few vectors. Slow (``make test-slow``):
16x16, head dim 64, N 1024, two problems.
"""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_simulator
from helpers import EDGEMOE_SMALL

from attnkit.hw import blocks
from attnkit.sim.engines.rtl_attention import cycles as predict
from attnkit.testbench import fast, pysim, runner, streams

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parent.parent / "build" / "rtl-tests"
SMALL = ["array_2d.rows=2", "array_2d.cols=2", "workload.head_dim=8", "workload.seq_len=13", "workload.causal=true"]
BIG = ["array_2d.rows=16", "array_2d.cols=16", "workload.head_dim=64", "workload.seq_len=1024"]


def _sim(binary, p, bench, cases, limit=None, **kw):
    return fast.simulate(
        binary,
        cases,
        streams.width(bench.in_layout(p)),
        streams.width(bench.out_layout(p)),
        limit if limit is not None else 10 * predict(p, "event"),
        **kw,
    )


@pytest.fixture(scope="module")
def small():
    require_simulator("verilator")
    block = blocks.get("attention")
    p = block.load_params(SMALL)
    bench = streams.bench_of(block)
    binary, _ = fast.build("attention", p, BUILD)
    cases = bench.cases(p, 8, seed=21)
    return p, bench, binary, cases, _sim(binary, p, bench, cases)


def test_fast_bit_and_cycle_exact(small):
    p, bench, _, cases, sim = small
    predicted = predict(p, "event")
    r = streams.score(bench, p, cases, sim["traces"])
    assert sim["status"] == "ok"
    assert (r["checked"], r["mismatches"], r["missing"], r["latency_errors"]) == (8, 0, 0, 0), r["first_mismatches"]
    assert r["cycles_per_problem"] == [predicted]
    stalls = [sum(t.held) for t in sim["traces"]]
    assert sum(stalls[:4]) == 0 and all(s > 0 for s in stalls[4:])  # back-pressure from problem 4


def test_fast_catches_a_wrong_value_and_wrong_cycles(small):
    p, bench, _, cases, sim = small
    k, row, e = 5, 7, 3
    want = list(cases[k].want[row])
    want[e] += 1
    cases = list(cases)
    cases[k] = dataclasses.replace(cases[k], want=cases[k].want[:row] + [tuple(want)] + cases[k].want[row + 1 :])
    r = streams.score(bench, p, cases, sim["traces"])
    assert r["mismatches"] == 1
    assert f"[{e}]: got {want[e] - 1}, expected {want[e]}" in r["first_mismatches"][0]
    assert f"'case': {k}" in r["first_mismatches"][0] and f"'beat': {row}" in r["first_mismatches"][0]

    class Late(type(bench)):
        def predicted_cycles(self, p, case):
            return super().predicted_cycles(p, case) + 1

    assert streams.score(Late(), p, cases, sim["traces"])["latency_errors"] == 8


def test_fast_watchdog(small):
    p, bench, binary, cases, _ = small
    sim = _sim(binary, p, bench, cases[:2], limit=100)
    assert sim["status"] == "watchdog" and "limit 100" in sim["message"]
    r = streams.score(bench, p, cases[:2], sim["traces"])
    assert r["missing"] > 0 and r["latency_errors"] == 2


def test_fast_results_do_not_depend_on_the_number_of_processes(small):
    """Three harness processes on shares of the problems: the same outputs, spans and stalls (the flow is in
    the cases), in problem order."""
    p, bench, binary, cases, sim = small
    par = _sim(binary, p, bench, cases, jobs=3)
    assert par["status"] == "ok"
    assert streams.digest(par["traces"]) == streams.digest(sim["traces"])
    assert [t.span for t in par["traces"]] == [t.span for t in sim["traces"]]


def test_fast_watchdog_in_a_later_process_names_the_problem(small):
    p, bench, binary, cases, _ = small
    short = list(cases[:4])
    short[3] = dataclasses.replace(short[3], beats=short[3].beats[:-1])  # a beat short: no last output
    sim = _sim(binary, p, bench, short, jobs=2)
    assert sim["status"] == "watchdog" and "watchdog: problem 3:" in sim["message"]
    assert "51 of 51 input beats taken, 0 of 13 output beats" in sim["message"]
    assert [t.span - sum(t.held) for t in sim["traces"][:3]] == [predict(p, "event")] * 3
    assert len(sim["traces"]) == 4 and len(sim["traces"][3].outputs) < 13  # 3 cut off, in order
    short = list(cases[:4])
    short[1] = dataclasses.replace(short[1], beats=short[1].beats[:-1])  # in the first share
    sim = _sim(binary, p, bench, short, jobs=2)
    assert sim["status"] == "watchdog" and "watchdog: problem 1:" in sim["message"]
    assert len(sim["traces"]) == 2  # the later share's results are dropped


def test_amaranth_gives_the_same_traces(small):
    """Amaranth's simulator runs the same source and sink on the same cases: the same traces as Verilator."""
    p, bench, _, cases, sim = small
    r = pysim.run(bench, p, cases[:5])
    assert streams.digest(r["traces"]) == streams.digest(sim["traces"][:5])


@pytest.mark.slow
def test_fast_16x16_d64_n1024():
    require_simulator("verilator")
    # the build root `attnkit rtl-test --fast` uses: the 16x16 model takes long to compile, once
    r = fast.run("attention", BIG, vectors=2, seed=3, build_root=BUILD.parent / "rtl")
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (2, 0, 0), r["first_mismatches"]
    assert r["cycles_per_problem"] == [r["predicted_cycles"]]


def test_fast_clocking_matches_the_reference(small):
    """The harness skips evaluations (no falling edge, no settle when the inputs hold, no input phase at
    the edge); the reference evaluates the design with the clock low in every cycle. Same traces."""
    p, bench, binary, cases, sim = small
    assert "EDGE_EVAL" in (binary.parent / "harness_clock.h").read_text()  # the cheap clocking is the one run
    ref = _sim(binary, p, bench, cases, settle_every_cycle=True)
    assert streams.digest(ref["traces"]) == streams.digest(sim["traces"])


# Every other stream block on a few vectors: bit-exact, and cycle-exact where its bench predicts cycles.
OTHERS = {
    "exp": ([], 600),
    "recip": ([], 600),
    "gelu": (["gelu.units=4"], 300),
    "softmax": ([], 300),
    "merge": ([], 300),
    "decode": ([], 6),
    "edgemoe_linear": (EDGEMOE_SMALL["edgemoe_linear"], 12),
    "edgemoe_attention": (EDGEMOE_SMALL["edgemoe_attention"], 12),
}


@pytest.mark.parametrize("block", sorted(OTHERS))
def test_fast_block_bit_and_cycle_exact(block):
    require_simulator("verilator")
    sets, vectors = OTHERS[block]
    r = fast.run(block, sets, vectors=vectors, seed=7, build_root=BUILD, jobs=2)
    assert r["vectors"] > 0 and (r["mismatches"], r["latency_errors"]) == (0, 0), r["first_mismatches"]
    assert r["cycles"] == r["predicted_cycles"] > 0 and "watchdog" not in r
    assert not r.get("timing_errors") and not r.get("early_outputs")


def test_fast_catches_a_wrong_unit():
    """A recip without its Newton-Raphson step: wrong values and two cycles early, in the harness too."""
    require_simulator("verilator")
    block = blocks.get("recip")
    p = block.load_params()
    bench = streams.bench_of(block)
    verilog = blocks.verilog_text(block, block.load_params(["iters=0"]))
    binary, _ = fast.build("recip", p, BUILD, verilog=verilog)
    cases = bench.cases(p, 600, 7)
    sim = fast.simulate(binary, cases, 16, 25, 10_000)
    r = streams.score(bench, p, cases, sim["traces"])
    assert r["mismatches"] > 0 and r["latency_errors"] > 0 and r["timing_errors"] > 0


def test_fast_cli_refuses_other_blocks():
    r = subprocess.run(
        [sys.executable, "-m", "attnkit", "rtl-test", "mac", "--fast", "--vectors", "2"], capture_output=True, text=True
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1
    assert lines[0].startswith(
        "attnkit: error: --fast runs blocks with one input stream i and one output stream o; 'mac' is not such a block"
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["mac", "--jobs", "2"], "attnkit: error: --jobs 2: only --fast runs problems in several processes"),
        (["attention", "--fast", "--jobs", "0"], "attnkit: error: --jobs 0: expected at least 1"),
        (
            ["exp", "--fast", "--sim", "icarus"],
            "attnkit: error: --fast runs under Verilator without waves, not under icarus",
        ),
    ],
)
def test_fast_cli_refuses_bad_jobs(args, message):
    r = subprocess.run(
        [sys.executable, "-m", "attnkit", "rtl-test", *args, "--vectors", "2"], capture_output=True, text=True
    )
    assert r.returncode == 2 and r.stderr.strip() == message


def test_rtl_test_refuses_an_unknown_optimisation_level():
    env = os.environ | {runner.OPT_ENV: "-O9"}
    cmd = [sys.executable, "-m", "attnkit", "rtl-test", "exp", "--vectors", "2"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert r.returncode == 2
    assert r.stderr.strip() == "attnkit: error: ATTNKIT_VERILATOR_OPT=-O9: expected one of -O0, -Og, -O1, -O2, -O3, -Os"


def test_fast_runs_one_process_per_core_by_default(small, monkeypatch):
    p, bench, binary, cases, _ = small
    monkeypatch.setattr(fast, "build", lambda *a, **k: (binary, 0.0))  # the small build, already made
    r = fast.run("attention", SMALL, vectors=8, seed=21, build_root=BUILD)
    assert r["jobs"] == min(8, os.cpu_count() or 1) and (r["mismatches"], r["latency_errors"]) == (0, 0)
    assert (
        fast.run("attention", SMALL, vectors=2, seed=21, build_root=BUILD, jobs=3)["jobs"] == 2
    )  # no more than problems
