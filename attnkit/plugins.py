"""Engines, RTL blocks and figure families from other installed packages (entry points).

A package extends attnkit by declaring entry points in one of three groups;
each entry point names a module (or any object) that offers what a built-in
module of that kind offers, so plugins are found the same way as the
built-in ones:

===================  ========================================================  ============================
group                the object provides                                       built-in counterpart
===================  ========================================================  ============================
``attnkit.engines``  ``ENGINES = {name: Engine(fn, arch=..., workload=...)}``  ``attnkit/sim/engines/*.py``
``attnkit.blocks``   ``BLOCKS = {name: factory() -> hw.blocks.Block}``         ``hw/blocks.py``
``attnkit.figures``  ``TITLE``, ``ORDER``, ``figures(tables)``                 ``reports/fig_*.py``
===================  ========================================================  ============================

(an ``Engine`` names the arch and workload kinds ``fn`` takes; a bare ``fn`` takes any kind).

In a plugin's ``pyproject.toml``::

    [project.entry-points."attnkit.engines"]
    myengine = "my_package.engine"       # a module defining ENGINES

A name defined twice (by two plugins, or by a plugin and attnkit) is an
error that names both definers.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from attnkit.errors import AttnkitError

GROUPS = ("attnkit.engines", "attnkit.blocks", "attnkit.figures")


def load(group: str) -> list[tuple[str, str, Any]]:
    """``(entry point name, description, object)`` for each entry point of ``group``, loaded; a plugin
    that fails to import is one line naming it."""
    out = []
    for ep in sorted(entry_points(group=group), key=lambda e: (e.dist.name if e.dist else "", e.name)):
        who = f"plugin {ep.dist.name if ep.dist else '?'} (entry point {group}: {ep.name} = {ep.value})"
        try:
            out.append((ep.name, who, ep.load()))
        except Exception as e:  # a broken plugin must not take down every command with a traceback
            raise AttnkitError(f"{who} failed to load: {type(e).__name__}: {e}") from None
    return out


def merge(kind: str, found: dict[str, Any], origin: dict[str, str], name: str, value: Any, who: str) -> None:
    """Add ``name`` to a registry, refusing a second definition with one line naming both definers."""
    if name in found:
        raise AttnkitError(f"{kind} {name!r} is defined twice: by {origin[name]} and by {who}")
    found[name] = value
    origin[name] = who


def collect(kind: str, group: str, attribute: str, builtin: list[tuple[str, Any]]) -> dict[str, Callable]:
    """A registry by name from built-in modules and plugins, each offering ``attribute`` = {name: value}."""
    found: dict[str, Any] = {}
    origin: dict[str, str] = {}
    plugged = [(who, module, True) for _, who, module in load(group)]
    for who, module, is_plugin in [*((w, m, False) for w, m in builtin), *plugged]:
        table = getattr(module, attribute, None)
        if not isinstance(table, dict):
            if is_plugin:
                raise AttnkitError(f"{who}: expected {attribute} = {{name: ...}}, found {type(table).__name__}")
            continue
        for name, value in table.items():
            merge(kind, found, origin, name, value, who)
    return found
