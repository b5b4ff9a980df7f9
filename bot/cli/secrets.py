"""`dockhand secrets set|list|delete|rotate`: credentials kept in the database, sealed under the master key."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.context import fail, print_json, print_table
from core.errors import DockhandError
from core.states import SecretName

if TYPE_CHECKING:
    from core.settings import Settings
    from core.store.secrets import SecretStore


secrets_app = typer.Typer(help="Credentials stored encrypted (AES-256-GCM) in the database.", no_args_is_help=True)


def _settings() -> Settings:
    """The environment only: stored secrets must not be needed to manage stored secrets."""
    from core.settings import Settings

    try:
        return Settings.load_environment()
    except DockhandError as exc:  # the message names the setting, never a secret's value
        fail(str(exc))


def _store(settings: Settings, *, create_key: bool) -> SecretStore:
    from core.secrets import load_master_key
    from core.store.secrets import open_secret_store

    env_key = settings.master_key.get_secret_value() if settings.master_key else None
    try:
        key = load_master_key(env_key, settings.data_dir, create=create_key)
        return open_secret_store(settings.effective_database_url, key, settings.data_dir)
    except DockhandError as exc:
        fail(str(exc))


@secrets_app.command("set")
def set_secret(
    name: Annotated[SecretName, typer.Argument(help="Which credential.")],
    from_file: Annotated[Path | None, typer.Option("--from-file", help="Read the value from this file.")] = None,
) -> None:
    """Store a credential (the value is read from --from-file, standard input, or a hidden prompt)."""
    if from_file is not None:
        value = from_file.read_text()
    elif not sys.stdin.isatty():
        value = sys.stdin.read()
    else:
        value = getpass.getpass(f"{name.value}: ")
    value = value.strip("\n") if name is not SecretName.GITHUB_APP_PRIVATE_KEY else value
    if not value.strip():
        fail("the value is empty")
    store = _store(_settings(), create_key=True)
    try:
        store.set(name, value)
    except DockhandError as exc:
        fail(str(exc))
    typer.echo(f"stored {name.value} (sealed with master key {store.key.id if store.key else '?'})")


@secrets_app.command("list")
def list_secrets(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What is stored: names, the key that sealed each, when — never the values."""
    store = _store(_settings(), create_key=False)
    rows = store.list()
    if as_json:
        print_json({"secrets": [{"name": n, "key_id": k, "updated_at": t.isoformat()} for n, k, t in rows]})
        return
    if not rows:
        typer.echo("no stored secrets")
        return
    print_table(("NAME", "MASTER KEY", "UPDATED"), ((n, k, f"{t:%Y-%m-%d %H:%M}") for n, k, t in rows))


@secrets_app.command("delete")
def delete_secret(name: Annotated[SecretName, typer.Argument(help="Which credential.")]) -> None:
    """Forget a stored credential."""
    try:
        _store(_settings(), create_key=False).delete(name)
    except DockhandError as exc:
        fail(str(exc))
    typer.echo(f"deleted {name.value}")


@secrets_app.command("rotate")
def rotate() -> None:
    """Re-seal every stored secret under a new master key; the old key can then be dropped.

    With the key file, the new key replaces it (the old one is kept beside it as master.key.<id>.retired
    until you delete it). With DOCKHAND_MASTER_KEY, set DOCKHAND_NEW_MASTER_KEY to the new key for this
    command, then make it DOCKHAND_MASTER_KEY.
    """
    import os

    from core.secrets import MasterKey, key_file, write_key_file

    settings = _settings()
    store = _store(settings, create_key=False)
    if store.key is None:
        fail("no master key: nothing is sealed yet")
    from_env = settings.master_key is not None
    try:
        new = (
            MasterKey.parse(os.environ["DOCKHAND_NEW_MASTER_KEY"], "DOCKHAND_NEW_MASTER_KEY")
            if from_env
            else MasterKey.generate()
        )
    except KeyError:
        fail("the master key comes from DOCKHAND_MASTER_KEY: give the new one in DOCKHAND_NEW_MASTER_KEY")
    except DockhandError as exc:
        fail(str(exc))
    old = store.key
    path = key_file(settings.data_dir)
    if not from_env:
        # Both keys are on disk before the database changes: a crash at any point loses nothing.
        write_key_file(path.with_name(f"{path.name}.{old.id}.retired"), old)
        write_key_file(path.with_name(f"{path.name}.{new.id}.pending"), new)
    count = store.rotate(new)
    if not from_env:
        retired = path.with_name(f"{path.name}.{old.id}.retired")
        write_key_file(path, new)
        path.with_name(f"{path.name}.{new.id}.pending").unlink()
        typer.echo(f"re-sealed {count} secrets under key {new.id}; the old key is in {retired} — delete it")
    else:
        typer.echo(f"re-sealed {count} secrets under key {new.id}; now set DOCKHAND_MASTER_KEY to the new key")
