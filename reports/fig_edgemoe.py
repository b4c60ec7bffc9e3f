"""Edge-MoE: where one image's cycles go, by stage, for each memory port width and expert count.

Reads ``edgemoe`` tables (``attnkit reproduce edgemoe``): the point rows with
``layer`` = ``all`` give each stage kind's cycles over the image, per
``(axi_bits, active_experts)``. One stacked bar per configuration, in
milliseconds at the arch's clock (from the rows' ``latency_s``), with the
frames per second above it; the table lists every stage's cycles.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from attnkit.reports.data import points
from attnkit.reports.figure import Figure, subplots

ORDER = 45
TITLE = "Edge-MoE: cycles per image by stage"

# stage kinds grouped for colour: attention, linear, MoE, the rest
GROUPS = [
    ("qk", "attention Q x K"),
    ("av", "attention A x V"),
    ("q", "Q linear"),
    ("k", "K linear"),
    ("v", "V linear"),
    ("proj", "projection"),
    ("fc1", "MLP FC1 (+GELU)"),
    ("fc2", "MLP FC2"),
    ("expert fc1", "expert FC1 (+GELU)"),
    ("expert fc2", "expert FC2"),
    ("gate", "MoE gate"),
    ("layernorm", "LayerNorm"),
    ("residual", "residual add, zeroing"),
    ("patch_embed", "patch embedding"),
]


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        if t.kind != "edgemoe":
            continue
        rows = [r for r in points(t.rows) if r.get("layer") == "all"]
        totals = [r for r in points(t.rows) if r.get("layer") == "image"]
        if rows:
            out.append(_figure(rows, totals))
    return out


def _figure(rows, totals):
    configs = list(dict.fromkeys((int(r["axi_bits"]), int(r["active_experts"])) for r in rows))
    fig, (ax,) = subplots(1, TITLE, width=8.0, height=4.6)
    x = np.arange(len(configs))
    bottom = np.zeros(len(configs))
    table = []
    cmap = [plt.cm.tab20(i) for i in range(len(GROUPS))]  # 14 stage kinds, each its own colour
    for (kind, label), colour in zip(GROUPS, cmap):
        ms = []
        for c in configs:
            r = next(
                (r for r in rows if (int(r["axi_bits"]), int(r["active_experts"])) == c and r["stage"] == kind), None
            )
            ms.append(1e3 * r["latency_s"] if r else 0.0)
            if r:
                table.append(
                    {
                        "axi_bits": c[0],
                        "active_experts": c[1],
                        "stage": kind,
                        "cycles": r["cycles"],
                        "ms": 1e3 * r["latency_s"],
                        "share": r.get("share"),
                    }
                )
        ms = np.array(ms)
        if ms.any():
            ax.bar(
                x,
                ms,
                0.6,
                bottom=bottom,
                color=colour,
                label=label,
                hatch="//" if kind.startswith(("expert", "gate")) else None,
                edgecolor="white",
                lw=0.5,
            )
        bottom += ms
    for i, c in enumerate(configs):
        tot = next((r for r in totals if (int(r["axi_bits"]), int(r["active_experts"])) == c), None)
        if tot:
            ax.text(
                i,
                bottom[i],
                f"{1e3 * tot['latency_s']:.1f} ms\n{tot['fps']:.1f} fps",
                ha="center",
                va="bottom",
                fontsize=8,
            )
    ax.set_xticks(x, [f"{b}-bit port\n{e} experts" for b, e in configs])
    ax.set_ylabel("ms per image")
    ax.set_ylim(0, bottom.max() * 1.18)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    caption = (
        "Cycles per M3ViT image on engine edgemoe (trip counts x II of the public HLS loops, port transfers"
        " at axi.bits, weight loads beside the call before them), by stage kind, at the HLS masters' 256-bit"
        " width and the ZCU102 PS ports' 128 bits, with 16 and 2 distinct experts per MoE layer."
        " The linear and attention stages are their RTL units' closed forms, fill and drain included; the"
        " other units' pipeline fill depths are not counted."
    )
    return Figure(
        "edgemoe_stages",
        TITLE,
        fig,
        table,
        caption,
        columns=["axi_bits", "active_experts", "stage", "cycles", "ms", "share"],
    )
