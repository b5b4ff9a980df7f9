"""Which projects a repository holds, and how to install and test each: pure, on the host's checkout.

A `.dockhand.toml` at the repository's root can override any choice, per project:

    [[project]]
    path = "."                 # which detected project (or a new one, with language set)
    language = "python"
    install = "pip install -e ."
    test = "pytest -x"         # results are then read from the tool's default output only if it writes them
    timeout_seconds = 900       # the test run (install has its own 20-minute limit)
    network = true             # network during install (default true) — tests always run without
    env = { DJANGO_SETTINGS_MODULE = "app.settings" }
    image = "registry.example/python:3.12"
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from core.errors import ValidationError

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "target", "vendor", "dist", "build", "__pycache__", ".tox"}
MAX_DEPTH = 3
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


class CoverageFormat(StrEnum):
    COVERAGE_PY = "coverage-py"
    ISTANBUL = "istanbul"
    GO_PROFILE = "go-profile"


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

    @property
    def workdir(self) -> str:
        return WORKSPACE if self.root == "." else f"{WORKSPACE}/{self.root}"

    @property
    def reports_dir(self) -> str:
        return f"{REPORTS}/{_slug(self.language.value + '-' + (self.root if self.root != '.' else 'root'))}"


def detect(repo: Path, allowed_images: frozenset[str] = frozenset()) -> list[ProjectPlan]:
    """Every project in the checkout at `repo`, then `.dockhand.toml` applied (images only from `allowed_images`)."""
    plans: list[ProjectPlan] = []
    cargo_roots: list[str] = []
    for directory in _walk(repo):
        rel = "." if directory == repo else directory.relative_to(repo).as_posix()
        files = {p.name for p in directory.iterdir() if p.is_file() and not p.is_symlink()}
        # A folder inside a detected Python or JavaScript project (tests/unit, packages/*) belongs to it.
        if _is_python(directory, files) and not _inside(rel, plans, Language.PYTHON):
            plans.append(_python(directory, rel, files))
        if "package.json" in files and not _inside(rel, plans, Language.JAVASCRIPT):
            plans.append(_javascript(directory, rel, files))
        if "go.mod" in files:
            plans.append(_go(directory, rel))
        # A crate inside another crate's directory is a workspace member: `cargo test --workspace` runs it.
        if "Cargo.toml" in files and not any(r == "." or rel.startswith(r + "/") for r in cargo_roots):
            cargo_roots.append(rel)
            plans.append(_rust(rel))
    return apply_overrides(plans, load_config(repo), allowed_images)


def _inside(rel: str, plans: list[ProjectPlan], language: Language) -> bool:
    return any(p.language is language and (p.root == "." or rel.startswith(p.root + "/")) for p in plans)


def _walk(repo: Path) -> list[Path]:
    found = [repo]
    frontier = [(repo, 0)]
    while frontier:
        directory, depth = frontier.pop()
        if depth >= MAX_DEPTH:
            continue
        for child in sorted(directory.iterdir()):
            if (
                child.is_dir()
                and not child.is_symlink()
                and child.name not in SKIP_DIRS
                and not child.name.startswith(".")
            ):
                found.append(child)
                frontier.append((child, depth + 1))
    return sorted(found)


def _is_python(directory: Path, files: set[str]) -> bool:
    if {"pyproject.toml", "setup.py", "setup.cfg", "conftest.py", "pytest.ini"} & files or _requirements(files):
        return True
    # A bare repository of modules and tests (no packaging at all) still has tests to run.
    return (directory.name != "tests" and any(re.fullmatch(r"test_.*\.py|.*_test\.py", f) for f in files)) or (
        (directory / "tests").is_dir() and any((directory / "tests").glob("test_*.py"))
    )


def _requirements(files: set[str]) -> list[str]:
    return sorted(f for f in files if re.fullmatch(r"requirements.*\.txt", f))


def _read(path: Path, limit: int = 1_000_000) -> str:
    """A repository file's text (bounded; symlinks, which could point anywhere on the host, are not followed)."""
    if path.is_symlink() or not path.is_file():
        return ""
    try:
        with path.open("rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except OSError:
        return ""


def _python(directory: Path, rel: str, files: set[str]) -> ProjectPlan:
    texts = " ".join(
        _read(directory / f)
        for f in files
        if f in {"pyproject.toml", "setup.cfg", "tox.ini"} or f in _requirements(files)
    )
    test_files = sorted(directory.glob("test_*.py")) + sorted(directory.glob("tests/test_*.py"))
    texts += " ".join(_read(f) for f in test_files[:20])
    uses_pytest = (
        "pytest" in texts
        or "conftest.py" in files
        or "pytest.ini" in files
        or (directory / "tests" / "conftest.py").exists()
    )
    steps = ["python3 -m venv --system-site-packages .venv"]
    steps += [f".venv/bin/pip install --quiet -r {shlex.quote(req)}" for req in _requirements(files)]
    if {"pyproject.toml", "setup.py", "setup.cfg"} & files:
        steps.append(".venv/bin/pip install --quiet -e .")
    plan = ProjectPlan(
        language=Language.PYTHON, root=rel, framework="pytest" if uses_pytest else "unittest",
        package_manager="pip", install=" && ".join(steps), test="", results=ResultFormat.JUNIT,
        results_path="", coverage=CoverageFormat.COVERAGE_PY,
        manifests=tuple(sorted(f for f in files if f in {"pyproject.toml", "setup.py", "setup.cfg"}
                               or f in _requirements(files))),
        cache_paths=(f"{WORKSPACE}/{rel}/.venv".replace("/./", "/").rstrip("/"),),
    )  # fmt: skip
    reports = plan.reports_dir
    # unittest suites run under pytest too (it collects TestCase classes), which gives JUnit XML for both.
    test = (
        f".venv/bin/python -m coverage run --source=. --omit={_PY_OMIT} -m pytest -p no:cacheprovider "
        f"--junitxml={reports}/junit.xml; status=$?; "
        f".venv/bin/python -m coverage json -q -o {reports}/coverage.json; exit $status"
    )
    return replace(plan, test=test, results_path=f"{reports}/junit.xml", coverage_path=f"{reports}/coverage.json")


_JS_FRAMEWORKS = ("vitest", "jest", "mocha")
# Coverage of the code under test, not of the tests or the virtualenv.
_PY_OMIT = "'.venv/*,tests/*,test_*.py,*/test_*.py,*_test.py,conftest.py'"


def _javascript(directory: Path, rel: str, files: set[str]) -> ProjectPlan:
    try:
        package = json.loads(_read(directory / "package.json") or "{}")
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
    reports = ProjectPlan(
        language=Language.JAVASCRIPT,
        root=rel,
        framework="",
        package_manager="",
        install=None,
        test="",
        results=ResultFormat.JUNIT,
        results_path="",
    ).reports_dir
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


_GO_OUTPUT = (
    'python3 -u -c "import sys,json\nfor l in sys.stdin:\n'
    "  l.startswith('{') and print(json.loads(l).get('Output',''), end='')\""
)


_GO_OUTPUT = (
    'python3 -u -c "import sys,json\nfor l in sys.stdin:\n'
    "  l.startswith('{') and print(json.loads(l).get('Output',''), end='')\""
)


def _go(directory: Path, rel: str) -> ProjectPlan:
    match = re.search(r"^module\s+(\S+)", _read(directory / "go.mod"), re.MULTILINE)
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
    )
    reports = plan.reports_dir
    # The JSON events go to a file; their Output fields stream to the log as go test would print them.
    test = f"set -o pipefail; go test -json -coverprofile={reports}/cover.out ./... | tee {reports}/go-test.json"
    test += f" | {_GO_OUTPUT}"
    return replace(plan, test=test, results_path=f"{reports}/go-test.json", coverage_path=f"{reports}/cover.out")


def _rust(rel: str) -> ProjectPlan:
    plan = ProjectPlan(
        language=Language.RUST,
        root=rel,
        framework="cargo test",
        package_manager="cargo",
        install="cargo fetch",
        test="",
        results=ResultFormat.LIBTEST,
        results_path="",
        manifests=("Cargo.toml", "Cargo.lock"),
        cache_paths=(f"{WORKSPACE}/{rel}/target".replace("/./", "/"), "/home/sandbox/.cargo/registry"),
    )
    out = f"{plan.reports_dir}/cargo-test.txt"
    return replace(
        plan, test=f"set -o pipefail; cargo test --workspace --no-fail-fast 2>&1 | tee {out}", results_path=out
    )


# --- .dockhand.toml --------------------------------------------------------------------------
_OVERRIDABLE = {"install", "test", "timeout_seconds", "network", "env", "image", "language"}


def load_config(repo: Path) -> list[dict[str, Any]]:
    path = repo / ".dockhand.toml"
    if not path.is_file() or path.is_symlink():
        return []
    try:
        data = tomllib.loads(_read(path))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f".dockhand.toml is not valid TOML: {exc}") from None
    projects = data.get("project", [])
    if not isinstance(projects, list) or not all(isinstance(p, dict) for p in projects):
        raise ValidationError(".dockhand.toml: expected [[project]] tables")
    for entry in projects:
        unknown = set(entry) - _OVERRIDABLE - {"path"}
        if unknown:
            raise ValidationError(
                f".dockhand.toml: unknown keys {sorted(unknown)} (allowed: path, {', '.join(sorted(_OVERRIDABLE))})"
            )
    return projects


MAX_TIMEOUT_SECONDS = 4 * 3600.0


def _timeout(value: Any) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f".dockhand.toml: timeout_seconds must be a number, not {value!r}") from None
    if not 1 <= seconds <= MAX_TIMEOUT_SECONDS:  # also refuses nan and inf
        raise ValidationError(f".dockhand.toml: timeout_seconds must be from 1 to {MAX_TIMEOUT_SECONDS:g}")
    return seconds


def apply_overrides(
    plans: list[ProjectPlan], overrides: list[dict[str, Any]], allowed_images: frozenset[str] = frozenset()
) -> list[ProjectPlan]:
    result = list(plans)
    for entry in overrides:
        path = str(entry.get("path", ".")).strip("/") or "."
        index = next(
            (
                i
                for i, p in enumerate(result)
                if p.root == path and ("language" not in entry or p.language.value == entry["language"])
            ),
            None,
        )
        if index is None:
            raise ValidationError(
                f".dockhand.toml: no detected project at {path!r}"
                + (f" in {entry['language']}" if "language" in entry else "")
            )
        plan = result[index]
        changes: dict[str, Any] = {}
        if "install" in entry:
            changes["install"] = str(entry["install"]) or None
        if "test" in entry:
            changes["test"] = str(entry["test"])
        if "timeout_seconds" in entry:
            changes["timeout_seconds"] = _timeout(entry["timeout_seconds"])
        if "network" in entry:
            changes["network_for_install"] = bool(entry["network"])
        if "env" in entry:
            if not isinstance(entry["env"], dict):
                raise ValidationError(".dockhand.toml: env must be a table")
            changes["env"] = {str(k): str(v) for k, v in entry["env"].items()}
        if "image" in entry:
            image = str(entry["image"])
            if image not in allowed_images:
                raise ValidationError(
                    f".dockhand.toml: image {image!r} is not one this installation allows "
                    "(DOCKHAND_SANDBOX_IMAGE / DOCKHAND_SANDBOX_IMAGES)"
                )
            changes["image"] = image
        result[index] = replace(plan, **changes)
    return result


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "root"
