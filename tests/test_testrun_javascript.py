# ruff: noqa: E501, RUF001 -- the captured output below is kept verbatim: long lines, the tools' own glyphs.
"""JavaScript detection (what a package.json's test script runs, and the plan made of it) and the JS
runners' summary readers, on output captured from the real tools in the sandbox image (Node 18):
mocha 5, jest 29, vitest 1, tape 5, tap 16, ava 5 (plain and `--tap`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.testrun.javascript import javascript_plan
from core.testrun.js_scripts import ScriptRunner, parse_script
from core.testrun.model import Totals
from core.testrun.plan import CoverageFormat, ResultFormat, TestSource
from core.testrun.summary import SUMMARY_READERS, summary_totals

# --- captured output (`npm test`, not a TTY, as the pipeline runs it) ----------------------------
MOCHA5 = "\n> m5@1.0.0 test\n> FOO=1 mocha --require ./test/setup.js test/\n\n\n\n  env\n    ✓ sees FOO\n    ✓ sees setup\n    1) fails\n    - skipped\n\n\n  2 passing (12ms)\n  1 pending\n  1 failing\n\n  1) env\n       fails:\n\n      AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\n\n1 !== 2\n\n      + expected - actual\n\n      -1\n      +2\n      \n      at Context.<anonymous> (test/a.test.js:5:30)\n      at process.processImmediate (node:internal/timers:476:21)\n\n\n\n"

JEST = "\n> j@1.0.0 test\n> jest --coverage\n\nFAIL test/a.test.js\n  ✓ adds (3 ms)\n  ✕ fails (2 ms)\n  ○ skipped skipped\n  ✎ todo later\n\n  ● fails\n\n    expect(received).toBe(expected) // Object.is equality\n\n    Expected: 3\n    Received: 2\n\n      1 | const { add } = require('../calc');\n      2 | test('adds', () => { expect(add(1, 2)).toBe(3); });\n    > 3 | test('fails', () => { expect(add(1, 1)).toBe(3); });\n        |                                         ^\n      4 | test.skip('skipped', () => {});\n      5 | test.todo('later');\n      6 |\n\n      at Object.toBe (test/a.test.js:3:41)\n\n----------|---------|----------|---------|---------|-------------------\nFile      | % Stmts | % Branch | % Funcs | % Lines | Uncovered Line #s \n----------|---------|----------|---------|---------|-------------------\nAll files |   66.66 |      100 |      50 |   66.66 |                   \n calc.js  |   66.66 |      100 |      50 |   66.66 | 3                 \n----------|---------|----------|---------|---------|-------------------\nTest Suites: 1 failed, 1 total\nTests:       1 failed, 1 skipped, 1 todo, 1 passed, 4 total\nSnapshots:   0 total\nTime:        1.423 s\nRan all test suites.\n"

VITEST = "\n> v@1.0.0 test\n> vitest run\n\n\n RUN  v1.6.1 /w\n\n ❯ test/a.test.js  (4 tests | 1 failed | 2 skipped) 16ms\n   ❯ test/a.test.js > fails\n     → expected 2 to be 3 // Object.is equality\n\n⎯⎯⎯⎯⎯⎯⎯ Failed Tests 1 ⎯⎯⎯⎯⎯⎯⎯\n\n FAIL  test/a.test.js > fails\nAssertionError: expected 2 to be 3 // Object.is equality\n\n- Expected\n+ Received\n\n- 3\n+ 2\n\n ❯ test/a.test.js:3:37\n      1| import { test, expect } from 'vitest';\n      2| test('adds', () => { expect(1 + 2).toBe(3); });\n      3| test('fails', () => { expect(1 + 1).toBe(3); });\n       |                                     ^\n      4| test.skip('skipped', () => {});\n      5| test.todo('later');\n\n⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯⎯[1/1]⎯\n\n Test Files  1 failed (1)\n      Tests  1 failed | 1 passed | 1 skipped | 1 todo (4)\n   Start at  21:05:08\n   Duration  483ms (transform 67ms, setup 0ms, collect 24ms, tests 16ms, environment 0ms, prepare 184ms)\n\n"

TAPE = "\n> tp@1.0.0 test\n> tape test/*.js\n\nTAP version 13\n# adds\nok 1 should be strictly equal\nok 2 should be truthy\n# fails\nnot ok 3 bad sum\n  ---\n    operator: equal\n    expected: 3\n    actual:   2\n    at: Test.<anonymous> (/workspace/test/a.js:3:26)\n    stack: |-\n      Error: bad sum\n          at Test.assert [as _assert] (/workspace/node_modules/tape/lib/test.js:548:48)\n          at Test.strictEqual (/workspace/node_modules/tape/lib/test.js:734:7)\n          at Test.<anonymous> (/workspace/test/a.js:3:26)\n          at Test.run (/workspace/node_modules/tape/lib/test.js:151:28)\n          at Immediate.next [as _onImmediate] (/workspace/node_modules/tape/lib/results.js:175:7)\n          at process.processImmediate (node:internal/timers:476:21)\n  ...\n# SKIP skipped\n# todo\nok 4 later # SKIP\n# b\nok 5 b passes\n\n1..5\n# tests 5\n# pass  4\n# fail  1\n\n"

TAP = "\n> tp@1.0.0 test\n> tap test/*.js\n\nTAP version 13\n# Subtest: test/a.js\n    # Subtest: adds\n        ok 1 - should be equal\n        ok 2 - expect truthy value\n        1..2\n    ok 1 - adds # time=4.536ms\n    \n    # Subtest: fails\n        not ok 1 - bad sum\n          ---\n          compare: ===\n          at:\n            line: 3\n            column: 28\n            file: test/a.js\n            type: Test\n          stack: |\n            Test.<anonymous> (test/a.js:3:28)\n            Object.<anonymous> (test/a.js:3:3)\n            Module.replacementCompile (node_modules/append-transform/index.js:60:13)\n            Object.<anonymous> (node_modules/append-transform/index.js:64:4)\n          source: |\n            t.test('adds', (t) => { t.equal(1 + 1, 2); t.ok(true); t.end(); });\n            t.test('fails', (t) => { t.equal(1 + 1, 3, 'bad sum'); t.end(); });\n            ---------------------------^\n            t.test('skipped', { skip: true }, (t) => { t.end(); });\n          diff: |\n            --- expected\n            +++ actual\n            @@ -1,1 +1,1 @@\n            -3\n            +2\n          ...\n        \n        1..1\n        # failed 1 test\n    not ok 2 - fails # time=22.185ms\n    \n    ok 3 - skipped # SKIP\n    1..3\n    # failed 1 of 3 tests\n    # skip: 1\n    # time=40.933ms\nnot ok 1 - test/a.js # time=40.933ms\n  ---\n  env: {}\n  file: test/a.js\n  timeout: 30000\n  command: /usr/bin/node\n  args:\n    - test/a.js\n  stdio:\n    - 0\n    - pipe\n    - 2\n  cwd: /w\n  exitCode: 1\n  ...\n\n1..1\n# failed 1 test\n# time=523.524ms\n----------|---------|----------|---------|---------|-------------------\nFile      | % Stmts | % Branch | % Funcs | % Lines | Uncovered Line #s \n----------|---------|----------|---------|---------|-------------------\nAll files |       0 |        0 |       0 |       0 |                   \n----------|---------|----------|---------|---------|-------------------\n"

AVA = "\n> a@1.0.0 test\n> ava\n\n\n  - [skip] skipped\n  - [todo] later\n  ✔ adds\n  ✘ [fail]: fails\n  ─\n\n  fails\n\n  test/a.js:3\n\n   2: test('adds', (t) => { t.is(1 + 2, 3); });  \n   3: test('fails', (t) => { t.is(1 + 1, 3); }); \n   4: test.skip('skipped', (t) => { t.pass(); });\n\n  Difference (- actual, + expected):\n\n  - 2\n  + 3\n\n  › test/a.js:3:26\n\n  ─\n\n  1 test failed\n  1 test skipped\n  1 test todo\n"

AVA_TAP = "\n> a@1.0.0 test\n> ava --tap\n\nTAP version 13\nok 1 - skipped # SKIP\nnot ok 2 - later # TODO\nok 3 - adds\nnot ok 4 - fails\n  ---\n    name: AssertionError\n    assertion: is\n    values:\n      'Difference (- actual, + expected):': |-\n        - 2\n        + 3\n    at: 'test/a.js:3:26'\n  ...\n\n1..4\n# tests 3\n# pass 1\n# skip 1\n# fail 2\n\n"


@pytest.mark.parametrize(
    "framework,output,expected",
    [
        ("mocha", MOCHA5, Totals(passed=2, failed=1, skipped=1)),  # "2 passing / 1 pending / 1 failing"
        ("jest", JEST, Totals(passed=1, failed=1, skipped=2)),  # "1 failed, 1 skipped, 1 todo, 1 passed, 4 total"
        ("vitest", VITEST, Totals(passed=1, failed=1, skipped=2)),  # "1 failed | 1 passed | 1 skipped | 1 todo (4)"
        ("tape", TAPE, Totals(passed=4, failed=1)),  # "# pass  4 / # fail 1": assertions, a t.skip() passes
        ("tap", TAP, Totals(passed=2, failed=1, skipped=1)),  # the leaves, as tap's classic reporter totals them
        ("ava", AVA, Totals(passed=1, failed=1, skipped=2)),  # "1 test failed / 1 skipped / 1 todo" + one ✔
        ("ava", AVA_TAP, Totals(passed=1, failed=1, skipped=2)),  # its TAP's "# fail 2" counts the todo
    ],
)
def test_each_runners_summary_reads_its_real_output(framework: str, output: str, expected: Totals) -> None:
    assert summary_totals(framework, output) == expected


def test_the_readers_find_nothing_in_other_tools_output() -> None:
    for framework in ("mocha", "jest", "vitest", "ava"):
        others = [o for f, o in [("mocha", MOCHA5), ("jest", JEST), ("vitest", VITEST), ("ava", AVA)] if f != framework]
        assert all(SUMMARY_READERS[framework](o) is None for o in others), framework
    assert SUMMARY_READERS["tape"]("no tap here\n") is None
    # An unnamed runner: whichever summary is there.
    assert summary_totals("javascript", JEST) == Totals(passed=1, failed=1, skipped=2)
    assert summary_totals("javascript", MOCHA5) == Totals(passed=2, failed=1, skipped=1)


def test_tap_readers_edge_cases() -> None:
    # Two mocha runs in one script (unit && integration) add up.
    twice = "  2 passing (3ms)\n  1 failing\n\n  3 passing (1ms)\n  1 pending\n"
    assert summary_totals("mocha", twice) == Totals(passed=5, failed=1, skipped=1)
    # node --test's comments, with skipped/todo/cancelled.
    node = "ok 1 - a\nnot ok 2 - b\n# tests 4\n# pass 1\n# fail 1\n# cancelled 1\n# skipped 1\n# todo 0\n"
    assert summary_totals("node-test", node) == Totals(passed=1, failed=2, skipped=1)
    # No comments: results counted, YAML diagnostics (which may hold "ok" lines) skipped, directives honoured.
    bare = "ok 1 - a\nnot ok 2 - b\n  ---\n  ok: false\n  ...\nok 3 - c # SKIP later\nnot ok 4 - d # TODO\n"
    assert summary_totals("tap", bare) == Totals(passed=1, failed=1, skipped=2)


@pytest.mark.parametrize(
    "script,expected",
    [
        ("FOO=1 mocha --require ./test/setup.js test/", ScriptRunner("mocha", last=True)),
        ("mocha test/ && echo done", ScriptRunner("mocha", last=False)),
        ("cross-env NODE_ENV=test nyc --reporter lcov mocha", ScriptRunner("mocha", last=True, coverage="nyc")),
        ("env CI=1 npx --yes jest --coverage", ScriptRunner("jest", last=True, coverage="jest")),
        ("c8 -r text node --test", ScriptRunner("node-test", last=True, coverage="c8")),
        ("eslint . && vitest run --coverage", ScriptRunner("vitest", last=True, coverage="vitest")),
        ("tape test/*.js | tap-spec", ScriptRunner("tape", last=False)),  # a formatter gets the flags
        ("node node_modules/.bin/_mocha --exit", ScriptRunner("mocha", last=True)),
        ("npm run lint && npm run unit", ScriptRunner("tap", last=False, coverage="nyc", nested="unit")),
        ("ava --verbose; exit 0", ScriptRunner("ava", last=False)),
        ("gulp test", ScriptRunner("unknown", last=False)),
        ("mocha 'unbalanced", ScriptRunner("mocha", last=True)),
    ],
)
def test_which_runner_a_script_runs(script: str, expected: ScriptRunner) -> None:
    assert parse_script(script, {"lint": "eslint .", "unit": "nyc tap test/*.js"}) == expected


def plan_of(tmp_path: Path, package: dict[str, object], **files: str):  # type: ignore[no-untyped-def]
    (tmp_path / "package.json").write_text(json.dumps(package))
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return javascript_plan(tmp_path, ".", {"package.json", *files})


def test_the_script_is_the_command_and_flags_reach_only_a_last_runner(tmp_path: Path) -> None:
    script = "FOO=1 mocha --require ./test/setup.js test/"
    plan = plan_of(tmp_path, {"scripts": {"test": script}, "devDependencies": {"mocha": "5"}})
    assert plan.test_source is TestSource.PACKAGE_JSON and plan.source_detail == script
    assert plan.test.startswith("npm test -- --reporter xunit --reporter-options output=")
    assert plan.results is ResultFormat.JUNIT and plan.coverage is None and plan.after_test is None
    plan = plan_of(tmp_path, {"scripts": {"test": "mocha && echo done"}})
    assert plan.test == "npm test" and plan.results is ResultFormat.SUMMARY and plan.framework == "mocha"
    plan = plan_of(tmp_path, {"scripts": {"test": "gulp test"}, "devDependencies": {"jest": "29"}})
    assert plan.test == "npm test" and plan.framework == "jest" and plan.results is ResultFormat.SUMMARY
    yarn = plan_of(tmp_path, {"scripts": {"test": "jest"}}, **{"yarn.lock": ""})
    assert yarn.test == "npx --offline yarn@1 test --reporters=default --reporters=jest-junit"
    assert "jest-junit" in (yarn.install or "") and yarn.env["JEST_JUNIT_OUTPUT_NAME"] == "junit.xml"


def test_tap_runners_keep_their_output_and_are_read_by_its_summary(tmp_path: Path) -> None:
    tape = plan_of(tmp_path, {"scripts": {"test": "tape test/*.js"}})
    assert tape.test == f"set -o pipefail; npm test 2>&1 | tee {tape.results_path}"
    assert tape.results is ResultFormat.SUMMARY and tape.framework == "tape"
    tap = plan_of(tmp_path, {"scripts": {"test": "tap"}})
    assert tap.env["TAP"] == "1" and tap.framework == "tap"
    node = plan_of(tmp_path, {"scripts": {"test": "node --test"}})
    assert node.results is ResultFormat.TAP and node.framework == "node-test"
    ava = plan_of(tmp_path, {"scripts": {"test": "ava"}})
    assert "npm test -- --tap 2>&1 | tee" in ava.test and ava.results is ResultFormat.SUMMARY


def test_coverage_is_the_projects_own(tmp_path: Path) -> None:
    nyc = plan_of(tmp_path, {"scripts": {"test": "nyc mocha"}})
    assert nyc.coverage is CoverageFormat.ISTANBUL and (nyc.after_test or "").startswith("npx nyc report ")
    assert "--report-dir=" in (nyc.after_test or "") and "c8" not in nyc.test
    c8 = plan_of(tmp_path, {"scripts": {"test": "c8 mocha"}, "c8": {"reports-dir": "out/cov"}})
    assert "--temp-directory=out/cov/tmp" in (c8.after_test or "")  # c8 report looks under --reports-dir else
    jest_last = plan_of(tmp_path, {"scripts": {"test": "jest --coverage"}})
    assert "--coverageDirectory=" in jest_last.test and jest_last.coverage_path
    jest_inner = plan_of(
        tmp_path, {"scripts": {"test": "jest --coverage && echo ok"}, "jest": {"coverageDirectory": "cov"}}
    )
    assert jest_inner.coverage_path == "/workspace/cov/coverage-final.json" and jest_inner.test == "npm test"
    declared_c8 = plan_of(tmp_path, {"scripts": {"test": "mocha"}, "devDependencies": {"c8": "9"}})
    assert "NODE_V8_COVERAGE" in declared_c8.env and "c8 report" in (declared_c8.after_test or "")
    nothing = plan_of(tmp_path, {"scripts": {"test": "jest"}})
    assert nothing.coverage is None and nothing.after_test is None and "--coverage" not in nothing.test


def test_without_a_script_the_runner_is_called_directly(tmp_path: Path) -> None:
    placeholder = 'echo "Error: no test specified" && exit 1'
    plan = plan_of(tmp_path, {"scripts": {"test": placeholder}, "devDependencies": {"mocha": "10"}})
    assert plan.test_source is TestSource.HEURISTIC
    assert plan.test.startswith("npx mocha --reporter xunit --reporter-options output=")
    assert plan_of(tmp_path, {}).framework == "node-test"


def test_a_script_naming_a_file_the_project_lacks_gives_way_to_its_makefile(tmp_path: Path) -> None:
    # A published tarball whose `npm test` runs a test.js it does not ship, and whose Makefile runs mocha.
    makefile = "TESTS = test/*.js\n\ntest:\n\t@node_modules/.bin/_mocha -R dot $(TESTS)\n\n.PHONY: test\n"
    plan = plan_of(tmp_path, {"scripts": {"test": "node test.js"}, "devDependencies": {"mocha": "2"}},
                   Makefile=makefile)  # fmt: skip
    assert plan.test_source is TestSource.MAKEFILE and plan.test == "make test" and plan.framework == "mocha"
    assert plan.results is ResultFormat.SUMMARY
    (tmp_path / "test.js").write_text("require('assert').ok(true)\n")  # the file is there: the script is the way
    assert plan_of(tmp_path, {"scripts": {"test": "node test.js"}}).test_source is TestSource.PACKAGE_JSON


def test_a_script_that_names_no_runner_is_read_as_its_dependencies_runner(tmp_path: Path) -> None:
    (tmp_path / "test.js").write_text("require('./other')\n")
    plan = plan_of(tmp_path, {"scripts": {"test": "node test.js"}, "devDependencies": {"tape": "~1.0.2"}})
    assert plan.framework == "tape" and plan.test.endswith(f"| tee {plan.results_path}")
    unknown = plan_of(tmp_path, {"scripts": {"test": "node test.js"}})
    assert unknown.framework == "javascript" and unknown.results is ResultFormat.SUMMARY
