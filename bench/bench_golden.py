"""Golden attention throughput: the 1-pass cascade on 4096 x 4096 x 64 at several key tiles; units too."""

import time

import numpy as np

from attnkit.models.attention import attention
from attnkit.models.exp import exp
from attnkit.models.gelu import gelu
from attnkit.models.merge import decode_split, split_bounds
from attnkit.models.softmax import softmax_1pass
from attnkit.params.numerics import AttentionNumerics, ExpParams, GeluParams, SoftmaxParams


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run():
    rng = np.random.default_rng(0)
    num = AttentionNumerics()
    f = num.in_fmt
    n, d = 4096, 64
    q, k, v = (f.quantize(np.clip(rng.normal(0, 1, (n, d)), -8, 7.9)) for _ in range(3))
    rows = []
    elems = n * n  # score elements (query x key pairs), each a d-long dot product and a d-long update
    for tile in (256, 1024, 4096):
        dt = _timed(lambda: attention(q, k, v, num, tile_k=tile))
        rows.append(
            {
                "name": f"attention {n}x{n}x{d} tile_k={tile}",
                "value": elems / dt,
                "unit": "elements/s",
                "note": f"{dt:.2f} s",
            }
        )
    nk = 1 << 17
    kd, vd = (f.quantize(np.clip(rng.normal(0, 1, (nk, d)), -8, 7.9)) for _ in range(2))
    dt = _timed(lambda: decode_split(q[0], kd, vd, num, split_bounds(nk, 16, rng)))
    rows.append(
        {
            "name": f"decode split+merge 1x{nk}x{d}, 16 pieces",
            "value": nk / dt,
            "unit": "elements/s",
            "note": f"{dt:.2f} s",
        }
    )
    p = ExpParams()
    x = rng.integers(p.in_fmt.min_raw, 1, 4_000_000)
    rows.append({"name": "exp unit", "value": x.size / _timed(lambda: exp(x, p)), "unit": "values/s"})
    g = GeluParams()
    xg = g.act_fmt.quantize(rng.uniform(-8, 8, 4_000_000))
    rows.append({"name": "gelu unit (Edge-MoE)", "value": xg.size / _timed(lambda: gelu(xg, g)), "unit": "values/s"})
    s = SoftmaxParams()
    xs = s.in_fmt.quantize(rng.uniform(-8, 8, (1024, 1024)))
    rows.append(
        {
            "name": "softmax 1-pass 1024x1024 tile 16",
            "value": xs.size / _timed(lambda: softmax_1pass(xs, s)),
            "unit": "elements/s",
        }
    )
    return rows
