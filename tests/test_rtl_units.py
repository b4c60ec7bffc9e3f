"""The exp and reciprocal units in RTL against their golden models over their whole input spaces,
through the CLI's runner and the shared stream-unit testbench (testbench/unit_tb.py).

Builds go under the repository's build/rtl (keyed by the Verilog's hash), so a second run reuses
them; each test function has its own folder there, since the runner stages a block's Verilog under
one name per folder and parallel workers building one block differently must not share it.
"""

from pathlib import Path

import numpy as np
import pytest
from conftest import require_simulator

from attnkit.hw import blocks
from attnkit.params.fixed import QFormat
from attnkit.params.numerics import ExpParams, RecipParams
from attnkit.testbench import runner
from attnkit.testbench.unit_tb import corners, inputs, predict_backpressure, predict_gaps

pytestmark = pytest.mark.rtl

BUILD = Path(__file__).resolve().parents[1] / "build" / "rtl" / "test_rtl_units"


@pytest.fixture
def build_root(request):
    return BUILD / request.node.originalname


def test_blocks_sized_by_their_dataclass_defaults():
    assert blocks.get("exp").load_params() == ExpParams()
    assert blocks.get("recip").load_params() == RecipParams()
    assert blocks.get("recip").load_params(["iters=2"]).iters == 2


def test_stimulus_corners_and_whole_space():
    f = QFormat(True, 6, 10)
    c = corners(f)
    for v in (f.min_raw, f.min_raw + 1, f.max_raw, f.max_raw - 1, 0, -1, 1, 1 << 10, -(1 << 10), 1 << 14):
        assert v in c
    assert len(set(c.tolist())) == c.size and c.min() >= f.min_raw and c.max() <= f.max_raw
    x, whole = inputs(f, 1 << 16, np.random.default_rng(0))
    assert whole and np.array_equal(np.sort(x), np.arange(f.min_raw, f.max_raw + 1))
    x, whole = inputs(f, 100, np.random.default_rng(0))
    assert not whole and x.size == 100 and np.array_equal(x[: c.size], c)


def _freeze_pipeline(n, ready, L):
    """A cycle-by-cycle L-stage pipeline that holds while its output is offered and not taken,
    inputs always offered: (accept cycles, output cycles)."""
    stages, acc, out, k, c = [None] * L, [], [], 0, 0
    while len(out) < n:
        r = ready[c] if c < len(ready) else 1
        head = stages[-1]
        if head is not None and r:
            out.append(c)
        if head is None or r:  # advance
            stages = [k if k < n else None] + stages[:-1]
            if k < n:
                acc.append(c)
                k += 1
        c += 1
    return np.array(acc), np.array(out)


def test_backpressure_prediction_matches_a_cycle_model():
    rng = np.random.default_rng(3)
    for L in (1, 3, 5):
        for n in (1, 2, 7, 40):
            ready = (rng.random(200) > 0.3).astype(np.int64)
            a, o = predict_backpressure(n, ready, L)
            ra, ro = _freeze_pipeline(n, ready, L)
            assert np.array_equal(a, ra) and np.array_equal(o, ro), (L, n)
    acc, out = predict_gaps(np.array([0, 2, 0, 1]), 3)
    assert acc.tolist() == [0, 3, 4, 6] and out.tolist() == [3, 6, 7, 9]


@pytest.mark.parametrize("block, width", [("exp", 16), ("recip", 16)])
def test_verilator_whole_input_space_bit_exact(block, width, build_root):
    require_simulator("verilator")
    r = runner.run(block, vectors=1 << width, seed=1, build_root=build_root)
    assert (r["vectors"], r["mismatches"], r["input_space"], r["exhaustive"], r["space_covered"]) == (
        1 << width,
        0,
        1 << width,
        True,
        1.0,
    )
    assert (r["latency_errors"], r["timing_errors"]) == (0, 0)
    assert r["cycles"] == r["predicted_cycles"] and r["stalls"] > 0 and r["gap_cycles"] > 0


@pytest.mark.parametrize(
    "block, dut_sets, latency_off",
    [
        ("exp", ["out_fmt.rounding=AP_TRN"], False),  # truncates where the golden rounds
        ("recip", ["iters=0"], True),  # no Newton-Raphson step: wrong values, 2 cycles early
    ],
)
def test_testbench_catches_a_wrong_dut(block, dut_sets, latency_off, build_root):
    require_simulator("verilator")
    r = runner.run(block, vectors=3000, seed=5, build_root=build_root, dut_sets=dut_sets)
    assert r["mismatches"] > 0
    assert (r["latency_errors"] > 0) == latency_off


@pytest.mark.parametrize("block", ["exp", "recip"])
def test_icarus_random_and_corners_bit_exact(block, build_root):
    require_simulator("icarus")
    r = runner.run(block, sim="icarus", vectors=400, seed=11, build_root=build_root)
    assert (r["vectors"], r["mismatches"], r["exhaustive"]) == (400, 0, False) and 0 < r["space_covered"] <= 400 / 2**16
    assert (r["latency_errors"], r["timing_errors"]) == (0, 0) and r["cycles"] == r["predicted_cycles"]


BIG = ["in_fmt.int_bits=-20", "in_fmt.frac_bits=32", "out_fmt.int_bits=32", "out_fmt.frac_bits=30"]


def test_big_shift_format_reaches_both_cases():
    from attnkit.models.recip import recip

    p = blocks.get("recip").load_params(BIG)
    y = recip(np.arange(1, 4096), p)
    assert (y[:3] == p.out_fmt.max_raw).all() and (y[3:] < p.out_fmt.max_raw).all()


@pytest.mark.parametrize(
    "sets",
    [
        # a 62-bit output: for x < 4 lsb the output shift passes the golden's 62-bit limit (`big`, the
        # format's maximum), from 4 lsb on y is shifted left by up to 32, unsaturated
        BIG,
        # signed input (x <= 0 gives the maximum), a narrow wrapping output rounding to even
        [
            "in_fmt.signed=true",
            "in_fmt.int_bits=6",
            "in_fmt.frac_bits=6",
            "out_fmt.overflow=AP_WRAP",
            "out_fmt.int_bits=4",
            "out_fmt.rounding=AP_RND_CONV",
        ],
    ],
    ids=["big-shift", "signed-wrap"],
)
def test_icarus_recip_formats_whole_space(sets, build_root):
    require_simulator("icarus")
    r = runner.run("recip", sets, sim="icarus", vectors=1 << 12, seed=3, build_root=build_root)
    assert (r["vectors"], r["mismatches"], r["exhaustive"], r["latency_errors"]) == (1 << 12, 0, True, 0)


@pytest.mark.parametrize(
    "port, value, field",
    [
        ("o.valid", 0, "watchdog"),  # never offers an output: the watchdog ends the run
        ("i.ready", 0, "early_outputs"),  # claims to take nothing, yet outputs come
    ],
)
def test_stuck_handshake_fails_in_bounded_time(port, value, field, build_root):
    require_simulator("icarus")
    from attnkit.hw.mutate import Stuck

    r = runner.run(
        "exp", sim="icarus", vectors=300, seed=2, build_root=build_root, dut_wrap=lambda c: Stuck(c, port, value)
    )
    assert r["mismatches"] > 0 and r[field]
    if field == "watchdog":
        assert (
            r["watchdog"].startswith("exp: watchdog: no output for ")
            and ", seed 2; waiting for exp[0]" in r["watchdog"]
        )
