"""attnkit csim: build an Edge-MoE HLS kernel with g++, run it on golden vectors, compare bit for bit."""

from attnkit.commands._common import add_json, add_set, emit
from attnkit.hls import KERNELS

NAME = "csim"
HELP = f"C-simulate an Edge-MoE HLS kernel ({', '.join(KERNELS)}) against the golden model; exit 1 on any mismatch"
COLUMNS = (
    "kernel",
    "vectors",
    "mismatches",
    "elements",
    "mismatched_elements",
    "first_mismatch",
    "seed",
    "cached",
    "build_s",
    "golden_s",
    "run_s",
)


def add_arguments(p) -> None:
    p.add_argument("kernel", metavar="KERNEL", help=", ".join(KERNELS))
    p.add_argument(
        "--vectors",
        type=int,
        default=100,
        metavar="N",
        help="random input vectors (default 100; for layer, N inputs each through a dense and an MoE layer)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the vectors (default 0)")
    p.add_argument("--arch", default="zcu102-edgemoe", help="architecture config, kind fpga (default zcu102-edgemoe)")
    p.add_argument("--workload", default="m3vit", help="workload config, kind vit-moe (default m3vit)")
    add_set(p)
    add_json(p)


def run(args) -> int:
    from attnkit.hls.csim import run_csim
    from attnkit.params.edgemoe import EdgeMoeParams

    params = EdgeMoeParams.load(args.arch, args.workload, args.sets)
    res = run_csim(args.kernel, args.vectors, args.seed, params)
    emit(args, res, COLUMNS)
    return 1 if res["mismatches"] else 0
