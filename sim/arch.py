"""Architecture parameters: one frozen dataclass per kind of machine, loaded from configs/arch/*.yaml.

Every level reads these objects: the simulator's engines, and the RTL
engines sized from the same file. Keys follow DESIGN.md (``clock_hz``,
``array_2d.rows``, ``global_buffer.bytes``, ``dram.bandwidth_bytes_per_s``...).
Add a field with a default rather than a second place to set a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from attnkit.config import FieldError, required


def _positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise FieldError(name, f"{value!r}; it must be positive")


@dataclass(frozen=True)
class Array2D:
    """An R x C PE array. ``dataflow``: output-, weight- or input-stationary."""

    rows: int = required(256)
    cols: int = required(256)
    dataflow: Literal["os", "ws", "is"] = "os"
    ops: tuple[str, ...] = ("mac",)       # what one PE can do; each has an energy-table entry
    regfile_entries: int = 0              # per-PE register file (words)
    tile_depth: int = 0                   # streamed words per row/column staged per buffer half (0: as many as fit)
    fold_overlap: bool = False            # a fold's operands enter while the previous fold drains (accumulators
                                          # double-buffered in the PE), so a GEMM pays the fill once, not per fold
    operand_registers: bool = False       # each MAC operand is latched in a PE register (1 write + 1 read per use),
                                          # as in FLAT's 3-register PE; False: operands come off the network

    def __post_init__(self):
        _positive(self, "rows", "cols")
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

    def __post_init__(self):
        if self.pes < 0:
            raise FieldError("pes", f"{self.pes}; it must be 0 or more")


@dataclass(frozen=True)
class Buffer:
    """On-chip global buffer. One read or write action moves ``row_bits``."""

    bytes: int = required(16 * 2**20)
    banks: int = 32
    row_bits: int = 4096

    def __post_init__(self):
        _positive(self, "bytes", "banks", "row_bits")


@dataclass(frozen=True)
class Dram:
    bandwidth_bytes_per_s: float = required(400 * 2**30)
    access_bits: int = 64                 # one DRAM read/write action moves this many bits

    def __post_init__(self):
        _positive(self, "bandwidth_bytes_per_s", "access_bits")


@dataclass(frozen=True)
class SpatialArch:
    """A spatial accelerator: 2D array, optional 1D array, global buffer, DRAM."""

    name: str = "systolic"
    kind: Literal["spatial"] = "spatial"
    engine: str = "gemm"                  # the engine `attnkit simulate` runs when --engine is not given
    energy: str = "fusemax-45nm"          # energy table: configs/energy/<energy>.yaml
    clock_hz: float = required(940e6)
    word_bits: int = 16
    array_2d: Array2D = field(default_factory=Array2D)
    array_1d: Array1D = field(default_factory=Array1D)
    global_buffer: Buffer = field(default_factory=Buffer)
    dram: Dram = field(default_factory=Dram)
    exp_taylor_macs: int = 6              # exp(x - m) on a PE with no exp unit: 1 add + this many MACs (Taylor series)

    def __post_init__(self):
        _positive(self, "clock_hz", "word_bits", "exp_taylor_macs")
        # A double-buffered array tile must fit the global buffer (depth 1 at least).
        a = self.array_2d
        depth = max(a.tile_depth, 1)
        need = 2 * a.tile_words(depth) * self.word_bits // 8
        if need > self.global_buffer.bytes:
            key = "array_2d.tile_depth" if a.tile_depth else "global_buffer.bytes"
            raise FieldError(key, f"a double-buffered {a.rows} x {depth} + {depth} x {a.cols} + {a.rows} x {a.cols}"
                             f" tile of {self.word_bits}-bit words needs {need} bytes, more than"
                             f" global_buffer.bytes = {self.global_buffer.bytes}")

    @property
    def word_bytes(self) -> float:
        return self.word_bits / 8

    @property
    def dram_words_per_cycle(self) -> float:
        return self.dram.bandwidth_bytes_per_s / self.clock_hz / self.word_bytes


from attnkit.models.edgemoe import FpgaArch  # noqa: E402  (Edge-MoE: kind fpga)

ARCH_KINDS = {"spatial": SpatialArch, "fpga": FpgaArch}
