"""Counts from a test tool's own closing summary line, for when no structured report can be had.

Each reader takes the run's output and returns the totals the tool printed, or None when its summary
is not there. The pipeline uses them only as a fallback and says so in the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from core.testrun.model import Totals

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# pytest: "==== 3 passed, 1 skipped, 2 warnings in 0.12s ====" (also "no tests ran in 0.01s").
_PYTEST_LINE = re.compile(
    r"^=+ (?P<body>.*?\b(?:passed|failed|skipped|errors?|deselected|no tests ran)\b.*?) in [\d.]+s"
)
_PYTEST_PART = re.compile(r"(?P<n>\d+) (?P<what>passed|failed|skipped|errors?|xfailed|xpassed)")


def pytest_summary(output: str) -> Totals | None:
    found = None
    for line in _lines(output):
        if match := _PYTEST_LINE.match(line):
            found = match["body"]
    if found is None:
        return None
    counts = {m["what"]: int(m["n"]) for m in _PYTEST_PART.finditer(found)}
    return Totals(
        passed=counts.get("passed", 0) + counts.get("xpassed", 0),
        failed=counts.get("failed", 0),
        skipped=counts.get("skipped", 0) + counts.get("xfailed", 0),
        errors=counts.get("error", 0) + counts.get("errors", 0),
    )


_UNITTEST_RAN = re.compile(r"^Ran (?P<n>\d+) tests? in ")
_UNITTEST_END = re.compile(r"^(?P<verdict>OK|FAILED)(?: \((?P<details>[^)]*)\))?$")


def unittest_summary(output: str) -> Totals | None:
    """`Ran N tests in …` then `OK (skipped=2)` or `FAILED (failures=1, errors=2, skipped=1)`."""
    ran: int | None = None
    details: dict[str, int] | None = None
    for line in _lines(output):
        if match := _UNITTEST_RAN.match(line):
            ran, details = int(match["n"]), None
        elif ran is not None and (match := _UNITTEST_END.match(line)):
            details = {}
            for part in (match["details"] or "").split(","):
                key, _, value = part.strip().partition("=")
                if value.isdigit():
                    details[key] = int(value)
    if ran is None or details is None:
        return None
    failed = details.get("failures", 0) + details.get("unexpected successes", 0)
    errors = details.get("errors", 0)
    skipped = details.get("skipped", 0) + details.get("expected failures", 0)
    return Totals(passed=max(ran - failed - errors - skipped, 0), failed=failed, skipped=skipped, errors=errors)


_LIBTEST = re.compile(r"^test result: (?:ok|FAILED)\. (?P<p>\d+) passed; (?P<f>\d+) failed; (?P<i>\d+) ignored")


def libtest_summary(output: str) -> Totals | None:
    """cargo test: one `test result:` line per test binary, added up."""
    totals = None
    for line in _lines(output):
        if match := _LIBTEST.match(line):
            totals = totals or Totals()
            totals = Totals(
                passed=totals.passed + int(match["p"]),
                failed=totals.failed + int(match["f"]),
                skipped=totals.skipped + int(match["i"]),
            )
    return totals


SUMMARY_READERS: dict[str, Callable[[str], Totals | None]] = {
    "pytest": pytest_summary,
    "unittest": unittest_summary,
    "cargo test": libtest_summary,
}


def summary_totals(framework: str, output: str) -> Totals | None:
    """The totals `framework` printed in `output`, if it has a reader and printed its summary."""
    reader = SUMMARY_READERS.get(framework)
    return reader(output) if reader is not None else None


def _lines(output: str) -> list[str]:
    return [_ANSI.sub("", line).strip() for line in output.splitlines()]
