"""attnkit rtl-test BLOCK: run a block's cocotb testbench against its golden model."""

import random
import sys

from attnkit.commands._common import add_block, add_jobs, add_json, add_set, emit
from attnkit.hw import blocks
from attnkit.testbench import toolchain

NAME = "rtl-test"
HELP = "simulate an RTL block under Verilator or Icarus and check it bit for bit against its golden model"


def add_arguments(p) -> None:
    add_block(p, blocks.names())
    p.add_argument(
        "--sim", default="verilator", choices=toolchain.SIMULATORS, help="HDL simulator (default: verilator)"
    )
    p.add_argument("--vectors", type=int, default=10_000, metavar="N", help="input vectors to check (default: 10000)")
    p.add_argument("--seed", type=int, default=None, metavar="S", help="random seed (default: a fresh one, printed)")
    p.add_argument("--waves", action="store_true", help="dump waveforms under build/rtl for GTKWave")
    p.add_argument(
        "--fast",
        action="store_true",
        help="blocks with one input and one output stream: clock and stimulus in a C++ Verilator harness"
        " instead of cocotb (same cases and checks)",
    )
    add_jobs(
        p,
        "with --fast: harness processes running a share of the problems each (default: one per"
        " core; the results do not depend on it)",
    )
    add_set(p)
    add_json(p)


def run(args) -> int:
    from attnkit import api

    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    result = api.rtl_test(
        args.block,
        vectors=args.vectors,
        seed=seed,
        sim=args.sim,
        set=args.sets,
        waves=args.waves,
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
        fast=args.fast,
        jobs=args.jobs,
    )
    emit(
        args,
        result,
        ["block", "simulator", "vectors", "mismatches", "cycles", "predicted_cycles", "seed", "build_s", "run_s", "log"]
        + (["waves"] if args.waves else [])
        + (["latency_errors", "jobs", "sim_wall_s", "cycles_per_s"] if args.fast else []),
        kind="rtl",
    )
    if result.get("watchdog"):
        print(f"rtl-test {result['watchdog']} (see {result['log']})", file=sys.stderr)
        return 1
    if result["mismatches"] or result.get("latency_errors"):
        print(f"rtl-test {args.block}: FAILED, see {result['log']}", file=sys.stderr)
        return 1
    return 0
