"""LeanAttention's speedup over FA2 and FlashDecoding against context length (decode tables).

Reads ``decode`` tables (``attnkit reproduce leanattention``): lean's point
rows carry ``speedup_vs_fa2`` and ``speedup_vs_flashdecoding``. One panel
per (arch, units); per baseline, the mean over the batch/head settings at
each context (line) and their range (band). A panel whose settings mix
multi-head and grouped-query attention draws the two means apart (solid and
dotted), as their gains differ in kind. The paper's mean claims are dashed
lines and its maxima black markers where the summary rows carry them.
"""

from __future__ import annotations

from statistics import fmean

import numpy as np

from attnkit.reports.data import points, summaries
from attnkit.reports.figure import Figure, colour, shared_legend, si_seq, subplots

ORDER = 40
TITLE = "Decode: LeanAttention's speedup against context length"
BASELINES = ("fa2", "flashdecoding")


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        if t.kind != "decode":
            continue
        lean = [r for r in points(t.rows) if r.get("engine") == "lean" and r.get("speedup_vs_fa2") is not None]
        if lean:
            out.append(_figure(lean, summaries(t.rows)))
    return out


def _figure(lean, summ):
    studies = list(dict.fromkeys((r["study"], r["arch"], r["units"]) for r in lean))
    fig, axes = subplots(len(studies), "lean's speedup over fa2 and flashdecoding", width=5.0, height=3.4)
    table = []
    for ax, (study, arch, units) in zip(axes, studies):
        rows = [r for r in lean if r["study"] == study and r["arch"] == arch and r["units"] == units]
        ctxs = sorted({int(r["context"]) for r in rows})
        x = np.arange(len(ctxs))
        kinds = {
            "MHA": [r for r in rows if r["kv_heads"] == r["heads"]],
            "GQA": [r for r in rows if r["kv_heads"] < r["heads"]],
        }
        kinds = kinds if all(kinds.values()) else {"": rows}
        for base in BASELINES:
            key = f"speedup_vs_{base}"
            vals = [[r[key] for r in rows if int(r["context"]) == c] for c in ctxs]
            ax.fill_between(
                x,
                [min(v) for v in vals],
                [max(v) for v in vals],
                color=colour(base),
                alpha=0.15,
                label=f"over {base} (range)",
            )
            for kind, part in kinds.items():
                kv = [[r[key] for r in part if int(r["context"]) == c] for c in ctxs]
                mean = [fmean(v) for v in kv]
                ax.plot(
                    x,
                    mean,
                    marker="s" if kind == "GQA" else "o",
                    ms=3,
                    color=colour(base),
                    ls=":" if kind == "GQA" else "-",
                    label=f"over {base} (mean of {kind + ' ' if kind else ''}settings)",
                )
                for c, m, v in zip(ctxs, mean, kv):
                    table.append(
                        {
                            "study": study,
                            "arch": arch,
                            "units": units,
                            "baseline": base,
                            "attention": kind or "all",
                            "context": c,
                            "mean_speedup": m,
                            "min_speedup": min(v),
                            "max_speedup": max(v),
                            "settings": len(v),
                        }
                    )
            for s in summ:
                if s.get("study") != study or s.get("units") != units or s.get("paper") is None:
                    continue
                if s.get("metric") == f"mean_{key}":
                    ax.axhline(s["paper"], color=colour(base), ls="--", lw=1, label=f"paper mean over {base}")
                elif s.get("metric") == f"max_{key}" and s.get("context") in ctxs:
                    ax.plot(
                        [ctxs.index(s["context"])],
                        [s["paper"]],
                        marker="*",
                        ms=10,
                        color="black",
                        ls="none",
                        label="paper maximum",
                    )
        ax.axhline(1.0, color="grey", lw=0.8)
        top = max(max(r[f"speedup_vs_{b}"] for b in BASELINES) for r in rows)
        if top > 20:  # fa2's GQA gaps would flatten the flashdecoding curves on a linear axis
            ax.set_yscale("log")
        ax.set_xticks(x, [si_seq(c) for c in ctxs], rotation=45)
        ax.set_xlabel("context (keys)")
        ax.set_ylabel("speedup (x)")
        ax.set_title(f"{study}: {arch}, {units} units" if study != arch else f"{arch}, {units} units")
    shared_legend(fig, axes)
    caption = (
        "Lines: lean's mean speedup over the stated batch/head settings at each context (solid: multi-head "
        "settings, or all of them; dotted: grouped-query ones, where fa2 reads each KV head once per query "
        "head); bands: the range over settings; dashed: the paper's mean claims; stars: its maxima (A100 only)."
    )
    return Figure(
        "decode-speedup",
        "LeanAttention: speedup against context",
        fig,
        table,
        caption,
        [
            "study",
            "arch",
            "units",
            "baseline",
            "attention",
            "context",
            "mean_speedup",
            "min_speedup",
            "max_speedup",
            "settings",
        ],
    )
