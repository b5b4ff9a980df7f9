"""Without a Docker engine, a sandboxed task ends at once as failed and says why; it never waits forever.

The service is opened as `dockhand serve` opens it (`open_core(sandboxes=True)`), with DOCKER_HOST pointing
at a socket nobody listens on: the real docker SDK finds no engine, the core runs without a sandbox backend.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli.context import open_core
from core.settings import Settings
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType, TriggerSource
from tests.support.waiting import wait_for

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "python-calculator"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url  # the store is not the subject: one backend is enough


def test_a_sandboxed_custom_task_fails_clearly_without_docker(
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    with caplog.at_level(logging.WARNING, logger="dockhand"):
        core = open_core(settings_factory(custom_runner="sandbox"), sandboxes=True)
    try:
        assert core.sandboxes is None
        assert "cannot reach the Docker engine" in caplog.text
        assert "sandboxed tasks fail until Docker is back" in caplog.text
        core.start(workers=1)
        task = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task
        ended = wait_for(lambda: (t := core.task(task.id)).status.is_final and t, timeout=10, what="the task to end")
        assert ended.status is TaskStatus.FAILED
        assert ended.error is not None and "Docker is not available" in ended.error
    finally:
        core.stop(grace_seconds=2)


def test_a_test_run_made_on_demand_fails_clearly_without_docker_when_it_needs_a_sandbox(
    settings_factory: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dockhand run test` opens its sandboxes on demand: with no engine, the run fails at the sandbox it needs,
    saying why, and nothing is retried."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    core = open_core(settings_factory(), sandboxes=True, on_demand=True)
    try:
        assert core.sandboxes is not None  # made, not yet connected
        submission = TaskSubmission(
            type=TaskType.TEST_PIPELINE,
            payload={"source": str(EXAMPLE)},
            trigger_source=TriggerSource.CLI,
            max_retries=0,
        )
        task = core.run_now(core.submit(submission).task.id)
        assert task.status is TaskStatus.FAILED
        assert task.error is not None and "no sandbox backend: cannot reach the Docker engine" in task.error
    finally:
        core.stop(grace_seconds=2)
