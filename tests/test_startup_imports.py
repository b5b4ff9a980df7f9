"""What the quick commands import: `dockhand --help` and the TUI's start must not pull in the SDKs and
servers they do not use (each costs a tenth of a second to a second of start-up). Checked on
`sys.modules` of a fresh interpreter, never by timing."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.store.database import Database

ROOT = Path(__file__).resolve().parent.parent
HELP_MUST_NOT_IMPORT = (
    "anthropic", "slack_bolt", "slack_sdk", "github", "docker", "apscheduler", "uvicorn", "starlette", "textual",
)  # fmt: skip
TUI_MUST_NOT_IMPORT = (
    "anthropic",
    "slack_bolt",
    "slack_sdk",
    "github",
    "uvicorn",
    "starlette",
    "alembic",
    "docker",
    "core.pipelines.test_pipeline",
)


def imported_after(code: str, watched: tuple[str, ...], env: dict[str, str] | None = None) -> list[str]:
    """Which of `watched` a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {list(watched)!r} if m in sys.modules]))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def test_dockhand_help_imports_no_sdk_server_or_ui() -> None:
    code = (
        "import contextlib, io\n"
        "from bot.cli.main import app\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    app(['--help'], prog_name='dockhand')\n"
    )
    assert imported_after(code, HELP_MUST_NOT_IMPORT) == []


def test_the_check_sees_an_import() -> None:
    """The probe itself works: a module the code imports is reported."""
    assert imported_after("import textual.app", HELP_MUST_NOT_IMPORT) == ["textual"]


def test_the_tui_starts_on_a_migrated_store_without_sdks_or_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dockhand.db'}"
    Database(url).migrate()  # what `dockhand serve` did before: the TUI finds the schema at its head
    env = os.environ | {"DOCKHAND_DATA_DIR": str(tmp_path), "DOCKHAND_DATABASE_URL": url}
    code = (
        "from bot.cli.context import load_settings, open_core\n"
        "from bot.doctor import service_answers\n"
        "from tui.app import DockhandTui\n"
        "from tui.launch import check_database\n"
        "settings = load_settings()\n"
        "assert check_database(settings) is None\n"
        "core = open_core(settings)\n"
        "DockhandTui(core, notice='')\n"
        "core.close()\n"
    )
    assert imported_after(code, TUI_MUST_NOT_IMPORT, env) == []


def test_the_collector_waits_while_a_command_starts_and_runs_once_its_core_is_open(tmp_path: Path) -> None:
    env = os.environ | {"DOCKHAND_DATA_DIR": str(tmp_path), "DOCKHAND_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    code = (
        "import gc, json\n"
        "from bot.cli import startup\n"
        "startup.starting()\n"
        "while_starting = gc.isenabled()\n"
        "from bot.cli.context import open_core\n"
        "open_core().close()\n"
        "print(json.dumps([while_starting, gc.isenabled(), gc.get_freeze_count()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    while_starting, after, frozen = json.loads(done.stdout.strip().splitlines()[-1])
    assert while_starting is False and after is True
    assert frozen > 10_000  # the modules, classes and tables made while starting are out of the scans


def test_a_command_that_opens_no_core_gets_its_collector_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import startup

    monkeypatch.setattr(startup, "STARTING_SECONDS", 0.05)
    try:
        startup.starting()
        assert not gc.isenabled()
        deadline = time.monotonic() + 10
        while not gc.isenabled() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert gc.isenabled()
    finally:
        gc.enable()
