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
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import SettingsError

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
