"""Reading request bodies with a size cap, before anything is parsed."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from starlette.requests import Request

from bot.http.errors import ApiError


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not re.fullmatch(r"[0-9]{1,18}", declared):
            raise ApiError(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise ApiError(413, f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body:
        raise ApiError(400, "request body is empty; expected JSON")
    try:
        return json.loads(body, parse_float=_finite, parse_constant=_no_constant)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long to convert
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "request body is nested too deeply") from None


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    data = parse_json(await read_body(request, limit))
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")
    return data


def _finite(text: str) -> float:
    """JSON numbers as floats, but only finite ones: `1e999` would be stored as Infinity, which one store
    accepts and another (PostgreSQL's json) refuses. Every input gets the same answer on both: a 400."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
