"""An RTL block from Python: export its Verilog, then check it under Verilator against its golden model.

The MAC is sized by its parameter object (the same one the golden model
reads); here with a 3-stage pipeline and a wrapping accumulator, set the
way ``--set`` would on the command line.

    python examples/rtl_block.py [OUT_DIR]      (default build/examples/rtl)
"""

import sys
from pathlib import Path

import attnkit


def main(out: Path) -> dict:
    edits = {"pipeline": 3, "acc_fmt.overflow": "AP_WRAP"}
    path = attnkit.verilog("mac", out=out, set=edits)
    print(f"wrote {path} ({path.read_text().count(chr(10))} lines)")

    result = attnkit.rtl_test("mac", vectors=2000, seed=7, set=edits, log=lambda m: print(m, file=sys.stderr))
    print(
        f"{result['block']} under {result['simulator']}: {result['vectors']} vectors, "
        f"{result['mismatches']} mismatches, {result['cycles']} cycles (predicted {result['predicted_cycles']})"
    )
    if result["mismatches"]:
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "build/examples/rtl"))
