"""The RTL decode engine: simulated cycles per second under Verilator (cocotb), and its cycle model's speed.

The shipped configs (configs/arch/rtl-decode-2core.yaml, configs/workloads/rtl-decode.yaml:
2 cores, 6 query heads on 3 KV heads, head dim 4, 20 keys, tiles of 8 split 5/4)
and the same problem on 4 cores. Verilator's figure is the testbench's simulated
cycles (first input row to last output row, every problem) over the wall time
spent in the simulator and its drive loop (the golden model's time excluded;
the build and cocotb's start-up are outside the loop). The cycle model's figure
is the wall time of one `rtl-decode` prediction, event-driven and closed form.
"""

import tempfile
import time

from attnkit.sim import api
from attnkit.testbench import runner

CONFIGS = {"2 cores": [], "4 cores": ["units=4"]}


def run():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, sets in CONFIGS.items():
            runner.run("decode", sets, vectors=1, seed=1, build_root=tmp)      # build outside the timing
            r = runner.run("decode", sets, vectors=24, seed=1, build_root=tmp)
            assert r["mismatches"] == 0 and r["latency_errors"] == 0, r["first_mismatches"]
            rows.append({"name": f"rtl_decode {label} (d4, 6/3 heads, 20 keys): cocotb + Verilator",
                         "value": r["vectors"] * r["cycles"] / r["sim_wall_s"], "unit": "cycles/s",
                         "note": f"{r['vectors']} problems x {r['cycles']} cycles in {r['sim_wall_s']} s,"
                                 f" tiles per core {r['tiles_per_unit']}"})
    for mode in ("event", "closed"):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 1.0:
            api.simulate("rtl-decode-2core", "rtl-decode", mode=mode)
            n += 1
        rows.append({"name": f"rtl-decode cycle model ({mode}), shipped configs", "value": (time.perf_counter() - t0) / n * 1e3,
                     "unit": "ms/point"})
    return rows
