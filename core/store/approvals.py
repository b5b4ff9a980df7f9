"""Approval gates: a task stops before an irreversible step (a push, a PR) until a person decides.

A gate stage raises `ApprovalRequired`; the worker then parks the task in `awaiting_approval` with
what it has so far (`request`), which frees the worker and survives restarts. `decide` approves —
the task goes back to the queue and the pipeline resumes after the gate — or rejects it (cancelled).
`expire` fails tasks nobody decided on in time. Every decision records who made it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from core.errors import InvalidTransitionError
from core.models import Approval, utcnow
from core.pipeline import ApprovalRequest
from core.states import ApprovalStatus, EventKind, StageStatus, TaskStatus
from core.store.journal import Journal
from core.store.queue_types import Claim
from core.store.task_rows import close_pending_approvals, close_waiting_stages, compare_and_set, load_task


@dataclass(frozen=True, kw_only=True)
class Decision:
    task_id: str
    approved: bool
    by: str
    status: TaskStatus


class ApprovalGates:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.db = journal.db

    def request(
        self, claim: Claim, request: ApprovalRequest, *, result: dict[str, Any], metrics: dict[str, Any]
    ) -> bool:
        """Park a running task at its gate; False when the worker no longer owned it."""
        now = utcnow()
        expires_at = (
            now + timedelta(seconds=request.expires_in_seconds) if request.expires_in_seconds is not None else None
        )
        with self.journal.transaction() as txn:
            self.db.claim_lock(txn.session)
            task = load_task(txn, claim.task.id)
            if task.claim_token != claim.token or task.status is not TaskStatus.RUNNING:
                return False
            if task.cancel_requested:
                changed = compare_and_set(
                    txn,
                    task.id,
                    expect=(TaskStatus.RUNNING,),
                    token=claim.token,
                    status=TaskStatus.CANCELLED,
                    finished_at=now,
                    lease_expires_at=None,
                    error="cancelled",
                    result=result,
                    metrics=metrics,
                )
                if changed:
                    txn.emit(task.id, EventKind.FINISHED, status=TaskStatus.CANCELLED, message="cancelled")
                return changed
            changed = compare_and_set(
                txn,
                task.id,
                expect=(TaskStatus.RUNNING,),
                token=claim.token,
                status=TaskStatus.AWAITING_APPROVAL,
                worker_id=None,
                claim_token=None,
                lease_expires_at=None,
                result=result,
                metrics=metrics,
            )
            if not changed:
                return False
            approval = Approval(
                task_id=task.id,
                action=request.gate,
                summary=request.summary,
                requested_at=now,
                expires_at=expires_at,
            )
            txn.session.add(approval)
            txn.session.flush()
            txn.emit(
                task.id,
                EventKind.APPROVAL_REQUESTED,
                status=TaskStatus.AWAITING_APPROVAL,
                stage=request.gate,
                message=f"waiting for approval: {request.gate}",
                data={
                    "approval_id": approval.id,
                    "summary": request.summary,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                },
            )
        return True

    def decide(self, task_id: str, *, approve: bool, by: str, reason: str = "", choice: int | None = None) -> Decision:
        """Approve (the task is queued again and resumes after its gate) or reject (it ends cancelled)."""
        who = by or "someone"
        with self.journal.transaction() as txn:
            self.db.claim_lock(txn.session)
            task = load_task(txn, task_id)
            approval = self._pending(txn.session, task_id)
            if task.status is not TaskStatus.AWAITING_APPROVAL or approval is None:
                raise InvalidTransitionError(f"task {task_id} is {task.status.value}, not waiting for approval")
            now = utcnow()
            if approve and approval.expires_at is not None and approval.expires_at < now:
                raise InvalidTransitionError(f"the approval of task {task_id} expired; start the task again")
            approval.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
            approval.decided_at = now
            approval.decided_by = who[:200]
            approval.choice = choice if approve else None
            txn.session.add(approval)
            if approve:
                compare_and_set(
                    txn, task_id, expect=(TaskStatus.AWAITING_APPROVAL,), status=TaskStatus.PENDING, run_after=now
                )
                status, message = TaskStatus.PENDING, f"{approval.action} approved by {who}"
            else:
                error = f"rejected by {who}" + (f": {reason}" if reason else "")
                compare_and_set(
                    txn,
                    task_id,
                    expect=(TaskStatus.AWAITING_APPROVAL,),
                    status=TaskStatus.CANCELLED,
                    finished_at=now,
                    error=error,
                )
                status, message = TaskStatus.CANCELLED, f"{approval.action} {error}"
                close_waiting_stages(txn, task, StageStatus.CANCELLED)
            txn.emit(
                task_id,
                EventKind.APPROVAL_DECIDED,
                status=status,
                stage=approval.action,
                message=message,
                data={"approved": approve, "by": who, "reason": reason, "choice": choice},
            )
            if not approve:
                txn.emit(task_id, EventKind.FINISHED, status=status, message=message)
        return Decision(task_id=task_id, approved=approve, by=who, status=status)

    def expire(self, now: datetime | None = None) -> list[str]:
        """Fail the tasks whose approval was not given in time; their IDs."""
        now = now or utcnow()
        expired: list[str] = []
        with self.journal.transaction() as txn:
            self.db.claim_lock(txn.session)
            rows = txn.session.exec(
                select(Approval).where(
                    Approval.status == ApprovalStatus.PENDING,
                    col(Approval.expires_at).is_not(None),
                    col(Approval.expires_at) < now,
                )
            ).all()
            for approval in rows:
                message = f"approval of {approval.action} expired (nobody decided in time)"
                if not compare_and_set(
                    txn,
                    approval.task_id,
                    expect=(TaskStatus.AWAITING_APPROVAL,),
                    status=TaskStatus.FAILED,
                    finished_at=now,
                    error=message,
                ):
                    continue
                close_pending_approvals(txn, approval.task_id, ApprovalStatus.EXPIRED, "expiry")
                close_waiting_stages(txn, load_task(txn, approval.task_id), StageStatus.FAILED)
                txn.emit(approval.task_id, EventKind.APPROVAL_DECIDED, status=TaskStatus.FAILED, message=message)
                txn.emit(approval.task_id, EventKind.FINISHED, status=TaskStatus.FAILED, message=message)
                expired.append(approval.task_id)
        return expired

    def approved_gate(self, task_id: str) -> Approval | None:
        """The latest approved gate of a task: a resumed run starts after it."""
        with self.db.read() as session:
            return session.exec(
                select(Approval)
                .where(Approval.task_id == task_id, Approval.status == ApprovalStatus.APPROVED)
                .order_by(col(Approval.id).desc())
            ).first()

    def of(self, task_id: str) -> list[Approval]:
        with self.db.read() as session:
            return list(session.exec(select(Approval).where(Approval.task_id == task_id).order_by(col(Approval.id))))

    @staticmethod
    def _pending(session: Any, task_id: str) -> Approval | None:
        approval: Approval | None = session.exec(
            select(Approval)
            .where(Approval.task_id == task_id, Approval.status == ApprovalStatus.PENDING)
            .order_by(col(Approval.id).desc())
        ).first()
        return approval
