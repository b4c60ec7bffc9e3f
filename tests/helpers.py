"""Helpers shared by several test modules: the CLI in a new process, the RTL blocks' sets and checks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import require_simulator

from attnkit.hw import blocks
from attnkit.params import kinds
from attnkit.sim import engines
from attnkit.testbench import runner

# The RTL test modules' builds, keyed by their Verilog text, so a rerun reuses them.
RTL_BUILD = Path(__file__).resolve().parent.parent / "build" / "rtl-tests"

# Edge-MoE's units at the small size the suite builds them at (linear 8x8, attention 2 lanes x 4 dims), as --set
# edits: seconds to compile where the shipped 16x16 and 4x8 take longer, and one build shared by the tests.
EDGEMOE_SMALL = {
    "edgemoe_linear": ["linear.in_size=8", "linear.out_size=8", "gelu.units=8", "in_dim=16", "out_dim=32"],
    "edgemoe_attention": ["attention.lanes=2", "attention.dims=4", "head_dim=16", "tokens=6"],
}

# (engine, arch) of the prefill designs: FuseMax, FLAT and unfused attention, the ablation steps between FLAT
# and FuseMax, and the whole layers (the model's GEMMs around the attention).
DESIGN_ENGINES = [("fusemax", "fusemax"), ("flat", "flat"), ("unfused", "unfused")]
ABLATION_ENGINES = [("fusemax-serial", "fusemax"), ("fusemax-cascade-flat", "flat")]
LAYER_ENGINES = [("fusemax-layer", "fusemax"), ("flat-layer", "flat")]


def attnkit_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m attnkit ARGS`` in a new process, from the current directory; its output captured as text."""
    return subprocess.run([sys.executable, "-m", "attnkit", *map(str, args)], capture_output=True, text=True)


def attnkit_json(*args: str | Path) -> Any:
    """``python -m attnkit ARGS`` (ARGS asking for --json): what it printed, parsed, after checking it exited 0."""
    r = attnkit_cli(*args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def assert_event_equals_closed(arch: str, workload: str, engine: str, sets: list[str]) -> None:
    """The event-driven run of ``engine`` takes the closed form's cycles and energy."""
    closed = engines.simulate(arch, workload, engine, sets=sets)
    event = engines.simulate(arch, workload, engine, sets=sets, mode="event")
    assert event.cycles == closed.cycles
    assert event.energy_pj == pytest.approx(closed.energy_pj)


def gemm_sets(rows: int, cols: int, df: str, m: int, n: int, k: int) -> list[str]:
    """The sets of an ``rows`` x ``cols`` systolic array with dataflow ``df`` running an m x n x k GEMM."""
    return [
        f"array_2d.rows={rows}",
        f"array_2d.cols={cols}",
        f"array_2d.dataflow={df}",
        f"workload.m={m}",
        f"workload.n={n}",
        f"workload.k={k}",
    ]


def attention_sets(R: int, C: int, d: int, n: int, causal: bool) -> list[str]:
    """The sets of the RTL attention engine on an R x C array: head dimension d, n tokens, causal or not."""
    return [
        f"array_2d.rows={R}",
        f"array_2d.cols={C}",
        f"workload.head_dim={d}",
        f"workload.seq_len={n}",
        f"workload.causal={str(causal).lower()}",
    ]


def decode_sets(units: int, batch: int, heads: int, kv: int, d: int, n: int, bn: int) -> list[str]:
    """The sets of the RTL decode engine: cores, key block, and the problem (kv K/V heads, context n)."""
    return [
        f"units={units}",
        f"kernels.block_n={bn}",
        f"workload.batch={batch}",
        f"workload.heads={heads}",
        f"workload.kv_heads={kv}",
        f"workload.head_dim={d}",
        f"workload.context={n}",
    ]


def check_rtl(
    block: str,
    sets: list[str],
    problems: int,
    seed: int,
    arch: str,
    workload: str,
    *,
    sim: str = "verilator",
    engine: str | None = None,
    modes: Iterable[str] = ("event", "closed"),
    predicted_from: list[str] | None = None,
) -> dict:
    """Run ``block``'s testbench on ``problems`` problems and check every output matches the golden model, the
    cycles per problem equal the engine's prediction on ``arch`` and ``workload`` in each of ``modes`` (from
    ``sets``, or ``predicted_from`` where given) and no latency errors; return the run's record."""
    require_simulator(sim)
    r = runner.run(block, sets, sim=sim, vectors=problems, seed=seed, build_root=RTL_BUILD)
    assert (r["vectors"], r["mismatches"]) == (problems, 0), r["first_mismatches"]
    arch_sets, wl_sets = kinds.split_sets(sets if predicted_from is None else predicted_from)
    for mode in modes:
        predicted = engines.simulate(
            kinds.load_arch(arch, arch_sets),
            workload,
            engine=engine,
            sets=["workload." + s for s in wl_sets],
            mode=mode,
        ).cycles
        assert r["cycles_per_problem"] == [predicted], mode
    assert r["latency_errors"] == 0
    return r


def run_wrong_dut(block: str, sets: list[str], vectors: int, seed: int, **wrong: Any) -> dict:
    """``block``'s testbench under Verilator against a DUT made wrong by ``wrong`` (runner.run's ``dut_sets`` or
    ``dut_wrap``): the run's record, for the caller to show the testbench caught it."""
    require_simulator("verilator")
    return runner.run(block, sets, vectors=vectors, seed=seed, build_root=RTL_BUILD, **wrong)


def assert_refused(block: str, error: type[Exception], sets: list[str], message: str) -> None:
    """Loading ``block``'s parameters with ``sets`` raises ``error``, its message containing ``message`` as is."""
    with pytest.raises(error, match=re.escape(message)):
        blocks.get(block).load_params(list(sets))
