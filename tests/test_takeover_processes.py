"""Fast takeover and wake-ups between real `dockhand worker` processes on one database (SQLite and PostgreSQL),
each with a data directory of its own (as on separate machines, so only the lease tells that one died): an idle
worker in another process claims new work at once, and when the worker running a task is killed with SIGKILL,
another finishes the task without charging it a retry."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from pathlib import Path

import pytest

from core.models import Task
from core.service import Core
from core.specs import TaskSubmission
from core.states import EventKind, TaskStatus, TaskType
from tests.conftest import make_settings
from tests.support.processes import dockhand_env, running
from tests.support.store import sql_core
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def _machine(tmp_path: Path, name: str, database_url: str, **settings: object) -> dict[str, str]:
    # Polling once a minute: a claim within seconds can only come from a wake-up.
    return dockhand_env(tmp_path / name, database_url, poll_interval_seconds=60, **settings)


def _pid(worker_id: str | None) -> int:
    return int((worker_id or "").split(":")[1])


def _final(core: Core, task_id: str) -> Task | None:
    task = core.task(task_id)
    return task if task.status.is_final else None


def test_an_idle_worker_in_another_process_claims_new_work_at_once(tmp_path: Path, database_url: str) -> None:
    core = sql_core(make_settings(tmp_path / "submitter", database_url))
    with running(_machine(tmp_path, "machine", database_url), tmp_path, "worker", "--workers", "1"):
        wait_for(core.store.workers.alive, timeout=30, what="the worker to start")
        for _ in range(3):
            task_id = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task.id
            done = wait_for(functools.partial(_final, core, task_id), timeout=30, what="the task")
            assert done is not None and done.status is TaskStatus.SUCCEEDED and done.started_at is not None
            waited = (done.started_at - done.created_at).total_seconds()
            assert waited < 5, f"claimed {waited:.1f}s after it was queued: the worker was not woken"
    core.stop()


def test_a_killed_workers_task_is_finished_by_another_without_charging_a_retry(
    tmp_path: Path, database_url: str
) -> None:
    core: Core = sql_core(make_settings(tmp_path / "submitter", database_url))
    marker, pidfile = tmp_path / "first-attempt", tmp_path / "sleeper.pid"
    command = (
        f"if [ -e {marker} ]; then echo finished by another; else touch {marker}; echo $$ > {pidfile}; sleep 120; fi"
    )
    # No retries at all: were the takeover charged as one, the task would fail.
    submission = TaskSubmission(type=TaskType.CUSTOM, payload={"command": command}, max_retries=0)
    settings = {"lease_seconds": 3, "sweep_interval_seconds": 0.5}
    try:
        with (
            running(_machine(tmp_path, "a", database_url, **settings), tmp_path, "worker", "--workers", "1") as a,
            running(_machine(tmp_path, "b", database_url, **settings), tmp_path, "worker", "--workers", "1") as b,
            running(_machine(tmp_path, "c", database_url, **settings), tmp_path, "worker", "--workers", "1") as c,
        ):
            wait_for(lambda: len(core.store.workers.alive()) == 3, timeout=30, what="three workers")
            task = core.submit(submission).task
            wait_for(pidfile.exists, timeout=30, what="the first attempt to start")
            workers = {p.pid: p for p in (a, b, c)}
            holder = workers[_pid(core.task(task.id).worker_id)]
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait(timeout=10)
            done = wait_for(functools.partial(_final, core, task.id), timeout=60, what="another worker to finish it")
            assert all(p.poll() is None for p in workers.values() if p is not holder), "the others live on"
    finally:
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert done is not None and done.status is TaskStatus.SUCCEEDED, done and done.error
    assert done.attempt == 2 and done.retry_count == 0, "a takeover is not one of the task's retries"
    assert _pid(done.worker_id) in set(workers) - {holder.pid}
    [taken] = [e for e in core.journal.events(task.id) if e.kind is EventKind.TAKEN_OVER]
    assert "lease expired" in taken.message and taken.data["takeover"] == 1
    assert "finished by another" in [line.line for line in core.logs.tail(task.id)]
    core.stop()
