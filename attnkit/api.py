"""The Python API: the same verbs as the command line, for notebooks and scripts.

Every ``attnkit`` command is a thin layer over one function here, so a
notebook and a shell get the same numbers::

    import attnkit
    r = attnkit.simulate("fusemax", "bert", set={"workload.seq_len": 4096})
    r.cycles, r.latency_s, r.to_dict()["energy_breakdown"]

Configs are given as paths, as names (resolved through the search path:
./configs, then ``ATTNKIT_CONFIG_PATH``, then the shipped configs; see
:func:`configs`) or as parameter objects already loaded with
:func:`load_arch` / :func:`load_workload`. ``set`` takes the same edits as
``--set``: a mapping ``{"array_2d.rows": 64, "workload.seq_len": 4096}`` or a
list of ``"key=value"`` strings; keys starting with ``workload.`` edit the
workload. Mistakes raise :class:`attnkit.errors.AttnkitError` (the CLI
prints these as one line).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from attnkit.errors import AttnkitError

SetArg = Mapping[str, Any] | Iterable[str] | None


def _sets(set: SetArg) -> list[str]:
    """``--set``-style strings from a mapping or a list of ``key=value`` strings."""
    if set is None:
        return []
    if isinstance(set, str):
        return [set]
    if isinstance(set, Mapping):
        import yaml

        out = []
        for key, value in set.items():
            text = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
            out.append(f"{key}={text.removesuffix(chr(10) + '...').strip()}")
        return out
    return list(set)


class Rows(list[dict[str, Any]]):
    """A list of result rows (dicts), as the CLI's ``--json`` prints them (a sweep's also keeps its ``summary``)."""

    summary: dict[str, Any] | None = None

    def to_pandas(self):
        """The rows as a pandas DataFrame (needs pandas installed)."""
        try:
            import pandas
        except ImportError:
            raise AttnkitError("Rows.to_pandas needs pandas: pip install pandas") from None
        return pandas.DataFrame(list(self))


# --- Configs ------------------------------------------------------------------------------------


def load_arch(arch, set: SetArg = None):
    """The frozen architecture object for a path, a name or an already-loaded object, with ``set`` applied."""
    from attnkit.params import kinds

    return kinds.load_arch(arch, _sets(set))


def load_workload(workload, set: SetArg = None):
    """The frozen workload object for a path, a name or an already-loaded object, with ``set`` applied."""
    from attnkit.params import kinds

    return kinds.load_workload(workload, _sets(set))


def configs(folder: str | None = None) -> Rows:
    """Every config name on the search path and the file it resolves to.

    One row per (folder, name): ``folder``, ``name``, ``path`` (the winner),
    ``origin`` (``./configs``, ``ATTNKIT_CONFIG_PATH`` or ``shipped``),
    ``extends`` (the config the winner lays its keys over, or None) and
    ``shadows`` (the files of the same name further down the path).
    """
    from attnkit.params import config

    folders = config.FOLDERS if folder is None else (folder,)
    if folder is not None and folder not in config.FOLDERS:
        raise AttnkitError(f"unknown config folder {folder!r} (known: {', '.join(config.FOLDERS)})")
    origin = {root.resolve(): name for name, root in config.search_path() if root.exists()}
    rows = Rows()
    for f in folders:
        for name, paths in sorted(config.names(f).items()):
            root = paths[0].parent.parent.resolve()
            rows.append(
                {
                    "folder": f,
                    "name": name,
                    "path": str(paths[0]),
                    "origin": origin.get(root, "?"),
                    "extends": config.extends_of(paths[0]),
                    "shadows": [str(p) for p in paths[1:]],
                }
            )
    return rows


# --- Simulation, reproduction, sweeps -----------------------------------------------------------


def simulate(arch, workload, engine: str | None = None, mode: str = "closed", set: SetArg = None):
    """Run ``engine`` (default: the arch's own) on a workload; a :class:`attnkit.sim.result.Result`.

    ``mode`` is ``"closed"`` (closed form, fast) or ``"event"`` (the
    event-driven run, exact, for small problems). ``result.to_dict()`` is what
    ``attnkit simulate --json`` prints.
    """
    from attnkit.sim import engines as registry

    if mode not in ("closed", "event"):
        raise AttnkitError(f"mode {mode!r}: expected 'closed' or 'event'")
    return registry.simulate(arch, workload, engine=engine, sets=_sets(set), mode=mode)


def request(
    model,
    system,
    prompt: int = 1024,
    generate: int = 256,
    batch: int = 1,
    decode_samples: int = 0,
    set: SetArg = None,
    progress=None,
):
    """A whole LLM request on a serving system; a :class:`attnkit.sim.request.Request`.

    ``model`` is a name in ``configs/models/`` (``llama3-70b``), a path to a
    Hugging Face ``config.json`` or a loaded :class:`~attnkit.params.model.LlmModel`;
    ``system`` a name in ``configs/systems/`` (``h200-8``), a path or a loaded
    system, ``set`` edits it (``{"chips": 4, "tensor_parallel": 4}``).
    ``batch`` prompts of ``prompt`` tokens each generate ``generate`` tokens;
    ``decode_samples`` > 0 simulates that many decode steps spread over the
    context and interpolates the others (0: every step). A batch that does
    not fit the memory raises :class:`AttnkitError` naming the largest that
    does. ``.to_dict()`` is what ``attnkit request --json`` prints.
    """
    from attnkit.params import config, kinds
    from attnkit.params.model import load_model
    from attnkit.params.system import RequestWorkload
    from attnkit.sim import request as costing

    sys_ = kinds.load_arch(system, _sets(set))
    kinds.check_kind("attnkit request", "system", sys_, ("system",))
    given = {"prompt": prompt, "generate": generate, "batch": batch, "decode_samples": decode_samples}
    w = config.build(RequestWorkload, {"model": config.to_data(load_model(model)), **given}, "attnkit request")
    return costing.run(sys_, w, progress=progress)


def engines() -> list[str]:
    """The engine names ``simulate`` and sweeps accept (built-in and from plugins)."""
    from attnkit.sim import engines as registry

    return sorted(registry.registry())


@runtime_checkable
class ReproduceTarget(Protocol):
    """A reproduction target: a module ``attnkit.sim.reproduce_<name>`` (sim/reproduce_<name>.py), found by
    :func:`reproduce_targets`, that only computes rows; :func:`reproduce` writes them, once for all targets.

    Optionally the module also defines ``configuration(sets, models) -> dict``
    (the archs and workloads it used, written as config.json), ``files(sets) ->
    {file name: text}`` (more files for the folder, named in the stderr line)
    and ``counted(rows) -> str`` (what the stderr line counts; default ``"N
    points"``, the point rows), and ``SHOW_POINTS = False`` where the point
    rows are too many for a screen (a figure's series): the CLI then prints the
    summary rows only, and the points stay in results.csv.
    """

    COLUMNS: list[str]  # results.csv's columns (results.json keeps every key)
    POINT_COLUMNS: list[str]  # what the CLI shows of the point rows...
    SUMMARY_COLUMNS: list[str]  # ...and of the summary rows

    def run(
        self, sets: Sequence[str] = (), models: Sequence[str] | None = None, seq_lens: Sequence[int] | None = None
    ) -> list[dict]:
        """The rows (``"row"``: ``"point"``, ``"summary"``, or the target's own kinds); a filter it cannot
        apply raises :class:`AttnkitError`."""
        ...


def reproduce_targets() -> dict[str, str]:
    """Reproduction targets by name: the modules ``attnkit.sim.reproduce_<name>``, found by name."""
    from attnkit import sim

    return {
        info.name.removeprefix("reproduce_").replace("_", "-"): f"attnkit.sim.{info.name}"
        for info in sorted(pkgutil.iter_modules(sim.__path__), key=lambda i: i.name)
        if info.name.startswith("reproduce_")
    }


def reproduce_module(name: str) -> ReproduceTarget:
    targets = reproduce_targets()
    if name not in targets:
        raise AttnkitError(f"unknown reproduction {name!r} (known: {', '.join(targets) or 'none'})")
    module = importlib.import_module(targets[name])
    if not isinstance(module, ReproduceTarget):
        raise AttnkitError(
            f"reproduction {name!r}: {targets[name]} does not define run, COLUMNS, POINT_COLUMNS and SUMMARY_COLUMNS"
        )
    return module


def reproduce(
    name: str,
    out: str | Path | None = None,
    set: SetArg = None,
    models: Sequence[str] | None = None,
    seq_lens: Sequence[int] | None = None,
) -> Rows:
    """Rerun a paper's evaluation (``fusemax``, ...) from first principles, beside the paper's figures.

    Returns the rows ``attnkit reproduce NAME --json`` prints (``row`` is
    ``"point"`` or ``"summary"``) and writes them to ``out``/results.csv and
    results.json (default ``build/reproduce/NAME``) with manifest.json
    naming their kind, then prints one line
    (what ran, how long, what was written) to stderr.

    A target is a :class:`ReproduceTarget` (a module ``attnkit.sim.reproduce_<name>``).
    Optionally it names ``KIND``: the kind manifest.json declares for results.csv and
    results.json, i.e. which figures draw them (default ``"reproduce"``).
    """
    from attnkit.sim.result import write_results

    module = reproduce_module(name)
    sets = _sets(set)
    out = str(out) if out is not None else f"build/reproduce/{name}"
    t0 = time.perf_counter()
    rows = module.run(sets=sets, models=models, seq_lens=seq_lens)
    path = write_results(rows, out, module.COLUMNS, getattr(module, "KIND", "reproduce"), target=name)
    extra = module.files(sets) if hasattr(module, "files") else {}
    for file, text in extra.items():
        (path / file).write_text(text)
    if hasattr(module, "configuration"):
        (path / "config.json").write_text(json.dumps(module.configuration(sets, models), indent=1))
    counted = module.counted(rows) if hasattr(module, "counted") else f"{sum(r['row'] == 'point' for r in rows)} points"
    written = ["results.csv", "results.json", *extra]
    print(
        f"reproduce {name}: {counted} in {time.perf_counter() - t0:.2f} s;"
        f" wrote {path}/{', '.join(written[:-1])} and {written[-1]}",
        file=sys.stderr,
    )
    return Rows(rows)


def sweep(spec, out: str | Path | None = None, **options: Any) -> Rows:
    """Run a design-space sweep (a spec path or name, see the docs' Sweeps page, docs/sweeps.md); its rows.

    Rows are written as points finish, to ``out``/results.csv or, for a
    sweep of more than 100,000 points (or ``output="parquet"``), to
    ``out``/results.parquet/ one file per chunk (default out:
    ``build/sweeps/<spec name>``), so an interrupted sweep loses nothing and
    ``resume=True`` completes it. ``options`` are :func:`run_sweep`'s
    (``jobs``, ``resume``, ``executor``, ``scheduler``, ``chunk``,
    ``progress``, ``output``). Returns every row, values parsed (``.summary``
    is :func:`run_sweep`'s); ``.to_pandas()`` gives a DataFrame.
    """
    from attnkit.sim.result import load_results

    summary = run_sweep(spec, out, **options)
    rows = Rows(load_results(summary["csv"] or summary["parquet"]).rows)
    rows.summary = summary
    return rows


def run_sweep(
    spec,
    out: str | Path | None = None,
    *,
    jobs: int | None = None,
    resume: bool = False,
    executor: str = "local",
    scheduler: str | None = None,
    chunk: int | None = None,
    progress: bool = False,
    output: str | None = None,
) -> dict[str, Any]:
    """Run a sweep as :func:`sweep` does, without reading its rows back: its summary (what ``attnkit sweep``
    prints), for sweeps too large to hold as dicts.

    ``jobs``: worker processes (default: the cores); ``resume``: complete the
    rows ``out`` already holds; ``executor``: ``local`` or ``dask``
    (``scheduler``: its address; none: a LocalCluster); ``chunk``: points per task;
    ``progress``: a progress line on stderr; ``output``: ``csv`` or
    ``parquet`` (default: by the number of points).
    """
    from attnkit import evaluators
    from attnkit.sim import sweep_run

    if chunk is not None and chunk < 1:
        raise AttnkitError(f"chunk {chunk}: expected at least 1")
    if jobs is not None and jobs < 1:
        raise AttnkitError(f"jobs {jobs}: expected at least 1")
    if executor not in ("local", "dask"):
        raise AttnkitError(f"executor {executor!r}: expected 'local' or 'dask'")
    plan = evaluators.load_spec(spec)
    out = Path(out) if out is not None else Path("build/sweeps") / Path(plan.spec_path).stem
    return sweep_run.run(
        plan,
        out,
        jobs=jobs,
        resume=resume,
        executor=executor,
        scheduler=scheduler,
        chunk=chunk,
        progress=progress,
        output=output,
    )


def sweep_plan(spec) -> dict:
    """A sweep spec checked and expanded, nothing run (``attnkit sweep --dry-run``)."""
    from attnkit import evaluators

    plan = evaluators.load_spec(spec)
    return {
        "spec": plan.spec_path,
        "name": plan.name,
        "points": len(plan),
        "rejected_by_constraints": plan.rejected,
        "columns": plan.columns,
    }


def pareto(
    rows, minimize: Sequence[str] = (), maximize: Sequence[str] = (), by: Sequence[str] = (), source: str = "rows"
) -> Rows:
    """The Pareto front of ``rows`` (a list of dicts, or a results.csv path) over the chosen metrics.

    One front per value of the ``by`` columns. Rows that failed or are
    infeasible are left out. ``source`` names the rows in error messages. A
    path is read by :func:`attnkit.sim.result.load_results`, as ``attnkit
    report`` reads it.
    """
    from attnkit.sim import pareto as pareto_mod
    from attnkit.sim.result import ColumnRows, load_results

    if isinstance(rows, (str, Path)):
        source, rows = str(rows), load_results(rows).rows
    if isinstance(minimize, str) or isinstance(maximize, str) or isinstance(by, str):
        raise AttnkitError("pareto: minimize, maximize and by take lists of column names")
    if not isinstance(rows, ColumnRows):
        rows = list(rows)
    return Rows(pareto_mod.front_by(rows, list(minimize), list(maximize), list(by), source=source))


# --- Reports and RTL ----------------------------------------------------------------------------


def report(inputs: str | Path | Sequence[str | Path], out: str | Path, command: str | None = None, log=None) -> dict:
    """Figures, ``out``/report.md and a self-contained ``out``/report.html from result files or folders.

    ``inputs``: what ``reproduce``, ``sweep``, ``simulate`` (JSON) and
    ``rtl-test`` (JSON) wrote. Returns the paths of report.html, report.md and the figures.
    """
    from attnkit.reports.render import render

    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    return render([str(i) for i in inputs], out, command=command, log=log or (lambda msg: None))


def blocks() -> list[str]:
    """The RTL block names (built-in and from plugins)."""
    from attnkit.hw import blocks as registry

    return registry.names()


def verilog(block: str, out: str | Path = "build/verilog", set: SetArg = None) -> Path:
    """Export an RTL block to ``out``/BLOCK.v, sized by its configs with ``set`` applied; the path."""
    from attnkit.hw import blocks as registry

    b = registry.get(block)
    return registry.write_verilog(b, b.load_params(_sets(set)), out)


def rtl_test(
    block: str,
    vectors: int = 1000,
    seed: int | None = None,
    sim: str = "verilator",
    set: SetArg = None,
    waves: bool = False,
    log=None,
    fast: bool = False,
    jobs: int | None = None,
) -> dict:
    """Simulate a block's cocotb testbench and check it bit for bit against its golden model.

    Returns what ``attnkit rtl-test --json`` prints (less its ``kind``): block, simulator,
    vectors, mismatches, cycles, predicted_cycles, seed, and the log's path.
    ``fast`` (Verilator only; blocks with one input stream ``i`` and one output
    stream ``o``: exp, recip, gelu, softmax, merge, attention, decode) runs the
    same cases with the clock and stimulus in C++ (:mod:`attnkit.testbench.fast`)
    instead of cocotb, in ``jobs`` harness processes at once (default: one per
    core; the results do not depend on ``jobs``).
    """
    import random

    from attnkit.testbench import runner, toolchain

    if sim not in toolchain.SIMULATORS:
        raise AttnkitError(f"sim {sim!r}: expected one of {', '.join(toolchain.SIMULATORS)}")
    seed = seed if seed is not None else random.randrange(1 << 31)
    if fast:
        from attnkit.hw import blocks
        from attnkit.testbench import fast as fast_tb
        from attnkit.testbench import streams

        if sim != "verilator" or waves:
            raise AttnkitError(
                f"--fast runs under Verilator without waves, not under {sim}{' with --waves' if waves else ''}"
            )
        streams.bench_of(blocks.get(block))  # a block without one i and one o stream: one clear error
        return fast_tb.run(block, _sets(set), vectors=vectors, seed=seed, log=log or (lambda msg: None), jobs=jobs)
    if jobs not in (None, 1):
        raise AttnkitError(f"--jobs {jobs}: only --fast runs problems in several processes")
    return runner.run(
        block, _sets(set), sim=sim, vectors=vectors, seed=seed, waves=waves, log=log or (lambda msg: None)
    )


def synth(
    block: str,
    target: str,
    set: SetArg = None,
    pnr: bool = False,
    device: str | None = None,
    out: str | Path = "build/synth",
    freq_mhz: float = 100.0,
    pnr_timeout_s: float | None = 3600,
    log=None,
) -> dict:
    """Synthesise an RTL block for ``target`` (``xcup``, ``xc7``, ``ecp5``, ``ice40``) with open tools.

    Returns what ``attnkit synth --json`` prints (less its ``kind``): block, target, device, luts,
    ffs, dsps, brams, carry, fmax_mhz (with ``pnr``, ECP5 only), fits and,
    when it does not fit, ``over`` (what exceeds the device). Cached by a hash
    of the Verilog and the tool arguments.
    """
    from attnkit.hw import synth as flow

    return flow.synthesize(
        block,
        target,
        _sets(set),
        pnr=pnr,
        device=device,
        build_root=out,
        freq_mhz=freq_mhz,
        pnr_timeout_s=pnr_timeout_s,
        log=log or (lambda msg: None),
    )
