"""Engine gemm: event-driven equals closed form on a grid; folding, buffer reuse, DRAM, energy and area."""

import itertools

import pytest
from helpers import gemm_sets

from attnkit.sim import engines, systolic
from attnkit.sim.energy import load_table


def sim(mode="closed", rows=8, cols=8, df="os", m=16, n=16, k=16, sets=()):
    return engines.simulate(
        "systolic",
        "gemm",
        mode=mode,
        sets=[*gemm_sets(rows, cols, df, m, n, k), *sets],
    )


GRID = list(
    itertools.product(
        [(4, 4), (8, 4), (3, 5)],
        ["os", "ws", "is"],
        [(1, 1, 1), (7, 9, 5), (16, 16, 16), (33, 5, 12), (2, 40, 21)],
        [0, 3],
    )
)


@pytest.mark.parametrize("array,df,shape,tile_depth", GRID)
def test_event_equals_closed(array, df, shape, tile_depth):
    sets = [f"array_2d.tile_depth={tile_depth}", "dram.bandwidth_bytes_per_s=4.0e+9"]
    ev = sim("event", *array, df, *shape, sets=sets)
    cf = sim("closed", *array, df, *shape, sets=sets)
    assert ev.cycles == cf.cycles
    assert ev.dram_bytes == cf.dram_bytes and ev.energy_pj == cf.energy_pj
    assert ev.extra["tiles"] == cf.extra["tiles"]
    assert cf.cycles > cf.extra["compute_cycles"]  # a load before the first fold, a store after the last


def test_small_buffer_spills_and_refetches():
    # 64 x 64 x 512 on 8 x 8: a big buffer keeps everything, each operand moves once
    big = sim(m=64, n=64, k=512)
    assert big.dram_bytes == (64 * 512 + 512 * 64 + 64 * 64) * 2
    # a buffer holding only a few tiles must fetch A again for every column fold
    small = sim(m=64, n=64, k=512, sets=["global_buffer.bytes=40000"])
    assert small.dram_bytes > big.dram_bytes
    assert small.extra["compute_cycles"] == big.extra["compute_cycles"]
    for df, (m, n) in (("ws", (512, 64)), ("is", (64, 512))):  # T (streamed) is m for ws, n for is
        a, b = sim(df=df, m=m, n=n, k=64), sim(df=df, m=m, n=n, k=64, sets=["global_buffer.bytes=20000"])
        assert a.dram_bytes == (m * 64 + 64 * n + m * n) * 2
        assert b.dram_bytes > a.dram_bytes


def test_slow_dram_makes_it_memory_bound():
    fast = sim(m=64, n=64, k=64)
    slow = sim(m=64, n=64, k=64, sets=["dram.bandwidth_bytes_per_s=1.0e+8"])
    assert slow.cycles > 10 * fast.cycles
    # DRAM-bound: cycles are at least the bytes over the bandwidth
    assert slow.cycles >= slow.dram_bytes / (1.0e8 / 940e6)


def test_compute_cycles_and_util():
    r = sim(m=16, n=16, k=16)
    assert r.extra["folds"] == 4
    assert r.extra["compute_cycles"] == 4 * (16 + 8 + 8 - 2) - 1
    assert systolic.compute_cycles("ws", 8, 8, 16, 16, 16) == 4 * (16 + 16 + 8 - 2)
    assert 0 < r.util_2d <= 1 and r.util_1d == 0


def test_energy_and_area_from_the_table():
    r = sim(m=32, n=32, k=32)
    t = load_table("fusemax-45nm")
    assert r.actions["mac.mac"] == 32**3
    assert r.energy_breakdown["mac"] == pytest.approx(32**3 * 17.16)
    assert r.energy_breakdown["dram"] == pytest.approx(r.dram_bytes * 8 / 64 * 249.6)
    assert r.energy_pj == pytest.approx(sum(r.energy_breakdown.values()))
    assert r.area_mm2 == pytest.approx(64 * 1545e-6 + 94.18)
    assert set(r.area_breakdown) == {"mac", "global_buffer"}
    h = sim(m=32, n=32, k=32, sets=["energy=horowitz-45nm"])
    assert h.energy_breakdown["mac"] == pytest.approx(32**3 * 1.5)
    assert t.components["global_buffer"].actions["read"].bits == 4096


def test_energy_tables_name_every_source():
    for name in ("fusemax-45nm", "horowitz-45nm"):
        t = load_table(name)
        assert t.source
        for comp in t.components.values():
            assert comp.source and all(a.source for a in comp.actions.values())


def test_fold_overlap_pays_the_fill_once():
    """Compute-bound GEMM (fast DRAM): overlapping folds saves exactly the fill of every fold but the first."""
    from attnkit.sim import systolic

    sets = [
        "array_2d.rows=8",
        "array_2d.cols=8",
        "dram.bandwidth_bytes_per_s=1.0e+15",
        "workload.m=64",
        "workload.n=40",
        "workload.k=32",
    ]
    plain = engines.simulate("systolic", "gemm", sets=sets)
    over = engines.simulate("systolic", "gemm", sets=sets + ["array_2d.fold_overlap=true"])
    folds, fill = plain.extra["folds"], systolic.fill_cycles("os", 8, 8)
    assert folds > 1
    assert plain.cycles - over.cycles == (folds - 1) * fill
    assert over.extra["compute_cycles"] == plain.extra["compute_cycles"]  # SCALE-Sim's convention is unchanged
    assert event_equals_closed(sets + ["array_2d.fold_overlap=true"])


def event_equals_closed(sets):
    return (
        engines.simulate("systolic", "gemm", sets=sets, mode="event").cycles
        == engines.simulate("systolic", "gemm", sets=sets).cycles
    )


def test_automatic_tile_depth_is_never_slower_than_the_largest():
    """The mapper tries the largest depth that fits and smaller ones that leave room for reuse."""
    base = [
        "array_2d.rows=16",
        "array_2d.cols=16",
        "global_buffer.bytes=65536",
        "workload.m=512",
        "workload.n=512",
        "workload.k=512",
    ]
    auto = engines.simulate("systolic", "gemm", sets=base)
    words = 65536 * 8 // 16
    largest = (words // 2 - 16 * 16) // 32
    fixed = engines.simulate("systolic", "gemm", sets=base + [f"array_2d.tile_depth={largest}"])
    # here the largest depth leaves no room to keep B's column block, so a smaller one wins
    assert auto.cycles < fixed.cycles and auto.dram_bytes < fixed.dram_bytes
    assert auto.extra["tile_depth"] < largest


def test_a_gemm_met_again_is_mapped_once_and_handed_out_as_a_copy():
    """The mapping depends on the arch's fields but its name and engine, the workload, the table and the mode."""
    import dataclasses

    from attnkit.params.kinds import load_arch
    from attnkit.params.workload import GemmWorkload
    from attnkit.sim.engines import gemm

    arch = load_arch("fusemax")
    table = load_table(arch.energy)
    g = GemmWorkload(m=1024, n=768, k=768)
    gemm.simulate.memo.clear()
    first = gemm.simulate(arch, g, table)
    first.extra["tiles"] = -1  # a caller's edit stays its own
    again = gemm.simulate(dataclasses.replace(arch, name="other", engine="flat"), g, table)
    assert again == gemm._simulate(arch, g, table, "closed") and again.extra["tiles"] != -1
    assert len(gemm.simulate.memo) == 1
    bigger = dataclasses.replace(arch, global_buffer=dataclasses.replace(arch.global_buffer, bytes=1 << 25))
    assert gemm.simulate(bigger, g, table) == gemm._simulate(bigger, g, table, "closed")
    assert gemm.simulate(arch, g, table, "event") == gemm._simulate(arch, g, table, "event")
    assert len(gemm.simulate.memo) == 3


def test_a_remembered_result_is_a_deep_copy():
    from attnkit.sim.memo import _copied
    from attnkit.sim.result import Result

    r = Result(
        "e",
        1,
        1.0,
        2.0,
        3.0,
        0.5,
        0.5,
        4.0,
        {"a": 1.0},
        {"b": 2.0},
        {"c": 3.0},
        {"d": {"x": [1, {"y": 2}]}, "t": (1, [2])},
    )
    c = _copied(r)
    assert c == r and c is not r
    c.extra["d"]["x"][1]["y"] = 9
    c.extra["t"][1].append(3)
    c.actions["c"] = 0.0
    assert r.extra == {"d": {"x": [1, {"y": 2}]}, "t": (1, [2])} and r.actions == {"c": 3.0}
