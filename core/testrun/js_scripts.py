"""Reading a package.json script's command line: which test runner it ends in, through which wrappers
(cross-env, nyc, c8, npx…), and whether reporter flags appended to it would reach that runner. The
script is tokenised like a shell would (`shlex`) and never run.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

JS_FRAMEWORKS = ("vitest", "jest", "mocha")  # the runners dockhand can call itself when no script says how
SCRIPTED_RUNNERS = (*JS_FRAMEWORKS, "ava", "tap", "tape")  # and those it can read when a script runs them
# What `npm init` writes: a script that declares there are no tests.
PLACEHOLDER_SCRIPT = re.compile(r"""^echo\s+["']?Error: no test specified["']?\s*&&\s*exit 1$""")
RUNNERS = ("jest", "vitest", "mocha", "tape", "tap", "ava", "node-test")
TAP_RUNNERS = ("tape", "tap", "node-test")
_RUNNER_BINARIES = {"jest": "jest", "vitest": "vitest", "mocha": "mocha", "_mocha": "mocha", "tape": "tape"}
_RUNNER_BINARIES |= {"tap": "tap", "ava": "ava"}
# Commands that run the command after them (their own options and VAR=value first).
_WRAPPERS = {"env", "cross-env", "cross-env-shell", "npx", "nyc", "c8", "dotenv", "time", "nice", "exec"}
COVERAGE_WRAPPERS = ("nyc", "c8")
_SEPARATORS = {"&&", "||", ";", "|", "&", "\n"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class ScriptRunner:
    """What one `scripts.test` runs, as far as its text says."""

    runner: str  # one of RUNNERS, or "unknown"
    last: bool  # the runner is the script's last command: `npm test -- <flags>` reaches it
    coverage: str | None = None  # "nyc", "c8", "jest" or "vitest" when the script itself measures coverage
    nested: str | None = None  # `npm run <name>`: the script that really runs the tests


def parse_script(script: str, scripts: dict[str, str] | None = None, depth: int = 0) -> ScriptRunner:
    """The runner a test script invokes, looking through `&&`/`||`/`;`, wrappers and `npm run <other>`."""
    commands = split_commands(script)
    coverage = next((w for c in commands for w in COVERAGE_WRAPPERS if w in _wrappers_of(c)), None)
    for position, command in enumerate(commands):
        runner, rest = _runner_of(command)
        last = position == len(commands) - 1
        if runner is not None:
            if runner == "jest" and any(
                a == "--coverage" or a.startswith(("--coverage=", "--collectCoverage")) for a in rest
            ):
                coverage = coverage or "jest"
            if runner == "vitest" and any(a == "--coverage" or a.startswith("--coverage.enabled") for a in rest):
                coverage = coverage or "vitest"
            return ScriptRunner(runner=runner, last=last, coverage=coverage)
        other = _nested_script(command)
        if other and scripts and isinstance(scripts.get(other), str) and depth < 3:
            inner = parse_script(scripts[other], scripts, depth + 1)
            if inner.runner != "unknown":  # `npm run lint && npm run unit`: the one that runs tests
                # `npm run x` would take appended flags as npm's own options: they never reach the inner runner.
                return ScriptRunner(runner=inner.runner, last=False, coverage=coverage or inner.coverage, nested=other)
    return ScriptRunner(runner="unknown", last=False, coverage=coverage)


def split_commands(script: str) -> list[list[str]]:
    """The script's simple commands (tokens), split where the shell would run another command."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    try:
        for token in lexer:
            if token in _SEPARATORS:
                commands.append([])
            else:
                commands[-1].append(token)
    except ValueError:  # an unbalanced quote: the shell would refuse it too, but read what there is
        pass
    return [c for c in commands if c]


def strip_leading(command: list[str]) -> list[str]:
    """Without VAR=value assignments and the options of the wrapper just stripped."""
    index = 0
    while index < len(command) and (_ASSIGNMENT.match(command[index]) or command[index].startswith("-")):
        index += 1
    return command[index:]


def _wrappers_of(command: list[str]) -> list[str]:
    seen = []
    tokens = strip_leading(command)
    while tokens and Path(tokens[0]).name in _WRAPPERS:
        seen.append(Path(tokens[0]).name)
        tokens = strip_leading(tokens[1:])
    return seen


def _runner_of(command: list[str]) -> tuple[str | None, list[str]]:
    """The runner a simple command starts (through wrappers), and its arguments."""
    tokens = strip_leading(command)
    while tokens:
        name = Path(tokens[0]).name
        if name in _WRAPPERS:
            tokens = _skip_wrapper_options(tokens[1:])
            continue
        if name in _RUNNER_BINARIES:
            return _RUNNER_BINARIES[name], tokens[1:]
        if name in ("node", "nodejs"):
            args = tokens[1:]
            if "--test" in args:
                return "node-test", args
            # `node node_modules/.bin/mocha …`, `node ./node_modules/jest/bin/jest.js …`
            script = next((a for a in args if not a.startswith("-")), "")
            for part in reversed(Path(script).with_suffix("").parts):
                if part in _RUNNER_BINARIES:
                    return _RUNNER_BINARIES[part], args[args.index(script) + 1 :]
        return None, []
    return None, []


def _skip_wrapper_options(tokens: list[str]) -> list[str]:
    """A wrapper's assignments and options; an option's separate value (`nyc --reporter lcov mocha`) too,
    unless that value is itself a runner or a wrapper."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if _ASSIGNMENT.match(token):
            index += 1
        elif token.startswith("-"):
            index += 1
            value = tokens[index] if index < len(tokens) else ""
            known = Path(value).name in _RUNNER_BINARIES or Path(value).name in _WRAPPERS or value == "node"
            if "=" not in token and value and not value.startswith("-") and not known and _takes_value(token):
                index += 1
        else:
            break
    return tokens[index:]


def _takes_value(option: str) -> bool:
    # The options of nyc/c8/npx that take a separate value; flags (--silent, --yes, --all) do not.
    return option in {"-r", "--reporter", "-x", "--exclude", "-n", "--include", "-p", "--package", "-o"} or (
        option in {"--reports-dir", "--report-dir", "--temp-dir", "--temp-directory", "--extension", "-e"}
    )


def _nested_script(command: list[str]) -> str | None:
    """`npm run x`, `npm run-script x`, `yarn x`, `yarn run x`, `pnpm x`, `pnpm run x`: the name x."""
    tokens = strip_leading(command)
    if not tokens or Path(tokens[0]).name not in ("npm", "yarn", "pnpm"):
        return None
    args = [t for t in tokens[1:] if not t.startswith("-")]
    if args and args[0] in ("run", "run-script"):
        args = args[1:]
    elif Path(tokens[0]).name == "npm" and args and args[0] not in ("test", "t"):
        return None
    return args[0] if args else None
