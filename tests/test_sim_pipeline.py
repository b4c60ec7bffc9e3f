"""The pipeline core: the closed form equals the event-driven run, cycle for cycle."""

import random

import pytest

from attnkit.sim.pipeline import Pipeline, Repeat, Stage, compress, expand, run, uniform_cycles


def _random_program(rng, nstages, level=0, top=9):
    out = []
    for _ in range(rng.randint(1, 4)):
        if level < 2 and rng.random() < 0.5:
            out.append(Repeat(rng.randint(0, 12), _random_program(rng, nstages, level + 1, top)))
        else:
            out.append(tuple(rng.randint(0, top) for _ in range(nstages)))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_closed_equals_event_on_random_programs(seed):
    rng = random.Random(seed)
    for _ in range(150):
        s, depth = rng.randint(1, 4), rng.choice([0, 1, 2, 3])
        pipe = Pipeline(tuple(Stage(f"s{j}", f"r{j}") for j in range(s)), depth=depth)
        prog = _random_program(rng, s)
        ev, cf = run(pipe, prog, "event"), run(pipe, prog, "closed")
        assert (cf.cycles, cf.tiles, cf.busy) == (ev.cycles, ev.tiles, ev.busy), (depth, prog)


@pytest.mark.parametrize("seed", range(4))
def test_closed_equals_event_with_shared_nodes(seed):
    """The closed form remembers a node by its id and the state it starts from: the same Repeat
    objects met again (here the whole program twice, inside a Repeat too) give the event-driven timing."""
    rng = random.Random(100 + seed)
    for _ in range(40):
        s, depth = rng.randint(1, 3), rng.choice([0, 1, 2, 4])
        pipe = Pipeline(tuple(Stage(f"s{j}", f"r{j}") for j in range(s)), depth=depth)
        part = _random_program(rng, s, top=3)
        prog = part + [Repeat(rng.randint(0, 2), part)] + part
        ev, cf = run(pipe, prog, "event"), run(pipe, prog, "closed")
        assert (cf.cycles, cf.tiles, cf.busy) == (ev.cycles, ev.tiles, ev.busy), (depth, prog)


@pytest.mark.parametrize("seed", range(4))
def test_compress_keeps_every_tile_in_order(seed):
    rng = random.Random(200 + seed)
    for _ in range(30):
        s = rng.randint(1, 3)
        part = _random_program(rng, s, top=1)  # few distinct tiles: many equal neighbours
        prog = part + part + [Repeat(2, [Repeat(3, part)])]
        small = compress(prog)
        assert list(expand(small)) == list(expand(prog))
        pipe = Pipeline(tuple(Stage(f"s{j}", f"r{j}") for j in range(s)), depth=2)
        assert run(pipe, small, "closed") == run(pipe, prog, "event")
    assert compress([(1, 2), (1, 2), Repeat(3, [(1, 2)]), Repeat(0, [(5, 5)]), Repeat(2, [Repeat(4, [(3, 3)])])]) == [
        Repeat(5, [(1, 2)]),
        Repeat(8, [(3, 3)]),
    ]


def test_uniform_tiles_are_prologue_plus_iterations_times_ii():
    pipe = Pipeline((Stage("load", "dram"), Stage("mac", "array"), Stage("store", "wr")), depth=3)
    for d in [(4, 7, 2), (9, 3, 3), (1, 1, 1), (0, 5, 0)]:
        for n in (1, 2, 5, 40):
            want = uniform_cycles(d, n, depth=3)
            assert want == sum(d) + (n - 1) * max(d)
            assert run(pipe, [Repeat(n, [d])], "event").cycles == want
            assert run(pipe, [Repeat(n, [d])], "closed").cycles == want


def test_buffer_depth_limits_overlap():
    pipe1 = Pipeline((Stage("a", "x"), Stage("b", "y")), depth=1)
    pipe2 = Pipeline((Stage("a", "x"), Stage("b", "y")), depth=2)
    prog = [Repeat(10, [(3, 5)])]
    assert run(pipe1, prog, "event").cycles == 10 * 8  # no overlap with one slot
    assert run(pipe2, prog, "event").cycles == 3 + 10 * 5  # double buffering hides the loads


def test_closed_form_is_fast_on_huge_programs():
    pipe = Pipeline((Stage("a", "x"), Stage("b", "y")), depth=2)
    t = run(pipe, [(5, 3), Repeat(10**9, [(4, 7), Repeat(1000, [(2, 1)])]), (1, 1)], "closed")
    assert t.tiles == 2 + 10**9 * 1001
    assert t.busy["y"] == 3 + 10**9 * (7 + 1000) + 1


def test_shared_resource_only_in_event_mode():
    pipe = Pipeline((Stage("load", "dram"), Stage("mac", "array"), Stage("store", "dram")), depth=2)
    prog = [Repeat(4, [(2, 3, 2)])]
    t = run(pipe, prog, "event")
    assert t.busy["dram"] == 16 and t.cycles >= 16
    with pytest.raises(ValueError, match="one resource per stage"):
        run(pipe, prog, "closed")
    assert len(list(expand(prog))) == 4
