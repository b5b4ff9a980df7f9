"""Bearer-token authentication of the admin API."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from bot.http.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="dockhand"'}


def require_bearer(request: Request, expected: str) -> None:
    header = request.headers.get("authorization")
    if header is None:
        raise ApiError(401, "missing Authorization header (Bearer token expected)", _CHALLENGE)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "malformed Authorization header (expected 'Bearer <token>')", _CHALLENGE)
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise ApiError(401, "invalid API token", _CHALLENGE)
