"""cocotb testbench for the RTL unified linear unit: every output of every call checked against
:func:`attnkit.models.edgemoe_golden.linear`, and its cycles against :func:`attnkit.params.edgemoe.linear_cycles`.

``vectors`` is the number of calls (problems): one linear layer on ``T``
token rows each, with its own weights, bias, bias format (``attn_bias``)
and GELU flag. They rotate through the kinds of :data:`KINDS`, so any run of
four or more has each: ``normal`` (activations and weights of a trained
ViT's spread), ``wide`` (every value uniform over its whole format: the sums
wrap), ``extremes`` (every value a format's minimum, maximum, 0 or one lsb
from them) and ``equal-rows`` (every row the same constant activation). The
GELU and bias-format flags are drawn per call.

Three groups of calls, the cases of :class:`LinearBench` (the block's
definition for every driver, :mod:`attnkit.testbench.streams`):

- ``single``: one case per call, its weights and bias then its rows, back to
  back, the output always taken: the load beats plus ``linear_cycles(T)``.
- ``ping-pong``: :data:`PINGPONG_CALLS` calls in one case, each call's
  successor's weights and bias streamed into the other bank while it
  computes (into the slack between its rows, the rest after its last row;
  ``T`` is chosen so that they fit). The case takes the first load plus
  every call's ``linear_cycles`` less ``LINEAR_DEPTH`` for each call after
  the first (its first row loads while the previous call drains), and each
  call's last output must come at that distance from the previous one
  (checked per call). ``overlapped_load_beats`` counts the load beats taken
  before the previous call's last output: all of them.
- ``random-flow``: the rest as one case with the loads interleaved alike,
  random input gaps and output stalls (values only).

The functional coverage of :class:`attnkit.testbench.coverage.LinearCoverage`
is sampled on every call (cocotb only) and reported as ``coverage``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cocotb
import numpy as np

from attnkit.hw.edgemoe_linear import EdgeMoeLinear, in_layout, out_layout
from attnkit.models.edgemoe_golden import linear
from attnkit.params.edgemoe import LINEAR_DEPTH, EdgeMoeParams, RtlLinearParams, VitMoeWorkload
from attnkit.testbench import streams
from attnkit.testbench.coverage import LinearCoverage

KINDS = ("normal", "wide", "extremes", "equal-rows")
SINGLE_MAX_ROWS = 6
PINGPONG_CALLS = 4
P_FLOW = 0.3  # the random-flow case: the chance of an idle input cycle, and of o.ready low


@dataclass
class Call:
    """One call: raw activations ``x [T, in_dim]``, weights ``w [out_dim, in_dim]``, bias ``b [out_dim]``,
    its flags and kind, and the golden outputs ``y [T, out_dim]``."""

    x: np.ndarray
    w: np.ndarray
    b: np.ndarray
    gelu: bool
    attn_bias: bool
    kind: str
    y: np.ndarray | None = None

    @property
    def tokens(self) -> int:
        return len(self.x)


def golden_params(p: RtlLinearParams) -> EdgeMoeParams:
    """The Edge-MoE parameters the golden model reads (only their numerics matter to ``linear``)."""
    return EdgeMoeParams(p.arch, VitMoeWorkload())


def _pick(rng, fmt, shape):
    lsb_vals = np.array([fmt.min_raw, fmt.min_raw + 1, fmt.max_raw, fmt.max_raw - 1, 0, 1, -1])
    return rng.choice(lsb_vals, shape)


def make_call(p: RtlLinearParams, k: int, rows: int, rng: np.random.Generator) -> Call:
    """Call ``k`` of the run (its kind by rotation, its flags drawn) on ``rows`` token rows."""
    n = p.numerics
    A, wf = n.act_fmt, n.weight_fmt
    kind = KINDS[k % len(KINDS)]
    gelu, attn = bool(rng.integers(0, 2)), bool(rng.integers(0, 2))
    bf = n.attn_bias_fmt if attn else n.bias_fmt
    N, M = p.in_dim, p.out_dim
    if kind == "wide":
        x = rng.integers(A.min_raw, A.max_raw + 1, (rows, N))
        w = rng.integers(wf.min_raw, wf.max_raw + 1, (M, N))
        b = rng.integers(bf.min_raw, bf.max_raw + 1, M)
    elif kind == "extremes":
        x, w, b = _pick(rng, A, (rows, N)), _pick(rng, wf, (M, N)), _pick(rng, bf, M)
    else:
        w = wf.quantize(np.clip(rng.normal(0, 1 / np.sqrt(N), (M, N)), -1.9, 1.9))
        b = bf.quantize(rng.normal(0, 0.5, M))
        if kind == "equal-rows":
            x = np.full((rows, N), A.quantize(rng.normal(0, 2)), np.int64)
        else:
            x = A.quantize(rng.normal(0, 2, (rows, N)))
    x, w, b = (np.asarray(v, np.int64) for v in (x, w, b))
    y = linear(x, w, b, golden_params(p), bias_fmt=bf, gelu=gelu)
    return Call(x, w, b, gelu, attn, kind, y)


# -- beats --------------------------------------------------------------------------------------------------


def load_beats(p: RtlLinearParams, c: Call) -> list[int]:
    """The call's weight beats (MAC-array words, see hw/edgemoe_linear.py), then its bias beats."""
    lay = in_layout(p)
    I, O, NI, NO = p.in_size, p.out_size, p.in_blocks, p.out_blocks
    flat = c.w.reshape(NO, O, NI, I).transpose(0, 2, 1, 3).reshape(-1)
    wpb, bpb = p.weights_per_beat, p.biases_per_beat
    flat = np.concatenate([flat, np.zeros(p.weight_beats * wpb - flat.size, np.int64)])
    bias = np.concatenate([c.b, np.zeros(p.bias_beats * bpb - c.b.size, np.int64)])
    flags = {"last": 0, "gelu": int(c.gelu), "attn_bias": int(c.attn_bias)}
    out = [
        streams.pack(lay, {"kind": EdgeMoeLinear.WEIGHTS, **flags, "data": {"w": flat[j * wpb : (j + 1) * wpb]}})
        for j in range(p.weight_beats)
    ]
    out += [
        streams.pack(lay, {"kind": EdgeMoeLinear.BIAS, **flags, "data": {"b": bias[j * bpb : (j + 1) * bpb]}})
        for j in range(p.bias_beats)
    ]
    return out


def row_beats(p: RtlLinearParams, c: Call) -> list[list[int]]:
    """Per token row, its beats (``last`` on the final beat of the last row)."""
    lay, apb, R = in_layout(p), p.acts_per_beat, p.row_beats
    out = []
    for t, row in enumerate(c.x):
        r = np.concatenate([row, np.zeros(R * apb - row.size, np.int64)])
        out.append(
            [
                streams.pack(
                    lay,
                    {
                        "kind": EdgeMoeLinear.ROW,
                        "last": int(t == len(c.x) - 1 and j == R - 1),
                        "gelu": 0,
                        "attn_bias": 0,
                        "data": {"x": r[j * apb : (j + 1) * apb]},
                    },
                )
                for j in range(R)
            ]
        )
    return out


def capacity(p: RtlLinearParams, rows: int) -> int:
    """Load beats of the next call that fit in a call of ``rows`` rows without delaying anything: ``C - R``
    between rows 1 .. T-2 and the next, ``2 C - R`` (``C`` for one row) after the last (``C >= R``)."""
    C, R = p.row_cycles, p.row_beats
    if C < R:
        return 0
    return rows * (C - R) + R


def rows_to_hide(p: RtlLinearParams) -> int:
    """The fewest rows of a call that hide the next call's whole load (``C > R``), else 0."""
    C, R = p.row_cycles, p.row_beats
    if C <= R:
        return 0
    return max(1, -(-(p.load_beats - R) // (C - R)))


def sequence(p: RtlLinearParams, calls: list[Call]) -> tuple[list[int], list[tuple[int, str]]]:
    """The beats of ``calls`` in one stream, each call's successor's load interleaved into its slack; and per
    beat (call, ``"load"`` or ``"row"``)."""
    C, R = p.row_cycles, p.row_beats
    loads = [load_beats(p, c) for c in calls]
    beats, owner = list(loads[0]), [(0, "load")] * len(loads[0])
    for k, c in enumerate(calls):
        nxt = list(loads[k + 1]) if k + 1 < len(calls) else []
        rows = row_beats(p, c)
        T = len(rows)
        for t, rb in enumerate(rows):
            beats += rb
            owner += [(k, "row")] * len(rb)
            if 1 <= t < T - 1 and C > R:
                take, nxt = nxt[: C - R], nxt[C - R :]
                beats += take
                owner += [(k + 1, "load")] * len(take)
        beats += nxt
        owner += [(k + 1, "load")] * len(nxt)
    return beats, owner


def outputs(p: RtlLinearParams, c: Call) -> list[tuple]:
    O = p.out_size
    assert c.y is not None
    return [tuple(int(v) for v in row[ob * O : (ob + 1) * O]) for row in c.y for ob in range(p.out_blocks)]


# -- the bench ----------------------------------------------------------------------------------------------


class LinearBench(streams.CallsBench):
    """Calls of :func:`make_call`: ``single`` cases, one ``ping-pong`` case and one ``random-flow`` case
    (the module docstring)."""

    unit = EdgeMoeLinear
    in_layout = staticmethod(in_layout)
    out_layout = staticmethod(out_layout)
    sequence = staticmethod(sequence)
    outputs = staticmethod(outputs)
    coverage = LinearCoverage

    def cases(self, p, vectors, seed):
        rng = np.random.default_rng(seed)
        hide = rows_to_hide(p)
        n_pp = PINGPONG_CALLS if hide and vectors >= PINGPONG_CALLS + 2 else 0
        n_flow = max(0, min(vectors - n_pp - 1, vectors // 4)) if vectors > 1 else 0
        n_single = vectors - n_pp - n_flow
        out, k = [], 0
        for _ in range(n_single):
            out.append(self._case(p, [make_call(p, k, int(rng.integers(1, SINGLE_MAX_ROWS + 1)), rng)], "single"))
            k += 1
        if n_pp:
            calls = [make_call(p, k + j, hide + int(rng.integers(0, 3)), rng) for j in range(n_pp)]
            out.append(self._case(p, calls, "ping-pong"))
            k += n_pp
        if n_flow:
            calls = []
            for j in range(n_flow):
                calls.append(make_call(p, k + j, int(rng.integers(1, SINGLE_MAX_ROWS + 1)), rng))
            out.append(self._flow_case(p, calls, rng, P_FLOW))
        return out

    def predicted_cycles(self, p, case):
        if case.kind not in ("single", "ping-pong"):
            return None
        calls = case.info["calls"]
        return p.load_beats + sum(p.cycles(len(c.x)) for c in calls) - (len(calls) - 1) * LINEAR_DEPTH

    def checks(self, p, case, trace):
        """Per call of a ping-pong case: its last output ``linear_cycles(T) - LINEAR_DEPTH`` after the
        previous call's (the first: the load plus ``linear_cycles(T) - 1`` after the first beat)."""
        if case.kind != "ping-pong" or len(trace.taken) < len(case.want) or not trace.accepted:
            return {}
        ends = np.cumsum([len(c.x) * p.out_blocks for c in case.info["calls"]]) - 1
        last = [trace.taken[e] - trace.accepted[0] for e in ends]
        calls = case.info["calls"]
        want = [p.load_beats + p.cycles(len(calls[0].x)) - 1]
        for c in calls[1:]:
            want.append(want[-1] + p.cycles(len(c.x)) - LINEAR_DEPTH)
        return {"latency_errors": sum(a != b for a, b in zip(last, want))}

    def watchdog_gap(self, p, cases):
        longest = max(p.load_beats + p.cycles(len(c.x)) for case in cases for c in case.info["calls"])
        return 2 * longest + max(streams.flow_gap(c) for c in cases)

    def summary(self, p, cases, traces):
        calls = [c for case in cases for c in case.info["calls"]]
        overlapped = hidden = 0
        for case, tr in zip(cases, traces):
            if case.kind != "ping-pong" or len(tr.taken) < len(case.want):
                continue
            ends = np.cumsum([len(c.x) * p.out_blocks for c in case.info["calls"]]) - 1
            for j, (k, what) in enumerate(case.info["owner"]):
                if what == "load" and k >= 1:
                    hidden += 1
                    overlapped += tr.accepted[j] < tr.taken[ends[k - 1]]
        return {
            "checked": len(calls),
            "calls": len(calls),
            "rows": sum(len(c.x) for c in calls),
            "unit": f"{p.in_size}x{p.out_size}",
            "shape": f"{p.out_dim}x{p.in_dim}",
            "row_beats": p.row_beats,
            "row_cycles": p.row_cycles,
            "load_beats": p.load_beats,
            "kinds": {kd: sum(c.kind == kd for c in calls) for kd in KINDS},
            "gelu_calls": sum(c.gelu for c in calls),
            "pingpong_load_beats": hidden,
            "overlapped_load_beats": int(overlapped),
        }


BENCHES = {"edgemoe_linear": LinearBench()}


@cocotb.test()
async def edgemoe_linear_calls(dut):
    await streams.run_cocotb(dut, BENCHES["edgemoe_linear"])
