"""A test run's results: each project's reports read from the sandbox into totals, failures, a status,
coverage and diff coverage. A repository's tools can write anything: a missing or broken report is that
project's error (or, where the tool prints one, its own summary line stands in), never a crash.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.errors import DockhandError
from core.sandboxing import LiveSandboxLike
from core.testrun.coverage import (
    diff_coverage,
    parse_coverage_py,
    parse_go_coverprofile,
    parse_istanbul_final,
    parse_istanbul_summary,
)
from core.testrun.detect import WORKSPACE, CoverageFormat, ProjectPlan, ResultFormat
from core.testrun.model import Coverage, TestReport, TestStatus
from core.testrun.parsers import ReportError, parse_go_test_json, parse_junit, parse_libtest, parse_node_tap
from core.testrun.summary import summary_totals

MAX_REPORT_BYTES = 50 * 1024 * 1024


def overall_status(projects: list[dict[str, Any]]) -> str:
    statuses = [p["status"] for p in projects]
    if statuses and all(s == "passed" for s in statuses):
        return "passed"
    return "failed" if any(s == "failed" for s in statuses) else "error"


def describe_projects(projects: list[dict[str, Any]], failures: int = 10) -> str:
    """A short text of each project's status and its first failures (for people and for the agent)."""
    lines = []
    for p in projects:
        totals = p.get("totals") or {}
        counts = ", ".join(f"{totals[k]} {k}" for k in ("passed", "failed", "errors", "skipped") if totals.get(k))
        lines.append(
            f"- {p['language']} {p['root']} ({p['framework']}): {p['status']}" + (f", {counts}" if counts else "")
        )
        if p.get("error"):
            lines.append(f"  {p['error'][:1000]}")
        for failure in (p.get("failures") or [])[:failures]:
            lines.append(f"  ✗ {failure['name']}: {failure['message'][:800]}")
    return "\n".join(lines)


def report_project(
    box: LiveSandboxLike,
    plan: ProjectPlan,
    project: dict[str, Any],
    changed: dict[str, set[int]] | None,
    artifacts: Path,
    output: str,
    source: Path | None,
) -> None:
    """Read one project's reports from the sandbox (kept under `artifacts`) into its result: totals, failures,
    its final status, coverage and diff coverage of the `changed` lines."""
    project.setdefault("coverage_percent", None)
    if project["status"] not in ("ran", "timed-out"):
        return
    folder = artifacts / Path(plan.reports_dir).name
    folder.mkdir(parents=True, exist_ok=True)
    tests = _read_results(box, plan, project, folder, output)
    if tests is None:
        return
    project["totals"] = asdict(tests.totals)
    project["failures"] = [
        {"name": c.name, "status": c.status.value, "message": (c.message or "")[:1000]}
        for c in tests.cases
        if c.status in (TestStatus.FAILED, TestStatus.ERROR)
    ][:50]
    if project["status"] == "ran":
        crashed = project.get("exit_code") not in (0, 5)  # pytest's 5: "no tests collected"
        if tests.totals.total == 0 and crashed:
            project.update(
                status="error",
                error=f"the test run exited with {project.get('exit_code')} and no tests" + last_lines(output),
            )
        elif tests.totals.total == 0:
            project.update(status="no-tests", error="the test run found no tests")
        elif tests.totals.failed or tests.totals.errors or project.get("exit_code"):
            project["status"] = "failed"
        else:
            project["status"] = "passed"
    coverage = _coverage(box, plan, folder, project, source)
    if coverage is not None:
        project["coverage_percent"] = coverage.percent
        project["coverage"] = coverage.summary()
        if changed is not None:
            root = "" if plan.root == "." else plan.root
            dc = diff_coverage(coverage, changed, root)
            project["diff_coverage"] = (
                None
                if dc is None
                else {"percent": dc.percent, "covered": dc.covered, "total": dc.total, "uncovered": dc.uncovered}
            )


def _read_results(
    box: LiveSandboxLike, plan: ProjectPlan, project: dict[str, Any], folder: Path, output: str
) -> TestReport | None:
    """The tool's structured report; else the totals of its own summary line (and the result says so)."""
    reason = "it reports only a summary line"
    if plan.results is not ResultFormat.SUMMARY:
        try:
            raw = box.read_file(plan.results_path, max_bytes=MAX_REPORT_BYTES)
            (folder / Path(plan.results_path).name).write_bytes(raw)
            project["results_from"] = "report"
            return _parse_results(plan, raw)
        except Exception as exc:  # a repository's tools can write anything: any bad report is that project's error
            reason = str(exc) if isinstance(exc, DockhandError | ReportError) else f"{type(exc).__name__}: {exc}"
    else:
        output = _kept_output(box, plan, folder) or output
    totals = summary_totals(plan.framework, output)
    if totals is not None and totals.total:
        project["results_from"] = "summary line"
        project["results_note"] = f"counts read from {plan.framework}'s own summary line: {reason}"
        return TestReport(cases=[], totals=totals)
    if project["status"] == "ran":
        project.update(
            status="error",
            error=f"no usable test report from {plan.framework}: {reason}" + last_lines(output),
        )
    return None


def _kept_output(box: LiveSandboxLike, plan: ProjectPlan, folder: Path) -> str:
    """The whole output a summary-read runner's command kept in its results file (e.g. tape's TAP through
    `tee`): the run's own output is held only head and tail. Empty when the command kept none."""
    try:
        raw = box.read_file(plan.results_path, max_bytes=MAX_REPORT_BYTES)
    except DockhandError:
        return ""
    (folder / Path(plan.results_path).name).write_bytes(raw)
    return raw.decode("utf-8", "replace")


def last_lines(output: str, count: int = 12) -> str:
    """The tool's own last words, for a result that would otherwise only say that something failed."""
    lines = [line for line in output.splitlines() if line.strip()]
    return ("\n" + "\n".join(lines[-count:])) if lines else ""


def _parse_results(plan: ProjectPlan, raw: bytes) -> TestReport:
    if plan.results is ResultFormat.JUNIT:
        return parse_junit(raw)
    if plan.results is ResultFormat.GO_JSON:
        return parse_go_test_json(raw)
    if plan.results is ResultFormat.TAP:
        return parse_node_tap(raw)
    return parse_libtest(raw)


def _coverage(
    box: LiveSandboxLike, plan: ProjectPlan, folder: Path, project: dict[str, Any], source: Path | None
) -> Coverage | None:
    if plan.coverage is None or plan.coverage_path is None:
        project["coverage_note"] = f"coverage not available for {plan.framework}"
        return None
    try:
        raw = box.read_file(plan.coverage_path, max_bytes=MAX_REPORT_BYTES)
        (folder / Path(plan.coverage_path).name).write_bytes(raw)
        if plan.coverage is CoverageFormat.COVERAGE_PY:
            return parse_coverage_py(raw)
        if plan.coverage is CoverageFormat.GO_PROFILE:
            return parse_go_coverprofile(raw, plan.module, source)
        root = WORKSPACE if plan.root == "." else plan.workdir
        final = parse_istanbul_final(raw, root)
        # The tool's own line totals (json-summary) are the figure it prints; coverage-final gives per-line data.
        summary_path = str(Path(plan.coverage_path).with_name("coverage-summary.json"))
        try:
            summary = parse_istanbul_summary(box.read_file(summary_path, max_bytes=MAX_REPORT_BYTES), root)
        except (DockhandError, ReportError):
            return final
        return Coverage(covered=summary.covered, total=summary.total, files=final.files)
    except Exception as exc:  # as above: a bad coverage file only costs the coverage figure
        project["coverage_note"] = f"no coverage: {exc}"
        return None


def timings(started: float, projects: list[dict[str, Any]]) -> dict[str, float]:
    """A run since `started` (monotonic), split into the projects' own install and test commands and
    dockhand's own overhead (checkout, sandbox, caches, detection, reading reports)."""
    total = time.monotonic() - started
    commands = sum(float(p.get("install_seconds") or 0) + float(p.get("duration_seconds") or 0) for p in projects)
    return {
        "total_seconds": round(total, 2),
        "commands_seconds": round(commands, 2),
        "overhead_seconds": round(max(total - commands, 0.0), 2),
    }


def describe_timings(took: dict[str, float]) -> str:
    return (
        f"took {took['total_seconds']:.1f}s: {took['commands_seconds']:.1f}s in the projects' own install and test "
        f"commands, {took['overhead_seconds']:.1f}s dockhand's own"
    )
