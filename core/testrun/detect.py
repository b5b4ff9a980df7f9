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

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.testrun.go import go_plan
from core.testrun.javascript import javascript_plan
from core.testrun.plan import (
    REPORTS,
    WORKSPACE,
    CoverageFormat,
    Language,
    ProjectPlan,
    ResultFormat,
    TestSource,
    read_text,
)
from core.testrun.python import is_python, python_plan
from core.testrun.rust import rust_plan

__all__ = [
    "REPORTS",
    "WORKSPACE",
    "CoverageFormat",
    "Language",
    "ProjectPlan",
    "ResultFormat",
    "TestSource",
    "apply_overrides",
    "detect",
    "load_config",
]

SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "target", "vendor", "dist", "build", "__pycache__", ".tox"}
MAX_DEPTH = 3


def detect(repo: Path, allowed_images: frozenset[str] = frozenset()) -> list[ProjectPlan]:
    """Every project in the checkout at `repo`, then `.dockhand.toml` applied (images only from `allowed_images`)."""
    plans: list[ProjectPlan] = []
    cargo_roots: list[str] = []
    for directory in _walk(repo):
        rel = "." if directory == repo else directory.relative_to(repo).as_posix()
        files = {p.name for p in directory.iterdir() if p.is_file() and not p.is_symlink()}
        # A folder inside a detected Python or JavaScript project (tests/unit, packages/*) belongs to it.
        if is_python(directory, files) and not _inside(rel, plans, Language.PYTHON):
            plans.append(python_plan(directory, rel, files))
        if "package.json" in files and not _inside(rel, plans, Language.JAVASCRIPT):
            plans.append(javascript_plan(directory, rel, files))
        if "go.mod" in files:
            plans.append(go_plan(directory, rel))
        # A crate inside another crate's directory is a workspace member: `cargo test --workspace` runs it.
        if "Cargo.toml" in files and not any(r == "." or rel.startswith(r + "/") for r in cargo_roots):
            cargo_roots.append(rel)
            plans.append(rust_plan(rel))
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


# --- .dockhand.toml --------------------------------------------------------------------------
_OVERRIDABLE = {"install", "test", "timeout_seconds", "network", "env", "image", "language"}


def load_config(repo: Path) -> list[dict[str, Any]]:
    path = repo / ".dockhand.toml"
    if not path.is_file() or path.is_symlink():
        return []
    try:
        data = tomllib.loads(read_text(path))
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
