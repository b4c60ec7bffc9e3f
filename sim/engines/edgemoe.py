"""Engine ``edgemoe``: cycles of one M3ViT image on Edge-MoE (Sarkar et al., ICCAD 2023), stage by stage.

``simulate(arch, workload, table, mode)`` takes an ``FpgaArch`` (kind ``fpga``,
``configs/arch/zcu102-edgemoe.yaml``) and a ``VitMoeWorkload`` (kind
``vit-moe``, ``configs/workloads/m3vit.yaml``), builds
:class:`attnkit.params.edgemoe.EdgeMoeParams` from them and returns a
:class:`attnkit.sim.result.Result` whose ``extra`` holds ``stages`` (cycles per
stage kind over the image), ``layers`` (cycles per layer), ``rows`` (every
stage of every layer with its compute, memory and weight-load cycles),
``fps`` and ``resources`` (the fit check). :func:`derive` gives the rows alone.

The count is derived from the loop nests of the public HLS code
(sharc-lab/Edge-MoE; see ANCHORS.md): every stage is one HLS function call
whose inner loops are dataflow processes running at the same time, so a
stage takes the longest of

- each compute loop: trip count x II (all II = 1 except the gate's softmax,
  II = 3), with the unit sizes of the arch config (linear ``in x out``,
  attention ``lanes x dims``, gate ``experts x dims``, ``layernorm.elements``);
  the linear unit's MAC process is
  :func:`attnkit.params.edgemoe.linear_cycles`: its trips, plus the first
  row's beats and the unit's pipeline depth (``LINEAR_DEPTH``), the schedule
  the RTL block ``edgemoe_linear`` runs cycle for cycle; the attention unit's
  Q x K and A x V are :func:`attnkit.params.edgemoe.attention_qk_cycles` and
  :func:`~attnkit.params.edgemoe.attention_av_cycles`: ``ceil(T / lanes)``
  query blocks streaming every K (then V) row, plus the first block's Q rows,
  a gap per block for the reciprocals, the last block's outputs and the
  pipeline depth (``ATTN_DEPTH``), the schedule the RTL block
  ``edgemoe_attention`` runs cycle for cycle;
- each memory port: the bits it moves / ``axi.bits`` per cycle (every HLS
  bundle has its own PS port, vivado.tcl; reads and writes are separate AXI
  channels). One loop iteration moves one 256-bit block (8 activations,
  16 weights), so a port narrower than that stretches the loop;

plus ``axi.latency`` (the m_axi latency, once per call). Stages run one after
another (``#pragma HLS pipeline off`` on the layer loop), except the weight
loads: with ``weight_overlap`` (linear weights ping-pong buffered) each load
runs beside the call just before it in ViT_compute.cpp / moe.cpp (load Q
beside LayerNorm 1, K beside Q, V beside Q x K, projection beside A x V,
FC1 or the gate weights beside LayerNorm 2, FC2 beside FC1; per expert, its
FC2 beside its FC1 and the next expert's FC1 beside this FC2; the first
expert's FC1 beside the output zeroing), and the pair takes the longer of
the two; without it, loads add. Not counted: the pipeline fill depths of
the other units (LayerNorm, gate, patch embedding) and the fixed latencies
of their sqrt/divide units (the public code has no schedule report, and
they have no RTL here yet), so outside the linear and attention stages this
is an initiation-interval count: a lower bound on the board's cycles by
those depths.

The gate runs its patches one after another (its patch loop is not
pipelined): per patch the score loop (``d_model / gate.dims`` iterations)
then the softmax over the experts at II = 3, with top-k beside the softmax
(independent calls on the same scores).

MoE layers: ``workload.active_experts`` experts have patches; patch ``t``
goes to active experts ``(k t + i) mod A`` for ``i < top_k`` (distinct,
queues as even as the count allows). Each active expert's FC1 and FC2
weights are loaded once per layer, in order.

Energy: only the DRAM traffic is costed (the arch's energy table, per
64-bit access); no source gives the FPGA's per-operation energy, so compute
energy is not counted and ``area_mm2`` is 0 (an FPGA's area is its part).

Fit check (:func:`resources`): DSP slices from the multipliers each unit
unrolls (from the code) times the DSP48E2 tiles a product of those widths
needs (a 27 x 18 signed multiplier, AMD UG579), and 36-Kb block RAMs from the
on-chip arrays of the code tiled into BRAM aspect ratios (UG573). A unit that
exists as an RTL block (:data:`UNITS`: the linear unit ``edgemoe_linear``
with its GELU lanes, the attention unit ``edgemoe_attention`` with its
softmax datapath) is counted as the block builds it, its products tiled and
its memories placed as Yosys does for UltraScale+ (:func:`rtl_dsps`,
:func:`rtl_bram36`); synthesis of the block on xcup gives those DSPs and
block RAMs (docs/hardware/synthesis.md).
LUTs and flip-flops: a synthesised unit's from its record in
``configs/synthesis/<arch.synthesis>.yaml`` (the command, the Yosys and the
size; scaled by its DSPs at another size), the other units' estimated at the
synthesised units' LUTs and flip-flops per DSP, each named in
``logic_sources``. A design over the part's DSPs, block RAMs, LUTs or
flip-flops is refused: ``AttnkitError`` (exit 2) naming the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from attnkit.errors import AttnkitError, ConfigError
from attnkit.params.arch import load_device, load_synthesis
from attnkit.params.blocks import load as load_block
from attnkit.params.edgemoe import (
    EdgeMoeParams,
    FpgaArch,
    RtlEdgeMoeAttentionParams,
    RtlLinearParams,
    VitMoeWorkload,
    attention_av_cycles,
    attention_blocks,
    attention_memories,
    attention_qk_cycles,
    attention_scale_raw,
    linear_cycles,
    linear_memories,
    linear_row_cycles,
)
from attnkit.sim.energy import EnergyTable
from attnkit.sim.engines import Engine
from attnkit.sim.result import Result

PIXEL_BITS = 8  # pixel_t = ap_ufixed<8,0> (datatypes.hpp)
PATCH_WEIGHT_BITS = 16  # wt_patch_embed_t = ap_fixed<16,0>
GATE_SOFTMAX_II = 3  # moe.cpp update_softmax_info: #pragma HLS pipeline rewind II=3
# Ports are the m_axi bundles of ViT_compute.cpp (inout1..4, weights), each on its own PS port (vivado.tcl).


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class Stage:
    """One HLS call: its loops (name -> (trips, II)) and its port traffic ((port, 'r'|'w') -> bits)."""

    name: str
    loops: dict[str, tuple[int, int]] = field(default_factory=dict)
    traffic: dict[tuple[str, str], int] = field(default_factory=dict)
    serial: int = 0  # cycles of loops that run one after another inside the call

    def move(self, port: str, rw: str, transfers: int, bits: int) -> Stage:
        self.traffic[(port, rw)] = self.traffic.get((port, rw), 0) + transfers * bits
        return self

    def cycles(self, a: FpgaArch) -> tuple[int, int, int]:
        """(total, compute, memory) cycles: the longest concurrent loop or port, plus the serial part and the latency."""
        compute = max((n * ii for n, ii in self.loops.values()), default=0) + self.serial
        memory = max((cdiv(bits, a.axi.bits) for bits in self.traffic.values()), default=0)
        return max(compute, memory) + a.axi.latency, compute, memory

    def bytes(self, rw: str) -> int:
        return sum(b for (_, d), b in self.traffic.items() if d == rw) // 8


@dataclass
class Row:
    layer: str
    stage: str
    cycles: int  # what the stage adds to the image's timeline
    compute: int  # longest compute loop (with serial parts)
    memory: int  # longest port transfer
    load: int = 0  # the weight load that runs beside it (or before it, without overlap)
    read_bytes: int = 0  # over all ports, the load's included
    write_bytes: int = 0
    loops: str = ""

    @property
    def dram_bytes(self) -> int:
        return self.read_bytes + self.write_bytes

    def to_dict(self, clock_hz: float) -> dict:
        return {
            "layer": self.layer,
            "stage": self.stage,
            "cycles": self.cycles,
            "latency_s": self.cycles / clock_hz,
            "compute_cycles": self.compute,
            "memory_cycles": self.memory,
            "load_cycles": self.load,
            "dram_bytes": self.dram_bytes,
            "loops": self.loops,
        }


class _Model:
    def __init__(self, p: EdgeMoeParams, fill: bool = True):
        self.p, self.a, self.w = p, p.arch, p.workload
        self.fill = fill  # False: the linear and attention units' MAC trips only (derive's fill)
        n = p.numerics
        self.aw = n.act_fmt.width
        self.blk = self.a.attention.dims  # activations per 256-bit block (FEATURE_BLOCK_SIZE)
        self.bbits = self.blk * self.aw  # one block, one loop iteration's transfer
        self.wpb = self.bbits // n.weight_fmt.width  # weights per block (WEIGHT_BLOCK_SIZE)
        self.bpb = self.bbits // n.bias_fmt.width  # biases per block
        self.T = self.w.tokens

    def nb(self, dim: int, per: int | None = None) -> int:
        return cdiv(dim, per or self.blk)

    # -- weight loads (linear.cpp load_linear_weights / load_linear_bias) --------------------
    def load_linear(self, name: str, out_dim: int, in_dim: int) -> Stage:
        wt = out_dim * cdiv(in_dim, self.wpb)
        bias = cdiv(out_dim, self.bpb)
        s = Stage(name, {"weights": (wt, 1)}, serial=bias)  # the bias load is a second call, after the weights
        return s.move("weights", "r", wt + bias, self.bbits)

    # -- compute stages ---------------------------------------------------------------------
    def linear(
        self, name: str, out_dim: int, in_dim: int, length: int, src: str, dst: str, score: bool = False
    ) -> Stage:
        """compute_linear: read, MAC and write processes in dataflow; ``length`` patches."""
        # the MAC process: the unit's closed form, its first row and pipeline depth included (the RTL block
        # edgemoe_linear takes exactly this, cycle for cycle: params.edgemoe.linear_cycles)
        s = Stage(
            name,
            {
                "mac": (
                    linear_cycles(self.a, out_dim, in_dim, length)
                    if self.fill
                    else length * linear_row_cycles(self.a.linear, out_dim, in_dim),
                    1,
                ),
                "read": (length * self.nb(in_dim), 1),
                "write": (length * self.nb(out_dim), 1),
            },
        )
        s.move(src, "r", length * self.nb(in_dim), self.bbits)
        s.move(dst, "w", length * self.nb(out_dim), self.bbits)
        if score:  # write_out_stream_indirect with use_score: out[t] += y * p reads what it adds to
            s.move(dst, "r", length * self.nb(out_dim), self.bbits)
        return s

    def layernorm(self, name: str) -> Stage:
        e = self.nb(self.w.d_model, self.a.layernorm.elements)
        # per patch: accumulate then output, the patch loop in dataflow: T + 1 slots of e cycles
        s = Stage(name, {"accumulate+output": ((self.T + 1) * e, 1)})
        s.move("inout2", "r", self.T * e, self.bbits).move("inout1", "w", self.T * e, self.bbits)
        return s

    def load_norms(self) -> Stage:
        e = self.nb(self.w.d_model, self.a.layernorm.elements)
        bits = self.a.layernorm.elements * self.p.numerics.norm_fmt.width
        return Stage("load_norms", {"4 vectors": (4 * e, 1)}).move("weights", "r", 4 * e, bits)

    def add(self, name: str) -> Stage:
        n = self.T * self.nb(self.w.d_model, self.a.layernorm.elements)
        s = Stage(name, {"add": (n, 1)})
        return (
            s.move("inout2", "r", n, self.bbits).move("inout3", "r", n, self.bbits).move("inout2", "w", n, self.bbits)
        )

    def _attn_trips(self) -> tuple[int, int]:
        """(query blocks, key iterations): ``ceil(T / lanes)`` blocks of ``lanes`` queries, each streaming all
        ``T`` key (and value) rows, as the RTL unit ``edgemoe_attention`` runs them. The board's code staggers
        its lanes over ``T + lanes - 1`` query slots (each lane's Q rows stream in beside the K rows) and stops
        its last block early; the unit preloads its first block's Q rows instead and lets the others ride on
        the V beats. The two give the same trips when ``T mod lanes = 1`` (M3ViT's 129 tokens on 4 lanes)."""
        blocks = attention_blocks(self.a.attention.lanes, self.T)
        return blocks, blocks * self.T

    def qk(self) -> Stage:
        lanes, T = self.a.attention.lanes, self.T
        blocks, keys = self._attn_trips()
        nbh = self.nb(self.w.d_model)
        heads_bits = 2 ** math.ceil(math.log2(self.w.heads)) * self.aw  # heads_t: roundup_p2(H) values
        info_bits = 2 ** math.ceil(math.log2(2 * self.w.heads)) * self.aw  # softmax_info_row_t
        # Q x K with the online softmax: the unit's closed form (the first block's Q rows, K streamed per query
        # block, the running max and sum per lane beside it, the reciprocals' gap per block), which the RTL
        # block edgemoe_attention takes cycle for cycle (params.edgemoe.attention_qk_cycles)
        # fill=False: every K row per query block, a beat per block of dims
        s = Stage("qk", {"q.k": (attention_qk_cycles(self.a, self.w.d_model, T) if self.fill else keys * nbh, 1)})
        s.move("inout3", "r", keys * nbh, self.bbits)  # K again for every query block
        s.move("inout2", "r", T * nbh, self.bbits)  # Q once
        s.move("inout1", "w", keys * lanes, heads_bits)  # scores, per key and lane
        s.move("inout4", "w", T, info_bits)  # (1/sum, max) per query
        return s

    def av(self) -> Stage:
        lanes, T = self.a.attention.lanes, self.T
        blocks, keys = self._attn_trips()
        nbh = self.nb(self.w.d_model)
        heads_bits = 2 ** math.ceil(math.log2(self.w.heads)) * self.aw
        info_bits = 2 ** math.ceil(math.log2(2 * self.w.heads)) * self.aw
        # A x V: V streamed per query block, the last block's outputs and the pipeline depth
        # (params.edgemoe.attention_av_cycles; with attention_qk_cycles, the unit's attention_cycles)
        s = Stage("av", {"p.v": (attention_av_cycles(self.a, self.w.d_model, T) if self.fill else keys * nbh, 1)})
        s.move("inout2", "r", keys * nbh, self.bbits)  # V again for every query block
        s.move("inout1", "r", keys * lanes, heads_bits)
        s.move("inout4", "r", T, info_bits)
        s.move("inout1", "w", T * nbh, self.bbits)
        return s

    def gate(self) -> Stage:
        g, E, T = self.a.gate, self.w.experts, self.T
        per_patch = self.nb(self.w.d_model, g.dims) + GATE_SOFTMAX_II * E  # scores, then softmax; top-k beside it
        s = Stage("gate", {"scores+softmax": (T * per_patch, 1)})
        return s.move("inout1", "r", T * self.nb(self.w.d_model, g.dims), g.dims * self.aw)

    def load_gate(self) -> Stage:
        g, E = self.a.gate, self.w.experts
        n = E * self.nb(self.w.d_model, g.dims)
        return Stage("load_gate", {"w_gate": (n, 1)}).move("weights", "r", n, g.dims * self.p.numerics.weight_fmt.width)

    def zero(self) -> Stage:
        n = self.T * self.nb(self.w.d_model, self.a.layernorm.elements)
        return Stage("zero", {"zero": (n, 1)}).move("inout3", "w", n, self.bbits)

    def patch_embed(self) -> Stage:
        w, P = self.w, self.w.patch
        ppb = max(1, (self.bbits // PIXEL_BITS) // P)  # patches per image beat
        rows = w.height // P
        across = cdiv(w.width // P, ppb)
        acc = w.channels * P * across * self.nb(w.d_model)  # per row of patches, II = 1
        out = (w.width // P) * self.nb(w.d_model)
        # rows of patches in dataflow: accumulate of row r+1 beside the output of row r
        s = Stage("patch_embed", {"accumulate": (rows * acc, 1)})
        s.serial = out + self.nb(w.d_model)  # the last row's output, the class token
        s.move("inout1", "r", rows * w.channels * P * across, self.bbits)
        s.move("inout2", "w", rows * out + self.nb(w.d_model), self.bbits)
        s.move("weights", "r", rows * out + self.nb(w.d_model), self.bbits)  # pos_embed
        return s

    # -- routing ----------------------------------------------------------------------------
    def queues(self) -> list[int]:
        A, k = self.w.active_experts, self.w.top_k
        counts = [0] * A
        for t in range(self.T):
            for i in range(k):
                counts[(k * t + i) % A] += 1
        return counts


def _fmt_loops(s: Stage) -> str:
    return "; ".join(f"{name} {n}x{ii}" for name, (n, ii) in s.loops.items()) + (
        f"; serial {s.serial}" if s.serial else ""
    )


def derive(p: EdgeMoeParams, fill: bool = True) -> list[Row]:
    """Every stage of one image in order, with the cycles it adds (see the module docstring). ``fill=False``
    charges the linear and attention units their MAC trips only, one per cycle, without the first row or Q
    rows, the reciprocals' gaps, the drains and pipeline depths of the schedule their RTL runs: what that
    schedule adds is the difference."""
    m, a, w = _Model(p, fill), p.arch, p.workload
    D = w.d_model
    rows: list[Row] = []

    def put(layer: str, stage: Stage, beside: Stage | None = None):
        total, comp, mem = stage.cycles(a)
        load = beside.cycles(a)[0] if beside is not None else 0
        cyc = max(total, load) if a.weight_overlap else total + load
        both = [stage] + ([beside] if beside is not None else [])
        rows.append(
            Row(
                layer,
                stage.name,
                cyc,
                comp,
                mem,
                load,
                sum(x.bytes("r") for x in both),
                sum(x.bytes("w") for x in both),
                _fmt_loops(stage) + (f"; beside {beside.name}: {_fmt_loops(beside)}" if beside else ""),
            )
        )

    put("embed", m.patch_embed())
    for layer in range(w.layers):
        L = f"L{layer}"
        put(L, m.load_norms())
        put(L, m.layernorm("norm1"), m.load_linear("load q", D, D))
        put(L, m.linear("q", D, D, m.T, "inout1", "inout2"), m.load_linear("load k", D, D))
        put(L, m.linear("k", D, D, m.T, "inout1", "inout3"))
        put(L, m.qk(), m.load_linear("load v", D, D))
        put(L, m.linear("v", D, D, m.T, "inout1", "inout2"))
        put(L, m.av(), m.load_linear("load proj", D, D))
        put(L, m.linear("proj", D, D, m.T, "inout1", "inout3"))
        put(L, m.add("add1"))
        if not w.is_moe(layer):
            put(L, m.layernorm("norm2"), m.load_linear("load fc1", w.ffn, D))
            put(L, m.linear("fc1", w.ffn, D, m.T, "inout1", "inout4"), m.load_linear("load fc2", D, w.ffn))
            put(L, m.linear("fc2", D, w.ffn, m.T, "inout4", "inout3"))
        else:
            put(L, m.layernorm("norm2"), m.load_gate())
            put(L, m.gate())
            q = m.queues()
            put(L, m.zero(), m.load_linear("load expert fc1", w.expert_ffn, D))
            for j, n in enumerate(q):
                fc1 = m.linear(f"expert{j} fc1", w.expert_ffn, D, n, "inout1", "inout4")
                put(L, fc1, m.load_linear("load expert fc2", D, w.expert_ffn))
                nxt = m.load_linear("load expert fc1", w.expert_ffn, D) if j + 1 < len(q) else None
                put(L, m.linear(f"expert{j} fc2", D, w.expert_ffn, n, "inout4", "inout3", score=True), nxt)
        put(L, m.add("add2"))
    return rows


def stage_kind(name: str) -> str:
    """The stage kind a row is summed under (``expert3 fc1`` -> ``expert fc1``)."""
    if name.startswith("expert"):
        return "expert " + name.split(" ", 1)[1]
    return {
        "norm1": "layernorm",
        "norm2": "layernorm",
        "load_norms": "layernorm",
        "add1": "residual",
        "add2": "residual",
        "zero": "residual",
    }.get(name, name)


# -- resources ------------------------------------------------------------------------------------


def dsp_per_mult(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for an ``a x b``-bit signed product: the 27 x 18 multiplier tiled (UG579)."""
    return min(cdiv(a_bits, 27) * cdiv(b_bits, 18), cdiv(b_bits, 27) * cdiv(a_bits, 18))


_BRAM36 = [(512, 72), (1024, 36), (2048, 18), (4096, 9), (8192, 4), (16384, 2), (32768, 1)]
_BRAM18 = [(512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)]


def bram36(depth: int, width: int) -> float:
    """36-Kb block RAMs for a ``depth x width`` array: the best aspect ratio of BRAM36 or BRAM18 (0.5) (UG573);
    arrays under 1 Kb go to registers or LUT RAM (0)."""
    if depth * width < 1024:
        return 0.0
    best = min(cdiv(width, wd) * cdiv(depth, dp) for dp, wd in _BRAM36)
    half = min(cdiv(width, wd) * cdiv(depth, dp) for dp, wd in _BRAM18) / 2
    return min(best, half)


# How `attnkit synth --target xcup` (Yosys synth_xilinx -family xcup) places an RTL unit's memories, measured
# on single memories of the RTL's shapes (a write port, one synchronous read port; tables with two): a RAM of
# at most 64 words is LUT RAM (RAM32M16 up to 32, RAM64M8 up to 64; 64 x 512 takes 74 RAM64M8, 65 x 512 takes
# 15 RAMB18), a read-only table of at most 512 entries is LUT logic (177 x 22, GELU's, takes 176 LUT6 for its
# two read ports; 1024 x 22 one RAMB36), anything larger block RAM in the best aspect ratio (bram36).
LUTRAM_DEPTH = 64
ROM_LOGIC_DEPTH = 512


def rtl_bram36(depth: int, width: int, rom: bool = False) -> float:
    """36-Kb block RAMs for an RTL unit's ``depth x width`` memory (``rom``: a read-only table) as Yosys
    maps it for UltraScale+: 0 for LUT RAM or logic (:data:`LUTRAM_DEPTH`, :data:`ROM_LOGIC_DEPTH`), else
    :func:`bram36`."""
    return 0.0 if depth <= (ROM_LOGIC_DEPTH if rom else LUTRAM_DEPTH) else bram36(depth, width)


@dataclass(frozen=True)
class UnitEstimate:
    """One RTL unit's DSP slices by multiplier group and 36-Kb block RAMs by memory, under the fit check's
    keys (``dsp_by_unit``, ``bram36_by_buffer``)."""

    dsp: dict[str, int]
    bram36: dict[str, float]

    @property
    def dsps(self) -> int:
        return sum(self.dsp.values())

    @property
    def brams(self) -> float:
        return sum(self.bram36.values())


def linear_unit(a: FpgaArch, in_dim: int, out_dim: int, weights: int) -> UnitEstimate:
    """The unified linear unit as the RTL block ``edgemoe_linear`` builds it, its banks holding ``weights``
    weights and rows of ``in_dim``, ``out_dim`` outputs: ``in_size x out_size`` products of ``act_fmt`` by
    ``weight_fmt`` (2 DSP48E2 each for 32 x 16), ``gelu.units`` GELU lanes (one interpolation product each),
    and its memories (:func:`attnkit.params.edgemoe.linear_memories`: rows, weights and bias, each two banks
    in one memory) and GELU tables placed by :func:`rtl_bram36`. Synthesis on xcup gives these DSPs exactly
    and these block RAMs within a RAMB36 or so (docs/hardware/synthesis.md has the table)."""
    n, L, gl = a.numerics, a.linear, a.numerics.gelu
    sw = gl.table_fmt.width + (0 if gl.table_fmt.signed else 1)  # signed width a DSP sees
    mem = linear_memories(a, in_dim, out_dim, weights)
    return UnitEstimate(
        dsp={
            "linear": L.in_size * L.out_size * dsp_per_mult(n.act_fmt.width, n.weight_fmt.width),
            "gelu": a.gelu.units * dsp_per_mult(sw + 1, gl.act_fmt.frac_bits - gl.step_bits + 1),
        },
        bram36={
            "linear weights (ping + pong)": rtl_bram36(*mem["weights"]),
            "linear rows (two slots)": rtl_bram36(*mem["rows"]),
            "linear bias (two banks)": rtl_bram36(*mem["bias"]),
            "gelu tables": a.gelu.units * rtl_bram36(gl.table_size, gl.table_fmt.width, rom=True),
        },
    )


# An exp unit's table, 2^table_bits + 1 entries read at two addresses, as Yosys maps it for xcup (measured on
# single tables of 28-bit entries, two read ports): 1,025 entries are LUT logic (411 MUXF7; 1,024 take one
# RAMB36), 2,049 five RAMB18, 4,097 four RAMB36.
EXP_TABLE_LOGIC_DEPTH = 1025


def exp_table_bram36(ex) -> float:
    """36-Kb block RAMs of one exp unit's table (``ex`` an :class:`~attnkit.params.numerics.ExpParams`)."""
    return 0.0 if ex.table_entries <= EXP_TABLE_LOGIC_DEPTH else bram36(ex.table_entries, ex.table_fmt.width)


# How `attnkit synth --target xcup` (Yosys's mul2dsp for DSP48E2) tiles a signed a x b product: the wider
# operand on the 27-bit port, the narrower on the 18-bit one, ceil(wide / 27) x ceil(narrow / 18) tiles; a
# product by a constant power of two is a shift. Measured on the attention unit's products (per module of its
# synthesis): 32 x 32 and 32 x 24 take 4, 24 x 24 2, 31 x 19 and 32 x 26 4 (where dsp_per_mult's better
# orientation would take 2), a reciprocal seed's 14 bits x 31 2.
def rtl_dsps(a_bits: int, b_bits: int) -> int:
    """DSP48E2 slices for a signed ``a x b``-bit product of an RTL unit as Yosys tiles it for xcup."""
    return cdiv(max(a_bits, b_bits), 27) * cdiv(min(a_bits, b_bits), 18)


def _signed(fmt) -> int:
    """The width a DSP's signed port sees for a value of ``fmt`` (an unsigned one takes a sign bit)."""
    return fmt.width + (0 if fmt.signed else 1)


def softmax_lane_dsps(sm) -> dict[str, int]:
    """DSPs of one lane of the online softmax datapath as the RTL builds it (``attnkit.hw.softmax``'s helpers,
    ``hw/exp.py``, ``hw/recip.py``) for ``sm`` (a :class:`~attnkit.params.numerics.SoftmaxParams`): two exp
    units (each ``x * log2(e)`` and its table interpolation), the running sum's ``l * exp(m - m')``, the
    probability ``exp(s - m) * r``, and the reciprocal's Newton steps (two products each, the first on the
    seed's bits)."""
    ex, rc = sm.exp, sm.recip
    e_out, r_out = _signed(ex.out_fmt), _signed(rc.out_fmt)
    interp = rtl_dsps(ex.table_fmt.width + 3, ex.arg_fmt.frac_bits - ex.table_bits + 1)  # (t1 - t0) * r
    log2e = rtl_dsps(_signed(ex.in_fmt), _signed(ex.log2e_fmt))
    w, seed = _signed(rc.work_fmt), _signed(rc.seed_fmt)
    newton = sum(rtl_dsps(w, y) + rtl_dsps(y, rc.work_fmt.width + 3) for y in [seed] + [w] * (rc.iters - 1))
    return {
        "exp": 2 * (log2e + interp),
        "running sum": rtl_dsps(_signed(sm.sum_fmt), e_out),
        "probability": rtl_dsps(e_out, r_out),
        "reciprocal": newton if rc.iters else 0,
    }


def attention_unit(a: FpgaArch, heads: int, head_dim: int, tokens: int) -> UnitEstimate:
    """The reordered attention unit as the RTL block ``edgemoe_attention`` builds it for ``heads x head_dim``
    and calls of up to ``tokens`` tokens: one ``lanes x dims`` array of ``act_fmt`` products serving Q x K and
    then A x V (the passes run one after the other), per lane the scale (a shift where ``1/sqrt(head_dim)``
    is a power of two) and the softmax datapath (:func:`softmax_lane_dsps`); its memories
    (:func:`attnkit.params.edgemoe.attention_memories`) placed by :func:`rtl_bram36`, and per lane two exp
    tables and a reciprocal seed table (read-only)."""
    n, at = a.numerics, a.attention
    A = n.act_fmt.width
    scale = attention_scale_raw(n, head_dim)
    sm = n.softmax
    mem = attention_memories(a, heads * head_dim, heads, tokens)
    ex, rc = sm.exp, sm.recip
    return UnitEstimate(
        dsp={
            "attention q.k and p.v": at.lanes * at.dims * rtl_dsps(A, A),
            "attention scale": 0 if scale & (scale - 1) == 0 else at.lanes * rtl_dsps(A, scale.bit_length() + 1),
            "attention softmax": at.lanes * sum(softmax_lane_dsps(sm).values()),
        },
        bram36={
            "attention q rows": rtl_bram36(*mem["q"]),
            "attention scores": rtl_bram36(*mem["scores"]),
            "attention accumulators": rtl_bram36(*mem["acc"]),
            "attention exp tables": at.lanes * 2 * exp_table_bram36(ex),
            "attention reciprocal seeds": at.lanes * rtl_bram36(1 << rc.seed_bits, rc.seed_fmt.width, rom=True),
        },
    )


@dataclass(frozen=True)
class Unit:
    """An RTL unit the fit check counts by its estimate and by its synthesis: the block's parameter class and
    its :class:`UnitEstimate` at given block parameters."""

    params: type
    estimate: Callable[[Any], UnitEstimate]


# Edge-MoE's units that exist as RTL blocks (hw/blocks.py names), each with its estimate at that block's
# parameters, its DSP keys those of resources' dsp_by_unit. A unit here and in
# configs/synthesis/<arch.synthesis>.yaml has its LUTs and flip-flops from synthesis (the rest are estimated);
# tests/test_synth_edgemoe.py checks its synthesised DSPs and block RAMs against the estimate. Adding a unit
# is an entry here and its runs in the YAML.
UNITS: dict[str, Unit] = {
    "edgemoe_linear": Unit(RtlLinearParams, lambda p: linear_unit(p.arch, p.in_dim, p.out_dim, p.out_dim * p.in_dim)),
    "edgemoe_attention": Unit(
        RtlEdgeMoeAttentionParams, lambda p: attention_unit(p.arch, p.heads, p.head_dim, p.tokens)
    ),
}
DSP_TOLERANCE = BRAM_TOLERANCE = 0.15  # synthesis vs estimate, per unit (issue 25)


def unit_estimate(block: str, params: Any) -> UnitEstimate:
    """The estimate of RTL block ``block`` at its parameters ``params`` (what ``attnkit synth`` built)."""
    if block not in UNITS:
        raise AttnkitError(f"edgemoe: no resource estimate for block {block!r} (known: {', '.join(UNITS)})")
    return UNITS[block].estimate(params)


def _logic(a: FpgaArch, dsp: dict[str, int]) -> dict:
    """LUTs and flip-flops: each synthesised unit's from its fit run in ``configs/synthesis/<a.synthesis>``,
    scaled by the DSPs the unit takes here against there (1 at the size synthesised), and the remaining
    units' estimated at the synthesised units' LUTs and flip-flops per DSP."""
    if not a.synthesis:
        return {"luts": None, "ffs": None, "luts_by_unit": {}, "ffs_by_unit": {}, "logic_sources": {}}
    data, path = load_synthesis(a.synthesis)
    if data.target != "xcup":
        raise ConfigError(f"{path}: target: {data.target}; the edgemoe fit check reads xcup synthesis")
    luts: dict[str, int] = {}
    ffs: dict[str, int] = {}
    sources: dict[str, str] = {}
    taken = 0  # DSPs of the synthesised units here
    covered: set[str] = set()  # their keys in dsp
    for block, unit in data.units.items():
        if block not in UNITS:
            raise ConfigError(f"{path}: units.{block}: no such Edge-MoE unit (known: {', '.join(UNITS)})")
        spec, run = UNITS[block], unit.fit_run
        where = f"{path}: units.{block}.runs[{unit.fit_index}]"
        try:
            at_run = spec.estimate(load_block(spec.params, block, run.sets))
        except (ConfigError, ValueError) as e:
            raise ConfigError(f"{where}: sets: {e}") from None
        unknown = sorted(set(at_run.dsp) - set(dsp))
        if unknown:
            raise AttnkitError(
                f"edgemoe: unit {block}'s estimate counts DSPs under {unknown[0]!r}, not a fit-check key"
            )
        here = sum(dsp[k] for k in at_run.dsp)
        scale = here / at_run.dsps if at_run.dsps else 1.0
        luts[block], ffs[block] = round(run.luts * scale), round(run.ffs * scale)
        taken += here
        sources[block] = f"synthesised: {data.command(block, run)} ({data.tool}; {where})" + (
            "" if scale == 1 else f", scaled by its DSPs here / there = {here} / {at_run.dsps}"
        )
        covered |= set(at_run.dsp)
    rest = {k: v for k, v in dsp.items() if k not in covered}
    lut_rate, ff_rate = sum(luts.values()) / max(1, taken), sum(ffs.values()) / max(1, taken)
    other = "other units (estimated)"
    luts[other], ffs[other] = round(lut_rate * sum(rest.values())), round(ff_rate * sum(rest.values()))
    sources[other] = (
        f"estimated: {lut_rate:.1f} LUTs and {ff_rate:.1f} FFs per DSP (the synthesised units') x the "
        f"{sum(rest.values())} DSPs of {', '.join(rest)}"
    )
    return {
        "luts": sum(luts.values()),
        "ffs": sum(ffs.values()),
        "luts_by_unit": luts,
        "ffs_by_unit": ffs,
        "logic_sources": sources,
    }


def resources(p: EdgeMoeParams) -> dict:
    """DSP slices, 36-Kb block RAMs, LUTs and flip-flops of the design by unit, beside the part's; ``fits``."""
    a, w, n = p.arch, p.workload, p.numerics
    A, Wt = n.act_fmt.width, n.weight_fmt.width
    g, e = a.gate, a.layernorm.elements
    # the linear unit as the RTL builds it, for the largest layer: rows of the widest input, a bias per
    # output of the widest output, banks of the most weights of any layer
    dims = (w.d_model, w.ffn, w.expert_ffn)
    lin = linear_unit(a, max(dims), max(dims), w.d_model * max(dims))
    # the attention unit as the RTL builds it, for the model's heads and an image's tokens per call
    att = attention_unit(a, w.heads, w.d_model // w.heads, w.tokens)
    dsp = {
        "linear": lin.dsp["linear"],
        **att.dsp,
        "gate": g.experts * g.dims * dsp_per_mult(A, Wt),
        "layernorm": e * (2 * dsp_per_mult(A, A) + dsp_per_mult(A, A) + dsp_per_mult(A, n.norm_fmt.width)),
        "patch embed": a.attention.dims
        * max(1, (a.attention.dims * A // PIXEL_BITS) // w.patch)
        * w.patch
        * dsp_per_mult(PIXEL_BITS + 1, PATCH_WEIGHT_BITS),
        "gelu": lin.dsp["gelu"],
    }
    blk = a.attention.dims
    bbits = blk * A
    T = w.tokens
    ppb = max(1, (bbits // PIXEL_BITS) // w.patch)
    bram = {
        **{k: v for k, v in lin.bram36.items() if k != "gelu tables"},
        **att.bram36,
        "patch embed weights": bram36(w.d_model // blk * w.channels * w.patch, blk * w.patch * PATCH_WEIGHT_BITS),
        "patch rows (ping + pong)": 2 * bram36(cdiv(w.width // w.patch, ppb) * cdiv(w.d_model, blk), ppb * bbits),
        "gate weights": bram36(cdiv(w.d_model, g.dims), g.experts * g.dims * Wt),
        "expert queues and scores": 2 * w.experts * bram36(T, 32),
        "gelu tables": lin.bram36["gelu tables"],
        "layernorm weights": 4 * bram36(cdiv(w.d_model, e), e * n.norm_fmt.width),
    }
    d = load_device(a.device, "xcup")
    used_dsp, used_bram = sum(dsp.values()), math.ceil(sum(bram.values()))
    logic = _logic(a, dsp)
    fits = used_dsp <= d.dsps and used_bram <= d.brams
    if logic["luts"] is not None:
        fits = fits and logic["luts"] <= d.luts and logic["ffs"] <= d.ffs
    return {
        "part": d.part,
        "dsp": used_dsp,
        "dsp_available": d.dsps,
        "bram36": used_bram,
        "bram36_available": d.brams,
        "luts": logic["luts"],
        "ffs": logic["ffs"],
        "luts_available": d.luts,
        "ffs_available": d.ffs,
        "fits": fits,
        "dsp_by_unit": dsp,
        "bram36_by_buffer": {k: round(v, 1) for k, v in bram.items()},
        "luts_by_unit": logic["luts_by_unit"],
        "ffs_by_unit": logic["ffs_by_unit"],
        "logic_sources": logic["logic_sources"],
        "note": "DSP: unrolled multipliers x DSP48E2 tiles; BRAM: the RTL units' memories as Yosys maps them, the"
        " other units' on-chip arrays of the HLS code; LUT/FF: the synthesised units' (logic_sources), the other"
        " units' estimated per DSP",
    }


def check_fit(p: EdgeMoeParams) -> dict:
    """:func:`resources`, refusing a design that does not fit its part (one line with the numbers)."""
    r = resources(p)
    if not r["fits"]:
        over = []
        if r["dsp"] > r["dsp_available"]:
            top = max(r["dsp_by_unit"], key=r["dsp_by_unit"].get)
            over.append(f"DSP {r['dsp']} > {r['dsp_available']} (largest: {top} {r['dsp_by_unit'][top]})")
        if r["bram36"] > r["bram36_available"]:
            top = max(r["bram36_by_buffer"], key=r["bram36_by_buffer"].get)
            over.append(
                f"BRAM36 {r['bram36']} > {r['bram36_available']} (largest: {top} {r['bram36_by_buffer'][top]:g})"
            )
        for key, label in (("luts", "LUTs"), ("ffs", "FFs")):
            if r[key] is not None and r[key] > r[f"{key}_available"]:
                by = r[f"{key}_by_unit"]
                top = max(by, key=by.get)
                over.append(f"{label} {r[key]} > {r[f'{key}_available']} (largest: {top} {by[top]})")
        raise AttnkitError(f"edgemoe: the design does not fit the {r['part']}: " + "; ".join(over))
    return r


# -- the engine -----------------------------------------------------------------------------------


def params_of(arch: FpgaArch, workload: VitMoeWorkload) -> EdgeMoeParams:
    return EdgeMoeParams.of(arch, workload)


def simulate(arch: FpgaArch, workload: VitMoeWorkload, table: EnergyTable, mode: str = "closed") -> Result:
    """One batch of images (one after another, as ViT_compute's image loop runs them); both modes
    give the same count (the schedule is static)."""
    if mode not in ("closed", "event"):
        raise AttnkitError(f"edgemoe: mode {mode!r}; expected closed or event")
    p = params_of(arch, workload)
    fit = check_fit(p)
    rows = derive(p)
    per_image = sum(r.cycles for r in rows)
    images = workload.batch
    cycles = per_image * images
    dram_bytes = images * sum(r.dram_bytes for r in rows)
    stages: dict[str, int] = {}
    layers: dict[str, int] = {}
    for r in rows:
        stages[stage_kind(r.stage)] = stages.get(stage_kind(r.stage), 0) + r.cycles
        layers[r.layer] = layers.get(r.layer, 0) + r.cycles
    m, w = _Model(p), workload
    linear_macs = 0  # useful MACs (the unit's padding of a partial block not counted)
    for layer in range(w.layers):
        linear_macs += 4 * m.T * w.d_model * w.d_model
        linear_macs += (
            (2 * w.top_k * m.T * w.d_model * w.expert_ffn) if w.is_moe(layer) else 2 * m.T * w.d_model * w.ffn
        )
    attn_macs = w.layers * 2 * m.T * m.T * w.d_model
    bits = table.components["dram"].actions["read"].bits if "dram" in table.components else 64
    actions = {
        "dram.read": images * 8 * sum(r.read_bytes for r in rows) / bits,
        "dram.write": images * 8 * sum(r.write_bytes for r in rows) / bits,
    }
    energy, breakdown = table.energy(actions)
    actions.update({"linear.mac": float(images * linear_macs), "attention.mac": float(images * attn_macs)})
    return Result(
        engine="edgemoe",
        cycles=cycles,
        clock_hz=arch.clock_hz,
        energy_pj=energy,
        area_mm2=0.0,
        util_2d=images * linear_macs / (arch.linear.macs * cycles),
        util_1d=images * attn_macs / (arch.attention.lanes * arch.attention.dims * cycles),
        dram_bytes=float(dram_bytes),
        energy_breakdown=breakdown,
        area_breakdown={},
        actions=actions,
        extra={
            "cycles_per_image": per_image,
            "images": images,
            "fps": arch.clock_hz / per_image,
            "active_experts": w.active_experts,
            "axi_bits": arch.axi.bits,
            "weight_overlap": arch.weight_overlap,
            "stages": stages,
            "layers": layers,
            "resources": fit,
            "energy_note": "DRAM traffic only (compute energy has no FPGA source); area 0 (an FPGA's area is its part)",
            "rows": [r.to_dict(arch.clock_hz) for r in rows],
        },
    )


ENGINES = {"edgemoe": Engine(simulate, arch=(FpgaArch.kind,), workload=(VitMoeWorkload.kind,))}
