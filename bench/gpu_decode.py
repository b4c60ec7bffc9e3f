"""Time decode attention on your own GPU and write a measurements file for ``attnkit calibrate`` and ``validate``.

Run on a machine with a CUDA GPU and PyTorch (an optional extra: ``pip install
'attnkit[gpu]'``, or any recent torch)::

    python bench/gpu_decode.py --out build/measurements/mygpu-pytorch-sdpa
    attnkit calibrate build/measurements/mygpu-pytorch-sdpa.csv --arch MYGPU-datasheet -o configs/arch/mygpu.yaml
    attnkit validate build/measurements/mygpu-pytorch-sdpa.csv --arch mygpu

It writes ``NAME.yaml`` first (the GPU, software, how it timed, a measured
device-copy bandwidth, the engine and kernel that model each backend), then
``NAME.csv`` (``backend, batch, heads, kv_heads, head_dim, context,
latency_us``) one row at a time, flushed: an interrupted run keeps what it
measured. Each point is one query per sequence and query head against a KV
cache (q ``(batch, heads, 1, d)``, K and V ``(batch, kv_heads, context, d)``,
fp16 on CUDA, fp32 on CPU, random normal) through
``torch.nn.functional.scaled_dot_product_attention`` with one backend forced
at a time (``torch.nn.attention.sdpa_kernel``); a backend that refuses a
shape is skipped with a note. Times are ``triton.testing.do_bench``'s mean
when Triton is there (warm-up, then repetitions for a time budget), else the
same budget with CUDA events or ``time.perf_counter``.

Before calibrating, add a ``calibrate:`` section naming one point per
constant (see ``configs/measurements/h200-pytorch-sdpa.yaml``); without one,
``attnkit calibrate`` takes each backend's shortest call for its fixed cost
and its longest for its rate. On a CPU (``--device cpu``) the only backend is
``math``: a check of the file's shape, not a GPU measurement.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from pathlib import Path

COLUMNS = ["backend", "batch", "heads", "kv_heads", "head_dim", "context", "latency_us"]
GPU_BACKENDS = ("flash", "efficient", "cudnn")
MODELS = {  # backend -> the engine whose schedule models it, and the arch's kernel profile
    "flash": {"engine": "flashdecoding", "kernel": "flash"},
    "efficient": {"engine": "fa2", "kernel": "efficient"},
    "cudnn": {"engine": "lean", "kernel": "flash", "best_measured": True},
    "math": {"engine": "fa2", "kernel": "math"},
}
CONTEXTS = [1024, 4096, 16384, 32768, 65536, 131072, 262144, 524288]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gpu_decode.py", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out",
        default=None,
        help="DIR/NAME: writes NAME.yaml and NAME.csv (default build/measurements/<gpu>-pytorch-sdpa)",
    )
    p.add_argument("--batch", type=int, nargs="+", default=[1])
    p.add_argument("--heads", type=int, nargs="+", default=[16])
    p.add_argument("--kv-heads", type=int, nargs="+", default=[16, 2])
    p.add_argument("--head-dim", type=int, nargs="+", default=[128])
    p.add_argument("--context", type=int, nargs="+", default=CONTEXTS)
    p.add_argument(
        "--backends", nargs="+", default=None, help=f"of {', '.join(GPU_BACKENDS)} or math (default: the device's)"
    )
    p.add_argument("--device", choices=("cuda", "cpu"), default=None, help="default: cuda if there is one")
    p.add_argument("--warmup-ms", type=float, default=5.0)
    p.add_argument("--rep-ms", type=float, default=40.0)
    p.add_argument("--copy-mib", type=int, default=2048, help="size of the device copy timed for the bandwidth")
    args = p.parse_args(argv)
    for name in ("batch", "heads", "kv_heads", "head_dim", "context"):
        bad = [v for v in getattr(args, name) if v < 1]
        if bad:
            p.error(f"--{name.replace('_', '-')} {bad[0]}: sizes must be positive")
    for h in args.heads:
        for kv in args.kv_heads:
            if h % kv:
                p.error(f"--heads {h} is not a multiple of --kv-heads {kv}")
    for b in args.backends or ():
        if b not in MODELS:
            p.error(f"--backends {b}: unknown (known: {', '.join(MODELS)})")
    if args.warmup_ms < 0 or args.rep_ms <= 0 or args.copy_mib < 1:
        p.error("--warmup-ms must be 0 or more, --rep-ms and --copy-mib positive")
    return args


def _torch():
    try:
        import torch
    except ImportError:
        sys.exit("gpu_decode.py: error: PyTorch is an optional extra: pip install 'attnkit[gpu]' (or torch)")
    return torch


def _timer(torch, device: str, warmup_ms: float, rep_ms: float):
    """A function timing ``fn()`` in microseconds: do_bench's mean when Triton is there, else the same budget."""
    if device == "cuda":
        try:
            from triton.testing import do_bench

            return lambda fn: 1e3 * do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="mean")
        except ImportError:
            pass

    def bench(fn) -> float:
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        t0 = time.perf_counter()
        while (time.perf_counter() - t0) * 1e3 < warmup_ms:
            fn()
        sync()
        n, t0 = 0, time.perf_counter()
        while n == 0 or (time.perf_counter() - t0) * 1e3 < rep_ms:
            fn()
            n += 1
        sync()
        return (time.perf_counter() - t0) * 1e6 / n

    return bench


def copy_bandwidth(torch, device: str, mib: int, bench) -> float:
    """Bytes read plus written per second of a device-to-device copy of ``mib`` MiB."""
    n = mib * (1 << 20) // 2
    src = torch.empty(n, dtype=torch.float16, device=device)
    dst = torch.empty_like(src)
    us = bench(lambda: dst.copy_(src))
    return 2 * n * 2 / (us * 1e-6)


def _backends(torch, args) -> list[str]:
    if args.backends:
        return list(args.backends)
    return list(GPU_BACKENDS) if args.device == "cuda" else ["math"]


def _sdpa(torch, backend: str):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    which = {
        "flash": SDPBackend.FLASH_ATTENTION,
        "efficient": SDPBackend.EFFICIENT_ATTENTION,
        "cudnn": SDPBackend.CUDNN_ATTENTION,
        "math": SDPBackend.MATH,
    }[backend]

    def call(q, k, v, gqa: bool):
        with sdpa_kernel([which]):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=gqa)

    return call


def _yaml_text(meta: dict) -> str:
    import yaml

    return yaml.safe_dump(meta, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch = _torch()
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_decode.py: error: --device cuda, but PyTorch sees no CUDA device")
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({platform.processor() or 'unknown'})"
    sms = torch.cuda.get_device_properties(0).multi_processor_count if args.device == "cuda" else None
    slug = "".join(c if c.isalnum() else "-" for c in gpu.lower()).strip("-")
    base = Path(args.out or f"build/measurements/{slug}-pytorch-sdpa")
    base.parent.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if args.device == "cuda" else torch.float32
    backends = _backends(torch, args)
    bench = _timer(torch, args.device, args.warmup_ms, args.rep_ms)
    copy_mib = args.copy_mib if args.device == "cuda" else min(args.copy_mib, 64)
    meta = {
        "gpu": gpu,
        "sms": sms,
        "software": {
            "torch": str(torch.__version__),
            "cuda": torch.version.cuda,
            "python": platform.python_version(),
        },
        "timing": (
            f"warm-up {args.warmup_ms:g} ms, then {args.rep_ms:g} ms of repetitions, mean per call"
            " (triton.testing.do_bench where available); includes each kernel's launch"
        ),
        "dtype": "fp16" if dtype == torch.float16 else "fp32",
        "copy_bandwidth_bytes_per_s": float(f"{copy_bandwidth(torch, args.device, copy_mib, bench):.4g}"),
        "backends": {b: MODELS[b] for b in backends},
    }
    base.with_suffix(".yaml").write_text(_yaml_text(meta))
    print(f"gpu_decode: {gpu}; copy {meta['copy_bandwidth_bytes_per_s']:.4g} B/s; writing {base}.csv", file=sys.stderr)
    calls = {b: _sdpa(torch, b) for b in backends}
    with open(base.with_suffix(".csv"), "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(COLUMNS)
        f.flush()
        for b in args.batch:
            for h in args.heads:
                for kv in args.kv_heads:
                    for d in args.head_dim:
                        for n in args.context:
                            _point(torch, args.device, dtype, calls, bench, out, f, (b, h, kv, d, n))
    print(f"gpu_decode: wrote {base}.yaml and {base}.csv", file=sys.stderr)
    return 0


def _point(torch, device, dtype, calls, bench, out, f, shape) -> None:
    b, h, kv, d, n = shape
    try:
        q = torch.randn(b, h, 1, d, device=device, dtype=dtype)
        k = torch.randn(b, kv, n, d, device=device, dtype=dtype)
        v = torch.randn(b, kv, n, d, device=device, dtype=dtype)
    except torch.OutOfMemoryError:
        print(f"gpu_decode: skip batch {b} heads {h}/{kv} d {d} context {n}: out of memory", file=sys.stderr)
        return
    outputs = {}
    for backend, call in calls.items():
        try:
            outputs[backend] = call(q, k, v, kv < h)
            us = bench(lambda call=call: call(q, k, v, kv < h))
        except (RuntimeError, torch.OutOfMemoryError) as e:
            reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
            print(
                f"gpu_decode: skip {backend} at batch {b} heads {h}/{kv} d {d} context {n}: {reason}", file=sys.stderr
            )
            continue
        out.writerow([backend, b, h, kv, d, n, f"{us:.1f}"])
        f.flush()
        print(f"gpu_decode: {backend} batch {b} heads {h}/{kv} d {d} context {n}: {us:.1f} us", file=sys.stderr)
    if len(outputs) > 1:
        ref = next(iter(outputs.values())).float()
        worst = max(float((o.float() - ref).abs().max()) for o in outputs.values())
        if worst > 1e-2:
            print(f"gpu_decode: warning: backends disagree by {worst:.3g} at context {n}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
