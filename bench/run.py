"""Run every benchmark (bench/bench_*.py) and print its figures.

Each module defines ``run() -> list[dict]`` whose rows carry ``name``,
``value`` and ``unit`` (and optionally ``note``). Run one with
``python bench/run.py NAME``. Figures also go to build/bench/results.json.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    rows = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if wanted and name not in wanted:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        for row in module.run():
            row = {"bench": name, **row}
            rows.append(row)
            note = f"  ({row['note']})" if row.get("note") else ""
            value = row["value"]
            shown = f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"
            print(f"  {row['name']:<60} {shown:>14} {row['unit']}{note}", flush=True)
        print(f"  ({time.perf_counter() - t0:.1f} s)")
    out = Path("build/bench")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"figures written to {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
