"""The shared stream pieces (attnkit.testbench.streams): payload layouts, the source and sink, the benches."""

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from attnkit.errors import AttnkitError
from attnkit.hw import blocks
from attnkit.testbench import streams

STREAM_BLOCKS = [
    "attention",
    "decode",
    "edgemoe_attention",
    "edgemoe_linear",
    "exp",
    "gelu",
    "merge",
    "recip",
    "softmax",
]


def test_pack_and_unpack_are_inverse_on_every_kind_of_layout():
    row = data.ArrayLayout(signed(5), 3)
    part = data.StructLayout({"o": row, "l": unsigned(4), "m": signed(3)})
    pair = data.StructLayout({"a": part, "b": part})
    assert streams.pack(row, [-16, 15, -1]) == 0b11111_01111_10000
    assert streams.unpack(row, streams.pack(row, [-16, 15, -1])) == (-16, 15, -1)
    v = {"a": ((1, -2, 3), 15, -4), "b": ((0, 0, -16), 0, 3)}
    assert streams.unpack(pair, streams.pack(pair, v)) == (v["a"], v["b"])
    assert streams.pack(part, v["a"]) == streams.pack(part, {"o": (1, -2, 3), "l": 15, "m": -4})
    u = data.UnionLayout({"row": row, "mask": data.ArrayLayout(unsigned(1), 7)})
    bits = streams.pack(u, {"mask": [1, 0, 0, 0, 0, 0, 1]})
    assert bits == 0b1000001 and streams.unpack(u, bits)["mask"] == (1, 0, 0, 0, 0, 0, 1)
    assert streams.unpack(signed(8), 0xFF) == -1 and streams.unpack(unsigned(8), 0xFF) == 255


@pytest.mark.parametrize(
    "layout, value, message",
    [
        (signed(4), 8, r"8 out of range \[-8, 7\]"),
        (data.ArrayLayout(unsigned(2), 2), [1, 4], r"\[1\]: 4 out of range \[0, 3\]"),
        (data.ArrayLayout(unsigned(2), 2), [1], "1 elements, expected 2"),
        (data.UnionLayout({"x": 2, "y": 3}), {"x": 1, "y": 1}, "a union takes one field"),
    ],
)
def test_pack_refuses_what_does_not_fit(layout, value, message):
    with pytest.raises(ValueError, match=message):
        streams.pack(layout, value)


def _pipeline(cases, L=2):
    """A Python L-stage stream pipeline that freezes while its output waits, run through Source and Sink."""
    idle = streams.idle_beats(8)
    traces = []
    stages = [None] * L
    for case in cases:
        tr = streams.Trace()
        src, snk = streams.Source(case, idle, tr), streams.Sink(case, tr)
        c = 0
        while not (src.done and snk.done):
            ov = stages[-1] is not None
            valid, payload = src.offer(c)
            r = snk.ready(c, ov)
            advance = not ov or r
            snk.step(c, ov, r, stages[-1] if ov else None)
            src.step(c, valid, int(advance))
            if advance:
                stages = [payload if valid else None] + stages[:-1]
            c += 1
        tr.cycles = c
        traces.append(tr)
    return traces


def test_source_and_sink_follow_the_schedules():
    beats = [3, 1, 4, 1, 5]
    plain, gappy, stalled = _pipeline(
        [
            streams.Case(beats, beats),
            streams.Case(beats, beats, gaps=[0, 2, 0, 1, 0]),
            streams.Case(beats, beats, stalls=[1, 0, 1, 1, 0, 0, 0, 0]),
        ]
    )
    assert plain.outputs == beats and plain.accepted == [0, 1, 2, 3, 4] and plain.taken == [2, 3, 4, 5, 6]
    assert plain.span == 7 and plain.held == [0] * 5
    assert gappy.accepted == [0, 3, 4, 6, 7] and gappy.taken == [2, 5, 6, 8, 9]
    assert stalled.outputs == beats and stalled.held == [1, 2, 0, 0, 0] and stalled.span - sum(stalled.held) == 7


def test_score_counts_values_cycles_and_missing_cases():
    bench = streams.Bench()
    bench.out_layout = lambda p: unsigned(8)
    bench.predicted_cycles = lambda p, case: 7
    beats = [3, 1, 4, 1, 5]
    cases = [streams.Case(beats, beats), streams.Case(beats, beats[:4] + [6]), streams.Case(beats, beats)]
    r = streams.score(bench, None, cases, _pipeline(cases[:2]))
    assert (r["checked"], r["mismatches"], r["missing"], r["latency_errors"]) == (10, 1, 5, 1)
    assert "got 5, expected 6" in r["first_mismatches"][0] and r["cycles_per_problem"] == [7]


@pytest.mark.parametrize("name", STREAM_BLOCKS)
def test_every_stream_block_has_a_bench_as_wide_as_its_ports(name):
    block = blocks.get(name)
    bench = streams.bench_of(block)
    assert isinstance(bench, streams.StreamBench)
    p = block.load_params()
    streams.check_widths(bench, p, streams.inspected(block.component(p)))


def test_mac_has_no_stream_bench():
    with pytest.raises(AttnkitError, match="'mac' is not such a block"):
        streams.bench_of(blocks.get("mac"))


def test_stall_draws_are_those_of_a_draw_per_offered_cycle():
    rng1, rng2 = np.random.default_rng(4), np.random.default_rng(4)
    draws = streams.stall_draws(20, rng1, 0.3)
    assert len(draws) - sum(draws) == 20 and draws == [int(rng2.random() < 0.3) for _ in draws]
