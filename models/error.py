"""Error of the golden models against float64: the metrics, and the table ``attnkit golden-report`` prints.

For outputs ``y`` (real values of a fixed-point result) and a float64
reference ``r``: ``max_abs_err = max |y - r|``, ``mean_abs_err = mean |y - r|``
and ``max_ulp = max |y - r| / lsb`` with ``lsb`` the output format's last
place. :func:`golden_error_table` measures every unit at its default
parameters on exhaustive, random and adversarial inputs with a fixed seed;
the docstrings of the units quote its figures.
"""

from __future__ import annotations

import math

import numpy as np

from attnkit.params.fixed import QFormat


def error_stats(y, ref, lsb: float) -> dict:
    """Max and mean absolute error of ``y`` against ``ref``, and the max in ULPs of ``lsb``."""
    y, ref = np.asarray(y, np.float64), np.asarray(ref, np.float64)
    if y.shape != ref.shape:
        raise ValueError(f"shapes differ: {y.shape} vs {ref.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("the model produced a non-finite value")
    err = np.abs(y - ref)
    mx = float(err.max()) if err.size else 0.0
    return {
        "max_abs_err": mx,
        "mean_abs_err": float(err.mean()) if err.size else 0.0,
        "max_ulp": mx / lsb,
        "inputs": int(err.size),
    }


def _row(name: str, stats: dict, inputs: str) -> dict:
    return {
        "function": name,
        "max_abs_err": stats["max_abs_err"],
        "mean_abs_err": stats["mean_abs_err"],
        "max_ulp": stats["max_ulp"],
        "inputs": f"{stats['inputs']} ({inputs})",
    }


def _units(rng) -> list[dict]:
    from attnkit.models.exp import exp
    from attnkit.models.gelu import gelu
    from attnkit.models.recip import recip
    from attnkit.params.numerics import ExpParams, GeluParams, RecipParams

    rows = []
    p = ExpParams()
    x = np.arange(p.in_fmt.min_raw, 1)
    st = error_stats(p.out_fmt.to_float(exp(x, p)), np.exp(p.in_fmt.to_float(x)), p.out_fmt.lsb)
    rows.append(_row("exp", st, f"every x <= 0 of {p.in_fmt}"))

    r = RecipParams()
    x = np.arange(1, r.in_fmt.max_raw + 1)
    st = error_stats(r.out_fmt.to_float(recip(x, r)), 1.0 / r.in_fmt.to_float(x), r.out_fmt.lsb)
    rows.append(_row("recip", st, f"every x > 0 of {r.in_fmt}"))

    g = GeluParams()
    from attnkit.models.gelu import erfc

    f = g.act_fmt
    xs = np.concatenate(
        [
            rng.uniform(-8, 8, 200_000),
            np.linspace(-6, 6, 12 * 1024 + 1),
            [f.to_float(f.max_raw), f.to_float(f.min_raw + 1), -5.5, 5.5, 0.0],
        ]
    )
    raw = f.quantize(xs)
    xv = f.to_float(raw)
    a = np.abs(xv)
    phi_neg = 0.5 * erfc(np.minimum(a, 6) / math.sqrt(2.0))  # 1 - Phi(|x|), ~0 beyond 6
    ref = np.where(xv >= 0, xv * (1 - phi_neg), -a * phi_neg)
    st = error_stats(f.to_float(gelu(raw, g)), ref, f.lsb)
    rows.append(_row("gelu (Edge-MoE)", st, "random in [-8, 8), a 2^-10 grid, the extremes"))
    return rows


def _softmax(rng) -> list[dict]:
    from attnkit.models.softmax import ORDERS, softmax_reference
    from attnkit.params.numerics import SoftmaxParams

    p = SoftmaxParams()
    f = p.in_fmt
    rand = f.quantize(rng.uniform(-8, 8, (256, 256)))
    adv = np.stack(
        [
            np.zeros(256),
            np.full(256, f.to_float(f.max_raw)),
            np.full(256, f.to_float(f.min_raw + 1)),
            np.where(np.arange(256) == 7, 31.0, -31.0),
            np.linspace(-31, 31, 256),
            rng.choice([f.to_float(f.max_raw), f.to_float(f.min_raw + 1)], 256),
        ]
    )
    x = np.concatenate([rand, f.quantize(adv)])
    ref = softmax_reference(x, f)
    rows = []
    for name, fn in ORDERS.items():
        st = error_stats(p.prob_fmt.to_float(fn(x, p)), ref, p.prob_fmt.lsb)
        rows.append(_row(f"softmax {name}", st, "256 random rows of 256 in [-8, 8) + 6 adversarial rows"))
    return rows


def _attention(rng, quick: bool) -> list[dict]:
    from attnkit.models.attention import attention, attention_reference
    from attnkit.models.merge import decode_split, split_bounds
    from attnkit.params.numerics import AttentionNumerics

    num = AttentionNumerics()
    f = num.in_fmt
    n, d = (128, 64) if quick else (512, 64)
    q = f.quantize(np.clip(rng.normal(0, 1, (n, d)), -7, 7))
    k = f.quantize(np.clip(rng.normal(0, 1, (n, d)), -7, 7))
    v = f.quantize(rng.uniform(-8, 8 - f.lsb, (n, d)))
    # adversarial: keys all equal, one key matching the query strongly, and a fully masked row
    k2 = k.copy()
    k2[: n // 2] = k2[0]
    k2[n // 2] = f.quantize(np.clip(f.to_float(q[1]) * 2, -8, 7.9))
    qs, ks, vs = f.to_float(q), f.to_float(k2), f.to_float(v)
    rows = []
    for causal in (False, True):
        ref = attention_reference(qs, ks, vs, causal=causal)
        out = attention(q, k2, v, num, causal=causal, tile_k=64)
        st = error_stats(num.out_fmt.to_float(out), ref, num.out_fmt.lsb)
        rows.append(
            _row(
                "attention 1-pass tiled" + (" causal" if causal else ""),
                st,
                f"{n} x {n} x {d}, N(0,1) q k, U[-8,8) v, repeated and peaked keys",
            )
        )
    refd = attention_reference(qs[:4], ks, vs)
    outs = [
        decode_split(q[i], k2, v, num, split_bounds(n, 1 + 3 * i, rng), rng.permutation(1 + 3 * i)) for i in range(4)
    ]
    st = error_stats(num.out_fmt.to_float(np.stack(outs)), refd, num.out_fmt.lsb)
    rows.append(_row("decode split + merge", st, f"4 queries x {n} keys, 1 to 10 random pieces, random order"))
    return rows


# Accumulator modes of the attention golden model that golden-report measures: (label, acc_frac_bits, rounding)
NUMERICS_MODES = (
    ("exact", None, "AP_TRN"),
    ("F8 AP_RND", 8, "AP_RND"),
    ("F12 AP_TRN", 12, "AP_TRN"),
    ("F12 AP_RND", 12, "AP_RND"),
    ("F16 AP_TRN", 16, "AP_TRN"),
    ("F16 AP_RND", 16, "AP_RND"),
    ("F20 AP_TRN", 20, "AP_TRN"),
)
NUMERICS_TILES = (4, 16, 64, None)  # None: one tile of every key


def attention_problem(rng, n: int, d: int, num=None):
    """golden-report's attention inputs (raw ``in_fmt``): N(0,1) q and k, U[-8, 8) v, half the keys equal and
    one peaked key."""
    from attnkit.params.numerics import AttentionNumerics

    f = (num or AttentionNumerics()).in_fmt
    q = f.quantize(np.clip(rng.normal(0, 1, (n, d)), -7, 7))
    k = f.quantize(np.clip(rng.normal(0, 1, (n, d)), -7, 7))
    v = f.quantize(rng.uniform(-8, 8 - f.lsb, (n, d)))
    k[: n // 2] = k[0]
    k[n // 2] = f.quantize(np.clip(f.to_float(q[1]) * 2, -8, 7.9))
    return q, k, v


def numerics_error_table(seed: int = 0, quick: bool = False, modes=NUMERICS_MODES, tiles=NUMERICS_TILES) -> list[dict]:
    """The attention cascade in each accumulator mode (exact, and finite ``acc_frac_bits``/``acc_rounding``) and
    key tile size against float64: rows ``mode, acc_frac_bits, acc_rounding, tile_k, max_abs_err, mean_abs_err,
    max_ulp, bound`` (``bound``: :func:`attnkit.models.attention.error_bound` for these inputs)."""
    import dataclasses

    from attnkit.models.attention import attention, attention_reference, error_bound
    from attnkit.params.fixed import Rounding
    from attnkit.params.numerics import AttentionNumerics

    rng = np.random.default_rng(seed)
    base = AttentionNumerics()
    n, d = (128, 64) if quick else (512, 64)
    q, k, v = attention_problem(rng, n, d, base)
    f = base.in_fmt
    ref = attention_reference(f.to_float(q), f.to_float(k), f.to_float(v))
    vmax = float(np.abs(f.to_float(v)).max())
    rows = []
    for label, frac, rounding in modes:
        num = dataclasses.replace(base, acc_frac_bits=frac, acc_rounding=Rounding(rounding))
        for tk in tiles:
            tile = n if tk is None else min(tk, n)
            st = error_stats(num.out_fmt.to_float(attention(q, k, v, num, tile_k=tile)), ref, num.out_fmt.lsb)
            rows.append(
                {
                    "mode": label,
                    "acc_frac_bits": frac,
                    "acc_rounding": rounding if frac else None,
                    "tile_k": tile,
                    "max_abs_err": st["max_abs_err"],
                    "mean_abs_err": st["mean_abs_err"],
                    "max_ulp": st["max_ulp"],
                    "bound": error_bound(num, vmax, d, n, tile),
                    "inputs": f"{n} x {n} x {d}",
                }
            )
    return rows


def numerics_markdown(rows: list[dict], seed: int) -> str:
    head = "| mode | tile_k | max_abs_err | mean_abs_err | max_ulp | bound |\n| --- | --- | --- | --- | --- | --- |\n"
    body = "".join(
        f"| {r['mode']} | {r['tile_k']} | {r['max_abs_err']:.3g} | {r['mean_abs_err']:.3g} |"
        f" {r['max_ulp']:.3g} | {r['bound']:.3g} |\n"
        for r in rows
    )
    inputs = rows[0]["inputs"] if rows else ""
    return (
        f"\n## Attention accumulator modes\n\nThe 1-pass cascade with exact (Kulisch) or finite running sum"
        f" and output accumulators (`numerics.acc_frac_bits` F fraction bits below 2^M, `numerics.acc_rounding`),"
        f" per key tile size, against float64; {inputs}: N(0,1) q and k, U[-8,8) v, repeated and peaked keys,"
        f" seed {seed}. `max_ulp` is in ULPs of out_fmt; `bound` (absolute, like max_abs_err) is"
        " `attnkit.models.attention.error_bound` for these inputs (inf: F too small for a bound).\n\n" + head + body
    )


def golden_error_table(seed: int = 0, quick: bool = False) -> list[dict]:
    """Rows ``function, max_abs_err, mean_abs_err, max_ulp, inputs`` for every golden model, at defaults."""
    rng = np.random.default_rng(seed)
    from attnkit.models.edgemoe_golden import error_rows as _edgemoe

    return _units(rng) + _softmax(rng) + _attention(rng, quick) + _edgemoe(rng, quick)


def to_markdown(rows: list[dict], seed: int) -> str:
    head = "| function | max_abs_err | mean_abs_err | max_ulp | inputs |\n| --- | --- | --- | --- | --- |\n"
    body = "".join(
        f"| {r['function']} | {r['max_abs_err']:.3g} | {r['mean_abs_err']:.3g} | {r['max_ulp']:.3g} | {r['inputs']} |\n"
        for r in rows
    )
    return (
        f"# Golden models: error against float64\n\nDefault parameters, seed {seed}. ULPs are of each"
        " function's output format.\n\n" + head + body
    )


__all__ = ["error_stats", "golden_error_table", "to_markdown", "numerics_error_table", "numerics_markdown", "QFormat"]
