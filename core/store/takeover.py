"""Taking over the task of a worker that died (its lease ran out, or its process is known to be gone).

The task goes back to pending at once, for the next idle worker: not after the retry backoff, and not charged to
its retry budget, which is for the task's own failures (a crash of the machine under it is not one). A task that
kills its worker every time it runs (it exhausts the memory, or brings the process down) would be taken over
forever, so takeovers have a cap of their own: once a task was taken over that many times, the next death of its
worker fails it, saying why. The takeovers are counted from the task's events, where each one is recorded.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, func, select

from core.models import Task, TaskEvent, utcnow
from core.states import EventKind, TaskStatus
from core.store.journal import JournalTransaction
from core.store.queue_types import RetryDecision
from core.store.task_rows import end_claim, requeue


def takeovers(txn: JournalTransaction, task_id: str) -> int:
    """How often the task was taken over from a dead worker so far."""
    query = select(func.count()).where(col(TaskEvent.task_id) == task_id, TaskEvent.kind == EventKind.TAKEN_OVER)
    return int(txn.session.execute(query).scalar_one())


def take_over(
    txn: JournalTransaction, task: Task, reason: str, *, limit: int, lease_expired_before: datetime | None = None
) -> RetryDecision | None:
    """Pending again at once (or failed, past `limit` takeovers); a no-op (None) if the claim moved on meanwhile."""
    done = takeovers(txn, task.id)
    now = utcnow()
    if done >= limit:
        error = (
            f"{reason}; its worker died on each of its last {done + 1} attempts, so it is not taken over again "
            f"(DOCKHAND_MAX_TAKEOVERS={limit}): does it bring its worker down?"
        )
        if not end_claim(txn, task, lease_expired_before, status=TaskStatus.FAILED, finished_at=now, error=error):
            return None
        txn.emit(task.id, EventKind.FINISHED, status=TaskStatus.FAILED, message=error)
        return RetryDecision(task_id=task.id, status=TaskStatus.FAILED)
    return requeue(
        txn,
        task,
        lease_expired_before,
        run_after=now,
        error=reason,
        event=EventKind.TAKEN_OVER,
        message=f"taken over ({done + 1} of at most {limit}; not counted as a retry): {reason}",
        data={"takeover": done + 1, "worker_id": task.worker_id, "attempt": task.attempt},
    )
