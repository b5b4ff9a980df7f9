"""HTTP error responses: every refusal is JSON with a message, never a bare 500."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import (
    DockhandError,
    InvalidTransitionError,
    NoPipelineError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An HTTP-level refusal raised by the HTTP layer itself (auth, body size, malformed JSON)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


_STATUS_OF: list[tuple[type[Exception], int]] = [
    (NotFoundError, 404),
    (InvalidTransitionError, 409),
    (NoPipelineError, 422),
    (ValidationError, 422),
]


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def handle_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, RateLimitedError):
        retry = str(exc.retry_after_seconds)
        return error_response(429, f"{exc}; try again in {exc.when()}", {"Retry-After": retry})
    for kind, status in _STATUS_OF:
        if isinstance(exc, kind):
            return error_response(status, str(exc))
    log.error("unhandled dockhand error on %s %s: %s", request.method, request.url.path, exc)
    return error_response(500, "internal error")


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, exc.detail, dict(exc.headers) if exc.headers else None)


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    DockhandError: handle_domain_error,
}


class CatchUnexpected:
    """Any other exception: logged once, with its traceback, and answered with a 500. (A handler registered
    for `Exception` would answer too, but Starlette then re-raises it for the server, which logs it again.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await error_response(500, "internal error")(scope, receive, send)
