"""Reading request bodies with a size cap and a deadline, before anything is parsed."""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

from starlette.requests import Request

from bot.http.errors import ApiError

BODY_TIMEOUT_SECONDS = 60.0
"""A body must arrive within this (a client trickling one in holds a connection and a task meanwhile)."""


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not re.fullmatch(r"[0-9]{1,18}", declared):
            raise ApiError(400, "invalid Content-Length header")
        if int(declared) > limit:
            raise ApiError(413, f"request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"request body is larger than {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, f"request body did not arrive within {BODY_TIMEOUT_SECONDS:.0f} seconds") from None
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
    return json_object(await read_body(request, limit))


def json_object(body: bytes) -> dict[str, Any]:
    data = parse_json(body)
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
