"""attnkit as an installed package: the wheel in a fresh virtual environment, plugins from outside the
repository, the config search path and the examples/ scripts (the README's Python example: test_docs.py).

The wheel is built and installed once per session into a venv made by ``python -m venv``, its
dependencies kept between sessions (``fresh_venv``); every command then runs from a temporary
directory, so nothing can come from the source tree.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
CLONE = ".attnkit-clone"  # a kept venv names the source tree it was made for


def run(cmd, cwd, env=None, check=True):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} -> {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
    return p


def _requirements(wheel: Path) -> str:
    """The wheel's Requires-Python and Requires-Dist lines: what pip resolves its dependencies from."""
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    return "\n".join(line for line in lines if line.startswith(("Requires-Python:", "Requires-Dist:")))


def _stale_venvs(venvs: Path, keep: Path, idle_s: float = 86400.0) -> list[Path]:
    """The kept venvs under ``venvs``, other than ``keep``, that no session will use again: the clone they were
    made for is gone, or (made before venvs named their clone) no session has used them for ``idle_s``."""
    stale = []
    for v in sorted(p for p in venvs.iterdir() if p.is_dir() and p != keep):
        clone, stamp = v / CLONE, v / ".attnkit-session"
        if clone.is_file():
            gone = not Path(clone.read_text().strip()).is_dir()
        else:
            gone = time.time() - (stamp if stamp.is_file() else v).stat().st_mtime > idle_s
        if gone:
            stale.append(v)
    return stale


def test_kept_venvs_of_gone_clones_are_pruned(tmp_path):
    names = ("live", "gone", "idle", "recent", "this")
    live, gone, idle, recent, this = (tmp_path / n for n in names)
    for v in (live, gone, idle, recent, this):
        v.mkdir()
    (live / CLONE).write_text(str(ROOT))
    (gone / CLONE).write_text(str(tmp_path / "a-deleted-clone"))
    (this / CLONE).write_text(str(tmp_path / "a-deleted-clone"))  # this session's is never pruned
    for v, t in ((idle, 0), (recent, time.time())):
        (v / ".attnkit-session").write_text("x")
        os.utime(v / ".attnkit-session", (t, t))
    (tmp_path / "lock").write_text("")
    assert _stale_venvs(tmp_path, this) == [gone, idle]


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory, testrun_uid):
    """A venv made by ``python -m venv --without-pip`` with attnkit installed from this session's wheel (not
    editable).

    The wheel is built anew every session. The venv, with the dependencies pip resolved from the wheel's
    metadata, is kept outside the source tree (so a path from the tree still shows in what runs) in
    ~/.cache/attnkit/test-venv/, keyed by those requirements, this Python and this clone, as build/rtl keeps
    compiled models: a session that finds it replaces attnkit in it by the new wheel (pip uninstalls the old
    one's files first), so what runs is always this session's wheel; new requirements make a new venv.
    The xdist workers of one session share it: the first to take its lock installs, and stamps the session
    (``testrun_uid``), so the others use it as it is and nothing is installed while a test runs from it.
    The venvs of clones that are gone are removed then (:func:`_stale_venvs`): each holds a few hundred MB."""
    base = tmp_path_factory.mktemp("wheel")
    venvs = Path.home() / ".cache" / "attnkit" / "test-venv"
    venvs.mkdir(parents=True, exist_ok=True)
    with open(venvs / "lock", "w") as lock:  # also keeps two workers from building the wheel in one tree at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        run([PY, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base / "dist", ROOT], cwd=base)
        wheel = next((base / "dist").glob("attnkit-*.whl"))
        key = hashlib.sha256(f"{sys.version}\n{sys.base_prefix}\n{ROOT}\n{_requirements(wheel)}".encode()).hexdigest()
        venv = venvs / key[:12]
        vpy = venv / "bin" / "python"
        ready, session = venv / ".attnkit-deps-installed", venv / ".attnkit-session"
        if session.is_file() and session.read_text() == testrun_uid:
            return venv / "bin"
        # the suite's own pip installs into it (--python), so it needs none of its own, and without byte-
        # compiling the dependencies' files (Python compiles what runs): 6.5 s against 15.3 s
        pip = [PY, "-m", "pip", "--python", vpy]
        if ready.is_file():
            run([*pip, "install", "-q", "--no-compile", "--no-deps", "--force-reinstall", wheel], cwd=base)
        else:
            shutil.rmtree(venv, ignore_errors=True)
            run([PY, "-m", "venv", "--without-pip", venv], cwd=base)
            run([*pip, "install", "-q", "--no-compile", wheel], cwd=base)
            ready.write_text(_requirements(wheel) + "\n")
            (venv / CLONE).write_text(f"{ROOT}\n")
        run([*pip, "check"], cwd=base)  # every requirement of the wheel is installed and consistent
        session.write_text(testrun_uid)
        for stale in _stale_venvs(venvs, venv):
            shutil.rmtree(stale, ignore_errors=True)
    return venv / "bin"


@pytest.fixture
def elsewhere(tmp_path):
    """A working directory with no configs/ and no source tree, and an environment without our venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ATTNKIT_CONFIG_PATH", "VIRTUAL_ENV")}
    return tmp_path, env


def test_wheel_works_from_any_directory(fresh_venv, elsewhere):
    cwd, env = elsewhere
    kit = fresh_venv / "attnkit"
    sim = json.loads(run([kit, "simulate", "--arch", "fusemax", "--workload", "bert", "--json"], cwd, env).stdout)
    assert sim["engine"] == "fusemax" and sim["cycles"] > 0
    rows = json.loads(run([kit, "reproduce", "fusemax", "--json"], cwd, env).stdout)
    assert len([r for r in rows if r["row"] == "point"]) == 192
    assert (cwd / "build" / "reproduce" / "fusemax" / "results.csv").is_file()
    run([kit, "verilog", "mac", "-o", "v"], cwd, env)
    # measurements are package data too: a CSV beside its YAML
    val = json.loads(run([kit, "validate", "h200-pytorch-sdpa", "--arch", "h200", "--json"], cwd, env).stdout)
    assert len(val) == 34
    assert "module mac" in (cwd / "v" / "mac.v").read_text()
    # the HLS sources are package data: C-simulation builds them from the installed package
    csim = json.loads(run([kit, "csim", "gelu", "--vectors", "200", "--json"], cwd, env).stdout)
    assert csim["kernel"] == "gelu" and csim["vectors"] == 200 and csim["mismatches"] == 0
    # so is the C++ harness rtl-test --fast compiles
    harness = run(
        [fresh_venv / "python", "-c", "from attnkit.testbench import fast; print(fast.HARNESS.is_file())"], cwd, env
    ).stdout
    assert harness.strip() == "True"
    # the installed package is the one that ran, not the source tree
    where = run([fresh_venv / "python", "-c", "import attnkit.params.config as c; print(c.SHIPPED)"], cwd, env).stdout
    assert str(fresh_venv.parent) in where and str(ROOT) not in where
    # its version is the metadata's, by the script, by -m and from the source tree (one test: one venv to make)
    meta = run(
        [fresh_venv / "python", "-c", "import importlib.metadata as m; print(m.version('attnkit'))"], cwd, env
    ).stdout.strip()
    assert run([fresh_venv / "attnkit", "--version"], cwd, env).stdout.strip() == f"attnkit {meta}"
    assert run([fresh_venv / "python", "-m", "attnkit", "--version"], cwd, env).stdout.strip() == f"attnkit {meta}"
    assert run([PY, "-m", "attnkit", "--version"], cwd, env).stdout.strip().startswith("attnkit ")


# --- plugins -------------------------------------------------------------------------------------


def _install_plugin(src: Path, target: Path) -> None:
    """pip-install a plugin package into ``target`` (put on PYTHONPATH), leaving our venv untouched."""
    run([PY, "-m", "pip", "install", "-q", "--no-deps", "--target", target, src], cwd=src.parent)


def _plugin_package(root: Path, name: str, groups: dict[str, str], files: dict[str, str]) -> Path:
    """A minimal plugin distribution ``attnkit-<name>`` with package ``attnkit_<name>``: ``groups`` maps an
    entry-point group to its ``entry = module`` line, ``files`` a module file name to its text."""
    src, pkg = root / name, f"attnkit_{name}"
    (src / pkg).mkdir(parents=True)
    eps = "".join(f'[project.entry-points."{g}"]\n{line}\n' for g, line in groups.items())
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "attnkit-{name}"\nversion = "0.1"\n{eps}'
        f'[tool.setuptools]\npackages = ["{pkg}"]\n'
        f'[tool.setuptools.package-data]\n{pkg} = ["*.yaml"]\n'
    )
    for fname, text in {"__init__.py": "", **files}.items():
        (src / pkg / fname).write_text(text)
    return src


@pytest.fixture(scope="module")
def roofline_plugin(tmp_path_factory):
    base = tmp_path_factory.mktemp("plugin")
    src = base / "plugin_engine"
    shutil.copytree(ROOT / "examples" / "plugin_engine", src, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    _install_plugin(src, base / "site")
    return base / "site"


def _env_with(*paths: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(map(str, paths))
    env.pop("ATTNKIT_CONFIG_PATH", None)
    return env


def test_plugin_engine_in_simulate_and_sweep(roofline_plugin, tmp_path):
    env = _env_with(roofline_plugin)
    kit = [PY, "-m", "attnkit"]
    out = run(
        [*kit, "simulate", "--arch", "fusemax", "--workload", "bert", "--engine", "example-roofline", "--json"],
        tmp_path,
        env,
    ).stdout
    r = json.loads(out)
    listed = json.loads(run([*kit, "configs", "--engines", "--json"], tmp_path, env).stdout)
    assert {"name": "example-roofline"} in listed and {"name": "fusemax"} in listed
    # 2 N^2 d MACs per (batch, head) on 256 x 256 PEs: 64 * 12 * 2 * 1024^2 * 64 / 65536
    assert r["engine"] == "example-roofline" and r["compute_cycles"] == 64 * 12 * 2 * 1024**2 * 64 // 65536
    fusemax = json.loads(
        run([*kit, "simulate", "--arch", "fusemax", "--workload", "bert", "--json"], tmp_path, env).stdout
    )
    assert r["cycles"] <= fusemax["cycles"]  # a bound: the real engine can only be slower
    assert r["dram_bytes"] == fusemax["dram_bytes"]  # both move Q, K, V and O once
    spec = tmp_path / "roof.yaml"
    spec.write_text(
        "name: roof\narch: fusemax\nworkloads: [bert, xlm]\nengine: example-roofline\n"
        "parameters:\n  array_2d.rows: [64, 256]\n"
    )
    run([*kit, "sweep", spec, "--jobs", "2", "--out", tmp_path / "sw", "--no-progress"], tmp_path, env)
    lines = (tmp_path / "sw" / "results.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 and all("example-roofline" in line for line in lines[1:])
    # the kinds it declares are checked before it runs, in one line
    p = run(
        [*kit, "simulate", "--arch", "fusemax", "--workload", "decode", "--engine", "example-roofline"],
        tmp_path,
        env,
        check=False,
    )
    assert p.returncode == 2 and p.stderr == (
        "attnkit: error: engine example-roofline takes workload kind attention; workload 'decode' is decode\n"
    ), p.stderr
    # without the plugin on the path the engine is unknown, in one line
    p = run(
        [*kit, "simulate", "--arch", "fusemax", "--workload", "bert", "--engine", "example-roofline"],
        tmp_path,
        _env_with(),
        check=False,
    )
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "unknown engine 'example-roofline'" in p.stderr


def _simulate_with_engines_plugin(tmp_path: Path, name: str, init: str, *others: Path) -> subprocess.CompletedProcess:
    """Install plugin ``attnkit-<name>`` (one ``attnkit.engines`` entry point, its package's __init__.py ``init``)
    and run ``attnkit simulate`` with ``others`` and it on PYTHONPATH: the finished process, for the caller to check."""
    src = _plugin_package(tmp_path, name, {"attnkit.engines": f'{name} = "attnkit_{name}"'}, {"__init__.py": init})
    _install_plugin(src, tmp_path / "site")
    cmd = [PY, "-m", "attnkit", "simulate", "--arch", "fusemax", "--workload", "bert"]
    return run(cmd, tmp_path, _env_with(*others, tmp_path / "site"), check=False)


def test_plugin_defining_an_engine_twice_is_one_line(roofline_plugin, tmp_path):
    init = "from attnkit_roofline import roofline\nENGINES = {'example-roofline': roofline}\n"
    p = _simulate_with_engines_plugin(tmp_path, "dup", init, roofline_plugin)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "engine 'example-roofline' is defined twice" in p.stderr
    assert "attnkit-dup" in p.stderr and "attnkit-roofline" in p.stderr


def test_plugin_shadowing_a_builtin_engine_is_refused(tmp_path):
    p = _simulate_with_engines_plugin(tmp_path, "shadow", "ENGINES = {'fusemax': print}\n")
    assert p.returncode == 2 and "engine 'fusemax' is defined twice: by attnkit.sim.engines" in p.stderr


# --- the config search path ----------------------------------------------------------------------


def test_search_path_order_shadowing_and_misses(tmp_path, monkeypatch):
    from attnkit import api
    from attnkit.errors import ConfigError
    from attnkit.params import config

    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for root, clock in ((tmp_path / "configs", 1e9), (mine, 2e9), (theirs, 3e9)):
        (root / "arch").mkdir(parents=True)
        text = (config.SHIPPED / "arch" / "fusemax.yaml").read_text()
        (root / "arch" / "fusemax.yaml").write_text(text.replace("clock_hz: 940.0e+6", f"clock_hz: {clock}"))
    (theirs / "arch" / "only-theirs.yaml").write_text((config.SHIPPED / "arch" / "flat.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTNKIT_CONFIG_PATH", f"{mine}{os.pathsep}{theirs}")
    assert api.load_arch("fusemax").clock_hz == 1e9  # ./configs first
    (tmp_path / "configs" / "arch" / "fusemax.yaml").unlink()
    assert api.load_arch("fusemax").clock_hz == 2e9  # then ATTNKIT_CONFIG_PATH, in order
    assert api.load_arch("only-theirs").name == "flat"
    listing = {(r["folder"], r["name"]): r for r in api.configs("arch")}
    row = listing[("arch", "fusemax")]
    assert row["origin"] == "ATTNKIT_CONFIG_PATH" and row["path"] == str(mine / "arch" / "fusemax.yaml")
    assert row["shadows"] == [str(theirs / "arch" / "fusemax.yaml"), str(config.SHIPPED / "arch" / "fusemax.yaml")]
    assert listing[("arch", "flat")]["origin"] == "shipped"
    with pytest.raises(ConfigError) as e:
        api.load_arch("no-such-arch")
    for root in (tmp_path / "configs", mine, theirs, config.SHIPPED):
        assert str(root / "arch") in str(e.value)


def test_shadowed_name_is_noted_once_on_stderr(tmp_path):
    (tmp_path / "configs" / "workloads").mkdir(parents=True)
    shutil.copy(ROOT / "configs" / "workloads" / "bert.yaml", tmp_path / "configs" / "workloads" / "bert.yaml")
    p = run(
        [PY, "-m", "attnkit", "simulate", "--arch", "fusemax", "--workload", "bert", "--json"], tmp_path, _env_with()
    )
    json.loads(p.stdout)  # stdout stays one JSON value
    notes = [line for line in p.stderr.splitlines() if "is in 2 places" in line]
    assert len(notes) == 1 and str(tmp_path / "configs" / "workloads" / "bert.yaml") in notes[0]
    listing = json.loads(run([PY, "-m", "attnkit", "configs", "workloads", "--json"], tmp_path, _env_with()).stdout)
    bert = next(r for r in listing if r["name"] == "bert")
    assert bert["origin"] == "./configs" and len(bert["shadows"]) == 1


# --- examples that run ---------------------------------------------------------------------


def test_example_sweep_custom_arch(tmp_path):
    p = run([PY, ROOT / "examples" / "sweep_custom_arch.py", tmp_path / "out"], tmp_path, _env_with())
    assert "81 points" in p.stdout
    assert (tmp_path / "out" / "front.png").stat().st_size > 10_000


@pytest.mark.rtl
def test_example_rtl_block(tmp_path, rtl_build):
    # its compiled model goes to ./build/rtl: this module's cache of builds, keyed by their Verilog
    rtl_build.mkdir(parents=True, exist_ok=True)
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "rtl").symlink_to(rtl_build, target_is_directory=True)
    p = run([PY, ROOT / "examples" / "rtl_block.py", tmp_path / "out"], tmp_path, _env_with())
    assert "2000 vectors, 0 mismatches" in p.stdout
    assert (tmp_path / "out" / "mac.v").is_file()


def test_python_api_matches_the_cli(tmp_path):
    import attnkit

    api_record = attnkit.simulate("fusemax", "xlm", set={"workload.seq_len": 4096, "array_2d.rows": 128}).to_dict()
    cli = run(
        [
            PY,
            "-m",
            "attnkit",
            "simulate",
            "--arch",
            "fusemax",
            "--workload",
            "xlm",
            "--set",
            "workload.seq_len=4096",
            "--set",
            "array_2d.rows=128",
            "--json",
        ],
        tmp_path,
        _env_with(),
    )
    record = json.loads(cli.stdout)
    assert record.pop("kind") == "simulate"  # what a saved copy is: the one key the CLI adds
    assert record == json.loads(json.dumps(api_record))
    assert attnkit.load_arch("fusemax", set=["array_2d.rows=128"]).array_2d.rows == 128
    with pytest.raises(attnkit.errors.AttnkitError, match="unknown key 'rowz'"):
        attnkit.simulate("fusemax", "bert", set={"array_2d.rowz": 1})


def test_python_sweep_report_and_dataframe(tmp_path):
    import attnkit

    spec = tmp_path / "small.yaml"
    spec.write_text(
        "name: small\narch: fusemax\nworkloads: [bert]\nengine: fusemax\n"
        "parameters:\n  array_2d.rows: [64, 128, 256]\n  workload.seq_len: [1024, 4096]\n"
    )
    rows = attnkit.sweep(spec, out=tmp_path / "sw", jobs=1)
    assert len(rows) == 6 and rows.summary["points"] == 6
    by_shape = {(r["array_2d.rows"], r["workload.seq_len"]): r for r in rows}
    direct = attnkit.simulate("fusemax", "bert", set={"array_2d.rows": 128, "workload.seq_len": 4096})
    assert by_shape[(128, 4096)]["cycles"] == direct.cycles
    front = attnkit.pareto(tmp_path / "sw" / "results.csv", minimize=["latency_s", "area_mm2"], by=["workload.seq_len"])
    assert 2 <= len(front) <= 6
    frame = rows.to_pandas()
    assert list(frame["cycles"]) == [r["cycles"] for r in rows]
    out = attnkit.report([tmp_path / "sw"], tmp_path / "report")
    assert Path(out["report_html"]).is_file() and len(out["figures"]) >= 1


def test_plugin_block_and_figure_family(tmp_path):
    """An outside package adds an RTL block (here: the MAC under another name) and a figure family."""
    src = _plugin_package(
        tmp_path,
        "extras",
        {"attnkit.blocks": 'extras = "attnkit_extras.blocks"', "attnkit.figures": 'count = "attnkit_extras.fig_count"'},
        {
            "blocks.py": "from pathlib import Path\n"
            "from attnkit.hw.blocks import Block\n"
            "def _mac2():\n"
            "    from attnkit.hw.mac import Mac\n"
            "    from attnkit.params.numerics import MacParams\n"
            "    return Block('mac2', MacParams, Mac, 'attnkit.testbench.mac_tb', 'the MAC, from a plugin',\n"
            "                 config=Path(__file__).with_name('mac2.yaml'))\n"
            "BLOCKS = {'mac2': _mac2}\n",
            "mac2.yaml": "pipeline: 3\n",
            "fig_count.py": "from attnkit.reports.figure import Figure\n"
            "TITLE = 'Rows per input (plugin)'\nORDER = 99\n"
            "def figures(tables):\n"
            "    return [Figure('plugin-count', TITLE, None, [{'input': str(t.source), 'rows': len(t.rows)}\n"
            "                                                 for t in tables])]\n",
        },
    )
    _install_plugin(src, tmp_path / "site")
    env = _env_with(tmp_path / "site")
    kit = [PY, "-m", "attnkit"]
    run([*kit, "verilog", "mac2", "-o", tmp_path / "v", "--set", "pipeline=2"], tmp_path, env)
    assert "module mac2" in (tmp_path / "v" / "mac2.v").read_text()
    run(
        [*kit, "reproduce", "fusemax", "--models", "bert", "--seq-lens", "1024", "--out", tmp_path / "r"], tmp_path, env
    )
    run([*kit, "report", tmp_path / "r", "-o", tmp_path / "rep"], tmp_path, env)
    assert "Rows per input (plugin)" in (tmp_path / "rep" / "report.md").read_text()
