"""The RTL decode engine's parameters, schedule and cycle model (no HDL simulator: see test_rtl_decode.py).

- the cores' tile ranges are lean_schedule's with grid = units, and the golden
  decode through them equals split-and-merge decode (models.merge.decode_split);
- engine rtl-decode: the event-driven run and the closed form agree on many
  configurations (uneven splits, 2 to 4 cores, MHA and GQA), and `attnkit
  simulate` runs the shipped configs;
- impossible configurations are refused with the key that is wrong.
"""

import itertools

import numpy as np
import pytest
from helpers import assert_refused, decode_sets

from attnkit.errors import ConfigError
from attnkit.hw import blocks
from attnkit.models.merge import decode_split
from attnkit.params import kinds
from attnkit.params.schedule import lean_schedule
from attnkit.sim import engines
from attnkit.sim.engines.rtl_decode import cycles, host_cycles, params_of, range_cycles
from attnkit.testbench.decode_tb import beats, golden, problem


def _params(*cfg: int):
    """The decode block's parameters for cfg = (units, batch, heads, kv_heads, head_dim, context, block_n)."""
    return blocks.get("decode").load_params(decode_sets(*cfg))


CONFIGS = [
    (2, 1, 6, 3, 8, 20, 8),
    (3, 2, 2, 2, 8, 37, 8),
    (4, 1, 8, 2, 8, 50, 8),
    (4, 2, 4, 1, 4, 27, 4),
    (3, 1, 2, 1, 16, 23, 4),
    (2, 1, 3, 3, 4, 10, 4),
    (2, 3, 1, 1, 4, 1, 4),
    (4, 1, 1, 1, 4, 3, 1),
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_ranges_are_lean_schedules(cfg):
    p = _params(*cfg)
    units, batch, heads, kv, d, n, bn = cfg
    s = lean_schedule(batch, kv, n, bn, units)
    assert p.schedule == s
    for c in range(units):
        want = [((r.batch * kv + r.kv_head),) + r.keys(bn, n) for r in (s.ctas[c] if c < s.grid else ())]
        assert p.items(c) == want
    # every key of every group is covered once, and each group's pieces are in context order
    for gi, ps in enumerate(p.pieces()):
        spans = [p.items(c)[j][1:] for c, j in ps]
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        assert all(p.items(c)[j][0] == gi for c, j in ps)


@pytest.mark.parametrize("cfg", CONFIGS[:5])
def test_golden_through_the_schedule_is_split_and_merge(cfg):
    p = _params(*cfg)
    rng = np.random.default_rng(3)
    q, k, v, _ = problem(p, 0, rng)
    out = golden(p, q, k, v)
    G = p.group
    for b in range(p.batch):
        for h in range(p.kv_heads):
            ps = p.pieces()[b * p.kv_heads + h]
            bounds = [p.items(c)[j][1] for c, j in ps] + [p.context]
            want = decode_split(q[b, h * G : (h + 1) * G], k[b, h][None], v[b, h][None], p.numerics, bounds)
            np.testing.assert_array_equal(out[b, h * G : (h + 1) * G], want)
    assert len(beats(p, q, k, v)) == p.input_beats


@pytest.mark.parametrize("cfg", CONFIGS)
def test_event_and_closed_form_agree(cfg):
    p = _params(*cfg)
    assert cycles(p, "event") == cycles(p, "closed")


def test_event_and_closed_form_agree_on_a_sweep():
    for units, kv, g, n, bn in itertools.product((2, 3, 4), (1, 2, 3), (1, 2), (1, 7, 16, 33), (1, 4, 8)):
        p = _params(units, 2, kv * g, kv, 4, n, bn)
        assert cycles(p, "event") == cycles(p, "closed"), (units, kv, g, n, bn)


def test_output_stalls_delay_the_host_only():
    """Stalls on group i's rows lengthen the host's time on it, not the cores'; both modes agree, and the
    problem grows by at most the stalls' sum (less when the host would have waited for pieces anyway)."""
    from attnkit.sim.engines.rtl_decode import timing

    rng = np.random.default_rng(5)
    for units, kv, g, n, bn in [(2, 1, 3, 10, 4), (3, 2, 2, 33, 8), (4, 3, 1, 16, 4)]:
        p = _params(units, 2, kv * g, kv, 4, n, bn)
        stalls = rng.integers(0, 6, len(p.pieces())).tolist()
        ev, cl = timing(p, "event", stalls), timing(p, "closed", stalls)
        assert ev["cycles"] == cl["cycles"] and ev["host_busy"] == cl["host_busy"]
        assert cl["host_busy"] == timing(p, "closed")["host_busy"] + sum(stalls)
        assert cycles(p, "closed") <= cl["cycles"] <= cycles(p, "closed") + sum(stalls)
        assert cl["core_busy"] == timing(p, "closed")["core_busy"]
    with pytest.raises(ValueError, match="stall counts"):
        timing(p, "closed", [0])


def test_cycles_by_hand():
    """2 cores, 3 groups of 3 tiles (4+4+2 keys): core 0 does group 0 and 2 tiles of group 1, core 1 the rest."""
    p = _params(2, 1, 3, 3, 4, 10, 4)
    assert p.items(0) == [(0, 0, 10), (1, 0, 8)] and p.items(1) == [(1, 8, 10), (2, 0, 10)]
    load = 3 + 2 * -(-30 // p.rows_per_beat)
    c0 = [load + range_cycles(10), load + range_cycles(10) + range_cycles(8)]
    c1 = [load + range_cycles(2), load + range_cycles(2) + range_cycles(10)]
    g0 = c0[0] + host_cycles(p, 1)
    g1 = max(g0, c0[1], c1[0]) + host_cycles(p, 2)
    g2 = max(g1, c1[1]) + host_cycles(p, 1)
    assert cycles(p, "event") == cycles(p, "closed") == g2


def test_simulate_runs_the_shipped_configs():
    r = engines.simulate("rtl-decode-2core", "rtl-decode", mode="event")
    p = params_of(kinds.load_arch("rtl-decode-2core"), kinds.load_workload("rtl-decode"))
    assert (
        r.engine == "rtl-decode" and r.cycles == cycles(p) == engines.simulate("rtl-decode-2core", "rtl-decode").cycles
    )
    assert r.extra["tiles_per_unit"] == [5, 4] and r.extra["partials_merged"] == 2
    more = engines.simulate("rtl-decode-2core", "rtl-decode", sets=["units=4"])
    assert more.cycles < r.cycles  # more cores, fewer cycles on the same problem


def test_gqa_shares_kv_tiles():
    """At equal query heads, grouped-query decode loads and streams fewer K/V rows: fewer cycles."""
    mha = engines.simulate("rtl-decode-2core", "rtl-decode", sets=["workload.heads=4", "workload.kv_heads=4"])
    gqa = engines.simulate("rtl-decode-2core", "rtl-decode", sets=["workload.heads=4", "workload.kv_heads=1"])
    assert gqa.cycles < mha.cycles and gqa.dram_bytes < mha.dram_bytes


IMPOSSIBLE = [  # sets, the key the error names
    (["units=1"], "arch.units"),
    (["units=5"], "arch.units"),
    (["workload.head_dim=128"], "workload.head_dim"),
    (["workload.context=100000"], "workload.context"),
    (["workload.heads=18", "workload.kv_heads=1"], "workload.kv_heads"),
    (["workload.kv_heads=4"], "kv_heads"),
    (["workload.context=0"], "context"),
]


@pytest.mark.parametrize("sets,key", IMPOSSIBLE)
def test_impossible_configs_are_refused(sets, key):
    assert_refused("decode", ConfigError, sets, key)


def test_wrong_workload_kind_is_refused():
    with pytest.raises(
        ConfigError, match="^engine rtl-decode takes workload kind decode; workload 'rtl-attention' is attention$"
    ):
        engines.simulate("rtl-decode-2core", "rtl-attention", engine="rtl-decode")
