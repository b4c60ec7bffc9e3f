"""Reproduce FuseMax's evaluation: every model x sequence length x design, beside the paper.

Designs (architecture config, engine); the ablation steps are FLAT ->
+cascade -> +architecture -> +binding (= FuseMax):

==========================  ===========  =======================
design                      arch         engine
==========================  ===========  =======================
flat                        flat         flat
unfused                     unfused      unfused
ablation-cascade            flat         fusemax-cascade-flat
ablation-architecture       fusemax      fusemax-serial
fusemax                     fusemax      fusemax
==========================  ===========  =======================

End to end (``scope: end-to-end``) runs the ``-layer`` engines of fusemax,
flat and unfused. Everything is computed by the engines; the paper's
figures come from configs/anchors/fusemax.yaml and are only shown beside
ours (and only for the published architecture: with ``--set`` they are
left out, since the paper did not publish other array sizes).
"""

from __future__ import annotations

from statistics import fmean, geometric_mean

from attnkit.params import config
from attnkit.params.kinds import load_arch, load_workload, split_sets
from attnkit.sim import engines
from attnkit.sim.energy import CONFIG_DIR, load_table
from attnkit.sim.result import Result

DESIGNS = {  # design: (arch config, attention engine)
    "flat": ("flat", "flat"),
    "unfused": ("unfused", "unfused"),
    "ablation-cascade": ("flat", "fusemax-cascade-flat"),
    "ablation-architecture": ("fusemax", "fusemax-serial"),
    "fusemax": ("fusemax", "fusemax"),
}
END_TO_END = ("fusemax", "flat", "unfused")
KEY_COLUMNS = ["model", "seq_len", "design", "scope"]  # what tells point rows apart (reproduce llm's too)
COLUMNS = [
    "row",
    *KEY_COLUMNS,
    "latency_s",
    "paper_latency_s",
    "latency_ratio",
    "energy_pj",
    "util_2d",
    "util_1d",
    "dram_bytes",
    "paper_dram_bytes",
    "speedup_vs_flat",
    "energy_vs_flat",
    "metric",
    "ours",
    "paper",
    "ratio",
]


def anchors() -> dict:
    return config.load_yaml(CONFIG_DIR / "anchors" / "fusemax.yaml")


def measures(r: Result) -> dict:
    """An engine result's figures in a point row, in the rows' order (reproduce llm's rows hold them too)."""
    return {
        "latency_s": r.latency_s,
        "energy_pj": r.energy_pj,
        "util_2d": r.util_2d,
        "util_1d": r.util_1d,
        "dram_bytes": r.dram_bytes,
        "cycles": r.cycles,
    }


def points(rows: list[dict], design: str, scope: str = "attention", model=None, L=None) -> list[dict]:
    """The point rows of one design and scope, of one model and sequence length where given."""
    return [
        r
        for r in rows
        if r["row"] == "point"
        and r["design"] == design
        and r["scope"] == scope
        and (model is None or r["model"] == model)
        and (L is None or r["seq_len"] == L)
    ]


def run(sets=(), models=None, seq_lens=None, mode: str = "closed") -> list[dict]:
    """All rows: one per (model, seq_len, design, scope), then the summary rows."""
    ref = anchors()
    models = list(models or ref["models"])
    seq_lens = [int(x) for x in (seq_lens or ref["seq_lens"])]
    arch_sets, wl_sets = split_sets(sets)
    published = not sets
    archs = {name: load_arch(name, arch_sets) for name in {a for a, _ in DESIGNS.values()}}
    tables = {name: load_table(a.energy) for name, a in archs.items()}
    rows = []
    for model in models:
        base = load_workload(model, wl_sets)
        for L in seq_lens:
            w = load_workload(base, [f"seq_len={L}"])
            point = {}
            for design, (arch_name, engine) in DESIGNS.items():
                jobs = [("attention", engine)]
                if design in END_TO_END:
                    jobs.append(("end-to-end", f"{engine}-layer"))
                for scope, eng in jobs:
                    r = engines.get(eng)(archs[arch_name], w, tables[arch_name], mode=mode)
                    row = {
                        "row": "point",
                        "model": model,
                        "seq_len": L,
                        "design": design,
                        "scope": scope,
                        **measures(r),
                        "einsum_util_2d": r.extra.get("einsum_util_2d"),
                        "einsum_util_1d": r.extra.get("einsum_util_1d"),
                        "bound_compute_s": r.extra.get("bound_compute_s"),
                        "bound_dram_s": r.extra.get("bound_dram_s"),
                        "energy_breakdown": r.energy_breakdown,
                    }
                    if published and scope == "attention":
                        lat = ref["latency_s"].get(model, {}).get(L, {}).get(design)
                        dram = ref["dram_bytes"].get(model, {}).get(L, {}).get(design)
                        row["paper_latency_s"] = lat
                        row["latency_ratio"] = r.latency_s / lat if lat else None
                        row["paper_dram_bytes"] = dram
                    point[(design, scope)] = row
                    rows.append(row)
            for (_design, scope), row in point.items():
                flat = point[("flat", scope)]
                row["speedup_vs_flat"] = flat["latency_s"] / row["latency_s"]
                row["energy_vs_flat"] = row["energy_pj"] / flat["energy_pj"]
    return rows + summary(rows, ref if published else None)


def summary(rows: list[dict], ref: dict | None) -> list[dict]:
    """Mean speedups and energy ratios over FLAT, per model, utilisations, the ablation."""

    def line(metric, ours, paper=None, scope="attention", model="all", design="fusemax"):
        return {
            "row": "summary",
            "metric": metric,
            "scope": scope,
            "model": model,
            "design": design,
            "seq_len": None,
            "ours": ours,
            "paper": paper,
            "ratio": ours / paper if (paper and ours is not None) else None,
        }

    g = (lambda *keys: _get(ref, *keys)) if ref else (lambda *keys: None)
    out = []
    for scope, key in (("attention", "attention"), ("end-to-end", "end_to_end")):
        fm = points(rows, "fusemax", scope)
        if not fm:
            continue
        out.append(line("mean_speedup_vs_flat", fmean(r["speedup_vs_flat"] for r in fm), g(key, "mean_speedup"), scope))
        out.append(
            line(
                "geomean_speedup_vs_flat",
                geometric_mean([r["speedup_vs_flat"] for r in fm]),
                g(key, "geomean_speedup"),
                scope,
            )
        )
        out.append(line("mean_energy_vs_flat", fmean(r["energy_vs_flat"] for r in fm), g(key, "energy_ratio"), scope))
    models = list(dict.fromkeys(r["model"] for r in rows))
    for m in models:
        out.append(
            line(
                "mean_speedup_vs_flat",
                fmean(r["speedup_vs_flat"] for r in points(rows, "fusemax", model=m)),
                g("attention", "model_speedup", m),
                model=m,
            )
        )
    fm = points(rows, "fusemax")
    if fm:
        sp = [r["speedup_vs_flat"] for r in fm]
        out.append(line("min_speedup_vs_flat", min(sp), g("attention", "min_speedup", "value")))
        out.append(line("max_speedup_vs_flat", max(sp), g("attention", "max_speedup")))
        out.append(line("util_2d_mean", fmean(r["util_2d"] for r in fm), g("utilisation", "fusemax_2d_mean")))
        out.append(line("util_1d_mean", fmean(r["util_1d"] for r in fm), g("utilisation", "fusemax_1d")))
    for design in ("ablation-cascade", "ablation-architecture", "fusemax"):
        rs = points(rows, design)
        if rs:
            out.append(
                line(
                    "ablation_mean_speedup_vs_flat",
                    fmean(r["speedup_vs_flat"] for r in rs),
                    g("ablation_speedup", design),
                    design=design,
                )
            )
    bert_1m = points(rows, "fusemax", model="bert", L=1 << 20)
    if bert_1m:
        for e, v in bert_1m[0]["einsum_util_2d"].items():
            out.append(line(f"einsum_share_2d_{e}", v, g("einsum_share_2d_bert_1m", e), model="bert"))
    return out


def _get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


POINT_COLUMNS = [
    *KEY_COLUMNS,
    "latency_s",
    "paper_latency_s",
    "latency_ratio",
    "speedup_vs_flat",
    "energy_vs_flat",
    "util_2d",
    "util_1d",
    "dram_bytes",
    "paper_dram_bytes",
]
SUMMARY_COLUMNS = ["metric", "scope", "model", "design", "ours", "paper", "ratio"]


def configuration(sets=(), models=None) -> dict:
    """The architectures and workloads a run used, as plain data (saved beside the results)."""
    arch_sets, wl_sets = split_sets(sets)
    return {
        "sets": list(sets),
        "archs": {a: config.to_data(load_arch(a, arch_sets)) for a in dict.fromkeys(a for a, _ in DESIGNS.values())},
        "workloads": {m: config.to_data(load_workload(m, wl_sets)) for m in (models or anchors()["models"])},
    }
