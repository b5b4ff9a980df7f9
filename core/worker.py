"""Workers: threads that claim tasks, run their pipelines and keep their leases alive.

One heartbeat thread per pool renews every lease the pool holds in a single statement and learns
which tasks were cancelled (from any process) or lost (lease taken away after a stall).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.cancellation import CancelToken, StopKind
from core.errors import NoPipelineError, ValidationError
from core.pipeline import Outcome, PipelineRunner, RunReport
from core.process_identity import ProcessLiveness, process_identity
from core.states import TaskStatus
from core.store.queue_types import Claim

if TYPE_CHECKING:  # the store's protocols name pipeline types: imported for annotations only
    from core.store.interface import ApprovalStore, LogStore, TaskStore, WorkerRosterStore

log = logging.getLogger(__name__)


@dataclass
class _Running:
    claim: Claim
    cancel: CancelToken


FinishedHook = Callable[[Claim, RunReport], None]


class WorkerPool:
    def __init__(
        self,
        *,
        queue: TaskStore,
        runner: PipelineRunner,
        logs: LogStore,
        size: int,
        heartbeat_seconds: float,
        poll_seconds: float,
        on_finished: FinishedHook | None = None,
        on_claimed: Callable[[Claim], None] | None = None,
        approvals: ApprovalStore | None = None,
        liveness: ProcessLiveness | None = None,
        roster: WorkerRosterStore | None = None,
    ) -> None:
        self.queue = queue
        self.approvals = approvals
        self.runner = runner
        self.logs = logs
        self.size = size
        self.heartbeat_seconds = heartbeat_seconds
        self.poll_seconds = poll_seconds
        self.on_finished = on_finished
        self.on_claimed = on_claimed
        self.process_id = process_identity()
        self.liveness = liveness
        self.roster = roster if size > 0 else None  # a pool that only runs one task here and now is no worker
        if liveness is not None:  # before the first claim: while this process lives, its leases are its own
            liveness.hold(self.process_id)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._beat_stop = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._threads: list[threading.Thread] = []
        self._beat_thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        for i in range(self.size):
            thread = threading.Thread(target=self._work_loop, args=(f"{self.process_id}/w{i}",), name=f"worker-{i}")
            thread.start()
            self._threads.append(thread)
        self._beat_stop.clear()
        self._beat_thread = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        self._beat_thread.start()

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop claiming; give running tasks `grace_seconds`, then hand them back to the queue."""
        self._stopping.set()
        self._wake.set()
        deadline = threading.Event()
        timer = threading.Timer(grace_seconds, deadline.set)
        timer.start()
        for thread in self._threads:
            while thread.is_alive() and not deadline.is_set():
                thread.join(0.1)
            if thread.is_alive():
                self._interrupt_all()
                thread.join(5.0)
        timer.cancel()
        self._threads.clear()
        self._beat_stop.set()
        if self._beat_thread is not None:  # a beat under way ends before this process leaves the roster
            self._beat_thread.join(timeout=10)
        if self.roster is not None:
            try:
                self.roster.leave(self.process_id)
            except Exception as exc:  # it is forgotten once it has been silent long enough
                log.warning("could not take this process off the roster: %s", exc)
        if self.liveness is not None:
            self.liveness.release(self.process_id)

    def wake(self) -> None:
        """New work may be there: let an idle worker look now instead of at its next poll."""
        self._wake.set()

    @property
    def running_task_ids(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def cancel_local(self, task_id: str, reason: str) -> bool:
        """Stop a task this process runs now, without waiting for the next heartbeat."""
        with self._lock:
            running = self._running.get(task_id)
        if running is None:
            return False
        running.cancel.cancel(reason)
        return True

    # --- loops -----------------------------------------------------------------------------
    def _work_loop(self, worker_id: str) -> None:
        while not self._stopping.is_set():
            try:
                claim = self.queue.claim(worker_id)
            except Exception:
                log.exception("worker %s could not claim a task", worker_id)
                claim = None
            if claim is None:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            try:
                self.execute(claim)
            except Exception:
                # Never lose the worker thread; the task's lease expires and the sweep recovers it.
                log.exception("worker %s failed around task %s", worker_id, claim.task.id)

    def execute(self, claim: Claim) -> None:
        """Run a claimed task to its end and record the outcome (the pool's heartbeat keeps its lease)."""
        task = claim.task
        cancel = CancelToken()
        with self._lock:
            self._running[task.id] = _Running(claim=claim, cancel=cancel)
        if task.cancel_requested:
            cancel.cancel("cancelled")
        if self.on_claimed is not None:
            _call_hook(self.on_claimed, claim)
        sink = self.logs.sink(task.id)
        try:
            sink.system(f"attempt {task.attempt} of {task.type.value} task {task.id} on {claim.worker_id}")
            report = self.runner.run(task, sink, cancel)
        except (NoPipelineError, ValidationError) as exc:
            report = RunReport(outcome=Outcome.FAILED, result={}, metrics={}, error=self.runner.redactor.text(str(exc)))
        except Exception as exc:
            # The runner's own bookkeeping failed (e.g. the database was briefly unavailable): try again later.
            log.exception("task %s could not run", task.id)
            error = self.runner.redactor.text(f"{type(exc).__name__}: {exc}")
            report = RunReport(outcome=Outcome.RETRY, result={}, metrics={}, error=error)
        finally:
            with self._lock:
                self._running.pop(task.id, None)
        try:
            # Flush the log before the final status, so whoever sees the status also sees every line.
            if report.error:
                sink.system(f"{report.outcome.value}: {report.error}")
            sink.flush()
        except Exception:
            log.exception("task %s: could not write its last log lines", task.id)
        try:
            recorded = self._record(claim, report)
        except Exception:
            log.exception(
                "task %s: could not record its outcome; its lease will expire and the sweep recovers it", task.id
            )
            return
        if recorded and self.on_finished is not None:
            _call_hook(self.on_finished, claim, report)

    def _record(self, claim: Claim, report: RunReport) -> bool:
        """Store the run's outcome; False when it was discarded (lease lost meanwhile)."""
        if report.outcome is Outcome.LOST:
            log.warning("task %s: lease lost, result of this attempt discarded", claim.task.id)
            return False
        if report.outcome is Outcome.RETRY:
            return self.queue.retry_or_fail(claim, report.error or "unexpected error") is not None
        if report.outcome is Outcome.AWAITING_APPROVAL:
            if report.approval is None or self.approvals is None:
                return self.queue.finish(claim, TaskStatus.FAILED, error="an approval gate with nowhere to wait")
            return self.approvals.request(claim, report.approval, result=report.result, metrics=report.metrics)
        if report.outcome is Outcome.RELEASED:
            return self.queue.release(claim, "worker shut down before the task finished; it will run again")
        status = {
            Outcome.SUCCEEDED: TaskStatus.SUCCEEDED,
            Outcome.FAILED: TaskStatus.FAILED,
            Outcome.CANCELLED: TaskStatus.CANCELLED,
        }[report.outcome]
        return self.queue.finish(claim, status, result=report.result, error=report.error, metrics=report.metrics)

    def _heartbeat_loop(self) -> None:
        self._say_alive()
        while not self._beat_stop.wait(self.heartbeat_seconds):
            with self._lock:
                tokens = {tid: r.claim.token for tid, r in self._running.items()}
            self._say_alive(len(tokens))
            if not tokens:
                continue
            try:
                reply = self.queue.heartbeat(tokens)
            except Exception:
                log.exception("heartbeat failed; will try again")
                continue
            for task_id in reply.lost:
                self._cancel(task_id, "lease lost: another worker may own this task now", StopKind.LEASE_LOST)
            for task_id in reply.cancel_requested:
                self._cancel(task_id, "cancelled", StopKind.CANCELLED)

    def _say_alive(self, running: int = 0) -> None:
        """On the roster every machine's `/status` and TUI read."""
        if self.roster is None or self._stopping.is_set():
            return
        try:
            self.roster.beat(self.process_id, threads=self.size, running=running)
        except Exception as exc:  # the store away for a moment: the next beat says it
            log.warning("could not tell the roster this process is alive: %s", exc)

    def _cancel(self, task_id: str, reason: str, kind: StopKind) -> None:
        with self._lock:
            running = self._running.get(task_id)
        if running is not None:
            running.cancel.cancel(reason, kind)

    def _interrupt_all(self) -> None:
        with self._lock:
            running = list(self._running.values())
        for r in running:
            r.cancel.cancel("worker shutting down", StopKind.SHUTDOWN)


def _call_hook(hook: Callable[..., None], *args: object) -> None:
    try:
        hook(*args)
    except Exception:
        log.exception("worker hook %r failed", hook)
