"""The attention engine in the C++ stream harness (:mod:`attnkit.testbench.fast`): bit- and cycle-exact.

Default suite: a 2x2, d 8, causal N 13 build, eight problems (the four kinds,
then the same with random back-pressure), checked against the golden model
and the cycle prediction; then the same simulated outputs scored against a
tampered expectation and a wrong prediction (the checks can fail), and a
cycle limit below the problem's length (the watchdog ends the run).
Slow (``make test-slow``): 16x16, head dim 64, N 1024, two problems.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from attnkit.hw import blocks
from attnkit.sim.engines.rtl_attention import cycles as predict
from attnkit.testbench import fast
from conftest import require_simulator

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parent.parent / "build" / "rtl-tests"
SMALL = ["array_2d.rows=2", "array_2d.cols=2", "workload.head_dim=8", "workload.seq_len=13", "workload.causal=true"]
BIG = ["array_2d.rows=16", "array_2d.cols=16", "workload.head_dim=64", "workload.seq_len=1024"]


@pytest.fixture(scope="module")
def small():
    require_simulator("verilator")
    p = blocks.get("attention").load_params(SMALL)
    binary, _ = fast.build("attention", p, BUILD)
    cases, _ = fast.prepare(p, 8, seed=21)
    sim = fast.simulate(binary, [c.stimulus for c in cases], p.payload_width,
                        p.head_dim * p.numerics.out_fmt.width, cycle_limit=10 * predict(p, "event"), seed=21)
    return p, binary, cases, sim


def test_fast_bit_and_cycle_exact(small):
    p, _, cases, sim = small
    predicted = predict(p, "event")
    r = fast.score(p, cases, sim, predicted)
    assert sim["status"] == "ok"
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (8, 0, 0), r["first_mismatches"]
    assert r["cycles_per_problem"] == [predicted]
    assert sum(sim["stalls"][:4]) == 0 and all(s > 0 for s in sim["stalls"][4:])   # back-pressure from problem 4


def test_fast_catches_a_wrong_value_and_wrong_cycles(small):
    p, _, cases, sim = small
    k, row, e = 5, 7, 3
    want = list(cases[k].want[row])
    want[e] += 1
    cases = list(cases)
    cases[k] = fast.Case(cases[k].kind, cases[k].want[:row] + [tuple(want)] + cases[k].want[row + 1:], cases[k].stimulus)
    r = fast.score(p, cases, sim, predict(p, "event"))
    assert r["mismatches"] == 1
    assert f"[{e}]: got {want[e] - 1}, expected {want[e]}" in r["first_mismatches"][0]
    assert f"'problem': {k}" in r["first_mismatches"][0] and f"'row': {row}" in r["first_mismatches"][0]
    assert fast.score(p, cases, sim, predict(p, "event") + 1)["latency_errors"] == 8


def test_fast_watchdog(small):
    p, binary, cases, _ = small
    sim = fast.simulate(binary, [c.stimulus for c in cases[:2]], p.payload_width,
                        p.head_dim * p.numerics.out_fmt.width, cycle_limit=100)
    assert sim["status"] == "watchdog" and "limit 100" in sim["message"]
    r = fast.score(p, cases[:2], sim, predict(p, "event"))
    assert r["mismatches"] > 0 and r["latency_errors"] == 2


def test_fast_results_do_not_depend_on_the_number_of_processes(small):
    """Three harness processes on shares of the problems: the same outputs, cycles and stalls (each
    problem's back-pressure draws come from its index and the seed), in problem order."""
    p, binary, cases, sim = small
    par = fast.simulate(binary, [c.stimulus for c in cases], p.payload_width, p.head_dim * p.numerics.out_fmt.width,
                        cycle_limit=10 * predict(p, "event"), seed=21, jobs=3)
    assert par["status"] == "ok"
    assert (par["outputs"], par["cycles"], par["stalls"]) == (sim["outputs"], sim["cycles"], sim["stalls"])


def test_fast_watchdog_in_a_later_process_names_the_problem(small):
    p, binary, cases, _ = small
    stimuli = [c.stimulus for c in cases[:4]]
    stimuli[3] = fast.Stimulus(stimuli[3].beats[:-1], stimuli[3].out_beats)   # a beat short: no last output
    sim = fast.simulate(binary, stimuli, p.payload_width, p.head_dim * p.numerics.out_fmt.width,
                        cycle_limit=10 * predict(p, "event"), seed=21, jobs=2)
    assert sim["status"] == "watchdog" and "watchdog: problem 3: 51 of 51 input beats" in sim["message"]
    assert sim["cycles"] == [predict(p, "event")] * 3 + [0]     # problems 0..2 done, 3 cut off, in order
    stimuli = [c.stimulus for c in cases[:4]]
    stimuli[1] = fast.Stimulus(stimuli[1].beats[:-1], stimuli[1].out_beats)   # in the first share
    sim = fast.simulate(binary, stimuli, p.payload_width, p.head_dim * p.numerics.out_fmt.width,
                        cycle_limit=10 * predict(p, "event"), seed=21, jobs=2)
    assert sim["status"] == "watchdog" and "watchdog: problem 1:" in sim["message"]
    assert sim["cycles"] == [predict(p, "event"), 0]            # the later share's results are dropped


@pytest.mark.slow
def test_fast_16x16_d64_n1024():
    require_simulator("verilator")
    # the build root `attnkit rtl-test --fast` uses: the 16x16 model takes long to compile, once
    r = fast.run(BIG, vectors=2, seed=3, build_root=BUILD.parent / "rtl")
    assert (r["vectors"], r["mismatches"], r["latency_errors"]) == (2, 0, 0), r["first_mismatches"]
    assert r["cycles_per_problem"] == [r["predicted_cycles"]]


def test_fast_clocking_matches_the_reference(small):
    """The harness skips evaluations (no falling edge, no settle when the inputs hold, no input phase at
    the edge); the reference evaluates the design with the clock low in every cycle. Same outputs,
    cycles and stalls."""
    p, binary, cases, sim = small
    assert "EDGE_EVAL" in (binary.parent / "harness_clock.h").read_text()   # the cheap clocking is the one run
    ref = fast.simulate(binary, [c.stimulus for c in cases], p.payload_width, p.head_dim * p.numerics.out_fmt.width,
                        cycle_limit=10 * predict(p, "event"), seed=21, settle_every_cycle=True)
    assert (ref["outputs"], ref["cycles"], ref["stalls"]) == (sim["outputs"], sim["cycles"], sim["stalls"])


def test_fast_cli_refuses_other_blocks():
    r = subprocess.run([sys.executable, "-m", "attnkit", "rtl-test", "mac", "--fast", "--vectors", "2"],
                       capture_output=True, text=True)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("attnkit: error: --fast runs the attention block")


@pytest.mark.parametrize("args, message", [
    (["mac", "--jobs", "2"], "attnkit: error: --jobs 2: only --fast runs problems in several processes"),
    (["attention", "--fast", "--jobs", "0"], "attnkit: error: --jobs 0: expected at least 1"),
])
def test_fast_cli_refuses_bad_jobs(args, message):
    r = subprocess.run([sys.executable, "-m", "attnkit", "rtl-test", *args, "--vectors", "2"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == message


def test_fast_runs_one_process_per_core_by_default(small, monkeypatch):
    import os

    p, binary, cases, _ = small
    monkeypatch.setattr(fast, "build", lambda *a, **k: (binary, 0.0))     # the small build, already made
    r = fast.run(SMALL, vectors=8, seed=21, build_root=BUILD)
    assert r["jobs"] == min(8, os.cpu_count() or 1) and (r["mismatches"], r["latency_errors"]) == (0, 0)
    assert fast.run(SMALL, vectors=2, seed=21, build_root=BUILD, jobs=3)["jobs"] == 2   # no more than problems
