"""Benchmark: submit→claim latency and HTTP API latency under a burst, on loopback.

    .venv/bin/python bench/queue_latency.py [--tasks 500] [--clients 8] [--workers 4] [--database-url URL] [--quick]

Runs the real service (uvicorn on 127.0.0.1, workers, SQLite by default) in this process, fires a
burst of POST /api/submit from client threads while polling GET /status, and prints p50/p99 of:
  - API latency of each route, as the clients saw it;
  - queue wait (task stored → claimed by a worker), from the tasks' own claim events;
  - idle pick-up (one task at a time into an idle pool), the latency a lone submission sees;
beside the floor: a POST to an empty app on the same kind of server, on loopback, in the same run.
The tasks run `true` on the host (DOCKHAND_CUSTOM_RUNNER=host): this measures the queue, not sandboxes,
so it needs no Docker. The exit status is 1 when a task does not succeed (it says which and why).
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

from bench._floor import http_round_trips
from bench._stats import BenchResult, latency_line, median_ms, p99_ms, parse_with_quick, report
from bot.http.app import create_app
from core.service import Core
from core.settings import Settings
from core.states import EventKind, TaskStatus
from core.store.queue_types import TaskFilter
from tests.support.server import serve_in_thread
from tests.support.store import database, sql_core

TOKEN = "bench-token"
DRAIN_TIMEOUT = 120.0  # seconds the tasks of one burst may take to end before the bench says which did not
IDLE_GOAL_MS = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idle-samples", type=int, default=30)
    parser.add_argument("--database-url", default=None)
    args = parse_with_quick(parser, tasks=100, idle_samples=15)

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(
            _env_file=None,
            repo_tasks_per_hour=0,  # a benchmark burst, not a rate-limit test
            submissions_per_minute=0,
            data_dir=Path(tmp),
            database_url=args.database_url,
            workers=args.workers,
            per_repo_limit=1000,
            custom_runner="host",  # the queue is measured, not sandboxes: `true` on the host
        )
        core = sql_core(settings)
        app = create_app(core, api_token=TOKEN, lifespan_hooks=(core.start, lambda: None))
        with serve_in_thread(app) as base_url:
            failures = run(core, base_url, args)
        core.stop()
    if failures:
        print(f"FAILED: {len(failures)} check(s)")
        for failure in failures:
            print(f"  - {failure}")
        sys.exit(1)


def run(core: Core, base_url: str, args: argparse.Namespace) -> list[str]:
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
    ended = wait_for_ended(core, args.tasks, deadline=time.monotonic() + DRAIN_TIMEOUT)
    drained_in = time.perf_counter() - burst_started
    stop_polling.set()
    poller.join()
    failures = unsucceeded(core, ended, args.tasks)
    if failures:
        return failures

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
    floor = http_round_trips()
    print(f"  floor: POST to an empty app    {latency_line(floor)}")
    report(
        BenchResult(
            path="submit → claim, idle pool (one process)",
            figure=median_ms(idle),
            unit="ms",
            floor=median_ms(floor),
            goal=f"p50 < {IDLE_GOAL_MS:g} ms",
            ok=median_ms(idle) < IDLE_GOAL_MS,
            note=f"p50 of {len(idle)}",
        )
    )
    report(
        BenchResult(
            path="POST /api/submit under a burst, p99",
            figure=p99_ms(submit_times),
            unit="ms",
            floor=p99_ms(floor),
            note=f"{args.tasks} tasks from {args.clients} clients",
        )
    )
    return []


def wait_for_ended(core: Core, count: int, deadline: float) -> int:
    """Wait until `count` tasks have ended, whichever way, or the deadline passes; how many ended."""
    while True:
        counts = core.queue.counts_by_status()
        ended = sum(n for status, n in counts.items() if status.is_final)
        if ended >= count or time.monotonic() > deadline:
            return ended
        time.sleep(0.1)


def unsucceeded(core: Core, ended: int, count: int) -> list[str]:
    """What kept the burst from succeeding: tasks that failed (with their errors) or never ended."""
    failures = []
    if ended < count:
        failures.append(f"only {ended} of {count} tasks ended within {DRAIN_TIMEOUT:g} s")
    failed = [
        t for t in core.tasks(TaskFilter(limit=count)) if t.status.is_final and t.status is not TaskStatus.SUCCEEDED
    ]
    if failed:
        failures.append(
            f"{len(failed)} tasks did not succeed, e.g. {failed[0].id}: {failed[0].status} {failed[0].error!r}"
        )
    return failures


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
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while not core.task(task["id"]).status.is_final and time.monotonic() < deadline:
                time.sleep(0.01)
            [claim] = [e for e in core.journal.events(task["id"]) if e.kind is EventKind.CLAIMED]
            latencies.append(float(claim.data["queued_seconds"]))
    return latencies


if __name__ == "__main__":
    main()
