"""A Go module: `go test -json` events and a cover profile."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from core.testrun.plan import CoverageFormat, Language, ProjectPlan, ResultFormat, read_text

_GO_OUTPUT = (
    'python3 -u -c "import sys,json\nfor l in sys.stdin:\n'
    "  l.startswith('{') and print(json.loads(l).get('Output',''), end='')\""
)


def go_plan(directory: Path, rel: str) -> ProjectPlan:
    match = re.search(r"^module\s+(\S+)", read_text(directory / "go.mod"), re.MULTILINE)
    plan = ProjectPlan(
        language=Language.GO,
        root=rel,
        framework="go test",
        package_manager="go",
        install="go mod download",
        test="",
        results=ResultFormat.GO_JSON,
        results_path="",
        coverage=CoverageFormat.GO_PROFILE,
        module=match[1] if match else "",
        manifests=("go.mod", "go.sum"),
        cache_paths=("/home/sandbox/go/pkg/mod", "/home/sandbox/.cache/go-build"),
        save_cache_after_test=True,
    )
    reports = plan.reports_dir
    # The JSON events go to a file; their Output fields stream to the log as go test would print them.
    test = f"set -o pipefail; go test -json -coverprofile={reports}/cover.out ./... | tee {reports}/go-test.json"
    test += f" | {_GO_OUTPUT}"
    return replace(plan, test=test, results_path=f"{reports}/go-test.json", coverage_path=f"{reports}/cover.out")
