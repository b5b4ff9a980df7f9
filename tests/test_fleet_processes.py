"""The fleet as real processes on a real PostgreSQL, each `dockhand worker` with a data directory of its own (as on
separate machines): a burst drained by three while one is killed with SIGKILL loses nothing, and when the leading
process is killed another takes the lead within seconds."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType
from core.store.queue_types import TaskFilter
from tests.conftest import make_settings
from tests.support.processes import dockhand_env, free_port, running, until_healthy
from tests.support.store import sql_core
from tests.support.waiting import wait_for
from tests.test_issue_resolution import FIXED, fixing_script, issue_world

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


def test_a_change_made_by_a_killed_machine_is_published_by_another(
    tmp_path: Path, core_factory: Callable[..., Core], sandbox_image: str, database_url: str
) -> None:
    """Machine A (a `dockhand worker` with a data directory of its own) resolves the issue; while the change
    waits for approval A is killed and its disk is gone. The service (no workers) takes the approval; of
    machines B and C, one publishes the PR from the change stored in the database."""
    if database_url.startswith("sqlite"):
        pytest.skip("machines share a PostgreSQL database")
    with issue_world(tmp_path, core_factory, sandbox_image) as world:
        world.model.script = fixing_script()
        settings = world.core.settings

        def machine(name: str) -> dict[str, str]:
            return dockhand_env(
                tmp_path / name, settings.database_url, sandbox_image=settings.sandbox_image,
                github_git_url=settings.github_git_url, agent_test_rounds=2, agent_self_review=False,
                poll_interval_seconds=0.2, lease_seconds=5,
            ) | {"GITHUB_TOKEN": "ghp_fake_token", "GITHUB_API_URL": settings.github_api_url,
                 "ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": settings.anthropic_base_url}  # fmt: skip

        task_id = world.submit()
        with running(machine("machine-a"), tmp_path, "worker", "--workers", "1") as a:
            waiting = wait_for(
                lambda: (t := world.core.task(task_id)).status.is_final or t.status is TaskStatus.AWAITING_APPROVAL,
                timeout=240, interval=0.5, what="the change to wait for approval",
            )  # fmt: skip
            assert world.core.task(task_id).status is TaskStatus.AWAITING_APPROVAL, world.core.task(task_id).error
            os.killpg(a.pid, signal.SIGKILL)
            a.wait(timeout=10)
        assert waiting
        made_by = world.core.task(task_id).worker_id or ""
        shutil.rmtree(tmp_path / "machine-a")
        world.core.approve(task_id, by="bob")
        with (
            running(machine("machine-b"), tmp_path, "worker", "--workers", "1"),
            running(machine("machine-c"), tmp_path, "worker", "--workers", "1"),
        ):
            done = wait_for(
                lambda: (t := world.core.task(task_id)).status.is_final and t, timeout=240, interval=0.5,
                what="the change to be published",
            )  # fmt: skip
        assert done.status is TaskStatus.SUCCEEDED, done.error
        assert done.worker_id and done.worker_id.split("/")[0] != made_by.split("/")[0]
        branch = (done.result or {})["pull_request"]["branch"]
        assert world.remote_file(branch, "calc.py") == FIXED
        (opened,) = world.github.pulls.values()
        assert "approved by bob" in opened["body"]


def test_a_service_without_workers_leaves_the_tasks_to_worker_machines(tmp_path: Path, database_url: str) -> None:
    """`dockhand serve --workers 0` takes the request over HTTP and runs nothing; a worker on another machine (its
    own data directory) runs it at once, and the service's /status lists that worker."""
    core = _core(tmp_path, database_url)
    port = free_port()
    service_env = _env(tmp_path, "service-machine", database_url, api_token="fleet-token")
    with (
        running(service_env, tmp_path, "serve", "--workers", "0", "--port", str(port)) as service,
        running(_env(tmp_path, "worker-machine", database_url, poll_interval_seconds=30), tmp_path, "worker"),
    ):
        base = f"http://127.0.0.1:{port}"
        until_healthy(base, lambda: service.poll() is None)
        headers = {"Authorization": "Bearer fleet-token"}
        fleet = wait_for(lambda: httpx.get(f"{base}/status", headers=headers).json()["fleet"], what="the worker")
        assert [w["host"] for w in fleet] and {w["pid"] for w in fleet} != {service.pid}
        asked = {"type": "custom", "payload": {"command": "true"}}
        answer = httpx.post(f"{base}/api/submit", headers=headers, json=asked)
        task_id = answer.json()["task"]["id"]
        done = wait_for(lambda: (t := core.task(task_id)).status.is_final and t, timeout=20, what="the task")
        assert done.status is TaskStatus.SUCCEEDED
        worker_pid = int((done.worker_id or "").split(":")[1])
        assert worker_pid != service.pid and worker_pid in {w["pid"] for w in fleet}
    core.stop()
