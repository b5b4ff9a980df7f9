"""The floor of an HTTP hot path: a trivial route on the same server, measured in the same run.

It reads the body and answers 202 with a small JSON object; no signature check, no store, no work. What a
request to it costs is what any request of that size costs on this machine at this moment (the server's
event loop, uvicorn's parsing, loopback, the client), so a path's figure can be read beside it.
"""

from __future__ import annotations

import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench._stats import BenchResult, percentile
from tests.support.server import serve_in_thread

FLOOR_PATH = "/bench/floor"


async def _floor(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"status": "queued"}, status_code=202)


def http_round_trips(count: int = 200) -> list[float]:
    """Seconds per POST (keep-alive) to an app of the floor's route alone, served by uvicorn on loopback as
    dockhand's is (for a bench whose server is not at hand to add the route to)."""
    times = []
    with serve_in_thread(with_floor(Starlette())) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
        http.post(FLOOR_PATH, content=b"warm-up")
        for _ in range(count):
            started = time.perf_counter()
            http.post(FLOOR_PATH, content=b"x" * 512).raise_for_status()
            times.append(time.perf_counter() - started)
    return times


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
