"""C-simulation of the HLS kernels against the golden models: draw vectors, build, run, compare.

:func:`run_csim(kernel, vectors, seed, params=None, root=BUILD) -> dict` draws
``vectors`` random inputs (seeded; corner cases first), computes the golden
outputs with :mod:`attnkit.models.edgemoe_golden`, writes the inputs as a flat
int64 file, builds (cached) and runs the kernel's harness, reads its outputs
back and compares them element for element. The result: ``kernel, vectors,
mismatches`` (vectors with any differing element), ``elements``,
``mismatched_elements``, ``first_mismatch`` (or None), ``seed``, ``cached``,
``build_s``, ``run_s``, ``golden_s``.

What one vector is, per kernel: ``linear`` one token row through one of the
model's linear shapes (FC1 + GELU, FC2, Q/K/V with the attention bias), cycled;
``gelu`` one value; ``layernorm`` one token row; ``attention`` one whole
attention problem (vector 0 at the model's full length, the rest of 1 to 40
tokens); ``gate`` one token (gated in groups of at most ``tokens``; the
queues of each group are compared too); ``layer`` one ``tokens x d_model``
input run through a dense layer and through an MoE layer (both compared).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from attnkit.errors import AttnkitError
from attnkit.hls import KERNELS
from attnkit.hls.build import BUILD, build, build_path
from attnkit.models import edgemoe_golden as G
from attnkit.params.edgemoe import EdgeMoeParams


class _Case:
    """Inputs (flat int64 pieces) and golden outputs (list of per-vector arrays) of a csim run."""

    def __init__(self):
        self.ins: list[np.ndarray] = []
        self.gold: list[np.ndarray] = []  # one flat array per vector, in output order

    def put(self, *arrays):
        for a in arrays:
            self.ins.append(np.asarray(a, np.int64).ravel())


def _chunks(n: int, size: int):
    return [(i, min(size, n - i)) for i in range(0, n, size)]


def _acts(p, rng, shape, sd=None):
    A = p.numerics.act_fmt
    # mostly trained-network scales; 1 in 5 large enough that sums wrap (AP_WRAP must agree too)
    sd = rng.choice([0.25, 1.0, 4.0, 0.5, 150.0]) if sd is None else sd
    return A.quantize(np.clip(rng.normal(0, sd, shape), -500, 500))


def _linear(p, n, rng, case):
    w = p.workload
    nm = p.numerics
    shapes = [
        (w.ffn, w.d_model, True, False),
        (w.d_model, w.ffn, False, False),
        (3 * w.d_model, w.d_model, False, True),
    ]
    groups = [[] for _ in shapes]
    for i in range(n):
        groups[i % len(shapes)].append(i)
    pieces = []
    for (od, idim, gelu, attn_bias), members in zip(shapes, groups):
        for _, length in _chunks(len(members), w.tokens):
            x = _acts(p, rng, (length, idim))
            wt = nm.weight_fmt.quantize(np.clip(rng.normal(0, 1.5 / np.sqrt(idim), (od, idim)), -1.99, 1.99))
            bf = nm.attn_bias_fmt if attn_bias else nm.bias_fmt
            b = bf.quantize(rng.normal(0, 0.5, od))
            y = G.linear(x, wt, b, p, bias_fmt=bf, gelu=gelu)
            pieces.append(((od, idim, length, int(gelu), int(attn_bias)), x, wt, b, y))
    case.put([len(pieces)])
    for hdr, x, wt, b, y in pieces:
        case.put(hdr, x, wt, b)
        case.gold.extend(list(y))


def _gelu(p, n, rng, case):
    A = p.numerics.act_fmt
    corners = A.quantize(
        [
            0.0,
            A.lsb,
            -A.lsb,
            5.5,
            -5.5,
            5.5 - A.lsb,
            -5.5 + A.lsb,
            5.5 + A.lsb,
            -5.5 - A.lsb,
            1 / 32,
            -1 / 32,
            3.0,
            -3.0,
        ]
    )
    corners = np.concatenate([corners, [A.max_raw, A.min_raw, A.min_raw + 1, A.max_raw - 1]])
    rest = max(n - corners.size, 0)
    x = np.concatenate(
        [corners, A.quantize(rng.uniform(-8, 8, rest - rest // 4)), rng.integers(A.min_raw, A.max_raw + 1, rest // 4)]
    )[:n]
    case.put([1], [x.size], x)
    case.gold.extend(list(G.gelu_unit(x, p)[:, None]))


def _layernorm(p, n, rng, case):
    w, nm = p.workload, p.numerics
    pieces = []
    for start, length in _chunks(n, w.tokens):
        x = _acts(p, rng, (length, w.d_model)) + nm.act_fmt.quantize(rng.normal(0, 2, (length, 1)))
        if start == 0:
            x[0] = x[0, 0]  # a constant row: variance 0, eps alone
            if length > 1:
                x[1] = nm.act_fmt.quantize(rng.normal(0, 0.001, w.d_model))  # tiny variance
        lw = nm.norm_fmt.quantize(rng.normal(1, 0.2, w.d_model))
        lb = nm.bias_fmt.quantize(rng.normal(0, 0.2, w.d_model))
        pieces.append((length, x, lw, lb, G.layernorm(x, lw, lb, p)))
    case.put([len(pieces)])
    for length, x, lw, lb, y in pieces:
        case.put([length], x, lw, lb)
        case.gold.extend(list(y))


def _attention(p, n, rng, case):
    w = p.workload
    case.put([n])
    for i in range(n):
        length = w.tokens if i == 0 else int(rng.integers(1, 41))
        sd = [1.0, 0.5, 3.0, 40.0][i % 4]  # 40: scores far beyond fm_t's range wrap
        q, k, v = (_acts(p, rng, (length, w.d_model), sd) for _ in range(3))
        if i == 1:
            k[:] = k[0]  # every key equal: uniform probabilities
        out = G.attention(q, k, v, p)
        case.put([length], q, k, v)
        case.gold.append(out.ravel())


def _gate(p, n, rng, case):
    w, nm = p.workload, p.numerics
    E = w.experts
    chunks = _chunks(n, w.tokens)
    case.put([len(chunks)])
    for start, length in chunks:
        x = _acts(p, rng, (length, w.d_model))
        if start == 0:
            x[0] = 0  # every score 0: the tie rule picks experts 0, 1
        wg = nm.weight_fmt.quantize(np.clip(rng.normal(0, 1 / np.sqrt(w.d_model), (E, w.d_model)), -1.99, 1.99))
        g = G.gate(x, wg, p)
        case.put([length], x, wg)
        # per-token: its indices and weights; the group's queues and active list ride on its last token
        extra = np.concatenate(
            [
                g.queue_lens,
                g.queues[:, :length].ravel(),
                g.queue_weights[:, :length].ravel(),
                [g.active.size],
                np.pad(g.active, (0, E - g.active.size), constant_values=-1),
            ]
        )
        per_token = [np.asarray(g.indices[t]) for t in range(length)]
        weights = [np.asarray(g.weights[t]) for t in range(length)]
        # output order: all indices, all weights, then the extras: fold into per-token vectors
        case.gold.append(("gate", per_token, weights, extra))


def _layer(p, n, rng, case):
    w = p.workload
    case.put([2 * n])
    for _ in range(n):
        x = _acts(p, rng, (w.tokens, w.d_model), 1.0)
        for moe_layer in (False, True):
            wts = G.random_layer_weights(p, moe_layer, int(rng.integers(2**31)))
            y = G.layer(x, wts, p, moe_layer)
            case.put([int(moe_layer), w.tokens], x)
            case.put(*[wts[k] for k in G.LAYER_WEIGHTS if k in wts])
            case.gold.append(y.ravel())


_MAKERS = {
    "linear": _linear,
    "gelu": _gelu,
    "layernorm": _layernorm,
    "attention": _attention,
    "gate": _gate,
    "layer": _layer,
}


def _expected(case: _Case):
    """Flat expected output and the vector id of each element."""
    flat, owner, v = [], [], 0
    for g in case.gold:
        if isinstance(g, tuple) and g[0] == "gate":
            _, idx, wts, extra = g
            ids = list(range(v, v + len(idx)))
            flat += [np.concatenate(idx), np.concatenate(wts), extra]
            owner += [np.repeat(ids, len(idx[0])), np.repeat(ids, len(wts[0])), np.full(extra.size, ids[-1])]
            v += len(idx)
        else:
            flat.append(np.asarray(g, np.int64).ravel())
            owner.append(np.full(flat[-1].size, v))
            v += 1
    return np.concatenate(flat).astype(np.int64), np.concatenate(owner), v


def run_harness(kernel: str, exe: Path, ins: list, root: Path | str = BUILD) -> np.ndarray:
    """The C-simulation harness ``exe`` (of ``kernel``, from :func:`build`) on ``ins``, the integers it reads
    (a case count, then each case's, as hls/harness.cpp reads them): the raw values it writes."""
    Path(root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(root)) as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        np.concatenate([np.asarray(x, dtype=np.int64).ravel() for x in ins]).astype("<i8").tofile(fin)
        res = subprocess.run([str(exe), str(fin), str(fout)], capture_output=True, text=True)
        if res.returncode != 0:
            raise AttnkitError(
                f"csim {kernel}: the harness failed (exit {res.returncode}): "
                f"{(res.stderr.strip().splitlines() or ['no message'])[-1]}"
            )
        return np.fromfile(fout, dtype="<i8").astype(np.int64)


def run_csim(
    kernel: str, vectors: int = 100, seed: int = 0, params: EdgeMoeParams | None = None, root: Path | str = BUILD
) -> dict:
    if kernel not in KERNELS:
        raise AttnkitError(f"unknown kernel {kernel!r} (known: {', '.join(KERNELS)})")
    if isinstance(vectors, bool) or not isinstance(vectors, int) or vectors < 1:
        raise AttnkitError(f"--vectors {vectors}: expected a positive number of vectors")
    p = params or EdgeMoeParams.load()
    t0 = time.perf_counter()
    exe_cached = build_path(kernel, p, root).exists()
    exe = build(kernel, p, root)
    build_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    case = _Case()
    t0 = time.perf_counter()
    _MAKERS[kernel](p, vectors, rng, case)
    expect, owner, nvec = _expected(case)
    golden_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = run_harness(kernel, exe, case.ins, root)
    run_s = time.perf_counter() - t0
    if got.size != expect.size:
        raise AttnkitError(f"csim {kernel}: the harness wrote {got.size} values, the golden model {expect.size}")
    bad = got != expect
    first = None
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        first = {"vector": int(owner[i]), "element": i, "golden": int(expect[i]), "hls": int(got[i])}
    return {
        "kernel": kernel,
        "vectors": nvec,
        "mismatches": int(np.unique(owner[bad]).size),
        "elements": int(expect.size),
        "mismatched_elements": int(bad.sum()),
        "first_mismatch": first,
        "seed": seed,
        "cached": exe_cached,
        "build_s": round(build_s, 3),
        "golden_s": round(golden_s, 3),
        "run_s": round(run_s, 3),
    }
