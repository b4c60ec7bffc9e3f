"""The README's and the docs' front figure: FuseMax against FLAT and unfused on BERT attention, 1K to 1M tokens.

    .venv/bin/python scripts/docs_figure.py [OUT.png]     (default docs/assets/attention-latency.png)

Every number comes from `attnkit.simulate` on the shipped configs (the closed form), so rerunning this
after a model change redraws the committed figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import attnkit  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DESIGNS = {"fusemax": "FuseMax", "flat": "FLAT", "unfused": "unfused"}
SEQ_LENS = [1024 * 4**i for i in range(6)]  # 1K .. 1M


def main(out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(8.4, 3.2), dpi=100)
    latency = {
        d: [attnkit.simulate(d, "bert", set={"workload.seq_len": n}).latency_s for n in SEQ_LENS] for d in DESIGNS
    }
    for d, label in DESIGNS.items():
        left.plot(SEQ_LENS, latency[d], marker="o", label=label)
        right.plot(SEQ_LENS, [f / m for f, m in zip(latency["flat"], latency[d])], marker="o", label=label)
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(SEQ_LENS, ["1K", "4K", "16K", "64K", "256K", "1M"])
        ax.set_xlabel("sequence length (tokens)")
        ax.grid(alpha=0.3)
    left.set_yscale("log")
    left.set_ylabel("attention latency (s)")
    left.set_title("BERT attention, batch 64", fontsize=10)
    right.set_ylabel("speedup over FLAT")
    right.set_title("the same, relative to FLAT", fontsize=10)
    left.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(out)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "assets" / "attention-latency.png")
