"""The JSON the HTTP API and the CLI's --json print, as pydantic models: one per thing shown, each made from
its core object by `of(…)`, so the schema is written once (`TaskView.model_json_schema()` documents it) and
what goes out is exactly what the model declares. Environment values given to a task are shown by name only.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer

from core.models import AuditEntry, Sandbox, Schedule, Task
from core.results import result_json
from core.sandboxing import SnapshotInfo
from core.service import StatusReport, TaskDetail
from core.states import EventKind, LogStream, SandboxState, StageStatus, TaskPriority, TaskStatus, TaskType
from core.store.logs import LogLine

Timestamp = Annotated[datetime, PlainSerializer(lambda value: value.isoformat(), return_type=str)]


class View(BaseModel):
    model_config = ConfigDict(frozen=True)

    def json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def redacted_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Environment values given to a task may be secrets: show their names only."""
    env = payload.get("env")
    if isinstance(env, dict) and env:
        return {**payload, "env": dict.fromkeys(env, "***")}
    return payload


class TriggerView(View):
    source: str
    by: str
    ref: str | None


class TaskView(View):
    id: str
    type: TaskType
    priority: TaskPriority
    status: TaskStatus
    repository: str | None
    payload: dict[str, Any]
    trigger: TriggerView
    created_at: Timestamp
    run_after: Timestamp | None
    started_at: Timestamp | None
    finished_at: Timestamp | None
    attempt: int
    retry_count: int
    max_retries: int
    cancel_requested: bool
    waits_for: str | None = None  # a follow-up: the task that must end before it runs
    result: dict[str, Any] | None
    error: str | None
    metrics: dict[str, Any] | None

    @classmethod
    def of(cls, task: Task) -> TaskView:
        return cls(
            id=task.id,
            type=task.type,
            priority=task.priority,
            status=task.status,
            repository=task.repository,
            payload=redacted_payload(task.payload),
            trigger=TriggerView(source=task.trigger_source.value, by=task.triggered_by, ref=task.trigger_ref),
            created_at=task.created_at,
            run_after=task.run_after,
            started_at=task.started_at,
            finished_at=task.finished_at,
            attempt=task.attempt,
            retry_count=task.retry_count,
            max_retries=task.max_retries,
            cancel_requested=task.cancel_requested,
            waits_for=task.waits_for,
            result=result_json(task),
            error=task.error,
            metrics=task.metrics,
        )


class StageView(View):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    name: str
    position: int
    attempt: int
    status: StageStatus
    started_at: Timestamp | None
    finished_at: Timestamp | None
    duration_seconds: float | None
    error: str | None


class EventView(View):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    kind: EventKind
    status: TaskStatus | None
    stage: str | None
    message: str
    data: dict[str, Any]
    created_at: Timestamp


class LogView(View):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int
    stream: LogStream
    line: str
    created_at: Timestamp


class DetailView(TaskView):
    stages: list[StageView]
    events: list[EventView]

    @classmethod
    def of_detail(cls, detail: TaskDetail) -> DetailView:
        return cls(
            **TaskView.of(detail.task).model_dump(),
            stages=[StageView.model_validate(s) for s in detail.stages],
            events=[EventView.model_validate(e) for e in detail.events],
        )


class WorkerProcessView(View):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    host: str
    pid: int
    threads: int
    running: int
    started_at: Timestamp
    seen_at: Timestamp


class StatusView(View):
    tasks: dict[str, int]
    queue_depth: int
    active: list[TaskView]
    sandboxes: int
    workers: int
    running_here: list[str]
    credentials: dict[str, bool]
    fleet: list[WorkerProcessView]
    """The worker processes of every machine on the database, heard from in the last minute."""

    @classmethod
    def of(cls, report: StatusReport) -> StatusView:
        return cls(
            tasks={status.value: n for status, n in report.counts.items()},
            queue_depth=report.counts[TaskStatus.PENDING],
            active=[TaskView.of(t) for t in report.active],
            sandboxes=report.sandbox_count,
            workers=report.workers,
            running_here=report.running_here,
            credentials=report.credentials,
            fleet=[WorkerProcessView.model_validate(w) for w in report.fleet],
        )


class SandboxView(View):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    container_id: str | None
    image: str
    state: SandboxState
    task_id: str | None
    created_at: Timestamp
    last_used_at: Timestamp


class ScheduleView(View):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    name: str
    cron: str
    type: TaskType
    priority: TaskPriority
    repository: str | None
    payload: Annotated[dict[str, Any], AfterValidator(redacted_payload)]
    enabled: bool


class AuditView(View):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: int | None
    at: Timestamp
    actor: str
    source: str
    action: str
    target: str
    outcome: str
    detail: str
    task_id: str | None


# What callers print: the models' JSON.
def task_view(task: Task) -> dict[str, Any]:
    return TaskView.of(task).json_dict()


def detail_view(detail: TaskDetail) -> dict[str, Any]:
    return DetailView.of_detail(detail).json_dict()


def log_view(line: LogLine) -> dict[str, Any]:
    return LogView.model_validate(line).json_dict()


def status_view(report: StatusReport) -> dict[str, Any]:
    return StatusView.of(report).json_dict()


def sandbox_view(sandbox: Sandbox) -> dict[str, Any]:
    return SandboxView.model_validate(sandbox).json_dict()


def schedule_view(schedule: Schedule) -> dict[str, Any]:
    return ScheduleView.model_validate(schedule).json_dict()


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return AuditView.model_validate(entry).json_dict()


def snapshot_view(snapshot: SnapshotInfo) -> dict[str, Any]:
    view = asdict(snapshot)
    view.update(
        paths=list(snapshot.paths), created=snapshot.created.isoformat(), last_used=snapshot.last_used.isoformat()
    )
    return view
