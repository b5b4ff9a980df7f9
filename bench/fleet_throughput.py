"""Benchmark: worker processes on one PostgreSQL — claim throughput with 1 and 3 processes, and the wake-up
latency (submit → claim) that LISTEN/NOTIFY gives an idle worker in another process.

    .venv/bin/python bench/fleet_throughput.py [--tasks 2000] [--threads 2] [--wakeups 100] [--quick] \
        [--postgres-url postgresql+psycopg://dockhand:dockhand@127.0.0.1:5432/postgres]

Each figure gets a fresh database on that server (dropped afterwards; `scripts/services postgres` starts one).
Throughput: --tasks `custom` tasks (`true`, on the host) are queued, then N `dockhand worker --workers
--threads` processes, each with a data directory of its own as on separate machines, drain them; the figure is
tasks per second from the first claim to the last finish, and every task must have run exactly once. Wake-up:
one idle worker process that polls only once a minute; --wakeups tasks are submitted one at a time from this
process; the latency is the task's claim time minus its creation time, as the database recorded both (p50,
p95, max). Exit status 1 when a task did not run exactly once or a wake-up took longer than the poll would.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench._stats import BenchResult, latency_line, median_ms, parse_with_quick, report
from core.service import Core
from core.specs import TaskSubmission
from core.states import EventKind, TaskStatus, TaskType
from core.store.queue_types import TaskFilter
from tests.conftest import make_settings
from tests.support.processes import dockhand_env, running
from tests.support.store import fresh_postgres_database, sql_core
from tests.support.waiting import wait_for

DEFAULT_URL = "postgresql+psycopg://dockhand:dockhand@127.0.0.1:5432/postgres"
WAKE_UP_PATH = "submit → claim across processes"
WAKE_UP_GOAL_MS = 20.0


def select_one_round_trips(url: str, count: int = 50) -> list[float]:
    """The floor of a wake-up: seconds per `SELECT 1` on an open connection to the same server."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            times = []
            for _ in range(count):
                started = time.perf_counter()
                conn.execute(sa.text("SELECT 1"))
                times.append(time.perf_counter() - started)
            return times
    finally:
        engine.dispose()


def throughput(server: str, tmp: Path, processes: int, tasks: int, threads: int) -> tuple[float, bool]:
    with fresh_postgres_database(server, prefix="dockhand_bench") as url:
        core = sql_core(make_settings(tmp / f"service-{processes}", url))
        for _ in range(tasks):
            core.queue.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"}, max_retries=0))
        with ExitStack() as stack:
            for i in range(processes):
                env = dockhand_env(tmp / f"machine-{processes}-{i}", url, poll_interval_seconds=0.2)
                stack.enter_context(running(env, tmp, "worker", "--workers", str(threads)))
            wait_for(
                lambda: core.queue.counts_by_status()[TaskStatus.SUCCEEDED] == tasks,
                timeout=3600,
                interval=0.5,
                what="the burst to drain",
            )
        done = core.tasks(TaskFilter(limit=tasks + 1))
        first = min(t.started_at for t in done if t.started_at)
        last = max(t.finished_at for t in done if t.finished_at)
        once = len(done) == tasks and all(t.attempt == 1 for t in done)
        claims = sum(1 for t in done[:200] for e in core.journal.events(t.id) if e.kind is EventKind.CLAIMED)
        core.stop()
        return tasks / (last - first).total_seconds(), once and claims == min(tasks, 200)


def claimed_at(core: Core, task_id: str) -> datetime | None:
    return core.task(task_id).started_at


def ended(core: Core, task_id: str) -> bool:
    return core.task(task_id).status.is_final


def wakeups(server: str, tmp: Path, count: int) -> list[float]:
    with fresh_postgres_database(server, prefix="dockhand_bench") as url:
        core = sql_core(make_settings(tmp / "service-wake", url))
        env = dockhand_env(tmp / "machine-wake", url, poll_interval_seconds=60)
        latencies = []
        with running(env, tmp, "worker", "--workers", "1"):
            wait_for(lambda: core.store.workers.alive(), what="the worker to start")
            time.sleep(1.0)  # it has looked once and now sleeps for a minute unless told
            for _ in range(count):
                task_id = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task.id
                claimed = wait_for(functools.partial(claimed_at, core, task_id), timeout=70, what="the claim")
                assert claimed is not None
                latencies.append((claimed - core.task(task_id).created_at).total_seconds())
                wait_for(functools.partial(ended, core, task_id), what="the task to end")
        core.stop()
        return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--wakeups", type=int, default=100)
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    args = parse_with_quick(parser, tasks=200, wakeups=20)
    try:
        floor = select_one_round_trips(args.postgres_url)
    except sa.exc.OperationalError as exc:
        print(f"skipped: no PostgreSQL at {args.postgres_url} ({type(exc).__name__})")
        report(BenchResult(path=WAKE_UP_PATH, figure=None, unit="ms", note="skipped: no PostgreSQL"))
        return 0
    ok = True
    with tempfile.TemporaryDirectory(prefix="dockhand-fleet-") as tmp:
        for processes in (1, 3):
            rate, once = throughput(args.postgres_url, Path(tmp), processes, args.tasks, args.threads)
            ok &= once
            said = "each ran exactly once" if once else "NOT exactly once"
            print(f"{processes} worker process(es) x {args.threads} threads: {rate:7.1f} tasks/s ({said})")
        seconds = wakeups(args.postgres_url, Path(tmp), args.wakeups)
        print("wake-up submit -> claim (an idle worker in another process, polling once a minute):")
        print(f"  {latency_line(seconds)}")
        print(f"  p50 {statistics.median(seconds) * 1000:.1f} ms (target: under 20 ms)")
        print(f"floor: SELECT 1 on the same server  {latency_line(floor)}")
        report(
            BenchResult(
                path=WAKE_UP_PATH,
                figure=median_ms(seconds),
                unit="ms",
                floor=median_ms(floor),
                goal=f"p50 < {WAKE_UP_GOAL_MS:g} ms",
                ok=median_ms(seconds) < WAKE_UP_GOAL_MS,
                note=f"p50 of {len(seconds)}, PostgreSQL",
            )
        )
        ok &= max(seconds) < 30
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
