"""JavaScript projects' own `scripts.test`, run for real in Docker: the counts must equal what the runner
itself prints as its summary, and coverage what the project's own coverage tool prints."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.service import Core
from core.states import TaskStatus
from tests.test_test_pipeline import pipeline_core, project, run, write

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def core(core_factory: Any, sandbox_image: str) -> Iterator[Core]:
    yield from pipeline_core(core_factory, sandbox_image)


def package(script: str, dev: dict[str, str]) -> str:
    return json.dumps({"name": "calc", "version": "1.0.0", "scripts": {"test": script}, "devDependencies": dev})


CALC = "function add(a, b) { return a + b; }\nfunction unused(x) {\n  return x * 2;\n}\nmodule.exports = { add, unused };\n"

# Passes only when the script's own FOO=1 and its --require reach mocha: run any other way, the counts differ.
MOCHA_OLD = {
    "package.json": package("FOO=1 mocha --require ./test/setup.js test/", {"mocha": "5"}),
    "test/setup.js": "global.SETUP_RAN = true;\n",
    "test/env.test.js": "const assert = require('assert');\ndescribe('env', () => {\n"
    "  it('sees FOO', () => { assert.strictEqual(process.env.FOO, '1'); });\n"
    "  it('ran the setup', () => { assert.ok(global.SETUP_RAN); });\n"
    "  it('fails', () => { assert.strictEqual(1 + 1, 3); });\n  it.skip('skipped', () => {});\n});\n",
}

TAPE = {
    "package.json": package("tape test/*.js", {"tape": "5"}),
    "test/a.js": "const test = require('tape');\n"
    "test('adds', (t) => { t.equal(1 + 1, 2); t.ok(true); t.end(); });\n"
    "test('fails', (t) => { t.equal(1 + 1, 3, 'bad sum'); t.end(); });\n"
    "test('later', (t) => { t.skip('not yet'); t.end(); });\n",
    "test/b.js": "const test = require('tape');\ntest('b', (t) => { t.pass('b passes'); t.end(); });\n",
}

MOCHA_NOT_LAST = {
    "package.json": package("mocha test/ && echo done", {"mocha": "^10.2.0"}),
    "calc.js": CALC,
    "test/calc.test.js": "const assert = require('assert');\nconst { add } = require('../calc');\n"
    "describe('calc', () => {\n  it('adds', () => { assert.strictEqual(add(1, 2), 3); });\n"
    "  it('adds again', () => { assert.strictEqual(add(2, 2), 4); });\n"
    "  it('fails', () => { assert.strictEqual(add(1, 1), 3); });\n  it.skip('skipped', () => {});\n});\n",
}

NYC = {
    **MOCHA_NOT_LAST,
    "package.json": package("nyc mocha test/", {"mocha": "^10.2.0", "nyc": "^15.1.0"}),
}


def mocha_printed(log: str) -> dict[str, int]:
    """Mocha's own closing lines: "2 passing (12ms)", "1 pending", "1 failing"."""
    found = {what: int(n) for n, what in re.findall(r"^\s*(\d+) (passing|failing|pending)\b", log, re.MULTILINE)}
    assert "passing" in found, log[-3000:]
    return {
        "passed": found["passing"],
        "failed": found.get("failing", 0),
        "skipped": found.get("pending", 0),
        "errors": 0,
    }


def printed_line_coverage(log: str) -> float:
    printed = re.search(r"All files\s*\|\s*[\d.]+\s*\|\s*[\d.]+\s*\|\s*[\d.]+\s*\|\s*([\d.]+)", log)
    assert printed, log[-3000:]
    return float(printed[1])


def test_an_old_mocha_runs_the_scripts_own_env_and_flags(core: Core, tmp_path: Path) -> None:
    task_id, status, result, _ = run(core, write(tmp_path / "js", MOCHA_OLD))
    js = project(result, "javascript")
    assert status is TaskStatus.FAILED and js["framework"] == "mocha", result
    assert js["results_from"] == "report"
    assert [f["name"] for f in js["failures"]] == ["env.fails"], js["failures"]
    xunit = (core.artifacts.get(task_id, "javascript-root/junit.xml") or b"").decode()
    assert 'tests="4"' in xunit
    # The same script as the project runs it, with mocha's own reporter: its printed summary is the truth.
    plain = {**MOCHA_OLD, ".dockhand.toml": "[[project]]\npath = '.'\ntest = 'npm test'\n"}
    _, _, again, log = run(core, write(tmp_path / "plain", plain))
    assert js["totals"] == mocha_printed(log) == project(again, "javascript")["totals"]


def test_tape_counts_are_tapes_own_pass_and_fail(core: Core, tmp_path: Path) -> None:
    _, status, result, log = run(core, write(tmp_path / "tape", TAPE))
    js = project(result, "javascript")
    assert status is TaskStatus.FAILED and js["framework"] == "tape", result
    own = {k: int(v) for k, v in re.findall(r"^# (pass|fail)\s+(\d+)$", log, re.MULTILINE)}
    assert own, log[-3000:]
    # tape counts assertions, and a t.skip() is a passing one: its own figures are the figures.
    assert (js["totals"]["passed"], js["totals"]["failed"]) == (own["pass"], own["fail"])
    assert js["results_from"] == "summary line" and "tape" in js["results_note"]
    assert js["coverage_percent"] is None


def test_a_runner_that_is_not_last_is_read_from_its_summary_line(core: Core, tmp_path: Path) -> None:
    _, status, result, log = run(core, write(tmp_path / "js", MOCHA_NOT_LAST))
    js = project(result, "javascript")
    assert status is TaskStatus.FAILED and js["framework"] == "mocha", result
    assert js["results_from"] == "summary line", js
    assert "summary line" in js["results_note"] and "mocha" in js["results_note"]
    assert js["totals"] == mocha_printed(log)
    assert js["coverage_percent"] is None


def test_nyc_in_the_script_is_the_coverage_and_not_measured_twice(core: Core, tmp_path: Path) -> None:
    _, status, result, log = run(core, write(tmp_path / "js", NYC))
    js = project(result, "javascript")
    assert status is TaskStatus.FAILED and js["framework"] == "mocha", result
    assert js["results_from"] == "report" and js["totals"]["failed"] + js["totals"]["errors"] == 1
    # istanbul's text table truncates to two decimals (66.66) where dockhand rounds (66.67): the same fraction.
    covered, total = js["coverage"]["covered"], js["coverage"]["total"]
    assert math.floor(covered / total * 10_000) / 100 == printed_line_coverage(log)
    assert js["coverage"]["files"]["calc.js"]["total"] > 0
