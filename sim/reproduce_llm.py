"""Today's language models on the prefill engines: Llama-3-8B and 70B, causal, grouped-query heads.

For each model (configs/workloads/llama3-8b.yaml, llama3-70b.yaml: one layer,
batch 1), prompt length (4K..128K) and design (FuseMax, FLAT, unfused on
their own architectures, as in ``attnkit reproduce fusemax``), one row: the
model as it is (causal, 8 K/V heads), with the same engine run twice more to
show each saving on its own:

- ``dense_latency_s``: not causal (every key tile run), so ``causal_speedup``
  = dense / causal latency is the gain of skipping the tiles the mask empties;
- ``mha_latency_s``, ``mha_dram_bytes``: one K/V head per query head, so
  ``gqa_speedup`` and ``gqa_dram_factor`` are the gains of fetching a K/V tile
  once for its group of query heads.

Then ``speedup_vs_flat``, and the decode side of the same request:
``tpot_attn_s``, the attention part of the time per output token at that
context over all layers (engine ``lean`` on ``fusemax-decode``, FuseMax's
technology as a 4-core decode accelerator; ``tpot_attn_a100_s`` on ``a100``),
beside ``prefill_attn_s``, the whole prompt's attention over all layers.
``latency_s``, ``energy_pj`` and ``dram_bytes`` are one layer's.
Everything is computed by the engines; nothing here
is a stored result.
"""

from __future__ import annotations

import sys
from statistics import fmean

from attnkit.errors import AttnkitError, ConfigError
from attnkit.params import config
from attnkit.params.kinds import load_arch, load_workload, split_sets
from attnkit.params.model import load_model
from attnkit.sim import engines
from attnkit.sim.energy import load_table
from attnkit.sim.reproduce_fusemax import KEY_COLUMNS, measures

MODELS = ("llama3-8b", "llama3-70b")
SEQ_LENS = (4096, 8192, 16384, 32768, 65536, 131072)
DESIGNS = {"fusemax": ("fusemax", "fusemax"), "flat": ("flat", "flat"), "unfused": ("unfused", "unfused")}
DECODE = {"tpot_attn_s": "fusemax-decode", "tpot_attn_a100_s": "a100"}  # column: arch of engine lean

POINT_COLUMNS = [
    "model",
    "seq_len",
    "design",
    "causal",
    "kv_heads",
    "latency_s",
    "energy_pj",
    "util_2d",
    "dram_bytes",
    "causal_speedup",
    "gqa_speedup",
    "gqa_dram_factor",
    "speedup_vs_flat",
    "prefill_attn_s",
    "tpot_attn_s",
    "tpot_attn_a100_s",
]
SUMMARY_COLUMNS = ["metric", "model", "design", "ours"]
COLUMNS = [
    "row",
    *KEY_COLUMNS,
    "causal",
    "kv_heads",
    "heads",
    "latency_s",
    "energy_pj",
    "util_2d",
    "util_1d",
    "dram_bytes",
    "cycles",
    "dense_latency_s",
    "mha_latency_s",
    "mha_dram_bytes",
    "causal_speedup",
    "gqa_speedup",
    "gqa_dram_factor",
    "speedup_vs_flat",
    "energy_vs_flat",
    "tiles_run",
    "tiles_unmasked",
    "prefill_attn_s",
    "tpot_attn_s",
    "tpot_attn_a100_s",
    "metric",
    "ours",
]


def _layers(model: str) -> int:
    """The model's layer count from its config.json (configs/models/), 1 for a workload that names no model."""
    try:
        return load_model(model).layers
    except ConfigError:
        return 1


def _decode_latency(arch, w) -> float | None:
    """Engine lean, one layer, one new token per sequence against ``seq_len`` cached keys."""
    try:
        fn = engines.get("lean")
    except AttnkitError:
        return None  # the decode engines are not installed
    d = load_workload(
        "decode",
        [
            f"batch={w.batch}",
            f"heads={w.heads}",
            f"kv_heads={w.groups}",
            f"head_dim={w.head_dim}",
            f"context={w.seq_len}",
        ],
    )
    return fn(arch, d, load_table(arch.energy)).latency_s


def run(sets=(), models=None, seq_lens=None, mode: str = "closed") -> list[dict]:
    arch_sets, wl_sets = split_sets(sets)
    models = list(models or MODELS)
    seq_lens = [int(x) for x in (seq_lens or SEQ_LENS)]
    archs = {name: load_arch(name, arch_sets) for name in {a for a, _ in DESIGNS.values()}}
    tables = {name: load_table(a.energy) for name, a in archs.items()}
    try:
        decode_archs = {col: load_arch(name) for col, name in DECODE.items()}
    except AttnkitError:
        decode_archs = {}
    rows = []
    for model in models:
        base = load_workload(model, wl_sets)
        if not base.causal:
            print(
                f"reproduce llm: {model} is not causal (workload.causal=false): the dense variant equals it",
                file=sys.stderr,
            )
        layers = _layers(model)
        for L in seq_lens:
            w = load_workload(base, [f"seq_len={L}"])
            variants = {
                "attention-dense": load_workload(w, ["causal=false"]),
                "attention-mha": load_workload(w, [f"kv_heads={w.heads}"]),
            }
            tpot = {col: _decode_latency(a, w) for col, a in decode_archs.items()}
            point = {}
            for design, (arch_name, engine) in DESIGNS.items():
                fn, a, tb = engines.get(engine), archs[arch_name], tables[arch_name]
                r = fn(a, w, tb, mode=mode)
                dense = fn(a, variants["attention-dense"], tb, mode=mode)
                mha = fn(a, variants["attention-mha"], tb, mode=mode)
                row = {
                    "row": "point",
                    "model": model,
                    "seq_len": L,
                    "design": design,
                    "scope": "attention",
                    "causal": w.causal,
                    "kv_heads": w.groups,
                    "heads": w.heads,
                    **measures(r),
                    "tiles_run": r.extra.get("tiles_run"),
                    "tiles_unmasked": r.extra.get("tiles_unmasked"),
                    "bound_compute_s": r.extra.get("bound_compute_s"),
                    "bound_dram_s": r.extra.get("bound_dram_s"),
                    "energy_breakdown": r.energy_breakdown,
                    "dense_latency_s": dense.latency_s,
                    "mha_latency_s": mha.latency_s,
                    "mha_dram_bytes": mha.dram_bytes,
                    "causal_speedup": dense.latency_s / r.latency_s,
                    "gqa_speedup": mha.latency_s / r.latency_s,
                    "gqa_dram_factor": mha.dram_bytes / r.dram_bytes,
                    "prefill_attn_s": layers * r.latency_s,
                }
                for col, v in tpot.items():
                    row[col] = layers * v if v is not None else None
                point[design] = row
                rows.append(row)
            for row in point.values():
                row["speedup_vs_flat"] = point["flat"]["latency_s"] / row["latency_s"]
                row["energy_vs_flat"] = row["energy_pj"] / point["flat"]["energy_pj"]
    return rows + summary(rows)


def summary(rows: list[dict]) -> list[dict]:
    out = []
    main = [r for r in rows if r["row"] == "point"]

    def line(metric, model, design, value):
        out.append(
            {"row": "summary", "metric": metric, "model": model, "design": design, "seq_len": None, "ours": value}
        )

    for model in dict.fromkeys(r["model"] for r in main):
        for design in DESIGNS:
            rs = [r for r in main if r["model"] == model and r["design"] == design]
            if not rs:
                continue
            line("mean_causal_speedup", model, design, fmean(r["causal_speedup"] for r in rs))
            line("mean_gqa_speedup", model, design, fmean(r["gqa_speedup"] for r in rs))
            line("mean_gqa_dram_factor", model, design, fmean(r["gqa_dram_factor"] for r in rs))
            if design != "flat":
                line("mean_speedup_vs_flat", model, design, fmean(r["speedup_vs_flat"] for r in rs))
    return out


def configuration(sets=(), models=None) -> dict:
    arch_sets, wl_sets = split_sets(sets)
    return {
        "sets": list(sets),
        "layers": {m: _layers(m) for m in (models or MODELS)},
        "decode_archs": DECODE,
        "archs": {a: config.to_data(load_arch(a, arch_sets)) for a in dict.fromkeys(a for a, _ in DESIGNS.values())},
        "workloads": {m: config.to_data(load_workload(m, wl_sets)) for m in (models or MODELS)},
    }
