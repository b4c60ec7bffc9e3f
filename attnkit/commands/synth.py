"""attnkit synth BLOCK --target T: resources (and with --pnr, Fmax) of an RTL block from open tools."""

import sys

from attnkit.commands._common import add_block, add_json, add_set, emit, keywords

NAME = "synth"
HELP = (
    "synthesise an RTL block with Yosys (YoWASP) for xcup, xc7, ecp5 or ice40: LUTs, FFs, DSPs, block RAMs; "
    "--pnr places and routes on ECP5 (nextpnr) for Fmax; cached under build/synth"
)


def add_arguments(p) -> None:
    from attnkit.hw import blocks
    from attnkit.hw.synth import FLOWS

    add_block(p, blocks.names())
    p.add_argument(
        "--target",
        required=True,
        choices=sorted(FLOWS),
        help="xcup: UltraScale+ (ZCU102), xc7: 7-series, ecp5: Lattice ECP5, ice40: iCE40 UltraPlus",
    )
    p.add_argument(
        "--device",
        default=None,
        metavar="NAME",
        help="device to check the fit against (configs/devices/; default: the target's "
        + ", ".join(f"{t}: {f.device}" for t, f in sorted(FLOWS.items()))
        + ")",
    )
    p.add_argument("--pnr", action="store_true", help="place and route (ecp5 only) and report the achieved Fmax")
    p.add_argument("--freq", type=float, default=100.0, metavar="MHZ", help="clock constraint for --pnr (default 100)")
    p.add_argument(
        "--pnr-timeout",
        type=float,
        default=3600,
        metavar="S",
        help="give up place and route after S seconds (default 3600)",
    )
    p.add_argument("--out", default="build/synth", metavar="DIR", help="work and cache folder (default build/synth)")
    add_set(p)
    add_json(p)


def run(args) -> int:
    from attnkit import api
    from attnkit.errors import AttnkitError

    record = api.synth(
        args.block,
        args.target,
        **keywords(args, "pnr", "device", "out", set="sets", freq_mhz="freq", pnr_timeout_s="pnr_timeout"),
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    emit(
        args,
        record if args.json else {k: v for k, v in record.items() if k not in ("cells", "utilisation")},
        kind="synth",
    )
    if not record["fits"]:
        raise AttnkitError(f"{record['block']} does not fit {record['device']}: {'; '.join(record['over'])}")
    return 0
