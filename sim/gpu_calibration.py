"""The two GPU constants no data sheet gives, derived from the FlashDecoding blog's batch 1 / 64K point.

The decode engines (:mod:`attnkit.sim.engines.decode`) time a GPU with data
sheet figures (SMs, clock, HBM bandwidth, tensor and SFU rates) plus two
constants that no data sheet states:

- ``unit.cta_bandwidth_bytes_per_s``: the DRAM bytes per second one CTA
  streams on its own (latency-bound, before HBM is shared);
- ``unit.cta_fixed_s``: the fixed time of a CTA (launch, loading Q, writing
  the output).

Each is derived once, from one published measurement of the FlashDecoding
blog (A100, 16 query / 2 KV heads of dim 128, batch 1, 64K context;
configs/anchors/leanattention.yaml): FA2's 2300.6 us fixes the per-CTA
bandwidth (16 CTAs each walking 64K keys, far from sharing HBM) and
FlashDecoding's 64.4 us fixes the fixed cost (206 CTAs that saturate HBM, so
what is left beyond streaming and merging is fixed time). The two
measurements depend on both constants, so :func:`derive` solves them together
by alternating bisection *with the engines themselves* (the same code that
then predicts every other point). The results are written, rounded, into
configs/arch/a100.yaml and held fixed for every workload and GPU config; a
test re-derives them and checks the YAML.

The blog's batch 16 / 4K times are not used: they are predictions.
"""

from __future__ import annotations

import dataclasses

__all__ = ["derive"]


def _with(arch, bandwidth: float, fixed: float):
    unit = dataclasses.replace(arch.unit, cta_bandwidth_bytes_per_s=bandwidth, cta_fixed_s=fixed)
    return dataclasses.replace(arch, unit=unit)


def _bisect(f, lo: float, hi: float, iters: int = 60) -> float:
    """The root of an increasing ``f`` in ``[lo, hi]`` (geometric bisection)."""
    for _ in range(iters):
        mid = (lo * hi) ** 0.5
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return (lo * hi) ** 0.5


def derive(arch=None, point: dict | None = None, rounds: int = 8) -> dict:
    """Solve ``cta_bandwidth_bytes_per_s`` and ``cta_fixed_s`` from the blog's batch 1 / 64K times.

    ``arch`` defaults to the shipped a100 config (its two constants are the
    starting guess only); ``point`` to the blog entry with batch 1. Returns
    ``{"cta_bandwidth_bytes_per_s", "cta_fixed_s", "fa2_s", "flashdecoding_s"}``
    (the last two: the engines' times with the derived constants).
    """
    from attnkit.params.kinds import load_arch, load_workload
    from attnkit.sim.energy import load_table
    from attnkit.sim.engines import decode
    from attnkit.sim.reproduce_leanattention import anchors

    arch = arch or load_arch("a100")
    if point is None:
        point = next(p for p in anchors()["blog"] if p["batch"] == 1)
    w = dataclasses.replace(
        load_workload("decode"),
        batch=point["batch"],
        heads=point["heads"],
        kv_heads=point["kv_heads"],
        head_dim=point["head_dim"],
        context=point["context"],
    )
    table = load_table(arch.energy)
    fa2_s, fd_s = point["fa2_us"] * 1e-6, point["flashdecoding_us"] * 1e-6

    def time(engine, bw, fixed):
        return decode.run(engine, _with(arch, bw, fixed), w, table).result.latency_s

    bw, fixed = arch.unit.cta_bandwidth_bytes_per_s, arch.unit.cta_fixed_s
    for _ in range(rounds):
        # FA2 gets slower as the per-CTA bandwidth falls; FlashDecoding as the fixed cost grows.
        bw = _bisect(lambda b: fa2_s - time("fa2", b, fixed), 1e9, 1e13)
        fixed = _bisect(lambda f: time("flashdecoding", bw, f) - fd_s, 1e-9, fd_s)
    return {
        "cta_bandwidth_bytes_per_s": bw,
        "cta_fixed_s": fixed,
        "fa2_s": time("fa2", bw, fixed),
        "flashdecoding_s": time("flashdecoding", bw, fixed),
    }


if __name__ == "__main__":
    for k, v in derive().items():
        print(f"{k}: {v:.4g}")
