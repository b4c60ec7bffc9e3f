"""What the hardware costs: LUTs, FFs, DSPs and block RAMs of each RTL block and size per FPGA target,
and the Fmax that place and route achieved.

Reads ``synth`` tables (``attnkit synth --json`` records, e.g. the files ``make synth`` writes).
"""

from __future__ import annotations

import numpy as np

from attnkit.reports.figure import Figure, shared_legend, subplots

ORDER = 65   # place in the report: after the RTL cycles
TITLE = "Synthesis: resources and Fmax"

RESOURCES = (("luts", "LUTs"), ("ffs", "FFs"), ("dsps", "DSPs"), ("brams", "block RAMs"))


def label(r) -> str:
    """The block and the edits that sized it (``attention rows=4 cols=4``)."""
    sets = r.get("sets") or []
    if isinstance(sets, str):
        sets = [sets]
    short = [s.rsplit(".", 1)[-1] for s in sets]
    return " ".join([r["block"], *short])


def figures(tables) -> list[Figure]:
    rows = [r for t in tables if t.kind == "synth" for r in t.rows]
    if not rows:
        return []
    designs = list(dict.fromkeys(label(r) for r in rows))
    targets = list(dict.fromkeys(r["target"] for r in rows))
    by = {(label(r), r["target"]): r for r in rows}
    fig, axes = subplots(len(RESOURCES), "Resources per block, size and target",
                         width=max(5.2, 0.5 * len(designs) * len(targets) / 2 + 3), height=3.8)
    x = np.arange(len(designs))
    w = 0.8 / len(targets)
    for ax, (key, name) in zip(axes, RESOURCES):
        for i, t in enumerate(targets):
            vals = [by[(d, t)][key] if (d, t) in by else np.nan for d in designs]
            ax.bar(x + (i - (len(targets) - 1) / 2) * w, [v if v else np.nan for v in vals], w, label=t,
                   color=f"C{i}")
        ax.set_xticks(x, designs, rotation=40, ha="right", fontsize=7)
        ax.set_ylabel(f"{name} (count)")
        ax.set_xlabel("block and size")
        ax.set_title(name)
        used = [by[(d, t)][key] for d in designs for t in targets if (d, t) in by and by[(d, t)][key]]
        if not used:
            ax.text(0.5, 0.5, "none used", transform=ax.transAxes, ha="center", va="center", color="0.4")
            ax.set_yticks([])
        elif max(used) / min(used) > 10:   # sizes span decades: log; otherwise the bars read better linear
            ax.set_yscale("log")
    shared_legend(fig, axes)
    table = [{"block": label(r), "target": r["target"], "device": r.get("device"),
              **{k: r.get(k) for k, _ in RESOURCES}, "carry": r.get("carry"), "fmax_mhz": r.get("fmax_mhz"),
              "fits": r.get("fits")} for r in rows]
    out = [Figure("synth-resources", "Resources per block, size and target", fig, table,
                  caption="Yosys (YoWASP) synthesis with each target's script (hw/synth.py); LUTs count LUT RAM "
                          "and carry cells by the LUTs they occupy. Fit is against the target's device "
                          "(configs/devices/).")]
    timed = [r for r in rows if r.get("fmax_mhz")]
    if timed:
        fig, (ax,) = subplots(1, "Fmax after place and route (nextpnr-ecp5, out of context)", height=3.6)
        ax.bar(range(len(timed)), [r["fmax_mhz"] for r in timed], color="C2")
        ax.set_xticks(range(len(timed)), [f"{label(r)} ({r['device']})" for r in timed], rotation=30,
                      ha="right", fontsize=8)
        ax.set_ylabel("achieved Fmax (MHz)")
        ax.set_xlabel("block and size")
        fig.tight_layout()
        out.append(Figure("synth-fmax", "Fmax after place and route", fig,
                          [{"block": label(r), "device": r["device"], "fmax_mhz": r["fmax_mhz"],
                            "luts": r["luts"]} for r in timed]))
    return out
