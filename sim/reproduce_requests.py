"""``attnkit reproduce requests``: whole LLM requests on the shipped systems, FuseMax-class chips beside GPUs.

For each model (Llama-3-8B and 70B, Mixtral-8x7B: ``configs/models/``),
system (``configs/systems/``: ``fusemax-1``/``-8``, ``a100-1``/``-8``,
``h100-1``/``-8``, ``h200-1``/``-8``), prompt (1K..128K tokens) and batch (1,
8, 64), one request generating 256 tokens (:mod:`attnkit.sim.request`;
``--set`` edits every system, e.g. ``word_bits=8``). Decode simulates
:data:`DECODE_SAMPLES` steps spread over the context and interpolates the
rest. A request that does not fit its system's memory is a row with
``fits`` false, ``max_batch`` and the reason, not an error.

Rows (``"row": "point"``): model, system, chips, prompt, batch, fits,
max_batch, ttft_s, tpot_s, latency_s, tokens_per_s, tokens_per_s_per_mm2,
energy_per_token_j, area_mm2, weights_bytes, kv_cache_bytes and the
breakdown per phase and kind (``prefill_attention_s``...). Summary rows
(``"row": "summary"``): one per model and system at the smallest batch and a
:data:`HEADLINE_PROMPT`-token prompt (the shortest run when that is not), with
TTFT, TPOT, tokens/s per mm² and joules per token.
"""

from __future__ import annotations

import sys

from attnkit.errors import AttnkitError
from attnkit.params import config, kinds
from attnkit.params.model import load_model
from attnkit.params.system import RequestWorkload
from attnkit.sim import request

MODELS = ("llama3-8b", "llama3-70b", "mixtral-8x7b")
SYSTEMS = ("fusemax-1", "fusemax-8", "a100-1", "a100-8", "h100-1", "h100-8", "h200-1", "h200-8")
PROMPTS = (1024, 4096, 16384, 32768, 131072)
BATCHES = (1, 8, 64)
GENERATE = 256
DECODE_SAMPLES = 9
HEADLINE_PROMPT = 4096
KIND = "requests"  # the kind its result files declare: drawn by the request figures

_FIGURES = ["ttft_s", "tpot_s", "tokens_per_s_per_mm2", "energy_per_token_j"]
BREAKDOWN = [f"{ph}_{k}_s" for ph in request.PHASES for k in request.KINDS]
POINT_COLUMNS = ["model", "system", "prompt", "batch", "fits", *_FIGURES]
SUMMARY_COLUMNS = ["model", "system", "chips", *_FIGURES]
COLUMNS = [
    "row",
    "model",
    "system",
    "chips",
    "prompt",
    "generate",
    "batch",
    "fits",
    "max_batch",
    *request.HEADLINE,
    "weights_bytes",
    "kv_cache_bytes",
    *BREAKDOWN,
    "reason",
]


def run(sets=(), models=None, seq_lens=None, systems=None, batches=None) -> list[dict]:
    models = list(models or MODELS)
    prompts = [int(p) for p in (seq_lens or PROMPTS)]
    loaded = {s: kinds.load_arch(s, list(sets)) for s in (systems or SYSTEMS)}
    for s in loaded.values():
        kinds.check_kind("reproduce requests", "system", s, ("system",))
    rows = []
    total = len(models) * len(loaded) * len(prompts) * len(batches or BATCHES)
    for model_name in models:
        model = load_model(model_name)
        for system in loaded.values():
            for prompt in prompts:
                for batch in batches or BATCHES:
                    rows.append(_point(system, model, prompt, batch))
                    if sys.stderr.isatty():
                        print(f"\rreproduce requests: {len(rows)}/{total}", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return rows + summary(rows)


def _point(system, model, prompt: int, batch: int) -> dict:
    base = {"row": "point", "model": model.name, "system": system.name, "chips": system.chips}
    base |= {"prompt": prompt, "generate": GENERATE, "batch": batch}
    w = RequestWorkload(model=model, prompt=prompt, generate=GENERATE, batch=batch, decode_samples=DECODE_SAMPLES)
    try:
        r = request.run(system, w)
    except AttnkitError as e:
        most = request.max_batch(system, model, prompt + GENERATE) if system.tp and not model.heads % system.tp else 0
        return base | {"fits": False, "max_batch": most, "reason": str(e)}
    d = r.to_dict()
    flat = {f"{ph}_{k}_s": v for ph, b in d["breakdown"].items() for k, v in b.items()}
    return base | {k: d[k] for k in COLUMNS if k in d and k not in base} | flat


def summary(rows: list[dict]) -> list[dict]:
    out, pts = [], [r for r in rows if r["row"] == "point"]
    prompts = {r["prompt"] for r in pts}
    headline = HEADLINE_PROMPT if HEADLINE_PROMPT in prompts else min(prompts, default=0)
    for r in pts:
        if r["batch"] == min(r_["batch"] for r_ in pts) and r["prompt"] == headline:
            keep = {k: r.get(k) for k in ("model", "system", "chips", *_FIGURES)}
            out.append({"row": "summary", **keep, "fits": r["fits"]})
    return out


def counted(rows: list[dict]) -> str:
    pts = [r for r in rows if r["row"] == "point"]
    return f"{len(pts)} requests ({sum(not r['fits'] for r in pts)} do not fit their system)"


def configuration(sets=(), models=None) -> dict:
    return {
        "sets": list(sets),
        "generate": GENERATE,
        "decode_samples": DECODE_SAMPLES,
        "systems": {s: config.to_data(kinds.load_arch(s, list(sets))) for s in SYSTEMS},
        "models": {m: config.to_data(load_model(m)) for m in (models or MODELS)},
    }
