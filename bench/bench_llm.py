"""Wall time of `attnkit reproduce llm` (2 models x 6 lengths x 3 designs, each run 3 ways, plus decode), closed form."""

import tempfile
import time

import attnkit
from attnkit.sim import reproduce_llm


def run():
    reproduce_llm.run(models=["llama3-8b"], seq_lens=[4096])  # warm up imports and config caches
    best = float("inf")
    with tempfile.TemporaryDirectory() as out:
        for _ in range(3):
            t0 = time.perf_counter()
            rows = attnkit.reproduce("llm", out=out)
            best = min(best, time.perf_counter() - t0)
    n = sum(r["row"] == "point" for r in rows)
    return [
        {
            "name": "reproduce llm: full study, files written (best of 3)",
            "value": best,
            "unit": "s",
            "note": f"{n} rows, 3 engine runs each + decode; target < 5 s",
        }
    ]
