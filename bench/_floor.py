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

from bench._stats import BenchResult, percentile

FLOOR_PATH = "/bench/floor"


async def _floor(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"status": "queued"}, status_code=202)


def with_floor(app: Starlette) -> Starlette:
    """`app` with the floor's route beside its own (before the first request: routes are read then)."""
    app.router.routes.append(Route(FLOOR_PATH, _floor, methods=["POST"]))
    return app


def p99_row(path: str, seconds: list[float], floor_seconds: list[float], *, goal_ms: float, note: str) -> BenchResult:
    """The row of a path whose goal is a p99 under `goal_ms`, beside the floor's p99 (in ms)."""
    p99 = percentile(sorted(seconds), 0.99) * 1000
    floor = percentile(sorted(floor_seconds), 0.99) * 1000
    return BenchResult(
        path=path,
        figure=round(p99, 1),
        unit="ms",
        floor=round(floor, 1),
        goal=f"< {goal_ms:.0f} ms",
        ok=p99 < goal_ms,
        note=note,
    )
