"""One model for test results and coverage, whatever tool produced them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TestStatus(StrEnum):
    __test__ = False

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class TestCase:
    __test__ = False

    name: str
    status: TestStatus
    file: str | None = None
    duration_seconds: float | None = None
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class Totals:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped + self.errors

    @classmethod
    def of(cls, cases: list[TestCase]) -> Totals:
        count = {status: 0 for status in TestStatus}
        for case in cases:
            count[case.status] += 1
        return cls(
            passed=count[TestStatus.PASSED],
            failed=count[TestStatus.FAILED],
            skipped=count[TestStatus.SKIPPED],
            errors=count[TestStatus.ERROR],
        )


@dataclass(frozen=True, kw_only=True)
class TestReport:
    """What one run of one project's tests produced."""

    __test__ = False

    cases: list[TestCase]
    totals: Totals

    @classmethod
    def of(cls, cases: list[TestCase]) -> TestReport:
        return cls(cases=cases, totals=Totals.of(cases))


def _percent(covered: int, total: int) -> float | None:
    return round(100.0 * covered / total, 2) if total else None


@dataclass(frozen=True, kw_only=True)
class FileCoverage:
    """`covered`/`total` count lines (statements); branches, where the tool measured them, count too."""

    path: str
    covered: int
    total: int
    covered_lines: frozenset[int] = frozenset()
    missed_lines: frozenset[int] = frozenset()
    covered_branches: int = 0
    branches: int = 0

    @property
    def percent(self) -> float | None:
        # coverage.py's own figure with branch coverage on: (lines + branches hit) / (lines + branches).
        return _percent(self.covered + self.covered_branches, self.total + self.branches)

    def summary(self, *, branches: bool = False) -> dict[str, Any]:
        lines = {"percent": self.percent, "covered": self.covered, "total": self.total}
        return lines | ({"covered_branches": self.covered_branches, "branches": self.branches} if branches else {})


@dataclass(frozen=True, kw_only=True)
class Coverage:
    """Line (or statement) coverage, and branch coverage where the tool measured it: total and per file;
    per-line data where the tool gives it."""

    covered: int
    total: int
    files: list[FileCoverage] = field(default_factory=list)
    covered_branches: int = 0
    branches: int = 0

    @property
    def percent(self) -> float | None:
        return _percent(self.covered + self.covered_branches, self.total + self.branches)

    def summary(self) -> dict[str, Any]:
        """The figures as stored with a result; branch counts only where the tool measured branches, so a
        line-coverage summary stays as it always was."""
        measured = self.branches > 0
        branch = {"covered_branches": self.covered_branches, "branches": self.branches} if measured else {}
        return {
            "percent": self.percent,
            "covered": self.covered,
            "total": self.total,
            **branch,
            "files": {f.path: f.summary(branches=measured) for f in self.files},
        }
