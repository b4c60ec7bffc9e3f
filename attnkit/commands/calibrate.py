"""attnkit calibrate MEASUREMENTS --arch BASE: derive a GPU's per-kernel constants from measured points."""

from attnkit.commands._common import add_measurements, emit

NAME = "calibrate"
HELP = (
    "derive the GPU constants no data sheet gives (per-CTA rate and fixed cost per kernel, the achievable HBM"
    " fraction), each from one named measured point, and write an arch YAML that extends the base"
)


def add_arguments(p) -> None:
    add_measurements(
        p,
        "the gpu arch to calibrate, e.g. h200-datasheet",
        "FILE",
        "write the arch YAML to FILE (default: print it on stdout)",
    )


def run(args) -> int:
    import sys
    from pathlib import Path

    from attnkit.params.kinds import load_arch
    from attnkit.sim import gpu_calibration, gpu_measurements

    meas = gpu_measurements.load(args.measurements)
    base = load_arch(args.arch)
    gpu_measurements.recipe(meas)  # a point the calibration needs and the file lacks: refused before the work
    print(f"calibrate: {meas.name} on {base.name} ({len(meas.rows)} rows)", file=sys.stderr)
    result = gpu_calibration.calibrate(meas, base)
    text = gpu_calibration.write(meas, args.arch, result, gpu_calibration.output_name(args.out, base))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"calibrate: wrote {args.out}", file=sys.stderr)
    rows = [
        {
            "constant": path,
            "value": value,
            "point": meas.describe(result["points"][path]) if result["points"][path] else "copy bandwidth",
            "fit": result["fit"].get(path),
        }
        for path, value in result["values"].items()
    ]
    if args.json:
        emit(args, rows, kind="calibration")
    elif args.out:
        emit(args, rows, columns=["constant", "value", "point"])
    else:
        sys.stdout.write(text)
    return 0
