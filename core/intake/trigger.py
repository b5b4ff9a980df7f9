"""A trigger: who asked, from where, for what (a typed spec), about what, and how to tell a retry from a new ask."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError as PydanticValidationError

from core.errors import ValidationError
from core.specs import SPEC_TYPES, Spec, TaskSubmission, describe_errors
from core.states import TaskPriority, TaskType, TriggerSource

SpecT = TypeVar("SpecT", bound=Spec)
_TYPE_OF_SPEC = {spec: task_type for task_type, spec in SPEC_TYPES.items()}


def spec_of(model: type[SpecT], **fields: object) -> SpecT:
    """A front end's parsed request as its typed spec; raises `core.errors.ValidationError` saying what is
    wrong (an issue number 0, a ref too long…), which the front end answers and the intake audits."""
    try:
        return model.model_validate(fields)
    except PydanticValidationError as exc:
        raise ValidationError(f"invalid request: {describe_errors(exc)}") from None


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who asked: a Slack user ID, a GitHub login, `api`, a local user, a schedule's name."""

    id: str
    name: str = ""  # how to show them, when it is not the id
    is_bot: bool = False

    def __str__(self) -> str:
        return self.name or self.id


@dataclass(frozen=True, kw_only=True)
class Trigger:
    source: TriggerSource
    actor: Actor
    spec: Spec  # IssueResolutionSpec, PRReviewSpec, TestPipelineSpec, CustomSpec: which one says the task type
    repository: str | None = None
    ref: str | None = None  # what it is about: owner/repo#12, owner/repo@main
    dedup_key: str | None = None  # the request it came from: a retried delivery of it is the same trigger
    reply_to: str | None = None  # where the front end answers (a Slack channel); the chain does not use it
    priority: TaskPriority = TaskPriority.MEDIUM
    max_retries: int | None = None
    run_after: datetime | None = None

    @property
    def task_type(self) -> TaskType:
        return _TYPE_OF_SPEC[type(self.spec)]

    @property
    def target(self) -> str:
        """What the audit trail names as the target."""
        return self.ref or self.repository or self.task_type.value

    def submission(self) -> TaskSubmission:
        return TaskSubmission(
            type=self.task_type,
            payload=self.spec.model_dump(mode="json", exclude_none=True),
            repository=self.repository,
            priority=self.priority,
            max_retries=self.max_retries,
            run_after=self.run_after,
            dedup_key=self.dedup_key,
            trigger_source=self.source,
            triggered_by=self.actor.id,
            trigger_ref=self.ref,
        )

    @classmethod
    def from_submission(cls, submission: TaskSubmission) -> Trigger:
        """A submission made whole by its caller (the admin API's JSON, the CLI, a schedule, a retry).
        Raises `core.errors.ValidationError` when its payload is not its type's spec."""
        return cls(
            source=submission.trigger_source,
            actor=Actor(id=submission.triggered_by),
            spec=submission.validated_spec(),
            repository=submission.repository,
            ref=submission.trigger_ref,
            dedup_key=submission.dedup_key,
            priority=submission.priority,
            max_retries=submission.max_retries,
            run_after=submission.run_after,
        )
