"""What the queue is given and gives back: its policy, a claim, a filter, and the answers to submit, heartbeat
and retry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from core.models import Task
from core.states import TaskStatus, TaskType


@dataclass(frozen=True, kw_only=True)
class QueuePolicy:
    lease_seconds: float
    per_repo_limit: int
    default_max_retries: int
    backoff_seconds: float
    backoff_max_seconds: float
    max_takeovers: int = 3
    """Times a task is taken over from a dead worker before the next death fails it (see core.store.takeover)."""
    repo_tasks_per_hour: int = 0
    """Tasks one repository may get per hour from Slack, GitHub and the API (0: no limit)."""
    submissions_per_minute: int = 0
    """Tasks all of those may submit per minute together (0: no limit)."""

    def backoff(self, retry_count: int) -> float:
        """Delay before retry number `retry_count` (1-based): base, 2*base, 4*base… capped."""
        return min(self.backoff_seconds * (2 ** max(retry_count - 1, 0)), self.backoff_max_seconds)


@dataclass(frozen=True, kw_only=True)
class Claim:
    """A task a worker now owns, and the token that proves it."""

    task: Task
    token: str
    worker_id: str


@dataclass(frozen=True, kw_only=True)
class HeartbeatReply:
    lost: frozenset[str] = frozenset()
    cancel_requested: frozenset[str] = frozenset()


@dataclass(frozen=True, kw_only=True)
class SubmitResult:
    task: Task
    created: bool
    # Not created because the same work is already under way (a second "resolve" of an issue whose first
    # is still live): front ends answer "already on it" with the live task, instead of a second attempt.
    already_live: bool = False


@dataclass(frozen=True, kw_only=True)
class RetryDecision:
    task_id: str
    status: TaskStatus
    run_after: datetime | None = None


@dataclass(kw_only=True)
class TaskFilter:
    statuses: Sequence[TaskStatus] = field(default_factory=tuple)
    types: Sequence[TaskType] = field(default_factory=tuple)
    repository: str | None = None
    trigger_ref: str | None = None
    # Fields of the payload / the result that must have these values (compared in the database); a dotted
    # name reaches inside: "pull_request.pull_number".
    payload_equals: Mapping[str, int | str] = field(default_factory=dict)
    result_equals: Mapping[str, int | str] = field(default_factory=dict)
    limit: int = 50
