"""What the store remembers of each sandbox: its container, image, state and when it was last used (for the
idle reaper and the status counts). The engine stays the truth of what exists; these rows are the index."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, func, select

from core.models import Sandbox, utcnow
from core.states import SandboxState
from core.store.database import Database


class SandboxRecords:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, sandbox_id: str, *, container_id: str, image: str, state: SandboxState) -> None:
        """The sandbox is in use now (made, or started again)."""
        now = utcnow()
        with self.db.write() as session:
            row = session.get(Sandbox, sandbox_id) or Sandbox(id=sandbox_id, created_at=now)
            row.container_id, row.image, row.state, row.last_used_at = container_id, image, state, now
            session.add(row)

    def touch(self, sandbox_id: str) -> None:
        with self.db.write() as session:
            row = session.get(Sandbox, sandbox_id)
            if row is not None:
                row.last_used_at = utcnow()

    def forget(self, sandbox_id: str) -> None:
        with self.db.write() as session:
            row = session.get(Sandbox, sandbox_id)
            if row is not None:
                session.delete(row)

    def get(self, sandbox_id: str) -> Sandbox | None:
        with self.db.read() as session:
            return session.get(Sandbox, sandbox_id)

    def all(self) -> list[Sandbox]:
        with self.db.read() as session:
            return list(session.exec(select(Sandbox).order_by(col(Sandbox.id))).all())

    def unused_since(self, cutoff: datetime) -> list[str]:
        with self.db.read() as session:
            return list(session.exec(select(Sandbox.id).where(col(Sandbox.last_used_at) < cutoff)).all())

    def live_count(self) -> int:
        """Sandboxes being made or running."""
        with self.db.read() as session:
            return int(
                session.exec(
                    select(func.count()).where(col(Sandbox.state).in_((SandboxState.RUNNING, SandboxState.CREATING)))
                ).one()
            )
