"""The Verilated (and Icarus) attention engine against the golden cascade, and its cycles against the simulator.

Fast (default suite): a 2x2 and a 4x4 build, a few problems each, lengths that
are not multiples of the tile, with and without masks and causal; two problems under Icarus. Slow
(``make test-slow``): the matrix over R x C in {2x2, 4x4, 8x8}, head dims 8..32
and lengths up to 256, 210 problems in all, plus Icarus.
"""

from pathlib import Path

import pytest
from conftest import require_simulator
from helpers import RTL_BUILD, attention_sets, check_rtl, run_wrong_dut

from attnkit.testbench import runner

pytestmark = pytest.mark.rtl


def _check(sets, problems, seed, sim="verilator"):
    return check_rtl("attention", sets, problems, seed, "rtl-attention-4x4", "rtl-attention", sim=sim)


FAST = [((2, 2, 8, 7, False), 4, 11), ((4, 4, 8, 18, True), 4, 12)]


@pytest.mark.parametrize("shape,problems,seed", FAST)
def test_verilator_bit_and_cycle_exact(shape, problems, seed):
    r = _check(attention_sets(*shape), problems, seed)
    assert r["kinds"] == {"plain": 1, "random-mask": 1, "sparse-mask": 1, "corners": 1}
    if shape[4]:  # causal, N = 18 on 4 x 4: blocks run 1, 2, 3, 4, 5 key tiles (15 of 25)
        assert (r["tiles"], r["tiles_unmasked"]) == (15, 25)


CAUSAL = [  # (R, C, d, N, causal), problems, seed: 50 causal problems, ragged N, 2x2 .. 8x8 and non-square
    ((2, 2, 8, 37, True), 10, 41),
    ((4, 4, 16, 45, True), 10, 42),
    ((8, 8, 16, 61, True), 10, 43),
    ((8, 2, 8, 29, True), 10, 44),
    ((2, 8, 8, 23, True), 10, 45),
]


@pytest.mark.slow
@pytest.mark.parametrize("shape,problems,seed", CAUSAL)
def test_verilator_causal_matrix(shape, problems, seed):
    """Causal problems skip the key tiles the mask empties, bit- and cycle-exact."""
    r = _check(attention_sets(*shape), problems, seed)
    R, C, d, n, _ = shape
    blocks, J = -(-n // C), -(-n // R)
    assert r["tiles_unmasked"] == blocks * J
    # block b keeps the key tiles up to the one holding its last query
    assert r["tiles"] == sum((min((b + 1) * C, n) - 1) // R + 1 for b in range(blocks)) < blocks * J


SLOW = [  # (R, C, d, N, causal), problems, seed: 210 problems
    ((2, 2, 8, 37, False), 40, 21),
    ((2, 2, 32, 64, True), 20, 22),
    ((4, 4, 16, 72, False), 40, 23),
    ((4, 4, 8, 256, True), 10, 24),
    ((4, 4, 32, 100, False), 20, 25),
    ((8, 8, 8, 129, True), 30, 26),
    ((8, 8, 32, 256, False), 10, 27),
    ((8, 8, 16, 50, False), 40, 28),
]


@pytest.mark.slow
@pytest.mark.parametrize("shape,problems,seed", SLOW)
def test_verilator_matrix(shape, problems, seed):
    r = _check(attention_sets(*shape), problems, seed)
    R, C, d, n, causal = shape
    if n >= 16 * R:
        assert r["steady_util_2d"] >= 0.9


@pytest.mark.slow
def test_icarus_agrees():
    _check(attention_sets(2, 2, 8, 13, True), 8, 31, sim="icarus")


def test_icarus_first_problem():
    """Four-state: the output valid must be defined from reset on (problem 0 is read right after loading)."""
    _check(attention_sets(2, 2, 8, 7, True), 2, 5, sim="icarus")


def test_icarus_waves_listed():
    """--waves reports the wave file this run wrote, in the run's own directory."""
    require_simulator("icarus")
    sets = attention_sets(2, 2, 8, 4, False)
    r = runner.run("attention", sets, sim="icarus", vectors=1, seed=6, waves=True, build_root=RTL_BUILD)
    assert r["mismatches"] == 0
    (fst,) = r["waves"]
    assert Path(fst).parent == Path(r["log"]).parent and Path(fst).suffix == ".fst"
    assert Path(fst).stat().st_size > 0


@pytest.mark.slow
def test_testbench_catches_a_wrong_dut():
    """A DUT built causal, checked against the non-causal golden model, must be caught."""
    r = run_wrong_dut("attention", attention_sets(2, 2, 8, 7, False), 4, 3, dut_sets=["workload.causal=true"])
    assert r["mismatches"] > 0
