"""A serving system and a request to it: ``configs/systems/<name>.yaml`` and ``kind: request`` workloads.

:class:`SystemArch` (arch kind ``system``) names what runs each phase of a
request and what holds the model: the prefill :class:`Stage` and the decode
stage (an engine and its arch: a spatial design, FuseMax's decode cores or a
calibrated GPU, given by name or inline), the memory of one chip, the chip
count with the tensor- and pipeline-parallel degrees, and the links between
chips. :class:`RequestWorkload` (workload kind ``request``) is the request:
a model (:class:`~attnkit.params.model.LlmModel`, by name from
``configs/models/`` or a path to a ``config.json``), a prompt of ``prompt``
tokens, ``generate`` tokens out, ``batch`` sequences. :mod:`attnkit.sim.request`
costs one on the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from attnkit.params.arch import GpuArch, MulticoreArch, SpatialArch
from attnkit.params.config import FieldError, at_least, load_named_fields, positive, required
from attnkit.params.model import LlmModel


@dataclass(frozen=True)
class Stage:
    """What runs one phase: ``engine`` on ``arch`` (attention), and the weight GEMMs on ``gemm_engine``.

    On a GPU the GEMMs, the norms and prefill attention are a roofline of the
    data sheet's FLOP/s and the calibrated achievable HBM (no engine runs
    them); ``gemm_engine`` is then not used.
    """

    engine: str = required("fusemax")
    arch: SpatialArch | MulticoreArch | GpuArch = required("fusemax")  # a name in arch/, or a mapping with kind
    gemm_engine: str = "gemm"

    def __post_init__(self) -> None:
        load_named_fields(self)


@dataclass(frozen=True)
class Memory:
    """One chip's memory: ``capacity_bytes`` holds weights and KV cache; ``bandwidth_bytes_per_s`` (0: the
    stage archs' own DRAM bandwidth) replaces each stage arch's when given, so one key sweeps it."""

    capacity_bytes: float = required(80e9)
    bandwidth_bytes_per_s: float = 0.0

    def __post_init__(self) -> None:
        positive(self, "capacity_bytes")
        at_least(self, 0, "bandwidth_bytes_per_s")


@dataclass(frozen=True)
class Interconnect:
    """Chip-to-chip links: each chip's bandwidth into the ring and one transfer's latency."""

    link_bandwidth_bytes_per_s: float = 450e9
    link_latency_s: float = 2e-6

    def __post_init__(self) -> None:
        positive(self, "link_bandwidth_bytes_per_s")
        at_least(self, 0, "link_latency_s")


@dataclass(frozen=True)
class SystemArch:
    """``chips`` chips, each with ``memory``, running prefill on ``prefill`` and decode on ``decode``.

    ``tensor_parallel`` x ``pipeline_parallel`` must equal ``chips`` (0: all
    chips tensor-parallel). Weights and activations are ``word_bits`` wide,
    the KV cache ``kv_bits``.
    """

    CONFIG_FOLDER: ClassVar[str] = "systems"  # a config may name one of these: systems/<name>.yaml
    name: str = "system"
    kind: Literal["system"] = "system"
    engine: str = "request"
    energy: str = "fusemax-45nm"  # not read: each stage prices with its own arch's table
    prefill: Stage = field(default_factory=Stage)
    decode: Stage = field(default_factory=Stage)
    memory: Memory = field(default_factory=Memory)
    chips: int = 1
    tensor_parallel: int = 0
    pipeline_parallel: int = 1
    interconnect: Interconnect = field(default_factory=Interconnect)
    word_bits: int = 16
    kv_bits: int = 16

    def __post_init__(self) -> None:
        positive(self, "chips", "pipeline_parallel", "word_bits", "kv_bits")
        at_least(self, 0, "tensor_parallel")
        if self.tp * self.pipeline_parallel != self.chips:
            raise FieldError(
                "tensor_parallel",
                f"{self.tp} x pipeline_parallel {self.pipeline_parallel} is not chips = {self.chips}",
            )

    @property
    def tp(self) -> int:
        """The tensor-parallel degree (``tensor_parallel``, or every chip the pipeline leaves)."""
        return self.tensor_parallel or self.chips // self.pipeline_parallel


@dataclass(frozen=True)
class RequestWorkload:
    """``batch`` sequences of ``prompt`` tokens, each generating ``generate`` tokens, on ``model``."""

    CONFIG_FOLDER: ClassVar[str] = "workloads"  # a config may name one of these: workloads/<name>.yaml
    name: str = "request"
    kind: Literal["request"] = "request"
    model: LlmModel = required("llama3-8b")
    prompt: int = required(1024)
    generate: int = required(256)
    batch: int = required(1)
    decode_samples: int = 0  # decode steps simulated (0: every step); the others interpolated in context

    def __post_init__(self) -> None:
        load_named_fields(self)
        positive(self, "prompt", "generate", "batch")
        at_least(self, 0, "decode_samples")
        if self.decode_samples == 1:
            raise FieldError("decode_samples", "1; give 0 (every step) or at least 2 (the first and last)")
