"""Sweep a custom architecture from Python and plot its latency/area front.

The design (configs/arch/edge-fusemax.yaml) and the sweep spec
(configs/sweeps/edge-arrays.yaml) live beside this script, not in attnkit:
putting this folder's configs/ on ATTNKIT_CONFIG_PATH makes their names
resolve like shipped ones.

    python examples/sweep_custom_arch.py [OUT_DIR]      (default build/examples/edge-arrays)
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ["ATTNKIT_CONFIG_PATH"] = str(HERE / "custom_arch" / "configs")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import attnkit  # noqa: E402


def main(out: Path) -> Path:
    arch = attnkit.load_arch("edge-fusemax")  # the frozen parameter object
    print(f"{arch.name}: {arch.array_2d.rows}x{arch.array_2d.cols} PEs at {arch.clock_hz / 1e6:.0f} MHz")

    rows = attnkit.sweep("edge-arrays", out=out, jobs=1)  # one row per design point, as results.csv
    ok = [r for r in rows if not r.get("error")]
    if not ok:
        raise SystemExit(f"every point failed, e.g.: {rows[0]['error']}")
    front = attnkit.pareto(ok, minimize=["latency_s", "area_mm2"], by=["workload.seq_len"])
    print(f"{len(ok)} points, {len(front)} on the latency/area fronts")

    fig, ax = plt.subplots(figsize=(6, 4))
    for n in sorted({r["workload.seq_len"] for r in ok}):
        pts = sorted((r for r in front if r["workload.seq_len"] == n), key=lambda r: r["area_mm2"])
        ax.plot([r["area_mm2"] for r in pts], [r["latency_s"] * 1e3 for r in pts], "o-", label=f"N = {n}")
    ax.set(
        xlabel="area (mm$^2$)",
        ylabel="latency (ms)",
        yscale="log",
        title="edge-fusemax, BERT attention: latency/area fronts",
    )
    ax.legend()
    path = Path(out) / "front.png"
    fig.savefig(path, bbox_inches="tight")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/examples/edge-arrays"))
