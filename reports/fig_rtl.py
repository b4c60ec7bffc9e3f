"""RTL: cycles measured under the HDL simulator against the simulator's prediction, per configuration.

Reads ``rtl`` tables (``attnkit rtl-test --json`` records).
"""

from __future__ import annotations

import numpy as np

from attnkit.reports.figure import Figure, shared_legend, subplots

ORDER = 60  # place in the report
TITLE = "RTL cycles: predicted and measured"


def _label(r) -> str:
    cfg = r.get("config") or r.get("sets") or ""
    if isinstance(cfg, dict):
        cfg = " ".join(f"{k}={v}" for k, v in cfg.items())
    elif isinstance(cfg, list):
        cfg = " ".join(map(str, cfg))
    return f"{r['block']} ({r.get('simulator', '?')}) {cfg}".strip()


def _tick(r) -> str:
    """A short axis label: the block, its simulator, and each edit as ``last_key=value``, two per line."""
    cfg = r.get("config") or r.get("sets") or []
    if isinstance(cfg, dict):
        cfg = [f"{k}={v}" for k, v in cfg.items()]
    elif isinstance(cfg, str):
        cfg = cfg.split()
    short = [s.rsplit(".", 1)[-1] if "=" in s else s for s in cfg]
    lines = [f"{r['block']} ({r.get('simulator', '?')})"] + [
        " ".join(short[i : i + 2]) for i in range(0, len(short), 2)
    ]
    return "\n".join(lines)


def figures(tables) -> list[Figure]:
    rows = [r for t in tables if t.kind == "rtl" for r in t.rows]
    if not rows:
        return []
    fig, (ax,) = subplots(
        1, "Cycles: predicted vs measured in HDL simulation", width=max(6.0, 1.1 * len(rows) + 2), height=5.0
    )
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["predicted_cycles"] for r in rows], 0.4, label="predicted (cycle model)", color="C0")
    ax.bar(x + 0.2, [r["cycles"] for r in rows], 0.4, label="measured (HDL simulation)", color="C1")
    ax.set_xticks(x, [_tick(r) for r in rows], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("first input to last output (cycles)")
    ax.set_xlabel("configuration")
    values = [r["cycles"] for r in rows] + [r["predicted_cycles"] for r in rows]
    if min(values) > 0 and max(values) / min(values) > 100:
        ax.set_yscale("log")
    shared_legend(fig, [ax])  # below the axes: inside, it covers the tallest bars
    table = [
        {
            "configuration": _label(r),
            "predicted_cycles": r["predicted_cycles"],
            "cycles": r["cycles"],
            "difference": r["cycles"] - r["predicted_cycles"],
            "vectors": r.get("vectors"),
            "mismatches": r.get("mismatches"),
        }
        for r in rows
    ]
    exact = sum(t["difference"] == 0 for t in table)
    return [
        Figure(
            "rtl-cycles",
            "RTL cycles: predicted and measured",
            fig,
            table,
            f"{exact} of {len(table)} configurations exact.",
        )
    ]
