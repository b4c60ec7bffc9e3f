"""Parameters of the RTL merge block (pure Python: the golden model, testbench and RTL read them).

:class:`MergeParams` holds the partial formats (``numerics.partial_fmt``,
``numerics.partial_l_fmt``, the exponent range of ``numerics.logit_fmt``)
and the head dim ``head_dim`` (elements of ``O``). Loaded from
``configs/blocks/merge.yaml``; the merge itself is
:func:`attnkit.models.merge.merge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from attnkit.params.config import within
from attnkit.params.numerics import AttentionNumerics


@dataclass(frozen=True)
class MergeParams:
    head_dim: int = 8
    numerics: AttentionNumerics = field(default_factory=AttentionNumerics)

    def __post_init__(self) -> None:
        within("head_dim", self.head_dim, 1, 256, note="elements of O")

    @property
    def o_width(self) -> int:
        return self.numerics.partial_fmt.width

    @property
    def l_width(self) -> int:
        return self.numerics.partial_l_fmt.width

    @property
    def m_width(self) -> int:
        """A signed exponent holding ``e_min .. e_max`` (floor of a ``logit_fmt`` value) with a bit to spare."""
        return self.numerics.logit_fmt.int_bits + 1

    @property
    def partial_width(self) -> int:
        return self.head_dim * self.o_width + self.l_width + self.m_width
