"""A fixed-latency pipeline behind ``lib.stream`` interfaces: the valid bits and the stall.

The function units (:mod:`attnkit.hw.exp`, :mod:`attnkit.hw.recip`) are
pipelines of a fixed number of register stages; this gives them their valid
bits and the ``advance`` enable (the pipeline moves unless the output is
offered and not taken).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal


def stream_pipeline(m: Module, unit, stages: int) -> tuple[Signal, list[Signal]]:
    """Valid bits of a ``stages``-deep pipeline behind ``unit.i``/``unit.o``; returns ``advance``
    (the pipeline moves this cycle) and the valid bit of each stage."""
    advance = Signal()
    m.d.comb += [advance.eq(~unit.o.valid | unit.o.ready), unit.i.ready.eq(advance)]
    valid = [Signal(name=f"valid_s{k}") for k in range(stages)]
    with m.If(advance):
        m.d.sync += valid[0].eq(unit.i.valid)
        for k in range(1, stages):
            m.d.sync += valid[k].eq(valid[k - 1])
    m.d.comb += unit.o.valid.eq(valid[-1])
    return advance, valid
