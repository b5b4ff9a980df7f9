"""Sealed secrets in the database: each row is opened with the master key that sealed it (`core/secrets.py`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from core.errors import NotFoundError, SettingsError
from core.models import StoredSecret, utcnow
from core.secrets import MasterKey, SecretError, key_file, load_master_key, seal, unseal, write_key_file
from core.states import SecretName
from core.store.database import Database


class SecretStore:
    def __init__(self, db: Database, key: MasterKey | None, data_dir: Path | None = None) -> None:
        self.db = db
        self.key = key
        self.data_dir = data_dir

    def set(self, name: SecretName, value: str) -> None:
        key = self._key()
        nonce, ciphertext = seal(key, name.value, value)
        with self.db.write() as session:
            others = session.exec(select(StoredSecret.key_id).where(StoredSecret.key_id != key.id)).first()
            if others is not None:  # a second master key would leave some secrets unreadable
                raise SecretError(
                    f"the stored secrets are sealed with master key {others}, not this one ({key.id}): "
                    "use that key (DOCKHAND_MASTER_KEY or its key file)"
                )
            row = session.get(StoredSecret, name.value)
            row = row or StoredSecret(name=name.value, key_id=key.id, nonce=nonce, ciphertext=ciphertext)
            row.key_id, row.nonce, row.ciphertext, row.updated_at = key.id, nonce, ciphertext, utcnow()
            session.add(row)

    def get(self, name: SecretName) -> str | None:
        with self.db.read() as session:
            row = session.get(StoredSecret, name.value)
        if row is None:
            return None
        return self._open(row)

    def delete(self, name: SecretName) -> None:
        with self.db.write() as session:
            row = session.get(StoredSecret, name.value)
            if row is None:
                raise NotFoundError(f"no stored secret {name.value}")
            session.delete(row)

    def list(self) -> list[tuple[str, str, datetime]]:
        """Names, key ids and times: never values."""
        with self.db.read() as session:
            rows = session.exec(select(StoredSecret).order_by(col(StoredSecret.name))).all()
        return [(r.name, r.key_id, r.updated_at) for r in rows]

    def all(self) -> dict[SecretName, str]:
        with self.db.read() as session:
            rows = list(session.exec(select(StoredSecret)).all())
        if rows and self.key is None:
            raise SettingsError(
                "secrets are stored in the database but no master key is available: set DOCKHAND_MASTER_KEY "
                "or restore the key file"
            )
        return {SecretName(r.name): self._open(r) for r in rows if r.name in SecretName._value2member_map_}

    def rotate(self, new: MasterKey) -> int:
        """Re-seal every value under `new` (in one transaction); how many."""
        old = self._key()
        with self.db.write() as session:
            rows = list(session.exec(select(StoredSecret)).all())
            for row in rows:
                value = self._open(row, old)
                row.nonce, row.ciphertext = seal(new, row.name, value)
                row.key_id, row.updated_at = new.id, utcnow()
                session.add(row)
        self.key = new
        return len(rows)

    def _open(self, row: StoredSecret, key: MasterKey | None = None) -> str:
        key = key or self._key()
        if row.key_id != key.id and key is self.key:
            key = self._pending(row.key_id) or key
        if row.key_id != key.id:
            raise SecretError(
                f"secret {row.name!r} was sealed with master key {row.key_id}, not the one given ({key.id})"
            )
        return unseal(key, row.name, row.nonce, row.ciphertext)

    def _pending(self, key_id: str) -> MasterKey | None:
        """The new key of a rotation that stopped after re-sealing: found beside the key file, and made current."""
        if self.data_dir is None:
            return None
        path = key_file(self.data_dir)
        pending = path.with_name(f"{path.name}.{key_id}.pending")
        if not pending.exists():
            return None
        found = MasterKey.parse(pending.read_text(), str(pending))
        if found.id != key_id:
            return None
        write_key_file(path, found)
        pending.unlink(missing_ok=True)
        self.key = found
        return found

    def _key(self) -> MasterKey:
        if self.key is None:
            raise SettingsError("no master key: set DOCKHAND_MASTER_KEY or run `dockhand secrets set` to create one")
        return self.key


def open_secret_store(database_url: str, key: MasterKey | None, data_dir: Path) -> SecretStore:
    """The sealed secrets at `database_url`, its schema brought to the newest migration first."""
    db = Database(database_url)
    db.migrate()
    return SecretStore(db, key, data_dir)


def stored_secrets(database_url: str, data_dir: Path, env_key: str | None) -> dict[SecretName, str]:
    """The secrets stored in the database at `database_url` (none when there is no database or table yet)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).exists()):
        return {}  # looking must not create an empty database file
    db = Database(database_url)  # one connection pool, for the look and the read
    try:
        try:
            if not sa.inspect(db.engine).has_table("secret"):
                return {}
        except sa.exc.SQLAlchemyError as exc:
            raise SettingsError(f"cannot read the stored secrets from {url.render_as_string()}: {exc}") from None
        store = SecretStore(db, load_master_key(env_key, data_dir, create=False), data_dir)
        return store.all()
    finally:
        db.dispose()
