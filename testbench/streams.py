"""One stream source, one stream sink and one block definition for every stream testbench.

A stream block has an input stream ``i`` and an output stream ``o``
(Amaranth ``lib.stream``: valid, ready, payload). Its testbench module
(named by :class:`attnkit.hw.blocks.Block`) defines a :class:`StreamBench`
in ``BENCHES[block name]``: payload layouts, the cases (input beats,
expected output beats, the flow schedule), and the predicted cycles. Every
driver consumes that one definition and runs the same :class:`Source` and
:class:`Sink` state machines:

- :func:`run_cocotb`, the generic cocotb test (``rtl-test BLOCK``);
- :mod:`attnkit.testbench.fast`, the C++ harness (``rtl-test BLOCK --fast``),
  which implements the same machines in ``stream_harness.cpp``;
- :mod:`attnkit.testbench.pysim`, Amaranth's simulator.

The flow is explicit in each :class:`Case` (idle cycles before each input
beat; ``o.ready`` per cycle, or stall draws per cycle an output is offered),
drawn once from the seed, so every driver gives the same :class:`Trace` for
the same design (``trace_digest`` in the record). :func:`score` turns traces
into the result record: values through the one
:class:`~attnkit.testbench.scoreboard.Scoreboard`, cycles against the bench's
prediction.

One cycle, for every driver: read ``o.valid`` (registered), offer the next
input beat unless in a gap (idle payloads otherwise), set ``o.ready``; then,
settled, an output offered with ready high is taken and an input offered
with ``i.ready`` high is accepted; then the rising edge. Problem ``k + 1``
starts in the cycle after problem ``k``'s last output and last input.
"""

from __future__ import annotations

import hashlib
import importlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from amaranth.hdl import Shape, signed
from amaranth.lib import data

from attnkit.errors import AttnkitError

# -- payload layouts -------------------------------------------------------------------------------------


def width(layout) -> int:
    return layout.size if isinstance(layout, data.Layout) else Shape.cast(layout).width


def pack(layout, value) -> int:
    """``value`` -> the payload's bits. ``layout`` is an Amaranth shape or ``lib.data`` layout: a plain
    shape takes an int (in range), an ``ArrayLayout`` a sequence, a ``StructLayout`` a sequence in field
    order or a mapping, a ``UnionLayout`` a mapping of one field."""
    if isinstance(layout, data.ArrayLayout) and not isinstance(layout.elem_shape, data.Layout):
        s = Shape.cast(layout.elem_shape)
        if len(value) != layout.length:
            raise ValueError(f"{layout!r}: {len(value)} elements, expected {layout.length}")
        lo, hi = (-(1 << s.width - 1), (1 << s.width - 1) - 1) if s.signed else (0, (1 << s.width) - 1)
        mask, out = (1 << s.width) - 1, 0
        for k, v in enumerate(value):  # the hot path: rows of numbers
            v = int(v)
            if not lo <= v <= hi:
                raise ValueError(f"{layout!r}[{k}]: {v} out of range [{lo}, {hi}]")
            out |= (v & mask) << (k * s.width)
        return out
    if isinstance(layout, data.Layout):
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, Mapping):
            items = value.items()
            if isinstance(layout, data.UnionLayout) and len(value) != 1:
                raise ValueError(f"{layout!r}: a union takes one field, got {sorted(value)}")
        else:
            keys = [k for k, _ in layout]
            if len(value) != len(keys):
                raise ValueError(f"{layout!r}: {len(value)} fields, expected {len(keys)}")
            items = zip(keys, value)
        out = 0
        for key, v in items:
            f = layout[key]
            out |= pack(f.shape, v) << f.offset
        return out
    s = Shape.cast(layout)
    v = int(value)
    lo, hi = (-(1 << s.width - 1), (1 << s.width - 1) - 1) if s.signed else (0, (1 << s.width) - 1)
    if not lo <= v <= hi:
        raise ValueError(f"{layout!r}: {v} out of range [{lo}, {hi}]")
    return v & ((1 << s.width) - 1)


def unpack(layout, bits: int):
    """The payload's bits -> an int (plain shapes, signed as the shape says), a tuple (arrays; structs, in
    field order) or, for a union, a dict of every field's view."""
    bits = int(bits)
    if isinstance(layout, data.ArrayLayout) and not isinstance(layout.elem_shape, data.Layout):
        s = Shape.cast(layout.elem_shape)
        w, mask, top = s.width, (1 << s.width) - 1, 1 << max(0, s.width - 1)
        vals = [(bits >> (k * w)) & mask for k in range(layout.length)]
        return tuple(v - (1 << w) if v & top else v for v in vals) if s.signed else tuple(vals)
    if isinstance(layout, data.UnionLayout):
        return {key: unpack(f.shape, bits >> f.offset) for key, f in layout}
    if isinstance(layout, data.Layout):
        return tuple(unpack(f.shape, bits >> f.offset) for _, f in layout)
    s = Shape.cast(layout)
    v = bits & ((1 << s.width) - 1)
    return v - (1 << s.width) if s.signed and s.width and v >> (s.width - 1) else v


def inspected(component):
    """``component``, built only to read its signature or constants: no warning that it was never elaborated."""
    component._MustUse__silence = True
    return component


def port_layout(component, port: str):
    """The payload shape of stream port ``port`` of ``component`` as its signature declares it."""
    return component.signature.members[port].signature.members["payload"].shape


# -- cases, traces and the bench -------------------------------------------------------------------------


@dataclass
class Case:
    """One problem: input beats (packed), expected output beats (as :func:`unpack` gives them) and the flow.

    ``gaps[k]``: idle cycles (``i.valid`` low, an idle payload) before beat ``k``. ``ready``: ``o.ready`` per
    cycle from the case's first (1 beyond its end). Without ``ready``, ``stalls``: one draw per cycle an
    output is offered, in order, 1 holding ``o.ready`` low that cycle (0 beyond the end). ``info``: what the
    bench keeps for its predictions, checks and coverage."""

    beats: list[int]
    want: list
    kind: str = ""
    gaps: list[int] | None = None
    ready: list[int] | None = None
    stalls: list[int] | None = None
    info: Any = None

    def __post_init__(self):
        if self.gaps is not None and len(self.gaps) != len(self.beats):
            raise ValueError(f"case {self.kind!r}: {len(self.gaps)} gaps for {len(self.beats)} beats")
        if self.ready is not None and self.stalls is not None:
            raise ValueError(f"case {self.kind!r}: o.ready by a per-cycle schedule or by stall draws, not both")


@dataclass
class Trace:
    """What a driver saw of one case: raw output payloads; per input beat the cycle it was accepted; per
    output beat the cycle it was taken and the cycles it was offered before (held, ``o.ready`` low); the
    cycles run; outputs beyond the expected ones (``extra``). Cycles count from the case's first."""

    outputs: list[int] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    taken: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    cycles: int = 0
    extra: int = 0

    @property
    def span(self) -> int:
        """From the edge the first input is accepted to the edge the last output is taken, both counted."""
        return self.taken[-1] - self.accepted[0] + 1 if self.taken and self.accepted else 0


@runtime_checkable
class StreamBench(Protocol):
    """A stream block's testbench, as every driver reads it (see :class:`Bench` for the optional parts)."""

    def in_layout(self, p): ...

    def out_layout(self, p): ...

    def cases(self, p, vectors: int, seed: int) -> list[Case]: ...

    def predicted_cycles(self, p, case: Case) -> int | None: ...


class Bench:
    """Defaults for a :class:`StreamBench`: layouts from the component's signature; a case's cycles are its
    :attr:`Trace.span` less its output stalls (a stream pipeline freezes while its output waits);
    ``cycles`` in the record sums the timed cases (``CYCLES = "first"``: the first one's, per problem)."""

    CYCLES = "sum"
    coverage: Any = None  # the cover points' class (testbench/coverage.py) built from ``p``, if any

    def component(self, p):
        raise NotImplementedError

    def in_layout(self, p):
        return port_layout(inspected(self.component(p)), "i")

    def out_layout(self, p):
        return port_layout(inspected(self.component(p)), "o")

    def predicted_cycles(self, p, case: Case) -> int | None:
        return None

    def stall_delay(self, p, case: Case, trace: Trace) -> int:
        """Cycles the case's output stalls added to its span."""
        return sum(trace.held)

    def watchdog_gap(self, p, cases: list[Case]) -> int:
        """The longest expected wait between two outputs (the watchdogs allow twice that plus 1000)."""
        return max((self.predicted_cycles(p, c) or 0) + flow_gap(c) for c in cases)

    def checks(self, p, case: Case, trace: Trace) -> dict[str, int]:
        """Further error counts of one case (``latency_errors`` adds to the cycle check's)."""
        return {}

    def summary(self, p, cases: list[Case], traces: list[Trace]) -> dict:
        """Further fields of the result record."""
        return {}

    def monitor(self, p, dut):
        """cocotb only: an object with ``case_done(case, trace)`` and ``result() -> dict`` (coverage, counters);
        by default the :attr:`coverage` points' monitor."""
        if self.coverage is None:
            return None
        from attnkit.testbench.coverage import CoverageMonitor  # cocotb-coverage: only where a run monitors

        return CoverageMonitor(self.coverage(p))


class CallsBench(Bench):
    """A :class:`Bench` whose cases are runs of calls of one unit (the Edge-MoE benches). A subclass names the
    unit (``unit``, its component class) and, as static functions of its module, its payload layouts
    (``in_layout``, ``out_layout``), how calls lay out as beats (``sequence(p, calls) -> (beats, owner)``) and
    one call's expected output beats (``outputs(p, call)``). A call has ``tokens``; ``p.cycles(tokens)`` is its
    predicted cycles. A case's ``info`` keeps its calls and each beat's owner."""

    unit: Any = None
    sequence: Any = None
    outputs: Any = None

    def component(self, p):
        return inspected(self.unit(p))

    def _case(self, p, calls: list, kind: str, **flow) -> Case:
        beats, owner = self.sequence(p, calls)
        want = [o for c in calls for o in self.outputs(p, c)]
        return Case(beats, want, kind, info={"calls": calls, "owner": owner}, **flow)

    def _flow_case(self, p, calls: list, rng: np.random.Generator, p_flow: float) -> Case:
        """The ``random-flow`` case of ``calls``: an idle input cycle and ``o.ready`` low each with probability
        ``p_flow``; the ready schedule covers twice the calls' span, so it never runs out."""
        beats, _ = self.sequence(p, calls)
        gaps = gap_schedule(len(beats), rng, p_flow)
        span = len(beats) + sum(gaps) + sum(p.cycles(c.tokens) for c in calls)
        ready = ready_bernoulli(2 * span + 8, rng, p_flow)
        return self._case(p, calls, "random-flow", gaps=gaps, ready=ready)


class EngineBench(Bench):
    """A :class:`Bench` of a whole attention engine (``attention``, ``decode``): one problem a case, its output
    rows of ``head_dim`` ``out_fmt`` values. A subclass gives :meth:`problem` and, as static functions of its
    module, ``backpressure(k)`` (whether problem ``k`` runs with random output stalls, each offered cycle one
    with probability ``P_STALL``) and its engine's predicted cycles; the record's cycles are the first
    problem's."""

    CYCLES = "first"
    P_STALL: float
    backpressure: Any = None

    def problem_case(self, p, k: int, rng: np.random.Generator) -> tuple[list[int], list, str, Any]:
        """Problem ``k``: its input beats, expected output rows, kind and ``info``."""
        raise NotImplementedError

    def out_layout(self, p):
        return data.ArrayLayout(signed(p.numerics.out_fmt.width), p.head_dim)

    def cases(self, p, vectors, seed):
        # the stalls from their own generator, so that a problem's values do not depend on the flow
        rng, ready_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
        out = []
        for k in range(vectors):
            beats, want, kind, info = self.problem_case(p, k, rng)
            stalls = stall_draws(len(want), ready_rng, self.P_STALL) if self.backpressure(k) else None
            out.append(Case(beats, want, kind, stalls=stalls, info=info))
        return out

    def watchdog_gap(self, p, cases):
        # a problem's first row comes at most `predicted` cycles after the previous problem's last
        return self.predicted_cycles(p, None)


def bench_of(block) -> Any:
    """The :class:`StreamBench` of ``block`` (an :class:`attnkit.hw.blocks.Block`), or an error saying why not."""
    module = importlib.import_module(block.testbench)
    bench = getattr(module, "BENCHES", {}).get(block.name)
    if bench is None:
        raise AttnkitError(
            f"--fast runs blocks with one input stream i and one output stream o; {block.name!r}"
            f" is not such a block ({block.testbench} defines no stream bench for it)"
        )
    return bench


# -- flow schedules --------------------------------------------------------------------------------------


def gap_schedule(n: int, rng: np.random.Generator, p_idle: float) -> list[int]:
    """Idle cycles before each of ``n`` beats when each cycle is idle with probability ``p_idle``."""
    g = rng.geometric(1 - p_idle, n) - 1 if p_idle > 0 else np.zeros(n, np.int64)
    return [int(x) for x in g]


def ready_bernoulli(cycles: int, rng: np.random.Generator, p_low: float) -> list[int]:
    """``o.ready`` per cycle, low with probability ``p_low`` each cycle."""
    return (rng.random(cycles) >= p_low).astype(np.int64).tolist()


def stall_draws(out_beats: int, rng: np.random.Generator, p_stall: float) -> list[int]:
    """Per cycle an output is offered, 1 (hold ``o.ready`` low) with probability ``p_stall``, drawn one at a
    time until ``out_beats`` outputs are taken (the draws a loop asking ``rng.random() < p_stall`` makes)."""
    out, taken = [], 0
    while taken < out_beats:
        s = int(rng.random() < p_stall)
        out.append(s)
        taken += 1 - s
    return out


def longest_run(xs, value) -> int:
    best = run = 0
    for x in xs or ():
        run = run + 1 if x == value else 0
        best = max(best, run)
    return best


def flow_gap(case: Case) -> int:
    """The longest wait a case's flow schedule adds: its longest gap and its longest run of stalls."""
    return max(case.gaps or [0]) + longest_run(case.ready, 0) + longest_run(case.stalls, 1)


def watchdog_limit(gap: int) -> int:
    return 2 * int(gap) + 1000


def idle_beats(in_width: int, n: int = 16) -> list[int]:
    """Payloads driven while ``i.valid`` is low: garbage the block must ignore (fixed, so every driver drives
    the same)."""
    rng = np.random.default_rng([in_width, 7])
    return [int.from_bytes(rng.bytes(-(-in_width // 8)), "little") & ((1 << in_width) - 1) for _ in range(n)]


# -- the source and the sink -----------------------------------------------------------------------------


class Source:
    """Offers a case's beats on ``i``: beat ``k`` after ``gaps[k]`` idle cycles, held until accepted."""

    def __init__(self, case: Case, idle: list[int], trace: Trace):
        self.beats, self.gaps, self.idle, self.trace = case.beats, case.gaps, idle, trace
        self.sent = 0
        self.wait = case.gaps[0] if case.gaps and case.beats else 0

    @property
    def done(self) -> bool:
        return self.sent >= len(self.beats)

    def offer(self, cycle: int) -> tuple[int, int]:
        """(valid, payload) this cycle."""
        if self.sent < len(self.beats) and self.wait == 0:
            return 1, self.beats[self.sent]
        return 0, self.idle[cycle % len(self.idle)]

    def step(self, cycle: int, valid: int, ready: int) -> None:
        if valid and ready:
            self.trace.accepted.append(cycle)
            self.sent += 1
            self.wait = self.gaps[self.sent] if self.gaps and self.sent < len(self.beats) else 0
        elif not valid and self.wait:
            self.wait -= 1


class Sink:
    """Takes ``o`` beats: ``o.ready`` by the case's per-cycle schedule or its stall draws; records in the trace
    each beat's payload, the cycle it was taken and the cycles it was held. ``on_output(j, payload, cycle)``
    sees each expected beat as it is taken (``j`` beyond the expected count: an extra beat)."""

    def __init__(self, case: Case, trace: Trace, on_output=None):
        self.ready_at, self.draws, self.trace = case.ready, case.stalls, trace
        self.expected, self.on_output = len(case.want), on_output
        self.drawn = self.held = 0

    @property
    def done(self) -> bool:
        return len(self.trace.outputs) >= self.expected

    def ready(self, cycle: int, o_valid: int) -> int:
        if self.ready_at is not None:
            return self.ready_at[cycle] if cycle < len(self.ready_at) else 1
        if o_valid and self.draws is not None and self.drawn < len(self.draws):
            self.drawn += 1
            return 1 - self.draws[self.drawn - 1]
        return 1

    def step(self, cycle: int, o_valid: int, ready: int, payload) -> None:
        if not o_valid:
            return
        if not ready:
            self.held += 1
            return
        t = self.trace
        if len(t.outputs) < self.expected:
            t.outputs.append(payload)
            t.taken.append(cycle)
            t.held.append(self.held)
        else:
            t.extra += 1
        if self.on_output is not None:
            self.on_output(len(t.outputs) - 1 + t.extra, payload, cycle)
        self.held = 0


# -- scoring ---------------------------------------------------------------------------------------------


def digest(traces: list[Trace]) -> str:
    """A fingerprint of the traces, cycles counted from each case's first accepted input (a case run right
    after reset, as the first of a harness process's share, may start a cycle earlier)."""
    h = hashlib.sha256()
    for t in traces:
        a0 = t.accepted[0] if t.accepted else 0
        h.update(repr((t.outputs, [a - a0 for a in t.accepted], [c - a0 for c in t.taken], t.held, t.extra)).encode())
    return h.hexdigest()[:16]


def check_values(layout, sb, case: Case, k: int, j: int, payload) -> None:
    """One output beat against the scoreboard (beats beyond the expected ones count as unexpected)."""
    value = unpack(layout, payload) if isinstance(payload, int) else payload  # X bits: a str
    sb.check(value, case=k, kind=case.kind, beat=j)


def timing(bench, p, cases: list[Case], traces: list[Trace]) -> dict:
    """Cycles of every timed case against its prediction, and the bench's own checks, over the traces."""
    measured, predicted, errors = [], [], 0
    extra: dict[str, int] = {}
    for case, tr in zip(cases, traces):
        for key, n in bench.checks(p, case, tr).items():
            extra[key] = extra.get(key, 0) + int(n)
        want = bench.predicted_cycles(p, case)
        if want is None:
            continue
        complete = len(tr.outputs) == len(case.want) and len(tr.accepted) == len(case.beats)
        got = tr.span - bench.stall_delay(p, case, tr) if complete else 0
        measured.append(got)
        predicted.append(want)
        errors += got != want
    errors += sum(bench.predicted_cycles(p, c) is not None for c in cases[len(traces) :])  # never run
    if bench.CYCLES == "first":
        cycles, pred = (measured[0] if measured else 0), (predicted[0] if predicted else 0)
    else:
        cycles, pred = sum(measured), sum(predicted)
    return {
        "cycles": cycles,
        "predicted_cycles": pred,
        **extra,
        "latency_errors": errors + extra.get("latency_errors", 0),
        "cycles_per_problem": sorted(set(measured)),
        "output_stalls": sum(sum(t.held) for t in traces),
        "simulated_cycles": sum(t.cycles for t in traces),
        "trace_digest": digest(traces),
    }


def record(bench, p, cases: list[Case], traces: list[Trace], sb) -> dict:
    """The result record's checking fields: the scoreboard's, :func:`timing`'s and the bench's summary."""
    return {**sb.result(), **timing(bench, p, cases, traces), **bench.summary(p, cases, traces)}


def score(bench, p, cases: list[Case], traces: list[Trace]) -> dict:
    """Every output of ``traces`` against the cases' expectations (a fresh scoreboard), then :func:`record`."""
    from attnkit.testbench.scoreboard import Scoreboard

    sb = Scoreboard("out", [])
    layout = bench.out_layout(p)
    for k, case in enumerate(cases):
        sb.expect(case.want)
        if k >= len(traces):
            continue
        for j, v in enumerate(traces[k].outputs):
            check_values(layout, sb, case, k, j, v)
        for j in range(traces[k].extra):
            sb.check(None, case=k, kind=case.kind, beat=len(case.want) + j, extra=True)
        if len(traces[k].outputs) < len(case.want):
            sb.drop_pending(case=k)
    sb.drop_pending(cases="not run")
    return record(bench, p, cases, traces, sb)


def check_widths(bench, p, component) -> None:
    """The bench's layouts must be as wide as the component's stream payloads."""
    for port, lay in (("i", bench.in_layout(p)), ("o", bench.out_layout(p))):
        have = width(port_layout(component, port))
        if width(lay) != have:
            raise AttnkitError(f"{type(bench).__name__}: the {port} layout is {width(lay)} bits, the port {have}")


# -- the generic cocotb test -----------------------------------------------------------------------------


def _raw(value):
    try:
        return int(value)
    except ValueError:  # X or Z bits (four-state simulators)
        return str(value)


async def run_cocotb(dut, bench, period_ns: int = 10) -> None:
    """The cocotb test of a stream block: every case through the :class:`Source` and :class:`Sink`, every
    output through the scoreboard as it comes, a :class:`~attnkit.testbench.harness.Watchdog` from the
    predicted cycles, then the record (:func:`record`) and the checks.

    Python acts once a cycle, after the falling edge: it reads ``o.valid`` (registered), drives the inputs
    and, only in a cycle where ``o.ready`` changes, waits for ``i.ready`` to settle (``ReadOnly``): so
    ``i.ready`` may follow ``o.ready`` but not ``i.valid`` or the payload (true of every block here). While
    the source is done and no output is offered, it waits for ``o.valid`` without running every cycle."""
    from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
    from cocotb.utils import get_sim_time

    from attnkit.hw import blocks
    from attnkit.testbench.harness import TbConfig, Watchdog, finish, start
    from attnkit.testbench.scoreboard import Scoreboard

    block = blocks.get(dut._name)
    tb = TbConfig.from_env(block.params)
    p = tb.params
    t0 = time.perf_counter()
    cases = bench.cases(p, tb.vectors, tb.seed)
    model_s = time.perf_counter() - t0
    check_widths(bench, p, inspected(block.component(p)))
    idle, out_layout = idle_beats(width(bench.in_layout(p))), bench.out_layout(p)
    dut._log.info(f"{block.name}: {len(cases)} cases, {sum(len(c.want) for c in cases)} output beats, seed {tb.seed}")

    await start(dut, {"i__valid": 0, "i__payload": 0, "o__ready": 1}, period_ns=period_ns)
    sb = Scoreboard(block.name, [], log=dut._log)
    traces: list[Trace] = []
    watchdog = Watchdog(
        dut,
        tb,
        sb,
        expected_gap=bench.watchdog_gap(p, cases),
        period_ns=period_ns,
        extra=lambda: timing(bench, p, cases, traces),
    )
    monitor = bench.monitor(p, dut)
    i_valid, i_ready, i_payload = dut.i__valid, dut.i__ready, dut.i__payload
    o_valid, o_ready, o_payload = dut.o__valid, dut.o__ready, dut.o__payload
    fall, ro = FallingEdge(dut.clk), ReadOnly()
    cur_valid, cur_ready, cur_payload = 0, 1, None
    t_sim = time.perf_counter()
    await fall
    for k, case in enumerate(cases):
        sb.expect(case.want)
        trace = Trace()
        traces.append(trace)
        src = Source(case, idle, trace)
        snk = Sink(case, trace, lambda j, v, c, k=k, case=case: check_values(out_layout, sb, case, k, j, v))
        c, base = 0, get_sim_time("ns")  # each cycle starts at a falling edge; so does the next case
        while not (src.done and snk.done):
            ov = int(o_valid.value)
            if src.done and not ov and case.ready is None:  # nothing to offer or take: skip to the next output
                if cur_valid:
                    i_valid.value = cur_valid = 0
                await RisingEdge(o_valid)
                await fall
                c = int(round((get_sim_time("ns") - base) / period_ns))
                continue
            valid, payload = src.offer(c)
            r = snk.ready(c, ov)
            if payload != cur_payload:
                i_payload.value = cur_payload = payload
            if valid != cur_valid:
                i_valid.value = cur_valid = valid
            if r != cur_ready:
                o_ready.value = cur_ready = r
                await ro
            snk.step(c, ov, r, _raw(o_payload.value) if ov and r else None)
            src.step(c, valid, int(i_ready.value) if valid else 0)
            c += 1
            await fall
        trace.cycles = c
        if monitor is not None:
            monitor.case_done(case, trace)
    sim_s = time.perf_counter() - t_sim
    watchdog.stop()
    sb.drop_pending(cases="end")
    rec = record(bench, p, cases, traces, sb)
    cyc = rec["simulated_cycles"]
    finish(
        dut,
        tb,
        sb,
        **{k: v for k, v in rec.items() if k not in ("mismatches", "missing", "first_mismatches")},
        **(monitor.result() if monitor is not None else {}),
        sim_wall_s=round(sim_s, 4),
        model_wall_s=round(model_s, 4),
        cycles_per_s=round(cyc / sim_s, 1) if sim_s > 0 else 0.0,
    )
    bad = {k: v for k, v in rec.items() if k.endswith("_errors") or k == "early_outputs"}
    assert not any(bad.values()), (
        f"timing checks failed: {bad} (cycles {rec['cycles_per_problem']}, predicted {rec['predicted_cycles']})"
    )
