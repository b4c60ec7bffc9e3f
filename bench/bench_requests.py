"""Wall time of one `attnkit request` simulating all 255 decode steps (`attnkit reproduce requests`: bench_reproduce)."""

import time

import attnkit


def run():
    attnkit.request("llama3-8b", "h200-1", prompt=512, generate=4)  # warm up imports and config caches
    t0 = time.perf_counter()
    attnkit.request("llama3-70b", "h200-8", prompt=8192, generate=256, batch=16)
    one = time.perf_counter() - t0
    return [
        {"name": "request llama3-70b on h200-8, every decode step", "value": one, "unit": "s", "note": "255 steps"},
    ]
