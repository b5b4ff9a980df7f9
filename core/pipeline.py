"""Pipelines: a named sequence of stages that a worker runs for a task type.

A stage is a function of a `StageContext`. It ends the task by raising:
`StageFailedError` (an expected failure, no retry), `TaskCancelledError` (stop now), or any other
exception (unexpected: the task is retried per its policy). Stage status, timings and errors are
persisted by `PipelineRunner`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from core.artifacts import ArtifactStore
from core.cancellation import CancelToken, StopKind
from core.errors import (
    ApprovalRequired,
    LeaseLostError,
    NoPipelineError,
    StageFailedError,
    TaskCancelledError,
)
from core.models import Approval, Task
from core.redaction import Redactor
from core.results import stored_result
from core.sandboxing import SandboxOwner, SandboxProvider, remove_owned_sandboxes
from core.settings import Settings
from core.specs import Spec, parse_spec
from core.states import StageStatus, TaskType
from core.store.logs import LogSink

if TYPE_CHECKING:  # the store's protocols name pipeline types: imported for annotations only
    from core.store.interface import StageStore

log = logging.getLogger(__name__)

# Environment variables a task is given whose values are secrets by their name.
SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|PASS\b|KEY|CREDENTIAL|AUTH|PRIVATE|COOKIE|SESSION", re.IGNORECASE
)


@dataclass(kw_only=True)
class StageContext:
    """What a stage gets: the task, its typed spec, settings, a log, the cancel token, shared results."""

    task: Task
    spec: Spec
    settings: Settings
    log: LogSink
    cancel: CancelToken
    sandboxes: SandboxProvider | None = None
    artifacts: ArtifactStore | None = None
    """Where the files a task made are kept for any machine to read (the database)."""
    previous_result: Callable[[str], dict[str, Any] | None] = lambda run_key: None
    """The result of an earlier finished run with this run key, if any (to skip repeating work)."""
    result: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    run: object | None = None
    """What the stages of this run share in memory (a checkout, a sandbox, parsed reports): made by the first
    stage that needs it, typed by the pipeline that owns it, never stored."""
    progress: Callable[[str, dict[str, Any]], None] = lambda message, data: None
    """Tell watchers a running figure changed (e.g. the agent's cost so far): an event, stored and published."""

    @property
    def sandbox_owner(self) -> SandboxOwner:
        return SandboxOwner(self.task.id, self.task.attempt)

    def sandbox_id(self, kind: str) -> str:
        """This attempt's own sandbox of a kind: a retry never reuses what a dead attempt left running."""
        return f"{kind}-{self.task.id}-{self.task.attempt}"


StageFn = Callable[[StageContext], None]


def artifact_store(ctx: StageContext) -> ArtifactStore:
    if ctx.artifacts is None:
        raise StageFailedError("no artifact store: this worker cannot keep what the task makes")
    return ctx.artifacts


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn
    irreversible: bool = False
    """Once it has run, its effect stands (a pushed branch, an opened PR): a cancel that arrives while it
    runs does not make the task look cancelled after it succeeded; the stages after it are not run."""


@dataclass(frozen=True)
class Pipeline:
    name: str
    stages: tuple[Stage, ...]
    finally_stage: Stage | None = None  # always runs last (clean-up), whatever happened; not a recorded stage


class PipelineRegistry:
    """Which pipeline runs which task type; later issues register theirs here."""

    def __init__(self) -> None:
        self._pipelines: dict[TaskType, Pipeline] = {}
        self._missing: dict[TaskType, str] = {}  # why a task type cannot run here, and what to do
        self._deferred: dict[TaskType, Callable[[], None]] = {}
        self._loading = threading.RLock()

    def register(self, task_type: TaskType, pipeline: Pipeline) -> None:
        self._pipelines[task_type] = pipeline
        self._missing.pop(task_type, None)
        self._deferred.pop(task_type, None)

    def defer(self, task_types: Iterable[TaskType], load: Callable[[], None]) -> None:
        """`load` registers these task types' pipelines (or says why they are unavailable) when one of them is
        first asked for: a process that never runs or submits them never imports what they need (an SDK)."""
        for task_type in task_types:
            self._deferred[task_type] = load

    def unavailable(self, task_type: TaskType, reason: str) -> None:
        """This task type needs something that is not configured: `reason` says what to set."""
        if task_type not in self._pipelines:
            self._missing[task_type] = reason

    def get(self, task_type: TaskType) -> Pipeline:
        if task_type not in self._pipelines:  # deferred, or being loaded by another thread: wait for it
            self._load(task_type)
        try:
            return self._pipelines[task_type]
        except KeyError:
            reason = self._missing.get(task_type)
            message = (
                f"{task_type.value} tasks {reason}" if reason else f"no pipeline is registered for {task_type.value}"
            )
            raise NoPipelineError(message) from None

    def _load(self, task_type: TaskType) -> None:
        with self._loading:  # worker threads may ask at once: one of them loads
            load = self._deferred.get(task_type)
            if load is None:
                return
            types = [t for t, pending in self._deferred.items() if pending is load]
            for other in types:
                del self._deferred[other]
            try:
                load()
            except Exception as exc:  # said on every later submission, not only in this one's traceback
                for other in types:
                    self.unavailable(other, f"cannot run here: loading their pipeline failed ({exc})")
                raise


class Outcome(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRY = "retry"
    LOST = "lost"
    RELEASED = "released"
    AWAITING_APPROVAL = "awaiting-approval"


@dataclass(frozen=True, kw_only=True)
class ApprovalRequest:
    """What a gate stage asks for: the gate's name, a summary for the person deciding, and a deadline."""

    gate: str
    summary: str
    expires_in_seconds: float | None


@dataclass(frozen=True, kw_only=True)
class RunReport:
    outcome: Outcome
    result: dict[str, Any]
    metrics: dict[str, Any]
    error: str | None = None
    approval: ApprovalRequest | None = None


class PipelineRunner:
    def __init__(
        self,
        registry: PipelineRegistry,
        stages: StageStore,
        settings: Settings,
        sandboxes: SandboxProvider | None = None,
        previous_result: Callable[[str], dict[str, Any] | None] | None = None,
        approved_gate: Callable[[str], Approval | None] | None = None,
        redactor: Redactor | None = None,
        artifacts: ArtifactStore | None = None,
    ) -> None:
        self.previous_result = previous_result or (lambda run_key: None)
        self.artifacts = artifacts
        self.approved_gate = approved_gate or (lambda task_id: None)
        self.registry = registry
        self.stages = stages
        self.settings = settings
        self.sandboxes = sandboxes
        self.redactor = redactor or Redactor.from_settings(settings)

    def run(self, task: Task, log_sink: LogSink, cancel: CancelToken) -> RunReport:
        pipeline = self.registry.get(task.type)
        spec = parse_spec(task.type, task.payload)
        env = task.payload.get("env")
        secret_values = [v for k, v in env.items() if SECRET_NAME.search(k)] if isinstance(env, dict) else []
        redactor = self.redactor.including(secret_values) if secret_values else self.redactor
        if secret_values:  # a task's own secrets (DEPLOY_TOKEN=…) never show in its output; the store's
            log_sink.hide(Redactor(secret_values, patterns=False).text)  # redaction does the rest
        ctx = StageContext(
            task=task,
            spec=spec,
            settings=self.settings,
            log=log_sink,
            cancel=cancel,
            sandboxes=self.sandboxes,
            artifacts=self.artifacts,
            previous_result=self.previous_result,
            progress=lambda message, data: self.stages.progress(task.id, message, data),
        )
        self._remove_earlier_attempts(task)
        names = [s.name for s in pipeline.stages]
        self.stages.plan(task.id, task.attempt, names)
        first = self._resume_point(task, names, ctx)
        started = time.monotonic()
        outcome, error, approval = Outcome.SUCCEEDED, None, None
        for position, stage in enumerate(pipeline.stages):
            if position < first:
                continue
            if cancel.cancelled:
                outcome, error = self._stopped(cancel)
                self.stages.skip_rest(task.id, task.attempt, position - 1)
                break
            self.stages.start(task.id, task.attempt, position)
            try:
                status, outcome, error = self._run_stage(stage, ctx, cancel)
            except ApprovalRequired as gate:
                approval = ApprovalRequest(
                    gate=stage.name,
                    summary=self.redactor.text(gate.summary),
                    expires_in_seconds=gate.expires_in_seconds,
                )
                status, outcome, error = StageStatus.WAITING, Outcome.AWAITING_APPROVAL, None
            log_sink.flush()
            error = redactor.text(error) if error else error
            self.stages.finish(task.id, task.attempt, position, status, error)
            if outcome is not Outcome.SUCCEEDED:
                if outcome is not Outcome.AWAITING_APPROVAL:
                    self.stages.skip_rest(task.id, task.attempt, position)
                break
        if pipeline.finally_stage is not None:
            try:
                pipeline.finally_stage.run(ctx)
            except Exception:
                log.exception("clean-up of task %s failed", task.id)
        ctx.metrics.setdefault("duration_seconds", round(time.monotonic() - started, 6))
        return RunReport(
            outcome=outcome,
            result=redactor.value(stored_result(task.type, ctx.result)),
            metrics=ctx.metrics,
            error=redactor.text(error) if error else error,
            approval=approval,
        )

    def _remove_earlier_attempts(self, task: Task) -> None:
        """A retry starts only once the sandboxes of the task's earlier attempts (and what still runs in
        them, e.g. after its worker was killed) are gone."""
        if self.sandboxes is None or task.attempt <= 1:
            return  # a first attempt has no earlier one (and a task that needs no sandbox never waits on Docker)
        try:
            remove_owned_sandboxes(self.sandboxes, lambda o: o.task_id == task.id and o.attempt != task.attempt)
        except Exception as exc:  # Docker away for a moment: the sweep removes them later
            log.warning("task %s: could not look for its earlier attempts' sandboxes: %s", task.id, exc)

    def _resume_point(self, task: Task, names: list[str], ctx: StageContext) -> int:
        """After an approved gate, a run resumes behind it with what the run before it found."""
        approval = self.approved_gate(task.id)
        if approval is None or approval.action not in names:
            return 0
        position = names.index(approval.action)
        self.stages.carry_over(task.id, task.attempt, position)
        ctx.result.update(task.result or {})
        ctx.metrics.update(task.metrics or {})
        decided = approval.decided_at.isoformat() if approval.decided_at else None
        ctx.result["approval"] = {"gate": approval.action, "by": approval.decided_by, "at": decided}
        if approval.choice is not None:  # the person picked one of several proposals (an attempt) by number
            ctx.result["approval"]["attempt"] = approval.choice
        ctx.log.system(f"{approval.action} was approved by {approval.decided_by}: resuming after it")
        return position + 1

    @staticmethod
    def _stopped(cancel: CancelToken) -> tuple[Outcome, str]:
        outcome = {
            StopKind.CANCELLED: Outcome.CANCELLED,
            StopKind.LEASE_LOST: Outcome.LOST,
            StopKind.SHUTDOWN: Outcome.RELEASED,
        }[cancel.kind]
        return outcome, cancel.reason or "cancelled"

    def _run_stage(
        self, stage: Stage, ctx: StageContext, cancel: CancelToken
    ) -> tuple[StageStatus, Outcome, str | None]:
        try:
            stage.run(ctx)
        except ApprovalRequired:
            if cancel.cancelled:
                outcome, reason = self._stopped(cancel)
                return StageStatus.CANCELLED, outcome, reason
            raise
        except (StageFailedError, TaskCancelledError, LeaseLostError) as exc:
            if not cancel.cancelled and isinstance(exc, StageFailedError):
                return StageStatus.FAILED, Outcome.FAILED, str(exc)
            outcome, reason = self._stopped(cancel)
            return StageStatus.CANCELLED, outcome, reason
        except Exception as exc:
            if cancel.cancelled:
                outcome, reason = self._stopped(cancel)
                return StageStatus.CANCELLED, outcome, reason
            log.exception("stage %s of task %s failed unexpectedly", stage.name, ctx.task.id)
            return StageStatus.FAILED, Outcome.RETRY, f"{type(exc).__name__}: {exc}"
        if cancel.cancelled and not (stage.irreversible and cancel.kind is StopKind.CANCELLED):
            outcome, reason = self._stopped(cancel)
            return StageStatus.CANCELLED, outcome, reason
        return StageStatus.SUCCEEDED, Outcome.SUCCEEDED, None
