"""Injected faults (issue 12): every mutant of mac, exp, recip and attention is caught by the block's
ordinary testbench, or shown equivalent by its golden model over the whole input space.

Quick: the fault wrappers, a few mutants (one per check: values, timing, watchdog; one equivalent) and
the command's refusals. Slow: the whole table (about 2 minutes under Icarus; `make mutate`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.back import verilog
from conftest import mutant_record

from attnkit.hw import mutate
from attnkit.hw.mac import Mac
from attnkit.params import config
from attnkit.params.fixed import Overflow
from attnkit.params.numerics import MacParams
from attnkit.testbench import mutation, toolchain

BUILD = Path(__file__).resolve().parents[1] / "build" / "rtl" / "test_mutants"
needs_icarus = pytest.mark.skipif(bool(toolchain.unavailable_reason("icarus")), reason="Icarus not available")


def test_wrappers_keep_the_signature_and_refuse_unknown_ports():
    inner = Mac(MacParams())
    for w in (
        mutate.Flip(Mac(MacParams()), "a", 3),
        mutate.Offset(Mac(MacParams()), "acc", 1),
        mutate.Delay(Mac(MacParams()), "acc_valid", 2),
        mutate.Stuck(Mac(MacParams()), "first", 1),
    ):
        assert w.signature == inner.signature
        assert "module mac" in verilog.convert(w, name="mac")
    with pytest.raises(ValueError, match="no port 'nope'.*ports: a, b"):
        mutate.Flip(Mac(MacParams()), "nope", 0)
    with pytest.raises(ValueError, match="8 bits, no bit 8"):
        mutate.Flip(Mac(MacParams()), "a", 8)
    with pytest.raises(ValueError, match="at least 1"):
        mutate.Delay(Mac(MacParams()), "acc_valid", 0)


def test_rebuilt_changes_one_parameter_and_keeps_the_rest():
    wrap = mutate.rebuilt({"acc_fmt.overflow": Overflow.AP_WRAP})
    new = wrap(Mac(MacParams()))
    assert new.params.acc_fmt.overflow.name == "AP_WRAP" and new.params.in_fmt == MacParams().in_fmt
    with pytest.raises(ValueError, match="no field 'nope'"):
        config.apply_edits(MacParams(), [("acc_fmt.nope", 1)])


def test_table_spans_ten_kinds_over_the_four_blocks():
    assert set(mutation.blocks()) == {"mac", "exp", "recip", "attention"}
    assert len({m.kind for m in mutation.MUTANTS}) >= 10
    assert len({(m.block, m.name) for m in mutation.MUTANTS}) == len(mutation.MUTANTS)


def test_equivalence_is_proven_only_where_the_golden_cannot_differ():
    by = {(m.block, m.name): m for m in mutation.MUTANTS}
    assert "65536 operand pairs" in mutation.golden_equivalence(by["mac", "acc-rounding-trn"])
    assert "65536 inputs" in mutation.golden_equivalence(by["exp", "arg-overflow-wrap"])
    assert mutation.golden_equivalence(by["mac", "acc-overflow-wrap"]) == ""
    assert mutation.golden_equivalence(by["recip", "iters-0"]) == ""
    assert mutation.golden_equivalence(by["exp", "table-5-bits"]) == ""


@pytest.mark.rtl
@needs_icarus
def test_quick_mutants_each_caught_by_the_expected_check():
    got = {
        r["mutant"]: r
        for r in mutation.run("mac", names=["acc-overflow-wrap", "pipeline-3", "acc-rounding-trn"], build_root=BUILD)
    }
    assert got["acc-overflow-wrap"]["verdict"] == "caught" and got["acc-overflow-wrap"]["caught_by"] == "values"
    assert got["acc-overflow-wrap"]["mismatches"] > 0
    assert got["pipeline-3"]["caught_by"] == "timing" and got["pipeline-3"]["latency_errors"] == 3000
    assert got["acc-rounding-trn"]["verdict"] == "equivalent" and got["acc-rounding-trn"]["mismatches"] == 0
    (r,) = mutation.run("recip", names=["o.valid-stuck-0"], build_root=BUILD)
    assert r["verdict"] == "caught" and "watchdog" in r["caught_by"] and "seed 1" in r["watchdog"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "attnkit", "rtl-mutate", *args], capture_output=True, text=True)


def test_cli_refuses_unknown_blocks_and_mutants():
    p = _cli("gelu")
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        "attnkit: error: no mutants for block 'gelu' (blocks with mutants: mac, exp, recip, attention)"
    ]
    p = _cli("mac", "--mutant", "nope")
    assert p.returncode == 2 and "no mutant 'nope'" in p.stderr and p.stdout == ""


@pytest.mark.slow
@pytest.mark.rtl
@needs_icarus
def test_every_mutant_is_caught_or_proven_equivalent(tmp_path):
    out = tmp_path / "mutants.json"
    p = subprocess.run(
        [sys.executable, "-m", "attnkit", "rtl-mutate", "all", "--json", "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    records = json.loads(p.stdout)
    assert json.loads(out.read_text()) == {"kind": "mutants", "rows": records}
    bad = [(r["block"], r["mutant"], r["verdict"]) for r in records if r["verdict"] not in ("caught", "equivalent")]
    assert bad == [] and p.returncode == 0, p.stderr[-2000:]
    assert len(records) == len(mutation.MUTANTS)
    caught = [r for r in records if r["verdict"] == "caught"]
    assert len({r["kind"] for r in caught}) >= 10
    assert {r["block"] for r in caught} == {"mac", "exp", "recip", "attention"}
    # each equivalent is named with its proof
    assert all(r["equivalence"] for r in records if r["verdict"] == "equivalent")


def test_report_draws_the_mutant_table(tmp_path):
    from attnkit.reports import data, fig_mutants

    recs = [
        mutant_record(caught_by="watchdog, values"),
        mutant_record(
            block="exp",
            mutant="m2",
            kind="overflow-mode",
            verdict="equivalent",
            caught_by="",
            mismatches=0,
            equivalence="proof",
        ),
    ]
    (tmp_path / "m.json").write_text(json.dumps(recs))
    tables = data.load(tmp_path / "m.json")
    assert [t.kind for t in tables] == ["mutants"]
    (f,) = fig_mutants.figures(tables)
    assert [r["mutant"] for r in f.table] == ["m1", "m2"] and f.caption.startswith("1 of 2 mutants (2 kinds")
