"""Pareto fronts of a sweep: the choices a designer trades, with the front's designs named.

Reads ``sweep`` tables (``attnkit sweep`` results). Points are compared only
within one workload, at the longest sequence length swept (where attention
dominates) when the sweep varies it. One row of two panels per workload (up
to four):

- latency against area (both minimised), energy as colour: the largest array
  is fastest but not smallest, so the front runs from small-and-slow to
  large-and-fast; its designs are labelled by the parameters the sweep varied;
- throughput per mm^2 (tokens per second per mm^2: batch x sequence length /
  latency / area; maximised) against energy per token (minimised), area as
  colour: which designs use their silicon best, and at what energy.

Fronts come from :func:`attnkit.sim.pareto.front`; the table lists the
latency/area front's designs with every metric drawn.
"""

from __future__ import annotations

import functools

import matplotlib.colors
import matplotlib.ticker
import numpy as np

from attnkit.reports.figure import Figure, si_seq, subplots
from attnkit.sim import pareto
from attnkit.sim.result import ColumnRows

ORDER = 50  # place in the report
TITLE = "Pareto fronts of the sweep"
MAX_PANELS = 4  # workloads drawn
MAX_LABELS = 9  # front designs labelled per panel
HIDDEN = ("array_1d.pes",)
BREAKDOWNS = ("energy_breakdown.", "area_breakdown.", "actions.")
METRICS = ("latency_s", "energy_pj", "area_mm2")
DENSITY_ABOVE = 20_000  # design points per panel drawn one by one; more are drawn as a density  # derived from the array's columns in the shipped specs: labelled by RxC


def _scale(set_scale, values, axis) -> None:
    """Log scale when the values span a decade or more, else linear (log ticks would be unreadable)."""
    lo, hi = min(values), max(values)
    if lo > 0 and hi / lo >= 10:
        set_scale("log")
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    else:
        axis.set_major_formatter(matplotlib.ticker.ScalarFormatter(useOffset=False))


def _norm(values):
    """Colour scale: logarithmic over a decade or more, else linear."""
    lo, hi = float(min(values)), float(max(values))
    if lo > 0 and hi / lo >= 10:
        return matplotlib.colors.LogNorm(lo, hi)
    return matplotlib.colors.Normalize(lo, hi if hi > lo else lo * 1.01 + 1e-30)


def _varied(rows) -> list[str]:
    """Configuration keys (dotted, or clock_hz) that take more than one value among ``rows``."""
    keys = [
        k
        for k in rows[0]
        if ("." in k or k == "clock_hz")
        and not k.startswith((*BREAKDOWNS, "einsum_util", "workload."))
        and k not in HIDDEN
    ]
    return [k for k in keys if len({r.get(k) for r in rows}) > 1]


def label(row, keys) -> str:
    """A design named by its varied parameters: 256x256, 16 MiB, 940 MHz, then any others as k=v."""
    parts, keys = [], list(keys)
    if "array_2d.rows" in keys and "array_2d.cols" in keys:
        parts.append(f"{row['array_2d.rows']}x{row['array_2d.cols']}")
        keys = [k for k in keys if k not in ("array_2d.rows", "array_2d.cols")]
    for k in keys:
        v = row.get(k)
        if k == "global_buffer.bytes" and v:
            parts.append(f"{v / 2**20:g} MiB")
        elif k == "clock_hz" and v:
            parts.append(f"{v / 1e6:g} MHz")
        else:
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)  # a swept flag reads as True/False
            parts.append(f"{k.rsplit('.', 1)[-1]}={v:g}" if numeric else f"{k}={v}")
    return ", ".join(parts)


def _narrowed(rows):
    """Rows held as columns (a Parquet sweep's, maybe a million) cut down before any becomes a dict: the
    rows drawn (no error; the longest sequence, as below) and the columns read (no breakdowns)."""
    if not isinstance(rows, ColumnRows):
        return rows
    import pyarrow.compute as pc

    table = rows.table
    keep = [c for c in table.column_names if not c.startswith(BREAKDOWNS) and c not in ("other_metrics", "violated")]
    table = table.select(keep)
    if "error" in keep:
        table = table.filter(pc.or_kleene(pc.is_null(table["error"]), pc.equal(table["error"], "")))
    for metric in METRICS:  # drawn only where given and non-zero (as the rows below are kept)
        if metric in keep:
            table = table.filter(pc.fill_null(pc.not_equal(table[metric], 0), False))
    if "workload.seq_len" in keep and table.num_rows:
        table = table.filter(pc.equal(table["workload.seq_len"], pc.max(table["workload.seq_len"])))
    return table.to_pylist()


def _tokens(row, seq_key) -> float:
    """Tokens one run processes: batch x sequence length (batch from the workload config, if it loads)."""
    batch, length = _workload_tokens(row.get("workload"))
    seq = (row.get(seq_key) if seq_key else None) or length
    return batch * (seq or 1)


@functools.cache
def _workload_tokens(name) -> tuple[int, int | None]:
    """(batch, sequence length) of a workload config, read once per name; (1, None) if it does not load."""
    try:
        from attnkit.params.kinds import load_workload

        w = load_workload(name)
    except Exception:  # a workload given by a path that is not here: per sequence
        return 1, None
    return getattr(w, "batch", 1), getattr(w, "seq_len", None) or getattr(w, "context", None)


def _points(ax, xs, ys, colour_by, cmap: str, colour_label: str):
    """The design points: a scatter coloured by ``colour_by``, or over :data:`DENSITY_ABOVE` points a
    hexagonal histogram of how many designs fall in each cell (a million markers would bury the front and
    weigh megabytes). Returns the mappable for the colour bar and its label."""
    if len(xs) <= DENSITY_ABOVE:
        sc = ax.scatter(xs, ys, c=colour_by, s=12, cmap=cmap, alpha=0.75, norm=_norm(colour_by), label="design points")
        return sc, colour_label
    logx = min(xs) > 0 and max(xs) / min(xs) >= 10
    logy = min(ys) > 0 and max(ys) / min(ys) >= 10
    hb = ax.hexbin(
        xs,
        ys,
        gridsize=60,
        bins="log",
        mincnt=1,
        cmap="Greys",
        xscale="log" if logx else "linear",
        yscale="log" if logy else "linear",
        label="design points (density)",
    )
    return hb, "designs per cell"


def _annotate(ax, pts, texts) -> None:
    """Number front points left to right (at most MAX_LABELS, one per spot) and say what each number is in a
    key under the panel: a number is small enough not to sit on its neighbours, a design's name is not."""
    spots, picked = set(), []
    for (x, y), t in zip(pts, texts):
        spot = (round(float(np.log10(x)), 1), round(float(np.log10(y)), 1))
        if spot not in spots:
            spots.add(spot)
            picked.append(((x, y), t))
    step = max(1, -(-len(picked) // MAX_LABELS))
    chosen = [p for i, p in enumerate(picked) if not i % step or i == len(picked) - 1]
    key = []
    for n, ((x, y), t) in enumerate(chosen, 1):
        ax.annotate(
            str(n),
            (x, y),
            xytext=(5, 5 if n % 2 else -10),
            textcoords="offset points",
            fontsize=8,
            fontweight="bold",
            color="darkred",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
        )
        key.append(f"{n}: {t}")
    half = -(-len(key) // 2)
    lines = [f"{a:<34}{b}" for a, b in zip(key[:half], key[half:] + [""])]
    ax.text(0.0, -0.16, "\n".join(lines), transform=ax.transAxes, va="top", fontsize=7, family="monospace")


def _front_panel(ax, group, front, keys, *, x, y, colour, front_label, title, legend_loc) -> None:
    """One panel: every design of ``group`` a point coloured by ``colour`` (values, colour map, label) at ``x``
    and ``y`` (each an axis label and the row's value), ``front`` a red line numbered with a key under the panel."""
    (xlabel, fx), (ylabel, fy) = x, y
    xs, ys = [fx(r) for r in group], [fy(r) for r in group]
    sc, what = _points(ax, xs, ys, *colour)
    front_xs, front_ys = [fx(r) for r in front], [fy(r) for r in front]
    ax.plot(front_xs, front_ys, color="red", marker="o", ms=5, mfc="none", lw=1.2, label=front_label)
    _scale(ax.set_xscale, xs, ax.xaxis)
    _scale(ax.set_yscale, ys, ax.yaxis)
    _annotate(ax, list(zip(front_xs, front_ys)), [label(r, keys) for r in front])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc=legend_loc)
    ax.figure.colorbar(sc, ax=ax, label=what)


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        if t.kind != "sweep":
            continue
        rows = [
            r
            for r in _narrowed(t.rows)
            if not r.get("error") and r.get("latency_s") and r.get("energy_pj") and r.get("area_mm2")
        ]
        if not rows:
            continue
        seq_key = "workload.seq_len" if any("workload.seq_len" in r for r in rows) else None
        if seq_key:
            seq = max(r[seq_key] for r in rows)
            rows = [r for r in rows if r[seq_key] == seq]
        workloads = list(dict.fromkeys(r.get("workload", "all") for r in rows))[:MAX_PANELS]
        keys = _varied(rows)
        at = f" at {si_seq(int(seq))} tokens" if seq_key else ""
        title = f"Sweep {t.source.parent.name}: latency against area, and throughput per mm\u00b2" + at
        fig, axes = subplots(2 * len(workloads), title, width=6.2, height=5.6)
        table = []
        for i, w in enumerate(workloads):
            ax, ax2 = axes[2 * i], axes[2 * i + 1]
            group = [r for r in rows if r.get("workload", "all") == w]
            energies = np.array([r["energy_pj"] * 1e-12 for r in group])  # colour scales per panel
            areas = np.array([r["area_mm2"] for r in group])
            for r in group:
                tok = _tokens(r, seq_key)
                r["_density"] = tok / r["latency_s"] / r["area_mm2"]
                r["_energy_per_token"] = r["energy_pj"] * 1e-12 / tok
            # latency against area, energy as colour
            front = sorted(pareto.front(group, minimize=["latency_s", "area_mm2"]), key=lambda r: r["area_mm2"])
            _front_panel(
                ax,
                group,
                front,
                keys,
                x=("area (mm$^2$)", lambda r: r["area_mm2"]),
                y=("latency (s)", lambda r: r["latency_s"]),
                colour=(energies, "viridis", "energy (J)"),
                front_label="front (latency, area)",
                title=f"{w}: {len(group)} designs, {len(front)} on the front",
                legend_loc="upper right",
            )
            # throughput per mm^2 against energy per token, area as colour
            front2 = sorted(
                pareto.front(group, minimize=["_energy_per_token"], maximize=["_density"]),
                key=lambda r: r["_energy_per_token"],
            )
            _front_panel(
                ax2,
                group,
                front2,
                keys,
                x=("energy per token ($\\mu$J)", lambda r: r["_energy_per_token"] * 1e6),
                y=("throughput (tokens/s per mm$^2$)", lambda r: r["_density"]),
                colour=(areas, "plasma", "area (mm$^2$)"),
                front_label="front (throughput/mm$^2$, energy)",
                title=f"{w}: throughput per mm$^2$ against energy per token",
                legend_loc="lower right",
            )
            on2 = {id(r) for r in front2}
            table += [
                {
                    "workload": w,
                    "design": label(r, keys),
                    **{k: r.get(k) for k in keys},
                    "latency_s": r["latency_s"],
                    "area_mm2": r["area_mm2"],
                    "energy_pj": r["energy_pj"],
                    "tokens_per_s_per_mm2": r["_density"],
                    "energy_per_token_j": r["_energy_per_token"],
                    "on_density_front": id(r) in on2,
                }
                for r in front
            ]
            for r in group:
                r.pop("_density", None)
                r.pop("_energy_per_token", None)
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))  # room for the suptitle
        out.append(
            Figure(
                "pareto",
                title,
                fig,
                table,
                "Left: the latency/area front of each workload (red; numbered, with the parameters swept in the"
                " key under the panel),"
                " energy as colour. Right: throughput per mm\u00b2 against energy per token, area as"
                " colour, its own front in red, numbered the same way. Over"
                f" {DENSITY_ABOVE:,} designs a panel draws how many fall in each cell instead of each design."
                " The table lists the latency/area front's designs.",
            )
        )
    return out
