"""Credentials at rest: AES-256-GCM in the real store, and what happens when something is off."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from sqlmodel import select

from core.errors import SettingsError
from core.models import StoredSecret
from core.secrets import MasterKey, SecretError, key_file, load_master_key
from core.states import SecretName
from core.store.database import Database
from core.store.secrets import SecretStore
from tests.conftest import make_settings
from tests.support.cli import cli_invoker

TOKEN = "ghp_" + "S3cr3t" * 6
ANTHROPIC = "sk-ant-" + "k" * 40


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.migrate()
    return database


def test_the_database_holds_no_plaintext_and_values_read_back(db: Database, tmp_path: Path, sqlite_url: str) -> None:
    store = SecretStore(db, load_master_key(None, tmp_path, create=True))
    store.set(SecretName.GITHUB_TOKEN, TOKEN)
    store.set(SecretName.ANTHROPIC_API_KEY, ANTHROPIC)
    assert store.get(SecretName.GITHUB_TOKEN) == TOKEN
    assert [name for name, _, _ in store.list()] == ["anthropic_api_key", "github_token"]
    with db.read() as session:
        rows = session.exec(select(StoredSecret)).all()
    for row in rows:
        assert TOKEN.encode() not in row.ciphertext and len(row.nonce) == 12
    first = {row.name: row.nonce for row in rows}["github_token"]
    store.set(SecretName.GITHUB_TOKEN, TOKEN)  # the same value again: a fresh nonce all the same
    with db.read() as session:
        again = session.get(StoredSecret, "github_token")
    assert again is not None and again.nonce != first
    if db.url.get_backend_name() == "sqlite":
        raw = Path(db.url.database or "").read_bytes()
        assert TOKEN.encode() not in raw and ANTHROPIC.encode() not in raw
    assert (key_file(tmp_path).stat().st_mode & 0o777) == 0o600


def test_tampered_moved_and_wrong_key_ciphertexts_fail_loudly(db: Database) -> None:
    key = MasterKey.generate()
    store = SecretStore(db, key)
    store.set(SecretName.GITHUB_TOKEN, TOKEN)
    store.set(SecretName.SLACK_BOT_TOKEN, "xoxb-" + "1" * 30)
    with db.write() as session:
        row = session.get(StoredSecret, "github_token")
        assert row is not None
        row.ciphertext = bytes([row.ciphertext[0] ^ 1]) + row.ciphertext[1:]
        session.add(row)
    with pytest.raises(SecretError, match="tampered"):
        store.get(SecretName.GITHUB_TOKEN)
    with db.write() as session:  # Slack's sealed value copied into the GitHub token's row
        slack, github = session.get(StoredSecret, "slack_bot_token"), session.get(StoredSecret, "github_token")
        assert slack is not None and github is not None
        github.nonce, github.ciphertext = slack.nonce, slack.ciphertext
        session.add(github)
    with pytest.raises(SecretError, match="moved"):
        store.get(SecretName.GITHUB_TOKEN)
    with pytest.raises(SecretError, match="sealed with master key"):
        SecretStore(db, MasterKey.generate()).get(SecretName.SLACK_BOT_TOKEN)


def test_rotation_keeps_every_secret_and_the_old_key_can_go(db: Database) -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    store = SecretStore(db, old)
    values = {SecretName.GITHUB_TOKEN: TOKEN, SecretName.ANTHROPIC_API_KEY: ANTHROPIC}
    for name, value in values.items():
        store.set(name, value)
    assert store.rotate(new) == 2
    fresh = SecretStore(db, new)
    assert {name: fresh.get(name) for name in values} == values
    assert {key_id for _, key_id, _ in fresh.list()} == {new.id}
    with pytest.raises(SecretError):
        SecretStore(db, old).get(SecretName.GITHUB_TOKEN)


def test_bad_or_missing_keys_stop_start_up(tmp_path: Path, sqlite_url: str) -> None:
    with pytest.raises(SettingsError, match="not base64"):
        MasterKey.parse("not a key!", "DOCKHAND_MASTER_KEY")
    with pytest.raises(SettingsError, match="32 bytes"):
        MasterKey.parse(base64.b64encode(b"short").decode(), "DOCKHAND_MASTER_KEY")
    data = tmp_path / "data"
    settings = make_settings(data, sqlite_url)
    db = Database(settings.effective_database_url)
    db.migrate()
    SecretStore(db, load_master_key(None, data, create=True)).set(SecretName.GITHUB_TOKEN, TOKEN)
    db.dispose()
    assert make_settings(data, sqlite_url).github_token.get_secret_value() == TOKEN  # type: ignore[union-attr]
    key_file(data).chmod(0o644)
    with pytest.raises(SettingsError, match="chmod 600"):
        make_settings(data, sqlite_url)
    key_file(data).unlink()
    with pytest.raises(SettingsError, match="no master key is available"):
        make_settings(data, sqlite_url)


def test_stored_secrets_fill_in_and_the_environment_wins(tmp_path: Path, sqlite_url: str) -> None:
    data = tmp_path / "data"
    db = Database(make_settings(data, sqlite_url).effective_database_url)
    db.migrate()
    store = SecretStore(db, load_master_key(None, data, create=True))
    store.set(SecretName.GITHUB_TOKEN, TOKEN)
    store.set(SecretName.ANTHROPIC_API_KEY, ANTHROPIC)
    db.dispose()
    settings = make_settings(data, sqlite_url, anthropic_api_key="sk-ant-from-the-environment")
    assert settings.github_token is not None and settings.github_token.get_secret_value() == TOKEN
    assert settings.anthropic_api_key is not None
    assert settings.anthropic_api_key.get_secret_value() == "sk-ant-from-the-environment"


def test_the_cli_sets_lists_rotates_and_deletes_without_showing_values(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = cli_invoker(monkeypatch, tmp_path, sqlite_url)
    value_file = tmp_path / "token.txt"
    value_file.write_text(TOKEN + "\n")
    assert "stored github_token" in cli("secrets", "set", "github_token", "--from-file", str(value_file)).output
    cli("secrets", "set", "anthropic_api_key", input=ANTHROPIC)  # piped in, never on the command line
    listed = cli("secrets", "list").output
    assert "github_token" in listed and "anthropic_api_key" in listed
    assert TOKEN not in listed and ANTHROPIC not in listed
    data = tmp_path / "data"
    old_key = key_file(data).read_text()
    assert "re-sealed 2 secrets" in cli("secrets", "rotate").output
    assert key_file(data).read_text() != old_key
    settings = make_settings(data, sqlite_url)
    assert settings.github_token is not None and settings.github_token.get_secret_value() == TOKEN
    retired = list(data.glob("master.key.*.retired"))
    assert len(retired) == 1 and not list(data.glob("*.pending"))
    retired[0].unlink()  # the old key can be dropped
    assert make_settings(data, sqlite_url).anthropic_api_key is not None
    cli("secrets", "delete", "github_token")
    assert "github_token" not in cli("secrets", "list").output
    assert "not one of" in cli("secrets", "set", "nonsense", code=2).output


def test_a_second_master_key_is_refused_and_a_wrong_one_stops_start_up(tmp_path: Path, sqlite_url: str) -> None:
    data = tmp_path / "data"
    db = Database(make_settings(data, sqlite_url).effective_database_url)
    db.migrate()
    SecretStore(db, load_master_key(None, data, create=True)).set(SecretName.GITHUB_TOKEN, TOKEN)
    other = MasterKey.generate()
    with pytest.raises(SecretError, match="sealed with master key"):
        SecretStore(db, other).set(SecretName.SLACK_BOT_TOKEN, "xoxb-" + "2" * 30)
    db.dispose()
    with pytest.raises(SettingsError, match="sealed with master key"):
        make_settings(data, sqlite_url, master_key=other.encoded())


def test_a_rotation_stopped_after_resealing_recovers_on_start(tmp_path: Path, sqlite_url: str) -> None:
    from core.secrets import write_key_file

    data = tmp_path / "data"
    db = Database(make_settings(data, sqlite_url).effective_database_url)
    db.migrate()
    old = load_master_key(None, data, create=True)
    assert old is not None
    store = SecretStore(db, old, data)
    store.set(SecretName.GITHUB_TOKEN, TOKEN)
    new = MasterKey.generate()
    path = key_file(data)
    write_key_file(path.with_name(f"{path.name}.{new.id}.pending"), new)
    store.rotate(new)  # …and the process dies before master.key is replaced
    db.dispose()
    settings = make_settings(data, sqlite_url)
    assert settings.github_token is not None and settings.github_token.get_secret_value() == TOKEN
    assert MasterKey.parse(path.read_text(), "x").id == new.id and not list(data.glob("*.pending"))
