"""Benchmark: submit → claim across processes — how soon an idle `dockhand worker` in another process claims a
task this process submits, on SQLite and (when DOCKHAND_TEST_POSTGRES_URL is set) on PostgreSQL.

    .venv/bin/python bench/claim_latency.py [--quick] [--submissions 60] [--workers 3]

`--workers` worker processes (default settings: the operator's poll interval) wait idle on a fresh database;
this process submits `custom` tasks (`true`, on the host) one at a time, as the CLI or the HTTP API would, and
waits for each to end before the next. The figure is the task's claim time minus its creation time, as the
database recorded both (p50; p95 and max printed). The floor, in the same run on the same database: one insert,
its commit and a select reading it back. Docker is not needed.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench._backends import each_backend, fresh_database
from bench._stats import BenchResult, latency_line, report
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskType
from tests.conftest import make_settings
from tests.support.processes import dockhand_env, running
from tests.support.store import database, sql_core
from tests.support.waiting import wait_for

ROW = "submit → claim across processes"
GOAL_MS = 20.0


def floor_seconds(core: Core, rounds: int) -> list[float]:
    """Insert + commit + select back, on the core's own engine: the least a submit and a claim must cost."""
    engine = database(core).engine
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY, note VARCHAR(32))"))
    took = []
    for i in range(rounds):
        began = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO bench_floor (id, note) VALUES (:id, 'x')"), {"id": i})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT note FROM bench_floor WHERE id = :id"), {"id": i}).scalar_one()
        took.append(time.perf_counter() - began)
    return took


def claimed(core: Core, task_id: str) -> bool:
    return core.task(task_id).started_at is not None


def ended(core: Core, task_id: str) -> bool:
    return core.task(task_id).status.is_final


def latencies(core: Core, submissions: int) -> list[float]:
    seconds = []
    for _ in range(submissions):
        task_id = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task.id
        wait_for(functools.partial(claimed, core, task_id), timeout=70, interval=0.002, what="the claim")
        wait_for(functools.partial(ended, core, task_id), timeout=30, interval=0.01, what="the task to end")
        task = core.task(task_id)
        assert task.started_at is not None
        seconds.append((task.started_at - task.created_at).total_seconds())
        time.sleep(0.05)  # the worker is idle again, waiting
    return seconds


def measure(backend: str, tmp: Path, submissions: int, workers: int) -> tuple[list[float], list[float]]:
    with fresh_database(backend, tmp) as url:
        settings = make_settings(tmp / "submitter", url, poll_interval_seconds=0.5, submissions_per_minute=0)
        core = sql_core(settings)
        try:
            with ExitStack() as stack:
                for i in range(workers):
                    env = dockhand_env(tmp / f"machine-{i}", url)
                    stack.enter_context(running(env, tmp, "worker", "--workers", "1"))
                wait_for(lambda: len(core.store.workers.alive()) == workers, timeout=60, what="the workers")
                time.sleep(1.0)  # each has looked once and is idle now
                seconds = latencies(core, submissions)
            return seconds, floor_seconds(core, max(submissions, 20))
        finally:
            core.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few submissions (about half a minute)")
    parser.add_argument("--submissions", type=int, default=None)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    submissions = args.submissions or (20 if args.quick else 100)
    ok = True
    for backend, tmp in each_backend("dockhand-claim-"):
        seconds, floor = measure(backend, tmp, submissions, args.workers)
        p50, floor_p50 = statistics.median(seconds) * 1000, statistics.median(floor) * 1000
        within = p50 < GOAL_MS
        ok &= within
        print(f"{backend}: submit -> claim by an idle worker in another process ({args.workers} processes):")
        print(f"  {latency_line(seconds)}")
        print(f"  floor (insert + commit + select): {latency_line(floor, 2)}")
        report(
            BenchResult(
                path=ROW,
                figure=round(p50, 2),
                unit="ms",
                floor=round(floor_p50, 3),
                goal=f"p50 < {GOAL_MS:.0f} ms",
                ok=within,
                note=f"{backend}, n={len(seconds)}, {args.workers} worker processes, p95 "
                f"{sorted(seconds)[int(0.95 * (len(seconds) - 1))] * 1000:.1f} ms",
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
