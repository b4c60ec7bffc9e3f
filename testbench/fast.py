"""Stream blocks under Verilator with the clock and the stimulus in C++: no Python per cycle.

``run(block, sets, vectors, seed)`` checks the cases of the block's
:class:`~attnkit.testbench.streams.StreamBench` (the same cases, flow
schedules, golden outputs and cycle predictions as its cocotb testbench) bit
for bit through :class:`attnkit.testbench.scoreboard.Scoreboard` and cycle
for cycle (:func:`attnkit.testbench.streams.score`), and returns the record
``attnkit rtl-test BLOCK --fast`` prints (vectors, mismatches,
latency_errors, cycles, predicted_cycles, sim_wall_s, build_s, ...). The
harness runs the same source and sink as the cocotb test, so the traces are
the same (``trace_digest``); it samples no functional coverage and reads no
``busy_cycles`` counter (those stay in the cocotb testbenches).

The pieces, for other uses:

- :func:`build` compiles a block's Verilog with ``stream_harness.cpp`` (a
  generic Verilator main for one input stream ``i`` and one output stream
  ``o`` of any payload width) into ``build/rtl/<block>-fast-<hash>/obj/harness``,
  keyed by the Verilog and the tool arguments; a second build of the same
  design only recompiles the harness if it changed.
- :func:`simulate` writes the cases (input beats, expected output count,
  flow schedule) to a file per harness process (``jobs`` of them, each a
  contiguous share of the cases), runs the binaries at once and returns per
  case the :class:`~attnkit.testbench.streams.Trace`, and the wall time of
  the C++ cycle loops alone.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import struct
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.hw import blocks
from attnkit.testbench import runner, streams, toolchain

HARNESS = Path(__file__).with_name("stream_harness.cpp")
# Verilator's own arguments as the cocotb runner builds with; the class is always Vdut for the harness.
FAST_ARGS = runner.VERILATOR_ARGS + ["--prefix", "Vdut"]
VERILATED, MADE_WITH = "verilated.ok", "make_flags.txt"  # stamps in the object directory
# gcc -O3 on the model of a large design takes longer than the simulation it saves for a few problems,
# so such models compile at -O1. Measured at 16x16, d 64, N 1024 (6 MB of Verilog) on a loaded 2-core
# machine: make 100 s at -O1 against 974 s at -O3, which then simulates 2.3x faster (100k cycles in
# 16.8 against 7.2 CPU seconds): -O3 pays off from about 10 problems of 528k cycles.
BIG_VERILOG_CHARS = 2_000_000


def make_flags_for(verilog: str) -> str:
    """The make variables the model compiles with: the cocotb runner's, -O1 for large designs unless
    ATTNKIT_VERILATOR_OPT chooses."""
    big = len(verilog) > BIG_VERILOG_CHARS and not os.environ.get(runner.OPT_ENV)
    return runner.make_flags("-O1" if big else None)


def _words(bits: int) -> int:
    return -(-bits // 32)


def build(
    block_name: str,
    params,
    build_root: str | Path = "build/rtl",
    verilog: str | None = None,
    log: Callable[[str], None] = lambda msg: None,
) -> tuple[Path, float]:
    """Compile ``block_name`` (built from ``params``) with the stream harness; returns (binary, seconds)."""
    reason = toolchain.unavailable_reason("verilator")
    if reason:
        raise AttnkitError(f"--fast: {reason}")
    block = blocks.get(block_name)
    verilog = verilog if verilog is not None else blocks.verilog_text(block, params)
    key = hashlib.sha256(f"fast:{FAST_ARGS}:{runner.make_flags()}:{verilog}".encode()).hexdigest()[:12]
    build_dir = Path(build_root).resolve() / f"{block.name}-fast-{key}"
    obj = build_dir / "obj"
    src = build_dir / f"{block.name}.v"
    build_dir.mkdir(parents=True, exist_ok=True)
    if not src.exists() or src.read_text() != verilog:
        src.write_text(verilog)
    log_path = build_dir / "build.log"
    t0 = time.perf_counter()
    with open(log_path, "a") as out:

        def sh(cmd):
            out.write("$ " + shlex.join(cmd) + "\n")
            out.flush()
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode:
                raise AttnkitError(f"verilator could not build {block.name} with the stream harness (see {log_path})")

        if not (obj / VERILATED).exists():  # verilate once per design; make below redoes only what changed
            log(f"verilating {block.name} ({len(verilog) // 1000} kB of Verilog) in {build_dir}")
            sh(
                [
                    "verilator",
                    *FAST_ARGS,
                    "--cc",
                    "--exe",
                    "--top-module",
                    block.name,
                    "--Mdir",
                    str(obj),
                    "-o",
                    "harness",
                    str(HARNESS),
                    str(src),
                ]
            )
            (obj / VERILATED).touch()
        make_flags = make_flags_for(verilog)
        if (obj / MADE_WITH).exists() and (obj / MADE_WITH).read_text() != make_flags:
            for f in [*obj.glob("*.o"), *obj.glob("*.a"), *obj.glob("*.gch"), obj / "harness"]:
                f.unlink(missing_ok=True)  # objects compiled with other flags
        (obj / MADE_WITH).write_text(make_flags)
        clock_h = clock_header(obj)
        if not (obj / "harness_clock.h").exists() or (obj / "harness_clock.h").read_text() != clock_h:
            (obj / "harness_clock.h").write_text(clock_h)
        sh(
            [
                "make",
                "-s",
                "-C",
                str(obj),
                "-f",
                "Vdut.mk",
                f"-j{os.cpu_count() or 1}",
                *shlex.split(make_flags),
                *shlex.split(runner.OBJCACHE),
                "harness",
            ]
        )
        if make_flags != runner.make_flags():
            log(f"compiled with {make_flags} ({len(verilog) // 1000} kB of Verilog)")
    return obj / "harness", time.perf_counter() - t0


def clock_header(obj: Path) -> str:
    """``harness_clock.h`` for the model in ``obj``: the Verilator internals the harness's cheaper
    clocking needs (see stream_harness.cpp), defined only where this Verilator generated them."""
    prev = sorted(set(re.findall(r"\b__Vtrigprevexpr___TOP__clk__\d+\b", (obj / "Vdut___024root.h").read_text())))
    if len(prev) != 1:
        return "// no single clock edge member: settle every cycle\n"
    code = "".join(f.read_text() for f in sorted(obj.glob("Vdut___024root__*.cpp")))
    phases = all(
        re.search(rf"^bool Vdut___024root___eval_phase__{ph}\(Vdut___024root\* vlSelf\) {{", code, re.M)
        for ph in ("act", "nba")
    )
    return f"#define CLK_PREV {prev[0]}\n" + ("#define EDGE_EVAL 1\n" if phases else "")


def simulate(
    binary: Path,
    cases: list,
    in_bits: int,
    out_bits: int,
    cycle_limit: int,
    work_dir: str | Path | None = None,
    settle_every_cycle: bool = False,
    jobs: int = 1,
) -> dict:
    """Run ``binary`` on ``cases`` (:class:`attnkit.testbench.streams.Case`: beats, expected count, flow);
    returns traces (per case run, a :class:`~attnkit.testbench.streams.Trace`), status ("ok" or "watchdog"),
    message, wall_s (the C++ cycle loop only; with ``jobs`` > 1, the longest of the processes') and jobs
    (the processes run: no more than cases). ``jobs`` harness processes each take a contiguous share of
    the cases at once; the flow is in the cases, so the results are the same for any ``jobs``.
    ``cycle_limit``: the cycles a case may go without an expected output (the watchdog).
    ``settle_every_cycle`` runs the harness's reference clocking (an evaluation with the clock low in every
    cycle)."""
    if jobs < 1:
        raise AttnkitError(f"--jobs {jobs}: expected at least 1")
    iw, ow = _words(in_bits), _words(out_bits)
    idle = streams.idle_beats(in_bits)
    work = Path(work_dir or binary.parent)
    work.mkdir(parents=True, exist_ok=True)
    jobs = min(jobs, max(1, len(cases)))
    bounds = [len(cases) * j // jobs for j in range(jobs + 1)]
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    files, procs = [], []
    try:
        for j in range(jobs):
            inp, outp, err = (work / f"{kind}-{tag}-{j}.bin" for kind in ("in", "out", "err"))
            files += [inp, outp, err]
            _write_input(inp, cases[bounds[j] : bounds[j + 1]], iw, ow, idle, cycle_limit, first=bounds[j])
            with open(err, "w") as err_file:
                procs.append(
                    subprocess.Popen(
                        [str(binary), str(inp), str(outp)] + (["--settle-every-cycle"] if settle_every_cycle else []),
                        stdout=subprocess.DEVNULL,
                        stderr=err_file,
                    )
                )
        result = {"traces": [], "wall_s": 0.0, "status": "ok", "message": "", "jobs": jobs}
        for j, proc in enumerate(procs):
            if result["status"] != "ok":
                proc.kill()  # results after the first failing share would not be a prefix
                proc.wait()
                continue
            proc.wait()
            chunk = _read_output(files[3 * j + 1], ow, proc.returncode, files[3 * j + 2].read_text().strip())
            result["traces"] += chunk["traces"]
            result["wall_s"] = max(result["wall_s"], chunk["wall_s"])
            result["status"], result["message"] = chunk["status"], chunk["message"]
        return result
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for f in files:
            f.unlink(missing_ok=True)


def _write_input(path: Path, cases: list, iw: int, ow: int, idle: list[int], cycle_limit: int, first: int):
    def words(values, n):
        return b"".join(int(v).to_bytes(4 * n, "little") for v in values)

    with open(path, "wb") as f:
        f.write(b"ATS2" + struct.pack("<III", iw, ow, len(cases)) + struct.pack("<QI", cycle_limit, first))
        for c in cases:
            gaps, ready, stalls = c.gaps or [], c.ready or [], c.stalls or []
            f.write(struct.pack("<6I", len(c.beats), len(c.want), len(gaps), len(ready), len(stalls), len(idle)))
            f.write(words(c.beats, iw))
            f.write(
                np.asarray(gaps, "<u4").tobytes()
                + np.asarray(ready, "u1").tobytes()
                + np.asarray(stalls, "u1").tobytes()
            )
            f.write(words(idle, iw))


def _read_output(path: Path, ow: int, returncode: int, stderr: str) -> dict:
    if returncode or not path.exists():
        raise AttnkitError(f"the stream harness failed ({returncode}): {stderr}")
    data = path.read_bytes()
    if data[:4] != b"ATO2":
        raise AttnkitError(f"the stream harness wrote no result: {stderr}")
    done, status = struct.unpack_from("<II", data, 4)
    (wall,) = struct.unpack_from("<d", data, 12)
    pos, traces = 20, []
    for _ in range(done):
        cycles, sent, got, extra = struct.unpack_from("<QIII", data, pos)
        pos += 20
        row = 4 * ow
        outputs = [int.from_bytes(data[pos + j * row : pos + (j + 1) * row], "little") for j in range(got)]
        pos += got * row
        acc = np.frombuffer(data, "<u8", sent, pos).tolist()
        pos += 8 * sent
        taken = np.frombuffer(data, "<u8", got, pos).tolist()
        pos += 8 * got
        held = np.frombuffer(data, "<u8", got, pos).tolist()
        pos += 8 * got
        traces.append(streams.Trace(outputs, acc, taken, held, cycles, extra))
    return {
        "traces": traces,
        "wall_s": wall,
        "status": {0: "ok", 1: "watchdog"}.get(status, f"status {status}"),
        "message": stderr,
    }


def run(
    block_name: str,
    sets: Iterable[str] = (),
    vectors: int = 100,
    seed: int = 1,
    build_root: str | Path = "build/rtl",
    log: Callable[[str], None] = lambda msg: None,
    jobs: int | None = None,
) -> dict:
    """Build ``block_name`` with the harness, run its bench's cases for ``vectors`` and ``seed`` in ``jobs``
    harness processes (default: one per core) and score them; the ``rtl-test --fast`` record
    (``cycles_per_s`` counts all processes' cycles over the longest cycle loop)."""
    sets = list(sets)
    if vectors < 1:
        raise AttnkitError(f"--vectors {vectors}: expected at least 1")
    jobs = jobs if jobs is not None else os.cpu_count() or 1
    if jobs < 1:
        raise AttnkitError(f"--jobs {jobs}: expected at least 1")
    block = blocks.get(block_name)
    bench = streams.bench_of(block)
    p = block.load_params(sets)
    streams.check_widths(bench, p, streams.inspected(block.component(p)))
    log(f"rtl-test {block.name} --fast: {vectors} vectors, seed {seed}")
    binary, build_s = build(block.name, p, build_root, log=log)
    t0 = time.perf_counter()
    cases = bench.cases(p, vectors, seed)
    model_s = time.perf_counter() - t0
    log(f"built in {build_s:.1f} s; {len(cases)} cases from the golden model in {model_s:.1f} s")
    limit = streams.watchdog_limit(bench.watchdog_gap(p, cases))
    t0 = time.perf_counter()
    sim = simulate(
        binary, cases, streams.width(bench.in_layout(p)), streams.width(bench.out_layout(p)), limit, jobs=jobs
    )
    run_s = time.perf_counter() - t0
    r = streams.score(bench, p, cases, sim["traces"])
    result = {
        "block": block.name,
        "simulator": "verilator-fast",
        "vectors": r.pop("checked"),
        "mismatches": r.pop("mismatches") + r.pop("missing"),
        **r,
        "seed": seed,
        "sets": sets,
        "jobs": sim["jobs"],
        "sim_wall_s": round(sim["wall_s"], 4),
        "model_wall_s": round(model_s, 4),
        "cycles_per_s": round(r["simulated_cycles"] / sim["wall_s"]) if sim["wall_s"] > 0 else 0,
        "build_s": round(build_s, 3),
        "run_s": round(run_s, 3),
        "log": str(binary.parent.parent / "build.log"),
    }
    if sim["status"] != "ok":
        result["watchdog"] = f"{block.name} --fast: {sim['message']} (seed {seed})"
    return result
