"""Engine results remembered within a process, keyed by what the engine reads.

A reproduction or a request meets the same engine call more than once: FLAT's
attention alone and again inside its end-to-end layer, the same layer GEMM on
FLAT's and the unfused design's arrays (one hardware, two names), the same
prefill in requests that differ only in what follows it. :func:`remembered`
wraps an engine function so such a call is computed once.

The key is every field of the architecture but its ``name`` and ``engine``
(which the engines wrapped here read only to name it in an error), the
workload, the mode and the energy table object; fields are compared by their
``repr``, so ``1`` and ``1.0`` or ``True`` stay apart. The entry holds the
table, so its ``id`` cannot be reused by another table while the entry lives.
A result is handed out as a copy, so a caller's edits stay its own. Errors are
not remembered (the call raises again).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

from attnkit.sim.result import Result

SIZE = 1024  # entries per engine (a sweep of many points stays small); past it the memo starts again

EngineCall = Callable[..., Result]


def remembered(fn: EngineCall) -> EngineCall:
    """``fn(arch, workload, table, mode="closed")``, remembered (see the module docstring)."""
    memo: dict[tuple, tuple[Any, Result]] = {}

    @functools.wraps(fn)
    def run(arch: Any, workload: Any, table: Any, mode: str = "closed") -> Result:
        key = (type(arch), key_of(arch), type(workload), repr(workload), id(table), mode)
        hit = memo.get(key)
        if hit is None or hit[0] is not table:
            if len(memo) >= SIZE:
                memo.clear()
            hit = memo[key] = (table, fn(arch, workload, table, mode))
        return _copied(hit[1])

    run.memo = memo  # type: ignore[attr-defined]
    return run


def _copied(r: Result) -> Result:
    """A copy of ``r`` whose dicts and lists (at any depth) are new: what deepcopy gives a Result, faster."""
    out = copy.copy(r)
    for f in dataclasses.fields(r):
        setattr(out, f.name, _copy(getattr(r, f.name)))
    return out


def _copy(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _copy(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_copy(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_copy(v) for v in x)
    return x  # numbers, strings, None: immutable


def key_of(arch: Any) -> str:
    """The architecture as the engines wrapped here read it: every field but ``name`` and ``engine``."""
    return repr([getattr(arch, f.name) for f in dataclasses.fields(arch) if f.name not in ("name", "engine")])
