"""A noxfile's test session, read as text (parsed, never imported or run): the commands its `session.run`
calls make and the dependencies its `session.install` calls name.

Only what the file states literally is taken: string arguments, and names bound at module level to a
string or a list/tuple of strings. A call with arguments computed at run time is left out (a `run` whose
command cannot be known is not guessed at); `*session.posargs` is empty, as on a plain `nox` run.
"""

from __future__ import annotations

import ast
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.testrun.plan import read_text

# Session names that mean "the tests", best first; otherwise the first session that runs a test tool.
TEST_SESSIONS = ("tests", "test", "unit", "unit_tests", "pytest", "testing")
_MAX_NOXFILE = 200_000


@dataclass(frozen=True)
class NoxSession:
    name: str
    commands: tuple[str, ...]
    requirements: tuple[str, ...] = ()  # requirement strings or `-r file` / `-c file`
    extras: tuple[str, ...] = ()  # from `.[test]` / `-e .[test]`
    installs_project: bool = False


@dataclass
class _Reader:
    constants: dict[str, list[str]] = field(default_factory=dict)

    def strings(self, node: ast.expr) -> list[str] | None:
        """A string argument, or a name/list of strings known at module level; None when not literal."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [node.value]
        if isinstance(node, ast.Name) and node.id in self.constants:
            return list(self.constants[node.id])
        if isinstance(node, ast.List | ast.Tuple):
            out: list[str] = []
            for item in node.elts:
                value = self.strings(item.value if isinstance(item, ast.Starred) else item)
                if value is None:
                    return None
                out += value
            return out
        if isinstance(node, ast.Starred):
            if _is_posargs(node.value):
                return []
            return self.strings(node.value)
        return None

    def arguments(self, call: ast.Call) -> list[str] | None:
        out: list[str] = []
        for arg in call.args:
            value = [] if isinstance(arg, ast.Starred) and _is_posargs(arg.value) else self.strings(arg)
            if value is None:
                return None
            out += value
        return out


def nox_sessions(directory: Path) -> list[NoxSession]:
    """The sessions of `noxfile.py`, in file order (empty when there is none or it does not parse)."""
    text = read_text(directory / "noxfile.py", limit=_MAX_NOXFILE)
    if not text:
        return []
    try:
        module = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return []
    reader = _Reader(constants=_module_constants(module))
    sessions = []
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and (name := _session_name(node)) is not None:
            sessions.append(_read_session(reader, node, name))
    return sessions


def pick_test_session(sessions: list[NoxSession], runs_tests: Callable[[str], bool]) -> NoxSession | None:
    """The session named for tests, else the first whose commands run a test tool (`runs_tests(command)`)."""
    runnable = [s for s in sessions if s.commands]
    for wanted in TEST_SESSIONS:
        if found := next((s for s in runnable if s.name == wanted), None):
            return found
    return next((s for s in runnable if any(runs_tests(c) for c in s.commands)), None)


def _module_constants(module: ast.Module) -> dict[str, list[str]]:
    constants: dict[str, list[str]] = {}
    reader = _Reader(constants=constants)
    for node in module.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = reader.strings(node.value)
            if value is not None:
                constants[node.targets[0].id] = value
    return constants


def _session_name(function: ast.FunctionDef) -> str | None:
    """The session's name when `function` is decorated as one (`@nox.session`, `@session(name=…)`)."""
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call else decorator
        dotted = _dotted(target)
        if dotted not in ("nox.session", "session", "nox.session_decorator"):
            continue
        if call is not None:
            for keyword in call.keywords:
                if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
        return function.name
    return None


def _read_session(reader: _Reader, function: ast.FunctionDef, name: str) -> NoxSession:
    session = function.args.args[0].arg if function.args.args else "session"
    commands: list[str] = []
    requirements: list[str] = []
    extras: list[str] = []
    installs_project = False
    for call in _calls_on(function, session):
        method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
        args = reader.arguments(call)
        if args is None or not args:
            continue
        if method == "run":
            commands.append(shlex.join(args))
        elif method == "install":
            found = _install_arguments(args)
            requirements += found.requirements
            extras += found.extras
            installs_project = installs_project or found.installs_project
    return NoxSession(
        name=name,
        commands=tuple(commands),
        requirements=tuple(dict.fromkeys(requirements)),
        extras=tuple(dict.fromkeys(extras)),
        installs_project=installs_project,
    )


@dataclass
class _Install:
    requirements: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    installs_project: bool = False


def _install_arguments(args: list[str]) -> _Install:
    found = _Install()
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("-r", "-c", "--requirement", "--constraint") and index + 1 < len(args):
            flag = "-r" if arg in ("-r", "--requirement") else "-c"
            found.requirements.append(f"{flag} {args[index + 1]}")
            index += 2
            continue
        if arg in ("-e", "--editable"):
            index += 1
            continue
        if arg == "." or arg.startswith((".[", "./")) or arg.startswith("-e."):
            found.installs_project = True
            if "[" in arg and "]" in arg:
                inner = arg[arg.index("[") + 1 : arg.rindex("]")]
                found.extras += [e.strip() for e in inner.split(",") if e.strip()]
        elif not arg.startswith("-"):
            found.requirements.append(arg)
        index += 1
    return found


def _calls_on(function: ast.FunctionDef, session: str) -> Iterator[ast.Call]:
    """`session.run(...)` / `session.install(...)` calls in source order (nested blocks included)."""
    calls = [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == session
        and node.func.attr in ("run", "install")
    ]
    yield from sorted(calls, key=lambda c: (c.lineno, c.col_offset))


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_posargs(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "posargs"
