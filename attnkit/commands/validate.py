"""attnkit validate MEASUREMENTS --arch A: every measured row beside the engines' prediction, and the error."""

from attnkit.commands._common import add_measurements, emit

NAME = "validate"
HELP = (
    "predict every row of a GPU measurements file with the engine that models its backend and print the"
    " measured and predicted times, the error per row and the median, mean and worst |error| per backend"
)
KIND = "gpu-validation"
COLUMNS = ["backend", "batch", "heads", "kv_heads", "head_dim", "context", "latency_us", "engine", "kernel"]
COLUMNS += ["predicted_us", "error", "role", "calibrates"]


def add_arguments(p) -> None:
    add_measurements(
        p, "the calibrated gpu arch, e.g. h200", "DIR", "also write DIR/results.csv and .json (for attnkit report)"
    )


def run(args) -> int:
    import sys

    from attnkit.params.kinds import load_arch
    from attnkit.sim import gpu_measurements
    from attnkit.sim.result import write_results

    meas = gpu_measurements.load(args.measurements)
    out = gpu_measurements.validate(meas, load_arch(args.arch))
    rows = out["rows"]
    if args.out:
        summary = [
            {"backend": b, "role": "summary", **{k: v for k, v in s.items()}} for b, s in out["backends"].items()
        ]
        write_results(rows + summary, args.out, COLUMNS + ["median", "mean", "worst", "points"], KIND)
        print(f"validate: wrote {args.out}/results.csv", file=sys.stderr)
    if args.json:
        emit(args, rows)
        return 0
    emit(args, rows, columns=COLUMNS[:-1])
    print()
    print(f"|error| of the predictions ({out['measurements']} on {out['arch']}; calibration points left out):")
    emit(
        args,
        [{"backend": b, **s} for b, s in out["backends"].items()],
        columns=["backend", "median", "mean", "worst", "points"],
    )
    print("calibration points:")
    for c in out["calibration"]:
        print(f"  {c['constant']}: {c['point']}")
    best = [r for r in rows if r["role"] == "best measured"]
    if best:
        print("best measured (no public schedule), beside the prediction of the engine named for it:")
        for r in best:
            print(
                f"  {r['backend']} kv_heads {r['kv_heads']} context {r['context']}: {r['latency_us']:g} us measured,"
                f" {r['engine']} {r['predicted_us']:.4g} us ({r['predicted_us'] / r['latency_us']:.3f}x)"
            )
    return 0
