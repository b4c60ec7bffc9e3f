"""Whole LLM requests on serving systems (``attnkit reproduce requests``).

Reads ``requests`` tables: one row per (model, system, prompt, batch) with
``ttft_s``, ``tpot_s``, ``tokens_per_s_per_mm2`` and ``fits``. Per model, at
batch 1: TTFT and mean TPOT against the prompt length, one line per system
that holds the model (colour by chip family, dashed for 8 chips). Then every
request that fits: tokens/s per mm² against TPOT, one colour per chip family
and one marker per model.
"""

from __future__ import annotations

from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from attnkit.reports.data import points
from attnkit.reports.figure import Figure, colour, shared_legend, si_seq, subplots

ORDER = 47
TITLE = "Whole requests: time to first token, time per output token, throughput per area"
MARKERS = "osD^v<>"
_PLAIN = FuncFormatter(lambda v, _: f"{v:g}")  # 3, 30, 300 rather than 3 x 10^0


def figures(tables) -> list[Figure]:
    out = []
    for t in tables:
        if t.kind != "requests":
            continue
        rows = [r for r in points(t.rows) if r.get("fits") in (True, "True")]
        for model in dict.fromkeys(r["model"] for r in rows):
            mine = [r for r in rows if r["model"] == model and r["batch"] == min(x["batch"] for x in rows)]
            if mine:
                out.append(_against_context(model, mine))
        if rows:
            out.append(_throughput(rows))
    return out


def _family(system: str) -> str:
    """``h200-8`` -> ``h200``: one colour per kind of chip."""
    return system.rsplit("-", 1)[0]


def _style(system: str) -> dict:
    many = system.rsplit("-", 1)[-1] != "1"
    return {"color": colour(_family(system)), "ls": "--" if many else "-", "marker": "o", "ms": 3}


def _against_context(model: str, rows: list[dict]) -> Figure:
    batch = rows[0]["batch"]
    fig, (ttft, tpot) = subplots(2, f"{model}, batch {batch}: time to first token and per output token")
    for system in dict.fromkeys(r["system"] for r in rows):
        line = sorted((r for r in rows if r["system"] == system), key=lambda r: r["prompt"])
        xs = [r["prompt"] for r in line]
        ttft.plot(xs, [r["ttft_s"] * 1e3 for r in line], label=system, **_style(system))
        tpot.plot(xs, [r["tpot_s"] * 1e3 for r in line], label=system, **_style(system))
    prompts = sorted({r["prompt"] for r in rows})
    for ax, what in ((ttft, "TTFT (ms)"), (tpot, "mean TPOT over 256 tokens (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(prompts, [si_seq(p) for p in prompts])
        ax.yaxis.set_major_formatter(_PLAIN)
        lo, hi = ax.get_ylim()
        # over two decades or less, label 2 and 5 of each decade too; over more, they would crowd
        ax.yaxis.set_minor_locator(LogLocator(subs=(2, 5)))
        ax.yaxis.set_minor_formatter(_PLAIN if hi / lo < 100 else NullFormatter())
        ax.set_xlabel("prompt (tokens)")
        ax.set_ylabel(what)
    ttft.set_title("prefill of the whole prompt")
    tpot.set_title("decode, as the context grows")
    shared_legend(fig, [ttft, tpot])
    held = sorted({r["system"] for r in rows})
    caption = (
        f"{model} at batch {batch} on the {len(held)} shipped systems that hold it (solid: one chip, dashed: 8 "
        "tensor-parallel chips). GPU prefill and GEMMs are a roofline of the data sheet's FLOP/s and the calibrated "
        "HBM; GPU decode attention runs the calibrated kernels; FuseMax-class chips run the engines."
    )
    cols = ["system", "prompt", "ttft_s", "tpot_s"]
    return Figure(f"requests-{model}", f"{model}: TTFT and TPOT against the prompt", fig,
                  [{k: r[k] for k in cols} for r in rows], caption, cols)  # fmt: skip


def _throughput(rows: list[dict]) -> Figure:
    fig, (ax,) = subplots(1, "throughput per area against time per output token", width=6.4, height=4.4)
    models = list(dict.fromkeys(r["model"] for r in rows))
    for family in dict.fromkeys(_family(r["system"]) for r in rows):
        for i, model in enumerate(models):
            pts = [r for r in rows if _family(r["system"]) == family and r["model"] == model]
            if pts:
                ax.scatter(
                    [r["tpot_s"] * 1e3 for r in pts],
                    [r["tokens_per_s_per_mm2"] for r in pts],
                    s=16,
                    marker=MARKERS[i % len(MARKERS)],
                    color=colour(family),
                    alpha=0.8,
                )
    ax.set(xscale="log", yscale="log")
    families = list(dict.fromkeys(_family(r["system"]) for r in rows))
    handles = [Line2D([], [], ls="", marker="o", color=colour(f), label=f) for f in families]
    handles += [
        Line2D([], [], ls="", marker=MARKERS[i % len(MARKERS)], color="grey", label=m) for i, m in enumerate(models)
    ]
    ax.legend(handles=handles, fontsize=8, loc="lower left", ncols=2)
    ax.set_xlabel("mean TPOT (ms)")
    ax.set_ylabel("tokens/s per mm² (all chips)")
    ax.set_title("every request that fits (up and left is better)")
    fig.tight_layout()
    caption = (
        f"{len(rows)} requests over the prompts and batches of the run; one colour per kind of chip, one marker "
        "per model. On one system and prompt, a larger batch moves a request up (more tokens per step, the weights "
        "read once for all) and right (a longer step, more KV cache to read)."
    )
    cols = ["model", "system", "prompt", "batch", "tpot_s", "tokens_per_s_per_mm2"]
    return Figure("requests-throughput", "Tokens/s per mm² against TPOT", fig,
                  [{k: r[k] for k in cols} for r in rows], caption, cols)  # fmt: skip
