"""Settings: from the environment and .env, validated, with errors that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import SettingsError
from core.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("DOCKHAND_", "GITHUB_", "SLACK_", "ANTHROPIC_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_need_no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = Settings.load()
    assert settings.data_dir == tmp_path / "xdg" / "dockhand"
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'xdg' / 'dockhand' / 'dockhand.db'}"
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8080, 2)
    assert not any(settings.configured_credentials().values())


def test_vendor_names_and_prefixed_names_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_abc")
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9998")
    monkeypatch.setenv("DOCKHAND_WORKERS", "5")
    monkeypatch.setenv("DOCKHAND_PER_REPO_LIMIT", "3")
    settings = Settings.load()
    assert settings.github_token is not None and settings.github_token.get_secret_value() == "ghp_abc"
    assert settings.github_api_url == "http://127.0.0.1:9999" and settings.anthropic_base_url == "http://127.0.0.1:9998"
    assert (settings.workers, settings.per_repo_limit) == (5, 3)
    assert settings.configured_credentials()["github_token"] is True


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DOCKHAND_PORT=9090\nSLACK_BOT_TOKEN=xoxb-1\nSLACK_SIGNING_SECRET=s\n")
    settings = Settings.load()
    assert settings.port == 9090 and settings.slack_bot_token is not None


@pytest.mark.parametrize(
    "name,value,fragment",
    [
        ("DOCKHAND_WORKERS", "many", "DOCKHAND_WORKERS"),
        ("DOCKHAND_WORKERS", "0", "DOCKHAND_WORKERS"),
        ("DOCKHAND_PORT", "70000", "DOCKHAND_PORT"),
        ("DOCKHAND_LOG_LEVEL", "chatty", "DOCKHAND_LOG_LEVEL"),
        ("GITHUB_APP_ID", "not-a-number", "GITHUB_APP_ID"),
    ],
)
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=fragment):
        Settings.load()


def test_incomplete_pairs_name_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_APP_ID", "123")
    with pytest.raises(SettingsError, match="GITHUB_APP_PRIVATE_KEY_PATH is missing"):
        Settings.load()
    monkeypatch.delenv("GITHUB_APP_ID")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is missing"):
        Settings.load()


def test_secrets_never_show_in_repr_or_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-supersecret")
    settings = Settings.load()
    assert "supersecret" not in repr(settings) and "supersecret" not in str(settings.model_dump())
    monkeypatch.setenv("DOCKHAND_WORKERS", "x")
    with pytest.raises(SettingsError) as err:
        Settings.load()
    assert "supersecret" not in str(err.value)


def test_heartbeat_follows_the_lease() -> None:
    assert Settings.load(_env_file=None, lease_seconds=4).effective_heartbeat_seconds == 1.0
    assert Settings.load(_env_file=None, lease_seconds=60).effective_heartbeat_seconds == 2.0


def test_a_dead_workers_task_is_taken_over_well_within_15_seconds_by_default() -> None:
    settings = Settings.load(_env_file=None)
    worst = settings.lease_seconds + settings.sweep_interval_seconds  # after the last heartbeat
    assert worst < 15 and settings.effective_heartbeat_seconds <= settings.lease_seconds / 4
    assert settings.max_takeovers == 3


def test_takeovers_and_sweeps_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_MAX_TAKEOVERS", "-1")
    with pytest.raises(SettingsError, match=r"max_takeovers|MAX_TAKEOVERS"):
        Settings.load(_env_file=None)
    monkeypatch.setenv("DOCKHAND_MAX_TAKEOVERS", "0")
    monkeypatch.setenv("DOCKHAND_SWEEP_INTERVAL_SECONDS", "600")
    with pytest.raises(SettingsError, match=r"sweep_interval_seconds|SWEEP_INTERVAL_SECONDS"):
        Settings.load(_env_file=None)


def test_heartbeat_must_be_well_inside_the_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_LEASE_SECONDS", "10")
    monkeypatch.setenv("DOCKHAND_HEARTBEAT_SECONDS", "6")
    with pytest.raises(SettingsError, match="DOCKHAND_HEARTBEAT_SECONDS"):
        Settings.load()


def test_per_language_images(monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.backend import default_policy

    monkeypatch.setenv("DOCKHAND_SANDBOX_IMAGES", '{"python": "registry.example/python:3.12"}')
    settings = Settings.load()
    assert default_policy(settings, "python").image == "registry.example/python:3.12"
    assert default_policy(settings, "go").image == "dockhand-sandbox:latest"
    monkeypatch.setenv("DOCKHAND_SANDBOX_IMAGE", "registry.example/all:1")
    assert default_policy(Settings.load(), "go").image == "registry.example/all:1"
    monkeypatch.setenv("DOCKHAND_SANDBOX_IMAGES", "not json")
    with pytest.raises(SettingsError, match="DOCKHAND_SANDBOX_IMAGES"):
        Settings.load()


def test_database_urls_are_sqlite_or_postgresql_and_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKHAND_DATABASE_URL", "mysql://root:hunter2@db/dockhand")
    with pytest.raises(SettingsError) as refused:
        Settings.load()
    assert "mysql:// is not supported" in str(refused.value) and "hunter2" not in str(refused.value)
    for written in ("postgres://u:p@db/x", "postgresql://u:p@db/x", "postgresql+psycopg://u:p@db/x"):
        monkeypatch.setenv("DOCKHAND_DATABASE_URL", written)
        assert Settings.load_environment().effective_database_url == "postgresql+psycopg://u:p@db/x"


def test_an_unknown_dockhand_variable_is_named_with_the_nearest_setting() -> None:
    from core.settings import unknown_variables

    warnings = unknown_variables({"DOCKHAND_WORKER": "3", "DOCKHAND_PORT": "9", "DOCKHAND_ZZZ": "1", "HOME": "/"})
    assert warnings == [
        "DOCKHAND_WORKER is not a dockhand setting and is ignored (did you mean DOCKHAND_WORKERS?)",
        "DOCKHAND_ZZZ is not a dockhand setting and is ignored",
    ]


def test_empty_variables_are_unset_as_compose_passes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_APP_ID", "GITHUB_TOKEN", "DOCKHAND_MASTER_KEY", "SLACK_BOT_TOKEN", "DOCKHAND_PORT"):
        monkeypatch.setenv(name, "")
    settings = Settings.load_environment()
    assert settings.github_app_id is None and settings.github_token is None and settings.master_key is None
    assert settings.port == 8080
