"""Sweep evaluators by name: what a sweep runs on each design point.

A sweep spec's ``evaluator: NAME`` picks one of :data:`EVALUATORS`; without
it a point runs the spec's engine (``simulate``). Each is an
:class:`attnkit.sim.sweep.Evaluate`: ``fn(arch, workload, engine, mode)`` ->
a Result or a flat dict of metrics. They live here, above the simulator,
because an evaluator may run what the simulator must not import (synthesis,
RTL tests); the sweep runner takes the function as a parameter of the plan.

- ``simulate``: the engine on the point (:func:`attnkit.sim.sweep_run.simulate`).
- ``attention-numerics``: engine ``attention-numerics`` (the accuracy of the
  point's number format), plus, when the arch's ``synth`` names a Yosys
  target, the RTL attention engine's ``luts``, ``ffs``, ``dsps``, ``brams``
  and ``fmax_mhz`` from ``attnkit synth attention`` (minutes per design,
  cached by the Verilog's hash).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from attnkit.params import config
from attnkit.params.arch import NumericsArch
from attnkit.params.numerics import AttentionNumerics
from attnkit.params.workload import AttentionWorkload
from attnkit.sim import sweep, sweep_run
from attnkit.sim.engines.attention_numerics import SYNTH_KEYS
from attnkit.sim.result import Result
from attnkit.sim.sweep import Evaluate


def _leaves(data, prefix=""):
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], data


def numerics_sets(num: AttentionNumerics) -> list[str]:
    """``numerics.*`` --set strings for the fields of ``num`` that differ from the defaults: every leaf of each
    top-level field that differs (a set of one leaf of an absent format would start from QFormat's defaults)."""
    base = dict(_leaves(config.to_data(AttentionNumerics())))
    leaves = list(_leaves(config.to_data(num)))
    changed = {k.split(".")[0] for k, v in leaves if base.get(k) != v}
    return [f"numerics.{k}={'null' if v is None else v}" for k, v in leaves if k.split(".")[0] in changed]


def attention_numerics(arch: NumericsArch, workload: AttentionWorkload, engine: str | None, mode: str) -> Result:
    """The engine's accuracy figures, then the synthesis figures when ``arch.synth`` names a target."""
    from attnkit import api as kit

    res = sweep_run.simulate(dataclasses.replace(arch, synth=""), workload, engine or "attention-numerics", mode)
    if arch.synth:
        sets = [
            f"array_2d.rows={arch.rows}",
            f"array_2d.cols={arch.cols}",
            f"workload.head_dim={workload.head_dim}",
            f"workload.seq_len={workload.seq_len}",
            f"workload.causal={str(workload.causal).lower()}",
            *numerics_sets(arch.numerics),
        ]
        s = kit.synth("attention", arch.synth, set=sets)
        res.extra.update({k: s.get(k) for k in SYNTH_KEYS})
    return res


EVALUATORS: dict[str, Evaluate] = {
    "simulate": sweep_run.simulate,
    "attention-numerics": attention_numerics,
}


def load_spec(spec: str | Path, evaluate: Evaluate | None = None) -> sweep.Plan:
    """:func:`attnkit.sim.sweep.load_spec` with the evaluators above."""
    return sweep.load_spec(spec, evaluate, EVALUATORS)
