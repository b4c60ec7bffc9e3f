"""The Verilated decode engine against the golden schedule-driven decode, and its cycles against `rtl-decode`.

Default suite: one small build (2 cores, MHA, 3 groups split 5/4 tiles so a
group's partials are merged), four problems (one of each kind); on the same
build, eight problems of which the last four see random output back-pressure. Slow
(``make test-slow``): 52 problems over five builds, 2 to 4 cores, MHA, GQA
and MQA, uneven splits (short last tiles, groups split over 2 and 3 cores),
and two wrong DUTs that must be caught: coarse partials, and a host that
ignores ``o.ready``.
"""

import re

import pytest
from helpers import check_rtl, decode_sets, run_wrong_dut

from attnkit.hw import mutate

pytestmark = pytest.mark.rtl

SMALL = decode_sets(2, 1, 3, 3, 4, 10, 4)  # the default suite's build: the wrong DUTs are made from it


def _check(cfg, problems, seed):
    return check_rtl("decode", decode_sets(*cfg), problems, seed, "rtl-decode-2core", "rtl-decode", engine="rtl-decode")


def test_verilator_bit_and_cycle_exact():
    r = _check((2, 1, 3, 3, 4, 10, 4), 4, 11)
    assert r["kinds"] == {"random": 1, "small": 1, "peaked": 1, "corners": 1}
    assert r["tiles_per_unit"] == [5, 4] and max(r["pieces_per_group"]) == 2


def test_verilator_back_pressure():
    """Problems 4-7 run with o.ready dropped at random: bit-exact, and the cycles are the prediction with each
    group's host time lengthened by its stalls (the cores go on), on the build of the test above."""
    r = _check((2, 1, 3, 3, 4, 10, 4), 8, 12)
    assert r["stalled_problems"] >= 1 and r["output_stalls"] > 0
    assert 0 < r["stall_delay"] <= r["output_stalls"]
    assert r["coverage"]["backpressure"]["bins"] == {
        "none": 8 - r["stalled_problems"],
        "stalled": r["stalled_problems"],
    }


SLOW = [  # (units, batch, heads, kv_heads, head_dim, context, block_n), problems, seed: 52 problems
    ((2, 1, 6, 3, 8, 20, 8), 12, 21),  # GQA G=2, the shipped config: 5/4 tiles
    ((3, 2, 2, 2, 8, 37, 8), 12, 22),  # MHA, 3 cores, 4/3/3 tiles, short last tile
    ((4, 1, 8, 2, 8, 50, 8), 12, 23),  # GQA G=4, 4 cores, 4/4/3/3 tiles
    ((4, 2, 4, 1, 4, 27, 4), 8, 24),  # MQA, 4 cores
    ((3, 1, 2, 1, 16, 23, 4), 8, 25),  # one group over 3 cores (3 pieces merged), d=16
]


@pytest.mark.slow
@pytest.mark.parametrize("cfg,problems,seed", SLOW)
def test_verilator_matrix(cfg, problems, seed):
    r = _check(cfg, problems, seed)
    assert len(set(r["tiles_per_unit"])) > 1 or max(r["pieces_per_group"]) > 1


@pytest.mark.slow
def test_testbench_catches_a_wrong_dut():
    """A DUT whose partials keep 6 fraction bits (the golden model's 30) must be caught."""
    wrong = ["numerics.partial_fmt.frac_bits=6", "numerics.partial_l_fmt.frac_bits=6"]
    r = run_wrong_dut("decode", SMALL, 4, 3, dut_sets=wrong)
    assert r["mismatches"] > 0


@pytest.mark.slow
def test_testbench_catches_a_dut_that_ignores_back_pressure():
    """A DUT whose host sees o.ready tied to 1 drops the rows offered in stall cycles: the back-pressured
    problems must fail (rows out of place, then missing: the watchdog ends the run)."""
    r = run_wrong_dut("decode", SMALL, 8, 12, dut_wrap=lambda c: mutate.Stuck(c, "o.ready", 1))
    assert r["mismatches"] > 0
    # the first four problems (no back-pressure) pass; the first wrong row is in a back-pressured one
    wrong = [int(k) for rep in r["first_mismatches"] for k in re.findall(r"'problem': (\d+)", rep)]
    wrong += [int(k) // 3 for k in re.findall(r"waiting for decode\[(\d+)\]", r.get("watchdog", ""))]  # 3 rows each
    assert wrong and min(wrong) >= 4, r["first_mismatches"]
