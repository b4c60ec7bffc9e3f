"""attnkit simulate: cycles, energy, area and utilisation of an engine on a workload."""

from attnkit.commands._common import add_choice, add_config, add_json, add_set, emit

NAME = "simulate"
HELP = "simulate an engine on a workload: cycles, latency, energy, area, utilisation, DRAM bytes"

_SHOWN = (
    "engine",
    "cycles",
    "compute_cycles",
    "latency_s",
    "energy_pj",
    "area_mm2",
    "util_2d",
    "util_1d",
    "dram_bytes",
)


def add_arguments(p) -> None:
    add_config(p, "--arch", "A.yaml", "architecture", "arch", example="systolic", required=True)
    add_config(p, "--workload", "W.yaml", "workload", "workloads", example="gemm", required=True)
    p.add_argument(
        "--engine",
        default=None,
        metavar="NAME",
        help="engine to run (default: the arch's `engine` key; `attnkit configs --engines` lists them)",
    )
    add_choice(
        p,
        "--mode",
        ("closed", "event"),
        help="closed form (default, fast) or the event-driven run (exact, small problems)",
    )
    add_set(p)
    add_json(p)


def run(args) -> int:
    from attnkit import api

    record = api.simulate(args.arch, args.workload, engine=args.engine, mode=args.mode, set=args.sets).to_dict()
    if args.json:
        emit(args, record, kind="simulate")
        return 0
    emit(args, {k: record[k] for k in _SHOWN if k in record})
    total = record["energy_pj"] or 1.0
    print("energy breakdown (pJ):")
    for comp, pj in sorted(record["energy_breakdown"].items(), key=lambda kv: -kv[1]):
        print(f"  {comp:<16} {pj:12.4g}  {100 * pj / total:5.1f}%")
    if record.get("area_breakdown"):
        print("area breakdown (mm^2):")
        for comp, mm2 in sorted(record["area_breakdown"].items(), key=lambda kv: -kv[1]):
            print(f"  {comp:<16} {mm2:12.4g}")
    return 0
