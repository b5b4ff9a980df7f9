"""POST /webhook/github: verify the signature first, then de-duplicate, then hand over.

A delivery with work in it is stored with its payload and answered at once; `bot.github.intake`
turns it into a task (or a refusal) off the request path.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.github.events import HANDLED_EVENTS
from bot.github.signature import SignatureError, verify
from bot.http.body import parse_json, read_body
from bot.http.errors import ApiError
from core.deliveries import DeliveryLog

GITHUB_MAX_PAYLOAD_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB


class GitHubWebhook:
    def __init__(
        self, secret: str | None, deliveries: DeliveryLog, on_queued: Callable[[], None] | None = None
    ) -> None:
        self.secret = secret
        self.deliveries = deliveries
        self.on_queued = on_queued

    async def handle(self, request: Request) -> JSONResponse:
        if self.secret is None:
            raise ApiError(404, "GitHub webhooks are not enabled: set GITHUB_WEBHOOK_SECRET")
        body = await read_body(request, GITHUB_MAX_PAYLOAD_BYTES)
        try:
            verify(body, request.headers.get("x-hub-signature-256"), self.secret)
        except SignatureError as exc:
            raise ApiError(401, str(exc)) from None
        event = request.headers.get("x-github-event")
        delivery = request.headers.get("x-github-delivery")
        if not event or not delivery:
            raise ApiError(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise ApiError(400, "webhook payload must be a JSON object")
        if event == "ping":
            return JSONResponse({"status": "pong", "zen": payload.get("zen")})
        handled = event in HANDLED_EVENTS
        fresh = await run_in_threadpool(
            self.deliveries.record,
            source="github",
            delivery_id=delivery[:128],
            hook_id=request.headers.get("x-github-hook-id", "")[:64],
            event=event[:64],
            # The work waits in the store, not in this request: the intake turns it into tasks.
            payload=payload if handled else None,
        )
        if not fresh:
            return JSONResponse({"status": "duplicate", "delivery": delivery})
        status = "queued" if handled else "ignored"
        if handled and self.on_queued is not None:
            self.on_queued()  # the intake looks now instead of at its next poll
        return JSONResponse({"status": status, "event": event, "delivery": delivery}, status_code=202)
