"""The admin API: status, tasks, submissions, sandboxes and caches, behind a bearer token."""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.http.auth import require_bearer
from bot.http.body import json_object, read_body, read_json_object
from bot.http.errors import ApiError
from core.errors import ValidationError
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType, TriggerSource
from core.store.queue_types import TaskFilter
from core.views import audit_view, detail_view, log_view, sandbox_view, status_view, task_view


def _int_param(request: Request, name: str, default: int, *, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,18}", raw) or not low <= int(raw) <= high:
        raise ApiError(400, f"query parameter {name!r} must be an integer from {low} to {high}")
    return int(raw)


def _enum_params(request: Request, name: str, enum: type[TaskStatus] | type[TaskType]) -> list[Any]:
    values = []
    for raw in request.query_params.getlist(name):
        try:
            values.append(enum(raw))
        except ValueError:
            allowed = ", ".join(m.value for m in enum)
            raise ApiError(400, f"unknown {name} {raw!r} (one of: {allowed})") from None
    return values


class AdminApi:
    def __init__(self, core: Core, api_token: str) -> None:
        self.core = core
        self.api_token = api_token

    def routes(self) -> list[Route]:
        return [
            Route("/status", self._guard(self.status), methods=["GET"]),
            Route("/tasks", self._guard(self.list_tasks), methods=["GET"]),
            Route("/task/{task_id}", self._guard(self.get_task), methods=["GET"]),
            Route("/task/{task_id}/logs", self._guard(self.task_logs), methods=["GET"]),
            Route("/task/{task_id}/cancel", self._guard(self.cancel_task), methods=["POST"]),
            Route("/task/{task_id}/approve", self._guard(self.approve_task), methods=["POST"]),
            Route("/task/{task_id}/reject", self._guard(self.reject_task), methods=["POST"]),
            Route("/api/submit", self._guard(self.submit), methods=["POST"]),
            Route("/audit", self._guard(self.audit), methods=["GET"]),
            Route("/sandbox/list", self._guard(self.list_sandboxes), methods=["GET"]),
            Route("/sandbox/{sandbox_id}/destroy", self._guard(self.destroy_sandbox), methods=["POST"]),
            Route("/session/clear", self._guard(self.clear_sessions), methods=["POST"]),
        ]

    def _json(self, payload: Any, status_code: int = 200) -> JSONResponse:
        """Every answer of the admin API goes out with secrets redacted (task errors, logs, payloads)."""
        return JSONResponse(self.core.redactor.value(payload), status_code=status_code)

    def _guard(self, handler):  # type: ignore[no-untyped-def]
        async def endpoint(request: Request) -> JSONResponse:
            require_bearer(request, self.api_token)
            return await handler(request)

        endpoint.__name__ = handler.__name__
        return endpoint

    async def status(self, _request: Request) -> JSONResponse:
        report = await run_in_threadpool(self.core.status)
        return self._json(status_view(report))

    async def list_tasks(self, request: Request) -> JSONResponse:
        flt = TaskFilter(
            statuses=_enum_params(request, "status", TaskStatus),
            types=_enum_params(request, "type", TaskType),
            repository=request.query_params.get("repository"),
            limit=_int_param(request, "limit", 50, low=1, high=1000),
        )
        tasks = await run_in_threadpool(self.core.tasks, flt)
        return self._json({"tasks": [task_view(t) for t in tasks]})

    async def get_task(self, request: Request) -> JSONResponse:
        detail = await run_in_threadpool(self.core.task_detail, request.path_params["task_id"])
        return self._json(detail_view(detail))

    async def task_logs(self, request: Request) -> JSONResponse:
        task_id = request.path_params["task_id"]
        after = _int_param(request, "after", 0, low=0, high=2**62)
        limit = _int_param(request, "limit", 1000, low=1, high=10_000)
        await run_in_threadpool(self.core.task, task_id)  # 404 for an unknown task
        lines = await run_in_threadpool(self.core.logs.tail, task_id, after_id=after, limit=limit)
        return self._json({"task_id": task_id, "lines": [log_view(line) for line in lines]})

    async def cancel_task(self, request: Request) -> JSONResponse:
        task = await run_in_threadpool(
            lambda: self.core.cancel(request.path_params["task_id"], by="api", source=TriggerSource.API)
        )
        return self._json(task_view(task), status_code=202)

    async def approve_task(self, request: Request) -> JSONResponse:
        """An optional body `{"attempt": 2}` publishes that one of the task's attempts instead of the one offered."""
        task_id = request.path_params["task_id"]
        body = await read_body(request, self.core.settings.max_request_bytes)
        attempt = (json_object(body) if body else {}).get("attempt")
        if attempt is not None and (type(attempt) is not int or not 1 <= attempt <= 100):
            raise ValidationError("attempt must be an attempt's number")
        await run_in_threadpool(lambda: self.core.approve(task_id, by="api", source=TriggerSource.API, attempt=attempt))
        return self._json(task_view(await run_in_threadpool(self.core.task, task_id)), status_code=202)

    async def reject_task(self, request: Request) -> JSONResponse:
        task_id = request.path_params["task_id"]
        body = await read_body(request, self.core.settings.max_request_bytes)
        data = json_object(body) if body else {}
        reason = data.get("reason", "")
        if not isinstance(reason, str) or len(reason) > 1000:
            raise ValidationError("reason must be a string of at most 1000 characters")
        await run_in_threadpool(lambda: self.core.reject(task_id, by="api", reason=reason, source=TriggerSource.API))
        return self._json(task_view(await run_in_threadpool(self.core.task, task_id)))

    async def submit(self, request: Request) -> JSONResponse:
        data = await read_json_object(request, self.core.settings.max_request_bytes)
        if "trigger_source" in data:
            raise ValidationError("trigger_source is set by dockhand, not by the caller")
        if data.get("triggered_by") not in (None, "", "api"):  # who is the token holder, not what they claim
            raise ValidationError("triggered_by is set by dockhand, not by the caller")
        data["triggered_by"] = "api"
        submission = TaskSubmission.from_json({**data, "trigger_source": TriggerSource.API})
        outcome = await run_in_threadpool(self.core.submit, submission)
        return self._json(
            {"created": outcome.created, "already_live": outcome.already_live, "task": task_view(outcome.task)},
            status_code=201 if outcome.created else 200,
        )

    async def audit(self, request: Request) -> JSONResponse:
        limit = _int_param(request, "limit", 200, low=1, high=5000)
        task_id = request.query_params.get("task")
        entries = await run_in_threadpool(lambda: self.core.audit.recent(limit, task_id=task_id))
        return self._json({"entries": [audit_view(e) for e in entries]})

    async def list_sandboxes(self, _request: Request) -> JSONResponse:
        sandboxes = await run_in_threadpool(self.core.list_sandboxes)
        return self._json({"sandboxes": [sandbox_view(s) for s in sandboxes]})

    async def destroy_sandbox(self, request: Request) -> JSONResponse:
        sandbox_id = request.path_params["sandbox_id"]
        await run_in_threadpool(self.core.destroy_sandbox, sandbox_id)
        return self._json({"destroyed": sandbox_id})

    async def clear_sessions(self, _request: Request) -> JSONResponse:
        cleared = await run_in_threadpool(self.core.clear_caches)
        return self._json({"cleared": cleared})
