"""What detection decides for one project: how to install it, how to test it, and where the reports will be."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

WORKSPACE = "/workspace"
REPORTS = f"{WORKSPACE}/.git/dockhand-reports"  # inside .git: in the volume, outside the work tree


class Language(StrEnum):
    PYTHON = "python"
    JAVASCRIPT = "javascript"
    GO = "go"
    RUST = "rust"


class ResultFormat(StrEnum):
    JUNIT = "junit"
    GO_JSON = "go-json"
    LIBTEST = "libtest"
    TAP = "tap"
    SUMMARY = "summary-line"  # no structured report can be had: the tool's own summary line is read


class CoverageFormat(StrEnum):
    COVERAGE_PY = "coverage-py"
    ISTANBUL = "istanbul"
    GO_PROFILE = "go-profile"


class TestSource(StrEnum):
    """Where the test command came from: the most specific declaration the project makes wins."""

    __test__ = False

    DOCKHAND_TOML = ".dockhand.toml"
    PACKAGE_JSON = "package.json scripts.test"
    TOX = "tox.ini"
    NOX = "noxfile.py"
    HATCH = "hatch scripts"
    PDM = "pdm scripts"
    MAKEFILE = "Makefile test target"
    CI_WORKFLOW = "CI workflow"
    HEURISTIC = "detected layout"


@dataclass(frozen=True, kw_only=True)
class ProjectPlan:
    """How to install and test one project, and where its reports will be."""

    language: Language
    root: str
    framework: str
    package_manager: str
    install: str | None
    test: str
    results: ResultFormat
    results_path: str
    coverage: CoverageFormat | None = None
    coverage_path: str | None = None
    module: str = ""  # Go module path, to make cover-profile paths relative
    manifests: tuple[str, ...] = ()
    cache_paths: tuple[str, ...] = ()
    network_for_install: bool = True
    env: dict[str, str] = field(default_factory=dict)
    timeout_seconds: float = 1800.0
    image: str | None = None
    test_source: TestSource = TestSource.HEURISTIC
    source_detail: str = ""  # e.g. the workflow file and step the command was read from
    after_test: str | None = None  # run after the tests whatever their outcome (e.g. writing the coverage report)
    save_cache_after_test: bool = False  # build outputs (Go build cache, cargo target/) are worth keeping
    # Run when the dependencies came from the cache or a snapshot: a regular (not editable) install of the
    # project holds a copy of its code as it was then, which this checkout's must replace.
    refresh_project: str = ""

    @property
    def workdir(self) -> str:
        return WORKSPACE if self.root == "." else f"{WORKSPACE}/{self.root}"

    @property
    def reports_dir(self) -> str:
        return reports_dir(self.language, self.root)


def reports_dir(language: Language, root: str) -> str:
    return f"{REPORTS}/{slug(language.value + '-' + (root if root != '.' else 'root'))}"


def read_text(path: Path, limit: int = 1_000_000) -> str:
    """A repository file's text (bounded; symlinks, which could point anywhere on the host, are not followed)."""
    if path.is_symlink() or not path.is_file():
        return ""
    try:
        with path.open("rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "root"
