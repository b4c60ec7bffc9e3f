"""The RTL blocks the kit can export, test and synthesise, by name.

Each block names its parameter dataclass (the one every level reads), the
Amaranth component built from it, and its testbench module. A stream block's
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

import dataclasses
import sys
from dataclasses import dataclass
from functools import lru_cache
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
    testbench: str                 # cocotb test module (for stream blocks, with BENCHES: attnkit.testbench.streams)
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
    ``--set`` split as ``attnkit simulate`` does (``workload.`` keys edit the workload, ``numerics.`` keys
    the golden formats, e.g. ``numerics.acc_frac_bits=20``)."""
    from attnkit.hw.attention import check_timing
    from attnkit.models.attention import AttentionNumerics
    from attnkit.sim import api
    from attnkit.sim.engines.rtl_attention import params_of
    num_sets = [s.removeprefix("numerics.") for s in sets if s.startswith("numerics.")]
    arch_sets, workload_sets = api.split_sets([s for s in sets if not s.startswith("numerics.")])
    arch = api.load_arch(path or "rtl-attention-4x4", arch_sets)
    workload = api.load_workload("rtl-attention", workload_sets)
    params = params_of(arch, workload)
    if num_sets:
        params = dataclasses.replace(params, numerics=config.load(AttentionNumerics, None, num_sets))
    try:
        check_timing(params)
    except ValueError as e:
        raise AttnkitError(f"attention: {e}") from None
    return params


def _merge() -> Block:
    from attnkit.hw.merge import Merge
    from attnkit.hw.merge_params import MergeParams
    return Block("merge", MergeParams, Merge, "attnkit.testbench.merge_tb",
                 "LeanAttention merge unit: two partials (O, m, l) in, one out", loader=_load_merge)


def _load_merge(sets: list[str], path: str | None = None):
    """configs/blocks/merge.yaml (or ``path``) with ``--set`` edits."""
    from attnkit.hw.merge_params import MergeParams
    from attnkit.sim import api
    return config.load(MergeParams, api.resolve(path or "merge", "blocks"), sets)


def _decode() -> Block:
    from attnkit.hw.decode import DecodeEngine
    from attnkit.hw.decode_params import RtlDecodeParams
    return Block("decode", RtlDecodeParams, DecodeEngine, "attnkit.testbench.decode_tb",
                 "decode engine: N attention cores fed by a stream-K tile scheduler, partials merged per head",
                 loader=_load_decode)


def _load_decode(sets: list[str], path: str | None = None):
    """configs/arch/rtl-decode-2core.yaml (or ``path``) + configs/workloads/rtl-decode.yaml, ``--set`` split
    as ``attnkit simulate`` does (``workload.`` keys edit the workload, ``numerics.`` keys the golden formats)."""
    from attnkit.models.attention import AttentionNumerics
    from attnkit.sim import api
    from attnkit.sim.engines.rtl_decode import params_of
    num_sets = [s.removeprefix("numerics.") for s in sets if s.startswith("numerics.")]
    arch_sets, workload_sets = api.split_sets([s for s in sets if not s.startswith("numerics.")])
    numerics = config.load(AttentionNumerics, None, num_sets) if num_sets else None
    return params_of(api.load_arch(path or "rtl-decode-2core", arch_sets), api.load_workload("rtl-decode", workload_sets),
                     numerics)


def _gelu() -> Block:
    from attnkit.hw.gelu import Gelu, RtlGeluParams, load
    return Block("gelu", RtlGeluParams, Gelu, "attnkit.testbench.gelu_tb",
                 "Edge-MoE GELU: ReLU(x) - delta(|x|), delta by table with linear interpolation", loader=load)


def _softmax() -> Block:
    from attnkit.hw.softmax import RtlSoftmaxParams, Softmax, load
    return Block("softmax", RtlSoftmaxParams, Softmax, "attnkit.testbench.softmax_tb",
                 "Edge-MoE online softmax: running max and sum, then exp(s - max) * (1/sum)", loader=load)


def _exp() -> Block:
    from attnkit.hw.exp import Exp
    from attnkit.models.exp import ExpParams
    return Block("exp", ExpParams, Exp, "attnkit.testbench.unit_tb",
                 "exp(x) for x <= 0: x log2(e), 2^f by table and interpolation, a shift (a stream pipeline)")


def _recip() -> Block:
    from attnkit.hw.recip import Recip
    from attnkit.models.recip import RecipParams
    return Block("recip", RecipParams, Recip, "attnkit.testbench.unit_tb",
                 "1/x: leading-one normalisation, seed table, Newton-Raphson steps, a shift (a stream pipeline)")


BLOCKS = {"mac": _mac, "attention": _attention, "merge": _merge, "decode": _decode, "gelu": _gelu, "softmax": _softmax,
          "exp": _exp, "recip": _recip}


@lru_cache(maxsize=None)
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


def verilog_text(block: Block, params, wrap: Callable | None = None) -> str:
    """The Verilog of ``block`` built from ``params``; ``wrap`` (component -> component of the same
    signature, e.g. :class:`attnkit.hw.mutate.Stuck`) injects a fault."""
    component = block.component(params)
    return verilog.convert(wrap(component) if wrap else component, name=block.name, emit_src=False)


def write_verilog(block: Block, params, out_dir: str | Path, wrap: Callable | None = None) -> Path:
    """Elaborate ``block`` with ``params`` and write ``out_dir/<name>.v``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = verilog_text(block, params, wrap)
    path = out_dir / f"{block.name}.v"
    path.write_text(text)
    return path
