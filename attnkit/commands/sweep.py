"""attnkit sweep SPEC.yaml: run a design-space sweep and append one CSV row per design point."""

from attnkit.commands._common import add_choice, add_config, add_jobs, add_json, emit, keywords

NAME = "sweep"
HELP = "run a design-space sweep (configs/sweeps/*.yaml); writes DIR/results.csv (and .parquet), one row per point"


def add_arguments(p) -> None:
    add_config(p, "spec", "SPEC.yaml", "sweep spec", "sweeps")
    add_jobs(p, "worker processes (default: one per core; 1 runs in this process)")
    p.add_argument("--out", default=None, metavar="DIR", help="output folder (default: build/sweeps/<spec name>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="complete an interrupted sweep in DIR: run only the points (or Parquet chunks) not written yet",
    )
    add_choice(
        p,
        "--executor",
        ("local", "dask"),
        help="local: a process pool on this machine; dask: a Dask cluster (default: local)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask scheduler to connect to, e.g. tcp://10.0.0.5:8786 (default: start a LocalCluster)",
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=None,
        metavar="N",
        help="points per task (default: about four tasks per worker, up to 500 for CSV and 20,000 for Parquet)",
    )
    p.add_argument(
        "--output",
        choices=("csv", "parquet"),
        default=None,
        help="results.csv, or results.parquet/ (one file per chunk) (default: the spec's output, else csv up "
        "to 100,000 points)",
    )
    p.add_argument("--dry-run", action="store_true", help="check and expand the spec, run nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_json(p)


def run(args) -> int:
    from attnkit import api

    if args.dry_run:
        emit(args, api.sweep_plan(args.spec))
        return 0
    summary = api.run_sweep(
        args.spec,
        **keywords(args, "out", "jobs", "resume", "executor", "scheduler", "chunk", "output"),
        progress=not args.no_progress,
    )
    emit(args, summary)
    return 0
