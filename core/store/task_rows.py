"""Compare-and-set changes of task rows, shared by the queue and the approval gates.

Every change to a claimed or waiting task is conditional on what the changer last saw (its status,
claim token, lease), so a worker or a gate that lost the race changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, update

from core.errors import NotFoundError
from core.models import Approval, Task, TaskStage, utcnow
from core.states import ApprovalStatus, EventKind, StageStatus, TaskStatus
from core.store.journal import JournalTransaction
from core.store.queue_types import RetryDecision


def compare_and_set(
    txn: JournalTransaction,
    task_id: str,
    *,
    expect: tuple[TaskStatus, ...],
    token: str | None = None,
    lease_expired_before: datetime | None = None,
    **values: Any,
) -> bool:
    """Compare-and-set on a task row: changes it only if its status (token, lease) are as expected."""
    if "status" in values:
        for current in expect:
            current.check_transition(values["status"])
    where = [col(Task.id) == task_id, col(Task.status).in_(expect)]
    if token is not None:
        where.append(col(Task.claim_token) == token)
    if lease_expired_before is not None:
        # A heartbeat that renewed the lease after the sweep looked keeps the task with its worker.
        where.append(col(Task.lease_expires_at) < lease_expired_before)
    statement = update(Task).where(*where).values(updated_at=utcnow(), **values)
    result = txn.session.execute(statement.execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def end_claim(txn: JournalTransaction, task: Task, lease_expired_before: datetime | None, **values: Any) -> bool:
    """Take a running task away from the claim it had (requeue, fail, cancel, take over), if that claim still holds
    it (and, with `lease_expired_before`, its lease was not renewed since)."""
    return compare_and_set(
        txn,
        task.id,
        expect=(TaskStatus.RUNNING,),
        token=task.claim_token,
        lease_expired_before=lease_expired_before,
        lease_expires_at=None,
        **values,
    )


def close_pending_approvals(txn: JournalTransaction, task_id: str, status: ApprovalStatus, by: str) -> int:
    """Decide every still-pending approval of a task (it was cancelled, rejected or expired)."""
    result = txn.session.execute(
        update(Approval)
        .where(col(Approval.task_id) == task_id, col(Approval.status) == ApprovalStatus.PENDING)
        .values(status=status, decided_at=utcnow(), decided_by=by[:200])
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def close_waiting_stages(txn: JournalTransaction, task: Task, gate: StageStatus) -> None:
    """A waiting task ended (rejected, cancelled, expired): its gate stage shows how, the stages after it skipped."""
    for current, target in ((StageStatus.WAITING, gate), (StageStatus.PENDING, StageStatus.SKIPPED)):
        txn.session.execute(
            update(TaskStage)
            .where(
                col(TaskStage.task_id) == task.id,
                col(TaskStage.attempt) == task.attempt,
                col(TaskStage.status) == current,
            )
            .values(status=target, finished_at=utcnow() if current is StageStatus.WAITING else None)
            .execution_options(synchronize_session=False)
        )


def load_task(txn: JournalTransaction, task_id: str) -> Task:
    task = txn.session.get(Task, task_id, populate_existing=True)
    if task is None:
        raise NotFoundError(f"no task {task_id}")
    return task


def requeue(
    txn: JournalTransaction,
    task: Task,
    lease_expired_before: datetime | None,
    *,
    run_after: datetime,
    error: str,
    event: EventKind,
    message: str,
    data: dict[str, Any],
    **values: Any,
) -> RetryDecision | None:
    """Pending again from `run_after` (a retry, a takeover), recorded as `event`; None if the claim moved on."""
    pending = {"status": TaskStatus.PENDING, "worker_id": None, "claim_token": None}
    if not end_claim(txn, task, lease_expired_before, run_after=run_after, error=error, **pending, **values):
        return None
    txn.emit(task.id, event, status=TaskStatus.PENDING, message=message, data=data)
    return RetryDecision(task_id=task.id, status=TaskStatus.PENDING, run_after=run_after)
