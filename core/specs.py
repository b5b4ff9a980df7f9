"""What a task is asked to do: one typed spec per task type, and the submission that carries it.

Every front end (CLI, HTTP API, Slack, GitHub) builds a `TaskSubmission`; the payload is validated
against the spec of its task type before anything is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from core.errors import ValidationError
from core.repo_ref import RepoRef, check_full_name
from core.states import TaskPriority, TaskType, TriggerSource


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
RepoName = Annotated[str, AfterValidator(check_full_name)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomSpec(Spec):
    """Run a shell command."""

    command: Text = Field(min_length=1, max_length=20_000)
    timeout_seconds: float | None = Field(default=None, gt=0, le=24 * 3600)
    env: dict[EnvName, Text] = Field(default_factory=dict)
    network: bool = False

    @field_validator("env")
    @classmethod
    def _not_reserved(cls, env: dict[str, str]) -> dict[str, str]:
        if "DOCKHAND_TASK_ID" in env:
            raise ValueError("DOCKHAND_TASK_ID is set by dockhand")
        return env


ATTEMPTS_DESCRIPTION = "Independent agent attempts, in their own sandboxes; the best is offered (up to a cap)"


class IssueResolutionSpec(Spec):
    issue_number: int = Field(ge=1)
    budget_usd: float | None = Field(default=None, gt=0, le=10_000, description="Dollars the agent may spend")
    attempts: int | None = Field(default=None, ge=1, le=10, description=ATTEMPTS_DESCRIPTION)


class ThreadMessage(Spec):
    """One earlier message of the conversation a request was made in (its author's name or id, its text)."""

    author: Text = Field(max_length=200)
    text: Text = Field(max_length=4000)


class ReviewRequest(Spec):
    """A follow-up that addresses a pull-request review: its line comments are read when the step starts."""

    review_id: int | None = Field(default=None, ge=1, description="The review (None: the newest one)")


class CiFailure(Spec):
    """A follow-up that fixes failing CI checks: what failed on which commit, and the end of the failing log."""

    head_sha: str = Field(pattern=r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
    checks: list[Annotated[Text, StringConstraints(max_length=300)]] = Field(min_length=1, max_length=50)
    url: Text | None = Field(default=None, max_length=2000)
    summary: Text = Field(default="", max_length=4000)
    log: Text = Field(default="", max_length=30_000, description="The end of the failing job's log")


class ChangeSpec(Spec):
    """A change asked for in words: the request is the task, as an issue's text would be; the conversation it
    was asked in (a Slack thread's earlier messages) comes with it as context."""

    request: Text = Field(min_length=1, max_length=20_000)
    budget_usd: float | None = Field(default=None, gt=0, le=10_000, description="Dollars the agent may spend")
    attempts: int | None = Field(default=None, ge=1, le=10, description=ATTEMPTS_DESCRIPTION)
    requested_in: Text | None = Field(default=None, max_length=2000, description="Where it was asked (a link)")
    thread: list[ThreadMessage] = Field(default_factory=list, max_length=50)
    continues: str | None = Field(default=None, pattern=r"^[0-9a-f]{6,32}$", description="The task whose PR it adds to")
    review: ReviewRequest | None = None
    ci: CiFailure | None = None

    @field_validator("request")
    @classmethod
    def _not_blank(cls, request: str) -> str:
        if not request.strip():
            raise ValueError("the request is empty")
        return request

    @model_validator(mode="after")
    def _feedback_continues(self) -> ChangeSpec:
        if (self.review is not None or self.ci is not None) and self.continues is None:
            raise ValueError("a review's or a CI failure's follow-up must name the step it continues")
        return self


class PRReviewSpec(Spec):
    pr_number: int = Field(ge=1)
    budget_usd: float | None = Field(default=None, gt=0, le=10_000, description="Dollars the review may spend")


class TestPipelineSpec(Spec):
    __test__ = False  # not a pytest class

    ref: Text | None = Field(default=None, max_length=255)
    source: Text | None = Field(default=None, max_length=2000, description="Local path or git URL")
    base: Text | None = Field(default=None, max_length=255, description="Ref to measure diff coverage against")
    force: bool = False


SPEC_TYPES: dict[TaskType, type[Spec]] = {
    TaskType.CUSTOM: CustomSpec,
    TaskType.ISSUE_RESOLUTION: IssueResolutionSpec,
    TaskType.CHANGE: ChangeSpec,
    TaskType.PR_REVIEW: PRReviewSpec,
    TaskType.TEST_PIPELINE: TestPipelineSpec,
}

_NEEDS_REPOSITORY = frozenset({TaskType.ISSUE_RESOLUTION, TaskType.CHANGE, TaskType.PR_REVIEW})


def parse_spec(task_type: TaskType, payload: dict[str, Any]) -> Spec:
    try:
        return SPEC_TYPES[task_type].model_validate(payload)
    except PydanticValidationError as exc:
        raise ValidationError(f"invalid payload for a {task_type.value} task: {describe_errors(exc)}") from None


def describe_errors(exc: PydanticValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


class TaskSubmission(BaseModel):
    """A request to run a task, from any front end."""

    model_config = ConfigDict(extra="forbid")

    type: TaskType
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: TaskPriority = TaskPriority.MEDIUM
    repository: RepoName | None = None
    max_retries: int | None = Field(default=None, ge=0, le=100)
    run_after: datetime | None = None
    dedup_key: Text | None = Field(default=None, min_length=1, max_length=300)
    trigger_source: TriggerSource = TriggerSource.API
    triggered_by: Text = Field(default="", max_length=200)
    trigger_ref: Text | None = Field(default=None, max_length=500)

    @field_validator("run_after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("run_after needs a time zone (e.g. 2026-01-01T00:00:00Z)")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("run_after is out of range") from None

    def validated_spec(self) -> Spec:
        """The payload as its typed spec; raises `core.errors.ValidationError` with the reason."""
        spec = parse_spec(self.type, self.payload)
        if self.type in _NEEDS_REPOSITORY and self.repository is None:
            raise ValidationError(f"a {self.type.value} task needs a repository (owner/name)")
        return spec

    @classmethod
    def from_json(cls, data: Any) -> TaskSubmission:
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise ValidationError(f"invalid submission: {describe_errors(exc)}") from None


def repository_of(ref: RepoRef) -> str:
    if ref.owner is None:
        raise ValidationError(f"{ref}: the repository needs an owner (owner/repo)")
    return ref.full_name
