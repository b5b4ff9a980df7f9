"""The `dockhand` command line, run in-process on a real store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from core.service import Core
from core.states import TaskPriority, TaskStatus, TaskType
from tests.conftest import make_settings
from tests.support.cli import Invoke, cli_invoker
from tests.support.processes import dockhand_env
from tests.support.store import sql_core
from tests.support.waiting import wait_for


@pytest.fixture
def cli(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    return cli_invoker(monkeypatch, tmp_path, sqlite_url)


def store(tmp_path: Path, sqlite_url: str) -> Core:
    return sql_core(make_settings(tmp_path / "data", sqlite_url))


def test_submit_list_show_and_cancel(cli, tmp_path: Path, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    out = json.loads(cli("submit", "custom", "echo hi", "--priority", "urgent", "--env", "A=1", "--json").output)
    task_id = out["task"]["id"]
    assert out["created"] and out["task"]["payload"]["env"] == {"A": "***"}, "values are not echoed"
    task = store(tmp_path, sqlite_url).task(task_id)
    assert task.payload["env"] == {"A": "1"}
    assert task.type is TaskType.CUSTOM and task.priority is TaskPriority.URGENT and task.trigger_source.value == "cli"

    listed = json.loads(cli("tasks", "--json").output)["tasks"]
    assert [t["id"] for t in listed] == [task_id]
    assert task_id in cli("tasks").output
    assert "pending" in cli("task", task_id).output
    assert json.loads(cli("task", task_id, "--json").output)["events"][0]["kind"] == "created"

    assert "cancelled" in cli("cancel", task_id).output
    assert store(tmp_path, sqlite_url).task(task_id).status is TaskStatus.CANCELLED
    assert "already cancelled" in cli("cancel", task_id, code=2).output


def test_submit_for_each_task_type_parses_its_reference(cli) -> None:  # type: ignore[no-untyped-def]
    # Without GitHub credentials, issue resolution and PR review are refused up front, saying what to set.
    refused = cli("submit", "issue", "acme/api#12", code=2).output
    assert "issue-resolution tasks need GitHub credentials: set GITHUB_TOKEN" in refused
    assert "pr-review tasks need GitHub credentials" in cli("submit", "review", "acme/api#7", code=2).output
    assert "queued test-pipeline task" in cli("submit", "test", "acme/api", "--ref", "main").output
    assert "give the number" in cli("submit", "issue", "acme/api", code=2).output
    assert "needs an owner" in cli("submit", "issue", "api#3", code=2).output
    assert "not a repository reference" in cli("submit", "review", "a/b/c#1", code=2).output
    assert "KEY=VALUE" in cli("submit", "custom", "true", "--env", "novalue", code=2).output


def test_follow_streams_until_the_task_ends(cli, tmp_path: Path, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    task_id = json.loads(cli("submit", "custom", "echo line-one; exit 4", "--json").output)["task"]["id"]
    worker = store(tmp_path, sqlite_url)
    worker.start(workers=1)
    try:
        wait_for(lambda: worker.task(task_id).status.is_final, what="the task to end")
        result = cli("task", task_id, "--follow", code=1)
    finally:
        worker.stop()
    assert "line-one" in result.output and "failed" in result.output
    shown = cli("task", task_id).output
    assert "exit_code: 4" in shown and "{" not in shown, "the result is shown field by field, not as a dict"


def test_unknown_task_and_bad_settings_are_clear_errors(cli, tmp_path: Path, sqlite_url: str) -> None:  # type: ignore[no-untyped-def]
    assert "no task nope" in cli("task", "nope", code=2).output
    result = CliRunner().invoke(
        app, ["tasks"], env={**dockhand_env(tmp_path / "d", sqlite_url), "DOCKHAND_LEASE_SECONDS": "soon"}
    )
    assert result.exit_code == 2 and "DOCKHAND_LEASE_SECONDS" in result.output


def test_operator_commands(cli) -> None:  # type: ignore[no-untyped-def]
    assert json.loads(cli("sandbox", "list", "--json").output) == {"sandboxes": []}
    assert "no sandbox nope" in cli("sandbox", "destroy", "nope", code=2).output
    cleared = json.loads(cli("cache", "clear", "--json").output)["cleared"]  # with Docker: snapshots, pool too
    assert cleared == {"dependencies": 0, "snapshots": 0, "warm-pool": 0}
    assert "newest" in cli("db", "upgrade").output
    config = json.loads(cli("config", "--json").output)
    assert config["credentials"]["github_token"] is False and "api-token" in config["api_token"]
    assert "not set: slack_bot_token" in cli("config").output and "{" not in cli("config").output
    cli("schedule", "add", "nightly", "0 3 * * *", "--command", "echo nightly")
    assert json.loads(cli("schedule", "list", "--json").output)["schedules"][0]["cron"] == "0 3 * * *"
    assert "invalid cron" in cli("schedule", "add", "bad", "every day", "--command", "x", code=2).output
    assert "already exists" in cli("schedule", "add", "nightly", "0 4 * * *", "--command", "x", code=2).output
    cli("schedule", "add", "weekly[main]", "0 5 * * 1", "--command", "echo [/]")
    listed = cli("schedule", "list").output.splitlines()
    assert listed[0].split() == ["NAME", "CRON", "TYPE", "REPOSITORY", "ENABLED"]
    assert any(line.startswith("weekly[main]") for line in listed), "names are shown as they are, not as markup"
    assert all(line == line.rstrip() for line in listed)
    cli("schedule", "remove", "weekly[main]")
    cli("schedule", "remove", "nightly")
    assert "no schedules" in cli("schedule", "list").output
    # A change in words needs GitHub (and a model): refused up front, saying what to set.
    assert "need GitHub credentials" in cli("submit", "do", "acme/calc", "add a --json flag", code=2).output
    assert "is an issue" in cli("submit", "do", "acme/calc#3", "fix it", code=2).output
    bad = cli("submit", "do", "acme/calc", "also this", "--continues", "not-a-task", code=2).output
    assert "continues" in bad, "a follow-up names the task it continues by its id"


def test_the_tui_says_when_there_is_no_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "dockhand.db"
    invoke = cli_invoker(monkeypatch, tmp_path, f"sqlite:///{missing}")
    output = invoke("tui", code=2).output
    assert f"no dockhand database at {missing}" in output and "dockhand serve" in output
    assert not missing.exists()  # looking did not create an empty one


def test_help_is_there_for_every_command(cli) -> None:  # type: ignore[no-untyped-def]
    for args in (
        ["--help"],
        ["submit", "--help"],
        ["submit", "custom", "--help"],
        ["task", "--help"],
        ["serve", "--help"],
        ["sandbox", "--help"],
        ["schedule", "add", "--help"],
    ):
        assert "Usage" in cli(*args).output


def test_version_and_a_mistyped_setting(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert cli("--version").output.startswith("dockhand ")
    monkeypatch.setenv("DOCKHAND_WROKERS", "4")
    assert "DOCKHAND_WROKERS is not a dockhand setting" in cli("config").output


def test_no_color_is_honoured(tmp_path: Path, sqlite_url: str) -> None:
    """NO_COLOR (no-color.org): the real entry point, on a pseudo-terminal, prints no colour codes."""
    import pty
    import subprocess
    import sys

    from tests.support.processes import dockhand_env

    def run(**extra: str) -> bytes:
        controller, terminal = pty.openpty()
        env = dockhand_env(tmp_path / "data", sqlite_url) | {"DOCKHAND_DATABASE_URL": "mysql://x/y", **extra}
        done = subprocess.run([sys.executable, "-m", "bot.cli.main", "tasks"], stdout=terminal, stderr=terminal,
                              env=env, timeout=60, check=False)  # fmt: skip
        os.close(terminal)
        output = os.read(controller, 65536)
        os.close(controller)
        assert done.returncode == 2
        return output

    assert b"\x1b[" in run() and b"\x1b[" not in run(NO_COLOR="1")


def test_serve_on_a_busy_port_fails_before_anything_starts(tmp_path: Path, sqlite_url: str) -> None:
    import socket
    import subprocess
    import sys

    from tests.support.processes import dockhand_env

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli.main", "serve", "--port", str(port)],
            env=dockhand_env(tmp_path / "data", sqlite_url), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2 and f"127.0.0.1:{port} is in use" in done.stderr
    assert "serving" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data" / "dockhand.db").exists()  # not even the store was opened


def test_submit_says_when_no_service_will_run_the_task(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke = cli_invoker(monkeypatch, tmp_path, sqlite_url, DOCKHAND_PORT="1")  # nothing serves on port 1
    out = invoke("submit", "custom", "echo hi").output
    assert "queued custom task" in out and "note: no dockhand service answers at http://127.0.0.1:1/healthz" in out
    assert "dockhand serve" in out


def test_resolution_without_a_model_key_is_refused_before_any_work(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke = cli_invoker(monkeypatch, tmp_path, sqlite_url, GITHUB_TOKEN="ghp_x", GITHUB_WEBHOOK_SECRET="w")
    out = invoke("submit", "issue", "acme/api#12", code=2).output
    assert "issue-resolution tasks need a model: set ANTHROPIC_API_KEY" in out
    assert "need a model" in invoke("run", "resolve", "acme/api#12", code=2).output
    assert json.loads(invoke("tasks", "--json").output)["tasks"] == []  # nothing stored, nothing checked out


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """`dockhand --help` must stay quick (bench/cli_startup.py measures it): the SDKs, the ORM and the Docker
    client are imported by the commands that use them, not when the CLI is loaded."""
    import subprocess
    import sys

    heavy = ("anthropic", "sqlalchemy", "sqlmodel", "slack_bolt", "slack_sdk", "docker", "github", "pydantic")
    probe = f"import sys, bot.cli.main; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "", f"imported at start-up: {loaded.stdout}"


def test_the_model_provider_is_checked_before_any_work(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    github = {"GITHUB_TOKEN": "ghp_x", "GITHUB_WEBHOOK_SECRET": "w"}
    vertex = cli_invoker(monkeypatch, tmp_path, sqlite_url, DOCKHAND_MODEL_PROVIDER="vertex", **github)
    assert "DOCKHAND_VERTEX_PROJECT_ID and DOCKHAND_VERTEX_REGION are needed" in vertex("config", code=2).output
    bedrock = cli_invoker(
        monkeypatch, tmp_path, sqlite_url, DOCKHAND_MODEL_PROVIDER="bedrock", DOCKHAND_BEDROCK_REGION="eu-west-1",
        **github,
    )  # fmt: skip
    if importlib.util.find_spec("botocore") is None:
        refused = bedrock("submit", "issue", "acme/api#12", code=2).output
        assert "need a model: Bedrock needs boto3: pip install 'dockhand[bedrock]'" in refused
    else:
        assert "queued issue-resolution task" in bedrock("submit", "issue", "acme/api#12").output


def test_connections_to_the_served_port_have_nagles_algorithm_off() -> None:
    """With Nagle on, each answer on a kept-alive connection waited ~40 ms for the client's delayed ACK."""
    import asyncio
    import socket

    from bot.cli.main import _listen

    listener = _listen("127.0.0.1", 0)
    host, port = listener.getsockname()[:2]

    async def accepted_nodelay() -> list[int]:
        seen: list[int] = []

        class Record(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        server = await asyncio.get_running_loop().create_server(Record, sock=listener)
        _, writer = await asyncio.open_connection(host, port)
        for _ in range(50):
            if seen:
                break
            await asyncio.sleep(0.02)
        writer.close()
        server.close()
        return seen

    [nodelay] = asyncio.run(accepted_nodelay())
    assert nodelay != 0
