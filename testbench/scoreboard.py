"""The one place where a DUT's outputs are checked against the golden model."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any


class Scoreboard:
    """Compares an output stream, in order, against the values the golden model expects.

    ``check`` is called once per DUT output, with any context (an input
    index, a cycle) worth reporting beside a mismatch. Items may be rows
    (tuples): a mismatch then names the first differing element. A
    testbench that learns expectations as it goes adds them with ``expect``
    and, when outputs stop coming, ``drop_pending`` counts the rest missing.
    """

    def __init__(self, name: str, expected: Iterable[Any], max_reports: int = 10, log=None):
        self.name = name
        self._expected = deque(expected)
        self.checked = 0
        self.mismatches = 0
        self.unexpected = 0
        self.missing = 0
        self.reports: list[str] = []
        self._max_reports = max_reports
        self._log = log

    def expect(self, items: Iterable[Any]) -> None:
        self._expected.extend(items)

    def drop_pending(self, **context) -> int:
        """Count every still-expected item as missing (the DUT stopped producing them)."""
        n = len(self._expected)
        if n:
            self.missing += n
            self._expected.clear()
            self._report(f"{self.name}: {n} outputs missing {context}")
        return n

    @property
    def pending(self) -> int:
        return len(self._expected)

    def check(self, actual: Any, **context) -> bool:
        if not self._expected:
            self.unexpected += 1
            self._report(f"{self.name}: unexpected output {actual!r} {context}")
            return False
        want = self._expected.popleft()
        self.checked += 1
        if actual == want:
            return True
        self.mismatches += 1
        where = f"{self.name}[{self.checked - 1}]"
        if isinstance(actual, tuple) and isinstance(want, tuple) and len(actual) == len(want):
            j = next(i for i, (a, w) in enumerate(zip(actual, want)) if a != w)
            self._report(f"{where}[{j}]: got {actual[j]!r}, expected {want[j]!r} {context}")
        else:
            self._report(f"{where}: got {actual!r}, expected {want!r} {context}")
        return False

    def _report(self, text: str) -> None:
        if len(self.reports) < self._max_reports:
            self.reports.append(text)
            if self._log is not None:
                self._log.error(text)

    def result(self) -> dict:
        return {
            "checked": self.checked,
            "mismatches": self.mismatches + self.unexpected,
            "missing": self.missing + self.pending,
            "first_mismatches": self.reports,
        }

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and self.unexpected == 0 and self.missing == 0 and not self._expected
