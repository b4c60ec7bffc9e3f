"""Speedup and energy of each design over a baseline, per model and sequence length (grouped bars).

Reads ``reproduce`` tables. The baseline is ``flat`` when present (FuseMax's
baseline), else the first design. Where a row carries the paper's figure
(``paper_speedup`` / ``paper_energy_ratio``), it is marked on its bar.
"""

from __future__ import annotations

import numpy as np

from attnkit.reports.figure import Figure, si_seq, subplots

TITLE = "Speedup and energy over the baseline"


def _index(rows):
    return {(r["model"], int(r["seq_len"]), r["design"]): r for r in rows if r.get("latency_s")}


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        if t.kind != "reproduce":
            continue
        idx = _index(t.rows)
        designs = list(dict.fromkeys(r["design"] for r in t.rows))
        base = "flat" if "flat" in designs else designs[0]
        models = list(dict.fromkeys(r["model"] for r in t.rows))
        seqs = sorted({int(r["seq_len"]) for r in t.rows})
        for design in designs:
            if design == base:
                continue
            table = []
            for m in models:
                for s in seqs:
                    d, b = idx.get((m, s, design)), idx.get((m, s, base))
                    if d and b:
                        table.append({"model": m, "seq_len": s, "design": design, "baseline": base,
                                      "speedup": b["latency_s"] / d["latency_s"],
                                      "energy_ratio": d["energy_pj"] / b["energy_pj"],
                                      "paper_speedup": d.get("paper_speedup"),
                                      "paper_energy_ratio": d.get("paper_energy_ratio")})
            if table:
                out.append(_draw(design, base, models, seqs, table))
    return out


def _draw(design, base, models, seqs, table) -> Figure:
    fig, (ax_s, ax_e) = subplots(2, f"{design} over {base}", width=6.0)
    width = 0.8 / len(seqs)
    x = np.arange(len(models))
    by = {(r["model"], r["seq_len"]): r for r in table}
    marked = False
    for i, s in enumerate(seqs):
        for ax, key, paper_key in ((ax_s, "speedup", "paper_speedup"), (ax_e, "energy_ratio", "paper_energy_ratio")):
            vals = [by[(m, s)][key] if (m, s) in by else np.nan for m in models]
            pos = x - 0.4 + width * (i + 0.5)
            ax.bar(pos, vals, width, label=si_seq(s), color=f"C{i}")
            paper = [by[(m, s)][paper_key] if (m, s) in by else None for m in models]
            for p, v in zip(pos, paper):
                if isinstance(v, (int, float)):
                    ax.plot([p - width / 2, p + width / 2], [v, v], color="black", lw=2,
                            label=None if marked else "paper")
                    marked = True
    ax_s.set_ylabel(f"speedup over {base} (x)")
    ax_e.set_ylabel(f"energy relative to {base} (ratio)")
    ax_e.axhline(1.0, color="grey", lw=0.8)
    for ax in (ax_s, ax_e):
        ax.set_xticks(x, models)
        ax.set_xlabel("model")
    ax_s.legend(title="sequence length", ncols=2)
    ax_s.set_title("speedup (higher is better)")
    ax_e.set_title("energy (lower is better)")
    fig.tight_layout()
    mean_s = np.mean([r["speedup"] for r in table])
    mean_e = np.mean([r["energy_ratio"] for r in table])
    return Figure(f"speedup-{design}", f"{design}: speedup and energy over {base}", fig, table,
                  f"Mean speedup {mean_s:.2f}x, mean energy ratio {mean_e:.3f} over {len(table)} points.",
                  ["model", "seq_len", "speedup", "paper_speedup", "energy_ratio", "paper_energy_ratio"])
