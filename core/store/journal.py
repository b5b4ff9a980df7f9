"""The journal: every state change is written together with its task events, which are published after commit."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session, col, select

from core.events import EventBus, TaskEventRecord
from core.models import TaskEvent
from core.states import EventKind, TaskStatus
from core.store.database import Database


class JournalTransaction:
    """A write transaction that can also record task events."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: list[TaskEvent] = []

    def emit(
        self,
        task_id: str,
        kind: EventKind,
        *,
        status: TaskStatus | None = None,
        stage: str | None = None,
        message: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> None:
        row = TaskEvent(task_id=task_id, kind=kind, status=status, stage=stage, message=message, data=dict(data or {}))
        self.session.add(row)
        self._rows.append(row)

    def records(self) -> list[TaskEventRecord]:
        self.session.flush()
        return [TaskEventRecord.from_row(row) for row in self._rows]


class Journal:
    """Writes state changes together with their events, and publishes the events after commit."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db = db
        self.bus = bus

    @contextmanager
    def transaction(self) -> Iterator[JournalTransaction]:
        with self.db.write() as session:
            txn = JournalTransaction(session)
            yield txn
            records = txn.records()
        self.bus.publish(records)

    def note(self, task_id: str, kind: EventKind, message: str, data: Mapping[str, Any]) -> None:
        """An event about a task that changes nothing of it (e.g. CI failed on the pull request it opened)."""
        with self.transaction() as txn:
            txn.emit(task_id, kind, message=message, data=data)

    def events(self, task_id: str, *, after_id: int = 0, limit: int = 1000) -> list[TaskEventRecord]:
        with self.db.read() as session:
            rows = session.exec(
                select(TaskEvent)
                .where(TaskEvent.task_id == task_id, col(TaskEvent.id) > after_id)
                .order_by(col(TaskEvent.id))
                .limit(limit)
            ).all()
            return [TaskEventRecord.from_row(row) for row in rows]
