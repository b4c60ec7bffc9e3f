"""Speedup and energy of each design over the baseline, per model and sequence length (grouped bars).

Reads ``reproduce`` tables: one figure per scope (attention, end-to-end) and
metric. The baseline is ``flat`` when present (FuseMax's baseline), else the
first design. The paper's figures are marked where the rows carry them: a
black tick for a point whose two paper latencies are known, a dashed line for
a paper mean (summary rows ``mean_speedup_vs_flat`` / ``mean_energy_vs_flat``).
"""

from __future__ import annotations

import numpy as np

from attnkit.reports.data import points, summaries
from attnkit.reports.figure import Figure, colour, shared_legend, si_seq, subplots

ORDER = 10  # place in the report
TITLE = "Speedup and energy over the baseline"
METRICS = {  # name: (value from design row d and baseline row b, summary metric, axis label)
    "speedup": (lambda d, b: b["latency_s"] / d["latency_s"], "mean_speedup_vs_flat", "speedup over {base} (x)"),
    "energy": (
        lambda d, b: d["energy_pj"] / b["energy_pj"],
        "mean_energy_vs_flat",
        "energy relative to {base} (ratio)",
    ),
}


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        if t.kind != "reproduce":
            continue
        pts, summ = points(t.rows), summaries(t.rows)
        for scope in dict.fromkeys(r.get("scope", "attention") for r in pts):
            rows = [r for r in pts if r.get("scope", "attention") == scope]
            for metric in METRICS:
                fig = _figure(rows, summ, scope, metric)
                if fig:
                    out.append(fig)
    return out


def _paper_mean(summ, metric, scope, design, model):
    """The paper's mean for this model, else its mean over all models."""
    found = {
        str(r.get("model")).lower(): r.get("paper")
        for r in summ
        if r.get("metric") == metric and r.get("scope") == scope and r.get("design") == design
    }
    mean = found.get(model.lower(), found.get("all"))
    return mean if isinstance(mean, (int, float)) else None


def _figure(rows, summ, scope, metric):
    value, summary_metric, ylabel = METRICS[metric]
    designs = list(dict.fromkeys(r["design"] for r in rows))
    base = "flat" if "flat" in designs else designs[0]
    others = [d for d in designs if d != base]
    models = list(dict.fromkeys(r["model"] for r in rows))
    if not others:
        return None
    idx = {(r["model"], int(r["seq_len"]), r["design"]): r for r in rows}
    fig, axes = subplots(len(models), f"{scope}: {metric} of each design relative to {base}")
    table = []
    width = 0.8 / len(others)
    for ax, model in zip(axes, models):
        seqs = sorted({int(r["seq_len"]) for r in rows if r["model"] == model})
        x = np.arange(len(seqs))
        for i, d in enumerate(others):
            pos = x - 0.4 + width * (i + 0.5)
            vals = []
            for s, p in zip(seqs, pos):
                dr, br = idx.get((model, s, d)), idx.get((model, s, base))
                v = value(dr, br) if dr and br else np.nan
                vals.append(v)
                paper = None
                if metric == "speedup" and dr and br and dr.get("paper_latency_s") and br.get("paper_latency_s"):
                    paper = br["paper_latency_s"] / dr["paper_latency_s"]
                    ax.plot([p - width / 2, p + width / 2], [paper, paper], color="black", lw=2)
                table.append({"model": model, "seq_len": s, "design": d, metric: v, f"paper_{metric}": paper})
            ax.bar(pos, vals, width, color=colour(d), label=d)
            mean = _paper_mean(summ, summary_metric, scope, d, model)
            if mean is not None:
                ax.axhline(mean, color=colour(d), ls="--", lw=1, label=f"{d}: paper mean")
        if any(t.get(f"paper_{metric}") for t in table if t["model"] == model):
            ax.plot([], [], color="black", lw=2, label="paper (this point)")
        ax.set_xticks(x, [si_seq(s) for s in seqs])
        ax.set_xlabel("sequence length (tokens)")
        ax.set_ylabel(ylabel.format(base=base))
        ax.set_title(model)
        if metric == "energy":
            ax.axhline(1.0, color="grey", lw=0.8)
    shared_legend(fig, axes)
    means = []
    for d in others:  # the headline of every series drawn, not of one picked by position
        vals = [t[metric] for t in table if t["design"] == d and np.isfinite(t[metric])]
        if vals:
            means.append(f"{d} {np.mean(vals):.3f}")
    caption = (
        f"Mean {metric} over {base} across the points drawn: {', '.join(means)}. "
        "Solid black ticks: the paper's figure for that point; dashed lines: the paper's mean."
    )
    return Figure(
        f"{metric}-{scope}",
        f"{scope.capitalize()}: {metric} relative to {base}",
        fig,
        table,
        caption,
        ["model", "seq_len", "design", metric, f"paper_{metric}"],
    )
