"""Latency against sequence length, log-log, per design, with the roofline bound.

Reads ``reproduce`` tables. Rows may carry ``bound_compute_s`` (the 2D
array's MACs at full rate) and ``bound_dram_s`` (the compulsory DRAM traffic
at full bandwidth); the roofline drawn is the larger of the two.
"""

from __future__ import annotations

from attnkit.reports.data import attention_points, per_model
from attnkit.reports.figure import Figure, colour, shared_legend, si_seq, subplots

ORDER = 20  # place in the report
TITLE = "Latency against sequence length"


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        if t.kind != "reproduce":
            continue
        designs, models = per_model(attention_points(t.rows))
        fig, axes = subplots(len(models), "Attention latency against sequence length")
        table = []
        for ax, (model, rows) in zip(axes, models.items()):
            for d in designs:
                pts = sorted((int(r["seq_len"]), r["latency_s"]) for r in rows if r["design"] == d)
                if pts:
                    ax.loglog(*zip(*pts), marker="o", ms=3, color=colour(d), label=d)
                    table += [{"model": model, "design": d, "seq_len": s, "latency_s": v} for s, v in pts]
            bound: dict[int, float] = {}  # the lowest bound any design has at each length
            for r in rows:
                b = max(r.get("bound_compute_s") or 0, r.get("bound_dram_s") or 0)
                if b:
                    s = int(r["seq_len"])
                    bound[s] = min(bound.get(s, b), b)
            if bound:
                pts = sorted(bound.items())
                ax.loglog(*zip(*pts), ls="--", color="black", lw=1, label="roofline (compute, DRAM)")
            seqs = sorted({int(r["seq_len"]) for r in rows})
            ax.set_xticks(seqs, [si_seq(s) for s in seqs])
            ax.minorticks_off()
            ax.set_title(model)
            ax.set_xlabel("sequence length (tokens)")
            ax.set_ylabel("latency (s)")
        shared_legend(fig, axes)
        out.append(
            Figure(
                "latency",
                "Latency against sequence length",
                fig,
                table,
                "Log-log; the dashed line is the roofline bound where the rows carry it.",
            )
        )
    return out
