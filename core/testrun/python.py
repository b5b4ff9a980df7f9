"""A Python project: its virtualenv, its test dependencies, its runner and its coverage configuration."""

from __future__ import annotations

import re
import shlex
from dataclasses import replace
from pathlib import Path

from core.testrun.plan import WORKSPACE, CoverageFormat, Language, ProjectPlan, ResultFormat, read_text

# Coverage of the code under test, not of the tests or the virtualenv.
_PY_OMIT = "'.venv/*,tests/*,test_*.py,*/test_*.py,*_test.py,conftest.py'"


def is_python(directory: Path, files: set[str]) -> bool:
    if {"pyproject.toml", "setup.py", "setup.cfg", "conftest.py", "pytest.ini"} & files or _requirements(files):
        return True
    # A bare repository of modules and tests (no packaging at all) still has tests to run.
    return (directory.name != "tests" and any(re.fullmatch(r"test_.*\.py|.*_test\.py", f) for f in files)) or (
        (directory / "tests").is_dir() and any((directory / "tests").glob("test_*.py"))
    )


def _requirements(files: set[str]) -> list[str]:
    return sorted(f for f in files if re.fullmatch(r"requirements.*\.txt", f))


def python_plan(directory: Path, rel: str, files: set[str]) -> ProjectPlan:
    texts = " ".join(
        read_text(directory / f)
        for f in files
        if f in {"pyproject.toml", "setup.cfg", "tox.ini"} or f in _requirements(files)
    )
    test_files = sorted(directory.glob("test_*.py")) + sorted(directory.glob("tests/test_*.py"))
    texts += " ".join(read_text(f) for f in test_files[:20])
    uses_pytest = (
        "pytest" in texts
        or "conftest.py" in files
        or "pytest.ini" in files
        or (directory / "tests" / "conftest.py").exists()
    )
    steps = ["python3 -m venv --system-site-packages .venv"]
    steps += [f".venv/bin/pip install --quiet -r {shlex.quote(req)}" for req in _requirements(files)]
    if {"pyproject.toml", "setup.py", "setup.cfg"} & files:
        steps.append(".venv/bin/pip install --quiet -e .")
    plan = ProjectPlan(
        language=Language.PYTHON, root=rel, framework="pytest" if uses_pytest else "unittest",
        package_manager="pip", install=" && ".join(steps), test="", results=ResultFormat.JUNIT,
        results_path="", coverage=CoverageFormat.COVERAGE_PY,
        manifests=tuple(sorted(f for f in files if f in {"pyproject.toml", "setup.py", "setup.cfg"}
                               or f in _requirements(files))),
        cache_paths=(f"{WORKSPACE}/{rel}/.venv".replace("/./", "/").rstrip("/"),),
    )  # fmt: skip
    reports = plan.reports_dir
    # unittest suites run under pytest too (it collects TestCase classes), which gives JUnit XML for both.
    test = (
        f".venv/bin/python -m coverage run --source=. --omit={_PY_OMIT} -m pytest -p no:cacheprovider "
        f"--junitxml={reports}/junit.xml; status=$?; "
        f".venv/bin/python -m coverage json -q -o {reports}/coverage.json; exit $status"
    )
    return replace(plan, test=test, results_path=f"{reports}/junit.xml", coverage_path=f"{reports}/coverage.json")
