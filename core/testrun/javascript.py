"""A JavaScript/TypeScript project: its package manager, its test runner, and how to read their reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from core.testrun.plan import WORKSPACE, CoverageFormat, Language, ProjectPlan, ResultFormat, read_text, reports_dir

_JS_FRAMEWORKS = ("vitest", "jest", "mocha")


def javascript_plan(directory: Path, rel: str, files: set[str]) -> ProjectPlan:
    try:
        package = json.loads(read_text(directory / "package.json") or "{}")
    except (ValueError, RecursionError):
        package = {}
    package = package if isinstance(package, dict) else {}
    deps: dict[str, Any] = {}
    for section in ("dependencies", "devDependencies"):
        if isinstance(package.get(section), dict):
            deps.update(package[section])
    scripts = package.get("scripts")
    script = str(scripts.get("test", "")) if isinstance(scripts, dict) else ""
    framework = next((name for name in _JS_FRAMEWORKS if name in deps or name in script), "node-test")
    if "pnpm-lock.yaml" in files:
        manager, install = "pnpm", "npx --yes pnpm@8 install --frozen-lockfile"
    elif "yarn.lock" in files:
        manager, install = "yarn", "npx --yes yarn@1 install --frozen-lockfile"
    elif "package-lock.json" in files:
        manager, install = "npm", "npm ci --no-audit --no-fund"
    else:
        manager, install = "npm", "npm install --no-audit --no-fund"
    reports = reports_dir(Language.JAVASCRIPT, rel)
    junit, cov = f"{reports}/junit.xml", f"{reports}/coverage"
    coverage: CoverageFormat | None = CoverageFormat.ISTANBUL
    if framework == "jest":
        install += " && npm install --no-save --no-audit --no-fund jest-junit@16"
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
        test = f"npx mocha --reporter xunit --reporter-option output={junit}"
        if "c8" in deps:
            test = f"npx c8 --reporter=json-summary --reporter=json --reporter=text --report-dir={cov} {test}"
        else:
            coverage = None
    else:
        # Node 18 (Debian's) has no JUnit reporter: its TAP output is read instead.
        junit = f"{reports}/node-test.tap"
        test = f"set -o pipefail; node --test --test-reporter=tap 2>&1 | tee {junit}"
        coverage = None
    return ProjectPlan(
        language=Language.JAVASCRIPT, root=rel, framework=framework, package_manager=manager, install=install,
        test=test, results=ResultFormat.TAP if framework == "node-test" else ResultFormat.JUNIT,
        results_path=junit, coverage=coverage,
        coverage_path=f"{cov}/coverage-final.json" if coverage else None,
        manifests=tuple(sorted(files & {"package.json", "package-lock.json", "yarn.lock", "pnpm-lock.yaml"})),
        cache_paths=(f"{WORKSPACE}/{rel}/node_modules".replace("/./", "/"),),
    )  # fmt: skip
