"""Parameters of the RTL merge block (pure Python: the golden model, testbench and RTL read them).

:class:`MergeParams` holds the partial formats (``numerics.partial_fmt``,
``numerics.partial_l_fmt``, the exponent range of ``numerics.logit_fmt``)
and the head dim ``head_dim`` (elements of ``O``). Loaded from
``configs/blocks/merge.yaml``; the merge itself is
:func:`attnkit.models.merge.merge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from attnkit.config import FieldError
from attnkit.models.attention import AttentionNumerics


@dataclass(frozen=True)
class MergeParams:
    head_dim: int = 8
    numerics: AttentionNumerics = field(default_factory=AttentionNumerics)

    def __post_init__(self):
        if not 1 <= self.head_dim <= 256:
            raise FieldError("head_dim", f"{self.head_dim}; expected 1 to 256 elements of O")

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


def with_defaults(data, defaults):
    """``data`` (plain YAML data) over ``defaults`` (plain data of the dataclass's defaults), key by key, so
    that ``--set numerics.partial_fmt.rounding=...`` edits one field of a format the file does not list."""
    if not isinstance(data, dict) or not isinstance(defaults, dict):
        return data
    out = dict(defaults)
    for k, v in data.items():
        out[k] = with_defaults(v, defaults.get(k)) if k in defaults else v
    return out


def load(cls, path, sets=()):
    """Load ``cls`` from the YAML file ``path`` (defaults filled in) with ``--set`` edits."""
    from attnkit import config
    from attnkit.errors import ConfigError

    data = config.load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    data = with_defaults(data, config.to_data(cls()))
    sets = list(sets)
    source = str(path) + (" with --set" if sets else "")
    return config.build(cls, config.apply_sets(data, sets, cls) if sets else data, source)
