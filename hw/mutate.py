"""Deliberate faults in a built block, made by wrapping it, never by copying its design.

Each wrapper puts a component inside a component with the same signature and
changes one port (by its dotted path, ``o.valid`` or ``acc_valid``) as it
passes: an output port is changed where the environment sees it, an input
port where the inner design sees it. The testbenches run on the wrapper
unchanged, so a test can prove they notice (see
:mod:`attnkit.testbench.mutation`, ``attnkit rtl-mutate``).

- :class:`Stuck` ``(inner, port, value=0)``: the port tied to a constant (a stuck-at fault);
- :class:`Flip` ``(inner, port, bit)``: one bit of the port inverted;
- :class:`Offset` ``(inner, port, delta=1)``: the port's value plus ``delta``, modulo its width (an off-by-one);
- :class:`Delay` ``(inner, port, cycles=1)``: the port seen ``cycles`` clock cycles late (registers reset to 0);
- :func:`rebuilt` ``(changes)``: a ``dut_wrap`` building the same component class again from its
  parameters with ``changes`` (dotted field path -> value), for parameters a block's loader does not take
  from ``--set`` (the attention engine's numerics).

Every wrapper raises ``ValueError`` naming the ports it has when ``port`` is not one of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from amaranth.hdl import Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from attnkit.params import config


def _ports(component) -> dict[str, tuple]:
    """Dotted port path -> (flow, signal), from the component's signature."""
    return {
        ".".join(map(str, path)): (member.flow, value) for path, member, value in component.signature.flatten(component)
    }


class _PortFault(wiring.Component):
    """``inner`` with the value on ``port`` replaced by :meth:`fault` of it."""

    def __init__(self, inner: wiring.Component, port: str):
        ports = _ports(inner)
        if port not in ports:
            raise ValueError(
                f"{type(self).__name__}: {type(inner).__name__} has no port {port!r} (ports: {', '.join(ports)})"
            )
        self.inner, self.port = inner, port
        self.width = len(Value.cast(ports[port][1]))
        super().__init__(inner.signature)

    def fault(self, m: Module, value: Value) -> Value:
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = self.inner
        inner, outer = _ports(self.inner), _ports(self)
        for path, (flow, sig) in inner.items():
            _, mine = outer[path]
            dst, src = (sig, mine) if flow == In else (mine, sig)
            if path == self.port:
                m.d.comb += Value.cast(dst).eq(self.fault(m, Value.cast(src)))
            else:
                m.d.comb += dst.eq(src)
        return m


class Stuck(_PortFault):
    """``inner`` with port ``port`` (a dotted path of its signature) held at ``value``.

    An output port stuck is what the environment sees; an input port stuck
    is what the inner design sees, whatever the environment drives.
    """

    def __init__(self, inner: wiring.Component, port: str, value: int = 0):
        self.value = value
        super().__init__(inner, port)

    def fault(self, m, value):
        return self.value


class Flip(_PortFault):
    """``inner`` with bit ``bit`` of ``port`` inverted."""

    def __init__(self, inner: wiring.Component, port: str, bit: int = 0):
        super().__init__(inner, port)
        if not 0 <= bit < self.width:
            raise ValueError(f"Flip: port {port!r} has {self.width} bits, no bit {bit}")
        self.bit = bit

    def fault(self, m, value):
        return value ^ (1 << self.bit)


class Offset(_PortFault):
    """``inner`` with ``delta`` added to ``port`` (modulo its width)."""

    def __init__(self, inner: wiring.Component, port: str, delta: int = 1):
        if delta == 0:
            raise ValueError("Offset: delta 0 changes nothing")
        self.delta = delta
        super().__init__(inner, port)

    def fault(self, m, value):
        return (value.as_unsigned() + (self.delta % (1 << self.width)))[: self.width]


class Delay(_PortFault):
    """``inner`` with ``port`` passing through ``cycles`` registers (reset to 0)."""

    def __init__(self, inner: wiring.Component, port: str, cycles: int = 1):
        if cycles < 1:
            raise ValueError(f"Delay: {cycles} cycles; expected at least 1")
        self.cycles = cycles
        super().__init__(inner, port)

    def fault(self, m, value):
        for i in range(self.cycles):
            reg = Signal(self.width, name=f"delay{i}")
            m.d.sync += reg.eq(value)
            value = reg
        return value


def params_of(component) -> Any:
    for name in ("params", "p"):
        if dataclasses.is_dataclass(getattr(component, name, None)):
            return getattr(component, name)
    raise ValueError(f"{type(component).__name__} keeps no parameter dataclass in .params or .p")


def rebuilt(changes: dict[str, Any]) -> Callable[[wiring.Component], wiring.Component]:
    """A ``dut_wrap``: the component's class built again from its parameters with ``changes``
    applied (the same design, generated with other parameters); its signature must not change."""

    def wrap(component):
        params = params_of(component)
        params = config.apply_edits(params, list(changes.items()))
        new = type(component)(params)
        component._MustUse__silence = True  # replaced, not forgotten: no UnusedElaboratable warning
        if new.signature != component.signature:
            raise ValueError(f"{', '.join(changes)}: the rebuilt {type(component).__name__} has another signature")
        return new

    return wrap
