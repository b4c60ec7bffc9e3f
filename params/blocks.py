"""Every RTL block's parameters come from ``configs/blocks/<name>.yaml``, loaded here.

A block file is the plain data of the block's parameter dataclass. A block
sized by a machine and a problem names them (``arch: rtl-attention-4x4``,
``workload: rtl-attention``: configs on the search path, see
:func:`attnkit.params.config.referenced`), so their numbers live once.
``--set`` keys are the dataclass's fields (``numerics.acc_frac_bits=16``,
``workload.seq_len=13``); a key that is not a field of a block with an
``arch`` edits the arch (``array_2d.rows=2``), as ``attnkit simulate`` takes
arch keys without a prefix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

from attnkit.params import config

T = TypeVar("T")
FOLDER = "blocks"


def block_sets(cls: type, sets: Iterable[str]) -> list[str]:
    """``sets`` with the keys that are not fields of ``cls`` moved under ``arch.`` when ``cls`` has one."""
    fields = {f.name for f in dataclasses.fields(cls)}
    if "arch" not in fields:
        return list(sets)
    return [s if s.partition("=")[0].split(".")[0] in fields else f"arch.{s}" for s in sets]


def load(cls: type[T], name: str, sets: Iterable[str] = (), path: str | Path | None = None) -> T:
    """Block ``name``'s parameters from ``path`` or ``configs/blocks/<name>.yaml``, with ``sets`` applied."""
    return config.load(cls, config.resolve(path or name, FOLDER), block_sets(cls, sets))
