"""Energy per component (stacked bars) for each design.

Reads ``reproduce`` rows (one bar per design and model, at the shortest
sequence length every design ran) and ``simulate`` rows (one bar per run);
both carry ``energy_breakdown`` ({component: pJ}).
"""

from __future__ import annotations

import numpy as np

from attnkit.reports.data import attention_points
from attnkit.reports.figure import Figure, si_seq, subplots

ORDER = 40  # place in the report
TITLE = "Energy breakdown"


def _bars(rows, label):
    return [(label(r), r["energy_breakdown"]) for r in rows if isinstance(r.get("energy_breakdown"), dict)]


def figures(tables) -> list[Figure]:
    bars, note = [], ""
    for t in tables:
        if t.kind == "reproduce":
            pts = attention_points(t.rows)
            seq = min(int(r["seq_len"]) for r in pts)
            rows = [r for r in pts if int(r["seq_len"]) == seq]
            bars += _bars(rows, lambda r: f"{r['model']} / {r['design']}")
            note = f"Sequence length {si_seq(seq)}."
        elif t.kind == "simulate":
            bars += _bars(t.rows, lambda r: f"{r['engine']} / {r.get('workload', '')}".strip(" /"))
    if not bars:
        return []
    comps = sorted({c for _, b in bars for c in b}, key=lambda c: -sum(b.get(c, 0) for _, b in bars))
    # horizontal bars: the labels stay readable at the page's width however many bars there are
    fig, (ax,) = subplots(1, "Energy per component", width=9.0, height=0.3 * len(bars) + 1.8)
    y = np.arange(len(bars))[::-1]
    left = np.zeros(len(bars))
    unit, scale = ("mJ", 1e-9) if max(sum(b.values()) for _, b in bars) > 1e9 else ("uJ", 1e-6)
    for i, c in enumerate(comps):
        vals = np.array([b.get(c, 0.0) for _, b in bars]) * scale
        ax.barh(y, vals, 0.7, left=left, label=c, color=f"C{i % 10}")
        left += vals
    ax.set_yticks(y, [lbl for lbl, _ in bars], fontsize=9)
    ax.set_xlabel(f"energy ({unit})")
    ax.set_ylabel("model / design")
    ax.legend(title="component", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    table = [{"bar": lbl, **{c: b.get(c, 0.0) for c in comps}} for lbl, b in bars]
    return [Figure("energy-breakdown", "Energy per component", fig, table, f"{note} Energies in pJ in the table.")]
