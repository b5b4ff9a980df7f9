"""Pipelines: a named sequence of stages that a worker runs for a task type.

A stage is a function of a `StageContext`. It ends the task by raising:
`StageFailedError` (an expected failure, no retry), `TaskCancelledError` (stop now), or any other
exception (unexpected: the task is retried per its policy). Stage status, timings and errors are
persisted by `PipelineRunner`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from core.cancellation import CancelToken, StopKind
from core.errors import LeaseLostError, NoPipelineError, StageFailedError, TaskCancelledError
from core.logs import LogSink
from core.models import Task
from core.sandboxing import SandboxProvider
from core.settings import Settings
from core.specs import Spec, parse_spec
from core.stages import StageRecorder
from core.states import StageStatus, TaskType

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class StageContext:
    """What a stage gets: the task, its typed spec, settings, a log, the cancel token, shared results."""

    task: Task
    spec: Spec
    settings: Settings
    log: LogSink
    cancel: CancelToken
    sandboxes: SandboxProvider | None = None
    previous_result: Callable[[str], dict[str, Any] | None] = lambda run_key: None
    """The result of an earlier finished run with this run key, if any (to skip repeating work)."""
    result: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


StageFn = Callable[[StageContext], None]


@dataclass(frozen=True)
class Stage:
    name: str
    run: StageFn


@dataclass(frozen=True)
class Pipeline:
    name: str
    stages: tuple[Stage, ...]
    finally_stage: Stage | None = None  # always runs last (clean-up), whatever happened; not a recorded stage


class PipelineRegistry:
    """Which pipeline runs which task type; later issues register theirs here."""

    def __init__(self) -> None:
        self._pipelines: dict[TaskType, Pipeline] = {}

    def register(self, task_type: TaskType, pipeline: Pipeline) -> None:
        self._pipelines[task_type] = pipeline

    def get(self, task_type: TaskType) -> Pipeline:
        try:
            return self._pipelines[task_type]
        except KeyError:
            raise NoPipelineError(f"no pipeline is registered for {task_type.value} tasks yet") from None

    def supports(self, task_type: TaskType) -> bool:
        return task_type in self._pipelines


class Outcome(Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RETRY = "retry"
    LOST = "lost"
    RELEASED = "released"


@dataclass(frozen=True, kw_only=True)
class RunReport:
    outcome: Outcome
    result: dict[str, Any]
    metrics: dict[str, Any]
    error: str | None = None


class PipelineRunner:
    def __init__(
        self,
        registry: PipelineRegistry,
        stages: StageRecorder,
        settings: Settings,
        sandboxes: SandboxProvider | None = None,
        previous_result: Callable[[str], dict[str, Any] | None] | None = None,
    ) -> None:
        self.previous_result = previous_result or (lambda run_key: None)
        self.registry = registry
        self.stages = stages
        self.settings = settings
        self.sandboxes = sandboxes

    def run(self, task: Task, log_sink: LogSink, cancel: CancelToken) -> RunReport:
        pipeline = self.registry.get(task.type)
        spec = parse_spec(task.type, task.payload)
        ctx = StageContext(
            task=task,
            spec=spec,
            settings=self.settings,
            log=log_sink,
            cancel=cancel,
            sandboxes=self.sandboxes,
            previous_result=self.previous_result,
        )
        self.stages.plan(task.id, task.attempt, [s.name for s in pipeline.stages])
        started = time.monotonic()
        outcome, error = Outcome.SUCCEEDED, None
        for position, stage in enumerate(pipeline.stages):
            if cancel.cancelled:
                outcome, error = self._stopped(cancel)
                self.stages.skip_rest(task.id, task.attempt, position - 1)
                break
            self.stages.start(task.id, task.attempt, position)
            status, outcome, error = self._run_stage(stage, ctx, cancel)
            log_sink.flush()
            self.stages.finish(task.id, task.attempt, position, status, error)
            if outcome is not Outcome.SUCCEEDED:
                self.stages.skip_rest(task.id, task.attempt, position)
                break
        if pipeline.finally_stage is not None:
            try:
                pipeline.finally_stage.run(ctx)
            except Exception:
                log.exception("clean-up of task %s failed", task.id)
        ctx.metrics.setdefault("duration_seconds", round(time.monotonic() - started, 6))
        return RunReport(outcome=outcome, result=ctx.result, metrics=ctx.metrics, error=error)

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
        if cancel.cancelled:
            outcome, reason = self._stopped(cancel)
            return StageStatus.CANCELLED, outcome, reason
        return StageStatus.SUCCEEDED, Outcome.SUCCEEDED, None
