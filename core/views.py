"""Plain-JSON views of core objects, shared by the HTTP API and the CLI's --json output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.events import TaskEventRecord
from core.models import AuditEntry, Sandbox, Schedule, Task, TaskStage
from core.service import StatusReport, TaskDetail
from core.states import TaskStatus
from core.store.logs import LogLine


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def redacted_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Environment values given to a task may be secrets: show their names only."""
    env = payload.get("env")
    if isinstance(env, dict) and env:
        return {**payload, "env": dict.fromkeys(env, "***")}
    return payload


def task_view(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type.value,
        "priority": task.priority.value,
        "status": task.status.value,
        "repository": task.repository,
        "payload": redacted_payload(task.payload),
        "trigger": {"source": task.trigger_source.value, "by": task.triggered_by, "ref": task.trigger_ref},
        "created_at": _time(task.created_at),
        "run_after": _time(task.run_after),
        "started_at": _time(task.started_at),
        "finished_at": _time(task.finished_at),
        "attempt": task.attempt,
        "retry_count": task.retry_count,
        "max_retries": task.max_retries,
        "cancel_requested": task.cancel_requested,
        "result": task.result,
        "error": task.error,
        "metrics": task.metrics,
    }


def stage_view(stage: TaskStage) -> dict[str, Any]:
    return {
        "name": stage.name,
        "position": stage.position,
        "attempt": stage.attempt,
        "status": stage.status.value,
        "started_at": _time(stage.started_at),
        "finished_at": _time(stage.finished_at),
        "duration_seconds": stage.duration_seconds,
        "error": stage.error,
    }


def event_view(event: TaskEventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "kind": event.kind.value,
        "status": event.status.value if event.status else None,
        "stage": event.stage,
        "message": event.message,
        "data": dict(event.data),
        "created_at": _time(event.created_at),
    }


def log_view(line: LogLine) -> dict[str, Any]:
    return {"id": line.id, "stream": line.stream.value, "line": line.line, "created_at": _time(line.created_at)}


def detail_view(detail: TaskDetail) -> dict[str, Any]:
    return {
        **task_view(detail.task),
        "stages": [stage_view(s) for s in detail.stages],
        "events": [event_view(e) for e in detail.events],
    }


def status_view(report: StatusReport) -> dict[str, Any]:
    return {
        "tasks": {status.value: n for status, n in report.counts.items()},
        "queue_depth": report.counts[TaskStatus.PENDING],
        "active": [task_view(t) for t in report.active],
        "sandboxes": report.sandbox_count,
        "workers": report.workers,
        "running_here": report.running_here,
        "credentials": report.credentials,
    }


def sandbox_view(sandbox: Sandbox) -> dict[str, Any]:
    return {
        "id": sandbox.id,
        "container_id": sandbox.container_id,
        "image": sandbox.image,
        "state": sandbox.state.value,
        "task_id": sandbox.task_id,
        "created_at": _time(sandbox.created_at),
        "last_used_at": _time(sandbox.last_used_at),
    }


def schedule_view(schedule: Schedule) -> dict[str, Any]:
    return {
        "name": schedule.name,
        "cron": schedule.cron,
        "type": schedule.type.value,
        "priority": schedule.priority.value,
        "repository": schedule.repository,
        "payload": redacted_payload(schedule.payload),
        "enabled": schedule.enabled,
    }


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "source": entry.source,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "detail": entry.detail,
        "task_id": entry.task_id,
    }
