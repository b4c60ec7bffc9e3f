"""Pareto fronts at sweep scale: a million rows over 2, 3 and 4 metrics (attnkit.sim.pareto).

Two tables per metric count, the same for every implementation timed:

- uniform: independent uniform metrics, a small front (hundreds of rows);
- simplex: anti-correlated metrics, points near the simplex (sum of the metrics about 1, each scaled
  up by up to 1%), as a sweep's trade-offs are: a huge front (a third of the rows with 3 metrics,
  nearly all with 4);
- trade-off: the table this bench used before (the first metric uniform, the others 1 minus it plus up
  to 0.3 of noise): a large front, tens of thousands of rows with 4 metrics.

Then ``attnkit.pareto`` on a million result rows (dicts, as load_results gives them) over 3 and 4
metrics of the simplex table, with and without ``--by``.

``make bench`` (``bench/run.py``) times the installed package. Run alone, this file compares
implementations on the same inputs, each case in a child process with a time limit, and prints a table::

    python bench/bench_pareto.py --rev main --rev wt-pareto --rev . --timeout 300

A ``--rev`` is a git revision whose ``sim/pareto.py`` is timed, or ``.`` for the working tree.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N = 1_000_000
KINDS = ("uniform", "simplex", "trade-off")
METRICS = (2, 3, 4)
ROOT = Path(__file__).resolve().parent.parent


def table(kind: str, k: int, n: int = N, seed: int = 2026) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.random((n, k))
    if kind == "trade-off":
        x = rng.random((n, k))
        x[:, 1:] = 1 - x[:, :1] + 0.3 * x[:, 1:]
        return x
    x = rng.dirichlet(np.ones(k), n)
    return x * (1 + 0.01 * rng.random((n, k)))


def records(k: int, n: int = N) -> list[dict]:
    """Result rows as load_results gives them: the simplex table's metrics and two workload columns."""
    names = ("latency_s", "energy_pj", "area_mm2", "power_w")[:k]
    x = table("simplex", k, n).tolist()
    return [
        {
            "point_id": f"{i:016x}",
            "workload": ("bert", "trxl", "t5", "xlm")[i % 4],
            "workload.seq_len": 1024 << (2 * (i % 6)),
            **dict(zip(names, v)),
            "feasible": True,
            "error": None,
        }
        for i, v in enumerate(x)
    ]


def _cases(n: int):
    for kind in KINDS:
        for k in METRICS:
            yield f"nondominated, {n:,} rows x {k} metrics, {kind}", ("array", kind, k)
    for k in (3, 4):
        yield f"attnkit.pareto, {n:,} result rows x {k} metrics", ("rows", k, ())
    yield (
        f"attnkit.pareto, {n:,} result rows x 3 metrics, --by (24 groups)",
        ("rows", 3, ("workload", "workload.seq_len")),
    )


def _time_case(mod, case, n: int) -> tuple[float, int]:
    if case[0] == "array":
        x = table(case[1], case[2], n)
        t0 = time.perf_counter()
        on = mod.nondominated(x)
        return time.perf_counter() - t0, int(np.count_nonzero(on))
    rows = records(case[1], n)
    metrics = list(rows[0])[3 : 3 + case[1]]
    t0 = time.perf_counter()
    found = mod.front_by(rows, metrics, [], list(case[2]))
    return time.perf_counter() - t0, len(found)


def run():
    """The installed package, for bench/run.py."""
    from attnkit.sim import pareto

    out = []
    for name, case in _cases(N):
        seconds, size = _time_case(pareto, case, N)
        out.append({"name": name, "value": seconds, "unit": "s", "note": f"{size:,} on the front"})
    return out


# --- comparing implementations (run alone) --------------------------------------------------------


def _load(rev: str):
    if rev == ".":
        path = ROOT / "sim" / "pareto.py"
    else:
        text = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:sim/pareto.py"], capture_output=True, text=True, check=True
        ).stdout
        path = Path(tempfile.mkdtemp()) / "pareto.py"
        path.write_text(text)
    spec = importlib.util.spec_from_file_location(f"pareto_{abs(hash(rev))}", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _child(conn, rev, case, n):
    conn.send(_time_case(_load(rev), case, n))


def _timed(rev: str, case, n: int, timeout: float) -> str:
    """Seconds (and front size) of one case in a child process, or '> timeout' when it runs past it."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(send, rev, case, n))
    p.start()
    send.close()
    if recv.poll(timeout):
        try:
            seconds, size = recv.recv()
        except EOFError:  # the child failed (its traceback is on stderr)
            p.join()
            return "failed"
        p.join()
        return f"{seconds:8.2f} ({size:,})"
    p.kill()  # only the child this call started
    p.join()
    return f"> {timeout:.0f}"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", action="append", help="git revision of sim/pareto.py, or . (the working tree)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per case and implementation")
    ap.add_argument("--rows", type=int, default=N)
    ap.add_argument("--only", help="time only the cases whose name contains this")
    args = ap.parse_args(argv)
    revs = args.rev or ["."]
    width = 66
    print(f"{'case':<{width}}" + "".join(f" | {r:>22}" for r in revs), flush=True)
    print("-" * (width + 25 * len(revs)), flush=True)
    for name, case in _cases(args.rows):
        if args.only and args.only not in name:
            continue
        cells = [_timed(rev, case, args.rows, args.timeout) for rev in revs]
        print(f"{name:<{width}}" + "".join(f" | {c:>22}" for c in cells), flush=True)
    print("seconds per case (rows on the front)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
