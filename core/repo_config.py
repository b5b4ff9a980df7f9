"""A repository's own settings for dockhand: the `[github]` table of `.dockhand.toml` on its default branch.

    [github]
    reviews = true             # review pull requests when they are opened or updated
    tests = true               # run the test pipeline on pushes
    trigger_label = "dockhand" # an issue opened or labelled with this is resolved
    branches = ["main"]        # pushes to these run the tests (default: the default branch)
    auto_approve = false       # publish the agent's changes without waiting for a person

Unset keys fall back to dockhand's settings. (`[[project]]` tables in the same file configure the test
pipeline: see `core.testrun.detect`.)
"""

from __future__ import annotations

import tomllib

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from core.errors import ValidationError
from core.specs import describe_errors

FILE_NAME = ".dockhand.toml"


class RepositoryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reviews: bool | None = None
    tests: bool | None = None
    trigger_label: str | None = Field(default=None, min_length=1, max_length=50)
    branches: tuple[str, ...] | None = Field(default=None, max_length=100)
    auto_approve: bool | None = None


def parse_repository_config(text: str) -> RepositoryConfig:
    """The `[github]` table of a `.dockhand.toml` (empty config when there is none)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{FILE_NAME} is not valid TOML: {exc}") from None
    table = data.get("github", {})
    if not isinstance(table, dict):
        raise ValidationError(f"{FILE_NAME}: [github] must be a table")
    try:
        return RepositoryConfig.model_validate(table)
    except PydanticValidationError as exc:
        raise ValidationError(f"{FILE_NAME} [github]: {describe_errors(exc)}") from None
