"""HTTP error responses: every refusal is JSON with a message, never a bare 500."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error")


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    HTTPException: handle_http_exception,
    DockhandError: handle_domain_error,
    Exception: handle_unexpected,
}
