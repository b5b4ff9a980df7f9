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

from dataclasses import replace
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.repo_config import DockhandFile, ProjectOverride, parse_dockhand_file
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


def detect(
    repo: Path, allowed_images: frozenset[str] = frozenset(), config: DockhandFile | None = None
) -> list[ProjectPlan]:
    """Every project in the checkout at `repo`, then `.dockhand.toml` applied (images only from `allowed_images`):
    the checkout's own, or `config` when the checkout's is not to be trusted (a follow-up on the agent's branch)."""
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
    overrides = list(config.project) if config is not None else load_config(repo)
    return apply_overrides(plans, overrides, allowed_images)


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
def load_config(repo: Path) -> list[ProjectOverride]:
    return list(dockhand_file(repo).project)


def dockhand_file(repo: Path) -> DockhandFile:
    """The checkout's `.dockhand.toml` (empty when it has none)."""
    path = repo / ".dockhand.toml"
    if not path.is_file() or path.is_symlink():
        return DockhandFile()
    return parse_dockhand_file(read_text(path))


def apply_overrides(
    plans: list[ProjectPlan], overrides: list[ProjectOverride], allowed_images: frozenset[str] = frozenset()
) -> list[ProjectPlan]:
    result = list(plans)
    for entry in overrides:
        path = entry.path.strip("/") or "."
        index = next(
            (
                i
                for i, p in enumerate(result)
                if p.root == path and (entry.language is None or p.language.value == entry.language)
            ),
            None,
        )
        if index is None:
            raise ValidationError(
                f".dockhand.toml: no detected project at {path!r}" + (f" in {entry.language}" if entry.language else "")
            )
        changes: dict[str, Any] = {}
        if entry.install is not None:
            changes["install"] = entry.install or None
        if entry.test is not None:
            changes["test"] = entry.test
        if entry.timeout_seconds is not None:
            changes["timeout_seconds"] = entry.timeout_seconds
        if entry.network is not None:
            changes["network_for_install"] = entry.network
        if entry.env is not None:
            changes["env"] = dict(entry.env)
        if entry.image is not None:
            if entry.image not in allowed_images:
                raise ValidationError(
                    f".dockhand.toml: image {entry.image!r} is not one this installation allows "
                    "(DOCKHAND_SANDBOX_IMAGE / DOCKHAND_SANDBOX_IMAGES)"
                )
            changes["image"] = entry.image
        result[index] = replace(result[index], **changes)
    return result
