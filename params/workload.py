"""Workload parameters, loaded from configs/workloads/*.yaml (``kind`` picks the class).

Names follow the README (Layout, and each command's section): ``batch``, ``heads``, ``kv_heads``, ``head_dim``,
``seq_len`` (prefill: queries = keys), ``context`` (decode: KV length),
``d_model``, ``ffn``; a GEMM is C[m x n] = A[m x k] B[k x n].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from attnkit.params.config import FieldError, at_least, required


@dataclass(frozen=True)
class GemmWorkload:
    CONFIG_FOLDER: ClassVar[str] = "workloads"  # a config may name one of these: workloads/<name>.yaml
    name: str = "gemm"
    kind: Literal["gemm"] = "gemm"
    m: int = required(256)
    n: int = required(256)
    k: int = required(256)

    def __post_init__(self) -> None:
        at_least(self, 1, "m", "n", "k")


@dataclass(frozen=True)
class AttentionWorkload:
    """Multi-head attention (and, for end-to-end runs, its transformer layer)."""

    CONFIG_FOLDER: ClassVar[str] = "workloads"  # a config may name one of these: workloads/<name>.yaml
    name: str = "bert"
    kind: Literal["attention"] = "attention"
    batch: int = required(64)
    heads: int = required(12)
    kv_heads: int = 0  # 0: same as heads (multi-head); fewer: grouped-query
    head_dim: int = required(64)
    seq_len: int = required(1024)  # prefill: queries = keys
    context: int = 0  # decode: KV-cache length (one query per sequence); 0 for prefill
    d_model: int = 768
    ffn: int = 3072
    causal: bool = False

    def __post_init__(self) -> None:
        at_least(self, 1, "batch", "heads", "head_dim", "seq_len", "d_model", "ffn")
        at_least(self, 0, "kv_heads", "context")
        if self.kv_heads and self.heads % self.kv_heads:
            raise FieldError("kv_heads", f"{self.kv_heads} does not divide heads = {self.heads}")

    @property
    def groups(self) -> int:
        """KV heads actually used."""
        return self.kv_heads or self.heads


@dataclass(frozen=True)
class DecodeWorkload:
    """Decode-phase attention: one new query per sequence and head against a KV cache of ``context`` keys.

    ``kv_heads`` (0: = ``heads``) is the number of K/V heads; each serves
    ``heads / kv_heads`` query heads (grouped-query attention).
    """

    CONFIG_FOLDER: ClassVar[str] = "workloads"  # a config may name one of these: workloads/<name>.yaml
    name: str = "decode"
    kind: Literal["decode"] = "decode"
    batch: int = required(1)
    heads: int = required(32)
    kv_heads: int = 0
    head_dim: int = required(128)
    context: int = required(65536)

    def __post_init__(self) -> None:
        at_least(self, 1, "batch", "heads", "head_dim", "context")
        at_least(self, 0, "kv_heads")
        if self.kv_heads and self.heads % self.kv_heads:
            raise FieldError("kv_heads", f"{self.kv_heads} does not divide heads = {self.heads}")

    @property
    def groups(self) -> int:
        """KV heads actually used."""
        return self.kv_heads or self.heads
