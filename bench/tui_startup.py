"""Benchmark: the TUI's start-up time and memory over a large store (10,000 tasks, 1,000,000 log lines).

    .venv/bin/python bench/tui_startup.py [--tasks 10000] [--log-lines 1000000] [--keep]

Fills a temporary SQLite store (migrated by `Core`) with bulk inserts: --tasks tasks of mixed types and
statuses spread over the last 30 days (the live ones, pending, running with a running stage, awaiting
approval with a waiting gate, in the last 6 hours), a `created` event and the pipeline's stages each,
and --log-lines log lines, 90 % of them on one running "big" task, the rest spread over the other tasks;
a few lines of the big task contain "needle". Then, in a fresh process (the fill runs in another, so
its memory does not count), drives the TUI headless (`run_test`, 160x50) and prints:
  - start-up: `Core` + `DockhandTui` constructed → the main table holds its rows (and is painted),
    with the time spent in the board's first load and the header counts;
  - one incremental poll of the main screen (`MainScreen.poll()`, then until the app is idle again, i.e.
    repainted) with nothing changed, and after 100 tasks changed (40 started, 40 finished, the rest new);
  - opening the big task: `TaskScreen` pushed → its log shows the last lines; one poll of it; a search of
    the whole log (`core.logs.search`) for "needle";
  - the measuring process's peak RSS (and current RSS) after imports, start-up, opening the big task and
    the searches, and the size of the database file.
The exit status is 1 when a correctness check fails (rows shown, changes applied, last log line, search
hits); timings are never judged.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._startup import bare_python_seconds, seconds_until_shown
from bench._stats import BenchResult
from bench._stats import report as report_result
from core.models import Task, TaskEvent, TaskLog, TaskStage, utcnow
from core.service import Core
from core.settings import Settings
from core.states import (
    EventKind,
    LogStream,
    StageStatus,
    TaskPriority,
    TaskStatus,
    TaskType,
    TriggerSource,
)
from tests.support.store import database, sql_core

BATCH = 20_000
BIG_SHARE = 0.9
NEEDLE = "needle"
NEEDLES_IN_BIG = 7
SIZE = (160, 50)
DOCKHAND = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "dockhand"
FIRST_ROWS_GOAL_SECONDS = 1.0
STAGES = ("prepare", "work", "publish")
STATUS_WEIGHTS = {
    TaskStatus.PENDING: 2,
    TaskStatus.RUNNING: 1,
    TaskStatus.AWAITING_APPROVAL: 1,
    TaskStatus.SUCCEEDED: 70,
    TaskStatus.FAILED: 17,
    TaskStatus.CANCELLED: 9,
}
TYPE_WEIGHTS = {TaskType.TEST_PIPELINE: 50, TaskType.PR_REVIEW: 25, TaskType.ISSUE_RESOLUTION: 15, TaskType.CUSTOM: 10}


def database_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'dockhand.db'}"


def open_core(data_dir: Path) -> Core:
    return sql_core(Settings.load(_env_file=None, data_dir=data_dir, database_url=database_url(data_dir)))


def table(model: Any) -> sa.Table:
    return cast(sa.Table, model.__table__)


def rss_kib() -> list[int]:
    """[peak RSS, current RSS] of this process, in KiB (Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    try:
        status = Path("/proc/self/status").read_text()
        current = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        current = 0
    return [peak, current]


# --- fill ----------------------------------------------------------------------------------------------


def fill(data_dir: Path, n_tasks: int, n_lines: int) -> dict[str, Any]:
    """Bulk-insert the store; returns what the measuring process checks against."""
    rng = random.Random(20261124)
    core = open_core(data_dir)
    now = utcnow()
    ids: set[str] = set()
    tasks: list[dict[str, Any]] = []
    stages: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=n_tasks)
    types = rng.choices(list(TYPE_WEIGHTS), weights=list(TYPE_WEIGHTS.values()), k=n_tasks)
    repos = [f"org{o}/service-{r}" for o in range(8) for r in range(6)]
    people = ["alice", "bob", "carol", "dave", "erin", "frank", "scheduler"]
    for i in range(n_tasks):
        task_id = f"{rng.getrandbits(48):012x}"
        while task_id in ids:
            task_id = f"{rng.getrandbits(48):012x}"
        ids.add(task_id)
        status, task_type = statuses[i], types[i]
        live = not status.is_final
        created = now - timedelta(seconds=rng.uniform(60, 6 * 3600 if live else 30 * 86400))
        started = None if status is TaskStatus.PENDING else created + timedelta(seconds=rng.uniform(0.1, 30))
        finished = (
            started + timedelta(seconds=rng.uniform(5, 1800)) if status.is_final and started is not None else None
        )
        if finished is not None and finished > now:  # everything in the past: a later change must be newer
            back = finished - now + timedelta(seconds=rng.uniform(1, 60))
            created, started, finished = created - back, started - back if started else None, finished - back
        repo = rng.choice(repos)
        source = rng.choice(list(TriggerSource))
        tasks.append(
            {
                "id": task_id,
                "type": task_type,
                "priority": TaskPriority.MEDIUM,
                "priority_rank": TaskPriority.MEDIUM.rank,
                "status": status,
                "repository": repo,
                "payload": {"ref": "main", "number": i},
                "trigger_source": source,
                "triggered_by": rng.choice(people),
                "trigger_ref": f"{repo}#{rng.randint(1, 4000)}",
                "dedup_key": None,
                "created_at": created,
                "updated_at": finished or started or created,
                "run_after": created,
                "started_at": started,
                "finished_at": finished,
                "attempt": 0 if started is None else 1,
                "retry_count": 0,
                "max_retries": 2,
                "timeout_seconds": None,
                "worker_id": "bench-host:1" if status is TaskStatus.RUNNING else None,
                "claim_token": None,
                "lease_expires_at": now + timedelta(minutes=5) if status is TaskStatus.RUNNING else None,
                "cancel_requested": False,
                "result": {"change": {"files": 2, "insertions": 10, "deletions": 3}}
                if status is TaskStatus.SUCCEEDED
                else None,
                "error": "command exited with code 1" if status is TaskStatus.FAILED else None,
                "metrics": None,
            }
        )
        events.append(
            {"task_id": task_id, "kind": EventKind.CREATED, "status": TaskStatus.PENDING, "stage": None,
             "message": "created", "data": {}, "created_at": created}
        )  # fmt: skip
        if started is not None:
            stages.extend(stage_rows(task_id, status, started, finished))
    live_running = [t for t in tasks if t["status"] is TaskStatus.RUNNING]
    big = max(live_running or tasks, key=lambda t: t["created_at"])  # the newest running task: on the first page
    others = [t["id"] for t in tasks if t["id"] != big["id"]] or [big["id"]]

    started_at = time.perf_counter()
    with database(core).write() as session:
        for chunk in chunks(tasks, BATCH):
            session.execute(sa.insert(table(Task)), chunk)
        for chunk in chunks(stages, BATCH):
            session.execute(sa.insert(table(TaskStage)), chunk)
        for chunk in chunks(events, BATCH):
            session.execute(sa.insert(table(TaskEvent)), chunk)
    tasks_seconds = time.perf_counter() - started_at

    n_big = int(n_lines * BIG_SHARE) if n_tasks > 1 else n_lines
    needle_at = {round(k * (n_big - 1) / max(NEEDLES_IN_BIG - 1, 1)) for k in range(NEEDLES_IN_BIG)}
    started_at = time.perf_counter()
    written = 0
    last_big_line = ""
    for batch in log_batches(big["id"], n_big, others, n_lines - n_big, needle_at, big["started_at"] or now):
        with database(core).write() as session:
            session.execute(sa.insert(table(TaskLog)), batch)
        written += len(batch)
        last_big_line = next((r["line"] for r in reversed(batch) if r["task_id"] == big["id"]), last_big_line)
    logs_seconds = time.perf_counter() - started_at
    with database(core).engine.connect() as conn:  # what `dockhand serve` leaves: the WAL folded into the file
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database(core).dispose()
    newest = max(tasks, key=lambda t: t["created_at"])
    return {
        "tasks": n_tasks,
        "log_lines": written,
        "big_id": big["id"],
        "big_lines": n_big,
        "big_last_line": last_big_line,
        "needles": len(needle_at),
        "newest_id": newest["id"],
        "counts": {s.value: statuses.count(s) for s in TaskStatus},
        "tasks_seconds": tasks_seconds,
        "logs_seconds": logs_seconds,
        "stage_rows": len(stages),
        "fill_peak_rss_kib": rss_kib(),
    }


def stage_rows(task_id: str, status: TaskStatus, started: datetime, finished: datetime | None) -> list[dict[str, Any]]:
    """Three stages; where the task stands decides how far they got."""
    reached = {TaskStatus.RUNNING: 1, TaskStatus.AWAITING_APPROVAL: 2}.get(status, len(STAGES) - 1)
    rows = []
    for position, name in enumerate(STAGES):
        if position < reached:
            stage_status = StageStatus.SUCCEEDED
        elif position == reached:
            stage_status = {
                TaskStatus.RUNNING: StageStatus.RUNNING,
                TaskStatus.AWAITING_APPROVAL: StageStatus.WAITING,
                TaskStatus.SUCCEEDED: StageStatus.SUCCEEDED,
                TaskStatus.FAILED: StageStatus.FAILED,
                TaskStatus.CANCELLED: StageStatus.CANCELLED,
            }[status]
        else:
            stage_status = StageStatus.PENDING
        done = stage_status in (StageStatus.SUCCEEDED, StageStatus.FAILED, StageStatus.CANCELLED)
        rows.append(
            {"task_id": task_id, "attempt": 1, "position": position, "name": name, "status": stage_status,
             "started_at": started if stage_status is not StageStatus.PENDING else None,
             "finished_at": (finished or started) if done else None, "duration_seconds": 1.0 if done else None,
             "error": None}
        )  # fmt: skip
    return rows


def log_batches(
    big_id: str, n_big: int, others: list[str], n_rest: int, needle_at: set[int], start: datetime
) -> Iterator[list[dict[str, Any]]]:
    """The big task's lines in order (a few with the needle), then the rest round-robin over the others."""
    streams = (LogStream.STDOUT,) * 48 + (LogStream.STDERR, LogStream.SYSTEM)
    for first in range(0, n_big, BATCH):
        at = start + timedelta(seconds=first / 200)
        yield [
            {
                "task_id": big_id,
                "stream": streams[i % len(streams)],
                "line": f"[{i:07d}] {'found a needle in ' if i in needle_at else ''}compiling "
                f"src/pkg{i % 97}/module_{i % 1013}.py ... ok ({i % 997} ms)",
                "created_at": at,
            }
            for i in range(first, min(first + BATCH, n_big))
        ]
    for first in range(0, n_rest, BATCH):
        at = start + timedelta(seconds=first / 200)
        yield [
            {
                "task_id": others[i % len(others)],
                "stream": streams[i % len(streams)],
                "line": f"step {i // len(others)}: running checks for case {i % 5003} ... passed",
                "created_at": at,
            }
            for i in range(first, min(first + BATCH, n_rest))
        ]


def chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for first in range(0, len(rows), size):
        yield rows[first : first + size]


# --- measure (in a fresh process) ----------------------------------------------------------------------


class Timings:
    """Wraps methods to record how long each call took, without touching the app's code."""

    def __init__(self) -> None:
        self.calls: dict[str, list[float]] = {}

    def wrap(self, owner: type, name: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)
        calls = self.calls.setdefault(f"{owner.__name__}.{name}", [])

        @functools.wraps(original)  # Textual passes handlers only the arguments their signature takes
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                calls.append(time.perf_counter() - started)

        setattr(owner, name, timed)

    def first(self, key: str) -> float | None:
        calls = self.calls.get(key)
        return calls[0] if calls else None


def measure(data_dir: Path, expected: dict[str, Any]) -> dict[str, Any]:
    from textual.coordinate import Coordinate
    from textual.widgets import DataTable, Log, Static
    from textual.widgets.data_table import RowDoesNotExist

    from tui.app import DockhandTui
    from tui.board import TaskBoard
    from tui.screens.main import MainScreen
    from tui.screens.task import TaskScreen

    timings = Timings()
    timings.wrap(TaskBoard, "load")
    timings.wrap(TaskBoard, "counts")
    timings.wrap(TaskBoard, "changes")
    timings.wrap(MainScreen, "reload")
    timings.wrap(TaskScreen, "on_mount")
    out: dict[str, Any] = {"rss_imports_kib": rss_kib(), "failures": []}
    failures: list[str] = out["failures"]

    def check(ok: bool, what: str) -> None:
        if not ok:
            failures.append(what)

    async def drive() -> None:
        started = time.perf_counter()
        core = open_core(data_dir)
        out["core_seconds"] = time.perf_counter() - started
        app = DockhandTui(core, poll_seconds=3600, user="bench")  # polls are called by hand below
        async with app.run_test(size=SIZE) as pilot:
            while not (isinstance(app.screen, MainScreen) and app.screen.query_one(DataTable).row_count):
                await pilot.pause()
            out["startup_seconds"] = time.perf_counter() - started
            await pilot.pause()
            out["painted_seconds"] = time.perf_counter() - started
            out["rss_startup_kib"] = rss_kib()
            out["load_seconds"] = timings.first("TaskBoard.load")
            out["reload_seconds"] = timings.first("MainScreen.reload")
            out["counts_seconds"] = timings.first("TaskBoard.counts")
            screen = app.screen
            assert isinstance(screen, MainScreen)
            data = screen.query_one(DataTable)
            shown = min(expected["tasks"], 1000)
            check(data.row_count == shown, f"main table shows {data.row_count} rows, expected {shown}")
            top = data.coordinate_to_cell_key(Coordinate(0, 0)).row_key.value
            check(top == expected["newest_id"], f"first row is {top}, expected the newest task {expected['newest_id']}")
            header = str(screen.query_one("#counts", Static).render())
            running = expected["counts"][TaskStatus.RUNNING.value]
            check(f"running {running} " in header, f"header {header!r} does not count {running} running")

            settles = []
            for _ in range(3):  # what waiting for the app to go idle costs when nothing is to be done
                settled = time.perf_counter()
                await pilot.pause()
                settles.append(time.perf_counter() - settled)
            out["settle_baseline"] = statistics.median(settles)
            out["poll_idle"] = await time_polls(pilot, screen, 5)
            changed, new = change_tasks(core, screen, now=utcnow())
            out["poll_changed"] = await time_polls(pilot, screen, 1)
            out["poll_changed_changes"] = timings.calls["TaskBoard.changes"][-1]
            out["changed"] = {"started": list(changed.values()).count("running"), "new": new}
            out["changed"]["finished"] = len(changed) - out["changed"]["started"] - new
            for task_id, status in changed.items():
                try:
                    shown_status = str(data.get_row(task_id)[4])
                except RowDoesNotExist:
                    failures.append(f"changed task {task_id} is not on screen")
                    continue
                check(shown_status == status, f"task {task_id} shows {shown_status}, expected {status}")
            check(data.row_count == shown + new, f"main table has {data.row_count} rows after the changes")
            out["rows_after_change"] = data.row_count
            out["poll_idle_after"] = await time_polls(pilot, screen, 3)

            big = expected["big_id"]
            started = time.perf_counter()
            app.push_screen(TaskScreen(big))
            while True:
                await pilot.pause()
                if isinstance(app.screen, TaskScreen):
                    log = app.screen.query_one(Log)
                    if log.lines and log.lines[-1].endswith(expected["big_last_line"]):
                        break
                if time.perf_counter() - started > 30:
                    failures.append("the big task's last line never showed")
                    break
            out["open_seconds"] = time.perf_counter() - started
            out["open_mount_seconds"] = timings.first("TaskScreen.on_mount")
            out["rss_open_kib"] = rss_kib()
            task_screen = app.screen
            if isinstance(task_screen, TaskScreen):
                log = task_screen.query_one(Log)
                check(len(log.lines) <= 5000, f"the log holds {len(log.lines)} lines, more than its window")
                out["log_window"] = len(log.lines)
                polls = []
                for _ in range(5):
                    polled = time.perf_counter()
                    task_screen.poll()
                    polls.append(time.perf_counter() - polled)
                out["task_poll"] = polls

            searches = []
            for _ in range(3):
                searched = time.perf_counter()
                hits = core.logs.search(big, NEEDLE)
                searches.append(time.perf_counter() - searched)
                check(
                    len(hits) == expected["needles"], f"search found {len(hits)} lines, expected {expected['needles']}"
                )
                check(all(NEEDLE in h.line and h.task_id == big for h in hits), "search returned a foreign line")
                check([h.id for h in hits] == sorted((h.id for h in hits), reverse=True), "search not newest first")
            out["search"] = searches
            searched = time.perf_counter()
            none = core.logs.search(big, "no such text anywhere")
            out["search_miss"] = time.perf_counter() - searched
            check(not none, "a search for absent text found lines")
            out["rss_search_kib"] = rss_kib()
        database(core).dispose()

    asyncio.run(drive())
    return out


async def time_polls(pilot: Any, screen: Any, count: int) -> list[list[float]]:
    """[poll() seconds, poll() + until the app is idle again (it has repainted)] for each of `count` polls."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        screen.poll()
        polled = time.perf_counter() - started
        await pilot.pause()
        samples.append([polled, time.perf_counter() - started])
    return samples


def change_tasks(core: Core, screen: Any, *, now: datetime) -> tuple[dict[str, str], int]:
    """As the service would: 40 pending tasks start, 40 running ones finish, the rest of 100 come in new.
    Returns the status each changed task should show, and how many are new."""
    rows = screen.rows.rows
    pending = [r.id for r in rows.values() if r.status is TaskStatus.PENDING][:40]
    running = [r.id for r in rows.values() if r.status is TaskStatus.RUNNING][:40]
    tasks = table(Task)
    changed: dict[str, str] = {}
    new = 0
    with database(core).write() as session:
        for k, task_id in enumerate(pending):
            at = now + timedelta(milliseconds=k)
            session.execute(
                sa.update(tasks)
                .where(tasks.c.id == task_id)
                .values(status=TaskStatus.RUNNING, started_at=at, updated_at=at, attempt=1, worker_id="bench")
            )
            session.execute(sa.insert(table(TaskStage)), stage_rows(task_id, TaskStatus.RUNNING, at, None))
            changed[task_id] = TaskStatus.RUNNING.value
        for k, task_id in enumerate(running):
            at = now + timedelta(milliseconds=100 + k)
            status = TaskStatus.SUCCEEDED if k % 4 else TaskStatus.FAILED
            session.execute(
                sa.update(tasks)
                .where(tasks.c.id == task_id)
                .values(status=status, finished_at=at, updated_at=at, lease_expires_at=None, worker_id=None)
            )
            changed[task_id] = status.value
        for k in range(100 - len(changed)):
            at = now + timedelta(milliseconds=200 + k)
            task_id = f"new{k:09d}"
            new_task = {
                "id": task_id,
                "type": TaskType.CUSTOM,
                "priority": TaskPriority.MEDIUM,
                "priority_rank": TaskPriority.MEDIUM.rank,
                "status": TaskStatus.PENDING,
                "repository": "org0/service-0",
                "payload": {},
                "trigger_source": TriggerSource.API,
                "triggered_by": "bench",
                "created_at": at,
                "updated_at": at,
                "run_after": at,
                "attempt": 0,
                "retry_count": 0,
                "max_retries": 2,
                "cancel_requested": False,
            }
            session.execute(sa.insert(tasks).values(**new_task))
            changed[task_id] = TaskStatus.PENDING.value
            new += 1
    return changed, new


# --- report --------------------------------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:9.1f} ms"


def mib(kib: list[int]) -> str:
    peak, current = kib
    return f"{peak / 1024:9.1f} MiB" + (f"  (current {current / 1024:.1f} MiB)" if current else "")


def report(filled: dict[str, Any], fill_seconds: float, out: dict[str, Any], db: Path) -> None:
    def poll_line(label: str, samples: list[list[float]]) -> str:
        polls = [s[0] for s in samples]
        painted = [s[1] for s in samples]
        return (
            f"  {label:<40}{ms(statistics.median(polls))} (max {ms(max(polls)).strip()}), "
            f"until idle {ms(statistics.median(painted)).strip()}"
        )

    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
    counts = ", ".join(f"{k} {v}" for k, v in filled["counts"].items())
    print(f"dockhand TUI start-up benchmark: {filled['tasks']} tasks, {filled['log_lines']} log lines, SQLite")
    print(f"  tasks: {counts}")
    print(
        f"  fill: {fill_seconds:.1f} s in all (tasks+stages+events {filled['tasks_seconds']:.1f} s, "
        f"log lines {filled['logs_seconds']:.1f} s, {filled['log_lines'] / max(filled['logs_seconds'], 1e-9):,.0f}/s); "
        f"database {size / 2**20:.1f} MiB"
    )
    print(f"  big task {filled['big_id']}: {filled['big_lines']} lines, {filled['needles']} with {NEEDLE!r}")
    print("start-up")
    print(f"  {'Core(settings) (engine, migration check)':<40}{ms(out['core_seconds'])}")
    print(f"  {'→ main table populated':<40}{ms(out['startup_seconds'])}")
    print(f"  {'→ and painted':<40}{ms(out['painted_seconds'])}")
    print(f"  {'  of which TaskBoard.load (1st page)':<40}{ms(out['load_seconds'])}")
    print(f"  {'  of which MainScreen.reload (all)':<40}{ms(out['reload_seconds'])}")
    print(f"  {'  of which TaskBoard.counts':<40}{ms(out['counts_seconds'])}")
    print("main screen poll (poll() itself; then until the app is idle again, i.e. repainted)")
    print(f"  {'idle wait with nothing to do (baseline)':<40}{ms(out['settle_baseline'])}")
    print(poll_line("nothing changed (median of 5)", out["poll_idle"]))
    c = out["changed"]
    print(poll_line(f"after {c['started']} started, {c['finished']} finished, {c['new']} new", out["poll_changed"]))
    print(f"  {'  of which TaskBoard.changes':<40}{ms(out['poll_changed_changes'])}")
    print(poll_line(f"nothing changed, {out['rows_after_change']} rows (median of 3)", out["poll_idle_after"]))
    print("big task")
    print(f"  {'TaskScreen pushed → last lines shown':<40}{ms(out['open_seconds'])}")
    print(f"  {'  of which TaskScreen.on_mount':<40}{ms(out.get('open_mount_seconds'))}")
    if "task_poll" in out:
        print(f"  {'TaskScreen.poll, nothing new (median 5)':<40}{ms(statistics.median(out['task_poll']))}")
    again = ", ".join(ms(s).strip() for s in out["search"][1:])
    print(f"  {'logs.search(big, needle)':<40}{ms(out['search'][0])} (then {again})")
    print(f"  {'logs.search, no line matches':<40}{ms(out['search_miss'])}")
    print("memory (peak RSS of the measuring process)")
    print(f"  {'after imports':<40}{mib(out['rss_imports_kib'])}")
    print(f"  {'after start-up':<40}{mib(out['rss_startup_kib'])}")
    print(f"  {'after opening the big task':<40}{mib(out['rss_open_kib'])}")
    print(f"  {'after the searches':<40}{mib(out['rss_search_kib'])}")
    print(f"  {'(the filling process, for comparison)':<40}{mib(filled['fill_peak_rss_kib'])}")


def first_rows(data_dir: Path, filled: dict[str, Any], runs: int) -> list[str]:
    """`dockhand tui` as a person starts it (in a terminal of SIZE) until its first rows show, beside the floor:
    a bare `python -c pass` of the same venv. Reported as the row "dockhand tui first rows"."""
    env = os.environ | {
        "DOCKHAND_DATA_DIR": str(data_dir),
        "DOCKHAND_DATABASE_URL": database_url(data_dir),
        "DOCKHAND_PORT": "9",  # no service there: the TUI's notice, as on a machine without `dockhand serve`
    }
    wanted = [filled["newest_id"], filled["big_id"]]
    floor = bare_python_seconds(runs)
    times = [seconds_until_shown([str(DOCKHAND), "tui"], wanted, env=env, size=SIZE) for _ in range(runs)]
    shown = [t for t in times if t is not None]
    figure = statistics.median(shown) if len(shown) == runs else None
    print("the command, to its first rows")
    print(f"  {'python -c pass (floor)':<40}{ms(floor)}")
    print(f"  {'dockhand tui → first rows shown':<40}{ms(figure)} (runs: {', '.join(ms(t).strip() for t in times)})")
    report_result(
        BenchResult(
            path="dockhand tui first rows",
            figure=None if figure is None else round(figure * 1000, 1),
            unit="ms",
            floor=round(floor * 1000, 1),
            goal=f"< {FIRST_ROWS_GOAL_SECONDS * 1000:.0f} ms",
            ok=None if figure is None else figure < FIRST_ROWS_GOAL_SECONDS,
            note=f"median of {runs}, {filled['tasks']} tasks; floor: python -c pass",
        )
    )
    return [] if figure is not None else ["`dockhand tui` never showed its first rows"]


def run_child(arguments: list[str]) -> None:
    child = subprocess.run([sys.executable, __file__, *arguments], check=False)
    if child.returncode != 0:
        print(f"{arguments[0]}: the child process failed with exit status {child.returncode}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--log-lines", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--quick", action="store_true", help="1,000 tasks, 10,000 log lines, 3 runs of the command")
    parser.add_argument("--runs", type=int, default=5, help="runs of `dockhand tui` to its first rows")
    parser.add_argument("--fill", type=Path, help=argparse.SUPPRESS)  # internal: the filling process
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # internal: the fresh measuring process
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.log_lines, args.runs = 1000, 10_000, 3
    if args.tasks < 1 or args.log_lines < 1:
        parser.error("--tasks and --log-lines must be at least 1")

    if args.fill is not None:
        filled = fill(args.fill, args.tasks, args.log_lines)
        (args.fill / "expected.json").write_text(json.dumps(filled))
        return
    if args.measure is not None:
        expected = json.loads((args.measure / "expected.json").read_text())
        (args.measure / "measured.json").write_text(json.dumps(measure(args.measure, expected)))
        return

    # Both steps run in child processes: on Linux a child's peak RSS starts at its parent's (it is kept
    # across fork and exec), so this process stays small and the fill's memory never reaches the figures.
    data_dir = Path(tempfile.mkdtemp(prefix="dockhand-tui-bench-"))
    try:
        started = time.perf_counter()
        sizes = ["--tasks", str(args.tasks), "--log-lines", str(args.log_lines)]
        run_child(["--fill", str(data_dir), *sizes])
        fill_seconds = time.perf_counter() - started
        filled = json.loads((data_dir / "expected.json").read_text())
        command_failures = first_rows(data_dir, filled, args.runs)  # first: the measuring child adds tasks
        run_child(["--measure", str(data_dir)])
        out = json.loads((data_dir / "measured.json").read_text())
        report(filled, fill_seconds, out, data_dir / "dockhand.db")
        failures = list(out["failures"]) + command_failures
        if filled["log_lines"] != args.log_lines:
            failures.append(f"wrote {filled['log_lines']} log lines, not {args.log_lines}")
        print("checks: " + ("all passed" if not failures else f"{len(failures)} FAILED"))
        for failure in failures:
            print(f"  FAILED: {failure}")
        if failures:
            sys.exit(1)
    finally:
        if args.keep:
            print(f"kept {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
