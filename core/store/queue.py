"""The durable task queue.

No two workers — threads or processes, on any machine — ever claim the same task, and the per-repository
limit is counted against what is really running: on SQLite every claim holds the write lock; on PostgreSQL
a claim locks its candidate row (`FOR UPDATE SKIP LOCKED`: concurrent claims take different tasks instead
of queueing behind each other) and, for a task of a repository, that repository's advisory lock before it
counts the repository's running tasks. A claim hands out a `claim_token`; every later
change by the worker (heartbeat, finish) is a compare-and-set on that token, so a worker that lost
its lease can no longer touch the task. Tasks whose lease expired are taken over by `sweep_expired`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased
from sqlmodel import col, func, select, update

from core.errors import InvalidTransitionError, NotFoundError
from core.models import Task, new_task_id, utcnow
from core.specs import ChangeSpec, TaskSubmission
from core.states import FINAL_STATUSES, ApprovalStatus, EventKind, StageStatus, TaskStatus
from core.store.admission import LIMITED_SOURCES, check_rates, live_task, same_work
from core.store.journal import Journal, JournalTransaction
from core.store.queue_types import Claim, HeartbeatReply, QueuePolicy, RetryDecision, SubmitResult, TaskFilter
from core.store.takeover import take_over
from core.store.task_rows import (
    close_pending_approvals,
    close_waiting_stages,
    compare_and_set,
    end_claim,
    load_task,
    requeue,
)

MAX_CANDIDATES = 5  # repositories found at their limit in one claim before it gives up (the next poll tries again)


class TaskQueue:
    def __init__(self, journal: Journal, policy: QueuePolicy) -> None:
        self.journal = journal
        self.db = journal.db
        self.policy = policy

    # --- submitting ------------------------------------------------------------------------
    def submit(self, submission: TaskSubmission) -> SubmitResult:
        """Store a new pending task; a submission whose dedup key is known returns the existing task."""
        spec = submission.validated_spec()
        now = utcnow()
        task = Task(
            id=new_task_id(),
            type=submission.type,
            priority=submission.priority,
            priority_rank=submission.priority.rank,
            repository=submission.repository,
            payload=spec.model_dump(mode="json"),
            trigger_source=submission.trigger_source,
            triggered_by=submission.triggered_by,
            trigger_ref=submission.trigger_ref,
            dedup_key=submission.dedup_key,
            waits_for=spec.continues if isinstance(spec, ChangeSpec) else None,
            created_at=now,
            updated_at=now,
            run_after=submission.run_after or now,
            max_retries=self.policy.default_max_retries if submission.max_retries is None else submission.max_retries,
            timeout_seconds=getattr(spec, "timeout_seconds", None),
        )
        try:
            with self.journal.transaction() as txn:
                if submission.dedup_key is not None:
                    existing = txn.session.exec(select(Task).where(Task.dedup_key == submission.dedup_key)).first()
                    if existing is not None:
                        return SubmitResult(task=existing, created=False)
                work = same_work(task)
                if submission.trigger_source in LIMITED_SOURCES or work is not None:
                    # Counted and stored under one lock: a concurrent burst cannot slip past the limits, nor
                    # two requests for the same work both start it.
                    self.db.claim_lock(txn.session)
                if work is not None and (live := live_task(txn.session, task, work)) is not None:
                    return SubmitResult(task=live, created=False, already_live=True)
                if submission.trigger_source in LIMITED_SOURCES:
                    check_rates(txn, self.policy, submission, now)
                txn.session.add(task)
                txn.session.flush()
                txn.emit(
                    task.id, EventKind.CREATED, status=TaskStatus.PENDING, message=f"{task.type.value} task queued"
                )
        except sa.exc.IntegrityError:
            # Another process stored the same dedup key between our check and our insert.
            with self.db.read() as session:
                existing = session.exec(select(Task).where(Task.dedup_key == submission.dedup_key)).first()
            if submission.dedup_key is None or existing is None:
                raise
            return SubmitResult(task=existing, created=False)
        return SubmitResult(task=task, created=True)

    # --- claiming and owning ---------------------------------------------------------------
    def claim(self, worker_id: str, *, task_id: str | None = None) -> Claim | None:
        """Atomically take the most urgent runnable task (or that one), respecting the per-repository limit."""
        token = new_task_id() + new_task_id()
        with self.journal.transaction() as txn:
            task_id = self._lock_candidate(txn.session, task_id)
            if task_id is None:
                return None
            now = utcnow()  # after the locks: waiting for them must not eat into the lease
            changed = compare_and_set(
                txn,
                task_id,
                expect=(TaskStatus.PENDING,),
                status=TaskStatus.RUNNING,
                worker_id=worker_id,
                claim_token=token,
                lease_expires_at=now + timedelta(seconds=self.policy.lease_seconds),
                started_at=now,
                attempt=Task.attempt + 1,
            )
            if not changed:
                return None
            task = load_task(txn, task_id)
            txn.emit(
                task_id,
                EventKind.CLAIMED,
                status=TaskStatus.RUNNING,
                message=f"attempt {task.attempt} started by {worker_id}",
                data={
                    "worker_id": worker_id,
                    "attempt": task.attempt,
                    "queued_seconds": _seconds(task.created_at, now),
                },
            )
        return Claim(task=task, token=token, worker_id=worker_id)

    def _lock_candidate(self, session: Any, wanted: str | None) -> str | None:
        """The most urgent runnable task (or `wanted`), locked for this transaction; None: nothing to claim. A
        repository another claim is counting right now, or found at its limit once its lock is held, is left
        out, and the next candidate tried."""
        full: set[str] = set()
        for _ in range(MAX_CANDIDATES):
            candidate = self._candidate(utcnow(), full)
            if wanted is not None:
                candidate = candidate.where(Task.id == wanted)
            if not self.db.is_sqlite:
                candidate = candidate.with_for_update(skip_locked=True, of=Task)
            row = session.execute(candidate).first()
            if row is None:
                return None
            task_id, repository = row
            if repository is None or self.db.is_sqlite:
                return str(task_id)
            if not self.db.try_repository_lock(session, repository):
                full.add(repository)
                continue
            running = session.execute(
                select(func.count()).where(Task.status == TaskStatus.RUNNING, Task.repository == repository)
            ).scalar_one()
            if running < self.policy.per_repo_limit:
                return str(task_id)
            full.add(repository)
        return None

    def _candidate(self, now: datetime, full: Collection[str] = ()) -> Any:
        busy_repositories = (
            select(Task.repository)
            .where(Task.status == TaskStatus.RUNNING, col(Task.repository).is_not(None))
            .group_by(col(Task.repository))
            .having(func.count() >= self.policy.per_repo_limit)
        )
        earlier = aliased(Task)
        unfinished = select(earlier.id).where(col(earlier.status).not_in(FINAL_STATUSES))
        return (
            select(Task.id, Task.repository)
            .where(
                Task.status == TaskStatus.PENDING,
                col(Task.run_after) <= now,
                sa.or_(col(Task.repository).is_(None), col(Task.repository).not_in(busy_repositories)),
                sa.or_(col(Task.repository).is_(None), col(Task.repository).not_in(sorted(full))),
                sa.or_(col(Task.waits_for).is_(None), col(Task.waits_for).not_in(unfinished)),
            )
            .order_by(col(Task.priority_rank).desc(), col(Task.created_at), col(Task.id))
            .limit(1)
        )

    def heartbeat(self, tokens: dict[str, str]) -> HeartbeatReply:
        """Renew the leases this worker holds; report the ones it lost and the ones to cancel."""
        if not tokens:
            return HeartbeatReply()
        now = utcnow()
        with self.db.write() as session:
            session.execute(
                update(Task)
                .where(
                    col(Task.id).in_(tokens),
                    col(Task.claim_token).in_(tokens.values()),
                    col(Task.status) == TaskStatus.RUNNING,
                )
                .values(lease_expires_at=now + timedelta(seconds=self.policy.lease_seconds))
            )
            rows = session.exec(
                select(Task.id, Task.claim_token, Task.status, Task.cancel_requested).where(col(Task.id).in_(tokens))
            ).all()
        owned = {tid for tid, token, status, _ in rows if token == tokens[tid] and status == TaskStatus.RUNNING}
        cancel = {tid for tid, _, _, requested in rows if requested and tid in owned}
        return HeartbeatReply(lost=frozenset(set(tokens) - owned), cancel_requested=frozenset(cancel))

    def finish(
        self,
        claim: Claim,
        status: TaskStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> bool:
        """Record the end of a run; False when the worker no longer owned the task."""
        if not status.is_final:
            raise InvalidTransitionError(f"finish() needs a final status, not {status.value}")
        now = utcnow()
        with self.journal.transaction() as txn:
            changed = compare_and_set(
                txn,
                claim.task.id,
                expect=(TaskStatus.RUNNING,),
                token=claim.token,
                status=status,
                finished_at=now,
                lease_expires_at=None,
                result=result,
                error=error,
                metrics=metrics,
            )
            if changed:
                txn.emit(claim.task.id, EventKind.FINISHED, status=status, message=error or status.value)
        return changed

    def retry_or_fail(self, claim: Claim, error: str) -> RetryDecision | None:
        """After an unexpected error: back to pending with backoff, or failed when retries are spent."""
        with self.journal.transaction() as txn:
            self.db.claim_lock(txn.session)
            task = load_task(txn, claim.task.id)
            if task.claim_token != claim.token or task.status is not TaskStatus.RUNNING:
                return None
            return self._retry_or_fail(txn, task, error)

    def release(self, claim: Claim, reason: str) -> bool:
        """Give a task back untouched (worker shutting down): pending again, no retry counted."""
        with self.journal.transaction() as txn:
            self.db.claim_lock(txn.session)
            task = load_task(txn, claim.task.id)
            if task.cancel_requested and task.claim_token == claim.token:
                return self._cancel_running(txn, task, "cancelled") is not None
            changed = compare_and_set(
                txn,
                claim.task.id,
                expect=(TaskStatus.RUNNING,),
                token=claim.token,
                status=TaskStatus.PENDING,
                worker_id=None,
                claim_token=None,
                lease_expires_at=None,
                run_after=utcnow(),
            )
            if changed:
                txn.emit(claim.task.id, EventKind.RETRY_SCHEDULED, status=TaskStatus.PENDING, message=reason)
        return changed

    def sweep_expired(
        self, dead: Callable[[str | None], bool] = lambda worker_id: False, *, leases: bool = True
    ) -> list[RetryDecision]:
        """Take over running tasks whose lease ran out (their worker died or stalled; unless not `leases`), and those
        whose worker `dead` says is surely gone (without waiting for the lease): see `core.store.takeover`."""
        now = utcnow()
        leased = select(Task.worker_id, Task.lease_expires_at).where(Task.status == TaskStatus.RUNNING)
        with self.db.read() as session:  # a cheap look first: most sweeps find nothing, and take no lock
            running = session.exec(leased).all()
        if not any((leases and lease is not None and lease < now) or dead(worker) for worker, lease in running):
            return []
        decisions: list[RetryDecision | None] = []
        with self.journal.transaction() as txn:
            self.db.claim_lock(txn.session)
            for task in txn.session.exec(select(Task).where(Task.status == TaskStatus.RUNNING)).all():
                if leases and task.lease_expires_at is not None and task.lease_expires_at < now:
                    reason = f"lease expired: worker {task.worker_id} stopped heartbeating"
                    decisions.append(self._take_over(txn, task, reason, lease_expired_before=now))
                elif dead(task.worker_id):  # the claim token still guards against a claim that moved on
                    decisions.append(self._take_over(txn, task, f"worker {task.worker_id} is no longer running"))
        return [d for d in decisions if d is not None]

    def running_attempts(self) -> dict[str, int]:
        """The attempt each running task is on, by task ID."""
        with self.db.read() as session:
            rows = session.exec(select(Task.id, Task.attempt).where(Task.status == TaskStatus.RUNNING)).all()
        return {task_id: attempt for task_id, attempt in rows}

    # --- cancelling ------------------------------------------------------------------------
    def request_cancel(self, task_id: str, *, by: str = "") -> Task:
        """Cancel a pending (or waiting) task at once; ask a running one to stop (its worker sees it on heartbeat)."""
        who = f" by {by}" if by else ""
        for _ in range(5):
            with self.journal.transaction() as txn:
                # The claim lock keeps claims and sweeps out; finish() may still win the race (then we retry).
                self.db.claim_lock(txn.session)
                task = load_task(txn, task_id)
                if task.status in (TaskStatus.PENDING, TaskStatus.AWAITING_APPROVAL):
                    if compare_and_set(
                        txn,
                        task_id,
                        expect=(task.status,),
                        status=TaskStatus.CANCELLED,
                        finished_at=utcnow(),
                        cancel_requested=True,
                        error="cancelled",
                    ):
                        close_pending_approvals(txn, task_id, ApprovalStatus.REJECTED, by or "cancel")
                        close_waiting_stages(txn, task, StageStatus.CANCELLED)
                        txn.emit(task_id, EventKind.FINISHED, status=TaskStatus.CANCELLED, message=f"cancelled{who}")
                        return load_task(txn, task_id)
                elif task.status is TaskStatus.RUNNING:
                    if compare_and_set(
                        txn, task_id, expect=(TaskStatus.RUNNING,), token=task.claim_token, cancel_requested=True
                    ):
                        txn.emit(
                            task_id,
                            EventKind.CANCEL_REQUESTED,
                            status=TaskStatus.RUNNING,
                            message=f"cancel requested{who}",
                        )
                        return load_task(txn, task_id)
                else:
                    raise InvalidTransitionError(f"task {task_id} is already {task.status.value}")
        raise InvalidTransitionError(f"task {task_id} kept changing while being cancelled; try again")

    # --- reading ---------------------------------------------------------------------------
    def get(self, task_id: str) -> Task:
        with self.db.read() as session:
            task = session.get(Task, task_id)
            if task is None:
                raise NotFoundError(f"no task {task_id}")
            return task

    def find_by_dedup_key(self, dedup_key: str) -> Task | None:
        with self.db.read() as session:
            return session.exec(select(Task).where(Task.dedup_key == dedup_key)).first()

    def list(self, flt: TaskFilter) -> list[Task]:
        query = select(Task)
        if flt.statuses:
            query = query.where(col(Task.status).in_(flt.statuses))
        if flt.types:
            query = query.where(col(Task.type).in_(flt.types))
        if flt.repository:
            query = query.where(Task.repository == flt.repository)
        if flt.trigger_ref:
            query = query.where(Task.trigger_ref == flt.trigger_ref)
        for column, wanted in ((Task.payload, flt.payload_equals), (Task.result, flt.result_equals)):
            for key, value in wanted.items():  # "pull_request.pull_number": a field inside a field
                element: Any = col(column)
                for part in key.split("."):  # one step at a time: PostgreSQL's json has no text[] path here
                    element = element[part]
                query = query.where(
                    element.as_integer() == value if isinstance(value, int) else element.as_string() == value
                )
        query = query.order_by(col(Task.created_at).desc(), col(Task.id)).limit(flt.limit)
        with self.db.read() as session:
            return list(session.exec(query).all())

    def counts_by_status(self) -> dict[TaskStatus, int]:
        with self.db.read() as session:
            rows = session.exec(select(Task.status, func.count()).group_by(col(Task.status))).all()
        counts = dict.fromkeys(TaskStatus, 0)
        counts.update({TaskStatus(status): n for status, n in rows})
        return counts

    # --- internals -------------------------------------------------------------------------
    def _retry_or_fail(
        self, txn: JournalTransaction, task: Task, error: str, *, lease_expired_before: datetime | None = None
    ) -> RetryDecision | None:
        """Requeue with backoff or fail (or cancel, if asked); a no-op (None) if the claim moved on meanwhile."""
        if task.cancel_requested:
            return self._cancel_running(txn, task, error, lease_expired_before=lease_expired_before)
        now = utcnow()
        if task.retry_count < task.max_retries:
            retry = task.retry_count + 1
            run_after = now + timedelta(seconds=self.policy.backoff(retry))
            return requeue(
                txn,
                task,
                lease_expired_before,
                run_after=run_after,
                error=error,
                event=EventKind.RETRY_SCHEDULED,
                message=f"retry {retry}/{task.max_retries} at {run_after.isoformat(timespec='seconds')}: {error}",
                data={"retry": retry, "run_after": run_after.isoformat()},
                retry_count=retry,
            )
        if not end_claim(txn, task, lease_expired_before, status=TaskStatus.FAILED, finished_at=now, error=error):
            return None
        txn.emit(
            task.id,
            EventKind.FINISHED,
            status=TaskStatus.FAILED,
            message=f"failed after {task.retry_count} retries: {error}",
        )
        return RetryDecision(task_id=task.id, status=TaskStatus.FAILED)

    def _take_over(
        self, txn: JournalTransaction, task: Task, reason: str, *, lease_expired_before: datetime | None = None
    ) -> RetryDecision | None:
        if task.cancel_requested:
            return self._cancel_running(txn, task, reason, lease_expired_before=lease_expired_before)
        return take_over(txn, task, reason, limit=self.policy.max_takeovers, lease_expired_before=lease_expired_before)

    def _cancel_running(
        self, txn: JournalTransaction, task: Task, reason: str, *, lease_expired_before: datetime | None = None
    ) -> RetryDecision | None:
        if not end_claim(
            txn, task, lease_expired_before, status=TaskStatus.CANCELLED, finished_at=utcnow(), error="cancelled"
        ):
            return None
        txn.emit(task.id, EventKind.FINISHED, status=TaskStatus.CANCELLED, message=f"cancelled ({reason})")
        return RetryDecision(task_id=task.id, status=TaskStatus.CANCELLED)


def _seconds(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds(), 6)
