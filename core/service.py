"""`Core`: the one façade every front end (HTTP, CLI, Slack, GitHub, TUI) drives.

It wires the store, the queue, events, logs, pipelines, the worker pool and the scheduler, and
only delegates. Front ends build a `TaskSubmission`, call `submit`, `cancel`, `task_detail`…, and
subscribe to `bus` for progress.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from core.attempt_choice import check_pickable
from core.errors import DockhandError, InvalidTransitionError, NotFoundError
from core.events import TaskEventRecord
from core.history import TaskHistory
from core.intake.authorise import TRUSTED, Authoriser
from core.intake.chain import Intake
from core.intake.trigger import Trigger
from core.metrics import Metrics, StateFigures, state_gauges
from core.models import Sandbox, Task, TaskStage, WorkerProcess, utcnow
from core.periodic import start_scheduler
from core.pipeline import PipelineRegistry, PipelineRunner, RunReport
from core.pipelines import default_registry
from core.process_identity import ProcessLiveness
from core.redaction import Redactor
from core.results import result_of
from core.sandboxing import SandboxBackend, SandboxOwner, remove_owned_sandboxes
from core.scheduler import Scheduler
from core.settings import Settings
from core.specs import TaskSubmission
from core.states import TaskStatus, TriggerSource
from core.store.approvals import Decision
from core.store.audit import AuditAction, AuditOutcome, AuditRecord
from core.store.interface import SandboxIndex, Store
from core.store.logs import LogLine
from core.store.queue_types import Claim, SubmitResult, TaskFilter
from core.store.schedules import submission_for
from core.worker import WorkerPool

log = logging.getLogger(__name__)


class Cache(Protocol):
    """A cache that `dockhand cache clear` and POST /session/clear empty, expired hourly, counted in /metrics."""

    name: str

    def clear(self) -> int: ...

    def expire(self) -> int: ...

    def stats(self) -> dict[str, int]: ...


@dataclass(frozen=True, kw_only=True)
class TaskDetail:
    task: Task
    stages: list[TaskStage]
    events: list[TaskEventRecord]


@dataclass(frozen=True, kw_only=True)
class Activity:
    items: list[TaskEventRecord | LogLine]
    after_event: int
    after_log: int


@dataclass(frozen=True, kw_only=True)
class StatusReport:
    counts: dict[TaskStatus, int]
    active: list[Task]
    sandbox_count: int
    credentials: dict[str, bool]
    workers: int
    running_here: list[str]
    fleet: list[WorkerProcess]  # the processes running workers on any machine, heard from in the last minute


class Core:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        registry: PipelineRegistry | None = None,
        sandboxes: Callable[[SandboxIndex], SandboxBackend] | None = None,
        caches: Sequence[Cache] = (),
    ) -> None:
        """`store` is opened by the entry point (`core.store.sql.open_sql_store`); `sandboxes` builds the sandbox
        backend on the store's sandbox index (the entry point decides which backend)."""
        self.settings = settings
        self.store = store
        self.bus = store.journal.bus
        self.journal = store.journal
        self.queue = store.tasks
        self.logs = store.logs
        self.stages = store.stages
        self.schedules = store.schedules
        self.deliveries = store.deliveries
        self.notifications = store.notifications
        self.approvals = store.approvals
        self.audit = store.audit
        self.board = store.board
        self.artifacts = store.artifacts
        self.fleet = store.fleet
        self.installations = store.installations
        self.channels = store.channels
        self.sandbox_records = store.sandboxes
        self.redactor = Redactor.from_settings(settings)
        self.registry = registry or default_registry()
        self.sandboxes = sandboxes(store.sandboxes) if sandboxes is not None else None
        self.history = TaskHistory(self.queue)
        self.intake = Intake(self.queue, self.audit, self._enqueue)
        self.runner = PipelineRunner(
            self.registry,
            self.stages,
            settings,
            self.sandboxes,
            previous_result=self.history.previous_test_result,
            approved_gate=self.approvals.approved_gate,
            redactor=self.redactor,
            artifacts=self.artifacts,
        )
        self.metrics = Metrics()
        self.metrics.add_gauges(
            lambda: state_gauges(
                StateFigures(
                    task_counts=self.queue.counts_by_status,
                    sandbox_count=lambda: len(self.list_sandboxes()),
                    dropped_events=lambda: {sub.name: sub.dropped for sub in self.bus.subscriptions},
                    cache_lookups=lambda: {cache.name: cache.stats() for cache in self.caches},
                )
            )
        )
        self.caches: list[Cache] = [*caches, *getattr(self.sandboxes, "caches", ())]  # + snapshots, warm pool
        self.pool: WorkerPool | None = None
        self.scheduler: Scheduler | None = None
        self.liveness = ProcessLiveness(settings.data_dir / "workers")

    # --- running ---------------------------------------------------------------------------
    def start(self, *, workers: int | None = None, scheduler: bool = True) -> None:
        """Start the worker pool (and the scheduler): what `dockhand serve` and `dockhand worker` run."""
        size = self.settings.workers if workers is None else workers
        if self.sandboxes is not None:
            removed = self.sandboxes.cleanup_orphans()
            if removed:
                log.warning("removed %d orphaned sandboxes: %s", len(removed), ", ".join(removed))
        if scheduler:
            self.scheduler = start_scheduler(self)
            self.sync_schedules()
        self.sweep()
        if size > 0:
            self.pool = self._worker_pool(size)
            self.pool.start()
            self.fleet.listen(self.pool.wake)  # work announced by any process on the database

    def stop(self, grace_seconds: float = 10.0) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
            self.scheduler = None
        if self.pool is not None:
            self.pool.stop(grace_seconds)
            self.pool = None
        self.fleet.close()  # after the scheduler: a job still running does not take the lead again
        self.bus.close()
        self.store.lifecycle.dispose()

    def close(self) -> None:
        """Let go of the store's connections (a CLI command that ran no workers is done)."""
        self.fleet.close()
        self.store.lifecycle.dispose()

    def run_now(self, task_id: str) -> Task:
        """Run one pending task in this thread (the CLI's `dockhand run`), leased and heartbeated like any."""
        pool = self._worker_pool(0)  # no worker threads: this thread runs the task, the pool keeps its lease
        claim = self.queue.claim(f"{pool.process_id}/run", task_id=task_id)
        if claim is None:
            raise InvalidTransitionError(f"task {task_id} cannot run now (not pending, or its repository is busy)")
        self.pool = pool
        pool.start()
        try:
            pool.execute(claim)
        finally:
            pool.stop(grace_seconds=0)
            self.pool = None
        return self.task(task_id)

    def nudge(self, name: str) -> None:
        """Run the periodic job `name` now rather than at its next interval (e.g. a webhook was stored)."""
        if self.scheduler is not None:
            self.scheduler.run_soon(name)

    def every(self, name: str, seconds: float, fn: Callable[[], object]) -> None:
        """Register periodic clean-up work (idle sandboxes, expired cache entries…)."""
        if self.scheduler is None:
            raise DockhandError(f"cannot schedule {name!r}: the scheduler is not running in this process")
        self.scheduler.every(name, seconds, fn)

    # --- tasks -----------------------------------------------------------------------------
    def submit(self, submission: TaskSubmission, authoriser: Authoriser = TRUSTED) -> SubmitResult:
        """Start a task through the intake chain (`core/intake/chain.py`); raises what refused it."""
        try:
            trigger = Trigger.from_submission(submission)
        except DockhandError as exc:
            self.intake.refuse(
                source=submission.trigger_source,
                actor=submission.triggered_by,
                action=AuditAction.SUBMIT,
                target=submission.trigger_ref or submission.repository or submission.type.value,
                reason=str(exc),
            )
            raise
        return self.intake.handle(trigger, authoriser).submit_result()

    def _enqueue(self, trigger: Trigger) -> SubmitResult:
        """The intake's last step: store the task, and wake a worker for it."""
        self.registry.get(trigger.task_type)  # refuse what nothing can run, before storing it
        outcome = self.queue.submit(trigger.submission())
        if outcome.created:
            self.metrics.tasks_submitted.labels(trigger.task_type.value, trigger.source.value).inc()
            self._wake_at(outcome.task.run_after)
        return outcome

    def cancel(self, task_id: str, *, by: str = "", source: TriggerSource | None = None) -> Task:
        try:
            task = self.queue.request_cancel(task_id, by=by)
        except DockhandError as exc:
            self._audit(AuditAction.CANCEL, by, source, task_id, AuditOutcome.REFUSED, str(exc))
            raise
        self._audit(AuditAction.CANCEL, by, source, task_id, AuditOutcome.DONE, task.status.value)
        if self.pool is not None and task.status is TaskStatus.RUNNING:
            self.pool.cancel_local(task_id, f"cancelled by {by}" if by else "cancelled")
        return task

    def _audit(
        self,
        action: AuditAction,
        by: str,
        source: TriggerSource | None,
        task_id: str,
        outcome: AuditOutcome,
        detail: str = "",
    ) -> None:
        self.audit.record(
            AuditRecord(
                actor=by,
                source=str(source or ""),
                action=action,
                target=task_id,
                outcome=outcome,
                detail=detail,
                task_id=task_id,
            )
        )

    def approve(
        self, task_id: str, *, by: str, source: TriggerSource | None = None, attempt: int | None = None
    ) -> Decision:
        """Let a waiting task go on (queued again, it resumes after its gate); `attempt`: which attempt to publish."""
        try:
            if attempt is not None:
                check_pickable(result_of(self.queue.get(task_id)), attempt)
            decision = self.approvals.decide(task_id, approve=True, by=by, choice=attempt)
        except DockhandError as exc:
            self._audit(AuditAction.APPROVE, by, source, task_id, AuditOutcome.REFUSED, str(exc))
            raise
        self._audit(
            AuditAction.APPROVE, by, source, task_id, AuditOutcome.DONE, f"attempt {attempt}" if attempt else ""
        )
        self._wake_at(utcnow())
        return decision

    def reject(self, task_id: str, *, by: str, reason: str = "", source: TriggerSource | None = None) -> Decision:
        try:
            decision = self.approvals.decide(task_id, approve=False, by=by, reason=reason)
        except DockhandError as exc:
            self._audit(AuditAction.REJECT, by, source, task_id, AuditOutcome.REFUSED, str(exc))
            raise
        self._audit(AuditAction.REJECT, by, source, task_id, AuditOutcome.DONE, reason)
        return decision

    def retry(self, task_id: str, *, by: str) -> Task:
        """Run a finished task's request again, as a new task."""
        old = self.queue.get(task_id)
        if not old.status.is_final:
            raise InvalidTransitionError(f"task {task_id} is {old.status.value}: only a finished task can run again")
        submission = TaskSubmission(
            type=old.type,
            payload=old.payload,
            repository=old.repository,
            priority=old.priority,
            trigger_source=TriggerSource.TUI,
            triggered_by=by,
            trigger_ref=old.trigger_ref,
        )
        return self.submit(submission).task

    def task(self, task_id: str) -> Task:
        return self.queue.get(task_id)

    def find_task(self, task_id: str) -> Task | None:
        try:
            return self.queue.get(task_id)
        except NotFoundError:
            return None

    def tasks(self, flt: TaskFilter) -> list[Task]:
        return self.queue.list(flt)

    def task_detail(self, task_id: str) -> TaskDetail:
        task = self.queue.get(task_id)
        return TaskDetail(task=task, stages=self.stages.list(task_id), events=self.journal.events(task_id))

    def activity(self, task_id: str, after_event: int = 0, after_log: int = 0) -> Activity:
        """A task's events and log lines since the given ids, merged in time order (for following it)."""
        events = self.journal.events(task_id, after_id=after_event)
        lines = self.logs.tail(task_id, after_id=after_log)
        merged: list[TaskEventRecord | LogLine] = sorted([*events, *lines], key=lambda item: item.created_at)
        return Activity(
            items=merged,
            after_event=events[-1].id if events else after_event,
            after_log=lines[-1].id if lines else after_log,
        )

    def follow(
        self, task_id: str, *, done: Callable[[], bool], wait: Callable[[float], object] = time.sleep
    ) -> Iterator[TaskEventRecord | LogLine]:
        """A task's events and log lines as they come, until `done()` (asked before each read, so whatever
        was written before it said so is still read once more)."""
        after_event = after_log = 0
        while True:
            finishing = done()
            activity = self.activity(task_id, after_event, after_log)
            after_event, after_log = activity.after_event, activity.after_log
            yield from activity.items
            if finishing:
                return
            wait(0.3)

    def status(self) -> StatusReport:
        active = self.queue.list(
            TaskFilter(statuses=(TaskStatus.RUNNING, TaskStatus.PENDING, TaskStatus.AWAITING_APPROVAL), limit=100)
        )
        return StatusReport(
            counts=self.queue.counts_by_status(),
            active=active,
            sandbox_count=len(self.sandboxes.list()) if self.sandboxes is not None else 0,
            credentials=self.settings.configured_credentials(),
            workers=self.pool.size if self.pool is not None else 0,
            running_here=self.pool.running_task_ids if self.pool is not None else [],
            fleet=self.store.workers.alive(),
        )

    def sweep(self, *, sandboxes: bool = True) -> None:
        """Take over tasks whose worker died (known gone here; lease expired: the leader does), then (unless not
        `sandboxes`) remove this machine's sandboxes of attempts that are over, with whatever still runs in them."""
        for decision in self.queue.sweep_expired(dead=self.liveness.known_dead, leases=self.fleet.leads()):
            log.warning("task %s taken over from a dead worker: now %s", decision.task_id, decision.status.value)
            if decision.run_after is not None:
                self._wake_at(decision.run_after)
        if self.sandboxes is not None and sandboxes:
            try:
                self.remove_abandoned_sandboxes()
            except Exception as exc:  # the Docker engine away for a moment: the next sweep tries again
                log.warning("could not look for sandboxes of attempts that are over: %s", exc)

    def remove_abandoned_sandboxes(self) -> list[str]:
        """Remove the sandboxes made for a task attempt that is no longer running."""
        assert self.sandboxes is not None
        running: dict[str, int] | None = None

        def over(owner: SandboxOwner) -> bool:
            nonlocal running
            if running is None:  # read after the sandboxes were listed: one made after a claim is kept
                running = self.queue.running_attempts()
            return running.get(owner.task_id) != owner.attempt

        return remove_owned_sandboxes(self.sandboxes, over)

    # --- sandboxes and caches (filled by the sandbox package) -------------------------------
    def list_sandboxes(self) -> list[Sandbox]:
        return self.sandboxes.list() if self.sandboxes is not None else []

    def destroy_sandbox(self, sandbox_id: str) -> None:
        if self.sandboxes is None:
            raise NotFoundError(f"no sandbox {sandbox_id}")
        self.sandboxes.destroy(sandbox_id)

    def clear_caches(self) -> dict[str, int]:
        return {cache.name: cache.clear() for cache in self.caches}

    # --- schedules -------------------------------------------------------------------------
    def sync_schedules(self) -> None:
        if self.scheduler is None:
            return
        jobs = {s.name: (s.cron, self._schedule_firer(s.name)) for s in self.schedules.list(enabled_only=True)}
        self.scheduler.set_cron_jobs(jobs)

    def _schedule_firer(self, name: str) -> Callable[[datetime], object]:
        def fire(fire_time: datetime) -> None:
            if not self.fleet.leads():  # every process keeps the cron jobs; the leading one fires them
                return
            for schedule in self.schedules.list(enabled_only=True):
                if schedule.name == name:
                    self.submit(submission_for(schedule, fire_time))

        return fire

    # --- internals -------------------------------------------------------------------------
    def _worker_pool(self, size: int) -> WorkerPool:
        return WorkerPool(
            queue=self.queue,
            runner=self.runner,
            logs=self.logs,
            size=size,
            heartbeat_seconds=self.settings.effective_heartbeat_seconds,
            poll_seconds=self.settings.poll_interval_seconds,
            on_claimed=self._claimed,
            on_finished=self._finished,
            approvals=self.approvals,
            liveness=self.liveness,
            roster=self.store.workers,
        )

    def _wake_at(self, when: datetime) -> None:
        """Claimable now: every process's idle workers look (this one's directly); later: this one's then."""
        if when <= utcnow():
            self.fleet.announce()
        if self.pool is None:
            return
        if when <= utcnow() or self.scheduler is None:
            self.pool.wake()
        else:
            self.scheduler.at(when, self.pool.wake)

    def _claimed(self, claim: Claim) -> None:
        waited = (utcnow() - max(claim.task.run_after, claim.task.created_at)).total_seconds()
        self.metrics.claim_latency.observe(max(waited, 0.0))

    def _finished(self, claim: Claim, report: RunReport) -> None:
        self.metrics.tasks_finished.labels(claim.task.type.value, report.outcome.value).inc()
        duration = report.metrics.get("duration_seconds")
        if isinstance(duration, int | float):
            self.metrics.task_duration.labels(claim.task.type.value).observe(duration)
