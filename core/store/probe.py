"""Looking at a database from outside a running service (the doctor, the TUI's start, `dockhand db`): is it
there, can it be reached, which migration is it at. Looking never creates a SQLite file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from core.models import Installation
from core.store.schema_version import stored_revisions

CONNECT_TIMEOUT_SECONDS = 5


@dataclass(frozen=True, kw_only=True)
class DatabaseProbe:
    shown: str  # the URL with its password hidden
    missing_file: str | None = None  # a SQLite file that does not exist (nothing else was tried)
    error: str | None = None  # why it could not be reached: the driver's exception, named and shortened
    revision: str | None = None  # the migration it is at, when reached

    @property
    def reachable(self) -> bool:
        return self.missing_file is None and self.error is None


def probe_database(url: str) -> DatabaseProbe:
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:" and not Path(path).exists():
            return DatabaseProbe(shown=shown, missing_file=path)
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS} if parsed.get_backend_name() == "postgresql" else {}
    engine = sa.create_engine(parsed, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return DatabaseProbe(shown=shown, revision=", ".join(sorted(stored_revisions(engine))) or None)
    except sa.exc.SQLAlchemyError as exc:
        detail = " ".join(str(exc).split())[:300]
        return DatabaseProbe(shown=shown, error=f"{exc.__class__.__name__}: {detail}")
    finally:
        engine.dispose()


def active_installations(url: str) -> list[int]:
    """The GitHub App installations the store knows to be active (none when it cannot be read)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.execute(select(Installation.id).where(col(Installation.active).is_(True)))
            return [int(installation_id) for (installation_id,) in found]
    except sa.exc.SQLAlchemyError:
        return []
    finally:
        engine.dispose()
