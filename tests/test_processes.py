"""The queue across real processes: `dockhand worker` and `dockhand serve` started as an operator would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from core.service import Core
from core.specs import TaskSubmission
from core.states import EventKind, TaskStatus, TaskType
from core.store.queue_types import TaskFilter
from tests.conftest import make_settings
from tests.support.processes import dockhand_env, free_port, run_cli, running
from tests.support.store import sql_core
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def _core(tmp_path: Path, database_url: str) -> Core:
    return sql_core(make_settings(tmp_path / "data", database_url))


def test_two_worker_processes_never_run_the_same_task(tmp_path: Path, database_url: str) -> None:
    runs = tmp_path / "runs.log"
    core = _core(tmp_path, database_url)
    total = 1000
    for _ in range(total):
        core.queue.submit(
            TaskSubmission(type=TaskType.CUSTOM, payload={"command": f'echo "$DOCKHAND_TASK_ID" >> {runs}'})
        )
    env = dockhand_env(tmp_path / "data", database_url, poll_interval_seconds=0.05)
    with (
        running(env, tmp_path, "worker", "--workers", "2") as a,
        running(env, tmp_path, "worker", "--workers", "2") as b,
    ):
        wait_for(
            lambda: core.queue.counts_by_status()[TaskStatus.SUCCEEDED] == total,
            timeout=400,
            interval=1,
            what="all tasks to succeed",
        )
        assert a.poll() is None and b.poll() is None
    lines = runs.read_text().split()
    assert len(lines) == total, "each task ran exactly once"
    assert len(set(lines)) == total
    sample = core.tasks(TaskFilter(limit=200))
    processes = {
        e.data["worker_id"].split("/")[0]
        for t in sample
        for e in core.journal.events(t.id)
        if e.kind is EventKind.CLAIMED
    }
    assert len(processes) == 2, f"both processes took part: {processes}"
    core.stop()


def test_a_task_of_a_killed_worker_is_recovered_as_soon_as_a_worker_starts(tmp_path: Path, database_url: str) -> None:
    """The dead worker shared this data directory: a worker starting here knows it is gone (its lock file is no
    longer held) and need not wait out the lease."""
    marker, pidfile = tmp_path / "first-attempt", tmp_path / "sleeper.pid"
    core = _core(tmp_path, database_url)
    task = core.submit(
        TaskSubmission(
            type=TaskType.CUSTOM,
            payload={
                "command": f"if [ -e {marker} ]; then echo recovered; "
                f"else touch {marker}; echo $$ > {pidfile}; sleep 60; fi"
            },
        )
    ).task
    env = dockhand_env(
        tmp_path / "data",
        database_url,
        lease_seconds=600,
        sweep_interval_seconds=0.5,
        retry_backoff_seconds=0,
        poll_interval_seconds=0.1,
    )
    try:
        with running(env, tmp_path, "worker", "--workers", "1") as victim:
            wait_for(pidfile.exists, what="the first attempt to start")
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
        assert core.task(task.id).status is TaskStatus.RUNNING, "the lease still stands"
        with running(env, tmp_path, "worker", "--workers", "1"):
            wait_for(lambda: core.task(task.id).status.is_final, timeout=30, what="recovery, long before the lease")
    finally:
        if pidfile.exists():
            _kill_quietly(int(pidfile.read_text()))
    recovered = core.task(task.id)
    assert recovered.status is TaskStatus.SUCCEEDED
    assert recovered.attempt == 2 and recovered.retry_count == 0
    taken = [e for e in core.journal.events(task.id) if e.kind is EventKind.TAKEN_OVER]
    assert taken and "is no longer running" in taken[0].message
    assert "recovered" in [line.line for line in core.logs.tail(task.id)]
    core.stop()


def test_kill_9_during_a_sandbox_command_stops_it_and_the_retry_runs_once(
    tmp_path: Path, sqlite_url: str, sandbox_image: str
) -> None:
    import docker

    core = _core(tmp_path, sqlite_url)
    command = "echo started; sleep 20; echo finished"
    task = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": command, "timeout_seconds": 300})).task
    env = dockhand_env(
        tmp_path / "data",
        sqlite_url,
        custom_runner="sandbox",
        sandbox_image=sandbox_image,
        sweep_interval_seconds=0.5,
        retry_backoff_seconds=0,
        poll_interval_seconds=0.1,
    )
    engine = docker.from_env()

    def containers() -> list[docker.models.containers.Container]:
        return list(
            engine.containers.list(all=True, filters={"label": f"dockhand.task={task.id}"}, ignore_removed=True)
        )

    def log_lines() -> list[str]:
        return [line.line for line in core.logs.tail(task.id)]

    try:
        with running(env, tmp_path, "worker", "--workers", "1") as victim:
            wait_for(lambda: "started" in log_lines(), timeout=60, what="the command to start in its sandbox")
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
        [first] = containers()
        assert first.labels["dockhand.attempt"] == "1"
        assert "sleep" in first.exec_run("ps -eo comm").output.decode(), "the dead worker's command runs on"

        with running(env, tmp_path, "worker", "--workers", "1"):
            restarted = time.monotonic()
            wait_for(
                lambda: first.id not in {c.id for c in containers()},
                timeout=10,
                what="the dead attempt's sandbox to be removed",
            )
            assert time.monotonic() - restarted < 10
            wait_for(lambda: core.task(task.id).status.is_final, timeout=90, what="the retry to finish")
    finally:
        for container in containers():
            container.remove(force=True, v=True)
    done = core.task(task.id)
    assert done.status is TaskStatus.SUCCEEDED and done.attempt == 2
    lines = log_lines()
    assert lines.count("started") == 2 and lines.count("finished") == 1, lines
    assert containers() == [], "the retry's own sandbox is removed when it ends"
    core.stop()


def test_a_task_submitted_while_the_service_is_down_runs_when_it_starts(tmp_path: Path, database_url: str) -> None:
    env = dockhand_env(tmp_path / "data", database_url, poll_interval_seconds=0.1)
    submitted = run_cli(env, tmp_path, "submit", "custom", "echo hello from the queue", "--json")
    task_id = json.loads(submitted.stdout)["task"]["id"]
    shown = json.loads(run_cli(env, tmp_path, "task", task_id, "--json").stdout)
    assert shown["status"] == "pending"

    port = free_port()
    with running(env, tmp_path, "serve", "--port", str(port)) as server:
        wait_for(lambda: _healthy(port), timeout=30, what="the service to answer")
        token = (tmp_path / "data" / "api-token").read_text().strip()
        detail = wait_for(lambda: _finished(port, token, task_id), timeout=30, what="the task to finish")
        assert detail["status"] == "succeeded"
        followed = run_cli(env, tmp_path, "task", task_id, "--follow")
        assert "hello from the queue" in followed.stdout and followed.returncode == 0
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
        assert server.stdout is not None and "dockhand stopped" in server.stdout.read()


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _finished(port: int, token: str, task_id: str) -> dict | None:  # type: ignore[type-arg]
    detail = httpx.get(f"http://127.0.0.1:{port}/task/{task_id}", headers={"Authorization": f"Bearer {token}"}).json()
    return detail if detail["status"] in {"succeeded", "failed", "cancelled"} else None


def _kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_serve_refuses_bad_settings_with_a_clear_message(tmp_path: Path, sqlite_url: str) -> None:
    env = dockhand_env(tmp_path / "data", sqlite_url, workers="lots")
    result = run_cli(env, tmp_path, "serve", check=False)
    assert result.returncode == 2
    assert "DOCKHAND_WORKERS" in result.stderr and "Traceback" not in result.stderr
