"""Attention as Einsum cascades: what each Einsum costs on the array it is bound to.

Two cascades (ANCHORS.md, FuseMax):

* ``ONE_PASS``: FuseMax's 1-pass cascade over key tiles m1 (M = M1 x M0):
  QK, LM, SLN, SLD, SLNV are per element (m, p); RM, PRM, SPD, SPNV, RD,
  RNV are per (key tile, query); AV is per query.
* ``THREE_PASS``: the numerically stable softmax of FLAT and the unfused
  baseline: QK; max; exp and sum; divide; AV, all per element.

An :class:`Einsum` lists its actions per *unit* of work (``per``:
``element``, ``tile_query`` or ``query``) as functions of the head
dimensions E, F and of the PE that runs it: ``exp`` is one pipelined
exp-unit op (with the adder forming x - m in the same cycle) where the array
has an exp unit, else 1 add + ``exp_taylor_macs`` MACs (a Taylor series).
``cycles`` is how many issue slots of one PE the unit takes; every unit is
fully pipelined (one op per PE per cycle), as in the FuseMax artifact.
A *binding* says which array runs each Einsum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Which Einsums of the 1-pass cascade each binding puts on the 2D array (the rest go to the 1D array).
BINDINGS: dict[str, frozenset[str]] = {
    "fusemax": frozenset({"QK", "LM", "SLN", "SLD", "SLNV"}),  # FuseMax: all per-element work on 2D
    "flat": frozenset({"QK", "SLNV"}),  # only the matmuls on 2D (FLAT's PE: MAC only)
}


@dataclass(frozen=True)
class Einsum:
    name: str
    per: str  # element | tile_query | query
    kind: str  # mac_e, mac_f, max, add, add_f, mac1, exp, div_f (see actions())
    after: tuple[str, ...] = ()  # Einsums whose results it needs within a key tile

    def actions(self, E: int, F: int, has_exp: bool, taylor_macs: int) -> dict[str, int]:
        """Actions (energy-table names) of one unit of work."""
        if self.kind == "exp":
            return {"adder.add": 1, "exp.exp": 1} if has_exp else {"adder.add": 1, "mac.mac": taylor_macs}
        return dict(_SIMPLE[self.kind](E, F))

    def cycles(self, E: int, F: int, has_exp: bool, taylor_macs: int) -> int:
        """PE issue slots of one unit (an exp unit fuses the subtraction: one slot)."""
        if self.kind == "exp":
            return 1 if has_exp else 1 + taylor_macs
        return sum(self.actions(E, F, has_exp, taylor_macs).values())


_SIMPLE: dict[str, Callable[[int, int], dict[str, int]]] = {
    "mac_e": lambda E, F: {"mac.mac": E},
    "mac_f": lambda E, F: {"mac.mac": F},
    "mac1": lambda E, F: {"mac.mac": 1},
    "max": lambda E, F: {"max.max": 1},
    "add": lambda E, F: {"adder.add": 1},
    "add_f": lambda E, F: {"adder.add": F},
    "div": lambda E, F: {"divider.div": 1},
    "div_f": lambda E, F: {"divider.div": F},
}

ONE_PASS: tuple[Einsum, ...] = (
    Einsum("QK", "element", "mac_e"),
    Einsum("LM", "element", "max", ("QK",)),
    Einsum("RM", "tile_query", "max", ("LM",)),
    Einsum("SLN", "element", "exp", ("RM",)),
    Einsum("PRM", "tile_query", "exp", ("RM",)),
    Einsum("SPD", "tile_query", "mac1", ("PRM",)),
    Einsum("SLD", "element", "add", ("SLN",)),
    Einsum("RD", "tile_query", "add", ("SPD", "SLD")),
    Einsum("SLNV", "element", "mac_f", ("SLN",)),
    Einsum("SPNV", "tile_query", "mac_f", ("PRM",)),
    Einsum("RNV", "tile_query", "add_f", ("SPNV", "SLNV")),
    Einsum("AV", "query", "div_f", ("RD", "RNV")),
)

# FLAT's passes over each score row: QK (+ running max), exp and sum, divide (+ AV).
THREE_PASS: tuple[Einsum, ...] = (
    Einsum("QK", "element", "mac_e"),
    Einsum("M", "element", "max", ("QK",)),
    Einsum("SN", "element", "exp", ("M",)),
    Einsum("SD", "element", "add", ("SN",)),
    Einsum("A", "element", "div", ("SN", "SD")),
    Einsum("AV", "element", "mac_f", ("A",)),
)
THREE_PASS_2D = frozenset({"QK", "AV"})
THREE_PASS_PASSES = (("QK", "M"), ("SN", "SD"), ("A", "AV"))  # what runs in each pass over a row block


def by_name(cascade: tuple[Einsum, ...]) -> dict[str, Einsum]:
    return {e.name: e for e in cascade}


def stall_between(cascade: tuple[Einsum, ...], on_2d: frozenset[str]) -> list[str]:
    """1D Einsums that a 2D Einsum of the same key tile waits for (after the tile's first 2D Einsum).

    With the FuseMax binding this is RM: SLN on the 2D array needs the
    running max that the 1D array computes from LM.
    """
    named = by_name(cascade)
    needed: set[str] = set()

    def walk(name: str) -> None:
        for dep in named[name].after:
            if dep in on_2d:
                continue
            if dep not in needed:
                needed.add(dep)
                walk(dep)

    for e in cascade:
        if e.name in on_2d:
            walk(e.name)

    # Only 1D Einsums that themselves depend on 2D work of the same tile make the 2D wait.
    def depends_on_2d(name: str, seen=None) -> bool:
        seen = seen or set()
        for dep in named[name].after:
            if dep in on_2d:
                return True
            if dep not in seen:
                seen.add(dep)
                if depends_on_2d(dep, seen):
                    return True
        return False

    return [n for n in (e.name for e in cascade) if n in needed and named[n].per != "query" and depends_on_2d(n)]
