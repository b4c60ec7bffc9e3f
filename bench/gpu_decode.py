"""Measure decode attention on your own GPU: write a measurements pair (NAME.csv + NAME.yaml) for attnkit.

Running it
----------
PyTorch is an optional extra (``make setup`` does not install it)::

    pip install -e '.[gpu]'          # or any CUDA build of torch from pytorch.org
    python bench/gpu_decode.py                        # the shared H200 file's grid, every backend the GPU has
    python bench/gpu_decode.py --batch 1 4 --kv-heads 16 8 2 --context 1024 65536 \\
        --out build/measurements/my-gpu
    attnkit validate build/measurements/my-gpu --arch h200    # or calibrate a new arch from it

Each point is decode attention, one new query per sequence and query head against a KV cache: q
``(batch, heads, 1, head_dim)``, K and V ``(batch, kv_heads, context, head_dim)``, random normal, fp16 on
CUDA (fp32 on CPU), through ``torch.nn.functional.scaled_dot_product_attention`` with one backend forced
at a time (``torch.nn.attention.sdpa_kernel``; ``enable_gqa=True`` when ``kv_heads < heads``). A backend
that has no kernel for a shape (``efficient`` has no grouped-query path) is skipped with a note; a point
whose tensors do not fit in memory is skipped with a note. The backends' outputs are compared at every
point (max abs difference on the progress line; a warning above 1e-2).

Time per call: ``triton.testing.do_bench`` (warm-up 5 ms, 40 ms of repetitions, mean; the L2 cache is
flushed between calls and each kernel's launch is included) when Triton is installed, else a loop of
CUDA events (or ``time.perf_counter`` on CPU) with the same budget and the same flush.

What it writes (``--out DIR/NAME``, default ``build/measurements/<gpu>-pytorch-sdpa``):

- ``NAME.yaml`` first: ``gpu``, ``sms``, ``software`` (torch, cuda, python), ``timing``, ``dtype``,
  ``copy_bandwidth_bytes_per_s`` (a 2 GiB device-to-device ``copy_``, bytes read plus written per
  second; 64 MiB on CPU) and ``backends`` (the engine schedule that models each backend, and the
  arch's kernel profile it runs), as ``configs/measurements/h200-pytorch-sdpa.yaml``;
- ``NAME.csv``: columns ``backend,batch,heads,kv_heads,head_dim,context,latency_us`` (microseconds,
  one decimal), one row per point and backend, appended and flushed as each is measured, so an
  interrupted run keeps what it measured.

Progress (one line per point) and notes go to stderr. Bad input is one line and exit status 2; the
arguments are checked before PyTorch is imported.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import platform
import re
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

COLUMNS = ("backend", "batch", "heads", "kv_heads", "head_dim", "context", "latency_us")
# The shared H200 file's grid (configs/measurements/h200-pytorch-sdpa.csv): its contexts for both K/V head counts.
CONTEXTS = (1024, 4096, 16384, 32768, 65536, 131072, 262144, 524288)
# Which engine schedule models each backend, and the arch's kernel profile it runs (the lead's calibrate/validate).
BACKENDS = {
    "flash": "{engine: flashdecoding, kernel: flash}",  # FlashAttention-2's split-KV path and its combine kernel
    "efficient": "{engine: fa2, kernel: efficient}",  # CUTLASS memory-efficient attention: no split of the keys
    "cudnn": "{engine: lean, kernel: flash, best_measured: true}",  # no public schedule: the best measured time
    "math": "{engine: fa2, kernel: math}",  # PyTorch's composite of matmul and softmax
}
CUDA_BACKENDS = ("flash", "efficient", "cudnn")
AGREE = 1e-2  # max abs difference between backends' outputs above which a warning is printed
COPY_BYTES = {"cuda": 2 << 30, "cpu": 64 << 20}
NO_TORCH = "PyTorch is an optional extra: pip install 'attnkit[gpu]' (or a CUDA build of torch from pytorch.org)"


class UsageError(Exception):
    """A user mistake: one line on stderr, exit status 2."""


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="gpu_decode.py",
        description="Time decode attention (PyTorch SDPA, one backend at a time) on this GPU and write NAME.csv "
        "and NAME.yaml, a measurements file for `attnkit validate` and `attnkit calibrate`.",
    )
    p.add_argument("--out", help="DIR/NAME of the pair (default build/measurements/<gpu>-pytorch-sdpa)")
    p.add_argument("--batch", type=int, nargs="+", default=[1], metavar="B")
    p.add_argument("--heads", type=int, nargs="+", default=[16], metavar="H", help="query heads")
    p.add_argument("--kv-heads", type=int, nargs="+", default=[16, 2], metavar="H", help="key/value heads")
    p.add_argument("--head-dim", type=int, nargs="+", default=[128], metavar="D")
    p.add_argument("--context", type=int, nargs="+", default=list(CONTEXTS), metavar="N", help="KV-cache length")
    p.add_argument(
        "--backends",
        nargs="+",
        metavar="NAME",
        help=f"SDPA backends, of {', '.join(BACKENDS)} (default: those this device has; math on CPU)",
    )
    p.add_argument("--device", choices=("cuda", "cpu"), help="default: cuda when available")
    p.add_argument("--warmup-ms", type=float, default=5.0, help="warm-up per point and backend (default 5)")
    p.add_argument("--rep-ms", type=float, default=40.0, help="repetitions per point and backend (default 40)")
    return p.parse_args(argv)


def check_args(a: argparse.Namespace) -> None:
    """Every check that needs no PyTorch, so a bad command line fails the same way everywhere."""
    for flag in ("batch", "heads", "kv_heads", "head_dim", "context"):
        bad = [v for v in getattr(a, flag) if v < 1]
        if bad:
            raise UsageError(f"--{flag.replace('_', '-')} {bad[0]}: sizes must be positive integers")
    for h in a.heads:
        for kv in a.kv_heads:
            if h % kv:
                raise UsageError(f"--heads {h} is not a multiple of --kv-heads {kv} (grouped-query attention)")
    for flag in ("warmup_ms", "rep_ms"):
        v = getattr(a, flag)
        if not (v > 0 and math.isfinite(v)):
            raise UsageError(f"--{flag.replace('_', '-')} {v:g}: expected a positive number of milliseconds")
    if a.backends:
        for b in a.backends:
            if b not in BACKENDS:
                raise UsageError(f"--backends {b}: unknown backend (known: {', '.join(BACKENDS)})")
        if len(set(a.backends)) != len(a.backends):
            raise UsageError(f"--backends {' '.join(a.backends)}: a backend is named twice")
        if a.device == "cpu" and set(a.backends) - {"math"}:
            raise UsageError(f"--backends {' '.join(a.backends)}: on CPU the only backend is math")
    if a.out is not None and (not Path(a.out).name or Path(a.out).suffix in (".csv", ".yaml")):
        raise UsageError(f"--out {a.out}: expected DIR/NAME (NAME.csv and NAME.yaml are written)")


def slug(name: str) -> str:
    """``NVIDIA H100 80GB HBM3`` -> ``h100-80gb-hbm3``."""
    s = re.sub(r"^nvidia\s+", "", name.strip().lower())
    return re.sub(r"[^a-z0-9]+", "-", s).strip("-") or "gpu"


class Bench:
    """The device, its timer and the SDPA call; everything that needs PyTorch."""

    def __init__(self, a: argparse.Namespace):
        try:
            import torch
            import torch.nn.functional as F
            from torch.nn.attention import SDPBackend, sdpa_kernel
        except ImportError as e:
            if e.name == "torch":
                raise UsageError(NO_TORCH) from None
            raise UsageError(
                f"PyTorch {getattr(sys.modules.get('torch'), '__version__', '?')} is too old: {e}"
            ) from None
        self.torch, self.F, self.sdpa_kernel = torch, F, sdpa_kernel
        self.device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise UsageError("--device cuda: PyTorch sees no CUDA GPU (torch.cuda.is_available() is False)")
        self.cuda = self.device == "cuda"
        self.dtype = torch.float16 if self.cuda else torch.float32
        self.enum = {
            "flash": SDPBackend.FLASH_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION,
            "cudnn": getattr(SDPBackend, "CUDNN_ATTENTION", None),
            "math": SDPBackend.MATH,
        }
        available = self.available()
        if a.backends:
            if not self.cuda and set(a.backends) - {"math"}:
                raise UsageError(f"--backends {' '.join(a.backends)}: on CPU the only backend is math")
            missing = [b for b in a.backends if b not in available]
            if missing:
                raise UsageError(f"--backends {missing[0]}: not available with this PyTorch on this device")
            self.backends = list(a.backends)
        else:
            self.backends = [b for b in CUDA_BACKENDS if b in available] if self.cuda else ["math"]
        self.warmup_ms, self.rep_ms = a.warmup_ms, a.rep_ms
        self.do_bench = None
        if self.cuda:
            try:
                from triton.testing import do_bench

                # an older Triton without return_mode (mean) is timed by the loop below, the same way
                if "return_mode" in inspect.signature(do_bench).parameters:
                    self.do_bench = do_bench
            except (ImportError, TypeError, ValueError):
                pass
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            self.name, self.sms = props.name, props.multi_processor_count
            # as triton.testing.do_bench does: overwrite 256 MB between calls so that none finds K/V in L2
            self.flush_buffer = torch.empty(256 << 20, dtype=torch.int8, device="cuda")
        else:
            self.name, self.sms = f"CPU {platform.machine() or 'unknown'} ({torch.get_num_threads()} threads)", None

    def available(self) -> list[str]:
        torch = self.torch
        if not self.cuda:
            return ["math"]
        cuda = torch.backends.cuda
        have = {
            "flash": getattr(cuda, "is_flash_attention_available", lambda: True)(),
            "efficient": True,
            "cudnn": self.enum["cudnn"] is not None and torch.backends.cudnn.is_available(),
            "math": True,
        }
        return [b for b, ok in have.items() if ok]

    def timing(self) -> str:
        budget = f"warm-up {self.warmup_ms:g} ms, {self.rep_ms:g} ms of repetitions, mean"
        if self.do_bench is not None:
            return f"triton.testing.do_bench ({budget}): includes each kernel's launch"
        if self.cuda:
            return (
                f"torch.cuda.Event around each call, L2 flushed between calls ({budget}): includes each kernel's launch"
            )
        return f"time.perf_counter around each call ({budget})"

    def time_ms(self, fn: Callable[[], Any]) -> float:
        """Mean time of one call of ``fn`` in milliseconds."""
        if self.do_bench is not None:
            return float(self.do_bench(fn, warmup=self.warmup_ms, rep=self.rep_ms, return_mode="mean"))
        torch = self.torch
        sync = torch.cuda.synchronize if self.cuda else (lambda: None)
        fn()
        sync()
        t0 = time.perf_counter()
        for _ in range(5):
            self.flush()
            fn()
        sync()
        est = max((time.perf_counter() - t0) / 5 * 1e3, 1e-6)
        n_warmup, n_rep = max(1, int(self.warmup_ms / est)), max(1, int(self.rep_ms / est))
        for _ in range(n_warmup):
            fn()
        sync()
        if self.cuda:
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(n_rep)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(n_rep)]
            for s, e in zip(starts, ends):
                self.flush()
                s.record()
                fn()
                e.record()
            sync()
            return sum(s.elapsed_time(e) for s, e in zip(starts, ends)) / n_rep
        total = 0.0
        for _ in range(n_rep):
            t = time.perf_counter()
            fn()
            total += time.perf_counter() - t
        return total / n_rep * 1e3

    def flush(self) -> None:
        if self.cuda:
            self.flush_buffer.zero_()

    def copy_bandwidth(self) -> float:
        """Bytes read plus written per second by a large ``copy_`` on the device (halved until it fits)."""
        torch, nbytes = self.torch, COPY_BYTES[self.device]
        pair: list[Any] = []
        while not pair:
            try:
                src = torch.empty(nbytes, dtype=torch.uint8, device=self.device).random_(0, 255)
                pair = [src, torch.empty_like(src)]
            except (MemoryError, RuntimeError) as e:
                if not self.is_oom(e) or nbytes <= 1 << 20:
                    raise
                nbytes //= 2
                src = None
                self.free()
        src = None
        ms = self.time_ms(lambda: pair[1].copy_(pair[0]))
        note(
            f"copy: {nbytes / (1 << 20):g} MiB device to device in {ms * 1e3:.1f} us: {2 * nbytes / ms / 1e6:.1f} GB/s"
        )
        pair.clear()
        self.free()
        return 2 * nbytes / (ms * 1e-3)

    def is_oom(self, e: BaseException) -> bool:
        oom = getattr(self.torch.cuda, "OutOfMemoryError", ())
        return isinstance(e, MemoryError) or bool(oom and isinstance(e, oom)) or "out of memory" in str(e).lower()

    def free(self) -> None:
        if self.cuda:
            self.torch.cuda.empty_cache()

    def fits(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more fit in the device's (or on CPU the machine's) free memory, with a margin."""
        try:
            if self.cuda:
                free = self.torch.cuda.mem_get_info()[0]
            else:
                free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError, RuntimeError):
            return True
        return nbytes * 1.1 + (64 << 20) < free

    def point(self, batch: int, heads: int, kv_heads: int, head_dim: int, context: int) -> tuple[Any, Any, Any]:
        torch, dev, dt = self.torch, self.device, self.dtype
        q = torch.randn(batch, heads, 1, head_dim, device=dev, dtype=dt)
        k = torch.randn(batch, kv_heads, context, head_dim, device=dev, dtype=dt)
        v = torch.randn(batch, kv_heads, context, head_dim, device=dev, dtype=dt)
        return q, k, v

    def call(self, backend: str, q: Any, k: Any, v: Any) -> Callable[[], Any]:
        gqa = {"enable_gqa": True} if k.shape[1] < q.shape[1] else {}
        enum, F, sdpa_kernel = self.enum[backend], self.F, self.sdpa_kernel

        def fn() -> Any:
            with sdpa_kernel(enum):
                return F.scaled_dot_product_attention(q, k, v, **gqa)

        return fn


def reason(e: BaseException, warned: list[str]) -> str:
    """Why a backend did not run, in one line: PyTorch's warnings (``... not used because:`` and the
    reasons that follow) when it gave some, else the exception's first line."""
    lines = [line.strip() for w in warned for line in w.splitlines() if line.strip()]
    lines = [line for line in lines if not line.endswith("because:")]
    text = "; ".join(dict.fromkeys(lines)) or (str(e).strip().splitlines() or [type(e).__name__])[0]
    return text if len(text) <= 200 else text[:197] + "..."


def yaml_text(bench: Bench, copy_bw: float, argv: list[str]) -> str:
    torch = bench.torch
    q = json.dumps  # a JSON string is a YAML double-quoted scalar
    cuda = q(torch.version.cuda) if torch.version.cuda else "null"
    lines = [
        "# Decode attention timed by bench/gpu_decode.py: one query per sequence and query head against a KV cache,",
        "# each SDPA backend forced in turn (torch.nn.attention.sdpa_kernel); random normal q, K, V.",
        f"# command: {' '.join(['python', 'bench/gpu_decode.py', *argv])}",
        f"gpu: {q(bench.name)}",
        f"sms: {bench.sms if bench.sms is not None else 'null'}",
        f"software: {{torch: {q(torch.__version__)}, cuda: {cuda}, python: {q(platform.python_version())}}}",
        f"timing: {q(bench.timing())}",
        f"dtype: {'fp16' if bench.cuda else 'fp32'}",
        f"copy_bandwidth_bytes_per_s: {copy_bw:.4g}   # a device-to-device copy_: bytes read + written per second",
        "backends:",
        *(f"  {b}: {BACKENDS[b]}" for b in bench.backends),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    try:
        check_args(a)
        bench = Bench(a)
    except UsageError as e:
        print(f"gpu_decode.py: {e}", file=sys.stderr)
        return 2
    default = Path("build/measurements") / f"{slug(bench.name) if bench.cuda else 'cpu'}-pytorch-sdpa"
    out = Path(a.out) if a.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    csv_path, yaml_path = out.with_name(out.name + ".csv"), out.with_name(out.name + ".yaml")
    note(f"{bench.name}: backends {', '.join(bench.backends)}; timing: {bench.timing()}")
    copy_bw = bench.copy_bandwidth()
    yaml_path.write_text(yaml_text(bench, copy_bw, argv))
    note(f"wrote {yaml_path}")
    points = [
        (b, h, kv, d, c)
        for b in a.batch
        for h in a.heads
        for kv in a.kv_heads
        for d in a.head_dim
        for c in sorted(set(a.context))
    ]
    try:
        rows = measure(bench, points, csv_path)
    except KeyboardInterrupt:
        note(f"interrupted: {csv_path} keeps the rows measured so far")
        return 130
    note(f"wrote {csv_path} ({rows} rows)")
    return 0


def measure(bench: Bench, points: list[tuple[int, int, int, int, int]], csv_path: Path) -> int:
    """Time every point with every backend, appending each row to ``csv_path`` as it is measured; the row count."""
    rows = 0
    with open(csv_path, "w", newline="") as f:
        f.write(",".join(COLUMNS) + "\n")
        f.flush()
        for i, (b, h, kv, d, c) in enumerate(points, start=1):
            where = f"[{i}/{len(points)}] batch {b}, heads {h}, kv_heads {kv}, head_dim {d}, context {c}"
            elem = bench.torch.finfo(bench.dtype).bits // 8
            nbytes = (2 * b * kv * c * d + 2 * b * h * d) * elem
            if not bench.fits(nbytes):
                note(f"{where}: skipped, its tensors ({nbytes / (1 << 30):.2f} GiB) do not fit in free memory")
                continue
            try:
                qkv = bench.point(b, h, kv, d, c)
            except (MemoryError, RuntimeError) as e:
                if not bench.is_oom(e):
                    raise
                bench.free()
                note(f"{where}: skipped, out of memory allocating {nbytes / (1 << 30):.2f} GiB")
                continue
            times: dict[str, float] = {}
            outs: dict[str, Any] = {}
            for backend in bench.backends:
                fn = bench.call(backend, *qkv)
                try:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        outs[backend] = fn().float()
                        times[backend] = bench.time_ms(fn) * 1e3
                except (MemoryError, RuntimeError, TypeError) as e:  # TypeError: a torch without enable_gqa
                    outs.pop(backend, None)
                    bench.free()
                    if bench.is_oom(e):
                        why = "out of memory"
                    else:
                        why = reason(e, [str(w.message) for w in caught])
                    note(f"{where}: {backend} skipped: {why}")
                    continue
                f.write(f"{backend},{b},{h},{kv},{d},{c},{times[backend]:.1f}\n")
                f.flush()
                rows += 1
            diff = ""
            if len(outs) > 1:
                ref = next(iter(outs.values()))
                worst = max(float((o - ref).abs().max()) for o in outs.values())
                diff = f"; max abs diff between backends {worst:.1e}"
                if worst > AGREE or math.isnan(worst):
                    note(f"{where}: warning: backends' outputs differ by {worst:.1e} (above {AGREE:g})")
            shown = ", ".join(f"{k} {t:.1f} us" for k, t in times.items()) or "no backend ran"
            note(f"{where}: {shown}{diff}")
            del qkv, outs
            bench.free()
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
