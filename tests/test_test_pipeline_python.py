"""Python projects run the way they say they run, in Docker: counts and coverage equal what the project's own
tools print in the same run (read from the log), not figures written into the test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.service import Core
from core.states import TaskStatus
from tests.test_test_pipeline import pipeline_core, project, run, write

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def core(core_factory, sandbox_image: str) -> Iterator[Core]:  # type: ignore[no-untyped-def]
    yield from pipeline_core(core_factory, sandbox_image)


SETUP = {"setup.py": "from setuptools import setup\nsetup(name='pkg', packages=['pkg'])\n"}


def coverage_total(log: str) -> int:
    """The TOTAL line of coverage.py's own report in the log: `TOTAL  5  1  2  1  71%`."""
    return int(re.findall(r"^TOTAL\s.*?(\d+)%$", log, re.MULTILINE)[-1])


def test_a_unittest_suite_keeps_its_load_tests_doctests(core: Core, tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", SETUP | {
        "pkg/__init__.py": "def double(x):\n    '''\n    >>> double(2)\n    4\n    '''\n    return 2 * x\n\n\n"
        "def half(x):\n    '''\n    >>> half(4)\n    2.0\n    '''\n    return x / 2\n",
        "tests/test_pkg.py": "import doctest\nimport unittest\n\nimport pkg\n\n\ndef load_tests(loader, tests, ignore):\n"
        "    tests.addTests(doctest.DocTestSuite(pkg))\n    return tests\n\n\nclass T(unittest.TestCase):\n"
        "    def test_double(self):\n        self.assertEqual(pkg.double(1), 2)\n\n"
        "    @unittest.skip('later')\n    def test_later(self):\n        pass\n",
    })  # fmt: skip
    _, status, result, log = run(core, repo)
    ran = int(re.findall(r"^Ran (\d+) tests", log, re.MULTILINE)[-1])  # unittest's own count
    py = project(result, "python")
    assert status is TaskStatus.SUCCEEDED and py["framework"] == "unittest" and ran == 4
    assert py["totals"] == {"passed": 3, "failed": 0, "skipped": 1, "errors": 0} and py["results_from"] == "report"


def test_test_requirements_are_installed_and_only_one_set_of_pins(core: Core, tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {
        "requirements-py36.txt": "tomli-w==0.4.0\n", "requirements-py39.txt": "tomli-w==1.0.0\n",
        "tests/requirements.txt": "text-unidecode==1.3\n",
        "tests/test_deps.py": "from importlib.metadata import version\n\nimport text_unidecode\n\n\n"
        "def test_the_py39_pins_won():\n    assert version('tomli-w') == '1.0.0'\n",
    })  # fmt: skip
    _, status, result, log = run(core, repo)
    assert status is TaskStatus.SUCCEEDED, log[-3000:]
    assert project(result, "python")["totals"]["passed"] == 1


def test_tox_commands_with_the_projects_coverage_configuration(core: Core, tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", SETUP | {
        "setup.cfg": "[coverage:run]\nsource = pkg\nbranch = true\n",
        "tox.ini": "[tox]\nenvlist = py311\n\n[testenv]\ncommands =\n    pytest -q {posargs}\n    coverage report\n",
        "pkg/__init__.py": "def sign(x):\n    if x > 0:\n        return 1\n    if x < 0:\n        return -1\n    return 0\n",
        "build_tools.py": "def build():\n    return 'not code under test'\n",
        "tests/test_sign.py": "import build_tools\nfrom pkg import sign\n\n\ndef test_positive():\n"
        "    assert sign(3) == 1\n",
    })  # fmt: skip
    _, status, result, log = run(core, repo)
    py = project(result, "python")
    assert status is TaskStatus.SUCCEEDED and py["test_source"] == "tox.ini", log[-3000:]
    assert set(py["coverage"]["files"]) == {"pkg/__init__.py"}  # the project's own `source`, not setup.py
    assert round(py["coverage_percent"]) == coverage_total(log)  # branches included, as coverage prints it


def test_pytest_cov_configured_by_the_project_is_read_not_replaced(core: Core, tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", SETUP | {
        "pytest.ini": "[pytest]\naddopts = --cov=pkg --cov-branch --cov-report=term\n",
        "tests/requirements.txt": "pytest-cov\n",
        "pkg/__init__.py": "def sign(x):\n    if x > 0:\n        return 1\n    return 0\n\n\ndef unused():\n    return 2\n",
        "tests/test_sign.py": "from pkg import sign\n\n\ndef test_positive():\n    assert sign(3) == 1\n",
    })  # fmt: skip
    _, status, result, log = run(core, repo)
    py = project(result, "python")
    assert status is TaskStatus.SUCCEEDED, log[-3000:]
    assert round(py["coverage_percent"]) == coverage_total(log)


def test_a_collection_error_names_its_cause(core: Core, tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {"tests/test_x.py": "import not_a_module_anywhere\n\n\ndef test_x():\n    pass\n"})
    _, status, result, _ = run(core, repo)
    py = project(result, "python")
    assert status is TaskStatus.FAILED and py["totals"]["errors"] == 1
    assert "not_a_module_anywhere" in py["failures"][0]["message"]
