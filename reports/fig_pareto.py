"""Pareto fronts of a sweep: latency against energy, area as colour, the front highlighted.

Reads ``sweep`` tables (``attnkit sweep`` results). Points are compared only
within one workload: one panel per workload (up to four), at the shortest
sequence length swept when the sweep varies it. The front is over latency
and energy (both minimised), from :func:`attnkit.sim.pareto.front`.
"""

from __future__ import annotations

import matplotlib.ticker
import numpy as np

from attnkit.reports.figure import Figure, si_seq, subplots
from attnkit.sim import pareto

ORDER = 50   # place in the report
TITLE = "Pareto fronts of the sweep"
MAX_PANELS = 4


def _scale(set_scale, values, axis) -> None:
    """Log scale when the values span a decade or more, else linear (log ticks would be unreadable)."""
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo >= 10:
        set_scale("log")
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        axis.set_major_formatter(matplotlib.ticker.ScalarFormatter(useOffset=False))


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        if t.kind != "sweep":
            continue
        rows = [r for r in t.rows if not r.get("error") and r.get("latency_s") and r.get("energy_pj")]
        if not rows:
            continue
        seq_key = "workload.seq_len" if any("workload.seq_len" in r for r in rows) else None
        if seq_key:
            seq = min(r[seq_key] for r in rows)
            rows = [r for r in rows if r[seq_key] == seq]
        workloads = list(dict.fromkeys(r.get("workload", "all") for r in rows))[:MAX_PANELS]
        title = f"Sweep {t.source.parent.name}: latency against energy" + (f" at {si_seq(seq)} tokens" if seq_key else "")
        fig, axes = subplots(len(workloads), title)
        table = []
        areas = np.array([r.get("area_mm2") or 0.0 for r in rows])
        norm = (areas.min(), areas.max() if areas.max() > areas.min() else areas.min() + 1)
        for ax, w in zip(axes, workloads):
            group = [r for r in rows if r.get("workload", "all") == w]
            on_front = pareto.front(group, minimize=["latency_s", "energy_pj"])
            lat = [r["latency_s"] for r in group]
            en = [r["energy_pj"] * 1e-12 for r in group]
            sc = ax.scatter(lat, en, c=[r.get("area_mm2") or 0.0 for r in group], s=10, cmap="viridis",
                            vmin=norm[0], vmax=norm[1], alpha=0.7, label="design points")
            front_sorted = sorted(on_front, key=lambda r: r["latency_s"])
            ax.plot([r["latency_s"] for r in front_sorted], [r["energy_pj"] * 1e-12 for r in front_sorted],
                    color="red", marker="o", ms=4, mfc="none", lw=1.2, label="Pareto front")
            _scale(ax.set_xscale, lat, ax.xaxis)
            _scale(ax.set_yscale, en, ax.yaxis)
            ax.set_title(f"{w} ({len(group)} points, {len(on_front)} on the front)")
            ax.set_xlabel("latency (s)")
            ax.set_ylabel("energy (J)")
            ax.legend(fontsize=7)
            fig.colorbar(sc, ax=ax, label="area (mm$^2$)")
            keep = [k for k in group[0] if not k.startswith(("energy_breakdown.", "area_breakdown.", "actions.",
                                                               "einsum_util"))]
            table += [{k: r.get(k) for k in ("workload", *[c for c in keep if "." in c or c in ("clock_hz",)],
                                              "latency_s", "energy_pj", "area_mm2")} for r in front_sorted]
        fig.tight_layout()
        out.append(Figure("pareto", title, fig, table,
                          "Red: the latency/energy Pareto front of each workload; the table lists the front's designs."))
    return out
