"""The floor of an HTTP hot path: a trivial route on the same server, measured in the same run.

It reads the body and answers 202 with a small JSON object; no signature check, no store, no work. What a
request to it costs is what any request of that size costs on this machine at this moment (the server's
event loop, uvicorn's parsing, loopback, the client), so a path's figure can be read beside it.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

FLOOR_PATH = "/bench/floor"


async def _floor(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"status": "queued"}, status_code=202)


def with_floor(app: Starlette) -> Starlette:
    """`app` with the floor's route beside its own (before the first request: routes are read then)."""
    app.router.routes.append(Route(FLOOR_PATH, _floor, methods=["POST"]))
    return app
