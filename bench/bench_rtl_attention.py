"""The RTL attention engine: simulated cycles per second under Verilator (cocotb and the C++ harness) and Amaranth.

Same engine (4x4 array, head dim 16, 72 tokens: the shipped rtl-attention
configs), same stimulus: the 24 problems of seed 1, back-pressure rounds
included. The cocotb figure is the testbench's simulated cycles over the wall
time spent in the simulator and its drive loop (the golden model's time is
excluded; cocotb start-up is outside the loop). The fast figure
(:mod:`attnkit.testbench.fast`, ``rtl-test --fast``) is the C++ harness's
simulated cycles (stalls included) over the wall time of its cycle loop; its
CPU-time figure (the harness process's user time, file reading included) says
what the machine's other load takes away; the harness once more in one process
per core (``--jobs``, each a share of the problems) gives the throughput of
independent problems on this machine. The Amaranth figure is a whole
problem in ``amaranth.sim`` (:mod:`attnkit.testbench.pysim`). All three are checked bit for bit and cycle for
cycle before they count.
"""

import os
import resource
import tempfile
import time

from attnkit.hw import blocks
from attnkit.sim.engines.rtl_attention import cycles as predict
from attnkit.testbench import fast, pysim, runner, streams

SETS = ["array_2d.rows=4", "array_2d.cols=4", "workload.head_dim=16", "workload.seq_len=72"]
PROBLEMS = 24


def run():
    block = blocks.get("attention")
    p, bench = block.load_params(SETS), streams.bench_of(block)
    with tempfile.TemporaryDirectory() as tmp:
        runner.run("attention", SETS, vectors=1, seed=1, build_root=tmp)  # build outside the timing
        r = runner.run("attention", SETS, vectors=PROBLEMS, seed=1, build_root=tmp)
        binary, build_s = fast.build("attention", p, tmp)
        cases = bench.cases(p, PROBLEMS, seed=1)

        def harness(jobs):
            return fast.simulate(
                binary,
                cases,
                p.payload_width,
                p.head_dim * p.numerics.out_fmt.width,
                cycle_limit=10 * predict(p, "event"),
                jobs=jobs,
            )

        t0 = time.perf_counter()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        sim = harness(1)
        cpu_s = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - cpu0
        process_s = time.perf_counter() - t0
        par = harness(os.cpu_count() or 1)
        jobs = par["jobs"]
    assert streams.digest(par["traces"]) == streams.digest(sim["traces"]) == r["trace_digest"]
    assert r["mismatches"] == 0 and r["latency_errors"] == 0, r["first_mismatches"]
    f = streams.score(bench, p, cases, sim["traces"])
    assert (f["checked"], f["mismatches"], f["missing"], f["latency_errors"]) == (PROBLEMS, 0, 0, 0), f[
        "first_mismatches"
    ]
    veri = r["cycles_per_s"]
    fast_cycles = f["simulated_cycles"]
    fast_rate, fast_cpu_rate = fast_cycles / sim["wall_s"], fast_cycles / cpu_s
    a = pysim.run(bench, p, cases[:1])
    assert streams.digest(a["traces"]) == streams.digest(sim["traces"][:1])
    ama = a["cycles_per_s"]
    return [
        {
            "name": "rtl_attention 4x4 d16 N72: cocotb + Verilator",
            "value": veri,
            "unit": "cycles/s",
            "note": f"{r['vectors']} problems, {r['simulated_cycles']} cycles in {r['sim_wall_s']} s",
        },
        {
            "name": "rtl_attention 4x4 d16 N72: C++ harness + Verilator (--fast)",
            "value": fast_rate,
            "unit": "cycles/s",
            "note": f"{fast_cycles} cycles ({f['output_stalls']} stalls) in {sim['wall_s']:.3f} s of cycle loop,"
            f" {process_s:.3f} s with the process and files; {fast_rate / veri:.1f}x cocotb,"
            f" {fast_rate / ama:.0f}x Amaranth; model built in {build_s:.0f} s",
        },
        {
            "name": "rtl_attention 4x4 d16 N72: C++ harness, per CPU second",
            "value": fast_cpu_rate,
            "unit": "cycles/s",
            "note": f"{cpu_s:.3f} s of user time in the harness process",
        },
        {
            "name": f"rtl_attention 4x4 d16 N72: C++ harness, {jobs} processes (--jobs {jobs})",
            "value": fast_cycles / par["wall_s"],
            "unit": "cycles/s",
            "note": f"all processes' cycles over the longest cycle loop ({par['wall_s']:.3f} s); the same results as one",
        },
        {
            "name": "rtl_attention 4x4 d16 N72: Amaranth Python simulator",
            "value": ama,
            "unit": "cycles/s",
            "note": f"{a['total_cycles']} cycles in {a['wall_s']:.2f} s",
        },
        {"name": "rtl_attention: Verilator / Amaranth", "value": veri / ama, "unit": "x"},
        {"name": "rtl_attention: C++ harness / cocotb", "value": fast_rate / veri, "unit": "x"},
        {
            "name": "rtl_attention 4x4 d16 N72: steady-state array utilisation (RTL counter)",
            "value": r["steady_util_2d"],
            "unit": "fraction",
            "note": f"{r['array_busy_cycles']} busy of {r['array_window_cycles']} cycles from the first QK beat to the last PV slot",
        },
    ]
