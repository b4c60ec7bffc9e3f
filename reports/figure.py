"""One drawn figure with the numbers behind it, and the house style every figure family uses."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update(
    {
        "figure.dpi": 110,
        "savefig.dpi": 110,
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "legend.fontsize": 8,
        "svg.fonttype": "none",
    }
)


# One colour per design, engine or backend name in every figure, so a reader follows a design from
# figure to figure. Names that appear together get distinct colours; a name not listed takes a fixed
# colour from its hash (the same in every report).
PALETTE = {
    # FuseMax's evaluation
    "fusemax": "#1f77b4",
    "flat": "#ff7f0e",
    "unfused": "#7f7f7f",
    "ablation-architecture": "#2ca02c",
    "ablation-cascade": "#9467bd",
    # decode engines and the measured GPU backends
    "lean": "#d62728",
    "fa2": "#8c564b",
    "flashdecoding": "#17becf",
    "flash": "#17becf",  # PyTorch's flash backend is what flashdecoding models
    "efficient": "#bcbd22",
    "cudnn": "#e377c2",
}
_SPARE = ["#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1"]


def colour(name: str) -> str:
    """The colour of design (or engine, or backend) ``name`` in every figure."""
    return PALETTE.get(name) or _SPARE[zlib.crc32(name.encode()) % len(_SPARE)]


@dataclass
class Figure:
    name: str  # file stem, unique in a report
    title: str
    fig: Any  # matplotlib Figure
    table: list[dict[str, Any]]  # the numbers drawn, shown beside the figure
    caption: str = ""
    columns: list[str] = field(default_factory=list)  # table column order (default: first row's keys)


def si_seq(n: int) -> str:
    """1024 -> 1K, 1048576 -> 1M (the paper's axis labels)."""
    for div, unit in ((1 << 20, "M"), (1 << 10, "K")):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return str(n)


def subplots(n: int, title: str, width: float = 5.2, height: float = 3.6):
    """A row (or 2 x k grid) of n axes with a figure title."""
    cols = n if n <= 2 else 2
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    fig.suptitle(title)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def shared_legend(fig, axes) -> None:
    """One legend below all axes (labels merged across them), then a layout that leaves it room."""
    per_row = 4 if len(axes) > 1 else 2  # a lone panel is half as wide
    handles: dict[str, Any] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    rows = (len(handles) + per_row - 1) // per_row
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncols=min(len(handles), per_row), fontsize=8)
    fig.tight_layout(rect=(0, 0.025 + 0.045 * rows / ((len(axes) + 1) // 2), 1, 1))
