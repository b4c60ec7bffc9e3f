"""Wall time of every `attnkit reproduce TARGET` as a user runs it (best of 3), target under 1 s each.

Each run is a fresh `attnkit reproduce TARGET --out DIR` process: Python's start-up, the imports, the
configs, the engines and the files written all count. The note gives the best run's CPU time (user +
system of the child), which moves less than the wall time when the machine is shared, and the rows.
`python bench/run.py reproduce` runs this file alone. On a shared machine compare revisions in one
sitting, runs interleaved: wall time follows the load, the CPU time less so.
"""

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attnkit import api

RUNS = 3
TARGET_S = 1.0


def _command() -> list[str]:
    script = Path(sys.executable).with_name("attnkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "attnkit"]


def _once(target: str, out: str) -> tuple[float, float]:
    """(wall, cpu) seconds of one reproduction in its own process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(
        [*_command(), "reproduce", target, "--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    if done.returncode:
        raise RuntimeError(f"attnkit reproduce {target} failed: {done.stderr.decode().strip()}")
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run():
    rows = []
    env_note = ""
    with tempfile.TemporaryDirectory() as tmp:
        for target in sorted(api.reproduce_targets()):
            out = f"{tmp}/{target}"
            best, cpu = min(_once(target, out) for _ in range(RUNS))
            points = sum(1 for line in open(f"{out}/results.csv") if line.startswith("point,"))
            note = f"cpu {cpu:.2f} s, {points} point rows; target < {TARGET_S:g} s"
            rows.append(
                {
                    "name": f"reproduce {target}: wall as a user runs it (best of {RUNS})",
                    "value": best,
                    "unit": "s",
                    "note": f"{note}; {env_note}" if env_note else note,
                }
            )
    return rows
