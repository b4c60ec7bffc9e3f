"""Every stream block under Verilator: simulated cycles per second under cocotb and under the C++ harness.

Each block's bench (:mod:`attnkit.testbench.streams`) gives the cases; the
generic cocotb test and the harness (``rtl-test BLOCK --fast``, one process)
run them through the same source and sink, so the two runs simulate the same
cycles (their traces are checked equal) and both are bit- and cycle-exact
before they count. A figure is the cycles simulated over the wall time of the
drive loop (cocotb: the simulator and the Python loop; harness: its C++
cycle loop); builds, the golden model and start-up are outside it.
"""

from attnkit.testbench import fast, runner

# vectors per block: a few seconds of cocotb each
RUNS = {
    "exp": ([], 20_000),
    "recip": ([], 20_000),
    "gelu": ([], 20_000),
    "softmax": ([], 5_000),
    "merge": ([], 5_000),
    "decode": ([], 8),
    "attention": ([], 8),
}


def run():
    rows = []
    for block, (sets, vectors) in RUNS.items():  # builds keyed by their Verilog under build/rtl, as rtl-test's
        runner.run(block, sets, vectors=1, seed=1)  # build outside the timing
        c = runner.run(block, sets, vectors=vectors, seed=1)
        f = fast.run(block, sets, vectors=vectors, seed=1, jobs=1)
        for r in (c, f):
            assert r["mismatches"] == 0 and r["latency_errors"] == 0 and "watchdog" not in r, r["first_mismatches"]
        assert c["trace_digest"] == f["trace_digest"] and c["simulated_cycles"] == f["simulated_cycles"], block
        n = f"{c['vectors']} vectors, {c['simulated_cycles']:,} cycles"
        rows += [
            {
                "name": f"rtl_{block}: cocotb + Verilator",
                "value": c["cycles_per_s"],
                "unit": "cycles/s",
                "note": f"{n} in {c['sim_wall_s']} s",
            },
            {
                "name": f"rtl_{block}: C++ harness + Verilator (--fast)",
                "value": f["cycles_per_s"],
                "unit": "cycles/s",
                "note": f"{n} in {f['sim_wall_s']} s",
            },
            {"name": f"rtl_{block}: C++ harness / cocotb", "value": f["cycles_per_s"] / c["cycles_per_s"], "unit": "x"},
        ]
    return rows
