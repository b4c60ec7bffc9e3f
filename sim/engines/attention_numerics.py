"""Engine ``attention-numerics``: the accuracy of one attention number format.

Arch kind ``numerics`` (:class:`NumericsArch`, e.g. ``configs/arch/attention-numerics.yaml``):
the RTL attention engine's array (``rows`` keys per tile, ``cols`` queries per
block), its golden numerics (:class:`attnkit.models.attention.AttentionNumerics`,
swept as ``numerics.acc_frac_bits``, ``numerics.in_fmt.frac_bits``, ...), how
many seeded random problems to measure, and ``synth``: a Yosys target
(``ecp5``, ``xcup``, ...) or ``""`` for none, read by the sweep evaluator
``attention-numerics`` (:mod:`attnkit.evaluators`; the engine refuses it, as
synthesis is not the simulator's to run). The workload is an attention
workload (``head_dim``, ``seq_len``, ``causal``).

The engine runs the golden model (:func:`attnkit.models.attention.attention`,
key tile = ``rows``, bit for bit what the RTL engine computes) on ``problems``
random problems (:func:`attnkit.models.error.attention_problem`, seed
``seed``) and compares with float64. ``Result.cycles`` is the RTL engine's
cycle count (engine ``rtl-attention``); energy and area are not modelled (0).
Extras: ``max_abs_err``, ``mean_abs_err``, ``max_ulp`` (of ``out_fmt``),
``bound`` (:func:`attnkit.models.attention.error_bound`), the accumulator
widths ``rd_bits``/``rnv_bits``/``psum_bits``, and the synthesis figures
``luts``, ``ffs``, ``dsps``, ``brams``, ``fmax_mhz`` as None (the evaluator
fills them in when ``synth`` is set).
"""

from __future__ import annotations

import dataclasses

from attnkit.params import kinds
from attnkit.params.arch import NumericsArch
from attnkit.params.rtl_attention import RtlAttentionParams
from attnkit.params.workload import AttentionWorkload
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import Engine
from attnkit.sim.result import Result

SYNTH_KEYS = ("luts", "ffs", "dsps", "brams", "fmax_mhz")


def _rtl_params(arch: NumericsArch, workload: AttentionWorkload) -> RtlAttentionParams:
    from attnkit.sim.engines.rtl_attention import params_of

    spatial = kinds.load_arch(
        "rtl-attention-4x4", [f"array_2d.rows={arch.rows}", f"array_2d.cols={arch.cols}", f"array_1d.pes={arch.cols}"]
    )
    return dataclasses.replace(params_of(spatial, workload), numerics=arch.numerics)


def attention_numerics(
    arch: NumericsArch, workload: AttentionWorkload, table: EnergyTable, mode: str = "closed"
) -> Result:
    import numpy as np  # here, not at the top: the engine registry imports every engine module

    from attnkit.errors import ConfigError
    from attnkit.models.attention import attention, attention_reference, error_bound
    from attnkit.models.error import attention_problem, error_stats
    from attnkit.sim.engines.rtl_attention import cycles

    if arch.synth:  # silently leaving the figures blank would look like a synthesis that gave nothing
        raise ConfigError(
            f"arch {arch.name!r}: synth {arch.synth!r}: engine attention-numerics measures accuracy;"
            f" synthesis runs in a sweep with evaluator attention-numerics, or attnkit synth attention"
        )
    p = _rtl_params(arch, workload)
    num, n, d = arch.numerics, workload.seq_len, workload.head_dim
    rng = np.random.default_rng(arch.seed)
    f = num.in_fmt
    errs, refs, vmax = [], [], 0.0
    for _ in range(arch.problems):
        q, k, v = attention_problem(rng, n, d, num)
        ref = attention_reference(f.to_float(q), f.to_float(k), f.to_float(v), causal=workload.causal)
        out = attention(q, k, v, num, causal=workload.causal, tile_k=arch.rows)
        errs.append(num.out_fmt.to_float(out))
        refs.append(ref)
        vmax = max(vmax, float(np.abs(f.to_float(v)).max()))
    st = error_stats(np.stack(errs), np.stack(refs), num.out_fmt.lsb)
    extra = {
        "max_abs_err": st["max_abs_err"],
        "mean_abs_err": st["mean_abs_err"],
        "max_ulp": st["max_ulp"],
        "bound": error_bound(num, vmax, d, n, arch.rows),
        "rd_bits": p.rd_width,
        "rnv_bits": p.rnv_width,
        "psum_bits": p.psum_width,
        "problems": arch.problems,
    }
    extra.update(dict.fromkeys(SYNTH_KEYS))  # always present: a sweep's columns come from its first point
    return Result(
        engine="attention-numerics",
        cycles=cycles(p, "closed" if mode == "closed" else "event"),
        clock_hz=arch.clock_hz,
        energy_pj=0.0,
        area_mm2=0.0,
        util_2d=0.0,
        util_1d=0.0,
        dram_bytes=0.0,
        extra=extra,
    )


ENGINES = {"attention-numerics": Engine(attention_numerics, arch=("numerics",), workload=("attention",))}
