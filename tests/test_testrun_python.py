"""How a Python project says its tests run, read from its own files: pure, on real-shaped checkouts."""

from __future__ import annotations

import re
from pathlib import Path

from core.testrun.detect import detect
from core.testrun.plan import Language, ProjectPlan, TestSource


def plan_of(root: Path, files: dict[str, str]) -> ProjectPlan:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return next(p for p in detect(root) if p.language is Language.PYTHON)


SETUP = {"setup.py": "from setuptools import setup\nsetup(name='x')\n"}


def test_tox_commands_and_deps_are_the_test_command(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SETUP | {
        "tox.ini": "[tox]\nenvlist = py39,py311,lint\n\n[testenv]\ndeps =\n    -r{toxinidir}/tests/requirements.txt\n"
        "    py27: mock\n    py{38,311}: ipython\n"
        "commands =\n    pip install -e .\n    pytest {posargs:tests} -q\n    - coverage report\n",
        "tests/requirements.txt": "hypothesis\n",
    })  # fmt: skip
    assert plan.test_source is TestSource.TOX and "[testenv] commands" in plan.source_detail
    assert plan.test.endswith("&& pytest tests -q && coverage report")
    assert "-r ./tests/requirements.txt" in (plan.install or "") or "-r tests/requirements.txt" in (plan.install or "")
    assert "mock" not in (plan.install or "") and " ipython" in (plan.install or "")  # factor lines


def test_tox_defaults_with_substitutions_inside_and_a_basetemp_of_their_own(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SETUP | {
        "tox.ini": "[testenv]\ncommands =\n    python -m pytest --basetemp={envtmpdir} "
        '{posargs: "{toxinidir}/pkg/test" "{toxinidir}/docs" --cov=pkg}\n',
    })  # fmt: skip
    assert plan.test.endswith('python -m pytest --basetemp=.venv/tmp  "./pkg/test" "./docs" --cov=pkg')


def test_unittest_suites_keep_their_own_runner_and_load_tests(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SETUP | {
        "tests/test_a.py": "import doctest, unittest\n\ndef load_tests(loader, tests, ignore):\n    return tests\n\n"
        "class T(unittest.TestCase):\n    def test_x(self):\n        pass\n",
    })  # fmt: skip
    assert plan.framework == "unittest" and "-m dockhand_unittest discover -s tests" in plan.test


def test_plain_test_functions_mean_pytest(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SETUP | {"tests/test_a.py": "import unittest\n\ndef test_x():\n    assert 1\n"})
    assert plan.framework == "pytest" and plan.test_source is TestSource.HEURISTIC


def test_one_consistent_set_of_requirements(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, {
        "requirements-py36.txt": "six==1.11.0\n", "requirements-py39.txt": "six==1.16.0\n",
        "requirements-py312.txt": "six==1.17.0\n", "requirements/test.txt": "pytest-mock\n", "test_x.py": "",
    })  # fmt: skip
    install = plan.install or ""
    assert "-r requirements-py39.txt" in install and "-r requirements/test.txt" in install
    assert "py36" not in install and "py312" not in install
    # One resolution for the project's own set; only the tools it lacks (coverage, pytest) come after it.
    assert len([step for step in install.split(" && ") if step.startswith(".venv/bin/pip install")]) == 1
    assert install.startswith("python3 -m venv .venv &&")  # isolated: Debian's own pytest is not the project's


def test_test_extras_and_dependency_groups(tmp_path: Path) -> None:
    extras = plan_of(tmp_path / "a", {
        "pyproject.toml": "[project]\nname='a'\nversion='1'\n[project.optional-dependencies]\ndocs=['sphinx']\n"
        "testing=['pytest-timeout']\n",
    })  # fmt: skip
    assert "'-e.[testing]'" in (extras.install or "")
    groups = plan_of(tmp_path / "b", {
        "pyproject.toml": "[project]\nname='b'\nversion='1'\n[dependency-groups]\nlint=['ruff']\n"
        "test=['pytest>=7', {include-group = 'extra'}]\nextra=['freezegun']\n",
    })  # fmt: skip
    assert "'pytest>=7' freezegun" in (groups.install or "") and "ruff" not in (groups.install or "")


def test_hatch_pdm_makefile_and_ci_workflow(tmp_path: Path) -> None:
    hatch = plan_of(tmp_path / "h", {
        "pyproject.toml": "[project]\nname='h'\nversion='1'\n[tool.hatch.envs.default]\ndependencies=['pytest-cov']\n"
        "[tool.hatch.envs.default.scripts]\ntest = 'pytest {args:tests}'\ncov = 'test --cov'\n",
    })  # fmt: skip
    assert hatch.test_source is TestSource.HATCH and hatch.test.endswith("pytest tests")
    assert "pytest-cov" in (hatch.install or "")
    pdm = plan_of(
        tmp_path / "p",
        {"pyproject.toml": "[project]\nname='p'\nversion='1'\n[tool.pdm.scripts]\ntest = {cmd = 'pytest -x'}\n"},
    )
    assert pdm.test_source is TestSource.PDM and pdm.test.endswith("pytest -x")
    make = plan_of(tmp_path / "m", SETUP | {"Makefile": "lint:\n\truff .\n\ntest: lint\n\tpython -m pytest -q\n"})
    assert make.test_source is TestSource.MAKEFILE and make.test.endswith("make test")
    tox_in_make = plan_of(tmp_path / "t", SETUP | {"Makefile": "test:\n\ttox\n"})
    assert tox_in_make.test_source is TestSource.HEURISTIC
    ci = plan_of(tmp_path / "c", SETUP | {
        ".github/workflows/ci.yml": "jobs:\n  test:\n    steps:\n      - run: pip install -e .[test]\n"
        "      - name: Test\n        run: |\n          python -m pytest -v tests/unit\n          codecov\n",
    })  # fmt: skip
    assert ci.test_source is TestSource.CI_WORKFLOW and ci.test.endswith("python -m pytest -v tests/unit")


def test_coverage_the_way_the_project_measures_it(tmp_path: Path) -> None:
    own = plan_of(tmp_path / "a", SETUP | {"setup.cfg": "[coverage:run]\nsource = pkg\nbranch = true\n"})
    assert own.env["COVERAGE_PROCESS_START"] == "/workspace/setup.cfg" and "printf" not in own.test
    default = plan_of(tmp_path / "b", SETUP)
    assert default.env["COVERAGE_PROCESS_START"].endswith("/coveragerc") and "printf" in default.test
    pytest_cov = plan_of(tmp_path / "c", SETUP | {"pytest.ini": "[pytest]\naddopts = --cov=pkg\n    -q\n"})
    assert "COVERAGE_PROCESS_START" not in pytest_cov.env  # pytest-cov measures; its data is read
    assert "coverage json" in (pytest_cov.after_test or "")


NOXFILE = """import nox

LINT_DEPS = ["ruff"]
TEST_DEPS = ("pytest", "pytest-mock>=3")


@nox.session
def lint(session):
    session.install(*LINT_DEPS)
    session.run("ruff", "check", ".")


@nox.session(python=["3.10", "3.11"], name="tests")
def run_tests(s: nox.Session) -> None:
    s.install("-r", "requirements/test.txt", *TEST_DEPS)
    s.install("-e", ".[test,yaml]")
    s.run("pytest", "-q", "--strict-markers", *s.posargs)
    s.run("python", "-m", "pytest", some_computed_list())  # not literal: not guessed at
    s.run("coverage", "report")
"""


def test_a_nox_test_session_is_read_never_run(tmp_path: Path) -> None:
    plan = plan_of(tmp_path, SETUP | {"noxfile.py": NOXFILE, "requirements/test.txt": "hypothesis\n"})
    assert plan.test_source is TestSource.NOX and plan.source_detail == "noxfile.py session tests"
    assert plan.test.endswith("&& pytest -q --strict-markers && coverage report"), plan.test
    install = plan.install or ""
    assert "-r requirements/test.txt" in install and "pytest-mock>=3" in install and "ruff" not in install
    assert "-e.[test,yaml]" in install


def test_a_noxfile_that_does_not_parse_or_has_no_test_session_falls_through(tmp_path: Path) -> None:
    broken = plan_of(tmp_path / "broken", SETUP | {"noxfile.py": "import nox\n@nox.session\ndef tests(s:\n"})
    assert broken.test_source is TestSource.HEURISTIC
    docs_only = "import nox\n@nox.session\ndef docs(session):\n    session.run('sphinx-build', 'docs', 'out')\n"
    assert plan_of(tmp_path / "docs", SETUP | {"noxfile.py": docs_only}).test_source is TestSource.HEURISTIC
    # No session named for tests, but one that runs a test tool.
    other = "import nox\n@nox.session\ndef check(session):\n    session.install('.')\n    session.run('pytest')\n"
    assert plan_of(tmp_path / "other", SETUP | {"noxfile.py": other}).source_detail == "noxfile.py session check"


def test_tox_installs_the_project_as_a_package_where_the_coverage_configuration_expects_that(tmp_path: Path) -> None:
    tox = "[testenv]\ndeps = pytest\ncommands = pytest\n"
    installed = plan_of(tmp_path / "a", SETUP | {
        "tox.ini": tox, "setup.cfg": "[coverage:report]\ninclude = */site-packages/pkg/*\n",
    })  # fmt: skip
    assert re.search(r"pip install --quiet pytest \.(\s|$)", installed.install or "") and "-e." not in str(
        installed.install
    )
    # Restored dependencies hold the copy installed then: it is put in again from this checkout.
    assert installed.refresh_project == ".venv/bin/pip install --quiet --no-deps --force-reinstall ."
    checkout = plan_of(tmp_path / "b", SETUP | {"tox.ini": tox, "setup.cfg": "[coverage:run]\nsource = pkg\n"})
    assert "-e." in (checkout.install or "")  # the same figures, reported against the checkout's paths
    assert checkout.refresh_project == ""  # editable: the installed project is the checkout itself
    develop = plan_of(tmp_path / "c", SETUP | {
        "tox.ini": tox + "usedevelop = true\n", "setup.cfg": "[coverage:report]\ninclude = */site-packages/pkg/*\n",
    })  # fmt: skip
    assert "-e." in (develop.install or "")
    skipped = plan_of(tmp_path / "d", SETUP | {"tox.ini": tox + "skip_install = true\n"})
    assert "-e." not in str(skipped.install) and not re.search(r"\s\.(\s|$)", str(skipped.install))
