"""Before the TUI opens: is there a database to show?"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.settings import Settings


def check_database(settings: Settings) -> str | None:
    """Why the store cannot be shown, or None when it can."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if path and path != ":memory:" and not Path(path).exists():
            return (
                f"no dockhand database at {path}: start `dockhand serve` (or run `dockhand db upgrade`) first, "
                "or point DOCKHAND_DATABASE_URL / DOCKHAND_DATA_DIR at the service's"
            )
        return None
    engine = sa.create_engine(settings.effective_database_url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return f"cannot reach the database {url.render_as_string()}: {exc.__class__.__name__}: {str(exc)[:300]}"
    finally:
        engine.dispose()
    return None
