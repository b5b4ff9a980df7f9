"""Typed vocabulary of the core: task types, priorities, statuses and their allowed transitions."""

from __future__ import annotations

from enum import StrEnum

from core.errors import InvalidTransitionError


class TaskType(StrEnum):
    ISSUE_RESOLUTION = "issue-resolution"
    CHANGE = "change"  # a change described in words (Slack, the CLI, the API), with no GitHub issue behind it
    PR_REVIEW = "pr-review"
    TEST_PIPELINE = "test-pipeline"
    CUSTOM = "custom"


class TaskPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {
    TaskPriority.LOW: 0,
    TaskPriority.MEDIUM: 1,
    TaskPriority.HIGH: 2,
    TaskPriority.URGENT: 3,
}


class TaskStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    """Stopped at a gate (e.g. before pushing), holding no worker, until someone approves or rejects."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    def check_transition(self, target: TaskStatus) -> None:
        if target not in _TASK_TRANSITIONS[self]:
            raise InvalidTransitionError(f"a {self.value} task cannot become {target.value}")


FINAL_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})

_TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.PENDING: frozenset({TaskStatus.RUNNING, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    # running → pending is a retry (lease expired or a transient error).
    TaskStatus.RUNNING: frozenset(
        {
            TaskStatus.PENDING,
            TaskStatus.AWAITING_APPROVAL,
            TaskStatus.SUCCEEDED,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
        }
    ),
    # approved → pending (the rest of the pipeline runs); rejected or cancelled → cancelled; expired → failed.
    TaskStatus.AWAITING_APPROVAL: frozenset({TaskStatus.PENDING, TaskStatus.CANCELLED, TaskStatus.FAILED}),
    TaskStatus.SUCCEEDED: frozenset(),
    TaskStatus.FAILED: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    WAITING = "waiting"
    """An approval gate waiting for a decision."""


class TriggerSource(StrEnum):
    """Where a task came from."""

    CLI = "cli"
    API = "api"
    GITHUB = "github"
    SLACK = "slack"
    SCHEDULE = "schedule"
    TUI = "tui"


class EventKind(StrEnum):
    CREATED = "created"
    CLAIMED = "claimed"
    STAGE_STARTED = "stage-started"
    STAGE_FINISHED = "stage-finished"
    RETRY_SCHEDULED = "retry-scheduled"
    TAKEN_OVER = "taken-over"
    """A dead worker's task went back to the queue at once (not counted as a retry; its data: which takeover)."""
    CANCEL_REQUESTED = "cancel-requested"
    APPROVAL_REQUESTED = "approval-requested"
    APPROVAL_DECIDED = "approval-decided"
    PROGRESS = "progress"
    """A running figure changed (e.g. the agent's cost so far)."""
    FINISHED = "finished"
    CI_FAILED = "ci-failed"
    """CI failed on the pull request a finished step opened or added to (its data: the failure, why no fix)."""


class LogStream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"
    SYSTEM = "system"
    AGENT = "agent"
    """The agent's turns: what it said, the tools it called and what they answered."""


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class SandboxState(StrEnum):
    CREATING = "creating"
    RUNNING = "running"
    STOPPED = "stopped"
    DESTROYED = "destroyed"


class SecretName(StrEnum):
    """The credentials dockhand can keep, by the setting they stand for."""

    GITHUB_TOKEN = "github_token"
    GITHUB_APP_PRIVATE_KEY = "github_app_private_key"
    GITHUB_WEBHOOK_SECRET = "github_webhook_secret"
    SLACK_BOT_TOKEN = "slack_bot_token"
    SLACK_APP_TOKEN = "slack_app_token"
    SLACK_SIGNING_SECRET = "slack_signing_secret"
    ANTHROPIC_API_KEY = "anthropic_api_key"
    API_TOKEN = "api_token"
