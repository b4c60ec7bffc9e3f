"""The GPU constants no data sheet gives, each derived from one named measured point (``attnkit calibrate``).

The decode engines (:mod:`attnkit.sim.engines.decode`) time a GPU with data
sheet figures (SMs, clock, HBM bandwidth, tensor and SFU rates) and the
kernels' shapes from their source (tiles, CTAs per SM, split rules). What is
left has no data sheet:

- per GPU, ``hbm_fraction``: the share of the data sheet's HBM bandwidth a
  kernel reaches, from the measured copy bandwidth (``hbm_fraction: copy``);
- per kernel profile (``kernels.<kernel>.``): ``cta_bandwidth_bytes_per_s``
  (the DRAM bytes per second one CTA streams on its own), ``cta_fixed_s``
  (a CTA's fixed time: launch, loading Q, writing O) and, where a file names
  a point for it, ``combine_bandwidth_bytes_per_s`` (the combine kernel's own
  rate of reading partials).

A measurements file's ``calibrate:`` section names one point per constant
(``flash.cta_fixed_s: {backend: flash, kv_heads: 16, context: 1024}``);
without one, each modelled backend's kernel takes its fixed cost from its
shortest call and its rate from its longest. The points depend on all the
constants together, so :func:`calibrate` solves them by cyclic bisection
*with the engines themselves* (the code that then predicts every other row)
until each named point is matched. A constant that would have to be
non-physical (a negative fixed cost, a CTA streaming faster than the
achievable HBM) is refused, naming its point.

:func:`write` gives the arch YAML: ``extends`` the base, each value rounded
to 4 digits beside the point it came from. The shipped ``a100.yaml`` holds
the values from the FlashDecoding blog's points and ``h200.yaml`` is exactly
this module's output for ``h200-pytorch-sdpa`` (tests check both).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from attnkit.errors import AttnkitError
from attnkit.params.arch import GpuArch
from attnkit.sim.gpu_measurements import Measurements, Predictor, recipe

__all__ = ["calibrate", "write"]

RATE, FIXED = "_bandwidth_bytes_per_s", "_fixed_s"
DIGITS = 4


def _set(arch: GpuArch, path: str, value: float) -> GpuArch:
    if path == "hbm_fraction":
        return dataclasses.replace(arch, hbm_fraction=value)
    kernel, _, name = path.partition(".")
    edit: dict[str, Any] = {name: value}
    profile = dataclasses.replace(arch.kernels[kernel], **edit)
    return dataclasses.replace(arch, kernels={**arch.kernels, kernel: profile})


def _solve(f, lo: float, hi: float, rising: bool, geometric: bool, iters: int = 56) -> float:
    """The root of ``f`` (rising or falling in x) in ``[lo, hi]``, clamped to the ends."""
    for _ in range(iters):
        mid = (lo * hi) ** 0.5 if geometric else (lo + hi) / 2
        if (f(mid) < 0) == rising:
            lo = mid
        else:
            hi = mid
    return (lo * hi) ** 0.5 if geometric else (lo + hi) / 2


def calibrate(meas: Measurements, base: GpuArch, rounds: int = 40) -> dict[str, Any]:
    """Derive every constant of ``meas``'s recipe on ``base``.

    Returns ``{"arch": the calibrated GpuArch (values rounded), "values": {path: value},
    "points": {path: row or None}, "fit": {path: predicted / measured - 1 at its point}}``.
    """
    points = recipe(meas)
    arch = base
    if "hbm_fraction" in points:
        assert meas.copy_bandwidth_bytes_per_s is not None
        frac = meas.copy_bandwidth_bytes_per_s / base.dram.bandwidth_bytes_per_s
        if frac > 1:
            raise AttnkitError(
                f"{meas.name}.yaml: the copy bandwidth {meas.copy_bandwidth_bytes_per_s:.4g} B/s is above arch"
                f" {base.name}'s data sheet ({base.dram.bandwidth_bytes_per_s:.4g} B/s)"
            )
        arch = _set(arch, "hbm_fraction", frac)
    pred = Predictor(arch, meas)
    solved = {p: r for p, r in points.items() if r is not None}
    for path in solved:
        kernel = path.partition(".")[0]
        if kernel not in arch.kernels:
            raise AttnkitError(f"arch {base.name} has no kernels.{kernel} (calibrate.{path} in {meas.name}.yaml)")
    # starting guesses: a latency-bound CTA, a few microseconds of fixed cost
    for path in solved:
        arch = _set(arch, path, 1e10 if path.endswith(RATE) else 1e-6)
    for _ in range(rounds):
        before = {p: _get(arch, p) for p in solved}
        for path, row in solved.items():
            arch = _set(arch, path, _one(pred, arch, path, row))
        if all(abs(_get(arch, p) / before[p] - 1) < 1e-10 for p in solved if before[p]):
            break
    arch = _round(arch, points)
    fit = {p: pred.seconds(r, arch) * 1e6 / r["latency_us"] - 1 for p, r in solved.items()}
    for path, row in solved.items():
        _refuse_if_unphysical(meas, pred, arch, path, row)
    return {"arch": arch, "values": {p: _get(arch, p) for p in points}, "points": points, "fit": fit}


def _get(arch: GpuArch, path: str) -> float:
    if path == "hbm_fraction":
        return arch.hbm_fraction
    kernel, _, name = path.partition(".")
    return float(getattr(arch.kernels[kernel], name))


def _one(pred: Predictor, arch: GpuArch, path: str, row: dict[str, Any]) -> float:
    target = row["latency_us"] * 1e-6

    def f(x: float) -> float:
        return pred.seconds(row, _set(arch, path, x)) - target

    if path.endswith(RATE):
        return _solve(f, 1e6, arch.hbm_bytes_per_s, rising=False, geometric=True)
    return _solve(f, 0.0, target, rising=True, geometric=False)


def _refuse_if_unphysical(meas, pred, arch, path, row) -> None:
    """Refuse a constant its point cannot give without leaving physics (it then sits on a bound)."""
    target = row["latency_us"] * 1e-6
    if path.endswith(RATE):
        fastest = pred.seconds(row, _set(arch, path, arch.hbm_bytes_per_s))
        if fastest > target * (1 + 1e-3):
            raise AttnkitError(
                f"calibrate.{path}: the point ({meas.describe(row)}) would need one CTA to stream faster than the"
                f" achievable HBM ({arch.hbm_bytes_per_s:.4g} B/s gives {fastest * 1e6:.4g} us); check the other"
                f" constants' points"
            )
    elif path.endswith(FIXED):
        least = pred.seconds(row, _set(arch, path, 0.0))
        if least > target * (1 + 1e-3):
            raise AttnkitError(
                f"calibrate.{path}: the point ({meas.describe(row)}) would need a negative fixed cost (with none the"
                f" engines give {least * 1e6:.4g} us); check the other constants' points"
            )


def _round(arch: GpuArch, points) -> GpuArch:
    for p in points:
        arch = _set(arch, p, float(f"{_get(arch, p):.{DIGITS}g}"))
    return arch


def write(meas: Measurements, base_name: str, result: dict[str, Any], name: str) -> str:
    """The calibrated arch as YAML text: ``extends`` the base, each value beside its point."""
    a = result["arch"]
    lines = [
        f"# {meas.meta.get('gpu') or a.name}, calibrated from {meas.csv_path.name} by",
        f"# `attnkit calibrate {meas.name} --arch {base_name}`: each constant no data sheet gives is derived,",
        "# with the engines, from the one measured point named beside it; every other point is a prediction.",
        f"extends: {base_name}",
        f"name: {name}",
    ]
    values, points = result["values"], result["points"]
    if "hbm_fraction" in values:
        lines.append(
            f"hbm_fraction: {_num(values['hbm_fraction'])}   # measured copy {meas.copy_bandwidth_bytes_per_s:.4g}"
            f" B/s over the data sheet's {a.dram.bandwidth_bytes_per_s:.4g} B/s"
        )
    kernels: dict[str, list[str]] = {}
    for path, row in points.items():
        if row is None:
            continue
        kernel, _, const = path.partition(".")
        kernels.setdefault(kernel, []).append(f"    {const}: {_num(values[path])}   # {meas.describe(row)}")
    if kernels:
        lines.append("kernels:")
        for kernel, entries in kernels.items():
            lines += [f"  {kernel}:", *entries]
    return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    return f"{x:.{DIGITS}g}"


def output_name(out: str | Path | None, base: GpuArch) -> str:
    return Path(out).stem if out else f"{base.name}-calibrated"
