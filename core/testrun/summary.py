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


# --- JavaScript runners -------------------------------------------------------------------------
# mocha (and node-tap's classic reporter): "2 passing (12ms)", then "1 pending", "1 failing". A script
# that runs mocha twice (unit && integration) prints two such blocks: they add up.
_MOCHA_PASSING = re.compile(r"^(?P<n>\d+) passing\b")
_MOCHA_OTHER = re.compile(r"^(?P<n>\d+) (?P<what>failing|pending)$")


def mocha_summary(output: str) -> Totals | None:
    totals = None
    for line in _lines(output):
        if match := _MOCHA_PASSING.match(line):
            totals = totals or Totals()
            totals = Totals(passed=totals.passed + int(match["n"]), failed=totals.failed, skipped=totals.skipped)
        elif totals is not None and (match := _MOCHA_OTHER.match(line)):
            failed, skipped = (int(match["n"]), 0) if match["what"] == "failing" else (0, int(match["n"]))
            totals = Totals(passed=totals.passed, failed=totals.failed + failed, skipped=totals.skipped + skipped)
    return totals


# jest: "Tests:       1 failed, 1 skipped, 1 todo, 1 passed, 4 total".
_JEST_LINE = re.compile(r"^Tests:\s+(?P<body>.*\btotal)$")
# vitest: "Tests  1 failed | 1 passed | 1 skipped | 1 todo (4)" (not "Test Files  1 failed (1)").
_VITEST_LINE = re.compile(r"^Tests\s+(?P<body>\d+ .*)\(\d+\)$")
_COUNT_PART = re.compile(r"(?P<n>\d+) (?P<what>passed|failed|skipped|todo|pending)")


def jest_summary(output: str) -> Totals | None:
    return _last_counts(output, _JEST_LINE)


def vitest_summary(output: str) -> Totals | None:
    return _last_counts(output, _VITEST_LINE)


def _last_counts(output: str, pattern: re.Pattern[str]) -> Totals | None:
    body = None
    for line in _lines(output):
        if match := pattern.match(line):
            body = match["body"]
    if body is None:
        return None
    counts = {m["what"]: int(m["n"]) for m in _COUNT_PART.finditer(body)}
    return Totals(
        passed=counts.get("passed", 0),
        failed=counts.get("failed", 0),
        skipped=counts.get("skipped", 0) + counts.get("todo", 0) + counts.get("pending", 0),
    )


# TAP (tape, node --test, ava --tap): the producer's closing comments, "# tests 5", "# pass  4", "# fail 1"
# (node adds skipped/todo/cancelled). node-tap writes none of them: its results are counted instead.
_TAP_COMMENT = re.compile(r"^# (?P<key>tests|pass|fail|skip|skipped|todo|cancelled)\s+(?P<n>\d+)$")
_TAP_RESULT = re.compile(
    r"^(?P<indent>\s*)(?P<ok>not ok|ok)\b(?:\s+\d+)?(?:\s+-)?(?:\s+(?P<desc>.*?))?"
    r"(?:\s+#\s*(?P<directive>skip|todo)\b.*)?$",
    re.IGNORECASE,
)


def tap_summary(output: str) -> Totals | None:
    """The TAP producer's own counts if it printed them, else its results counted (leaves only)."""
    counts = _tap_comments(output)
    if counts:
        return Totals(
            passed=counts.get("pass", 0),
            failed=counts.get("fail", 0) + counts.get("cancelled", 0),
            skipped=counts.get("skip", 0) + counts.get("skipped", 0) + counts.get("todo", 0),
        )
    return tap_results(output)


def _tap_comments(output: str) -> dict[str, int]:
    """The last block of summary comments (a test's own `# name` comment could look like one earlier)."""
    counts: dict[str, int] = {}
    for line in _raw_lines(output):
        if match := _TAP_COMMENT.match(line):
            if match["key"] == "tests":
                counts = {}
            counts[match["key"]] = int(match["n"])
    return counts


def tap_results(output: str) -> Totals | None:
    """TAP result lines counted as node-tap's own reporter totals them: the leaves. A subtest's result line
    comes straight after its children's (more indented) lines, so a result whose previous result is deeper
    is a parent, already counted through its children. YAML diagnostics (`---` … `...`) are skipped."""
    results: list[tuple[int, str]] = []
    previous_indent = -1
    in_yaml: int | None = None
    for line in _raw_lines(output):
        indent = len(line) - len(line.lstrip())
        if in_yaml is not None:
            if line.strip() == "..." and indent <= in_yaml + 2:
                in_yaml = None
            continue
        if line.strip() == "---" and results:
            in_yaml = indent
            continue
        match = _TAP_RESULT.match(line)
        if match is None:
            continue
        if previous_indent <= indent:
            directive = (match["directive"] or "").lower()
            results.append((indent, "skipped" if directive else "passed" if match["ok"] == "ok" else "failed"))
        previous_indent = indent
    if not results:
        return None
    statuses = [status for _, status in results]
    return Totals(passed=statuses.count("passed"), failed=statuses.count("failed"), skipped=statuses.count("skipped"))


# ava: its TAP (`--tap`) counts a todo as a failure; its default reporter prints "2 tests passed",
# "1 test failed", "1 known failure", "1 test skipped", "1 test todo", "1 uncaught exception" — but
# no passed count when anything failed: then its "✔" lines are the passed tests.
_AVA_LINE = re.compile(
    r"^(?P<n>\d+) (?:tests? (?P<what>passed|failed|skipped|todo)|(?P<other>known failures?|uncaught exceptions?|"
    r"unhandled rejections?))$"
)


def ava_summary(output: str) -> Totals | None:
    if "tests" in (counts := _tap_comments(output)):
        todo = sum(1 for line in _lines(output) if re.match(r"^not ok\b.*#\s*TODO\b", line, re.IGNORECASE))
        return Totals(
            passed=counts.get("pass", 0),
            failed=max(counts.get("fail", 0) - todo, 0),
            skipped=counts.get("skip", 0) + todo,
        )
    counts, errors, found = {}, 0, False
    for line in _lines(output):
        if match := _AVA_LINE.match(line):
            found = True
            if match["what"]:
                counts[match["what"]] = int(match["n"])
            elif match["other"].startswith("known"):
                counts["passed"] = counts.get("passed", 0)  # a known failure is an expected outcome
                counts["skipped"] = counts.get("skipped", 0) + int(match["n"])
            else:
                errors += int(match["n"])
    if not found:
        return None
    passed = counts.get("passed", sum(1 for line in _lines(output) if line.startswith("✔")))
    return Totals(
        passed=passed,
        failed=counts.get("failed", 0),
        skipped=counts.get("skipped", 0) + counts.get("todo", 0),
        errors=errors,
    )


def any_javascript_summary(output: str) -> Totals | None:
    """A script whose runner could not be named: the first runner's summary that is there."""
    for reader in (jest_summary, vitest_summary, mocha_summary, tap_summary, ava_summary):
        if (totals := reader(output)) is not None:
            return totals
    return None


def _raw_lines(output: str) -> list[str]:
    """Lines with their indentation (TAP nests subtests by it), colours and trailing space removed."""
    return [_ANSI.sub("", line).rstrip() for line in output.splitlines()]


SUMMARY_READERS: dict[str, Callable[[str], Totals | None]] = {
    "pytest": pytest_summary,
    "unittest": unittest_summary,
    "cargo test": libtest_summary,
    # JavaScript: the keys are the `framework` names core.testrun.javascript gives its plans.
    "mocha": mocha_summary,
    "jest": jest_summary,
    "vitest": vitest_summary,
    "tape": tap_summary,
    "tap": tap_summary,
    "node-test": tap_summary,
    "ava": ava_summary,
    "javascript": any_javascript_summary,
}


def summary_totals(framework: str, output: str) -> Totals | None:
    """The totals `framework` printed in `output`, if it has a reader and printed its summary."""
    reader = SUMMARY_READERS.get(framework)
    return reader(output) if reader is not None else None


def _lines(output: str) -> list[str]:
    return [_ANSI.sub("", line).strip() for line in output.splitlines()]
