"""The RTL blocks the kit can export, test and synthesise, by name.

Each block names its parameter dataclass (the one every level reads), the
Amaranth component built from it, and its cocotb testbench module. The CLI
commands ``verilog``, ``rtl-test`` and ``synth`` all go through this table,
so adding a block is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from amaranth.back import verilog

from attnkit import config
from attnkit.errors import AttnkitError


@dataclass(frozen=True)
class Block:
    name: str
    params: type
    component: Callable            # params -> wiring.Component
    testbench: str                 # cocotb test module
    doc: str
    loader: Callable | None = None  # (sets, path) -> params, for blocks sized by arch + workload configs

    def load_params(self, sets: Iterable[str] = (), path: str | None = None):
        if self.loader is not None:
            return self.loader(list(sets), path)
        return config.load(self.params, path, sets)


def _mac() -> Block:
    from attnkit.hw.mac import Mac
    from attnkit.models.mac import MacParams
    return Block("mac", MacParams, Mac, "attnkit.testbench.mac_tb",
                 "signed fixed-point multiply-accumulate PE")


def _attention() -> Block:
    from attnkit.hw.attention import AttentionEngine
    from attnkit.hw.attention_params import RtlAttentionParams
    return Block("attention", RtlAttentionParams, AttentionEngine, "attnkit.testbench.attention_tb",
                 "fused attention engine: R x C systolic array + row unit, 1-pass cascade",
                 loader=_load_attention)


def _load_attention(sets: list[str], path: str | None = None):
    """configs/arch/rtl-attention-4x4.yaml (or ``path``) + configs/workloads/rtl-attention.yaml, with
    ``--set`` split as ``attnkit simulate`` does (``workload.`` keys edit the workload)."""
    from attnkit.hw.attention import check_timing
    from attnkit.sim import api
    from attnkit.sim.engines.rtl_attention import params_of
    arch_sets, workload_sets = api.split_sets(sets)
    arch = api.load_arch(path or "rtl-attention-4x4", arch_sets)
    workload = api.load_workload("rtl-attention", workload_sets)
    params = params_of(arch, workload)
    try:
        check_timing(params)
    except ValueError as e:
        raise AttnkitError(f"attention: {e}") from None
    return params


_FACTORIES = {"mac": _mac, "attention": _attention}


def names() -> list[str]:
    return sorted(_FACTORIES)


def get(name: str) -> Block:
    if name not in _FACTORIES:
        raise AttnkitError(f"unknown block {name!r} (known blocks: {', '.join(names())})")
    return _FACTORIES[name]()


def write_verilog(block: Block, params, out_dir: str | Path) -> Path:
    """Elaborate ``block`` with ``params`` and write ``out_dir/<name>.v``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(block.component(params), name=block.name, emit_src=False)
    path = out_dir / f"{block.name}.v"
    path.write_text(text)
    return path
