"""The RTL attention engine: simulated cycles per second under Verilator (cocotb) and Amaranth's Python simulator.

Same engine (4x4 array, head dim 16, 72 tokens: the shipped rtl-attention
configs), same stimulus. Verilator's figure is the testbench's simulated
cycles over the wall time spent in the simulator and its drive loop (the
golden model's time is excluded; cocotb start-up is outside the loop);
the Amaranth figure is a whole problem in ``amaranth.sim``.
"""

import tempfile

import numpy as np

from attnkit.hw import attention_pysim, blocks
from attnkit.testbench import runner
from attnkit.testbench.attention_tb import problem

SETS = ["array_2d.rows=4", "array_2d.cols=4", "workload.head_dim=16", "workload.seq_len=72"]


def run():
    p = blocks.get("attention").load_params(SETS)
    with tempfile.TemporaryDirectory() as tmp:
        runner.run("attention", SETS, vectors=1, seed=1, build_root=tmp)   # build outside the timing
        r = runner.run("attention", SETS, vectors=24, seed=1, build_root=tmp)
    assert r["mismatches"] == 0 and r["latency_errors"] == 0, r["first_mismatches"]
    veri = r["vectors"] * r["cycles"] / r["sim_wall_s"]
    rng = np.random.default_rng(1)
    a = attention_pysim.run(p, [problem(p, 0, rng)[:4]])
    assert a["cycles"] == [r["cycles"]]
    ama = a["cycles_per_s"]
    return [
        {"name": "rtl_attention 4x4 d16 N72: cocotb + Verilator", "value": veri, "unit": "cycles/s",
         "note": f"{r['vectors']} problems x {r['cycles']} cycles in {r['sim_wall_s']} s"},
        {"name": "rtl_attention 4x4 d16 N72: Amaranth Python simulator", "value": ama, "unit": "cycles/s",
         "note": f"{a['total_cycles']} cycles in {a['wall_s']:.2f} s"},
        {"name": "rtl_attention: Verilator / Amaranth", "value": veri / ama, "unit": "x"},
        {"name": "rtl_attention 4x4 d16 N72: steady-state array utilisation (RTL counter)",
         "value": r["steady_util_2d"], "unit": "fraction",
         "note": f"{r['array_busy_cycles']} busy of {r['array_window_cycles']} cycles from the first QK beat to the last PV slot"},
    ]
