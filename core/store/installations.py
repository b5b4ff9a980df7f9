"""The GitHub App installations dockhand has been told of, and which repositories each covers."""

from __future__ import annotations

from collections.abc import Iterable

from sqlmodel import col, select

from core.models import Installation, utcnow
from core.store.database import Database


class Installations:
    def __init__(self, db: Database) -> None:
        self.db = db

    def update(
        self,
        installation_id: int,
        *,
        account: str,
        active: bool,
        added: Iterable[str] = (),
        removed: Iterable[str] = (),
    ) -> None:
        """Record an installation's change: repositories added and removed, and whether it is still active."""
        with self.db.write() as session:
            row = session.get(Installation, installation_id) or Installation(id=installation_id, account=account)
            row.repositories = sorted((set(row.repositories or []) | set(added)) - set(removed))
            row.active = active
            row.updated_at = utcnow()
            session.add(row)

    def covering(self, repository: str) -> int | None:
        """The active installation that covers a repository."""
        with self.db.read() as session:
            for row in session.exec(select(Installation).where(col(Installation.active).is_(True))).all():
                if repository in (row.repositories or []):
                    return row.id
        return None
