"""The queries behind a live board of tasks (the TUI's): a filtered first page, then only what changed.

After the first page only tasks whose `updated_at` moved are fetched again (an index serves it), so a
history of tens of thousands of tasks costs one small query per poll.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, func, select

from core.models import Task, TaskStage
from core.states import StageStatus, TaskStatus, TaskType
from core.store.database import Database

_LIVE_STAGE = (StageStatus.RUNNING, StageStatus.WAITING)


@dataclass(frozen=True, kw_only=True)
class TaskSearch:
    """Which tasks a board shows: any of these states and types, a repository and a text (case-insensitive
    substrings; the text is looked for in the id, the trigger reference and the repository)."""

    statuses: tuple[TaskStatus, ...] = ()
    types: tuple[TaskType, ...] = ()
    repository: str = ""
    search: str = ""


@dataclass(frozen=True, kw_only=True)
class Page:
    tasks: list[Task]
    newest_change: datetime | None  # read before the page: nothing changed after it is missed


class BoardQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    def first_page(self, search: TaskSearch, limit: int) -> Page:
        """The newest tasks that match."""
        query = _filtered(select(Task), search).order_by(col(Task.created_at).desc(), col(Task.id)).limit(limit)
        with self.db.read() as session:
            newest = session.exec(select(func.max(Task.updated_at))).one()
            tasks = list(session.exec(query).all())
        return Page(tasks=tasks, newest_change=newest)

    def changed_since(self, since: datetime | None, limit: int) -> list[Task]:
        """Tasks whose row changed at or after `since` (all of them when None), oldest change first."""
        query = select(Task).order_by(col(Task.updated_at)).limit(limit)
        if since is not None:
            query = query.where(col(Task.updated_at) >= since)
        with self.db.read() as session:
            return list(session.exec(query).all())

    def failed_since(self, since: datetime) -> int:
        with self.db.read() as session:
            return int(
                session.exec(
                    select(func.count()).where(Task.status == TaskStatus.FAILED, col(Task.finished_at) >= since)
                ).one()
            )

    def live_stages(self, task_ids: Sequence[str]) -> dict[str, str]:
        """The stage each of these tasks is in now (running, or waiting at a gate)."""
        if not task_ids:
            return {}
        with self.db.read() as session:
            rows = session.exec(
                select(TaskStage.task_id, TaskStage.name, TaskStage.attempt)
                .where(col(TaskStage.task_id).in_(task_ids), col(TaskStage.status).in_(_LIVE_STAGE))
                .order_by(col(TaskStage.attempt))
            ).all()
        return {task_id: name for task_id, name, _ in rows}


def _filtered(query: Any, search: TaskSearch) -> Any:
    if search.statuses:
        query = query.where(col(Task.status).in_(search.statuses))
    if search.types:
        query = query.where(col(Task.type).in_(search.types))
    if search.repository:
        query = query.where(col(Task.repository).ilike(f"%{_like(search.repository)}%", escape="\\"))
    if search.search:
        text = f"%{_like(search.search)}%"
        query = query.where(
            col(Task.id).ilike(text, escape="\\")
            | col(Task.trigger_ref).ilike(text, escape="\\")
            | col(Task.repository).ilike(text, escape="\\")
        )
    return query


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
