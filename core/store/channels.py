"""The repository each chat channel works on by default (`/agent channel-repo acme/calc`)."""

from __future__ import annotations

from core.models import ChannelRepository, utcnow
from core.store.database import Database


class ChannelRepositories:
    def __init__(self, db: Database) -> None:
        self.db = db

    def set(self, channel: str, repository: str, *, by: str) -> None:
        with self.db.write() as session:
            row = session.get(ChannelRepository, channel) or ChannelRepository(channel=channel, repository=repository)
            row.repository, row.set_by, row.updated_at = repository, by, utcnow()
            session.add(row)

    def clear(self, channel: str) -> bool:
        """Forget a channel's repository; whether it had one."""
        with self.db.write() as session:
            row = session.get(ChannelRepository, channel)
            if row is None:
                return False
            session.delete(row)
            return True

    def get(self, channel: str) -> str | None:
        with self.db.read() as session:
            row = session.get(ChannelRepository, channel)
            return row.repository if row is not None else None
