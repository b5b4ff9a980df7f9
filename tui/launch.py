"""Before the TUI opens: is there a database to show?"""

from __future__ import annotations

from core.settings import Settings
from core.store.probe import probe_database


def check_database(settings: Settings) -> str | None:
    """Why the store cannot be shown, or None when it can."""
    probe = probe_database(settings.effective_database_url)
    if probe.missing_file is not None:
        return (
            f"no dockhand database at {probe.missing_file}: start `dockhand serve` (or run `dockhand db upgrade`) "
            "first, or point DOCKHAND_DATABASE_URL / DOCKHAND_DATA_DIR at the service's"
        )
    if probe.error is not None:
        return f"cannot reach the database {probe.shown}: {probe.error}"
    return None
