"""How a Python project says its tests run: tox, a nox session, hatch or pdm scripts, a Makefile `test`
target, or the test steps of its CI workflow. Read, never executed as what they are (no tox, no nox, no
workflow runner): the commands and their test dependencies are taken out and run in dockhand's own
sandbox venv.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from core.testrun.noxfile import nox_sessions, pick_test_session
from core.testrun.plan import TestSource, read_text

# A command that runs tests (not one that lints, builds docs or uploads coverage).
_TEST_TOOL = re.compile(r"(?:^|[\s/])(?:pytest|py\.test|-m\s+pytest|-m\s+unittest|-m\s+nose2?|nosetests|trial)\b")
_COVERAGE_ONLY = re.compile(r"^(?:python3?\s+-m\s+)?coverage\s+(?:report|xml|html|json|combine|erase|lcov)\b")
_ONLY_OFFLINE = re.compile(r"\b(?:pip|uv|poetry|pdm)\s+(?:install|sync|lock)\b|\bcurl\b|\bwget\b|\bcodecov\b")


class ProjectInstall(StrEnum):
    """How the test environment has the project itself."""

    EDITABLE = "editable"  # `pip install -e .` (tox's usedevelop; dockhand's default)
    REGULAR = "regular"  # `pip install .`, as tox does unless told otherwise
    NONE = "none"  # tox's skip_install: the tests import it from the checkout


@dataclass(frozen=True, kw_only=True)
class DeclaredTest:
    """The project's own test commands (run in order) and the dependencies it declares for them."""

    source: TestSource
    detail: str
    commands: tuple[str, ...]
    deps: tuple[str, ...] = ()  # requirement strings, or `-r file` entries
    extras: tuple[str, ...] = ()
    project_install: ProjectInstall = ProjectInstall.EDITABLE


def declared_python_test(directory: Path, files: set[str]) -> DeclaredTest | None:
    for reader in (_tox, _nox, _hatch, _pdm, _makefile, _workflow):
        found = reader(directory, files)
        if found is not None and found.commands:
            return found
    return None


# --- tox ----------------------------------------------------------------------------------------
_TOX_FACTOR = re.compile(r"^(?P<factors>[\w.,!{}-]+):\s+(?P<rest>.*)$")


def _tox(directory: Path, files: set[str]) -> DeclaredTest | None:
    text, name = "", ""
    if "tox.ini" in files:
        text, name = read_text(directory / "tox.ini"), "tox.ini"
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    env = "testenv"
    if not parser.has_option(env, "commands"):
        envs = _envlist(parser)
        env = next((f"testenv:{e}" for e in envs if parser.has_option(f"testenv:{e}", "commands")), "")
        if not env:
            return None
    commands = [_tox_substitute(line) for line in _tox_lines(_get(parser, env, "commands"))]
    deps = [_tox_substitute(line) for line in _tox_lines(_get(parser, env, "deps") or _get(parser, "testenv", "deps"))]
    extras = _tox_lines(_get(parser, env, "extras") or _get(parser, "testenv", "extras"))
    commands = [c.lstrip("- ").strip() for c in commands if c.strip()]
    return DeclaredTest(
        source=TestSource.TOX,
        detail=f"{name} [{env}] commands",
        commands=tuple(_runnable(commands)),
        deps=tuple(d for d in deps if d),
        extras=tuple(e for line in extras for e in re.split(r"[,\s]+", line) if e),
        project_install=_tox_install(parser, env),
    )


def _tox_install(parser: configparser.RawConfigParser, env: str) -> ProjectInstall:
    def flag(option: str) -> bool:
        value = _get(parser, env, option) or _get(parser, "testenv", option)
        return value.strip().lower() in ("true", "1", "yes")

    if flag("skip_install"):
        return ProjectInstall.NONE
    return ProjectInstall.EDITABLE if flag("usedevelop") or flag("use_develop") else ProjectInstall.REGULAR


def _envlist(parser: configparser.RawConfigParser) -> list[str]:
    raw = _get(parser, "tox", "envlist") or _get(parser, "tox", "env_list")
    return [e.strip() for e in re.split(r"[,\n]", raw) if e.strip() and "{" not in e]


def _get(parser: configparser.RawConfigParser, section: str, option: str) -> str:
    return parser.get(section, option) if parser.has_option(section, option) else ""


def _tox_lines(value: str) -> list[str]:
    """tox's multi-line values: continuation backslashes joined, comments and other factors' lines dropped."""
    joined = re.sub(r"\\\s*\n\s*", " ", value)
    lines = []
    for line in joined.splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if match := _TOX_FACTOR.match(line):
            factors = {f.strip() for f in re.split(r"[,{}-]", match["factors"])}
            if not factors & {"py", "py3", "py311", "cov", "coverage", "test", "tests"}:
                continue
            line = match["rest"]
        lines.append(line)
    return lines


def _tox_substitute(line: str) -> str:
    line = _posargs_default(line)
    line = re.sub(r"\{env:[^:}]+:([^}]*)\}", r"\1", line)
    replacements = {
        "{posargs}": "", "{toxinidir}": ".", "{tox_root}": ".", "{envpython}": "python", "{env_python}": "python",
        "{envbindir}": ".venv/bin", "{env_bin_dir}": ".venv/bin",
        # pytest removes and recreates a --basetemp: a folder of its own, never /tmp itself.
        "{envtmpdir}": ".venv/tmp", "{env_tmp_dir}": ".venv/tmp",
        "{envdir}": ".venv", "{env_dir}": ".venv", "{envsitepackagesdir}": "", "{envname}": "py",
    }  # fmt: skip
    for key, value in replacements.items():
        line = line.replace(key, value)
    return re.sub(r"\{[^}]*\}", "", line).strip()


def _posargs_default(line: str) -> str:
    """`{posargs:DEFAULT}` → DEFAULT, where DEFAULT may hold substitutions of its own (`{toxinidir}/tests`)."""
    start = line.find("{posargs:")
    while start != -1:
        depth, end = 0, start
        for end in range(start, len(line)):
            depth += {"{": 1, "}": -1}.get(line[end], 0)
            if depth == 0:
                break
        line = line[:start] + line[start + len("{posargs:") : end] + line[end + 1 :]
        start = line.find("{posargs:")
    return line


# --- nox ----------------------------------------------------------------------------------------
def _nox(directory: Path, files: set[str]) -> DeclaredTest | None:
    if "noxfile.py" not in files:
        return None
    session = pick_test_session(nox_sessions(directory), lambda command: bool(_TEST_TOOL.search(command)))
    if session is None:
        return None
    return DeclaredTest(
        source=TestSource.NOX,
        detail=f"noxfile.py session {session.name}",
        commands=tuple(_runnable(list(session.commands))),
        deps=session.requirements,
        extras=session.extras,
    )


# --- hatch and pdm scripts ----------------------------------------------------------------------
def _pyproject(directory: Path, files: set[str]) -> dict[str, Any]:
    if "pyproject.toml" not in files:
        return {}
    try:
        return tomllib.loads(read_text(directory / "pyproject.toml"))
    except tomllib.TOMLDecodeError:
        return {}


def _hatch(directory: Path, files: set[str]) -> DeclaredTest | None:
    envs = _dig(_pyproject(directory, files), "tool", "hatch", "envs")
    for env_name in ("test", "tests", "default"):
        found = envs.get(env_name) if isinstance(envs, dict) else None
        env: dict[str, Any] = found if isinstance(found, dict) else {}
        scripts = env.get("scripts")
        if not isinstance(scripts, dict):
            continue
        for script in ("test", "tests", "cov", "test-cov"):
            value = scripts.get(script)
            commands = [value] if isinstance(value, str) else value if isinstance(value, list) else []
            commands = [_expand_hatch(str(c), scripts) for c in commands]
            if commands:
                deps = [*_strings(env.get("dependencies")), *_strings(env.get("extra-dependencies"))]
                return DeclaredTest(
                    source=TestSource.HATCH,
                    detail=f"pyproject.toml [tool.hatch.envs.{env_name}.scripts] {script}",
                    commands=tuple(_runnable(commands)),
                    deps=tuple(deps),
                    extras=tuple(_strings(env.get("features"))),
                )
    return None


def _expand_hatch(command: str, scripts: dict[str, Any]) -> str:
    command = re.sub(r"\{args(?::([^}]*))?\}", lambda m: m[1] or "", command)
    first, _, rest = command.partition(" ")
    if first in scripts and isinstance(scripts[first], str):  # one script calling another by name
        return f"{_expand_hatch(scripts[first], {})} {rest}".strip()
    return command.strip()


def _pdm(directory: Path, files: set[str]) -> DeclaredTest | None:
    data = _pyproject(directory, files)
    scripts = _dig(data, "tool", "pdm", "scripts")
    value = scripts.get("test") if isinstance(scripts, dict) else None
    if isinstance(value, dict):
        value = value.get("cmd") or value.get("shell")
    command = " ".join(value) if isinstance(value, list) else value
    if not isinstance(command, str) or not command.strip():
        return None
    groups = _dig(data, "tool", "pdm", "dev-dependencies")
    deps = [d for name in ("test", "tests", "testing", "dev") for d in _strings(_dig(groups, name))][:200]
    return DeclaredTest(
        source=TestSource.PDM, detail="pyproject.toml [tool.pdm.scripts] test", commands=(command,), deps=tuple(deps)
    )


# --- Makefile and CI workflow ---------------------------------------------------------------------
_MAKE_TARGET = re.compile(r"^(?P<targets>[\w .-]+?)\s*:(?!=)(?P<prereqs>[^\n]*)$")


def makefile_test_recipe(directory: Path, files: set[str]) -> tuple[str, list[str]] | None:
    """(the makefile's name, the commands of its `test` target's recipe), when it has one."""
    name = next((f for f in ("GNUmakefile", "Makefile", "makefile") if f in files), None)
    if name is None:
        return None
    recipe: list[str] = []
    current = False
    for line in read_text(directory / name).splitlines():
        if line.startswith("\t"):
            if current:
                recipe.append(line.strip().lstrip("@-"))
            continue
        match = _MAKE_TARGET.match(line)
        current = bool(match and "test" in match["targets"].split())
    return (name, recipe) if recipe else None


def _makefile(directory: Path, files: set[str]) -> DeclaredTest | None:
    found = makefile_test_recipe(directory, files)
    if found is None:
        return None
    name, recipe = found
    # Only a recipe that runs a test tool itself (not one that calls tox or installs with the network).
    if not any(_TEST_TOOL.search(line) for line in recipe) or any(_ONLY_OFFLINE.search(line) for line in recipe):
        return None
    return DeclaredTest(source=TestSource.MAKEFILE, detail=f"{name} target test", commands=("make test",))


def _workflow(directory: Path, files: set[str]) -> DeclaredTest | None:
    folder = directory / ".github" / "workflows"
    if folder.is_symlink() or not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.y*ml"))[:20]:
        commands = []
        for step in re.findall(r"^\s*(?:-\s+)?run:\s*(?:[|>][-+]?\s*\n(?P<block>(?:\s{6,}.*\n?)+)|(?P<line>.+))",
                               read_text(path), re.MULTILINE):  # fmt: skip
            text = step[0] or step[1]
            for line in text.splitlines():
                line = line.strip()
                if _TEST_TOOL.search(line) and "${{" not in line and not _ONLY_OFFLINE.search(line):
                    commands.append(line)
        if commands:
            return DeclaredTest(
                source=TestSource.CI_WORKFLOW,
                detail=f".github/workflows/{path.name}: {commands[0][:80]}",
                commands=(commands[0],),
            )
    return None


def _runnable(commands: list[str]) -> list[str]:
    """The commands that run tests or measure them (a trailing `coverage report` is the project's, too)."""
    return [c for c in commands if (_TEST_TOOL.search(c) or _COVERAGE_ONLY.match(c)) and not _ONLY_OFFLINE.search(c)]


def _dig(data: Any, *keys: str) -> Any:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if data is not None else {}


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []
