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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.testrun.declared import makefile_test_recipe
from core.testrun.js_scripts import (
    JS_FRAMEWORKS,
    PLACEHOLDER_SCRIPT,
    SCRIPTED_RUNNERS,
    TAP_RUNNERS,
    ScriptRunner,
    parse_script,
    split_commands,
    strip_leading,
)
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
    if script and not PLACEHOLDER_SCRIPT.match(script) and not _names_a_missing_file(script, directory):
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
    for command in split_commands(script):
        tokens = strip_leading(command)
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
    runner = (
        found.runner
        if found.runner != "unknown"
        else _framework_from_deps(project.deps, "javascript", SCRIPTED_RUNNERS)
    )
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
    if runner in TAP_RUNNERS or runner == "ava":
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


def _framework_from_deps(deps: dict[str, Any], default: str, names: tuple[str, ...] = JS_FRAMEWORKS) -> str:
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
