"""A JavaScript/TypeScript project: its package manager, its test runner, and how to read their reports.

The project's own `scripts.test` is the test command, run through its package manager: its environment,
its flags and its wrappers (cross-env, nyc, c8…) are what the project means by "the tests". dockhand only
adds what makes the results readable, and only where that cannot change what runs:

- reporter flags, appended with `npm test -- …`, which reach only the script's last command: so only when
  the runner is that command;
- otherwise (and for TAP runners, whose output is their report) the runner's own summary is read from the
  output (`core.testrun.summary`), and the result says so;
- coverage is the project's own measurement (nyc, c8, jest or vitest coverage), written out in the formats
  dockhand reads after the run; a project that measures nothing gets no second tool, except a declared c8.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.testrun.declared import makefile_test_recipe
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

_JS_FRAMEWORKS = ("vitest", "jest", "mocha")  # the runners dockhand can call itself when no script says how
_SCRIPTED = (*_JS_FRAMEWORKS, "ava", "tap", "tape")  # and those it can read when a script runs them
# What `npm init` writes: a script that declares there are no tests.
_PLACEHOLDER = re.compile(r"""^echo\s+["']?Error: no test specified["']?\s*&&\s*exit 1$""")
RUNNERS = ("jest", "vitest", "mocha", "tape", "tap", "ava", "node-test")
_TAP_RUNNERS = ("tape", "tap", "node-test")
_RUNNER_BINARIES = {"jest": "jest", "vitest": "vitest", "mocha": "mocha", "_mocha": "mocha", "tape": "tape"}
_RUNNER_BINARIES |= {"tap": "tap", "ava": "ava"}
# Commands that run the command after them (their own options and VAR=value first).
_WRAPPERS = {"env", "cross-env", "cross-env-shell", "npx", "nyc", "c8", "dotenv", "time", "nice", "exec"}
_COVERAGE_WRAPPERS = ("nyc", "c8")
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
    commands = _commands(script)
    coverage = next((w for c in commands for w in _COVERAGE_WRAPPERS if w in _wrappers_of(c)), None)
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


def _commands(script: str) -> list[list[str]]:
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


def _strip_leading(command: list[str]) -> list[str]:
    """Without VAR=value assignments and the options of the wrapper just stripped."""
    index = 0
    while index < len(command) and (_ASSIGNMENT.match(command[index]) or command[index].startswith("-")):
        index += 1
    return command[index:]


def _wrappers_of(command: list[str]) -> list[str]:
    seen = []
    tokens = _strip_leading(command)
    while tokens and Path(tokens[0]).name in _WRAPPERS:
        seen.append(Path(tokens[0]).name)
        tokens = _strip_leading(tokens[1:])
    return seen


def _runner_of(command: list[str]) -> tuple[str | None, list[str]]:
    """The runner a simple command starts (through wrappers), and its arguments."""
    tokens = _strip_leading(command)
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
    tokens = _strip_leading(command)
    if not tokens or Path(tokens[0]).name not in ("npm", "yarn", "pnpm"):
        return None
    args = [t for t in tokens[1:] if not t.startswith("-")]
    if args and args[0] in ("run", "run-script"):
        args = args[1:]
    elif Path(tokens[0]).name == "npm" and args and args[0] not in ("test", "t"):
        return None
    return args[0] if args else None


# --- the plan -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Project:
    directory: Path
    package: dict[str, Any]
    deps: dict[str, Any]
    scripts: dict[str, str]
    manager: str
    workdir: str  # the project's folder in the sandbox


def javascript_plan(directory: Path, rel: str, files: set[str]) -> ProjectPlan:
    package = _package(directory)
    deps: dict[str, Any] = {}
    for section in ("dependencies", "devDependencies"):
        if isinstance(package.get(section), dict):
            deps.update(package[section])
    raw_scripts = package.get("scripts")
    scripts = {k: v for k, v in raw_scripts.items() if isinstance(v, str)} if isinstance(raw_scripts, dict) else {}
    manager, install = _install(files)
    workdir = WORKSPACE if rel == "." else f"{WORKSPACE}/{rel}"
    project = _Project(
        directory=directory, package=package, deps=deps, scripts=scripts, manager=manager, workdir=workdir
    )
    reports = reports_dir(Language.JAVASCRIPT, rel)
    script = scripts.get("test", "").strip()
    if script and not _PLACEHOLDER.match(script) and not _names_a_missing_file(script, directory):
        plan = _script_plan(project, script, reports, install)
    elif make := _makefile_plan(project, files, reports, install):
        plan = make
    else:
        plan = _heuristic_plan(project, reports, install)
    return ProjectPlan(
        language=Language.JAVASCRIPT, root=rel, package_manager=manager,
        manifests=tuple(sorted(files & {"package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"})),
        cache_paths=(f"{WORKSPACE}/{rel}/node_modules".replace("/./", "/"),), **plan,
    )  # fmt: skip


def _package(directory: Path) -> dict[str, Any]:
    try:
        package = json.loads(read_text(directory / "package.json") or "{}")
    except (ValueError, RecursionError):
        package = {}
    return package if isinstance(package, dict) else {}


def _install(files: set[str]) -> tuple[str, str]:
    if "pnpm-lock.yaml" in files:
        return "pnpm", "npx --yes pnpm@8 install --frozen-lockfile"
    if "yarn.lock" in files:
        return "yarn", "npx --yes yarn@1 install --frozen-lockfile"
    if "package-lock.json" in files:
        return "npm", "npm ci --no-audit --no-fund"
    return "npm", "npm install --no-audit --no-fund"


_JEST_JUNIT = " && npm install --no-save --no-audit --no-fund jest-junit@16"


def _names_a_missing_file(script: str, directory: Path) -> bool:
    """`node test.js` where the project has no test.js (a published tarball that left it out): the script
    cannot run as the project meant, so it is no declaration of how the tests run."""
    for command in _commands(script):
        tokens = _strip_leading(command)
        if tokens and Path(tokens[0]).name in ("node", "nodejs") and "--test" not in tokens:
            target = next((t for t in tokens[1:] if not t.startswith("-")), None)
            if target and re.search(r"\.[cm]?js$", target) and not (directory / target).exists():
                return True
    return False


def _makefile_plan(project: _Project, files: set[str], reports: str, install: str) -> dict[str, Any] | None:
    """A Makefile `test` target that runs a JavaScript test runner: `make test`, read by the runner's summary."""
    found = makefile_test_recipe(project.directory, files)
    if found is None:
        return None
    name, recipe = found
    runner = parse_script(" && ".join(recipe), project.scripts).runner
    if runner == "unknown":
        return None
    return {
        "framework": runner, "install": install, "test": "make test", "env": {},
        "test_source": TestSource.MAKEFILE, "source_detail": f"{name} target test",
        "results": ResultFormat.SUMMARY, "results_path": f"{reports}/output.txt",
        "coverage": None, "coverage_path": None,
    }  # fmt: skip


def _run_script(manager: str, flags: str = "") -> str:
    """`npm test` (flags after `--` go to the script's last command); yarn 1 and pnpm 8 pass them as they are.
    yarn and pnpm are not in the sandbox: npx runs the copy the install step put in its cache (tests are offline)."""
    base = {"npm": "npm test", "yarn": "npx --offline yarn@1 test", "pnpm": "npx --offline pnpm@8 test"}[manager]
    if not flags:
        return base
    return f"{base} -- {flags}" if manager == "npm" else f"{base} {flags}"


def _script_plan(project: _Project, script: str, reports: str, install: str) -> dict[str, Any]:
    found = parse_script(script, project.scripts)
    # A script whose text names no runner (`node test.js`): the one its dependencies name, else whichever summary.
    runner = found.runner if found.runner != "unknown" else _framework_from_deps(project.deps, "javascript", _SCRIPTED)
    junit, cov = f"{reports}/junit.xml", f"{reports}/coverage"
    plan: dict[str, Any] = {
        "framework": runner, "install": install, "test_source": TestSource.PACKAGE_JSON, "source_detail": script,
        "results": ResultFormat.SUMMARY, "results_path": f"{reports}/output.txt", "env": {},
    }  # fmt: skip
    flags = ""
    if found.last and runner == "mocha":
        flags = f"--reporter xunit --reporter-options output={junit}"  # -options: the spelling every mocha knows
    elif found.last and runner == "jest":
        flags = "--reporters=default --reporters=jest-junit"
        plan["install"] = install + _JEST_JUNIT
        plan["env"] = {"JEST_JUNIT_OUTPUT_DIR": reports, "JEST_JUNIT_OUTPUT_NAME": "junit.xml"}
    elif found.last and runner == "vitest":
        flags = f"--reporter=default --reporter=junit --outputFile.junit={junit}"
    elif found.last and runner == "ava":
        flags = "--tap"  # its default summary omits the passed count when anything failed: TAP has all counts
    if flags and runner != "ava":
        plan.update(results=ResultFormat.JUNIT, results_path=junit)
    coverage_flags, coverage = _coverage(project, found, runner, reports, cov)
    plan["env"] = {**plan["env"], **coverage.pop("env", {})}
    flags = " ".join(f for f in (flags, coverage_flags) if f)
    test = _run_script(project.manager, flags)
    if runner in _TAP_RUNNERS or runner == "ava":
        # Their TAP is their report: kept whole in a file (the run's output is kept only head and tail).
        tap = f"{reports}/{runner}.tap"
        test = f"set -o pipefail; {test} 2>&1 | tee {tap}"
        plan["results_path"] = tap
        # node's own `# pass/# fail` lines are what parse_node_tap reads; tape/tap/ava TAP differs: summary readers.
        plan["results"] = ResultFormat.TAP if runner == "node-test" else ResultFormat.SUMMARY
    if runner == "tap":
        plan["env"] = {**plan["env"], "TAP": "1"}  # node-tap prints raw TAP, not its terminal reporter
    plan["test"] = test
    plan.update(coverage)
    return plan


def _coverage(
    project: _Project, found: ScriptRunner, runner: str, reports: str, cov: str
) -> tuple[str, dict[str, Any]]:
    """(flags to append, plan fields): the project's own coverage, written where dockhand reads it."""
    ours = {"coverage": CoverageFormat.ISTANBUL, "coverage_path": f"{cov}/coverage-final.json"}
    formats = "--reporter=json-summary --reporter=json"
    if found.coverage == "nyc":
        # nyc report reads the run's .nyc_output under the project's own nyc configuration.
        return "", ours | {"after_test": f"npx nyc report {formats} --report-dir={cov}"}
    if found.coverage == "c8":
        # c8 report looks for its data under --reports-dir unless told: the project's temp dir, named.
        temp = _c8_temp_directory(project)
        return "", ours | {"after_test": f"npx c8 report --temp-directory={temp} {formats} --reports-dir={cov}"}
    jest_measures = runner == "jest" and (found.coverage == "jest" or _jest_config(project).get("collectCoverage"))
    if jest_measures:
        if found.last:
            reporters = "--coverageReporters=json-summary --coverageReporters=json --coverageReporters=text"
            return f"{reporters} --coverageDirectory={cov}", ours
        return "", _their_coverage(project, str(_jest_config(project).get("coverageDirectory") or "coverage"))
    vitest_declared = "@vitest/coverage-v8" in project.deps or "@vitest/coverage-istanbul" in project.deps
    if runner == "vitest" and (found.coverage == "vitest" or _vitest_enables_coverage(project) or vitest_declared):
        if found.last:
            flags = "--coverage.enabled --coverage.reporter=json-summary --coverage.reporter=json"
            return f"{flags} --coverage.reporter=text --coverage.reportsDirectory={cov}", ours
        if found.coverage == "vitest" or _vitest_enables_coverage(project):
            return "", _their_coverage(project, "coverage")  # vitest's default reporters include json
    if "c8" in project.deps:
        # A declared c8 the script does not run (as dockhand has always done): V8's own coverage of every
        # node process the script starts, reported by the project's c8 after the run.
        temp = f"{reports}/v8"
        after = f"npx c8 report --temp-directory={temp} {formats} --reporter=text --reports-dir={cov}"
        return "", ours | {"after_test": after, "env": {"NODE_V8_COVERAGE": temp}}
    return "", {"coverage": None, "coverage_path": None}


def _their_coverage(project: _Project, directory: str) -> dict[str, Any]:
    """The coverage-final.json the tool writes where the project's configuration puts it (its `json` reporter).
    No json-summary beside it: the pipeline then takes the totals from coverage-final itself."""
    path = directory if directory.startswith("/") else f"{project.workdir}/{directory.removeprefix('./')}"
    return {"coverage": CoverageFormat.ISTANBUL, "coverage_path": f"{path.rstrip('/')}/coverage-final.json"}


def _c8_temp_directory(project: _Project) -> str:
    config = _c8_config(project)
    temp = config.get("temp-directory") or config.get("tempDirectory")
    if isinstance(temp, str) and temp:
        return temp
    reports = next((config[k] for k in ("reports-dir", "reportsDir", "report-dir", "reportDir") if k in config), None)
    return f"{reports if isinstance(reports, str) and reports else 'coverage'}/tmp"


def _c8_config(project: _Project) -> dict[str, Any]:
    if isinstance(project.package.get("c8"), dict):
        return dict(project.package["c8"])
    for name in (".c8rc", ".c8rc.json"):
        try:
            data = json.loads(read_text(project.directory / name) or "null")
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict):
            return data
    return {}


def _jest_config(project: _Project) -> dict[str, Any]:
    """package.json's `jest`, or what a jest.config file's text plainly says (it is code: never run here)."""
    if isinstance(project.package.get("jest"), dict):
        return dict(project.package["jest"])
    for name in ("jest.config.js", "jest.config.ts", "jest.config.cjs", "jest.config.mjs", "jest.config.json"):
        text = read_text(project.directory / name)
        if not text:
            continue
        found: dict[str, Any] = {}
        if re.search(r"\bcollectCoverage\"?\s*:\s*true\b", text):
            found["collectCoverage"] = True
        if match := re.search(r"\bcoverageDirectory\"?\s*:\s*['\"`]([^'\"`]+)", text):
            found["coverageDirectory"] = match[1].replace("<rootDir>/", "")
        return found
    return {}


def _vitest_enables_coverage(project: _Project) -> bool:
    for stem in ("vitest.config", "vite.config"):
        for suffix in (".ts", ".js", ".mts", ".mjs", ".cts", ".cjs"):
            text = read_text(project.directory / f"{stem}{suffix}")
            if re.search(r"\bcoverage\s*:\s*\{[^}]*\benabled\s*:\s*true", text, re.DOTALL):
                return True
    return False


def _framework_from_deps(deps: dict[str, Any], default: str, names: tuple[str, ...] = _JS_FRAMEWORKS) -> str:
    return next((name for name in names if name in deps), default)


def _heuristic_plan(project: _Project, reports: str, install: str) -> dict[str, Any]:
    """No test script: the runner the dependencies name, called directly (as before scripts were read)."""
    deps = project.deps
    framework = _framework_from_deps(deps, "node-test")
    junit, cov = f"{reports}/junit.xml", f"{reports}/coverage"
    coverage: CoverageFormat | None = CoverageFormat.ISTANBUL
    if framework == "jest":
        install += _JEST_JUNIT
        test = (
            f"JEST_JUNIT_OUTPUT_DIR={reports} JEST_JUNIT_OUTPUT_NAME=junit.xml npx jest --ci --coverage "
            f"--coverageReporters=json-summary --coverageReporters=json --coverageReporters=text "
            f"--coverageDirectory={cov} "
            "--reporters=default --reporters=jest-junit"
        )
    elif framework == "vitest":
        has_cov = "@vitest/coverage-v8" in deps or "@vitest/coverage-istanbul" in deps
        test = f"npx vitest run --reporter=default --reporter=junit --outputFile.junit={junit}"
        if has_cov:
            test += (
                " --coverage.enabled --coverage.reporter=json-summary --coverage.reporter=json"
                f" --coverage.reporter=text --coverage.reportsDirectory={cov}"
            )
        else:
            coverage = None
    elif framework == "mocha":
        test = f"npx mocha --reporter xunit --reporter-options output={junit}"
        if "c8" in deps:
            test = f"npx c8 --reporter=json-summary --reporter=json --reporter=text --report-dir={cov} {test}"
        else:
            coverage = None
    else:
        # Node 18 (Debian's) has no JUnit reporter: its TAP output is read instead.
        junit = f"{reports}/node-test.tap"
        test = f"set -o pipefail; node --test --test-reporter=tap 2>&1 | tee {junit}"
        coverage = None
    return {
        "framework": framework, "install": install, "test": test,
        "results": ResultFormat.TAP if framework == "node-test" else ResultFormat.JUNIT, "results_path": junit,
        "coverage": coverage, "coverage_path": f"{cov}/coverage-final.json" if coverage else None,
    }  # fmt: skip
