"""Reproduce LeanAttention's evaluation: lean over fa2 and over flashdecoding, A100 and a multicore accelerator.

Studies (every figure computed by the engines of :mod:`attnkit.sim.engines.decode`):

- ``a100``: configs/arch/a100.yaml, multi-head attention (kv_heads = heads)
  over the paper-like settings ``SETTINGS`` (batch 1, 2, 4, 8, 16; 32 and 64
  heads; head dim 64 and 128) and contexts 1K..512K (powers of two): one
  point row per engine, lean's carrying its speedups over fa2 and
  flashdecoding. Summary rows set the means and maxima beside the paper's
  claims (configs/anchors/leanattention.yaml), plus the checks: lean's worst
  speedup over fa2 and, at batch 1 and 256K..512K, its time over the DRAM
  floor (K/V bytes over HBM bandwidth).
- ``blog``: the FlashDecoding blog's two A100 measurements (16 query / 2 KV
  heads of dim 128), fa2 and flashdecoding, beside the published times with
  their ratio. Two of the four (batch 1 / 64K) are the single measurements
  from which a100.yaml derives its two non-data-sheet constants; the two at
  batch 16 / 4K are predictions.
- ``fusemax-decode``: the same study on configs/arch/fusemax-decode.yaml at
  1, 2, 4 and 8 cores (``ACCEL_SETTINGS``: batch 1, 4, 16; 32 heads MHA and
  Llama-3-8B's 32/8 GQA; head dim 128), no paper figures; its summary gives
  the MHA and GQA means apart as well (fa2 reads a KV head once per query
  head, lean once per group).
- ``timeline``: rows ``"row": "timeline"``, one per CTA of each engine on
  ``TIMELINES`` (unit, slot, start, end, tiles, role), for the report's
  schedule figure.

Rows use the README's keys (engine, units, batch, heads, kv_heads, head_dim,
context, latency_s). ``--set`` edits the A100 and accelerator configs
(architecture keys) or the workloads (``workload.`` keys); with ``--set`` the
paper's figures are left out. ``--seq-lens`` picks contexts; ``--models`` is
refused (the settings are fixed above).
"""

from __future__ import annotations

import dataclasses
from statistics import fmean

from attnkit.errors import AttnkitError
from attnkit.params import config
from attnkit.params.kinds import load_arch, load_workload, split_sets
from attnkit.sim.energy import CONFIG_DIR, load_table
from attnkit.sim.engines import decode

ENGINES = ("fa2", "flashdecoding", "lean")
CONTEXTS = [1024 << i for i in range(10)]  # 1K .. 512K
SETTINGS = [(b, h, h, d) for b in (1, 2, 4, 8, 16) for h in (32, 64) for d in (64, 128)]  # batch, heads, kv, dim
ACCEL_SETTINGS = [(b, 32, kv, 128) for b in (1, 4, 16) for kv in (32, 8)]
ACCEL_UNITS = (1, 2, 4, 8)
TIMELINES = [("a100", None, (1, 32, 32, 128, 16384)), ("fusemax-decode", 4, (1, 6, 6, 128, 8192))]
LONG = 262144  # "long context" for the DRAM-floor check

POINT_COLUMNS = [
    "study",
    "arch",
    "units",
    "engine",
    "batch",
    "heads",
    "kv_heads",
    "head_dim",
    "context",
    "latency_s",
    "speedup_vs_fa2",
    "speedup_vs_flashdecoding",
    "paper_latency_s",
    "latency_ratio",
    "dram_fraction",
]
SUMMARY_COLUMNS = ["metric", "study", "arch", "units", "context", "ours", "paper", "ratio"]
KIND = "decode"  # the kind its result files declare: drawn by the decode figures, not as a reproduction
TIMELINE_COLUMNS = ["engine", "arch", "units", "unit", "slot", "kernel", "start_s", "end_s", "tiles", "role"]
COLUMNS = (
    ["row"]
    + POINT_COLUMNS
    + ["dram_bytes", "dram_floor_s", "metric", "ours", "paper", "ratio"]
    + [c for c in TIMELINE_COLUMNS if c not in POINT_COLUMNS]
)


def anchors() -> dict:
    return config.load_yaml(CONFIG_DIR / "anchors" / "leanattention.yaml")


class _Runner:
    def __init__(self, arch):
        self.arch, self.table = arch, load_table(arch.energy)

    def run(self, engine, w):
        return decode.run(engine, self.arch, w, self.table)


def _workload(base, b, h, kv, d, ctx):
    return dataclasses.replace(base, batch=b, heads=h, kv_heads=kv, head_dim=d, context=ctx)


def _study(study, runner, base, settings, contexts, units) -> list[dict]:
    rows = []
    for b, h, kv, d in settings:
        for ctx in contexts:
            res = {e: runner.run(e, _workload(base, b, h, kv, d, ctx)).result for e in ENGINES}
            lean = res["lean"].latency_s
            for e, r in res.items():
                row = {
                    "row": "point",
                    "study": study,
                    "arch": runner.arch.name,
                    "units": units,
                    "engine": e,
                    "batch": b,
                    "heads": h,
                    "kv_heads": kv,
                    "head_dim": d,
                    "context": ctx,
                    "latency_s": r.latency_s,
                    "dram_bytes": r.dram_bytes,
                    "dram_floor_s": r.extra["dram_floor_s"],
                    "dram_fraction": r.extra["dram_fraction"],
                }
                if e == "lean":
                    row["speedup_vs_fa2"] = res["fa2"].latency_s / lean
                    row["speedup_vs_flashdecoding"] = res["flashdecoding"].latency_s / lean
                rows.append(row)
    return rows


def _line(metric, study, arch, units, ours, paper=None, context=None):
    return {
        "row": "summary",
        "metric": metric,
        "study": study,
        "arch": arch,
        "units": units,
        "context": context,
        "ours": ours,
        "paper": paper,
        "ratio": ours / paper if (paper and ours is not None) else None,
    }


def _summary(rows, study, arch, units, claims) -> list[dict]:
    lean = [r for r in rows if r["study"] == study and r["engine"] == "lean" and r["units"] == units]
    if not lean:
        return []
    c = claims or {}
    out = []
    for base in ("fa2", "flashdecoding"):
        key = f"speedup_vs_{base}"
        best = max(lean, key=lambda r: r[key])
        out.append(_line(f"mean_{key}", study, arch, units, fmean(r[key] for r in lean), c.get(f"mean_{key}")))
        paper_max = c.get(f"max_{key}") or {}
        out.append(_line(f"max_{key}", study, arch, units, best[key], paper_max.get("value"), best["context"]))
        if paper_max.get("context"):
            at = [r[key] for r in lean if r["context"] == paper_max["context"]]
            if at:
                out.append(
                    _line(
                        f"max_{key}_at_context", study, arch, units, max(at), paper_max["value"], paper_max["context"]
                    )
                )
    out.append(_line("min_speedup_vs_fa2", study, arch, units, min(r["speedup_vs_fa2"] for r in lean)))
    # with both kinds of settings, the means apart: GQA's gain over fa2 is mostly K/V fetched once per group
    kinds = {
        "mha": [r for r in lean if r["kv_heads"] == r["heads"]],
        "gqa": [r for r in lean if r["kv_heads"] < r["heads"]],
    }
    if all(kinds.values()):
        for kind, part in kinds.items():
            for base in ("fa2", "flashdecoding"):
                out.append(
                    _line(
                        f"mean_speedup_vs_{base}_{kind}",
                        study,
                        arch,
                        units,
                        fmean(r[f"speedup_vs_{base}"] for r in part),
                    )
                )
    for ctx in sorted({r["context"] for r in lean}):
        out.append(
            _line(
                "mean_speedup_vs_fa2_by_context",
                study,
                arch,
                units,
                fmean(r["speedup_vs_fa2"] for r in lean if r["context"] == ctx),
                context=ctx,
            )
        )
    b1 = [r for r in lean if r["batch"] == 1]
    if b1:
        top = max(r["context"] for r in b1)
        out.append(
            _line(
                "max_speedup_vs_fa2_batch1_longest",
                study,
                arch,
                units,
                max(r["speedup_vs_fa2"] for r in b1 if r["context"] == top),
                context=top,
            )
        )
    longs = [r for r in b1 if r["context"] >= LONG]
    if longs:
        out.append(
            _line(
                "max_lean_over_dram_floor_batch1_long",
                study,
                arch,
                units,
                max(r["latency_s"] / r["dram_floor_s"] for r in longs),
            )
        )
        out.append(
            _line(
                "min_lean_over_dram_floor_batch1_long",
                study,
                arch,
                units,
                min(r["latency_s"] / r["dram_floor_s"] for r in longs),
            )
        )
    return out


def _blog(runner, base, ref, published) -> list[dict]:
    rows = []
    for p in ref["blog"]:
        w = _workload(base, p["batch"], p["heads"], p["kv_heads"], p["head_dim"], p["context"])
        for e in ("fa2", "flashdecoding"):
            r = runner.run(e, w).result
            paper = p[f"{e}_us"] * 1e-6 if published else None
            rows.append(
                {
                    "row": "point",
                    "study": "blog",
                    "arch": runner.arch.name,
                    "units": runner.arch.units,
                    "engine": e,
                    "batch": p["batch"],
                    "heads": p["heads"],
                    "kv_heads": p["kv_heads"],
                    "head_dim": p["head_dim"],
                    "context": p["context"],
                    "latency_s": r.latency_s,
                    "paper_latency_s": paper,
                    "latency_ratio": r.latency_s / paper if paper else None,
                    "dram_bytes": r.dram_bytes,
                    "dram_floor_s": r.extra["dram_floor_s"],
                    "dram_fraction": r.extra["dram_fraction"],
                }
            )
    return rows


def _timeline(runner, b, h, kv, d, ctx, base) -> list[dict]:
    rows = []
    w = _workload(base, b, h, kv, d, ctx)
    for e in ENGINES:
        run = runner.run(e, w)
        for kernel, ctas in ((1, run.ctas), (2, run.combine)):
            units = runner.arch.units
            for c in ctas:
                if kernel == 1 and c.ranges:
                    # FlashDecoding's splits all write partials for the combine kernel
                    split = run.result.extra["splits"] > 1
                    roles = {("host" if r.host and not split else "peer") for r in c.ranges}
                    role = roles.pop() if len(roles) == 1 else "peer+host"
                else:
                    role = "combine"
                slot = (c.index % (units * c.tile.ctas_per_unit)) // units
                rows.append(
                    {
                        "row": "timeline",
                        "study": "timeline",
                        "engine": e,
                        "arch": runner.arch.name,
                        "units": units,
                        "batch": b,
                        "heads": h,
                        "kv_heads": kv,
                        "head_dim": d,
                        "context": ctx,
                        "unit": c.unit,
                        "slot": slot,
                        "kernel": kernel,
                        "start_s": c.start,
                        "end_s": c.end,
                        "tiles": c.tiles,
                        "role": role,
                    }
                )
    return rows


def run(sets=(), models=None, seq_lens=None) -> list[dict]:
    if models:
        raise AttnkitError(
            "reproduce leanattention has fixed batch/head settings (see its module docstring);"
            " --models does not apply (use --seq-lens for contexts)"
        )
    ref = anchors()
    arch_sets, wl_sets = split_sets(sets)
    published = not sets
    contexts = [int(x) for x in (seq_lens or CONTEXTS)]
    base = load_workload("decode", wl_sets)
    a100 = _Runner(load_arch("a100", arch_sets))
    rows = _study("a100", a100, base, SETTINGS, contexts, a100.arch.units)
    rows += _blog(a100, base, ref, published)
    accel = load_arch("fusemax-decode", arch_sets)
    runners = {u: _Runner(load_arch(accel, [f"units={u}"])) for u in ACCEL_UNITS}
    for u, runner in runners.items():
        rows += _study("fusemax-decode", runner, base, ACCEL_SETTINGS, contexts, u)
    summ = _summary(rows, "a100", a100.arch.name, a100.arch.units, ref["claims"] if published else None)
    for u in ACCEL_UNITS:
        summ += _summary(rows, "fusemax-decode", accel.name, u, None)
    for r in rows:
        if r["study"] == "blog" and r.get("paper_latency_s"):
            summ.append(
                _line(
                    f"blog_{r['engine']}_b{r['batch']}_ctx{r['context']}",
                    "blog",
                    r["arch"],
                    r["units"],
                    r["latency_s"],
                    r["paper_latency_s"],
                    r["context"],
                )
            )
    timelines = []
    for name, units, (b, h, kv, d, ctx) in TIMELINES:
        if name == "a100":
            runner = a100
        else:
            assert units is not None  # an accelerator's timeline names its cores
            runner = runners.get(units) or _Runner(load_arch(accel, [f"units={units}"]))
        timelines += _timeline(runner, b, h, kv, d, ctx, base)
    return rows + summ + timelines
