"""`custom` tasks run in a Docker sandbox: results, cancel, and no secret reaching the sandbox."""

from __future__ import annotations

import pytest

from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType
from sandbox.backend import docker_backend
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Docker-heavy tests run on SQLite only: the store's backends are covered by the store and queue tests."""
    return sqlite_url


SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-sandbox-canary",
    "GITHUB_TOKEN": "ghp_sandboxcanary123",
    "SLACK_BOT_TOKEN": "xoxb-sandbox-canary",
    "SLACK_SIGNING_SECRET": "slack-signing-canary",
    "GITHUB_WEBHOOK_SECRET": "webhook-canary",
}


@pytest.fixture
def core(core_factory, sandbox_image: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    core = core_factory(custom_runner="sandbox", sandbox_image=sandbox_image)
    core.sandboxes = docker_backend(core.settings, core.sandbox_records)
    core.runner.sandboxes = core.sandboxes
    core.start(workers=2)
    return core


def submit(core: Core, command: str, **payload: object) -> str:
    return core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": command, **payload})).task.id


def finished(core: Core, task_id: str) -> TaskStatus:
    return wait_for(
        lambda: core.task(task_id).status if core.task(task_id).status.is_final else None,
        timeout=60,
        what=f"task {task_id}",
    )


def test_a_custom_task_runs_in_a_sandbox_and_leaves_none_behind(core: Core) -> None:
    ok = submit(core, "id -u; hostname; echo out; echo err >&2")
    bad = submit(core, "exit 5")
    assert finished(core, ok) is TaskStatus.SUCCEEDED
    lines = [line.line for line in core.logs.tail(ok)]
    assert "10001" in lines and "sandbox" in lines and "out" in lines and "err" in lines
    assert finished(core, bad) is TaskStatus.FAILED and core.task(bad).error == "command exited with code 5"
    assert core.list_sandboxes() == []


def test_cancel_stops_a_sandboxed_command(core: Core) -> None:
    task_id = submit(core, "echo started; sleep 300")
    wait_for(lambda: "started" in [line.line for line in core.logs.tail(task_id)], timeout=60, what="the start")
    core.cancel(task_id)
    assert finished(core, task_id) is TaskStatus.CANCELLED
    assert core.list_sandboxes() == []


def test_no_secret_is_visible_inside_the_sandbox(core: Core) -> None:
    probe = (
        "env; echo ---; tr '\\0' '\\n' < /proc/1/environ; echo ---; "
        "grep -rIl -e canary /workspace /home /tmp /etc /opt 2>/dev/null | head; echo end"
    )
    task_id = submit(core, probe)
    assert finished(core, task_id) is TaskStatus.SUCCEEDED
    output = "\n".join(line.line for line in core.logs.tail(task_id, limit=5000))
    assert "end" in output and "DOCKHAND_TASK_ID=" in output
    for value in SECRETS.values():
        assert value not in output
    token = core.settings.data_dir / "api-token"
    assert not token.exists() or token.read_text().strip() not in output
