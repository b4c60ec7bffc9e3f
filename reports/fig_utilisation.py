"""Utilisation of the 2D and 1D arrays per design and sequence length.

Reads ``reproduce`` tables (``util_2d``, ``util_1d``).
"""

from __future__ import annotations

from attnkit.reports.data import attention_points, per_model
from attnkit.reports.figure import Figure, colour, shared_legend, si_seq, subplots

ORDER = 30  # place in the report
TITLE = "Array utilisation"


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        points_ = attention_points(t.rows) if t.kind == "reproduce" else []
        if not any("util_2d" in r for r in points_):
            continue
        designs, models = per_model(points_)
        fig, axes = subplots(len(models), "Array utilisation (solid: 2D array, dashed: 1D array)")
        table = []
        for ax, (model, rows) in zip(axes, models.items()):
            seqs = sorted({int(r["seq_len"]) for r in rows})
            for d in designs:
                pts = sorted((int(r["seq_len"]), r.get("util_2d"), r.get("util_1d")) for r in rows if r["design"] == d)
                if not pts:
                    continue
                s, u2, u1 = zip(*pts)
                ax.semilogx(s, u2, marker="o", ms=3, color=colour(d), label=f"{d} 2D")
                if any(v is not None for v in u1):
                    ax.semilogx(s, u1, marker="s", ms=3, ls="--", color=colour(d), label=f"{d} 1D")
                table += [{"model": model, "design": d, "seq_len": a, "util_2d": b, "util_1d": c} for a, b, c in pts]
            ax.set_xticks(seqs, [si_seq(x) for x in seqs])
            ax.minorticks_off()
            ax.set_ylim(0, 1.05)
            ax.set_title(model)
            ax.set_xlabel("sequence length (tokens)")
            ax.set_ylabel("utilisation (fraction of PE-cycles)")
        shared_legend(fig, axes)
        means = []
        for d in designs:
            u = [float(r["util_2d"]) for r in table if r["design"] == d and r["util_2d"] is not None]
            if u:
                means.append(f"{d} {sum(u) / len(u):.2f}")
        caption = f"Mean 2D-array utilisation over the points drawn: {', '.join(means)}."
        out.append(Figure("utilisation", "Utilisation of the 2D and 1D arrays", fig, table, caption))
    return out
