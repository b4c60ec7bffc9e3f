"""attnkit verilog BLOCK: export a block's RTL as Verilog."""

from attnkit.commands._common import add_block, add_json, add_set, emit
from attnkit.hw import blocks

NAME = "verilog"
HELP = "export an RTL block to Verilog (writes DIR/BLOCK.v)"


def add_arguments(p) -> None:
    add_block(p, blocks.names())
    p.add_argument("-o", "--out", default="build/verilog", metavar="DIR", help="output folder (default: build/verilog)")
    add_set(p)
    add_json(p)


def run(args) -> int:
    from attnkit import api

    path = api.verilog(args.block, args.out, set=args.sets)
    emit(args, {"block": args.block, "verilog": str(path), "lines": path.read_text().count("\n")})
    return 0
