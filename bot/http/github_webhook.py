"""POST /webhook/github: verify the signature first, then de-duplicate, then hand over.

A delivery with work in it is stored with its payload and answered at once; `bot.github.intake`
turns it into a task (or a refusal) off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from bot.github.events import HANDLED_EVENTS
from bot.github.signature import SignatureError, check_header, verify
from bot.http.body import parse_json, read_body
from bot.http.errors import ApiError
from core.store.deliveries import NewDelivery
from core.store.interface import DeliveryStore

GITHUB_MAX_PAYLOAD_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
LARGE_BODY_BYTES = 1024 * 1024
LARGE_BODIES_AT_ONCE = 4


class GitHubWebhook:
    def __init__(
        self, secret: str | None, deliveries: DeliveryStore, on_queued: Callable[[], None] | None = None
    ) -> None:
        self.secret = secret
        self.deliveries = deliveries
        self.on_queued = on_queued
        # At most this many large bodies are read at once (each may be 25 MB): more wait for GitHub's retry.
        self._large_bodies = asyncio.Semaphore(LARGE_BODIES_AT_ONCE)

    async def handle(self, request: Request) -> JSONResponse:
        if self.secret is None:
            raise ApiError(404, "GitHub webhooks are not enabled: set GITHUB_WEBHOOK_SECRET")
        try:  # an unsigned request is refused before its body is read at all
            check_header(request.headers.get("x-hub-signature-256"))
        except SignatureError as exc:
            raise ApiError(401, str(exc)) from None
        large = not _declared_small(request)
        if large and self._large_bodies.locked():
            raise ApiError(503, "too many large deliveries at once: GitHub retries later", {"Retry-After": "5"})
        async with self._large_bodies if large else contextlib.nullcontext():
            body = await read_body(request, GITHUB_MAX_PAYLOAD_BYTES)
        try:
            verify(body, request.headers.get("x-hub-signature-256"), self.secret)
        except SignatureError as exc:
            raise ApiError(401, str(exc)) from None
        event = request.headers.get("x-github-event")
        delivery = request.headers.get("x-github-delivery")
        if not event or not delivery:
            raise ApiError(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
        payload = parse_json(_json_part(request, body))
        if not isinstance(payload, dict):
            raise ApiError(400, "webhook payload must be a JSON object")
        if event == "ping":
            return JSONResponse({"status": "pong", "zen": payload.get("zen")})
        handled = event in HANDLED_EVENTS
        new = NewDelivery(
            source="github",
            delivery_id=delivery[:128],
            hook_id=request.headers.get("x-github-hook-id", "")[:64],
            event=event[:64],
            # The work waits in the store, not in this request: the intake turns it into tasks.
            payload=payload if handled else None,
        )
        # One short insert right here when the store takes it without waiting (SQLite, no other writer): a hop
        # to a worker thread and back costs more than the insert, and under load the threads' contention for
        # the interpreter lock was most of the tail. Otherwise the insert waits for its turn in a thread.
        fresh = self.deliveries.record_now(new)
        if fresh is None:
            fresh = await run_in_threadpool(lambda: self.deliveries.record(**dataclasses.asdict(new)))
        if not fresh:
            return JSONResponse({"status": "duplicate", "delivery": delivery})
        status = "queued" if handled else "ignored"
        if handled and self.on_queued is not None:
            self.on_queued()  # the intake looks now instead of at its next poll
        return JSONResponse({"status": status, "event": event, "delivery": delivery}, status_code=202)


def _declared_small(request: Request) -> bool:
    declared = request.headers.get("content-length", "")
    return declared.isdigit() and int(declared) <= LARGE_BODY_BYTES


def _json_part(request: Request, body: bytes) -> bytes:
    """The JSON of a delivery: the body itself, or its `payload` field when the webhook is form-encoded
    (`application/x-www-form-urlencoded`, the default content type of repository webhooks). The signature
    was checked over the raw body, as GitHub computes it."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return body
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "form-encoded delivery does not parse") from None
    payload = form.get("payload")
    if not payload or len(payload) != 1:
        raise ApiError(400, "form-encoded delivery has no single payload field")
    return payload[0].encode()
