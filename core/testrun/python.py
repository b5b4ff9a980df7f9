"""A Python project: its virtualenv, its test dependencies, its runner and its coverage configuration.

The project's own way comes first (see `declared`); dockhand only adds what makes the results readable
without changing the command: `PYTEST_ADDOPTS=--junitxml=…`, unittest through its own runner with a
JUnit-writing result class, and coverage started in every Python process (`coverage.process_startup`)
under the project's own coverage configuration — unless the project measures coverage itself.
"""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

from core.testrun.declared import DeclaredTest, ProjectInstall, declared_python_test
from core.testrun.plan import (
    WORKSPACE,
    CoverageFormat,
    Language,
    ProjectPlan,
    ResultFormat,
    TestSource,
    read_text,
    reports_dir,
)

TOOLS = f"{WORKSPACE}/.git/dockhand-tools"  # sitecustomize.py and dockhand_unittest.py, written by the pipeline
SANDBOX_PYTHON = (3, 11)
# dockhand's default when the project has no coverage configuration: the code under test, not the tests.
_DEFAULT_COVERAGERC = (
    "[run]\nsource = .\nomit =\n    .venv/*\n    tests/*\n    test_*.py\n    */test_*.py\n    *_test.py\n"
    "    conftest.py\n    setup.py\n"
)
_TEST_EXTRAS = ("test", "tests", "testing", "dev")
_TEST_REQUIREMENTS = (
    "requirements-test.txt", "requirements_test.txt", "test-requirements.txt", "test_requirements.txt",
    "requirements-tests.txt", "requirements/test.txt", "requirements/tests.txt", "requirements/testing.txt",
    "tests/requirements.txt", "test/requirements.txt", "requirements-dev.txt", "requirements_dev.txt",
    "dev-requirements.txt", "requirements/dev.txt", "requirements/development.txt",
)  # fmt: skip
_PACKAGING = ("pyproject.toml", "setup.py", "setup.cfg")


def is_python(directory: Path, files: set[str]) -> bool:
    if {"pyproject.toml", "setup.py", "setup.cfg", "conftest.py", "pytest.ini", "tox.ini", "noxfile.py"} & files or any(
        re.fullmatch(r"requirements.*\.txt", f) for f in files
    ):
        return True
    # A bare repository of modules and tests (no packaging at all) still has tests to run.
    return (directory.name != "tests" and any(re.fullmatch(r"test_.*\.py|.*_test\.py", f) for f in files)) or (
        (directory / "tests").is_dir() and any((directory / "tests").glob("test_*.py"))
    )


def python_plan(directory: Path, rel: str, files: set[str]) -> ProjectPlan:
    declared = declared_python_test(directory, files)
    pyproject = _toml(directory / "pyproject.toml") if "pyproject.toml" in files else {}
    commands = list(declared.commands) if declared else [_default_command(directory, files)]
    framework = "unittest" if any(re.search(r"-m\s+unittest\b", c) for c in commands) else "pytest"
    if declared is None and not _uses_pytest(directory, files):
        framework = "unittest"
        commands = [_default_command(directory, files, unittest=True)]
    commands = [re.sub(r"-m\s+unittest\b", "-m dockhand_unittest", c) for c in commands]
    reports = reports_dir(Language.PYTHON, rel)
    junit = f"{reports}/junit.xml"
    env = {"PYTHONPATH": TOOLS, "PYTEST_ADDOPTS": f"--junitxml={junit} -p no:cacheprovider", "DOCKHAND_JUNIT": junit}
    prefix = [". .venv/bin/activate"]
    config = _coverage_config(directory, files, pyproject)
    rcfile = f"{WORKSPACE}/{rel}/{config}".replace("/./", "/") if config else f"{reports}/coveragerc"
    # A coverage configuration written for an installed copy (`include = */site-packages/pkg/*`) measures
    # nothing in a checkout: such a project gets tox's regular install; every other one an editable one.
    for_installed = config is not None and "site-packages" in read_text(directory / config)
    if not _measures_itself(directory, files, commands, pyproject):
        env |= {"COVERAGE_PROCESS_START": rcfile, "COVERAGE_FILE": f"{reports}/.coverage"}
        if config is None:
            prefix.append(f"printf %s {shlex.quote(_DEFAULT_COVERAGERC)} > {rcfile}")
    rc = f"--rcfile={shlex.quote(rcfile)}" if config or "COVERAGE_PROCESS_START" in env else ""
    after = (
        f". .venv/bin/activate; unset COVERAGE_PROCESS_START; python -m coverage combine -q --append {rc} "
        f">/dev/null 2>&1; python -m coverage json -q {rc} -o {reports}/coverage.json"
    )
    # A declared runner's deps are the whole set (tox installs nothing else); otherwise the requirement files.
    requirements = [] if declared is not None and declared.deps else _requirement_files(directory, files)
    install, refresh = _install(
        directory, files, declared, pyproject, requirements, for_installed=for_installed, framework=framework
    )
    return ProjectPlan(
        language=Language.PYTHON, root=rel, framework=framework, package_manager="pip",
        install=install,
        refresh_project=refresh,
        test=" && ".join(prefix + commands), results=ResultFormat.JUNIT, results_path=junit,
        coverage=CoverageFormat.COVERAGE_PY, coverage_path=f"{reports}/coverage.json", after_test=after,
        manifests=tuple(sorted({f for f in files if f in {*_PACKAGING, "tox.ini", "noxfile.py"}} | set(requirements))),
        cache_paths=(f"{WORKSPACE}/{rel}/.venv".replace("/./", "/").rstrip("/"),), env=env,
        test_source=declared.source if declared else TestSource.HEURISTIC,
        source_detail=declared.detail if declared else "",
    )  # fmt: skip


def _uses_pytest(directory: Path, files: set[str]) -> bool:
    """pytest unless the suite is plain unittest: every test module imports unittest and none has a
    module-level test function (pytest would run such a suite too, but without its `load_tests`)."""
    if {"conftest.py", "pytest.ini"} & files or (directory / "tests" / "conftest.py").exists():
        return True
    texts = [read_text(directory / f) for f in files if f in {*_PACKAGING, "tox.ini"} or f.startswith("requirements")]
    texts += [read_text(directory / f) for f in _TEST_REQUIREMENTS if "/" in f]
    if any("pytest" in text for text in texts):
        return True
    tests = [read_text(f) for f in _test_modules(directory)]
    unittest_only = bool(tests) and all(
        re.search(r"^\s*(?:import\s.*\bunittest\b|from\s+unittest\b)", t, re.M) and not re.search(r"^def test", t, re.M)
        for t in tests
    )
    return not unittest_only


def _test_modules(directory: Path) -> list[Path]:
    found = [*directory.glob("test_*.py"), *directory.glob("*_test.py")]
    for folder in ("tests", "test"):
        found += list((directory / folder).rglob("test*.py"))[:200] if (directory / folder).is_dir() else []
    return sorted(p for p in found if not p.is_symlink())[:50]


def _default_command(directory: Path, files: set[str], *, unittest: bool = False) -> str:
    if not unittest:
        return "python -m pytest"
    # `discover` from the root finds only packages; a tests/ folder without __init__.py is a start directory.
    for folder in ("tests", "test"):
        if (directory / folder).is_dir() and not (directory / folder / "__init__.py").exists():
            return f"python -m unittest discover -s {folder} -t {folder}"
    return "python -m unittest discover"


# --- test dependencies: one consistent set, installed in one resolution ---------------------------
def _requirement_files(directory: Path, files: set[str]) -> list[str]:
    """The base requirements and at most one test requirements file (never every pin file one after another)."""
    chosen = []
    if "requirements.txt" in files:
        chosen.append("requirements.txt")
    else:
        versioned = _versioned_requirements(files)
        if versioned:
            chosen.append(versioned)
    test = next((f for f in _TEST_REQUIREMENTS if _is_file(directory / f)), None)
    if test:
        chosen.append(test)
    return chosen


def _versioned_requirements(files: set[str]) -> str | None:
    """Of requirements-py39.txt / requirements-py3.11.txt …, the newest one the sandbox's Python can use."""
    best: tuple[tuple[int, int], str] | None = None
    for name in files:
        if match := re.fullmatch(r"requirements[-_.]?py(?P<major>3)\.?(?P<minor>\d+)\.txt", name):
            version = (int(match["major"]), int(match["minor"]))
            if version <= SANDBOX_PYTHON and (best is None or version > best[0]):
                best = (version, name)
    return best[1] if best else None


def _install(
    directory: Path,
    files: set[str],
    declared: DeclaredTest | None,
    pyproject: dict[str, Any],
    requirements: list[str],
    *,
    for_installed: bool,
    framework: str,
) -> tuple[str, str]:
    """The install command, and the one that puts the project in again over restored dependencies (for a
    regular install, which copies it; none for an editable one, which points at the checkout)."""
    args = [f"-r {shlex.quote(r)}" for r in requirements]
    refresh = ""
    extras: list[str] = list(declared.extras) if declared else []
    if declared is not None and declared.deps:
        args += [_requirement_arg(d) for d in declared.deps]
    elif group := _dependency_group(pyproject):
        args += [shlex.quote(d) for d in group]
    elif not extras:
        available = _extras(directory, files, pyproject)
        extras = [next((e for e in _TEST_EXTRAS if e in available), "")] if available else []
    extras = [e for e in extras if e]
    mode = declared.project_install if declared else ProjectInstall.EDITABLE
    if set(_PACKAGING) & files and mode is not ProjectInstall.NONE:
        # tox installs the project as a regular package; dockhand does too where the coverage configuration
        # needs it. Otherwise editable: the same tests, coverage reported against the checkout's own paths.
        editable = "" if mode is ProjectInstall.REGULAR and for_installed else "-e"
        args.append(shlex.quote(f"{editable}.[{','.join(extras)}]" if extras else f"{editable}."))
        if not editable:
            refresh = f".venv/bin/pip install --quiet --no-deps --force-reinstall {args[-1]}"
    # An isolated venv, as tox and nox make: the system's packages (Debian's older pytest) must not satisfy
    # the project's own requirements in its place.
    # In the same resolution, unpinned: coverage (dockhand reads it) and pytest for a pytest run. A project
    # that pins either keeps its pin (pip honours it); one that names neither gets today's release.
    args += ["coverage", *(["pytest"] if framework == "pytest" else [])]
    return f"python3 -m venv .venv && .venv/bin/pip install --quiet {' '.join(dict.fromkeys(args))}", refresh


def _requirement_arg(entry: str) -> str:
    if match := re.fullmatch(r"-(?P<flag>[rc])\s*(?P<path>\S+)", entry):
        return f"-{match['flag']} {shlex.quote(match['path'].removeprefix('./'))}"
    return shlex.quote(entry)


def _extras(directory: Path, files: set[str], pyproject: dict[str, Any]) -> set[str]:
    found = set(_table(_table(pyproject, "project"), "optional-dependencies"))
    if "setup.cfg" in files:
        parser = configparser.RawConfigParser(strict=False)
        try:
            parser.read_string(read_text(directory / "setup.cfg"))
            if parser.has_section("options.extras_require"):
                found |= set(parser.options("options.extras_require"))
        except configparser.Error:
            pass
    if "setup.py" in files:
        text = read_text(directory / "setup.py")
        if block := re.search(r"extras_require\s*=\s*\{(?P<body>.*?)\}", text, re.DOTALL):
            found |= set(re.findall(r"['\"]([\w.-]+)['\"]\s*:", block["body"]))
    return found


def _dependency_group(pyproject: dict[str, Any]) -> list[str]:
    """PEP 735 `[dependency-groups]`: the test group's requirements, includes resolved."""
    groups = _table(pyproject, "dependency-groups")
    name = next((n for n in _TEST_EXTRAS if n in groups), None)
    return _group_requirements(groups, name, set()) if name else []


def _group_requirements(groups: dict[str, Any], name: str, seen: set[str]) -> list[str]:
    if name in seen or not isinstance(groups.get(name), list):
        return []
    seen.add(name)
    out: list[str] = []
    for item in groups[name]:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            out += _group_requirements(groups, item["include-group"], seen)
    return out


# --- coverage -----------------------------------------------------------------------------------
def _coverage_config(directory: Path, files: set[str], pyproject: dict[str, Any]) -> str | None:
    """The project's coverage configuration file, where coverage.py itself would look for it."""
    if ".coveragerc" in files:
        return ".coveragerc"
    for name in ("setup.cfg", "tox.ini"):
        if name in files and re.search(r"^\[coverage:", read_text(directory / name), re.MULTILINE):
            return name
    return "pyproject.toml" if _table(_table(pyproject, "tool"), "coverage") else None


def _measures_itself(directory: Path, files: set[str], commands: list[str], pyproject: dict[str, Any]) -> bool:
    """pytest-cov in the command or in pytest's addopts, or `coverage run`: then its data is read, not replaced."""
    if any(re.search(r"--cov\b|coverage\s+run\b", c) for c in commands):
        return True
    addopts = str(_table(_table(_table(pyproject, "tool"), "pytest"), "ini_options").get("addopts", ""))
    for name in ("pytest.ini", "setup.cfg", "tox.ini"):
        if name in files:
            addopts += " ".join(re.findall(r"^addopts\s*=(.*(?:\n[ \t]+.*)*)", read_text(directory / name), re.M))
    return "--cov" in addopts


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError:
        return {}


def _table(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()
