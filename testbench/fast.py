"""The attention engine under Verilator with the clock and the stimulus in C++: no Python per cycle.

``run(sets, vectors, seed)`` checks the same problems as
:mod:`attnkit.testbench.attention_tb` (its :func:`problem`, :func:`beats`,
back-pressure rounds and the golden :func:`attnkit.models.attention.attention`),
bit for bit through :class:`attnkit.testbench.scoreboard.Scoreboard`, and each
problem's cycles against the ``rtl-attention`` cycle prediction. It returns
the record ``attnkit rtl-test attention --fast`` prints (vectors, mismatches,
latency_errors, cycles, predicted_cycles, sim_wall_s, build_s, ...). Unlike
the cocotb testbench it samples no functional coverage and reads no
``busy_cycles`` counter, and its back-pressure draws come from the harness's
own generator (the same problems stall, at other cycles).

The pieces, for other uses:

- :func:`build` compiles a block's Verilog with ``stream_harness.cpp`` (a
  generic Verilator main for one input stream ``i`` and one output stream
  ``o`` of any payload width) into ``build/rtl/<block>-fast-<hash>/obj/harness``,
  keyed by the Verilog and the tool arguments; a second build of the same
  design only recompiles the harness if it changed.
- :func:`simulate` writes the problems' input beats to a file per harness
  process (``jobs`` of them, each a contiguous share of the problems), runs
  the binaries at once (reset, every beat handshaken on ``i``, ``o.ready``
  dropped at random where asked, a per-problem cycle limit) and returns per
  problem the output beats, cycles (less stalls) and stalls, and the wall
  time of the C++ cycle loops alone.
- :func:`prepare` and :func:`score` are the attention testbench's stimulus
  and check, split so a test can tamper with an expectation in between.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.hw import blocks
from attnkit.testbench import runner, toolchain

HARNESS = Path(__file__).with_name("stream_harness.cpp")
# Verilator's own arguments as the cocotb runner builds with; the class is always Vdut for the harness.
FAST_ARGS = runner.VERILATOR_ARGS + ["--prefix", "Vdut"]
STALL_ONE = 1 << 16            # the harness's unit of P(o.ready low)
VERILATED, MADE_WITH = "verilated.ok", "make_flags.txt"   # stamps in the object directory
# gcc -O3 on the model of a large design takes longer than the simulation it saves for a few problems,
# so such models compile at -O1. Measured at 16x16, d 64, N 1024 (6 MB of Verilog) on a loaded 2-core
# machine: make 100 s at -O1 against 974 s at -O3, which then simulates 2.3x faster (100k cycles in
# 16.8 against 7.2 CPU seconds): -O3 pays off from about 10 problems of 528k cycles.
BIG_VERILOG_CHARS = 2_000_000


def make_flags_for(verilog: str) -> str:
    """The make variables the model compiles with: the cocotb runner's, -O1 for large designs."""
    if len(verilog) > BIG_VERILOG_CHARS:
        return runner.VERILATOR_MAKEFLAGS.replace("OPT_FAST=-O3", "OPT_FAST=-O1")
    return runner.VERILATOR_MAKEFLAGS


def _words(bits: int) -> int:
    return -(-bits // 32)


def build(block_name: str, params, build_root: str | Path = "build/rtl", verilog: str | None = None,
          log: Callable[[str], None] = lambda msg: None) -> tuple[Path, float]:
    """Compile ``block_name`` (built from ``params``) with the stream harness; returns (binary, seconds)."""
    reason = toolchain.unavailable_reason("verilator")
    if reason:
        raise AttnkitError(f"--fast: {reason}")
    block = blocks.get(block_name)
    verilog = verilog if verilog is not None else blocks.verilog_text(block, params)
    key = hashlib.sha256(f"fast:{FAST_ARGS}:{runner.VERILATOR_MAKEFLAGS}:{verilog}".encode()).hexdigest()[:12]
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

        if not (obj / VERILATED).exists():   # verilate once per design; make below redoes only what changed
            log(f"verilating {block.name} ({len(verilog) // 1000} kB of Verilog) in {build_dir}")
            sh(["verilator", *FAST_ARGS, "--cc", "--exe", "--top-module", block.name, "--Mdir", str(obj),
                "-o", "harness", str(HARNESS), str(src)])
            (obj / VERILATED).touch()
        make_flags = make_flags_for(verilog)
        if (obj / MADE_WITH).exists() and (obj / MADE_WITH).read_text() != make_flags:
            for f in [*obj.glob("*.o"), *obj.glob("*.a"), *obj.glob("*.gch"), obj / "harness"]:
                f.unlink(missing_ok=True)   # objects compiled with other flags
        (obj / MADE_WITH).write_text(make_flags)
        clock_h = clock_header(obj)
        if not (obj / "harness_clock.h").exists() or (obj / "harness_clock.h").read_text() != clock_h:
            (obj / "harness_clock.h").write_text(clock_h)
        sh(["make", "-s", "-C", str(obj), "-f", "Vdut.mk", f"-j{os.cpu_count() or 1}",
            *shlex.split(make_flags), "harness"])
        if make_flags != runner.VERILATOR_MAKEFLAGS:
            log(f"compiled with {make_flags} ({len(verilog) // 1000} kB of Verilog)")
    return obj / "harness", time.perf_counter() - t0


def clock_header(obj: Path) -> str:
    """``harness_clock.h`` for the model in ``obj``: the Verilator internals the harness's cheaper
    clocking needs (see stream_harness.cpp), defined only where this Verilator generated them."""
    prev = sorted(set(re.findall(r"\b__Vtrigprevexpr___TOP__clk__\d+\b", (obj / "Vdut___024root.h").read_text())))
    if len(prev) != 1:
        return "// no single clock edge member: settle every cycle\n"
    code = "".join(f.read_text() for f in sorted(obj.glob("Vdut___024root__*.cpp")))
    phases = all(re.search(rf"^bool Vdut___024root___eval_phase__{ph}\(Vdut___024root\* vlSelf\) {{", code, re.M)
                 for ph in ("act", "nba"))
    return f"#define CLK_PREV {prev[0]}\n" + ("#define EDGE_EVAL 1\n" if phases else "")


@dataclass
class Stimulus:
    """One problem for the harness: input beats (ints), how many output beats, P(o.ready low)."""
    beats: list[int]
    out_beats: int
    p_stall: float = 0.0


def simulate(binary: Path, stimuli: list[Stimulus], in_bits: int, out_bits: int, cycle_limit: int,
             seed: int = 1, work_dir: str | Path | None = None, settle_every_cycle: bool = False,
             jobs: int = 1) -> dict:
    """Run ``binary`` on ``stimuli``; returns outputs (per problem, a list of ints), cycles, stalls,
    status ("ok" or "watchdog"), wall_s (the C++ cycle loop only; with ``jobs`` > 1, the longest of
    the processes') and jobs (the processes run: no more than problems). ``jobs`` harness processes
    each take a contiguous share of the problems at once;
    a problem's back-pressure draws depend on its index and ``seed`` only, so the results are the same
    for any ``jobs``. ``settle_every_cycle`` runs the harness's reference clocking (an evaluation with
    the clock low in every cycle)."""
    if jobs < 1:
        raise AttnkitError(f"--jobs {jobs}: expected at least 1")
    iw, ow = _words(in_bits), _words(out_bits)
    work = Path(work_dir or binary.parent)
    work.mkdir(parents=True, exist_ok=True)
    jobs = min(jobs, max(1, len(stimuli)))
    bounds = [len(stimuli) * j // jobs for j in range(jobs + 1)]
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    files, procs = [], []
    try:
        for j in range(jobs):
            inp, outp, err = (work / f"{kind}-{tag}-{j}.bin" for kind in ("in", "out", "err"))
            files += [inp, outp, err]
            _write_input(inp, stimuli[bounds[j]:bounds[j + 1]], iw, ow, seed, cycle_limit, first=bounds[j])
            with open(err, "w") as err_file:
                procs.append(subprocess.Popen([str(binary), str(inp), str(outp)]
                                              + (["--settle-every-cycle"] if settle_every_cycle else []),
                                              stdout=subprocess.DEVNULL, stderr=err_file))
        result = {"outputs": [], "cycles": [], "stalls": [], "wall_s": 0.0, "status": "ok", "message": "",
                  "jobs": jobs}
        for j, proc in enumerate(procs):
            if result["status"] != "ok":
                proc.kill()         # results after the first failing share would not be a prefix
                proc.wait()
                continue
            proc.wait()
            chunk = _read_output(files[3 * j + 1], ow, proc.returncode, files[3 * j + 2].read_text().strip())
            for key in ("outputs", "cycles", "stalls"):
                result[key] += chunk[key]
            result["wall_s"] = max(result["wall_s"], chunk["wall_s"])
            result["status"], result["message"] = chunk["status"], chunk["message"]
        return result
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for f in files:
            f.unlink(missing_ok=True)


def _write_input(path: Path, stimuli: list[Stimulus], iw: int, ow: int, seed: int, cycle_limit: int, first: int):
    with open(path, "wb") as f:
        f.write(b"ATSI" + struct.pack("<III", iw, ow, len(stimuli)) + struct.pack("<QQI", seed, cycle_limit, first))
        for s in stimuli:
            f.write(struct.pack("<III", len(s.beats), s.out_beats, min(STALL_ONE - 1, round(s.p_stall * STALL_ONE))))
            f.write(b"".join(int(b).to_bytes(4 * iw, "little") for b in s.beats))


def _read_output(path: Path, ow: int, returncode: int, stderr: str) -> dict:
    if returncode or not path.exists():
        raise AttnkitError(f"the stream harness failed ({returncode}): {stderr}")
    data = path.read_bytes()
    if data[:4] != b"ATSO":
        raise AttnkitError(f"the stream harness wrote no result: {stderr}")
    done, status = struct.unpack_from("<II", data, 4)
    (wall,) = struct.unpack_from("<d", data, 12)
    pos, outputs, cycles, stalls = 20, [], [], []
    for _ in range(done):
        c, st, n = struct.unpack_from("<QQI", data, pos)
        pos += 20
        row = 4 * ow
        outputs.append([int.from_bytes(data[pos + j * row: pos + (j + 1) * row], "little") for j in range(n)])
        pos += n * row
        cycles.append(c)
        stalls.append(st)
    return {"outputs": outputs, "cycles": cycles, "stalls": stalls, "wall_s": wall,
            "status": {0: "ok", 1: "watchdog"}.get(status, f"status {status}"), "message": stderr}


@dataclass
class Case:
    """One attention problem: its kind, the golden output rows and the harness stimulus."""
    kind: str
    want: list[tuple]
    stimulus: Stimulus


def prepare(p, vectors: int, seed: int) -> tuple[list[Case], float]:
    """The problems attention_tb checks for this seed (same generator, kinds and back-pressure rounds)
    with their golden outputs; returns (cases, seconds in the golden model)."""
    from attnkit.models.attention import attention
    from attnkit.testbench.attention_tb import P_STALL, backpressure, beats, problem

    rng = np.random.default_rng(seed)
    cases, t0 = [], time.perf_counter()
    for k in range(vectors):
        q, kk, v, mask, kind = problem(p, k, rng)
        want = attention(q, kk, v, p.numerics, mask=mask, causal=p.causal, tile_k=p.rows)
        cases.append(Case(kind, [tuple(r) for r in want.tolist()],
                          Stimulus(beats(p, q, kk, v, mask), p.seq_len, P_STALL if backpressure(k) else 0.0)))
    return cases, time.perf_counter() - t0


def score(p, cases: list[Case], sim: dict, predicted: int) -> dict:
    """Every output row against the golden one, and every problem's cycles against ``predicted``."""
    from attnkit.testbench.attention_tb import unpack
    from attnkit.testbench.scoreboard import Scoreboard

    d, ow = p.head_dim, p.numerics.out_fmt.width
    sb = Scoreboard("out", [])
    for k, case in enumerate(cases):
        sb.expect(case.want)
        if k >= len(sim["outputs"]):
            continue
        for r, value in enumerate(sim["outputs"][k]):
            sb.check(tuple(unpack(value, d, ow)), problem=k, kind=case.kind, row=r)
        if len(sim["outputs"][k]) < len(case.want):
            sb.drop_pending(problem=k)
    r = sb.result()
    cyc = sim["cycles"]
    return {"vectors": len(cyc), "mismatches": r["mismatches"] + r["missing"],
            "latency_errors": sum(c != predicted for c in cyc) + (len(cases) - len(cyc)),
            "cycles": cyc[0] if cyc else 0, "predicted_cycles": predicted,
            "cycles_per_problem": sorted(set(cyc)), "output_stalls": sum(sim["stalls"]),
            "first_mismatches": r["first_mismatches"]}


def run(sets: Iterable[str] = (), vectors: int = 100, seed: int = 1, build_root: str | Path = "build/rtl",
        log: Callable[[str], None] = lambda msg: None, jobs: int | None = None) -> dict:
    """Build, simulate and check ``vectors`` attention problems in ``jobs`` harness processes (default:
    one per core); the ``rtl-test --fast`` record (``cycles_per_s`` counts all processes' cycles over
    the run's wall time)."""
    from attnkit.sim.engines.rtl_attention import cycles as predict

    sets = list(sets)
    if vectors < 1:
        raise AttnkitError(f"--vectors {vectors}: expected at least 1")
    jobs = jobs if jobs is not None else os.cpu_count() or 1
    if jobs < 1:
        raise AttnkitError(f"--jobs {jobs}: expected at least 1")
    p = blocks.get("attention").load_params(sets)
    log(f"rtl-test attention --fast: {p.rows}x{p.cols}, d={p.head_dim}, N={p.seq_len}, {vectors} vectors, seed {seed}")
    binary, build_s = build("attention", p, build_root, log=log)
    log(f"built in {build_s:.1f} s; golden model for {vectors} problems")
    cases, model_s = prepare(p, vectors, seed)
    predicted = predict(p, "event")
    # a problem takes its predicted cycles plus its stalls (each output row waits a geometric number)
    limit = 2 * predicted + 1000 + 20 * p.seq_len
    t0 = time.perf_counter()
    sim = simulate(binary, [c.stimulus for c in cases], p.payload_width, p.head_dim * p.numerics.out_fmt.width,
                   limit, seed=seed, jobs=jobs)
    run_s = time.perf_counter() - t0
    result = {"block": "attention", "simulator": "verilator-fast", **score(p, cases, sim, predicted), "seed": seed,
              "sets": sets, "jobs": sim["jobs"], "sim_wall_s": round(sim["wall_s"], 4), "model_wall_s": round(model_s, 4),
              "cycles_per_s": round((sum(sim["cycles"]) + sum(sim["stalls"])) / sim["wall_s"]) if sim["wall_s"] > 0 else 0,
              "build_s": round(build_s, 3), "run_s": round(run_s, 3), "log": str(binary.parent.parent / "build.log")}
    if sim["status"] != "ok":
        result["watchdog"] = f"attention --fast: {sim['message']} (seed {seed})"
    return result
