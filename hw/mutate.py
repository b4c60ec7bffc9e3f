"""Deliberate faults in a built block, made by wrapping it, never by copying its design.

:class:`Stuck` puts a component inside a wrapper with the same signature and
ties one port (by its dotted path, ``o.valid`` or ``acc_valid``) to a
constant, as a stuck-at fault would. The testbenches run on the wrapper
unchanged, so a test can prove they notice: that a DUT which stops producing
outputs fails within the watchdog instead of hanging, for example.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In


def _ports(component) -> dict[str, tuple]:
    """Dotted port path -> (flow, signal), from the component's signature."""
    return {".".join(map(str, path)): (member.flow, value)
            for path, member, value in component.signature.flatten(component)}


class Stuck(wiring.Component):
    """``inner`` with port ``port`` (a dotted path of its signature) held at ``value``.

    An output port stuck is what the environment sees; an input port stuck
    is what the inner design sees, whatever the environment drives.
    """

    def __init__(self, inner: wiring.Component, port: str, value: int = 0):
        ports = _ports(inner)
        if port not in ports:
            raise ValueError(f"Stuck: {type(inner).__name__} has no port {port!r} (ports: {', '.join(ports)})")
        self.inner, self.port, self.value = inner, port, value
        super().__init__(inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = self.inner
        inner, outer = _ports(self.inner), _ports(self)
        for path, (flow, sig) in inner.items():
            _, mine = outer[path]
            src = self.value if path == self.port else None
            if flow == In:
                m.d.comb += sig.eq(mine if src is None else src)
            else:
                m.d.comb += mine.eq(sig if src is None else src)
        return m
