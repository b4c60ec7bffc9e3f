"""Engine ``example-roofline``: the roofline bound of multi-head attention on a spatial array.

An example of an attnkit plugin. Compute: QK and PV take 2 N^2 d MACs per
(batch, head) on R x C PEs; memory: Q, K, V and O cross DRAM once (K and V
once per KV head). The bound is the larger of the two; it ignores the
softmax, pipeline fill and padding, so a real engine (``fusemax``) can only
be slower. It declares the kinds it takes (a spatial arch, an attention
workload; attnkit checks them before calling it) and refuses the rest of what
it does not model (a causal mask).
"""

from math import ceil

from attnkit.errors import AttnkitError
from attnkit.params.arch import SpatialArch
from attnkit.params.workload import AttentionWorkload
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import Engine
from attnkit.sim.result import Result


def roofline(arch: SpatialArch, workload: AttentionWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    if getattr(workload, "causal", False):
        raise AttnkitError("example-roofline: causal attention is not modelled")
    b, h, n, d = workload.batch, workload.heads, workload.seq_len, workload.head_dim
    kv = workload.kv_heads or h
    pes = arch.array_2d.rows * arch.array_2d.cols
    macs = 2 * b * h * n * n * d
    word_bytes = arch.word_bits // 8
    dram_bytes = b * n * d * word_bytes * (2 * h + 2 * kv)
    compute_cycles = ceil(macs / pes)
    memory_cycles = ceil(dram_bytes * arch.clock_hz / arch.dram.bandwidth_bytes_per_s)
    cycles = max(compute_cycles, memory_cycles)
    out_bytes = b * h * n * d * word_bytes  # O is written; Q, K and V are read
    per_access = arch.dram.access_bits / 8
    energy, breakdown = table.energy(
        {"mac.mac": macs, "dram.read": (dram_bytes - out_bytes) / per_access, "dram.write": out_bytes / per_access}
    )
    return Result(
        "example-roofline",
        cycles,
        arch.clock_hz,
        energy,
        0.0,
        macs / (pes * cycles),
        0.0,
        dram_bytes,
        energy_breakdown=breakdown,
        extra={
            "compute_cycles": compute_cycles,
            "memory_cycles": memory_cycles,
            "bound": "compute" if compute_cycles >= memory_cycles else "memory",
        },
    )


ENGINES = {"example-roofline": Engine(roofline, arch=("spatial",), workload=("attention",))}
