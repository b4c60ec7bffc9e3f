"""Lint: Verilator -Wall finds nothing in the RTL but the warning kinds Amaranth's generator always draws."""

import pytest

from attnkit.hw import blocks
from attnkit.testbench.lint import GENERATOR_STYLE, lint

SMALL = ["array_2d.rows=2", "array_2d.cols=2", "workload.head_dim=8", "workload.seq_len=13", "workload.causal=true"]
# 3 cores (tables and core selects not a power of two long), GQA with 2 query heads per KV head
DECODE_3 = ["units=3", "workload.heads=8", "workload.kv_heads=4", "workload.context=9"]
# Edge-MoE's attention unit with 3 heads: per-head tables not a power of two long
EDGEMOE_3 = ["heads=3"]


# every registered block on its shipped configs (as `make lint`), and three more shapes
CASES = [(name, []) for name in blocks.names()] + [
    ("attention", SMALL),
    ("decode", DECODE_3),
    ("edgemoe_attention", EDGEMOE_3),
]


@pytest.mark.parametrize("block,sets", CASES)
def test_only_generator_style_warnings(block, sets, tmp_path):
    kinds = lint(block, sets, tmp_path)
    assert set(kinds) <= GENERATOR_STYLE, {k: n for k, n in kinds.items() if k not in GENERATOR_STYLE}
    assert kinds["WIDTHEXPAND"] > 0  # the check sees the generator's warnings at all
