"""Number formats of the attention engine: accuracy against accumulator width, and against FPGA cost.

Reads ``sweep`` tables from engine ``attention-numerics`` (rows with
``max_abs_err`` and ``numerics.acc_frac_bits``, e.g. ``make sweep-numerics``).
Two panels: max abs error against float64 per accumulator width (exact mode
at the right), one line per rounding and input/probability format; and max
abs error against LUTs for the synthesised points, the Pareto front (both
minimised, :func:`attnkit.sim.pareto.front`) joined and labelled. The table
lists the front.
"""

from __future__ import annotations

from typing import Any

from attnkit.reports.figure import Figure, subplots
from attnkit.sim import pareto
from attnkit.sim.result import ColumnRows

ORDER = 62  # place in the report: beside the RTL figures
TITLE = "Attention number formats: accuracy and cost"
WIDTH = "numerics.acc_frac_bits"
OTHER = ("numerics.acc_rounding", "numerics.in_fmt.frac_bits", "numerics.exp.table_fmt.frac_bits")


def _short(v) -> str:
    return str(v).rsplit(".", 1)[-1]


def _mode(r) -> str:
    w = r.get(WIDTH)
    return "exact" if w in (None, "") else f"F{w} {_short(r.get('numerics.acc_rounding'))}"


def figures(tables) -> list[Figure]:
    rows = [
        r
        for t in tables
        if t.kind == "sweep" and (not isinstance(t.rows, ColumnRows) or WIDTH in t.rows.columns)
        for r in t.rows
        if WIDTH in r and isinstance(r.get("max_abs_err"), (int, float))
    ]
    if not rows:
        return []
    widths = sorted({r[WIDTH] for r in rows if r[WIDTH] not in (None, "")})
    xpos = {w: i for i, w in enumerate(widths)}
    exact_x = len(widths)
    fig, (ax1, ax2) = subplots(2, "Accuracy against accumulator width and against LUTs", width=11.0, height=4.2)
    groups: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(_short(r.get(k)) for k in OTHER if k in r), []).append(r)
    for i, (key, rs) in enumerate(sorted(groups.items())):
        pts = sorted((exact_x if r[WIDTH] in (None, "") else xpos[r[WIDTH]], r["max_abs_err"]) for r in rs)
        ax1.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            "o-",
            color=f"C{i % 10}",
            ms=4,
            label="rounding {} / in frac {} / prob frac {}".format(*key) if len(key) == 3 else " ".join(key),
        )
    ax1.set_xticks(list(range(len(widths))) + [exact_x], [str(w) for w in widths] + ["exact"])
    ax1.set_yscale("log")
    ax1.set_xlabel("accumulator fraction bits (numerics.acc_frac_bits)")
    ax1.set_ylabel("max abs error vs float64")
    ax1.set_title("Accuracy (golden model, bit for bit the engine)")
    ax1.legend(fontsize=6)
    synth = [r for r in rows if isinstance(r.get("luts"), (int, float))]
    table = []
    if synth:
        front = pareto.front(synth, minimize=["max_abs_err", "luts"])
        ax2.scatter(
            [r["luts"] for r in synth],
            [r["max_abs_err"] for r in synth],
            color="0.6",
            s=18,
            label="synthesised designs",
        )
        fx = sorted(front, key=lambda r: r["luts"])
        ax2.plot([r["luts"] for r in fx], [r["max_abs_err"] for r in fx], "o-", color="C3", label="Pareto front")
        for r in fx:
            ax2.annotate(_mode(r), (r["luts"], r["max_abs_err"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
        for r in synth:
            if r not in front:
                ax2.annotate(
                    _mode(r),
                    (r["luts"], r["max_abs_err"]),
                    fontsize=6,
                    color="0.4",
                    xytext=(4, -8),
                    textcoords="offset points",
                )
        ax2.set_yscale("log")
        ax2.set_xlabel(f"LUTs ({synth[0].get('synth')} synthesis)")
        ax2.set_ylabel("max abs error vs float64")
        ax2.set_title("Accuracy against cost")
        ax2.legend(fontsize=7)
        table = [
            {
                "mode": _mode(r),
                "max_abs_err": r["max_abs_err"],
                "bound": r.get("bound"),
                "luts": r["luts"],
                "ffs": r.get("ffs"),
                "dsps": r.get("dsps"),
                "rd_bits": r.get("rd_bits"),
                "psum_bits": r.get("psum_bits"),
            }
            for r in fx
        ]
    else:
        ax2.text(0.5, 0.5, "no synthesised points", transform=ax2.transAxes, ha="center", va="center")
        ax2.set_axis_off()
    fig.tight_layout()
    n = rows[0].get("problems")
    return [
        Figure(
            "numerics-accuracy",
            TITLE,
            fig,
            table,
            caption=f"Max abs error of the attention golden model against float64 on {n} seeded problems per"
            " point (engine attention-numerics); LUTs from `attnkit synth attention`. The table is"
            " the accuracy/LUT Pareto front.",
        )
    ]
