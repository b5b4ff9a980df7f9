"""A core on the SQL store, for tests and benches, and the database under it (they read rows directly)."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

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


@contextmanager
def fresh_postgres_database(server: str, prefix: str = "dockhand_test") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server at `server` (its URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        _drop_database(admin, name)
        admin.dispose()


def _drop_database(admin: sa.Engine, name: str) -> None:
    """Best effort: a session PostgreSQL itself holds (autovacuum) can outlive the test for a moment."""
    for attempt in range(10):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except sa.exc.SQLAlchemyError as exc:
            if attempt == 9:
                warnings.warn(f"test database {name} was left behind: {exc}", stacklevel=2)
            time.sleep(0.3)
