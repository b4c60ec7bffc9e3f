"""One drawn figure with the numbers behind it, and the house style every figure family uses."""

from __future__ import annotations

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
