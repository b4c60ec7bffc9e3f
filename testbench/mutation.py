"""Injected faults: does a block's ordinary testbench notice a deliberate change to its design?

:data:`MUTANTS` is the table: for each of ``mac``, ``exp``, ``recip`` and
``attention``, faults of several kinds, each made without touching the design
text: by building the block from other parameters (``sets``: ``--set`` keys
the DUT is built with while the golden model keeps the shipped ones; or
:func:`attnkit.hw.mutate.rebuilt` for parameters the block's loader does not
take) or by wrapping the built block (:mod:`attnkit.hw.mutate`: a port stuck,
a bit flipped, a value off by one, a valid delayed a cycle).

:func:`run` simulates the block's ordinary testbench
(:func:`attnkit.testbench.runner.run`, configuration :data:`RUNS`) on each
mutant and returns one record per mutant::

    block, mutant, kind, change, verdict, caught_by, mismatches, latency_errors, watchdog, equivalence, run_s

``caught_by`` lists the checks that failed: ``watchdog`` (no output within
the bound from the predicted cycles), ``values`` (outputs differing from the
golden model or missing), ``timing`` (latency or cycle-count errors, outputs
with no input outstanding). ``verdict`` is ``caught``, ``equivalent`` (no check
failed, and the golden model built with the mutant's parameters equals the
shipped one on the block's whole input space, so no testbench could notice;
:func:`golden_equivalence`), ``survived`` (no check failed and no such proof:
a gap in the testbench) or ``error`` (the mutant could not be built).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache, reduce
from typing import Any

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.hw import mutate
from attnkit.params.fixed import Rounding


@dataclass(frozen=True)
class Mutant:
    block: str
    name: str  # unique within the block
    kind: str  # the class of fault (the table's kinds)
    change: str  # what differs from the shipped design, for a person
    sets: tuple[str, ...] = ()  # --set keys the DUT is built with (the golden keeps the shipped values)
    wrap: Callable | None = field(default=None, compare=False)  # component -> component (hw.mutate)


@dataclass(frozen=True)
class BlockRun:
    """How the ordinary testbench runs for the mutation table: the configuration (``--set``) and vectors."""

    sets: tuple[str, ...] = ()
    vectors: int = 3000


# Small configurations so that a mutant costs seconds; the attention one has a ragged last key tile (7 = 3 x 2 + 1).
RUNS = {
    "mac": BlockRun((), 3000),
    "exp": BlockRun((), 3000),
    "recip": BlockRun((), 3000),
    "attention": BlockRun(("array_2d.rows=2", "array_2d.cols=2", "workload.head_dim=8", "workload.seq_len=7"), 8),
}


def _m(block, name, kind, change, sets=(), wrap=None) -> Mutant:
    return Mutant(block, name, kind, change, tuple(sets), wrap)


# A port fault's name and a parameter's change text come from the fault itself, so the table cannot misname one.


def _stuck(block, port, value, kind, change) -> Mutant:
    return _m(block, f"{port}-stuck-{value}", kind, change, wrap=lambda c: mutate.Stuck(c, port, value))


def _flipped(block, port, bit, change) -> Mutant:
    return _m(block, f"{port}-bit{bit}-flipped", "inverted-bit", change, wrap=lambda c: mutate.Flip(c, port, bit))


def _plus_one(block, port, change) -> Mutant:
    return _m(block, f"{port}-plus-1", "off-by-one", change, wrap=lambda c: mutate.Offset(c, port, 1))


def _late(block, port, change) -> Mutant:
    return _m(block, f"{port}-late", "delayed-valid", change, wrap=lambda c: mutate.Delay(c, port, 1))


@cache
def _base(block: str):
    """``block``'s parameters as :data:`RUNS` builds them: what the golden model keeps."""
    from attnkit.hw import blocks as hw_blocks

    return hw_blocks.get(block).load_params(list(RUNS[block].sets))


def _shipped(block: str, key: str):
    """The value of the dotted ``key`` in :func:`_base`, read there rather than written into the table again."""
    return reduce(getattr, key.split("."), _base(block))


def _changed(block, key, value, why) -> str:
    text = [getattr(x, "value", x) for x in (value, _shipped(block, key))]  # an enum by its name (AP_TRN)
    return f"{key} {text[0]} instead of {text[1]}" + (f" ({why})" if why else "")


def _set(block, name, kind, key, value, why="") -> Mutant:
    """The DUT built with ``--set key=value`` (the golden keeps the shipped value)."""
    return _m(block, name, kind, _changed(block, key, value, why), sets=[f"{key}={value}"])


def _rebuilt(block, name, kind, key, value) -> Mutant:
    """The DUT rebuilt with parameter ``key`` = ``value`` (one the block's loader does not take)."""
    return _m(block, name, kind, _changed(block, key, value, ""), wrap=mutate.rebuilt({key: value}))


def _table() -> list[Mutant]:
    R = Rounding
    return [
        # mac: acc = first ? a*b : acc + a*b, acc_valid `pipeline` cycles after valid
        _stuck("mac", "acc_valid", 0, "stuck-valid", "output acc_valid tied to 0"),
        _stuck("mac", "valid", 0, "stuck-enable", "input valid tied to 0 inside (the PE never takes an input)"),
        _stuck("mac", "first", 0, "stuck-enable", "input first tied to 0 (the accumulator is never restarted)"),
        _flipped("mac", "a", 0, "bit 0 of operand a inverted"),
        _plus_one("mac", "acc", "output acc + 1"),
        _late("mac", "acc_valid", "acc_valid one cycle late"),
        _set("mac", "pipeline-3", "pipeline-depth", "pipeline", 3, "one more register stage"),
        _set("mac", "acc-overflow-wrap", "overflow-mode", "acc_fmt.overflow", "AP_WRAP"),
        _set("mac", "acc-rounding-trn", "rounding-mode", "acc_fmt.rounding", "AP_TRN"),
        _set("mac", "acc-7-int-bits", "dropped-carry", "acc_fmt.int_bits", 7, "the accumulator's top carry dropped"),
        # exp: x * log2e, a 2^f table with interpolation, a shift; a stream pipeline
        _set("exp", "table-5-bits", "table-size", "table_bits", 5, "33-entry table"),
        _set("exp", "out-rounding-trn", "rounding-mode", "out_fmt.rounding", "AP_TRN"),
        _set("exp", "log2e-12-bits", "constant-precision", "log2e_fmt.frac_bits", 12),
        _set("exp", "arg-overflow-wrap", "overflow-mode", "arg_fmt.overflow", "AP_WRAP"),
        _flipped("exp", "o.payload", 0, "bit 0 of the output inverted"),
        _stuck("exp", "o.ready", 1, "stuck-ready", "o.ready tied to 1 inside (back-pressure ignored)"),
        _late("exp", "o.valid", "o.valid one cycle late"),
        # recip: leading one, seed table, Newton-Raphson, a shift; a stream pipeline
        _m(
            "recip",
            "iters-0",
            "nr-iterations",
            f"no Newton-Raphson step instead of {_shipped('recip', 'iters')}",
            sets=["iters=0"],
        ),
        _set("recip", "seed-7-bits", "table-size", "seed_bits", 7, "128-entry seed table"),
        _set("recip", "out-rounding-trn", "rounding-mode", "out_fmt.rounding", "AP_TRN"),
        _set("recip", "out-overflow-wrap", "overflow-mode", "out_fmt.overflow", "AP_WRAP"),
        _plus_one("recip", "i.payload", "input + 1 inside"),
        _stuck("recip", "o.valid", 0, "stuck-valid", "o.valid tied to 0"),
        _stuck(
            "recip", "i.ready", 1, "stuck-ready", "i.ready tied to 1 outside (inputs offered while stalled are lost)"
        ),
        # attention: the whole engine (array, row unit, controller), numerics rebuilt from its parameters
        _stuck("attention", "o.valid", 0, "stuck-valid", "o.valid tied to 0"),
        _stuck("attention", "i.ready", 0, "stuck-ready", "i.ready tied to 0 (the engine never takes a problem)"),
        _stuck("attention", "o.ready", 1, "stuck-ready", "o.ready tied to 1 inside (back-pressure ignored)"),
        _flipped("attention", "o.payload", 0, "bit 0 of the output row inverted"),
        _flipped("attention", "i.payload", 3, "bit 3 of every input row inverted inside"),
        _late("attention", "o.valid", "o.valid one cycle late"),
        _rebuilt("attention", "exp-table-5-bits", "table-size", "numerics.exp.table_bits", 5),
        _rebuilt("attention", "recip-iters-0", "nr-iterations", "numerics.recip.iters", 0),
        _rebuilt("attention", "out-rounding-trn", "rounding-mode", "numerics.out_fmt.rounding", R.AP_TRN),
        _rebuilt("attention", "logit-rounding-rnd", "rounding-mode", "numerics.logit_fmt.rounding", R.AP_RND),
    ]


MUTANTS: list[Mutant] = _table()


def mutants(block: str | None = None) -> list[Mutant]:
    return [m for m in MUTANTS if block is None or m.block == block]


def blocks() -> list[str]:
    return list(dict.fromkeys(m.block for m in MUTANTS))


def golden_equivalence(m: Mutant) -> str:
    """Empty, or how the golden model built with the mutant's ``sets`` was shown to equal the shipped one
    on the block's whole input space (so no testbench could tell them apart)."""
    if not m.sets or m.wrap is not None or m.block not in ("mac", "exp", "recip"):
        return ""
    from attnkit.hw import blocks as hw_blocks

    block = hw_blocks.get(m.block)
    base = block.load_params(list(RUNS[m.block].sets))
    try:
        mut = block.load_params(list(RUNS[m.block].sets) + list(m.sets))
    except AttnkitError:
        return ""
    if m.block == "mac":
        from attnkit.models.mac import mac

        f = base.in_fmt
        if mut.in_fmt != f or mut.pipeline != base.pipeline:
            return ""
        vals = np.arange(f.min_raw, f.max_raw + 1, dtype=np.int64)
        a, b = (x.ravel() for x in np.meshgrid(vals, vals))
        # every product alone, then every product added to each accumulator corner (the add's overflow)
        if not np.array_equal(mac(a, b, np.ones(a.size, bool), base), mac(a, b, np.ones(a.size, bool), mut)):
            return ""
        if base.acc_fmt.overflow != mut.acc_fmt.overflow or base.acc_fmt.width != mut.acc_fmt.width:
            return ""
        return (
            f"the golden MAC is identical on all {a.size} operand pairs (the only rounding is the product's"
            " conversion to acc_fmt; the accumulator add is exact up to its unchanged overflow)"
        )
    from attnkit.models.exp import exp
    from attnkit.models.recip import recip

    golden: Callable[..., Any] = {"exp": exp, "recip": recip}[m.block]  # type: ignore[assignment]  # two signatures
    if mut.in_fmt != base.in_fmt:
        return ""
    f = base.in_fmt
    x = np.arange(f.min_raw, f.max_raw + 1, dtype=np.int64)
    if np.array_equal(np.asarray(golden(x, base)), np.asarray(golden(x, mut))):
        return f"the golden {m.block} is identical on all {x.size} inputs of in_fmt (its whole input space)"
    return ""


def caught_by(result: dict) -> list[str]:
    """The checks of a testbench result record that failed."""
    checks = []
    if result.get("watchdog"):
        checks.append("watchdog")
    if result.get("mismatches"):
        checks.append("values")
    if result.get("latency_errors") or result.get("timing_errors") or result.get("early_outputs"):
        checks.append("timing")
    return checks


def run(
    block: str,
    sim: str = "icarus",
    seed: int = 1,
    names: Iterable[str] | None = None,
    build_root: str = "build/rtl/mutants",
    log: Callable[[str], None] = lambda msg: None,
) -> list[dict]:
    """Run the block's ordinary testbench on each of its mutants (``names`` picks some); one record each."""
    from attnkit.testbench import runner

    table = mutants(block)
    if not table:
        raise AttnkitError(f"no mutants for block {block!r} (blocks with mutants: {', '.join(blocks())})")
    if names is not None:
        names = list(names)
        known = {m.name for m in table}
        bad = [n for n in names if n not in known]
        if bad:
            raise AttnkitError(f"{block}: no mutant {', '.join(map(repr, bad))} (known: {', '.join(sorted(known))})")
        table = [m for m in table if m.name in names]
    cfg = RUNS[block]
    records = []
    for m in table:
        log(f"rtl-mutate {block}: {m.name} ({m.change})")
        t0 = time.perf_counter()
        rec: dict[str, Any] = {
            "block": block,
            "mutant": m.name,
            "kind": m.kind,
            "change": m.change,
            "simulator": sim,
            "seed": seed,
            "vectors": cfg.vectors,
        }
        try:
            r = runner.run(
                block,
                cfg.sets,
                sim=sim,
                vectors=cfg.vectors,
                seed=seed,
                build_root=build_root,
                dut_sets=m.sets,
                dut_wrap=m.wrap,
            )
        except (AttnkitError, ValueError) as e:
            rec.update(verdict="error", caught_by="", error=str(e), run_s=round(time.perf_counter() - t0, 2))
            records.append(rec)
            log(f"  error: {e}")
            continue
        checks = caught_by(r)
        eq = "" if checks else golden_equivalence(m)
        verdict = "caught" if checks else ("equivalent" if eq else "survived")
        rec.update(
            verdict=verdict,
            caught_by=", ".join(checks),
            mismatches=r.get("mismatches", 0),
            latency_errors=int(r.get("latency_errors") or 0) + int(r.get("timing_errors") or 0),
            watchdog=r.get("watchdog", ""),
            equivalence=eq,
            run_s=round(time.perf_counter() - t0, 2),
            log=r.get("log", ""),
        )
        log(f"  {verdict}{': ' + rec['caught_by'] if checks else ''}")
        records.append(rec)
    return records
