"""Test results from the tools' own reports: JUnit XML, `go test -json`, and libtest (cargo) output."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from junitparser import Error, Failure, JUnitXml, Skipped, TestSuite

from core.testrun.model import TestCase, TestReport, TestStatus, Totals


class ReportError(ValueError):
    """A report file that is missing, empty or not in the format its tool writes."""


def parse_junit(data: bytes | str) -> TestReport:
    """JUnit XML (pytest, jest-junit, vitest, mocha xunit, node --test junit).

    Test cases with the same classname and name are distinct tests (jest and mocha allow duplicate
    titles) unless a rerun plugin's own record says that one is another's attempt: see `_suite_cases`."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if not text.strip():
        raise ReportError("the JUnit report is empty")
    try:
        xml = JUnitXml.fromstring(text)
    except Exception as exc:  # junitparser raises lxml/ElementTree errors of several kinds
        raise ReportError(f"the JUnit report is not valid XML: {exc}") from None
    suites = [xml] if isinstance(xml, TestSuite) else list(xml)
    try:
        cases = [parsed for suite in suites for parsed in _suite_cases(suite)]
    except (ValueError, TypeError, AttributeError) as exc:
        raise ReportError(f"the JUnit report has a malformed test case: {exc}") from None
    return TestReport.of(cases)


# Maven Surefire's record of attempts inside a <testcase>, which other rerun writers copy.
_RERUN_TAGS = ("rerunFailure", "rerunError", "flakyFailure", "flakyError")


def _suite_cases(suite: Any) -> list[TestCase]:
    """One suite's tests, each once. Two kinds of rerun record make a case another's attempt:

    - a mark on the case (Surefire's `<rerunFailure>`/`<flakyFailure>`… children, or a `rerun` property):
      it is the latest attempt of the earlier case with its key, and replaces it;
    - pytest-rerunfailures marks nothing: each attempt before the last is a `<testcase>` with no result,
      and the suite's `tests` attribute counts only the tests pytest itself counted. The surplus of
      cases over that count is the number of such attempts, dropped from earlier same-key cases."""
    elems = list(suite)
    keys = [(c.classname or "", c.name or "", c._elem.get("file") or "") for c in elems]
    kept: list[int] = []
    latest: dict[tuple[str, str, str], int] = {}  # key -> position in `kept`
    for index, (case, key) in enumerate(zip(elems, keys, strict=True)):
        if _marked_rerun(case) and key in latest:
            kept[latest[key]] = index
        else:
            latest[key] = len(kept)
            kept.append(index)
    surplus = len(kept) - _declared_tests(suite, len(kept))
    remaining = Counter(keys[i] for i in kept)
    dropped: set[int] = set()
    for index in kept:
        remaining[keys[index]] -= 1
        if len(dropped) < surplus and remaining[keys[index]] > 0 and not list(elems[index].result):
            dropped.add(index)
    return [_junit_case(elems[i]) for i in kept if i not in dropped]


def _declared_tests(suite: Any, default: int) -> int:
    """The suite's own count of its tests (`tests="…"`); `default` when it has none or it is not a number."""
    try:
        return int(suite._elem.get("tests", default))
    except ValueError:
        return default


def _marked_rerun(case: Any) -> bool:
    elem = case._elem
    if any(elem.find(tag) is not None for tag in _RERUN_TAGS):
        return True
    return any(prop.get("name") == "rerun" for prop in elem.iterfind("properties/property"))


def _junit_case(case: Any) -> TestCase:
    results = list(case.result)
    if any(isinstance(r, Error) for r in results):
        status = TestStatus.ERROR
    elif any(isinstance(r, Failure) for r in results):
        status = TestStatus.FAILED
    elif any(isinstance(r, Skipped) for r in results):
        status = TestStatus.SKIPPED
    else:
        status = TestStatus.PASSED
    message = None
    if results:
        # The attribute is often a bare label ("collection failure"); the text holds the cause.
        label, text = (results[0].message or "").strip(), (results[0].text or "").strip()
        parts = [label, text[-2000:]] if text and text not in label else [label]
        message = "\n".join(part for part in parts if part) or None
    name = f"{case.classname}.{case.name}" if case.classname else case.name
    file = case._elem.get("file")  # junitparser has no accessor for it
    return TestCase(name=name, status=status, file=file, duration_seconds=case.time, message=message)


def parse_go_test_json(data: bytes | str) -> TestReport:
    """`go test -json` events. Subtests count as tests (as gotestsum counts them); a package that fails
    without any test result (a build error) is one error."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    outcomes: dict[tuple[str, str], TestCase] = {}
    output: dict[tuple[str, str], list[str]] = {}
    package_output: dict[str, list[str]] = {}
    started: set[tuple[str, str]] = set()
    failed_packages: set[str] = set()
    packages_with_tests: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        package, test, action = event.get("Package", ""), event.get("Test"), event.get("Action")
        if test is None:
            if action == "output":
                package_output.setdefault(package, []).append(event.get("Output", ""))
            elif action == "fail":
                failed_packages.add(package)
            continue
        key = (package, test)
        packages_with_tests.add(package)
        if action == "run":
            started.add(key)
        elif action == "output":
            output.setdefault(key, []).append(event.get("Output", ""))
        elif action in ("pass", "fail", "skip"):
            status = {"pass": TestStatus.PASSED, "fail": TestStatus.FAILED, "skip": TestStatus.SKIPPED}[action]
            message = "".join(output.get(key, [])).strip()[-2000:] if status is not TestStatus.PASSED else None
            outcomes[key] = TestCase(
                name=f"{package}/{test}",
                status=status,
                file=package,
                duration_seconds=event.get("Elapsed"),
                message=message or None,
            )
    cases = list(outcomes.values())
    for package, test in sorted(started - set(outcomes)):  # the test binary died (panic, timeout) mid-test
        message = "".join(output.get((package, test), [])).strip()[-2000:] or "the test never reported a result"
        cases.append(TestCase(name=f"{package}/{test}", status=TestStatus.FAILED, file=package, message=message))
    for package in sorted(failed_packages - packages_with_tests):
        message = "".join(package_output.get(package, [])).strip()[-2000:] or "package failed"
        cases.append(TestCase(name=package, status=TestStatus.ERROR, file=package, message=message))
    return TestReport.of(cases)


# Doc-tests have spaces in their names ("src/lib.rs - add (line 3)").
_LIBTEST_LINE = re.compile(r"^test (?P<name>.+?)(?: - should panic)? \.\.\. (?P<result>ok|FAILED|ignored)\b")
_LIBTEST_SECTION = re.compile(r"^---- (?P<name>.+) stdout ----$")
_LIBTEST_SUMMARY = re.compile(
    r"^test result: (?:ok|FAILED)\. (?P<passed>\d+) passed; (?P<failed>\d+) failed; (?P<ignored>\d+) ignored"
)


def parse_libtest(data: bytes | str) -> TestReport:
    """`cargo test` output: one line per test, failure output in `---- name stdout ----` sections."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    results: list[tuple[str, TestStatus]] = []
    messages: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if match := _LIBTEST_LINE.match(line):
            status = {"ok": TestStatus.PASSED, "FAILED": TestStatus.FAILED, "ignored": TestStatus.SKIPPED}[
                match["result"]
            ]
            results.append((match["name"], status))
            current = None
        elif match := _LIBTEST_SECTION.match(line):
            current = match["name"]
            messages[current] = []
        elif current is not None:
            if line.startswith(("failures:", "test result:")):
                current = None
            else:
                messages[current].append(line)
    cases = [
        TestCase(name=name, status=status, message="\n".join(messages.get(name, [])).strip() or None)
        for name, status in results
    ]
    return TestReport.of(cases)


def libtest_summary(data: bytes | str) -> tuple[int, int, int]:
    """(passed, failed, ignored) as libtest's own `test result:` lines add up: what the counts must equal."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    passed = failed = ignored = 0
    for line in text.splitlines():
        if match := _LIBTEST_SUMMARY.match(line):
            passed += int(match["passed"])
            failed += int(match["failed"])
            ignored += int(match["ignored"])
    return passed, failed, ignored


_TAP_COUNT = re.compile(r"^# (?P<key>tests|pass|fail|skipped|todo|cancelled) (?P<n>\d+)$")
_TAP_RESULT = re.compile(r"^(?P<indent>\s*)(?P<ok>ok|not ok) \d+ - (?P<name>.*?)(?: # (?P<directive>SKIP|TODO)\b.*)?$")


def parse_node_tap(data: bytes | str) -> TestReport:
    """`node --test` TAP: totals from node's own `# pass/fail/skipped` lines; cases from its result lines."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    counts: dict[str, int] = {}
    cases = []
    for line in text.splitlines():
        if match := _TAP_COUNT.match(line.strip()):
            counts[match["key"]] = int(match["n"])
        elif match := _TAP_RESULT.match(line):
            if match["directive"] == "SKIP":
                status = TestStatus.SKIPPED
            else:
                status = TestStatus.PASSED if match["ok"] == "ok" else TestStatus.FAILED
            cases.append(TestCase(name=match["name"], status=status))
    if not counts:
        raise ReportError("no TAP summary (# tests / # pass / # fail) in node's output")
    totals = Totals(
        passed=counts.get("pass", 0),
        failed=counts.get("fail", 0) + counts.get("cancelled", 0),
        skipped=counts.get("skipped", 0) + counts.get("todo", 0),
    )
    return TestReport(cases=cases, totals=totals)
