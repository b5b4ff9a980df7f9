"""The machine's floors, measured in the bench's own run: what the same work costs with nothing of dockhand in it."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.server import serve_in_thread


def _empty(request: Request) -> Response:
    return Response(b"", status_code=200)


def http_round_trips(count: int = 200) -> list[float]:
    """Seconds per POST (keep-alive) to an empty Starlette app served by uvicorn on loopback, as dockhand's is."""
    app = Starlette(routes=[Route("/", _empty, methods=["POST"])])
    times = []
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as http:
        http.post("/", content=b"warm-up")
        for _ in range(count):
            started = time.perf_counter()
            http.post("/", content=b"x" * 512).raise_for_status()
            times.append(time.perf_counter() - started)
    return times


def python_start_seconds(runs: int = 5) -> float:
    """Median wall time of `python -c pass` with the bench's own interpreter (the virtualenv's)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
