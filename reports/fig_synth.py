"""What the hardware costs: LUTs, FFs, DSPs and block RAMs of each RTL block and size per FPGA target,
the attention engine's resources and Fmax against its array size (exact against finite accumulators),
and the Fmax that place and route achieved.

Reads ``synth`` tables (``attnkit synth --json`` records, e.g. the files ``make synth`` writes).
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter

from attnkit.reports.figure import Figure, shared_legend, subplots

ORDER = 65  # place in the report: after the RTL cycles
TITLE = "Synthesis: resources and Fmax"

RESOURCES = (("luts", "LUTs"), ("ffs", "FFs"), ("dsps", "DSPs"), ("brams", "block RAMs"))
MARKERS = {"xcup": "s", "xc7": "D", "ecp5": "o", "ice40": "^"}


def _sets(r) -> list[str]:
    sets = r.get("sets") or []
    return [sets] if isinstance(sets, str) else list(sets)


def attention_size(r) -> dict | None:
    """The attention engine's array, head dim and accumulator format, from the parameters the record was
    built with (``params``), or None for another block or a record without them."""
    p = r.get("params")
    if r["block"] != "attention" or not isinstance(p, dict):
        return None
    n = p.get("numerics", {})
    f = n.get("acc_frac_bits")
    fmt = "exact" if f is None else f"F{f} {str(n.get('acc_rounding')).removeprefix('AP_')}"
    return {
        "rows": p["arch"]["array_2d"]["rows"],
        "cols": p["arch"]["array_2d"]["cols"],
        "d": p["workload"]["head_dim"],
        "format": fmt,
    }


def label(r) -> str:
    """A design's short name: ``attention 8x8 d16 exact``; other blocks by the edits that sized them."""
    s = attention_size(r)
    if s:
        return f"attention {s['rows']}x{s['cols']} d{s['d']} {s['format']}"
    return " ".join([r["block"], *(x.rsplit(".", 1)[-1] for x in _sets(r))])


def _log_if_wide(ax, values) -> None:
    if values and max(values) / min(values) > 10:  # sizes span decades: log; otherwise linear reads better
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())


def _resources(rows) -> Figure:
    designs = list(dict.fromkeys(label(r) for r in rows))
    targets = list(dict.fromkeys(r["target"] for r in rows))
    by = {(label(r), r["target"]): r for r in rows}
    fig, axes = subplots(
        len(RESOURCES), "Resources per block, size and target", width=max(5.2, 0.45 * len(designs) + 2.5), height=4.2
    )
    x = np.arange(len(designs))
    w = 0.8 / len(targets)
    for ax, (key, name) in zip(axes, RESOURCES):
        for i, t in enumerate(targets):
            vals = [by[(d, t)][key] if (d, t) in by else np.nan for d in designs]
            ax.bar(x + (i - (len(targets) - 1) / 2) * w, [v if v else np.nan for v in vals], w, label=t, color=f"C{i}")
        ax.set_xticks(x, designs, rotation=40, ha="right", fontsize=7)
        ax.set_ylabel(f"{name} (count)")
        ax.set_title(name)
        used = [by[(d, t)][key] for d in designs for t in targets if (d, t) in by and by[(d, t)][key]]
        if not used:
            ax.text(0.5, 0.5, "none used", transform=ax.transAxes, ha="center", va="center", color="0.4")
            ax.set_yticks([])
        else:
            _log_if_wide(ax, used)
    shared_legend(fig, axes)
    table = [
        {
            "block": label(r),
            "target": r["target"],
            "device": r.get("device"),
            **{k: r.get(k) for k, _ in RESOURCES},
            "carry": r.get("carry"),
            "fmax_mhz": r.get("fmax_mhz"),
            "fits": r.get("fits"),
        }
        for r in rows
    ]
    return Figure(
        "synth-resources",
        "Resources per block, size and target",
        fig,
        table,
        caption="Yosys (YoWASP) synthesis with each target's script (hw/synth.py); LUTs count LUT RAM "
        "and carry cells by the LUTs they occupy. Fit is against the target's device "
        "(configs/devices/).",
    )


def _attention_by_size(rows) -> Figure | None:
    """LUTs, FFs and (where placed and routed) Fmax against the array's PEs, a line per target and format."""
    sized = [(s, r) for r in rows if (s := attention_size(r))]
    if len({(s["rows"], s["cols"]) for s, _ in sized}) < 2:
        return None
    lines: dict[tuple, dict[int, dict]] = {}
    for s, r in sized:
        pts = lines.setdefault((r["target"], s["format"], s["d"]), {})
        n = s["rows"] * s["cols"]
        if n not in pts or (r.get("fmax_mhz") and not pts[n].get("fmax_mhz")):  # a placed design says more
            pts[n] = {**s, **r}
    styles = {k: i for i, k in enumerate(dict.fromkeys((fmt, d) for _, fmt, d in sorted(lines)))}
    timed = any(r.get("fmax_mhz") for _, r in sized)
    panels = [("luts", "LUTs"), ("ffs", "FFs")] + ([("fmax_mhz", "Fmax after P&R (MHz)")] if timed else [])
    fig, axes = subplots(len(panels), "The attention engine against its array size", height=3.6)
    pes = sorted({s["rows"] * s["cols"] for s, _ in sized})
    names = {s["rows"] * s["cols"]: f"{s['rows']}x{s['cols']}" for s, _ in sized}
    for ax, (key, name) in zip(axes, panels):
        for (target, fmt, d), pts in sorted(lines.items()):
            xs = [n for n in sorted(pts) if pts[n].get(key)]
            if xs:
                ax.plot(
                    xs,
                    [pts[n][key] for n in xs],
                    marker=MARKERS.get(target, "o"),
                    color=f"C{styles[(fmt, d)] % 10}",
                    linestyle="-" if fmt == "exact" else "--",
                    label=f"{target} d{d} {fmt}",
                )
        ax.set_xscale("log", base=2)
        ax.set_xticks(pes, [names[n] for n in pes])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("array (rows x cols)")
        ax.set_ylabel(name)
        ax.set_title(name)
        if key == "fmax_mhz":
            ax.set_ylim(bottom=0)
        else:
            _log_if_wide(ax, [r[key] for _, r in sized if r.get(key)])
    shared_legend(fig, axes)
    table = [
        {
            "target": target,
            "array": f"{r['rows']}x{r['cols']}",
            "head_dim": d,
            "format": fmt,
            "luts": r["luts"],
            "ffs": r["ffs"],
            "dsps": r["dsps"],
            "fmax_mhz": r.get("fmax_mhz"),
            "synth_s": r.get("synth_s"),
        }
        for (target, fmt, d), pts in sorted(lines.items())
        for _, r in sorted(pts.items())
    ]
    return Figure(
        "synth-attention-size",
        "The attention engine against its array size",
        fig,
        table,
        caption="Solid: exact (Kulisch) accumulators; dashed: finite ones (numerics.acc_frac_bits). "
        "Fmax from nextpnr-ecp5 out of context where the design was placed and routed.",
    )


def figures(tables) -> list[Figure]:
    rows = [r for t in tables if t.kind == "synth" for r in t.rows]
    if not rows:
        return []
    out = [_resources(rows)]
    size = _attention_by_size(rows)
    if size:
        out.append(size)
    timed = [r for r in rows if r.get("fmax_mhz")]
    if timed:
        fig, (ax,) = subplots(1, "Fmax after place and route (nextpnr-ecp5, out of context)", height=3.6)
        ax.bar(range(len(timed)), [r["fmax_mhz"] for r in timed], color="C2")
        ax.set_xticks(
            range(len(timed)), [f"{label(r)} ({r['device']})" for r in timed], rotation=30, ha="right", fontsize=8
        )
        ax.set_ylabel("achieved Fmax (MHz)")
        ax.set_xlabel("block and size")
        fig.tight_layout()
        out.append(
            Figure(
                "synth-fmax",
                "Fmax after place and route",
                fig,
                [
                    {"block": label(r), "device": r["device"], "fmax_mhz": r["fmax_mhz"], "luts": r["luts"]}
                    for r in timed
                ],
            )
        )
    return out
