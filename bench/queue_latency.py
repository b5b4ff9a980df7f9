"""Benchmark: submit→claim latency and HTTP API latency under a burst, on loopback.

    .venv/bin/python bench/queue_latency.py [--tasks 500] [--clients 8] [--workers 4] [--database-url URL]

Runs the real service (uvicorn on 127.0.0.1, workers, SQLite by default) in this process, fires a
burst of POST /api/submit from client threads while polling GET /status, and prints p50/p99 of:
  - API latency of each route, as the clients saw it;
  - queue wait (task stored → claimed by a worker), from the tasks' own claim events;
  - idle pick-up (one task at a time into an idle pool), the latency a lone submission sees.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stats import latency_line
from bot.http.app import create_app
from core.service import Core
from core.settings import Settings
from core.states import EventKind, TaskStatus
from core.store.queue_types import TaskFilter
from tests.support.server import serve_in_thread
from tests.support.store import database, sql_core

TOKEN = "bench-token"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idle-samples", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(
            _env_file=None,
            repo_tasks_per_hour=0,  # a benchmark burst, not a rate-limit test
            submissions_per_minute=0,
            data_dir=Path(tmp),
            database_url=args.database_url,
            workers=args.workers,
            per_repo_limit=1000,
        )
        core = sql_core(settings)
        app = create_app(core, api_token=TOKEN, lifespan_hooks=(core.start, lambda: None))
        with serve_in_thread(app) as base_url:
            run(core, base_url, args)
        core.stop()


def run(core: Core, base_url: str, args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    submit_times: list[float] = []
    status_times: list[float] = []
    lock = threading.Lock()
    stop_polling = threading.Event()

    def submit_many(n: int) -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
            for _ in range(n):
                started = time.perf_counter()
                response = http.post("/api/submit", json={"type": "custom", "payload": {"command": "true"}})
                elapsed = time.perf_counter() - started
                response.raise_for_status()
                with lock:
                    submit_times.append(elapsed)

    def poll_status() -> None:
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
            while not stop_polling.is_set():
                started = time.perf_counter()
                http.get("/status").raise_for_status()
                status_times.append(time.perf_counter() - started)
                time.sleep(0.05)

    poller = threading.Thread(target=poll_status)
    poller.start()
    burst_started = time.perf_counter()
    share, extra = divmod(args.tasks, args.clients)
    with ThreadPoolExecutor(args.clients) as pool:
        for i in range(args.clients):
            pool.submit(submit_many, share + (1 if i < extra else 0))
    submitted_in = time.perf_counter() - burst_started
    while core.queue.counts_by_status()[TaskStatus.SUCCEEDED] < args.tasks:
        time.sleep(0.1)
    drained_in = time.perf_counter() - burst_started
    stop_polling.set()
    poller.join()

    waits = queue_waits(core, args.tasks)
    idle = idle_pickups(core, base_url, headers, args.idle_samples)

    print(
        f"dockhand queue benchmark: {args.tasks} tasks from {args.clients} clients, {args.workers} workers, "
        f"{database(core).url.get_backend_name()}"
    )
    print(
        f"  burst submitted in {submitted_in:.2f} s ({args.tasks / submitted_in:.0f}/s), "
        f"all run in {drained_in:.2f} s ({args.tasks / drained_in:.0f} tasks/s)"
    )
    print(f"  POST /api/submit under burst   {latency_line(submit_times)}")
    print(f"  GET /status under burst        {latency_line(status_times)}")
    print(f"  queue wait under burst         {latency_line(waits)}")
    print(f"  submit→claim, idle pool        {latency_line(idle)}")


def queue_waits(core: Core, limit: int) -> list[float]:
    waits = []
    for task in core.tasks(TaskFilter(limit=limit)):
        for event in core.journal.events(task.id):
            if event.kind is EventKind.CLAIMED:
                waits.append(float(event.data["queued_seconds"]))
    return waits


def idle_pickups(core: Core, base_url: str, headers: dict[str, str], samples: int) -> list[float]:
    latencies = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        for _ in range(samples):
            task = http.post("/api/submit", json={"type": "custom", "payload": {"command": "true"}}).json()["task"]
            while core.task(task["id"]).status is not TaskStatus.SUCCEEDED:
                time.sleep(0.01)
            [claim] = [e for e in core.journal.events(task["id"]) if e.kind is EventKind.CLAIMED]
            latencies.append(float(claim.data["queued_seconds"]))
    return latencies


if __name__ == "__main__":
    main()
