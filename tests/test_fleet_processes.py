"""The fleet as real processes on a real PostgreSQL, each `dockhand worker` with a data directory of its own (as on
separate machines): a burst drained by three while one is killed with SIGKILL loses nothing, and when the leading
process is killed another takes the lead within seconds."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType
from core.store.queue_types import TaskFilter
from tests.conftest import make_settings
from tests.support.processes import dockhand_env, running
from tests.support.store import sql_core
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


def _core(tmp_path: Path, database_url: str) -> Core:
    if database_url.startswith("sqlite"):
        pytest.skip("machines share a PostgreSQL database")
    return sql_core(make_settings(tmp_path / "service", database_url))


def _env(tmp_path: Path, name: str, database_url: str, **settings: object) -> dict[str, str]:
    return dockhand_env(tmp_path / name, database_url, sweep_interval_seconds=0.5, **settings)


def test_a_burst_drained_by_three_machines_loses_nothing_when_one_is_killed(tmp_path: Path, database_url: str) -> None:
    core = _core(tmp_path, database_url)
    runs = tmp_path / "runs.log"
    total = 300
    for _ in range(total):
        command = f'echo "$DOCKHAND_TASK_ID" >> {runs}; sleep 0.05'
        core.queue.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": command}, max_retries=3))
    settings = {"lease_seconds": 3, "retry_backoff_seconds": 0, "poll_interval_seconds": 0.2}
    with (
        running(_env(tmp_path, "a", database_url, **settings), tmp_path, "worker", "--workers", "2") as a,
        running(_env(tmp_path, "b", database_url, **settings), tmp_path, "worker", "--workers", "2") as b,
        running(_env(tmp_path, "c", database_url, **settings), tmp_path, "worker", "--workers", "2") as c,
    ):
        wait_for(lambda: core.queue.counts_by_status()[TaskStatus.SUCCEEDED] >= total // 3, timeout=120, what="a third")
        os.killpg(a.pid, signal.SIGKILL)
        a.wait(timeout=10)
        wait_for(
            lambda: core.queue.counts_by_status()[TaskStatus.SUCCEEDED] == total,
            timeout=300,
            interval=0.5,
            what="every task to succeed, the killed machine's included",
        )
        assert b.poll() is None and c.poll() is None
    tasks = core.tasks(TaskFilter(limit=total + 10))
    assert len(tasks) == total and {t.status for t in tasks} == {TaskStatus.SUCCEEDED}
    ran = runs.read_text().split()
    assert set(ran) == {t.id for t in tasks}, "every task ran"
    first_time = {t.id for t in tasks if t.attempt == 1}
    assert all(ran.count(task_id) == 1 for task_id in first_time), "a task no worker lost ran exactly once"
    assert len(first_time) >= total - 4, "only what the killed machine was running ran again"
    core.stop()


def test_when_the_leading_process_is_killed_another_takes_the_lead(tmp_path: Path, database_url: str) -> None:
    core = _core(tmp_path, database_url)
    with (
        running(_env(tmp_path, "a", database_url), tmp_path, "worker", "--workers", "1") as a,
        running(_env(tmp_path, "b", database_url), tmp_path, "worker", "--workers", "1") as b,
    ):
        leader = wait_for(core.fleet.leader, what="a leader")
        pids = {a.pid: a, b.pid: b}
        leading = pids[int(leader.split(":")[1])]
        began = time.monotonic()
        os.killpg(leading.pid, signal.SIGKILL)
        leading.wait(timeout=10)
        (other,) = (p for p in pids if p != leading.pid)
        after = wait_for(
            lambda: (name := core.fleet.leader()) and int(name.split(":")[1]) == other and name,
            timeout=20,
            what="the other process to take the lead",
        )
        assert after and time.monotonic() - began < 20
    core.stop()
