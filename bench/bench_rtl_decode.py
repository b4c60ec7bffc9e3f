"""The RTL decode engine: simulated cycles per second under Verilator (cocotb), and its cycle model's speed.

The shipped configs (configs/arch/rtl-decode-2core.yaml, configs/workloads/rtl-decode.yaml:
6 query heads on 3 KV heads, head dim 4, tiles of 8) at batch 2 and 256 keys, on 2
and on 4 cores. Verilator's figure is the testbench's simulated
cycles (every cycle of its drive loop, the back-pressured problems
with their stalls) over the wall time
spent in the simulator and its drive loop (the golden model's time excluded;
the build and cocotb's start-up are outside the loop). The cycle model's figure
is the wall time of one `rtl-decode` prediction (event-driven and closed form) at the
largest problem the RTL buffers (8,192 K rows: 2 KV groups of 4,096 keys, 1,024 tiles).
"""

import time

from attnkit.params import kinds
from attnkit.sim.engines.rtl_decode import cycles, params_of
from attnkit.testbench import runner

LONG = ["workload.batch=2", "workload.context=256"]
CONFIGS = {"2 cores": LONG, "4 cores": ["units=4"] + LONG}


def run():
    rows = []
    for label, sets in CONFIGS.items():  # builds keyed by their Verilog under build/rtl, as rtl-test's
        runner.run("decode", sets, vectors=1, seed=1)  # build outside the timing
        r = runner.run("decode", sets, vectors=24, seed=1)
        assert r["mismatches"] == 0 and r["latency_errors"] == 0, r["first_mismatches"]
        simulated = r["simulated_cycles"]  # every cycle the drive loop ran, stalls and gaps between problems included
        rows.append(
            {
                "name": f"rtl_decode {label} (d4, batch 2, 6/3 heads, 256 keys): cocotb + Verilator",
                "value": r["cycles_per_s"],
                "unit": "cycles/s",
                "note": f"{r['vectors']} problems, {simulated:,} cycles ({r['cycles']} each unstalled,"
                f" {r['output_stalls']} output stall cycles) in {r['sim_wall_s']} s,"
                f" tiles per core {r['tiles_per_unit']}",
            }
        )
    p = params_of(
        kinds.load_arch("rtl-decode-2core", ["units=4"]),
        kinds.load_workload("rtl-decode", ["batch=1", "context=4096", "heads=8", "kv_heads=2", "head_dim=4"]),
    )
    _ = p.schedule  # the cached schedule, built outside the timed runs
    for mode in ("event", "closed"):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 1.0 or n < 3:
            c = cycles(p, mode)
            n += 1
        rows.append(
            {
                "name": f"rtl-decode cycle model ({mode}): 4 cores, 8/2 heads, 4096 keys",
                "value": (time.perf_counter() - t0) / n * 1e3,
                "unit": "ms/point",
                "note": f"{c:,} cycles",
            }
        )
    return rows
