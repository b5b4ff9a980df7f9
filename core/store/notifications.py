"""Where a task's progress is shown outside dockhand (a GitHub comment, a check run, a Slack message),
so that any process can edit the same thing in place instead of posting another."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select

from core.models import Notification
from core.store.database import Database


class NotificationBook:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, task_id: str, channel: str) -> str | None:
        """The external id of what was posted for a task on a channel, if anything was."""
        with self.db.read() as session:
            row = session.exec(
                select(Notification).where(Notification.task_id == task_id, Notification.channel == channel)
            ).first()
        return row.external_id if row is not None else None

    def task_of(self, channel: str, external_id: str) -> str | None:
        """The task whose message this is (a Slack thread's parent, a GitHub comment)."""
        with self.db.read() as session:
            row = session.exec(
                select(Notification).where(Notification.channel == channel, Notification.external_id == external_id)
            ).first()
            return row.task_id if row is not None else None

    def remember(self, task_id: str, channel: str, external_id: str) -> bool:
        """Store it; False when another process stored one first (then use theirs)."""
        try:
            with self.db.write() as session:
                session.add(Notification(task_id=task_id, channel=channel, external_id=external_id))
        except sa.exc.IntegrityError:
            return False
        return True
