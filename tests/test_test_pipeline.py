"""The test pipeline for real: small repositories in each language, run in Docker, with counts and
coverage compared against what the tools themselves print."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType, TriggerSource
from sandbox.backend import dependency_cache, docker_backend
from tests.support.store import sql_core

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Docker-heavy tests run on SQLite only: the store's backends are covered by the store and queue tests."""
    return sqlite_url


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "python-calculator"


def pipeline_core(core_factory, sandbox_image: str) -> Iterator[Core]:  # type: ignore[no-untyped-def]
    """A core with the real Docker backend and dependency cache (shared by the per-language pipeline tests)."""
    base = core_factory(sandbox_image=sandbox_image)
    cache = dependency_cache(base.settings)
    core = sql_core(base.settings, sandboxes=lambda index: docker_backend(base.settings, index, cache), caches=[cache])
    yield core
    core.stop()


@pytest.fixture
def core(core_factory, sandbox_image: str) -> Iterator[Core]:  # type: ignore[no-untyped-def]
    yield from pipeline_core(core_factory, sandbox_image)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def run(core: Core, source: Path, **payload: Any) -> tuple[str, TaskStatus, dict[str, Any], str]:
    task_id = core.submit(
        TaskSubmission(
            type=TaskType.TEST_PIPELINE,
            payload={"source": str(source), **payload},
            trigger_source=TriggerSource.CLI,
            max_retries=0,
        )
    ).task.id
    task = core.run_now(task_id)
    log = "\n".join(line.line for line in core.logs.tail(task_id, limit=10_000))
    return task_id, task.status, task.result or {}, log


def project(result: dict[str, Any], language: str) -> dict[str, Any]:
    return next(p for p in result["projects"] if p["language"] == language)


PYTHON = {
    "pyproject.toml": "[project]\nname = 'calc'\nversion = '0.1'\n[build-system]\nrequires = ['setuptools']\n"
    "build-backend = 'setuptools.build_meta'\n[tool.setuptools]\npy-modules = ['calc']\n",
    "calc.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    if a > b:\n        return a - b\n"
    "    return -(b - a)\n\n\ndef unused(x):\n    return x * 2\n",
    "tests/test_calc.py": "import pytest\nfrom calc import add, sub\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
    "def test_sub_fails():\n    assert sub(5, 3) == 3\n\n\n@pytest.mark.skipif(True, reason='no')\n"
    "def test_skipped():\n    pass\n\n\ndef test_error(missing_fixture):\n    pass\n\n\n"
    "@pytest.mark.parametrize('n', [1, 2])\ndef test_param(n):\n    assert n\n",
}

GO = {
    "go.mod": "module example.com/calc\n\ngo 1.19\n",
    "calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n\nfunc Unused(x int) int {\n\treturn x * 2\n}\n",
    "calc_test.go": 'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n'
    '\t\tt.Fatal("bad")\n\t}\n}\n\nfunc TestFails(t *testing.T) { t.Error("nope") }\n\n'
    'func TestSkipped(t *testing.T) { t.Skip("later") }\n\nfunc TestTable(t *testing.T) {\n'
    '\tfor _, n := range []string{"a", "b"} {\n\t\tt.Run(n, func(t *testing.T) {})\n\t}\n}\n',
}

RUST = {
    "Cargo.toml": '[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/lib.rs": "pub fn add(a: i32, b: i32) -> i32 { a + b }\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n"
    "    #[test]\n    fn adds() { assert_eq!(add(1, 2), 3); }\n    #[test]\n    fn fails() { assert_eq!(add(2, 2), 5); }\n"
    "    #[test]\n    #[ignore]\n    fn ignored() {}\n}\n",
}

NODE = {
    "package.json": '{"name": "calc", "version": "1.0.0", "scripts": {"test": "node --test"}}\n',
    "calc.test.js": "const test = require('node:test');\nconst assert = require('node:assert');\n"
    "test('adds', () => { assert.strictEqual(1 + 2, 3); });\n"
    "test('fails', () => { assert.strictEqual(1 + 1, 3); });\n"
    "test('skipped', { skip: 'later' }, () => {});\n",
}


def test_python_counts_and_coverage_match_pytest_and_coverage_py(core: Core, tmp_path: Path) -> None:
    task_id, status, result, log = run(core, write(tmp_path / "py", PYTHON))
    assert status is TaskStatus.FAILED and result["status"] == "failed"
    py = project(result, "python")
    assert py["framework"] == "pytest"
    summary = re.search(r"(\d+) failed, (\d+) passed, (\d+) skipped, (\d+) error", log)
    assert summary, log[-2000:]
    assert py["totals"] == {
        "failed": int(summary[1]),
        "passed": int(summary[2]),
        "skipped": int(summary[3]),
        "errors": int(summary[4]),
    }
    assert py["coverage"]["files"]["calc.py"] == {"percent": 75.0, "covered": 6, "total": 8}
    assert {f["name"] for f in py["failures"]} >= {"tests.test_calc.test_sub_fails", "tests.test_calc.test_error"}
    assert {"python-root/junit.xml", "python-root/coverage.json"} <= set(core.artifacts.names(task_id))


def test_go_counts_and_coverage_match_go_test(core: Core, tmp_path: Path) -> None:
    _, status, result, log = run(core, write(tmp_path / "go", GO))
    go = project(result, "go")
    assert status is TaskStatus.FAILED
    assert go["totals"] == {
        "passed": len(re.findall(r"--- PASS", log)),
        "failed": len(re.findall(r"--- FAIL", log)),
        "skipped": len(re.findall(r"--- SKIP", log)),
        "errors": 0,
    }
    printed = re.search(r"coverage: ([0-9.]+)% of statements", log)
    assert printed and go["coverage_percent"] == float(printed[1])


def test_rust_counts_match_libtest_and_coverage_is_not_available(core: Core, tmp_path: Path) -> None:
    _, status, result, log = run(core, write(tmp_path / "rust", RUST))
    assert status is TaskStatus.FAILED
    rust = project(result, "rust")
    own = re.search(r"test result: FAILED\. (\d+) passed; (\d+) failed; (\d+) ignored", log)
    assert own and rust["totals"] == {"passed": int(own[1]), "failed": int(own[2]), "skipped": int(own[3]), "errors": 0}
    assert rust["coverage_percent"] is None and "not available" in rust["coverage_note"]


def test_node_test_counts_match_node(core: Core, tmp_path: Path) -> None:
    _, _, result, log = run(core, write(tmp_path / "node", NODE))
    js = project(result, "javascript")
    assert js["framework"] == "node-test"
    own = {k: int(v) for k, v in re.findall(r"^# (pass|fail|skipped) (\d+)$", log, re.MULTILINE)}
    assert js["totals"]["passed"] == own["pass"] and js["totals"]["failed"] == own["fail"]
    assert js["totals"]["skipped"] == own["skipped"]


def test_a_repository_holding_several_projects_yields_several(core: Core, tmp_path: Path) -> None:
    root = tmp_path / "mono"
    write(root / "service", GO)
    write(root / "lib", RUST)
    _, _, result, _ = run(core, root)
    assert sorted((p["language"], p["root"]) for p in result["projects"]) == [("go", "service"), ("rust", "lib")]


def test_the_example_passes_then_is_not_run_twice(core: Core) -> None:
    first_id, status, result, _ = run(core, EXAMPLE)
    assert status is TaskStatus.SUCCEEDED and result["status"] == "passed"
    py = project(result, "python")
    assert py["totals"] == {"passed": 3, "failed": 0, "skipped": 1, "errors": 0} and py["coverage_percent"] > 50
    _, status, again, log = run(core, EXAMPLE)
    assert status is TaskStatus.SUCCEEDED and again["reused_from"] == first_id and "reusing its result" in log
    forced_id, _, forced, _ = run(core, EXAMPLE, force=True)
    assert "reused_from" not in forced and project(forced, "python")["cache"] == "hit"
    # `dockhand run test` reuses it too, and makes no sandbox for that: the Docker client is not even imported.
    summary, docker_imported = cli_run_test(core, EXAMPLE)
    assert summary["reused_from"] in (first_id, forced_id) and summary["status"] == "passed"
    assert docker_imported is False


def cli_run_test(core: Core, source: Path) -> tuple[dict[str, Any], bool]:
    """`dockhand run test --json` in a fresh interpreter on the core's store: its summary, and whether it imported
    the Docker client."""
    code = (
        "import sys\nfrom bot.cli.startup import main\n"
        f"sys.argv = ['dockhand', 'run', 'test', {str(source)!r}, '--json']\n"
        "try:\n    main()\nfinally:\n    print('docker' in sys.modules, file=sys.stderr)\n"
    )
    env = os.environ | {
        "DOCKHAND_DATA_DIR": str(core.settings.data_dir),
        "DOCKHAND_DATABASE_URL": core.settings.effective_database_url,
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr.strip().splitlines()[-1] == "True"


def test_diff_coverage_of_the_lines_a_change_added(core: Core, tmp_path: Path) -> None:
    repo = write(
        tmp_path / "repo",
        {k: v for k, v in PYTHON.items() if k != "tests/test_calc.py"}
        | {"tests/test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"},
    )
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    with (repo / "calc.py").open("a") as handle:
        handle.write("\n\ndef mul(a, b):\n    return a * b\n\n\ndef add_twice(a, b):\n    return add(add(a, b), b)\n")
    (repo / "tests/test_calc.py").write_text(
        "from calc import add, add_twice\n\n\ndef test_add():\n"
        "    assert add(1, 2) == 3\n    assert add_twice(1, 2) == 5\n"
    )
    subprocess.run([*git, "commit", "-qam", "change"], check=True)
    _, status, result, _ = run(core, repo, base="main~1")
    diff = project(result, "python")["diff_coverage"]
    # Added: two defs (run at import), two bodies; mul's body is never run.
    assert status is TaskStatus.SUCCEEDED and diff["total"] == 4 and diff["covered"] == 3
    assert diff["uncovered"] == {"calc.py": [16]}


@pytest.mark.parametrize(
    "files,expected",
    [
        ({"README.md": "nothing to test\n"}, "no test projects found"),
        (
            {"requirements.txt": "dockhand-no-such-package-xyz==0.0.1\n", "test_x.py": "def test_x():\n    pass\n"},
            "install-failed",
        ),
        ({"pyproject.toml": PYTHON["pyproject.toml"], "calc.py": "x = 1\n", "tests/__init__.py": ""}, "no-tests"),
        (
            {**PYTHON, ".dockhand.toml": "[[project]]\npath = '.'\ntest = 'sleep 60'\ntimeout_seconds = 3\n"},
            "timed-out",
        ),
        (
            {**PYTHON, ".dockhand.toml": "[[project]]\npath = '.'\ntest = 'echo no report here'\n"},
            "no usable test report",
        ),
        ({**PYTHON, ".dockhand.toml": "[[project]]\npath = 'nowhere'\n"}, "no detected project"),
        (
            {
                **PYTHON,
                ".dockhand.toml": "[sandbox]\ndisk = '64m'\n[[project]]\npath = '.'\n"
                "test = 'head -c 100M /dev/zero > big'\n",
            },
            "disk limit reached (/workspace full)",
        ),
    ],
)
def test_bad_repositories_end_in_a_clear_result(
    core: Core, tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    task_id, status, result, _ = run(core, write(tmp_path / "bad", files))
    assert status is TaskStatus.FAILED
    task = core.task(task_id)
    described = f"{task.error} {result}"
    assert expected in described, described
    assert core.list_sandboxes() == [], "the sandbox is removed whatever happened"


def test_a_repository_asks_for_more_disk_only_up_to_the_operator_s_maximum(core: Core, tmp_path: Path) -> None:
    files = {
        **PYTHON,
        ".dockhand.toml": "[sandbox]\ndisk = '1t'\n[[project]]\npath = '.'\ntest = 'df -Pk /workspace'\n",
    }
    _, _, _, log = run(core, write(tmp_path / "greedy", files))
    assert "asks for 1t of sandbox disk; this dockhand allows at most 10g" in log
    size_kib = int(re.search(r"^\S+\s+(\d+)\s+\d+\s+\d+\s+\S+\s+/workspace$", log, re.MULTILINE)[1])  # type: ignore[index]
    assert 9 * 1024**2 < size_kib <= 10 * 1024**2


def test_requests_from_the_network_cannot_read_local_paths(core: Core) -> None:
    task_id = core.submit(
        TaskSubmission(
            type=TaskType.TEST_PIPELINE,
            payload={"source": str(EXAMPLE)},
            trigger_source=TriggerSource.API,
            max_retries=0,
        )
    ).task.id
    task = core.run_now(task_id)
    assert task.status is TaskStatus.FAILED and "refusing git source" in (task.error or "")


MOCHA = {
    "package.json": '{"name": "calc", "version": "1.0.0", "scripts": {"test": "mocha"},\n'
    ' "devDependencies": {"mocha": "^10.2.0", "c8": "^9.1.0"}}\n',
    "calc.js": "function add(a, b) { return a + b; }\nfunction unused(x) {\n  return x * 2;\n}\nmodule.exports = { add, unused };\n",
    "test/calc.test.js": "const assert = require('assert');\nconst { add } = require('../calc');\n"
    "describe('calc', () => {\n  it('adds', () => { assert.strictEqual(add(1, 2), 3); });\n"
    "  it('fails', () => { assert.strictEqual(add(1, 1), 3); });\n  it.skip('skipped', () => {});\n});\n",
}


def test_javascript_mocha_with_c8_matches_their_own_reports(core: Core, tmp_path: Path) -> None:
    task_id, status, result, log = run(core, write(tmp_path / "js", MOCHA))
    js = project(result, "javascript")
    assert status is TaskStatus.FAILED and js["framework"] == "mocha" and js["package_manager"] == "npm"
    xunit = (core.artifacts.get(task_id, "javascript-root/junit.xml") or b"").decode()
    own = {k: int(v) for k, v in re.findall(r'\b(tests|failures|errors|skipped)="(\d+)"', xunit)[:4]}
    # Mocha's xunit header counts a failed assertion under errors while its <testcase> says <failure>.
    assert js["totals"]["failed"] + js["totals"]["errors"] == own["failures"] + own["errors"] == 1
    assert js["totals"]["skipped"] == own["skipped"]
    assert sum(js["totals"].values()) == own["tests"]
    printed = re.search(r"All files\s*\|\s*[\d.]+\s*\|\s*[\d.]+\s*\|\s*[\d.]+\s*\|\s*([\d.]+)", log)
    assert printed and js["coverage_percent"] == float(printed[1])


def test_dockhand_run_test_json(
    sandbox_image: str, tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from tests.support.cli import cli_invoker

    invoke = cli_invoker(monkeypatch, tmp_path, sqlite_url)
    out = json.loads(invoke("run", "test", str(EXAMPLE), "--json").stdout)
    assert out["status"] == "passed" and out["commit"]
    [py] = out["projects"]
    assert {k: py[k] for k in ("language", "framework", "passed", "failed", "skipped", "errors")} == {
        "language": "python",
        "framework": "pytest",
        "passed": 3,
        "failed": 0,
        "skipped": 1,
        "errors": 0,
    }
    assert isinstance(py["coverage_percent"], float) and py["duration_seconds"] > 0
    # The run's own time, split: the project's commands and what dockhand itself spent around them.
    took = out["timings"]
    assert took["commands_seconds"] >= py["duration_seconds"] > 0 and took["overhead_seconds"] > 0
    assert took["total_seconds"] == pytest.approx(took["commands_seconds"] + took["overhead_seconds"], abs=0.02)
