"""Sweep specs: expansion, ranges, random samples, expressions, and refusal of bad specs before any point runs."""

import re
import subprocess
import sys
import textwrap

import pytest

from attnkit.errors import ConfigError
from attnkit.params import kinds
from attnkit.sim import sweep

ARCH = """\
name: toy
kind: spatial
engine: gemm
clock_hz: 1.0e+9
array_2d: {rows: 16, cols: 16}
"""
GEMM = "name: g\nkind: gemm\nm: 64\nn: 64\nk: 64\n"


def write_spec(tmp_path, body: str, name="spec.yaml", workloads="[gemm.yaml]"):
    (tmp_path / "arch.yaml").write_text(ARCH)
    (tmp_path / "gemm.yaml").write_text(GEMM)
    (tmp_path / "gemm2.yaml").write_text(GEMM.replace("name: g", "name: g2").replace("m: 64", "m: 32"))
    path = tmp_path / name
    path.write_text(f"arch: arch.yaml\nworkloads: {workloads}\n" + textwrap.dedent(body))
    return path


def test_grid_product_ranges_and_types(tmp_path):
    plan = sweep.load_spec(
        write_spec(
            tmp_path,
            """\
        parameters:
          array_2d.rows: {start: 8, stop: 64, factor: 2}
          array_2d.cols: {start: 16, stop: 48, step: 16}
          clock_hz: {start: 5.0e+8, stop: 1.0e+9, num: 3}
          workload.m: [32, 64]
        """,
        )
    )
    assert plan.columns == ["arch", "workload", "array_2d.rows", "array_2d.cols", "clock_hz", "workload.m"]
    assert len(plan.points) == 4 * 3 * 3 * 2 == len(set(plan.ids))
    rows = sorted({p[2] for p in plan.points})
    assert rows == [8, 16, 32, 64]
    assert sorted({p[3] for p in plan.points}) == [16, 32, 48]
    clocks = sorted({p[4] for p in plan.points})
    assert clocks == [5e8, 7.5e8, 1e9] and all(isinstance(c, float) for c in clocks)
    # The workload axis varies fastest, so consecutive points share an edited arch.
    assert plan.points[0][2:5] == plan.points[1][2:5] and plan.points[0][5] != plan.points[1][5]


def test_point_ids_are_stable_across_key_order(tmp_path):
    a = sweep.load_spec(
        write_spec(tmp_path, "parameters:\n  array_2d.rows: [8, 16]\n  clock_hz: [1.0e+9, 2.0e+9]\n", "a.yaml")
    )
    b = sweep.load_spec(
        write_spec(tmp_path, "parameters:\n  clock_hz: [1.0e+9, 2.0e+9]\n  array_2d.rows: [8, 16]\n", "b.yaml")
    )
    ida = {i: dict(zip(a.columns, p)) for i, p in zip(a.ids, a.points)}
    idb = {i: dict(zip(b.columns, p)) for i, p in zip(b.ids, b.points)}
    assert ida == idb and len(ida) == 4


def test_workloads_zip_random_let_derived_constraints(tmp_path):
    plan = sweep.load_spec(
        write_spec(
            tmp_path,
            """\
        parameters:
          array_2d.rows: [8, 16, 32]
          word_bits: {choice: [8, 16]}
          clock_hz: {uniform: [5.0e+8, 1.0e+9]}
        samples: 5
        seed: 3
        zip:
          array_1d.pes: [4, 8]
          workload.n: [16, 32]
        let:
          pes: array_2d.rows * array_2d.cols
        derived:
          array_2d.cols: array_2d.rows * 2
          array_1d.regfile_entries: pes // 16 + array_1d.pes * 0
        constraints:
          - pes <= 512
          - workload != "gemm2.yaml" or array_1d.pes == 8
        """,
            workloads="[gemm.yaml, gemm2.yaml]",
        )
    )
    cols = plan.columns
    assert cols[-3:] == ["pes", "array_2d.cols", "array_1d.regfile_entries"]
    rows = [dict(zip(cols, p)) for p in plan.points]
    assert rows and all(r["array_2d.cols"] == 2 * r["array_2d.rows"] for r in rows)
    assert all(r["pes"] == r["array_2d.rows"] * r["array_2d.cols"] <= 512 for r in rows)
    assert all(r["workload"] == "gemm.yaml" or r["array_1d.pes"] == 8 for r in rows)
    assert {(r["array_1d.pes"], r["workload.n"]) for r in rows} == {(4, 16), (8, 32)}
    # A let that reads a derived key and a derived key that reads the let: evaluated in dependency order.
    assert all(r["array_1d.regfile_entries"] == r["pes"] // 16 for r in rows)
    assert {r["array_2d.rows"] for r in rows} == {8, 16}  # 32 * 64 > 512 is left out
    assert plan.rejected > 0
    clocks = {r["clock_hz"] for r in rows}
    assert len(clocks) == 5 and all(5e8 <= c <= 1e9 for c in clocks)
    # The same seed draws the same samples; another seed others.
    again = sweep.load_spec(tmp_path / "spec.yaml")
    assert again.ids == plan.ids
    (tmp_path / "spec.yaml").write_text((tmp_path / "spec.yaml").read_text().replace("seed: 3", "seed: 4"))
    assert set(sweep.load_spec(tmp_path / "spec.yaml").ids) != set(plan.ids)


def test_post_simulation_constraints_are_split_out(tmp_path):
    plan = sweep.load_spec(
        write_spec(
            tmp_path,
            """\
        parameters: {array_2d.rows: [8, 16]}
        constraints: [array_2d.rows >= 8, area_mm2 <= 10, latency_s * clock_hz > 0]
        """,
        )
    )
    assert [e.text for e in plan.pre] == ["array_2d.rows >= 8"]
    assert [e.text for e in plan.post] == ["area_mm2 <= 10", "latency_s * clock_hz > 0"]
    assert "clock_hz" in plan.base_refs  # not swept: read from the base arch


def test_path_edits_equal_the_set_path(tmp_path):
    """A point's edits give the same object as `--set` on the loaded config (the path simulate takes)."""
    plan = sweep.load_spec(
        write_spec(
            tmp_path,
            """\
        parameters:
          array_2d.rows: [8]
          clock_hz: [7.5e+8]
          array_2d.dataflow: [ws]
          workload.k: [96]
        """,
        )
    )
    from attnkit.sim.sweep_run import _Evaluator

    ev = _Evaluator(plan)
    values = plan.points[0]
    arch, _ = ev._edited(plan.archs[values[0]], ev.arch_edits, values)
    wl, _ = ev._edited(plan.workloads[values[1]], ev.wl_edits, values)
    sets = ["array_2d.rows=8", "clock_hz=7.5e+8", "array_2d.dataflow=ws", "workload.k=96"]
    arch_sets, wl_sets = kinds.split_sets(sets)
    # On the loaded objects (as simulate(arch_obj, workload_obj, sets=...) does).
    assert arch == kinds.load_arch(kinds.load_arch(tmp_path / "arch.yaml"), arch_sets)
    assert wl == kinds.load_workload(kinds.load_workload(tmp_path / "gemm.yaml"), wl_sets)
    assert arch.array_2d.dataflow == "ws" and arch.clock_hz == 7.5e8 and wl.k == 96


def test_checks_see_the_final_design_not_a_half_edited_one(tmp_path):
    """Shrinking the buffer and the tile depth together: valid at the end, though not after the first edit alone."""
    write_spec(
        tmp_path,
        """\
        parameters:
          global_buffer.bytes: [262144]
          array_2d.tile_depth: [0, 4096]
        """,
    )
    (tmp_path / "arch.yaml").write_text(ARCH.replace("cols: 16}", "cols: 16, tile_depth: 4096}"))
    plan = sweep.load_spec(tmp_path / "spec.yaml")
    from attnkit.sim.sweep_run import _Evaluator

    ev = _Evaluator(plan)
    got = {}
    for values in plan.points:
        arch, err = ev._edited(plan.archs[values[0]], ev.arch_edits, values)
        got[values[3]] = err
        try:
            want = kinds.load_arch(
                kinds.load_arch(tmp_path / "arch.yaml"),
                ["global_buffer.bytes=262144", f"array_2d.tile_depth={values[3]}"],
            )
            assert arch == want
        except ConfigError as e:
            assert err and str(e).removeprefix("--set: ") in err
    assert got[0] is None and "needs 525312 bytes" in got[4096]


@pytest.mark.parametrize(
    "body,needle",
    [
        ("parameters: {array_2d.rowz: [8]}", "parameters.array_2d.rowz: unknown parameter 'array_2d.rowz'"),
        ("parameters: {workload.seq_len: [8]}", "unknown parameter 'workload.seq_len'"),
        ("parameters: {array_2d.rows: []}", "parameters.array_2d.rows: empty grid"),
        ("parameters: {array_2d.rows: {start: 64, stop: 8, step: 8}}", "parameters.array_2d.rows: empty grid"),
        (
            "parameters: {array_2d.rows: [8]}\nconstraints: [array_2d.rows < budget]",
            "constraints[0]: 'array_2d.rows < budget' names 'budget'",
        ),
        (
            "parameters: {array_2d.rows: [8]}\nderived: {array_1d.pes: nope * 2}",
            "derived.array_1d.pes: 'nope * 2' names 'nope'",
        ),
        ("parameters: {array_2d.rows: [8.5]}", "parameters.array_2d.rows[0]: expected an integer"),
        ("parameters: {array_2d.dataflow: [xs]}", "parameters.array_2d.dataflow[0]: expected one of os, ws, is"),
        ("parameters: {clock_hz: {uniform: [1, 2]}}", "samples: missing"),
        ("parameters: {array_2d.rows: [8]}\nsamples: 3", "samples: given but no parameter is random"),
        ("parameters: {array_2d.rows: [8]}\nconstraints: [__import__('os').system('true')]", "only calls of"),
        (
            "parameters: {array_2d.rows: [8]}\nconstraints: ['array_2d.rows.__class__ == 1']",
            "name 'array_2d.rows.__class__' is not allowed",
        ),
        ("parameters: {array_2d.rows: [8]}\nconstraints: ['[x for x in (1,)]']", "ListComp is not allowed"),
        ("parameters: {array_2d.rows: [8]}\nconstraints: [array_2d.rows > 100]", "no design point satisfies them"),
        (
            "parameters: {array_2d.rows: [8]}\nderived: {array_1d.pes: array_2d.rows / 3}",
            "derived.array_1d.pes: expected an integer",
        ),
        ("paramters: {array_2d.rows: [8]}", "unknown key 'paramters'"),
        (
            "parameters: {array_2d.rows: [8]}\nzip: {clock_hz: [1, 2], word_bits: [8]}",
            "zip: the lists differ in length",
        ),
        ("parameters: {array_2d.rows: [8]}\nlet: {clock_hz: 2}", "let.clock_hz: 'clock_hz' is already"),
        ("parameters: {array_2d.rows: [8]}\nlet: {a: b + 1, b: a * 2}", "depends on itself (a -> b -> a)"),
    ],
)
def test_bad_specs_are_refused_with_file_and_key(tmp_path, body, needle):
    path = write_spec(tmp_path, body)
    with pytest.raises(ConfigError) as e:
        sweep.load_spec(path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(path)), msg
    assert needle in msg, msg


def test_cli_refuses_bad_spec_in_one_line_before_running(tmp_path):
    path = write_spec(tmp_path, "parameters: {array_2d.rows: [8], array_2d.colz: [8]}")
    r = subprocess.run(
        [sys.executable, "-m", "attnkit", "sweep", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert r.stderr.startswith(f"attnkit: error: {path}: parameters.array_2d.colz: unknown parameter")
    assert not (tmp_path / "out").exists()


def test_expressions_are_safe_and_compute():
    e = sweep.Expr("max(a.b, 3) * 2 + log2(c) if a.b < 10 else -1", "here")
    assert e({"a.b": 4, "c": 8}) == 11 and e({"a.b": 40, "c": 8}) == -1
    for bad in ("open('x')", "a.__class__", "(lambda: 1)()", "a[0]", "globals()", "x := 1"):
        with pytest.raises(ConfigError):
            sweep.Expr(bad, "here")


@pytest.mark.parametrize(
    "expr, message",
    [
        ("pow(10, 10**8) > 1", "exponent 1e+08 is beyond 1024"),
        ("10 ** 10 ** 8", "exponent 1e+08 is beyond 1024"),
        ("2.0 ** (array_2d.rows * 100)", "exponent 1600 is beyond 1024"),
        ("(10 ** 500) ** 9", "bits, more than 4096"),
        ("'x' * 10 ** 9", "text cannot be multiplied"),
    ],
)
def test_unbounded_arithmetic_is_one_error_naming_the_expression(tmp_path, expr, message):
    """Evaluated as written, each of these would run for hours or fill the memory (the first hung a sweep)."""
    body = f'parameters:\n  array_2d.rows: [16]\nlet:\n  x: "{expr}"\n'
    with pytest.raises(ConfigError, match=rf"spec.yaml: let.x: .*{re.escape(message)}"):
        sweep.load_spec(write_spec(tmp_path, body))


def test_bounded_arithmetic_still_computes(tmp_path):
    body = "parameters:\n  array_2d.rows: [16]\nlet:\n  x: pow(2, 10) * 2 ** 3 - 0.5 ** 2\n  y: (-1) ** 2000\n"
    plan = sweep.load_spec(write_spec(tmp_path, body))
    i, j = plan.columns.index("x"), plan.columns.index("y")
    assert (plan.points[0][i], plan.points[0][j]) == (8191.75, 1)


def _reference_points(plan, grid, zipped, draws):
    """The points as the spec defines them, one at a time: arch x arch axes x workload x workload axes x zip
    rows x draws (the last fastest), a repeated point kept once, lets and derived keys in order, then the
    constraints over parameters."""
    import itertools

    from attnkit.params.kinds import split_key

    arch_keys = [k for k in grid if split_key(k)[0] == "arch"]
    wl_keys = [k for k in grid if split_key(k)[0] == "workload"]
    axes = [list(plan.archs), *[grid[k] for k in arch_keys], list(plan.workloads), *[grid[k] for k in wl_keys]]
    zip_rows = list(zip(*zipped.values())) or [()]
    out, seen, rejected = [], set(), 0
    for combo in itertools.product(*axes, zip_rows, draws):
        a, wl = combo[0], combo[1 + len(arch_keys)]
        g = dict(zip(arch_keys, combo[1 : 1 + len(arch_keys)])) | dict(zip(wl_keys, combo[2 + len(arch_keys) : -2]))
        values = (a, wl, *[g[k] for k in grid], *combo[-2], *combo[-1])
        pid = sweep.point_id(["arch", "workload", *plan.params], values)
        if pid in seen:
            continue
        seen.add(pid)
        env = {**sweep.base_env(plan, a, wl), "arch": a, "workload": wl, **dict(zip(plan.params, values[2:]))}
        for name, is_derived, e in plan.order:
            v = e(env)
            env[name] = sweep.convert_value(plan.archs, plan.workloads, name, v, "", "") if is_derived else v
        if not all(e(env) for e in plan.pre):
            rejected += 1
            continue
        out.append((pid, (*values, *[env[n] for n in [*plan.lets, *plan.derived]])))
    return out, rejected


@pytest.mark.parametrize("seed", range(6))
def test_expansion_equals_the_point_by_point_definition(tmp_path, seed):
    """Columns expanded at once (expressions once per distinct input) give the points, ids, order and
    types of evaluating the spec point by point, repeats and rejections included."""
    import random

    rng = random.Random(seed)
    rows = rng.sample([4, 8, 16, 32, 8], rng.randint(1, 5))  # may repeat 8
    body = f"""\
        parameters:
          array_2d.rows: {rows}
          clock_hz: {rng.sample([5.0e8, 1.0e9, 7.5e8], 2)}
          workload.m: [16, 32, 16, 64]
          word_bits: {{choice: [8, 16]}}
        samples: {rng.randint(1, 4)}
        seed: {seed}
        zip:
          array_2d.cols: [4, 8, 4]
          workload.n: [8, 16, 8]
        let:
          pes: array_2d.rows * array_2d.cols
          ratio: clock_hz / 1.0e9 + workload.k
        derived:
          array_1d.pes: array_2d.cols * 2 if pes > 64 else array_2d.cols
        constraints:
          - pes <= {rng.choice([64, 128, 512])}
          - workload.m * 4 >= array_2d.cols * 8 or word_bits == 16
          - workload.m != 64 or clock_hz < 6.0e+8
        """
    path = write_spec(tmp_path, body, workloads="[gemm.yaml, gemm2.yaml]")
    plan = sweep.load_spec(path)
    data = sweep.config.load_yaml(path)

    def typed(k, values):
        return [sweep.convert_value(plan.archs, plan.workloads, k, x, "", "") for x in values]

    grid = {k: typed(k, sweep._values(v, "", k)) for k, v in data["parameters"].items() if k != "word_bits"}
    zipped = {k: typed(k, v) for k, v in data["zip"].items()}
    spec_rng = random.Random(seed)  # the draws in the spec's order
    draws = [tuple(typed("word_bits", [sweep._draw(spec_rng, "choice", [8, 16])])) for _ in range(data["samples"])]
    want, rejected = _reference_points(plan, grid, zipped, draws)
    assert list(zip(plan.ids, plan.points)) == want
    assert (
        plan.rejected == rejected
        and rejected > 0
        and len(want) < len(grid["array_2d.rows"]) * 2 * 4 * 3 * 2 * len(draws)
    )
    assert all(type(x) is type(y) for (_, p), q in zip(want, plan.points) for x, y in zip(p, q))


def test_take_narrows_a_plan_to_a_sample():
    """A plan narrowed with take() holds those points only, their ids and values those of the full plan."""
    plan = sweep.load_spec("fusemax-arrays")
    pick = [3, 0, len(plan) - 1]
    sub = plan.take(pick)
    assert len(sub) == 3 and sub.points == [plan.points[i] for i in pick] and sub.ids == [plan.ids[i] for i in pick]
    with pytest.raises(IndexError, match="outside"):
        plan.take([len(plan)])
