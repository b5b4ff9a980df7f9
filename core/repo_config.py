"""A repository's own settings for dockhand: its `.dockhand.toml`, one typed model for the whole file.

    [[project]]                # the test pipeline, per detected project (see `core.testrun.detect`)
    path = "."                 # the project's folder
    language = "python"        # which of the projects at that path (python, javascript, go, rust)
    install = "pip install -e ."   # "" for none
    test = "pytest -q"
    timeout_seconds = 600
    network = true             # the install step may reach the registries
    env = { CI = "1" }
    image = "registry.example.com/py312:latest"   # one the operator allows

    [sandbox]
    disk = "20g"               # what each sandbox volume may fill (up to DOCKHAND_SANDBOX_DISK_LIMIT_MAX)

    [github]                   # read from the default branch
    reviews = true             # review pull requests when they are opened or updated
    tests = true               # run the test pipeline on pushes
    trigger_label = "dockhand" # an issue opened or labelled with this is resolved
    branches = ["main"]        # pushes to these run the tests (default: the default branch)
    auto_approve = false       # publish the agent's changes without waiting for a person
    fix_ci = false             # when CI fails on dockhand's pull request, let the agent fix it (else: a summary
    fix_ci_attempts = 2        #   and a "Fix it" button); at most this many automatic fixes per pull request
    attempts = 1               # independent agent attempts per resolution; the best is offered (up to
                               #   DOCKHAND_AGENT_ATTEMPTS_MAX)

Unset keys fall back to dockhand's settings. Types are strict: `network = "false"` is an error naming the
key, not a truthy string, and `install = 0` is not the command "0".
"""

from __future__ import annotations

import tomllib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from pydantic import ValidationError as PydanticValidationError

from core.errors import ValidationError
from core.sandboxing import SIZE_PATTERN
from core.specs import describe_errors

FILE_NAME = ".dockhand.toml"
MAX_TIMEOUT_SECONDS = 4 * 3600.0


class RepositoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reviews: StrictBool | None = None
    tests: StrictBool | None = None
    trigger_label: StrictStr | None = Field(default=None, min_length=1, max_length=50)
    branches: tuple[StrictStr, ...] | None = Field(default=None, max_length=100)
    auto_approve: StrictBool | None = None
    fix_ci: StrictBool | None = None
    fix_ci_attempts: int | None = Field(default=None, ge=0, le=20, strict=True)
    attempts: int | None = Field(default=None, ge=1, le=10, strict=True)


class ProjectOverride(BaseModel):
    """A `[[project]]` table: what replaces the detected plan of the project at `path`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    path: str = Field(default=".", max_length=500)
    language: Literal["python", "javascript", "go", "rust"] | None = None
    install: str | None = Field(default=None, max_length=10_000)
    test: str | None = Field(default=None, min_length=1, max_length=10_000)
    timeout_seconds: float | None = Field(default=None, ge=1, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False)
    network: bool | None = None
    env: dict[str, str] | None = Field(default=None, max_length=200)
    image: str | None = Field(default=None, min_length=1, max_length=300)


class SandboxTable(BaseModel):
    """The `[sandbox]` table: limits of the repository's sandboxes, within what the operator allows."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    disk: str | None = Field(default=None, pattern=SIZE_PATTERN)


class DockhandFile(BaseModel):
    """The whole `.dockhand.toml`: unknown tables and keys are errors that name them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project: tuple[ProjectOverride, ...] = Field(default=(), max_length=100)
    github: RepositoryConfig = RepositoryConfig()
    sandbox: SandboxTable = SandboxTable()


def parse_dockhand_file(text: str) -> DockhandFile:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{FILE_NAME} is not valid TOML: {exc}") from None
    try:
        return DockhandFile.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(f"{FILE_NAME}: {describe_errors(exc)}") from None


def parse_repository_config(text: str) -> RepositoryConfig:
    """The `[github]` table of a `.dockhand.toml` (empty config when there is none)."""
    return parse_dockhand_file(text).github
