"""The decode schedule as a timeline: one lane per compute unit, fa2 / flashdecoding / lean side by side.

Reads the ``"row": "timeline"`` rows of ``decode`` tables (``attnkit
reproduce leanattention``): one row per CTA with its unit, resident slot,
kernel, start and end. Each CTA is a bar on its unit's lane (resident CTAs
of one unit share the lane in thinner sub-lanes); colour is its role: a
whole head (host), a partial writer (peer), both, or FlashDecoding's
combine kernel.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from attnkit.reports.figure import Figure

ORDER = 41
TITLE = "Decode: the schedule as a timeline"
ENGINES = ("fa2", "flashdecoding", "lean")
COLOURS = {"host": "C0", "peer": "C1", "peer+host": "C2", "combine": "C3"}
LABELS = {
    "host": "whole heads / host",
    "peer": "partials only (peer)",
    "peer+host": "peer, then host",
    "combine": "FlashDecoding combine kernel",
}


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        if t.kind != "decode":
            continue
        rows = [r for r in t.rows if r.get("row") == "timeline"]
        for arch in dict.fromkeys(r["arch"] for r in rows):
            fig = _figure(arch, [r for r in rows if r["arch"] == arch])
            if fig:
                out.append(fig)
    return out


def _figure(arch, rows):
    engines = [e for e in ENGINES if any(r["engine"] == e for r in rows)]
    if not engines:
        return None
    units = int(rows[0]["units"])
    slots = 1 + max(int(r["slot"]) for r in rows)
    fig, axes = plt.subplots(
        1, len(engines), figsize=(4.6 * len(engines), 2.2 + min(units, 120) * 0.045), sharey=True, squeeze=False
    )
    axes = list(axes.flat)
    r0 = rows[0]
    fig.suptitle(
        f"{arch}: batch {r0['batch']}, {r0['heads']} heads ({r0['kv_heads']} KV), head dim "
        f"{r0['head_dim']}, context {r0['context']}: one lane per unit"
    )
    table = []
    h = 0.8 / slots
    for ax, e in zip(axes, engines):
        mine = [r for r in rows if r["engine"] == e]
        end = max(float(r["end_s"]) for r in mine)
        for role in COLOURS:
            bars = [r for r in mine if r["role"] == role]
            for s in range(slots):
                sel = [r for r in bars if int(r["slot"]) == s]
                if sel:
                    ax.barh(
                        [int(r["unit"]) - 0.4 + s * h + h / 2 for r in sel],
                        [(float(r["end_s"]) - float(r["start_s"])) * 1e6 for r in sel],
                        height=h * 0.9,
                        left=[float(r["start_s"]) * 1e6 for r in sel],
                        color=COLOURS[role],
                        lw=0,
                    )
        busy = sum(float(r["end_s"]) - float(r["start_s"]) for r in mine)
        occ = busy / (end * units * slots)
        ax.set_title(f"{e}: {end * 1e6:.1f} us, {len(mine)} CTAs, occupancy {occ:.0%}", fontsize=9)
        ax.set_xlabel("time (us)")
        ax.set_xlim(0, end * 1e6 * 1.02)
        ax.grid(False)
        table.append(
            {
                "engine": e,
                "latency_us": end * 1e6,
                "ctas": len(mine),
                "units": units,
                "slots_per_unit": slots,
                "occupancy": occ,
            }
        )
    axes[0].set_ylabel("unit")
    axes[0].set_ylim(units - 0.5, -0.5)
    roles = [role for role in COLOURS if any(r["role"] == role for r in rows)]
    fig.legend(
        [Patch(color=COLOURS[role]) for role in roles],
        [LABELS[role] for role in roles],
        loc="lower center",
        ncols=len(roles),
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    caption = (
        "Each bar is one CTA on its unit (sub-lanes: CTAs resident together). Occupancy is busy "
        "CTA-time over latency x units x resident slots."
    )
    return Figure(
        f"decode-timeline-{arch}",
        f"Decode schedule on {arch}",
        fig,
        table,
        caption,
        ["engine", "latency_us", "ctas", "units", "slots_per_unit", "occupancy"],
    )
