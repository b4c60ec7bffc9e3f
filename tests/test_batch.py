"""Batch forms of the engines: the same numbers as the scalar form, on random points of every shipped sweep spec.

For every spec in configs/sweeps and every engine with a batch form that takes the spec's arch and
workload kinds, a few dozen seeded random points go through the batch form and, one by one, through
the scalar form (the reference): the same keys per row, equal integers (cycles, counts) and whole
bytes (a byte count summed in floats from fractional shares of tiles, gemm's blocked plans, within
1e-12 relative as other floats), the same strings and flags, and the same rows erroring with the same
message. The event-driven form is the check on the closed form; it is compared with it where the
engines' own tests do (tests/test_fusemax.py and tests/test_llm.py: every attention engine, causal
and GQA included; tests/test_sim_gemm.py and tests/test_llm.py: gemm's loop orders), not again here.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from attnkit.errors import AttnkitError
from attnkit.evaluators import load_spec
from attnkit.sim import engines
from attnkit.sim.batch import BatchUnsupported, Points, simulate_points
from attnkit.sim.energy import load_table
from attnkit.sim.engines import Engine
from attnkit.sim.result import Result, flatten
from attnkit.sim.sweep_run import _Evaluator

SPECS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "configs" / "sweeps").glob("*.yaml"))
N_POINTS = 24
REL = 1e-12
# Rows a batch form leaves to the scalar form by design (its docstring says so), besides those it rejects.
NOT_MODELLED = {
    "flat": lambda arch, w: w.causal and not w.context,  # causal row blocks see different key tiles
    "flat-layer": lambda arch, w: w.causal and not w.context,
}


@cache
def _plan(spec: str):
    return load_spec(spec)


@cache
def _points(spec: str) -> Points:
    """N_POINTS seeded random points of the spec, built as the sweep builds them."""
    plan = _plan(spec)
    pool = np.arange(len(plan))
    rng = np.random.default_rng(sum(map(ord, spec)))
    pick = rng.choice(pool, size=min(N_POINTS, len(pool)), replace=False)
    points, errors = _Evaluator(plan).objects(plan.take(sorted(pick)).rows())
    return points.rows(np.array([not e for e in errors], dtype=bool))


def _cases():
    out = []
    for spec in SPECS:
        plan = _plan(spec)
        arch_kinds = {a.kind for a in plan.archs.values()}
        wl_kinds = {w.kind for w in plan.workloads.values()}
        for name, eng in sorted(engines.registry().items()):
            if eng.batch is None:
                continue
            if (eng.arch is None or arch_kinds <= set(eng.arch)) and (
                eng.workload is None or wl_kinds <= set(eng.workload)
            ):
                out.append(pytest.param(spec, name, id=f"{spec}-{name}"))
    return out


def _scalar(eng: Engine, points: Points, i: int):
    arch, wl = points.archs[points.arch_index[i]], points.workloads[points.workload_index[i]]
    try:
        return flatten(eng(arch, wl, load_table(arch.energy)).to_dict()), ""
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"


def _same(key: str, want, got) -> str:
    """'' when the batch value ``got`` is the scalar value ``want``, else what differs."""
    if isinstance(want, bool) or want is None or isinstance(want, str):
        ok = type(got) in (bool, np.bool_) if isinstance(want, bool) else True
        return "" if ok and got == want else f"{key}: scalar {want!r}, batch {got!r}"
    if isinstance(want, int):
        if not isinstance(got, (int, np.integer)) or isinstance(got, (bool, np.bool_)) or int(got) != want:
            return f"{key}: scalar int {want!r}, batch {got!r} ({type(got).__name__})"
        return ""
    if not isinstance(got, (float, np.floating)):
        return f"{key}: scalar float {want!r}, batch {got!r} ({type(got).__name__})"
    if (key == "cycles" or key.endswith("bytes")) and want.is_integer() and float(got).is_integer():
        # whole bytes: exact (a float sum of fractional shares, gemm's blocked plans, may miss by ulps)
        return "" if float(got) == want else f"{key}: scalar {want!r}, batch {float(got)!r}"
    if math.isclose(want, float(got), rel_tol=REL, abs_tol=0.0):
        return ""
    return f"{key}: scalar {want!r}, batch {float(got)!r} (rel {abs(float(got) - want) / abs(want):.2e})"


@cache
def _reference(spec: str, engine: str) -> tuple:
    """The scalar form's flattened result (or error) of every drawn point."""
    eng, points = engines.get(engine), _points(spec)
    return tuple(_scalar(eng, points, i) for i in range(len(points)))


def _compare(spec: str, engine: str, cols: dict, errors, rows) -> None:
    """The batch columns (rows ``rows`` of the drawn points, in order) against the scalar form's results."""
    ref = _reference(spec, engine)
    problems = []
    for j, i in enumerate(rows):
        want, err = ref[i]
        if err or errors[j]:
            if err != errors[j]:
                problems.append(f"row {i}: scalar error {err!r}, batch error {errors[j]!r}")
            continue
        assert want is not None
        want = {k: v for k, v in want.items() if v is not None}  # a column holds None as "no value"
        got = {k: v[j] for k, v in cols.items() if v[j] is not None}
        if set(got) != set(want):
            problems.append(
                f"row {i}: keys only scalar {sorted(set(want) - set(got))}, only batch {sorted(set(got) - set(want))}"
            )
        problems += [f"row {i}: {d}" for k in sorted(set(want) & set(got)) if (d := _same(k, want[k], got[k]))]
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("spec,engine", _cases())
def test_batch_equals_scalar(spec, engine):
    """The batch form itself (no fallback) refuses exactly the rows the scalar form rejects and gives the
    others' numbers, a column of one value per row (or one value for all) for every key; through
    simulate_points (a few of the rows, the refused ones among them) every row is the scalar form's."""
    form = engines.get(engine).batch_form()
    assert form is not None
    points = _points(spec)
    table = load_table(points.archs[0].energy)
    failing = np.array([bool(err) for _, err in _reference(spec, engine)])
    skip = NOT_MODELLED.get(engine, lambda arch, w: False)
    failing |= [skip(points.archs[a], points.workloads[w]) for a, w in zip(points.arch_index, points.workload_index)]
    refused = np.zeros(len(points), dtype=bool)
    try:
        cols = form(points, table)
    except BatchUnsupported as e:
        assert e.rows is not None, f"{engine}: refused all of {spec}'s points: {e}"
        refused = np.asarray(e.rows, dtype=bool)
        cols = form(points.rows(~refused), table) if (~refused).any() else {}
    assert (refused == failing).all(), f"refused {np.flatnonzero(refused)}, expected {np.flatnonzero(failing)}"
    n = int((~refused).sum())
    for k, v in cols.items():
        assert np.ndim(v) == 0 or np.shape(v) == (n,), k
    if n:
        full = {k: np.broadcast_to(np.asarray(v, dtype=object), (n,)) for k, v in cols.items()}
        _compare(spec, engine, full, np.full(n, "", dtype=object), np.flatnonzero(~refused))
    # the cheapest few rows, and every refused one, through simulate_points (once per attention engine:
    # its -layer form goes the same way)
    if engine.endswith("-layer"):
        return
    size = np.array([getattr(points.workloads[j], "seq_len", 0) for j in points.workload_index])
    few = np.union1d(np.flatnonzero(refused), np.argsort(size, kind="stable")[:4])
    cols, errors = simulate_points(points.rows(np.isin(np.arange(len(points)), few)), engine)
    _compare(spec, engine, cols, errors, few)


# ----------------------------------------------------------------------------- the fallback


def _toy_points(n: int) -> Points:
    """n gemm points on the systolic arch: m = 1..n."""
    from attnkit.params.config import apply_edits
    from attnkit.params.kinds import load_arch, load_workload

    arch = load_arch("systolic")
    base = load_workload("gemm")
    wls = [apply_edits(base, [("m", m)]) for m in range(1, n + 1)]
    return Points([arch], wls, np.zeros(n, dtype=np.int64), np.arange(n, dtype=np.int64))


def _toy_scalar(arch, w, table, mode="closed"):
    if w.m % 5 == 0:
        raise AttnkitError(f"m = {w.m}: a multiple of 5")
    return Result(engine="toy", cycles=w.m, clock_hz=1.0, energy_pj=0.5 * w.m, area_mm2=1.0, util_2d=0.0,
                  util_1d=0.0, dram_bytes=0.0, extra={"scalar": True})  # fmt: skip


def _toy_batch(refuse):
    calls = []

    def batch(points: Points, table):
        m = points.workload("m")
        calls.append(m.tolist())
        bad = refuse(m)
        if bad is not None and bad.any():
            raise BatchUnsupported("not modelled", rows=None if bad.all() and len(calls) == 1 else bad)
        return {"engine": "toy", "cycles": m, "latency_s": m / 1.0, "energy_pj": 0.5 * m, "area_mm2": 1.0,
                "util_2d": 0.0, "util_1d": 0.0, "dram_bytes": 0.0, "scalar": False}  # fmt: skip

    return batch, calls


@pytest.mark.parametrize(
    "refuse,batch_rows",
    [
        (lambda m: None, list(range(1, 12))),  # every row (this batch form does not check m % 5)
        (lambda m: m % 5 == 0, [1, 2, 3, 4, 6, 7, 8, 9, 11]),  # refuses the rows the scalar form rejects
        (lambda m: m > 0, []),  # refuses all: everything point by point
        (lambda m: m % 2 == 0, [1, 3, 5, 7, 9, 11]),  # refuses the even rows: 10 gets the scalar form's error
    ],
)
def test_simulate_points_falls_back_row_by_row(monkeypatch, refuse, batch_rows):
    points = _toy_points(11)
    batch, calls = _toy_batch(refuse)
    monkeypatch.setitem(engines.registry(), "toy", Engine(_toy_scalar, ("spatial",), ("gemm",), "toy", batch=batch))
    cols, errors = simulate_points(points, "toy")
    by_batch = set(batch_rows)
    for i, m in enumerate(range(1, 12)):
        if m in by_batch:
            assert (errors[i], cols["scalar"][i], cols["cycles"][i]) == ("", False, m)
        elif m % 5 == 0:
            assert errors[i] == f"AttnkitError: m = {m}: a multiple of 5"
            assert cols["cycles"][i] is None
        else:
            assert (errors[i], cols["scalar"][i], cols["cycles"][i]) == ("", True, m)
    assert len(calls) <= 2


def test_simulate_points_wrong_kind_is_a_row_error(monkeypatch):
    """A point of a kind the engine does not take is that row's error; the others still run."""
    from attnkit.params.kinds import load_workload

    points = _toy_points(3)
    att = load_workload("bert")
    points = Points(points.archs, [*points.workloads, att], np.arange(4) * 0, np.arange(4))
    batch, _ = _toy_batch(lambda m: None)
    monkeypatch.setitem(engines.registry(), "toy", Engine(_toy_scalar, ("spatial",), ("gemm",), "toy", batch=batch))
    cols, errors = simulate_points(points, "toy")
    assert list(errors[:3]) == ["", "", ""] and "takes workload kind gemm" in errors[3]
    assert list(cols["cycles"][:3]) == [1, 2, 3] and cols["cycles"][3] is None


# ----------------------------------------------------------------------------- the pipeline's batch run


@pytest.mark.parametrize("seed", range(6))
def test_batch_run_equals_scalar_closed_form(seed):
    """BatchRun over rows of one program shape (nested repeats, counts and durations per row) gives each
    row the cycles, tiles and busy cycles of its own program through the scalar closed form."""
    from attnkit.sim.batch.pipeline import BatchRun
    from attnkit.sim.pipeline import Pipeline, Repeat, Stage, run

    rng = np.random.default_rng(seed)
    n = 40
    S, depth = int(rng.integers(1, 4)), int(rng.integers(0, 5))
    pipe = Pipeline(tuple(Stage(f"s{i}", f"r{i}") for i in range(S)), depth=depth)

    def shape(level):  # a program shape: tiles (columns of durations) and repeats (columns of counts)
        items = []
        for _ in range(int(rng.integers(1, 4))):
            if level < 3 and rng.random() < 0.5:
                items.append(("rep", rng.integers(0, [3, 40, 2000][level], n), shape(level + 1)))
            else:
                items.append(("tile", rng.integers(0, 30, (S, n)) * (rng.random((S, n)) < 0.8)))
        return items

    prog = shape(0)

    def scalar(items, r):
        return [
            tuple(int(v) for v in it[1][:, r]) if it[0] == "tile" else Repeat(int(it[1][r]), scalar(it[2], r))
            for it in items
        ]

    def batch(items, b, active):
        for it in items:
            if it[0] == "tile":
                b.step(tuple(it[1]), active)
            else:
                b.repeat(it[1], lambda act, body=it[2]: batch(body, b, act), active)

    b = BatchRun(pipe, n)
    batch(prog, b, None)
    for r in range(n):
        t = run(pipe, scalar(prog, r), "closed")
        assert (int(b.cycles[r]), int(b.tiles[r])) == (t.cycles, t.tiles)
        assert {k: int(v[r]) for k, v in b.busy.items()} == t.busy


def _equal_scalar(engine: str, archs: list, wls: list) -> None:
    """Point i (``archs[i]``, ``wls[i]``) through ``engine``'s batch form gives its scalar form's cycles,
    tiles and DRAM bytes, and busy cycles within REL."""
    idx = np.arange(len(wls))
    eng = engines.get(engine)
    table = load_table(archs[0].energy)
    form = eng.batch_form()
    assert form is not None
    cols = form(Points(archs, wls, idx, idx), table)
    for i, (arch, wl) in enumerate(zip(archs, wls)):
        want = flatten(eng(arch, wl, table).to_dict())
        got = {k: cols[k][i] for k in ("cycles", "tiles", "dram_bytes")}
        assert got == {k: want[k] for k in got}, (i, arch.array_2d, wl.name, wl.seq_len)
        for k in ("busy_2d", "busy_1d"):
            assert math.isclose(cols[k][i], want[k], rel_tol=REL), (i, k)


def _random_causal_rows_equal_scalar(engine: str) -> None:
    """40 seeded random causal shapes through ``engine`` equal its scalar form: random arrays (powers of two
    and not), buffers holding 1 to 60 query groups, 1, 4 or 8 query heads per K/V head, lengths that leave
    a partial last group."""
    import attnkit.api as api

    rng = np.random.default_rng(2026)
    archs, wls = [], []
    for _ in range(40):
        R, C = (int(rng.choice([8, 12, 16, 24, 32, 48, 64, 128])) for _ in range(2))
        model = str(rng.choice(["bert", "llama3-8b", "llama3-70b"]))
        wl = api.load_workload(model, set=[f"seq_len={int(rng.integers(300, 6000))}", "causal=true"])
        E = wl.head_dim
        words = 4 * R * 2 * E + int(rng.integers(1, 60)) * C * (2 * E + 2) + int(rng.integers(0, C * E))
        sets = [f"array_2d.rows={R}", f"array_2d.cols={C}", f"array_1d.pes={C}", "word_bits=16"]
        archs.append(api.load_arch("fusemax", set=[*sets, f"global_buffer.bytes={2 * words}"]))
        wls.append(wl)
    _equal_scalar(engine, archs, wls)


def _calls(monkeypatch, owner, name: str) -> list[tuple]:
    """Every call of ``owner.name`` from here on, as (arguments, result)."""
    fn = getattr(owner, name)
    seen: list[tuple] = []

    def recorded(*args):
        out = fn(*args)
        seen.append((args, out))
        return out

    monkeypatch.setattr(owner, name, recorded)
    return seen


def _stretched(calls: list[tuple]) -> tuple[int, int]:
    """Rows tried and rows moved, over recorded :func:`_stretch` calls."""
    return sum(len(args[5]) for args, _ in calls), sum(len(moved) for _, moved in calls)


@pytest.mark.parametrize("engine", ["fusemax", "fusemax-serial", "fusemax-cascade-flat"])
def test_causal_walk_jumps_equal_scalar(engine, monkeypatch):
    """The causal walk's shortcuts (PeriodicWalk over block periods and over a block's segments, and the
    stretch through the regular blocks) give every row the scalar form's cycles, tiles, busy cycles and
    DRAM bytes; the test fails if no row jumped or stretched."""
    from attnkit.sim.batch import attention, pipeline

    jumps = _calls(monkeypatch, pipeline.PeriodicWalk, "jump")
    stretches = _calls(monkeypatch, attention, "_stretch")
    _random_causal_rows_equal_scalar(engine)
    assert sum(int(q.sum()) for (_, _, _, q), _ in jumps) > 0
    assert _stretched(stretches)[1] > 0


def test_causal_stretch_in_batches_of_probes(monkeypatch):
    """A stretch walks its probes a batch at a time (memory bounded as a chunk's is): with batches of a
    few probes, the rows still stretch, to the scalar form's figures."""
    from attnkit.sim.batch import attention

    monkeypatch.setattr(attention, "_PROBES", 5)
    stretches = _calls(monkeypatch, attention, "_stretch")
    _random_causal_rows_equal_scalar("fusemax")
    assert _stretched(stretches)[1] > 0


def test_causal_stretch_that_does_not_hold_walks_on(monkeypatch):
    """With no full rows to settle in, a block's state after its first row is not the full rows' own, the
    stretch's check refuses every row, and they walk on to the scalar form's figures."""
    from attnkit.sim.batch import attention

    monkeypatch.setattr(attention, "_SETTLE_ROWS", 0)
    stretches = _calls(monkeypatch, attention, "_stretch")
    _random_causal_rows_equal_scalar("fusemax")
    tried, moved = _stretched(stretches)
    assert tried > 0 and moved == 0


def test_causal_block_periods_whose_state_alternates_jump_in_pairs(monkeypatch):
    """Where a K/V head's state at the start of a block period alternates between two shapes (equal 2D
    and 1D tile times: the 2D stage keeps one of two lags), the block walk jumps two periods at a time
    and lands on the scalar form's figures (128 x 128 arrays, 3 query groups a block, 100 GB/s)."""
    import attnkit.api as api
    from attnkit.sim.batch import attention

    leaps = _calls(monkeypatch, attention, "_block_leap")
    sets = ["array_2d.rows=128", "array_2d.cols=128", "array_1d.pes=128", "word_bits=16", "clock_hz=1e9"]
    arch = api.load_arch("fusemax", set=[*sets, "dram.bandwidth_bytes_per_s=1e11", "global_buffer.bytes=460288"])
    wls = [
        api.load_workload(m, set=[f"seq_len={n}", "causal=true"])
        for m, n in [("llama3-70b", 7170), ("llama3-8b", 7804)]
    ]
    _equal_scalar("fusemax", [arch] * len(wls), wls)
    assert sum(int(((args[4] == 2) & (q > 0)).sum()) for args, q in leaps) > 0


@pytest.mark.parametrize("seed", range(4))
def test_periodic_walk_jump_lands_where_walking_does(seed):
    """A walk whose iteration i runs a row of c0 + i identical tiles (and adds c0 + i to a sum) jumped by
    PeriodicWalk, once its caller sees the growing runs past their transient and moving by whole periods
    of their own, ends with the cycles, tiles, busy cycles and sum of walking every iteration."""
    from attnkit.sim.batch.pipeline import BatchRun, PeriodicWalk
    from attnkit.sim.pipeline import Pipeline, Stage

    rng = np.random.default_rng(seed)
    n = 30
    pipe = Pipeline((Stage("load", "dram"), Stage("mac", "array_2d"), Stage("out", "array_1d")), depth=2)
    tile = tuple(rng.integers(0, 40, (3, n)))
    c0, iters = rng.integers(1, 30, n), rng.integers(20, 400, n)

    def walk(jumps: bool):
        run = BatchRun(pipe, n)
        i, total = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        w = PeriodicWalk(n, 1, 1, run)
        w.record([i], [total])
        live = i < iters
        taken = 0
        while live.any():
            run.repeat(np.where(live, c0 + i, 0), tile, live)
            total += np.where(live, c0 + i, 0)
            i += live
            live &= i < iters
            w.record([i], [total])
            if not jumps:
                continue
            p = w.periods(live)
            rows = np.flatnonzero(p > 0)
            if rows.size:
                p = p[rows]
                oldest = c0[rows] + i[rows] - 3 * p  # the shortest run of the three periods seen
                fine = (oldest >= run.settled(rows, 1)) & (p % run.cycle[1, rows] == 0)
                q = np.where(fine, (iters[rows] - i[rows]) // p, 0)
                go = q > 0
                if go.any():
                    coords, sums = w.jump(rows[go], p[go], q[go])
                    i[rows[go]], total[rows[go]] = coords[0], sums[0]
                    taken += int(go.sum())
                w.valid[rows[~go]] = 1
                run.restart(rows)
                live &= i < iters
        return run, total, taken

    slow, slow_total, _ = walk(False)
    fast, fast_total, taken = walk(True)
    assert taken > 0
    assert (fast.cycles == slow.cycles).all() and (fast.tiles == slow.tiles).all()
    assert (fast.work == slow.work).all() and (fast_total == slow_total).all()


def test_every_declared_batch_form_is_found():
    """An engine naming a batch module finds its form there (the module is imported on first use only)."""
    named = {n: e for n, e in engines.registry().items() if isinstance(e.batch, str)}
    assert {"fusemax", "flat", "unfused", "gemm", "fusemax-layer"} <= set(named)
    for name, eng in named.items():
        assert callable(eng.batch_form()), name
    broken = dataclasses.replace(named["gemm"], batch="attnkit.sim.batch.attention")
    with pytest.raises(AttnkitError, match="has no FORMS"):
        broken.batch_form()
