"""Parsers, coverage and detection on the real tools' real output (tests/fixtures/testrun) — no Docker."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.errors import ValidationError
from core.testrun.coverage import changed_lines, diff_coverage, parse_coverage_py, parse_go_coverprofile
from core.testrun.detect import Language, detect
from core.testrun.model import TestStatus
from core.testrun.parsers import (
    ReportError,
    libtest_summary,
    parse_go_test_json,
    parse_junit,
    parse_libtest,
    parse_node_tap,
)

FIXTURES = Path(__file__).parent / "fixtures" / "testrun"


def test_junit_from_pytest_matches_its_own_counts() -> None:
    raw = (FIXTURES / "pytest-junit.xml").read_text()
    report = parse_junit(raw)
    assert report.totals.passed == 3 and report.totals.failed == 1 and report.totals.skipped == 1
    assert report.totals.errors == 1 and report.totals.total == 6
    assert 'tests="6"' in raw and 'failures="1"' in raw and 'errors="1"' in raw and 'skipped="1"' in raw
    failing = next(c for c in report.cases if c.status is TestStatus.FAILED)
    assert failing.name == "tests.test_calc.test_sub_fails" and "assert 2 == 3" in (failing.message or "")


def _summary_counts(line: str, words: dict[str, str]) -> dict[str, int]:
    """The counts a runner's own summary line gives, by our status names (`words`: its word -> ours)."""
    found = {words[word]: int(n) for n, word in re.findall(r"(\d+) (\w+)", line) if word in words}
    return {status: found.get(status, 0) for status in ("passed", "failed", "skipped")}


def test_junit_same_named_cases_are_distinct_tests_as_mocha_counts_them() -> None:
    # mocha's xunit reporter, three `it("adds")` in one describe: mocha counts three tests, so do we.
    report = parse_junit((FIXTURES / "mocha-xunit-duplicates.xml").read_bytes())
    words = {"passing": "passed", "failing": "failed", "pending": "skipped"}
    expected = _summary_counts((FIXTURES / "mocha-xunit-duplicates-summary.txt").read_text(), words)
    assert expected == {"passed": 3, "failed": 1, "skipped": 1}
    assert {k: getattr(report.totals, k) for k in expected} == expected and report.totals.errors == 0
    assert [c.status for c in report.cases if c.name == "calc.adds"] == [
        TestStatus.PASSED,
        TestStatus.PASSED,
        TestStatus.FAILED,
    ]


def test_junit_pytest_rerunfailures_attempts_count_as_pytest_counts_them() -> None:
    # pytest-rerunfailures (16.7, pytest 9) writes an empty <testcase> per attempt and no mark on any;
    # pytest's own count (the summary line, and tests="6" on the suite) has each test once.
    raw = (FIXTURES / "pytest-rerunfailures-junit.xml").read_text()
    assert raw.count("<testcase ") == 8 and 'tests="6"' in raw and "rerun" not in raw.lower()
    report = parse_junit(raw)
    words = {"passed": "passed", "failed": "failed", "skipped": "skipped"}
    expected = _summary_counts((FIXTURES / "pytest-rerunfailures-summary.txt").read_text(), words)
    assert expected == {"passed": 4, "failed": 1, "skipped": 1}
    assert {k: getattr(report.totals, k) for k in expected} == expected and report.totals.errors == 0
    always = [c for c in report.cases if c.name == "test_flaky.test_always_fails"]
    assert len(always) == 1 and always[0].status is TestStatus.FAILED
    assert "fails on every attempt" in (always[0].message or "")


def test_junit_marked_reruns_replace_the_earlier_attempt() -> None:
    # Surefire's convention: attempts recorded inside the case (<flakyFailure>, <rerunFailure>…), or a
    # later same-key case marked as a rerun (those children, or a `rerun` property), replaces the earlier.
    surefire = (
        '<testsuite tests="2"><testcase classname="C" name="flaky"><flakyFailure message="once"/></testcase>'
        '<testcase classname="C" name="broken"><failure message="x"/><rerunFailure message="x"/></testcase>'
        "</testsuite>"
    )
    report = parse_junit(surefire)
    assert (report.totals.passed, report.totals.failed, report.totals.total) == (1, 1, 2)
    separate = (
        '<testsuite><testcase classname="t" name="flaky"><failure message="first"/></testcase>'
        '<testcase classname="t" name="flaky"><rerunFailure message="first"/></testcase>'
        '<testcase classname="t" name="other"><failure message="no"/></testcase>'
        '<testcase classname="t" name="other"><properties><property name="rerun" value="1"/></properties>'
        "</testcase></testsuite>"
    )
    report = parse_junit(separate)
    assert (report.totals.passed, report.totals.failed, report.totals.total) == (2, 0, 2)


def test_go_json_counts_subtests_like_gotestsum() -> None:
    report = parse_go_test_json((FIXTURES / "go-test.json").read_bytes())
    assert (report.totals.passed, report.totals.failed, report.totals.skipped) == (4, 1, 1)
    failed = next(c for c in report.cases if c.status is TestStatus.FAILED)
    assert "Sub(5, 3) = 2, want 3" in (failed.message or "")


def test_go_build_failure_is_an_error() -> None:
    events = (
        '{"Action":"output","Package":"x/y","Output":"# x/y\\n"}\n'
        '{"Action":"output","Package":"x/y","Output":"./a.go:3:1: syntax error\\n"}\n'
        '{"Action":"fail","Package":"x/y","Elapsed":0}\n'
    )
    report = parse_go_test_json(events)
    assert report.totals.errors == 1 and "syntax error" in (report.cases[0].message or "")


def test_libtest_matches_its_summary_line() -> None:
    raw = (FIXTURES / "cargo-test.txt").read_text()
    report = parse_libtest(raw)
    assert (report.totals.passed, report.totals.failed, report.totals.skipped) == libtest_summary(raw) == (1, 1, 1)
    assert "math is hard" in (next(c for c in report.cases if c.status is TestStatus.FAILED).message or "")


def test_node_tap_totals_come_from_node() -> None:
    tap = (
        "TAP version 13\nok 1 - adds\nnot ok 2 - fails\nok 3 - later # SKIP\n1..3\n# tests 3\n# pass 1\n"
        "# fail 1\n# cancelled 0\n# skipped 1\n# todo 0\n"
    )
    report = parse_node_tap(tap)
    assert (report.totals.passed, report.totals.failed, report.totals.skipped) == (1, 1, 1)
    with pytest.raises(ReportError):
        parse_node_tap("ok 1 - something\n")


@pytest.mark.parametrize("raw", ["", "<not xml", "<testsuites><testsuite><testcase"])
def test_broken_reports_are_report_errors(raw: str) -> None:
    with pytest.raises(ReportError):
        parse_junit(raw)


def test_coverage_py_and_go_profiles() -> None:
    py = parse_coverage_py((FIXTURES / "coverage-py.json").read_bytes())
    calc = next(f for f in py.files if f.path == "calc.py")
    assert (calc.covered, calc.total, sorted(calc.missed_lines)) == (6, 8, [8, 12])
    go = parse_go_coverprofile((FIXTURES / "go-cover.out").read_bytes(), "example.com/calc")
    assert go.percent == 60.0 and go.files[0].path == "calc.go"
    with pytest.raises(ReportError):
        parse_go_coverprofile("not a profile")
    with pytest.raises(ReportError):
        parse_coverage_py("{}")


def test_diff_coverage_counts_only_executable_changed_lines() -> None:
    py = parse_coverage_py((FIXTURES / "coverage-py.json").read_bytes())
    diff = "--- a/calc.py\n+++ b/calc.py\n@@ -10,0 +11,3 @@\n+def unused(x):\n+    return x * 2\n+\n"
    assert changed_lines(diff) == {"calc.py": {11, 12, 13}}
    result = diff_coverage(py, changed_lines(diff))
    assert result is not None and (result.covered, result.total, result.uncovered) == (1, 2, {"calc.py": [12]})


def test_detection_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "go.mod").write_text("module example.com/api\n")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "package.json").write_text('{"devDependencies": {"vitest": "^1"}}')
    (tmp_path / "web" / "yarn.lock").write_text("")
    (tmp_path / "crates" / "core" / "src").mkdir(parents=True)
    (tmp_path / "Cargo.toml").write_text("[workspace]\nmembers = ['crates/core']\n")
    (tmp_path / "crates" / "core" / "Cargo.toml").write_text("[package]\nname='core'\n")
    (tmp_path / "requirements-dev.txt").write_text("pytest\n")
    (tmp_path / ".dockhand.toml").write_text("[[project]]\npath = 'web'\ntest = 'yarn test'\nenv = {CI = '1'}\n")
    plans = {(p.language, p.root): p for p in detect(tmp_path)}
    assert set(plans) == {
        (Language.GO, "api"),
        (Language.JAVASCRIPT, "web"),
        (Language.RUST, "."),
        (Language.PYTHON, "."),
    }
    web = plans[(Language.JAVASCRIPT, "web")]
    assert web.framework == "vitest" and web.package_manager == "yarn" and web.test == "yarn test"
    assert web.env == {"CI": "1"}
    assert plans[(Language.GO, "api")].module == "example.com/api"
    assert plans[(Language.PYTHON, ".")].framework == "pytest"
    (tmp_path / ".dockhand.toml").write_text("[[project]]\npath = 'web'\nsurprise = 1\n")
    with pytest.raises(ValidationError, match=r"project\.0\.surprise: Extra inputs are not permitted"):
        detect(tmp_path)
    # Strict types: a string is not a boolean (it would have turned network ON), a number is not a command.
    for wrong, key in (("network = 'false'", "network"), ("install = 0", "install"), ("env = {A = 1}", "env.A"),
                       ("timeout_seconds = 1e9", "timeout_seconds"), ("test = ''", "test")):  # fmt: skip
        (tmp_path / ".dockhand.toml").write_text(f"[[project]]\npath = 'web'\n{wrong}\n")
        with pytest.raises(ValidationError, match=rf"\.dockhand\.toml: project\.0\.{key}: "):
            detect(tmp_path)
    (tmp_path / ".dockhand.toml").write_text("[github]\nreviews = 'yes'\n[surprise]\n")
    with pytest.raises(ValidationError, match=r"github\.reviews: .*; surprise: Extra inputs"):
        detect(tmp_path)
    (tmp_path / ".dockhand.toml").write_text("not = [valid")
    with pytest.raises(ValidationError, match="not valid TOML"):
        detect(tmp_path)


def test_reviewed_edge_cases() -> None:
    # Doc-tests have spaces in their names; the summary lines agree.
    doc = (
        "running 2 tests\ntest src/lib.rs - add (line 3) ... ok\ntest src/lib.rs - sub (line 9) ... FAILED\n\n"
        "failures:\n\n---- src/lib.rs - sub (line 9) stdout ----\nboom\n\nfailures:\n    src/lib.rs - sub (line 9)\n\n"
        "test result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.1s\n"
    )
    report = parse_libtest(doc)
    assert (report.totals.passed, report.totals.failed, 0) == libtest_summary(doc)
    assert "boom" in (report.cases[1].message or "")
    # Same-named cases without a rerun record are distinct tests, whatever their results.
    same = (
        '<testsuite><testcase classname="t" name="twin"><failure message="x"/></testcase>'
        '<testcase classname="t" name="twin"/></testsuite>'
    )
    assert (parse_junit(same).totals.passed, parse_junit(same).totals.failed) == (1, 1)
    with pytest.raises(ReportError):
        parse_junit('<testsuite><testcase classname="t" name="x" time="abc"/></testsuite>')
    # A test whose binary died mid-run is a failure, not lost.
    died = (
        '{"Action":"run","Package":"p","Test":"TestA"}\n{"Action":"output","Package":"p","Test":"TestA",'
        '"Output":"panic: boom\\n"}\n{"Action":"fail","Package":"p","Elapsed":0.1}\n'
    )
    assert parse_go_test_json(died).totals.failed == 1
    # Two blocks on the same line are two blocks.
    profile = "mode: set\nm/a.go:3.1,3.10 1 1\nm/a.go:3.12,3.20 1 0\n"
    assert parse_go_coverprofile(profile, "m").files[0].total == 2
    # Content that looks like a diff header, inside a hunk, is content.
    diff = "+++ b/x.c\n@@ -0,0 +1,2 @@\n+++i;\n+++ x\n"
    assert changed_lines(diff) == {"x.c": {1, 2}}


def test_nested_folders_belong_to_their_project_and_bad_values_are_clear(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    for sub in ("tests/unit", "tests/integration", "src/pkg"):
        (tmp_path / sub).mkdir(parents=True)
        (tmp_path / sub / "test_a.py").write_text("def test_a():\n    pass\n")
    assert [(p.language, p.root) for p in detect(tmp_path)] == [(Language.PYTHON, ".")]
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "package.json").write_text("[1, 2]")
    assert any(p.language is Language.JAVASCRIPT for p in detect(tmp_path))
    for value in ("'30m'", "inf", "nan", "0"):
        (tmp_path / ".dockhand.toml").write_text(f"[[project]]\npath = '.'\ntimeout_seconds = {value}\n")
        with pytest.raises(ValidationError, match="timeout_seconds"):
            detect(tmp_path)
    (tmp_path / ".dockhand.toml").write_text("[[project]]\npath = '.'\nimage = 'secret/internal:1'\n")
    with pytest.raises(ValidationError, match="not one this installation allows"):
        detect(tmp_path)
    assert detect(tmp_path, allowed_images=frozenset({"secret/internal:1"}))[0].image == "secret/internal:1"
