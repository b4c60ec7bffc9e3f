"""``attnkit reproduce edgemoe``: M3ViT on Edge-MoE, per layer and per stage, at two port widths and two expert counts.

Runs engine ``edgemoe`` (:mod:`attnkit.sim.engines.edgemoe`) on
``configs/arch/zcu102-edgemoe.yaml`` + ``configs/workloads/m3vit.yaml`` (with
``--set`` edits) in four configurations: memory port ``axi.bits`` 256 (the
HLS masters) and 128 (the ZCU102's PS ports behind them, as the bitstream is
built), each with 16 and with 2 distinct active experts per MoE layer.

Rows (``"row": "point"``): for each configuration, one per layer (``embed``,
``L0`` .. ``L11``), one per stage kind summed over the image (``layer`` =
``all``) and the image total (``layer`` = ``image``, ``stage`` = ``total``,
with ``fps``): keys ``layer``, ``stage``, ``cycles``, ``latency_s``, ``share``
(of the image), ``axi_bits``, ``active_experts``. Summary rows (``"row":
"summary"``): per-image cycles and frames per second of each configuration,
the effect of experts and port width, and the paper's figures from
``configs/anchors/edgemoe.yaml`` (display only; ANCHORS.md has no latency for
Edge-MoE, so no ratio is computed against a paper latency).

Also writes ``DIR/derivation.md`` (:func:`files`): every stage of one dense and one MoE layer
with its loops (trip count x II), compute, memory and weight-load cycles, at
each port width. ``models``/``seq_lens`` filters do not apply (one model, one
length) and are refused.
"""

from __future__ import annotations

from attnkit.errors import AttnkitError
from attnkit.params import config, kinds
from attnkit.params.edgemoe import EdgeMoeParams
from attnkit.sim import engines
from attnkit.sim.engines.edgemoe import derive, stage_kind

ARCH, WORKLOAD = "zcu102-edgemoe", "m3vit"
PORTS = (256, 128)
EXPERTS = (16, 2)
COLUMNS = [
    "row",
    "axi_bits",
    "active_experts",
    "layer",
    "stage",
    "cycles",
    "latency_s",
    "share",
    "fps",
    "metric",
    "ours",
    "paper",
    "ratio",
]
POINT_COLUMNS = ["axi_bits", "active_experts", "layer", "stage", "cycles", "latency_s", "share"]
SUMMARY_COLUMNS = ["metric", "axi_bits", "active_experts", "ours", "paper", "ratio"]
KIND = "edgemoe"  # the kind its result files declare: drawn by the Edge-MoE figures


def anchors() -> dict:
    return config.load_yaml(config.resolve("edgemoe", "anchors"))


def configurations(sets=()) -> list[tuple[int, int, list[str]]]:
    """(axi_bits, active_experts, sets) of the four runs; the user's sets first, ours override them."""
    return [(b, e, list(sets) + [f"axi.bits={b}", f"workload.active_experts={e}"]) for b in PORTS for e in EXPERTS]


def _points(bits: int, experts: int, result) -> list[dict]:
    clock, total = result.clock_hz, result.extra["cycles_per_image"]
    base = {"row": "point", "axi_bits": bits, "active_experts": experts}
    rows = [
        {**base, "layer": layer, "stage": "layer", "cycles": c, "latency_s": c / clock, "share": c / total}
        for layer, c in result.extra["layers"].items()
    ]
    rows += [
        {**base, "layer": "all", "stage": kind, "cycles": c, "latency_s": c / clock, "share": c / total}
        for kind, c in result.extra["stages"].items()
    ]
    rows.append(
        {
            **base,
            "layer": "image",
            "stage": "total",
            "cycles": total,
            "latency_s": total / clock,
            "share": 1.0,
            "fps": clock / total,
        }
    )
    return rows


def _schedule_added(result, sets) -> tuple[int, dict[str, int]]:
    """Cycles per image with the linear and attention units charged their MAC trips only, and what the
    schedules their RTL runs (first rows, gaps, drains, pipeline depths) add over them, per unit, beside the
    engine's ``result`` of the same ``sets``."""
    trips = derive(EdgeMoeParams.load(ARCH, WORKLOAD, sets), fill=False)
    added = {"linear": 0, "attention": 0}
    for a, b in zip(result.extra["rows"], trips):
        added["attention" if stage_kind(b.stage) in ("qk", "av") else "linear"] += a["cycles"] - b.cycles
    return sum(r.cycles for r in trips), added


def run(sets=(), models=None, seq_lens=None) -> list[dict]:
    if models or seq_lens:
        raise AttnkitError(
            "reproduce edgemoe runs one model (M3ViT, 129 tokens): --models and --seq-lens do not"
            " apply (use --set workload.KEY=VALUE)"
        )
    ref = anchors()
    rows, totals, results = [], {}, {}
    for bits, experts, s in configurations(sets):
        r = engines.simulate(ARCH, WORKLOAD, engine="edgemoe", sets=s)
        results[(bits, experts)] = r
        totals[(bits, experts)] = r.extra["cycles_per_image"]
        rows += _points(bits, experts, r)
    summary = []
    for (bits, experts), c in totals.items():
        r = results[(bits, experts)]
        summary.append(
            {
                "row": "summary",
                "metric": "cycles per image",
                "axi_bits": bits,
                "active_experts": experts,
                "ours": c,
                "paper": None,
                "ratio": None,
            }
        )
        summary.append(
            {
                "row": "summary",
                "metric": "frames per second",
                "axi_bits": bits,
                "active_experts": experts,
                "ours": r.clock_hz / c,
                "paper": None,
                "ratio": None,
            }
        )
    for bits, experts, s in configurations(sets):
        base = {"row": "summary", "axi_bits": bits, "active_experts": experts, "paper": None, "ratio": None}
        trips, added = _schedule_added(results[(bits, experts)], s)
        summary.append(
            {**base, "metric": "cycles per image, the units' MAC trips only (no fill or drain)", "ours": trips}
        )
        for unit, extra in added.items():
            summary.append({**base, "metric": f"cycles the {unit} unit's RTL schedule adds", "ours": extra})
    for bits in PORTS:
        hi, lo = totals[(bits, EXPERTS[0])], totals[(bits, EXPERTS[1])]
        summary.append(
            {
                "row": "summary",
                "metric": f"cycles, {EXPERTS[1]} experts / {EXPERTS[0]}",
                "axi_bits": bits,
                "active_experts": None,
                "ours": lo / hi,
                "paper": None,
                "ratio": None,
            }
        )
    for e in EXPERTS:
        summary.append(
            {
                "row": "summary",
                "metric": f"cycles, axi {PORTS[1]} / {PORTS[0]}",
                "axi_bits": None,
                "active_experts": e,
                "ours": totals[(PORTS[1], e)] / totals[(PORTS[0], e)],
                "paper": None,
                "ratio": None,
            }
        )
    any_r = next(iter(results.values()))
    summary.append(
        {
            "row": "summary",
            "metric": "clock (Hz)",
            "axi_bits": None,
            "active_experts": None,
            "ours": any_r.clock_hz,
            "paper": ref["clock_hz"],
            "ratio": any_r.clock_hz / ref["clock_hz"],
        }
    )
    fit = any_r.extra["resources"]
    summary.append(
        {
            "row": "summary",
            "metric": f"DSP slices used (of {fit['dsp_available']})",
            "axi_bits": None,
            "active_experts": None,
            "ours": fit["dsp"],
            "paper": None,
            "ratio": None,
        }
    )
    summary.append(
        {
            "row": "summary",
            "metric": f"BRAM36 used (of {fit['bram36_available']})",
            "axi_bits": None,
            "active_experts": None,
            "ours": fit["bram36"],
            "paper": None,
            "ratio": None,
        }
    )
    if fit["luts"] is not None:  # the synthesised units' and the rest's estimate (resources' logic_sources)
        for key, what in (("luts", "LUTs"), ("ffs", "flip-flops")):
            synthesised = [u for u in fit["logic_sources"] if fit["logic_sources"][u].startswith("synthesised")]
            summary.append(
                {
                    "row": "summary",
                    "metric": f"{what} used (of {fit[f'{key}_available']}; {', '.join(synthesised)} synthesised,"
                    " the rest estimated)",
                    "axi_bits": None,
                    "active_experts": None,
                    "ours": fit[key],
                    "paper": None,
                    "ratio": None,
                }
            )
    for key, what in (
        ("energy_efficiency_vs_gpu", "energy efficiency vs GPU (paper only)"),
        ("energy_efficiency_vs_cpu", "energy efficiency vs CPU (paper only)"),
    ):
        summary.append(
            {
                "row": "summary",
                "metric": what,
                "axi_bits": None,
                "active_experts": None,
                "ours": None,
                "paper": ref[key],
                "ratio": None,
            }
        )
    return rows + summary


def derivation(sets=()) -> str:
    """Markdown: every stage of the first dense and the first MoE layer, at each port width (16 experts)."""
    lines = [
        "# Edge-MoE cycle derivation",
        "",
        "Each stage is one HLS call; its cycles are the longest of its concurrent loops (trips x II),"
        " its port transfers (bits / axi.bits) and, beside it, the weight load that overlaps it;"
        " plus the m_axi latency. See sim/engines/edgemoe.py.",
        "",
    ]
    for bits in PORTS:
        p = EdgeMoeParams.load(ARCH, WORKLOAD, list(sets) + [f"axi.bits={bits}"])
        rows = derive(p)
        w = p.workload
        dense = (
            next(f"L{i}" for i in range(w.layers) if not w.is_moe(i))
            if not all(w.is_moe(i) for i in range(w.layers))
            else None
        )
        moe = next((f"L{i}" for i in range(w.layers) if w.is_moe(i)), None)
        for layer in [x for x in ("embed", dense, moe) if x]:
            lines += [
                f"## axi.bits = {bits}, {layer} (active experts {w.active_experts})",
                "",
                "| stage | cycles | compute | memory | load beside | loops |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for r in rows:
                if r.layer == layer:
                    lines.append(f"| {r.stage} | {r.cycles} | {r.compute} | {r.memory} | {r.load} | {r.loops} |")
            lines.append("")
    return "\n".join(lines)


def files(sets=()) -> dict[str, str]:
    return {"derivation.md": derivation(sets)}


def configuration(sets=(), models=None) -> dict:
    arch_sets, wl_sets = kinds.split_sets(sets)
    return {
        "sets": list(sets),
        "runs": [{"axi_bits": b, "active_experts": e} for b, e, _ in configurations(sets)],
        "archs": {ARCH: config.to_data(kinds.load_arch(ARCH, arch_sets))},
        "workloads": {WORKLOAD: config.to_data(kinds.load_workload(WORKLOAD, wl_sets))},
    }


def counted(rows: list[dict]) -> str:
    return f"{len({(r['axi_bits'], r['active_experts']) for r in rows if r['row'] == 'point'})} configurations"
