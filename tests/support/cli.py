"""Running the `dockhand` CLI in-process with a clean environment of its own."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot.cli.main import app
from tests.support.processes import dockhand_env

Invoke = Callable[..., Result]


def cli_invoker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, **extra_env: Any) -> Invoke:
    """`invoke(*args, code=0, input=None)` runs the CLI against this test's store and checks its exit code."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in list(os.environ):
        if key.startswith(("DOCKHAND_", "GITHUB_", "SLACK_", "ANTHROPIC_")):
            monkeypatch.delenv(key)
    env = {**dockhand_env(tmp_path / "data", database_url), **{k: str(v) for k, v in extra_env.items()}}
    runner = CliRunner()

    def invoke(*args: str, code: int = 0, input: str | None = None) -> Result:
        result = runner.invoke(app, list(args), env=env, input=input)
        assert result.exit_code == code, (result.output, result.exception)
        return result

    return invoke
