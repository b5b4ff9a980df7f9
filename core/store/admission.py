"""What a submission must pass before it becomes a task (inside the queue's submit transaction): the rate
limits on what comes from outside, and one live task at a time for the same work (the same issue)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session, col, func, select

from core.errors import RateLimitedError
from core.models import Task
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType, TriggerSource
from core.store.journal import JournalTransaction

if TYPE_CHECKING:
    from core.store.queue_types import QueuePolicy

# Operators (CLI, TUI) and dockhand's own schedules are not rate-limited; people reaching it from outside are.
LIMITED_SOURCES = (TriggerSource.SLACK, TriggerSource.GITHUB, TriggerSource.API)


def check_rates(txn: JournalTransaction, policy: QueuePolicy, submission: TaskSubmission, now: datetime) -> None:
    """Refuse (`RateLimitedError`, with when to try again) a submission over the per-minute or per-repository limits."""
    limited = col(Task.trigger_source).in_(LIMITED_SOURCES)
    per_minute = policy.submissions_per_minute
    if per_minute:
        since = now - timedelta(minutes=1)
        recent = txn.session.exec(
            select(func.count(), func.min(Task.created_at)).where(limited, col(Task.created_at) > since)
        ).one()
        if recent[0] >= per_minute:
            raise RateLimitedError(
                f"dockhand takes at most {per_minute} tasks a minute from Slack, GitHub and the API",
                (recent[1] + timedelta(minutes=1) - now).total_seconds(),
            )
    per_hour = policy.repo_tasks_per_hour
    if per_hour and submission.repository:
        since = now - timedelta(hours=1)
        recent = txn.session.exec(
            select(func.count(), func.min(Task.created_at)).where(
                # GitHub names are case-insensitive: Acme/Calc is acme/calc, and counts against it.
                limited,
                func.lower(Task.repository) == submission.repository.lower(),
                col(Task.created_at) > since,
            )
        ).one()
        if recent[0] >= per_hour:
            raise RateLimitedError(
                f"{submission.repository} has had {per_hour} tasks in the last hour (the limit)",
                (recent[1] + timedelta(hours=1) - now).total_seconds(),
            )


# --- the same work twice ------------------------------------------------------------------------
# Work that one live task at a time does: an issue's resolution; the follow-ups on one earlier step (one at
# a time on its branch, or the second one's push would not be a fast-forward).
_SAME_WORK_KEYS = {TaskType.ISSUE_RESOLUTION: "issue_number", TaskType.CHANGE: "continues"}


def same_work(task: Task) -> tuple[str, object] | None:
    """(payload key, value) that names the work a task does, for types where one live task at a time is right."""
    key = _SAME_WORK_KEYS.get(task.type)
    if key is None or task.repository is None or task.payload.get(key) is None:
        return None
    return key, task.payload[key]


def live_task(session: Session, task: Task, work: tuple[str, object]) -> Task | None:
    key, value = work
    live = session.exec(
        select(Task)
        .where(Task.type == task.type, Task.repository == task.repository, col(Task.status).in_(_LIVE))
        .order_by(col(Task.created_at))
    ).all()
    return next((t for t in live if (t.payload or {}).get(key) == value), None)


_LIVE = tuple(status for status in TaskStatus if not status.is_final)
