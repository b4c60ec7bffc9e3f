"""Engine ``rtl-attention``: the cycles of the RTL attention engine (:mod:`attnkit.hw.attention`).

The engine's schedule, tile by tile (query block ``b`` of C queries, then its
key tiles ``j < J_b`` of R keys; causal blocks skip the tiles their mask
empties, :meth:`RtlAttentionParams.key_tiles`), as stages of the pipeline core
(:mod:`attnkit.sim.pipeline`), each on its own resource:

====== =========== ==================== =============================================
stage  resource    duration             what the RTL does
====== =========== ==================== =============================================
load   input       4N (tile 0), else 0  Q, K, V and mask rows, one per cycle
qk     array_2d    2d                   QK of tile t (d beats), then the slot lent to PV(t-1)
softmax row_unit   d                    logits, running max, exp, probabilities into the PEs
pv     array_2d_pv d                    PV of tile t (d beats)
drain  column      R                    the last beat crosses R rows; its column sum enters the lane
norm   row_unit_out 2 (last tile of b)  RNV update with ``n = sat(RNV 2^-z)``, then ``out = n * (1/l)``
emit   output      1 + queries of b     the output row register, then one row per cycle
====== =========== ==================== =============================================

so that QK(t) starts at ``2 t d`` and PV(t) at ``(2t + 3) d`` after the load, as
the controller issues them. ``mode="event"`` steps every tile through the
core's discrete-event run; ``mode="closed"`` is the core's max-plus closed
form of the same program (one :class:`Repeat` per query block). The count
runs from the first input beat to the last output row, as the testbench
counts it on the Verilated RTL.
"""

from __future__ import annotations

from attnkit.params import config
from attnkit.params.arch import SpatialArch
from attnkit.params.rtl_attention import EMIT_STAGES, OUT_STAGES, RtlAttentionParams
from attnkit.params.workload import AttentionWorkload
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import Engine
from attnkit.sim.pipeline import Pipeline, Repeat, Stage, run
from attnkit.sim.result import Result

PIPE = Pipeline(
    (
        Stage("load", "input"),
        Stage("qk", "array_2d"),
        Stage("softmax", "row_unit"),
        Stage("pv", "array_2d_pv"),
        Stage("drain", "column"),
        Stage("norm", "row_unit_out"),
        Stage("emit", "output"),
    ),
    depth=0,
)


def params_of(arch: SpatialArch, workload: AttentionWorkload) -> RtlAttentionParams:
    """The RTL engine's parameter object for an architecture and a workload (golden numerics by default)."""
    return config.build(
        RtlAttentionParams,
        {"arch": config.to_data(arch), "workload": config.to_data(workload)},
        f"{arch.name} + {workload.name}",
    )


def program(p: RtlAttentionParams) -> list:
    """Stage durations of every tile (see the module docstring), one Repeat per run of identical tiles."""
    d, R, B = p.head_dim, p.rows, p.blocks

    def tile(load: int = 0, last_of: int | None = None) -> tuple:
        norm, emit = (OUT_STAGES, EMIT_STAGES + p.queries_in_block(last_of)) if last_of is not None else (0, 0)
        return (load, 2 * d, d, d, R, norm, emit)

    def block(b: int, load: int = 0) -> list:
        J = p.key_tiles(b)
        if J == 1:
            return [tile(load, b)]
        return [tile(load)] + ([Repeat(J - 2, [tile()])] if J > 2 else []) + [tile(0, b)]

    if not p.causal:  # identical middle blocks: one Repeat
        prog = block(0, p.input_rows)
        if B > 2:
            prog.append(Repeat(B - 2, block(1)))
        if B > 1:
            prog += block(B - 1)
        return prog
    return [x for b in range(B) for x in block(b, p.input_rows if b == 0 else 0)]


def cycles(p: RtlAttentionParams, mode: str = "event") -> int:
    return run(PIPE, program(p), mode).cycles


def rtl_attention(arch: SpatialArch, workload: AttentionWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    p = params_of(arch, workload)
    timing = run(PIPE, program(p), mode)
    R, C, d, N = p.rows, p.cols, p.head_dim, p.seq_len
    busy_pe_cycles = p.mac_cycles_busy()
    window = p.slots * d  # from the first QK beat to the end of the last PV slot
    actions = {
        "mac.mac": float(busy_pe_cycles),
        "max.max": float(p.tiles * C * R),  # the kept tiles run in full (the mask applied in the row unit)
        "exp.exp": float(p.tiles * C * R),
        "adder.add": float(p.tiles * C * (R + d)),
        "divider.div": float(N),
    }
    energy, breakdown = table.energy(actions)
    area, area_breakdown = table.area_mm2({"mac": R * C, "exp": C, "max": C, "adder": C, "divider": C})
    return Result(
        engine="rtl-attention",
        cycles=timing.cycles,
        clock_hz=arch.clock_hz,
        energy_pj=energy,
        area_mm2=area,
        util_2d=p.mac_cycles_used() / (R * C * timing.cycles) if timing.cycles else 0.0,
        util_1d=timing.busy.get("row_unit", 0) / timing.cycles if timing.cycles else 0.0,
        dram_bytes=float((4 * N * d) * arch.word_bytes),
        energy_breakdown=breakdown,
        area_breakdown=area_breakdown,
        actions=actions,
        extra={
            "mode": mode,
            "tiles": p.tiles,
            "steady_util_2d": busy_pe_cycles / (R * C * window),
            "array_window_cycles": window,
        },
    )


ENGINES = {"rtl-attention": Engine(rtl_attention, arch=("spatial",), workload=("attention",))}
