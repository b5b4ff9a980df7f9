"""The HTTP service: admin API, webhooks, health and metrics, as one Starlette app."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.http.admin import AdminApi
from bot.http.errors import EXCEPTION_HANDLERS, CatchUnexpected, error_response
from bot.http.github_webhook import GitHubWebhook
from bot.slack.app import SlackBot
from core.metrics import Metrics
from core.service import Core


def create_app(
    core: Core,
    *,
    api_token: str,
    lifespan_hooks: tuple[Callable[[], Any], Callable[[], Any]] | None = None,
    slack: SlackBot | None = None,
) -> Starlette:
    """Build the app; `lifespan_hooks` (start, stop) run the core's workers with the server; `slack` adds
    POST /slack/events (HTTP mode: the signing secret verifies every request)."""
    settings = core.settings
    webhook_secret = settings.github_webhook_secret.get_secret_value() if settings.github_webhook_secret else None

    async def healthz(_request: Request) -> Response:
        if not await run_in_threadpool(core.store.lifecycle.healthy):
            return error_response(503, "database unavailable")
        return JSONResponse({"status": "ok"})

    async def metrics(_request: Request) -> Response:
        body = await run_in_threadpool(core.metrics.render)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route(
            "/webhook/github",
            GitHubWebhook(webhook_secret, core.deliveries, on_queued=lambda: core.nudge("github-intake")).handle,
            methods=["POST"],
        ),
        *AdminApi(core, api_token).routes(),
    ]
    if slack is not None and settings.slack_signing_secret is not None:
        routes.append(Route("/slack/events", slack.handle_http, methods=["POST"]))

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        if lifespan_hooks is not None:
            await run_in_threadpool(lifespan_hooks[0])
        try:
            yield
        finally:
            if lifespan_hooks is not None:
                await run_in_threadpool(lifespan_hooks[1])

    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)  # type: ignore[arg-type]
    app.add_middleware(CatchUnexpected)
    app.add_middleware(RequestMetrics, metrics=core.metrics, routes=routes)
    app.add_middleware(RefuseNul)
    return app


class RefuseNul:
    """A NUL character in the path or the query is a 400 before any route sees it: no store keeps it (PostgreSQL
    refuses it in text), so every input gets the same answer on SQLite and PostgreSQL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path") or b""
            query = scope.get("query_string") or b""
            if "\x00" in scope.get("path", "") or b"%00" in raw_path + query or b"\x00" in raw_path + query:
                response = JSONResponse({"error": "NUL characters are not allowed in the path or query"}, 400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestMetrics:
    """Counts and times requests by route template (never by raw path, which would explode labels)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, routes: list[Route]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = next((r.path for r in self.routes if r.matches(scope)[0] is not Match.NONE), "unmatched")
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.http_latency.labels(route).observe(time.perf_counter() - started)
            self.metrics.http_requests.labels(route, str(status)).inc()
