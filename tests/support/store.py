"""A core on the SQL store, for tests and benches, and the database under it (they read rows directly)."""

from __future__ import annotations

from typing import Any

from core.service import Core
from core.settings import Settings
from core.store.database import Database
from core.store.sql import open_sql_store


def sql_core(settings: Settings, **kwargs: Any) -> Core:
    """`Core(settings, store, …)` on the store the settings name, wired as the entry points wire it."""
    return Core(settings, open_sql_store(settings), **kwargs)


def database(core: Core) -> Database:
    db = core.store.lifecycle
    assert isinstance(db, Database), f"not a SQL store: {db!r}"
    return db
