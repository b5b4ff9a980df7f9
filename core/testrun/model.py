"""One model for test results and coverage, whatever tool produced them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
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


@dataclass(frozen=True, kw_only=True)
class FileCoverage:
    path: str
    covered: int
    total: int
    covered_lines: frozenset[int] = frozenset()
    missed_lines: frozenset[int] = frozenset()

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.covered / self.total, 2) if self.total else None


@dataclass(frozen=True, kw_only=True)
class Coverage:
    """Line (or statement) coverage: total and per file; per-line data where the tool gives it."""

    covered: int
    total: int
    files: list[FileCoverage] = field(default_factory=list)

    @property
    def percent(self) -> float | None:
        return round(100.0 * self.covered / self.total, 2) if self.total else None

    def summary(self) -> dict[str, Any]:
        return {
            "percent": self.percent,
            "covered": self.covered,
            "total": self.total,
            "files": {f.path: {"percent": f.percent, "covered": f.covered, "total": f.total} for f in self.files},
        }


def totals_dict(totals: Totals) -> dict[str, int]:
    return {k: v for k, v in asdict(totals).items()}
