"""attnkit request: a whole LLM request (prefill, then decode) on a serving system."""

import sys

from attnkit.commands._common import add_json, add_set, emit, keywords

NAME = "request"
HELP = "cost a whole LLM request on a system: TTFT, TPOT, tokens/s, energy per token, memory per chip"

_MEMORY = ("weights_bytes", "kv_cache_bytes", "capacity_bytes", "max_batch")
# The request's whole-number options (flag, default, metavar, help), each passed on to api.request by its name.
_COUNTS = (
    ("--prompt", 1024, "P", "prompt tokens per sequence (default 1024)"),
    ("--generate", 256, "G", "tokens generated per sequence (default 256)"),
    ("--batch", 1, "B", "sequences served together (default 1)"),
    (
        "--decode-samples",
        0,
        "N",
        "simulate N decode steps spread over the context and interpolate the rest (default 0: every step)",
    ),
)


def add_arguments(p) -> None:
    p.add_argument(
        "--model",
        required=True,
        metavar="M",
        help="a model: a name in configs/models/ (`attnkit configs models`; e.g. llama3-70b) or a path to a "
        "Hugging Face config.json",
    )
    p.add_argument(
        "--system",
        required=True,
        metavar="S",
        help="a serving system: a name in configs/systems/ (`attnkit configs systems`; e.g. h200-8) or a path",
    )
    for flag, default, metavar, help in _COUNTS:
        p.add_argument(flag, type=int, default=default, metavar=metavar, help=help)
    add_set(p)
    add_json(p)


def run(args) -> int:
    from attnkit import api
    from attnkit.sim.request import HEADLINE

    def progress(done: int, total: int) -> None:
        if total >= 64 and sys.stderr.isatty() and (done % 32 == 0 or done == total):
            print(f"\rdecode steps: {done}/{total}", end="\n" if done == total else "", file=sys.stderr)

    r = api.request(
        args.model,
        args.system,
        **keywords(args, "prompt", "generate", "batch", "decode_samples", set="sets"),
        progress=progress,
    )
    record = r.to_dict()
    if args.json:
        emit(args, record, kind="request")
        return 0
    emit(args, {k: record[k] for k in ("system", "model", "chips", *HEADLINE, *_MEMORY)})
    print("time by phase and kind (s):")
    for phase, parts in record["breakdown"].items():
        cells = "  ".join(f"{k} {v:.4g}" for k, v in parts.items())
        print(f"  {phase:<8} {cells}   (GEMMs: {record['gemm_model'][phase]})")
    steps = record["tpot_steps_s"]
    if steps:
        print(
            f"TPOT from {steps[0]:.4g} s (context {args.prompt + 1}) to {steps[-1]:.4g} s "
            f"(context {args.prompt + len(steps)}), {record['decode_simulated_steps']} steps simulated"
        )
    return 0
