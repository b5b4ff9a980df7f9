"""Credentials at rest: AES-256-GCM in the database, under a master key kept outside it.

Each value gets a fresh random 96-bit nonce; its name is bound as associated data (a ciphertext moved
to another row does not decrypt); the id of the key that sealed it is stored beside it, so keys can be
rotated (every value re-sealed under a new key, after which the old key can be dropped).

The master key is 32 random bytes, base64: `DOCKHAND_MASTER_KEY`, or the key file
`$DOCKHAND_DATA_DIR/master.key` (created with mode 0600 on first use). A malformed key, or stored
secrets without the key that sealed them, stop start-up with a message that says which.
Environment variables keep working and win over stored values.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets as random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlmodel import col, select

from core.db import Database
from core.errors import NotFoundError, SettingsError
from core.models import StoredSecret, utcnow
from core.states import SecretName

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_FILE = "master.key"


class SecretError(SettingsError):
    """A stored secret that cannot be opened: start-up stops and says which and why."""


@dataclass(frozen=True)
class MasterKey:
    key: bytes

    @property
    def id(self) -> str:
        return hashlib.sha256(b"dockhand-master-key:" + self.key).hexdigest()[:16]

    @classmethod
    def parse(cls, text: str, where: str) -> MasterKey:
        try:
            key = base64.b64decode(text.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SettingsError(f"{where}: the master key is not base64") from None
        if len(key) != KEY_BYTES:
            raise SettingsError(f"{where}: the master key must be {KEY_BYTES} bytes (base64 of 32 random bytes)")
        return cls(key)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(random.token_bytes(KEY_BYTES))

    def encoded(self) -> str:
        return base64.b64encode(self.key).decode()


def _aad(name: str) -> bytes:
    return f"dockhand-secret:v1:{name}".encode()


def seal(key: MasterKey, name: str, value: str) -> tuple[bytes, bytes]:
    nonce = os.urandom(NONCE_BYTES)
    return nonce, AESGCM(key.key).encrypt(nonce, value.encode(), _aad(name))


def unseal(key: MasterKey, name: str, nonce: bytes, ciphertext: bytes) -> str:
    try:
        return AESGCM(key.key).decrypt(nonce, ciphertext, _aad(name)).decode()
    except InvalidTag:
        raise SecretError(
            f"secret {name!r} does not decrypt: it was tampered with, moved from another entry, "
            "or sealed with another key"
        ) from None


def key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def load_master_key(env_value: str | None, data_dir: Path, *, create: bool) -> MasterKey | None:
    """DOCKHAND_MASTER_KEY, else the key file (made, mode 0600, when `create`)."""
    if env_value:
        return MasterKey.parse(env_value, "DOCKHAND_MASTER_KEY")
    path = key_file(data_dir)
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise SettingsError(f"{path}: the master key file must be readable by its owner only (chmod 600)")
        return MasterKey.parse(path.read_text(), str(path))
    if not create:
        return None
    key = MasterKey.generate()
    if not write_key_file(path, key, replace=False):  # another process made the key first: use theirs
        return MasterKey.parse(path.read_text(), str(path))
    return key


def write_key_file(path: Path, key: MasterKey, *, replace: bool = True) -> bool:
    """Write a key file (0600 from the start, synced to disk with its folder); with `replace=False`, only
    if there is none yet — False when another process made one first (then use that one)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.encoded() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)  # fails if the file exists: never overwrites a key in use
    except FileExistsError:
        return False
    finally:
        temporary.unlink(missing_ok=True)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return True


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


def stored_secrets(database_url: str, data_dir: Path, env_key: str | None) -> dict[SecretName, str]:
    """The secrets stored in the database at `database_url` (none when there is no database or table yet)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

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
