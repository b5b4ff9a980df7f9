"""Parsers, coverage and detection on the real tools' real output (tests/fixtures/testrun) — no Docker."""

from __future__ import annotations

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
    with pytest.raises(ValidationError, match="unknown keys"):
        detect(tmp_path)
    (tmp_path / ".dockhand.toml").write_text("not = [valid")
    with pytest.raises(ValidationError, match="not valid TOML"):
        detect(tmp_path)
