"""The admin API's bearer token: from DOCKHAND_API_TOKEN, or generated once into the data directory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from core.settings import Settings

TOKEN_FILE = "api-token"


def token_path(settings: Settings) -> Path:
    return settings.data_dir / TOKEN_FILE


def resolve_api_token(settings: Settings, *, create: bool = True) -> str | None:
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    path = token_path(settings)
    if path.exists():
        return path.read_text().strip() or None
    if not create:
        return None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # O_EXCL: if two processes start together, one writes and the other reads what it wrote.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip() or None
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token
