"""Wall time of `attnkit reproduce requests` (3 models x 8 systems x 5 prompts x 3 batches, 9 decode steps each)
and of one `attnkit request` simulating all 255 decode steps."""

import tempfile
import time

import attnkit


def run():
    attnkit.request("llama3-8b", "h200-1", prompt=512, generate=4)  # warm up imports and config caches
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        rows = attnkit.reproduce("requests", out=out)
        whole = time.perf_counter() - t0
    t0 = time.perf_counter()
    attnkit.request("llama3-70b", "h200-8", prompt=8192, generate=256, batch=16)
    one = time.perf_counter() - t0
    n = sum(r["row"] == "point" for r in rows)
    return [
        {"name": "reproduce requests: full study, files written", "value": whole, "unit": "s", "note": f"{n} requests"},
        {"name": "request llama3-70b on h200-8, every decode step", "value": one, "unit": "s", "note": "255 steps"},
    ]
