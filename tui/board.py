"""What the TUI shows, read from the store without Textual: task rows, header counts, a task's detail.

Reads are incremental (`core/store/board.py`): after the first page, only tasks whose `updated_at` moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from core.models import Task, utcnow
from core.service import Core
from core.states import TaskStatus, TaskType
from core.store.board import TaskSearch

PAGE = 1000
OVERLAP = timedelta(seconds=3)
CHANGES_PAGE = 5000


@dataclass(frozen=True, kw_only=True)
class TaskRow:
    id: str
    type: TaskType
    repository: str
    trigger: str
    trigger_ref: str
    status: TaskStatus
    stage: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime

    def duration(self, now: datetime) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or now) - self.started_at).total_seconds()


@dataclass(frozen=True, kw_only=True)
class Counts:
    running: int
    queued: int
    awaiting_approval: int
    failed_24h: int
    sandboxes: int


@dataclass(frozen=True, kw_only=True)
class Filter(TaskSearch):
    def matches(self, row: TaskRow) -> bool:
        if self.statuses and row.status not in self.statuses:
            return False
        if self.types and row.type not in self.types:
            return False
        if self.repository and self.repository.lower() not in row.repository.lower():
            return False
        text = self.search.lower()
        # The same fields, compared the same way, as the store's query (`BoardQueries.first_page`).
        return not text or any(text in field.lower() for field in (row.id, row.trigger_ref, row.repository))


@dataclass(kw_only=True)
class Board:
    """The rows on screen and where the next poll starts."""

    rows: dict[str, TaskRow] = field(default_factory=dict)
    seen_until: datetime | None = None


class TaskBoard:
    def __init__(self, core: Core) -> None:
        self.core = core

    def load(self, flt: Filter, limit: int = PAGE) -> Board:
        """The newest tasks that match (the first page)."""
        page = self.core.board.first_page(flt, limit)
        rows = self._rows(page.tasks)
        return Board(rows={t.id: row for t, row in zip(page.tasks, rows, strict=True)}, seen_until=page.newest_change)

    def changes(self, board: Board, flt: Filter) -> list[TaskRow]:
        """Tasks that changed since the last poll (new ones included), matching or not: the caller places them.

        The window reaches back OVERLAP before the newest change seen: `updated_at` is stamped before its
        transaction commits (and by other hosts' clocks), so a change can land "in the past". Rows seen
        again are harmless: the caller skips what did not change."""
        since = board.seen_until
        tasks = self.core.board.changed_since(since - OVERLAP if since is not None else None, CHANGES_PAGE)
        if tasks:
            board.seen_until = max([t.updated_at for t in tasks] + ([since] if since else []))
        # Stage changes do not touch the task row: refresh the stage of what is running on screen.
        live = [r.id for r in board.rows.values() if r.status in (TaskStatus.RUNNING, TaskStatus.AWAITING_APPROVAL)]
        changed = self._rows(tasks)
        fetched = {t.id for t in tasks}
        stages = self._stages([i for i in live if i not in fetched])
        for task_id, stage in stages.items():
            row = board.rows[task_id]
            if row.stage != stage:
                changed.append(replace(row, stage=stage))
        return changed

    def counts(self, now: datetime | None = None) -> Counts:
        now = now or utcnow()
        by_status = self.core.queue.counts_by_status()
        failed = self.core.board.failed_since(now - timedelta(hours=24))
        sandboxes = self.core.sandbox_records.live_count()
        return Counts(
            running=by_status[TaskStatus.RUNNING],
            queued=by_status[TaskStatus.PENDING],
            awaiting_approval=by_status[TaskStatus.AWAITING_APPROVAL],
            failed_24h=failed,
            sandboxes=sandboxes,
        )

    # --- internals ------------------------------------------------------------------------------
    def _rows(self, tasks: Sequence[Task]) -> list[TaskRow]:
        stages = self._stages([t.id for t in tasks if t.status in (TaskStatus.RUNNING, TaskStatus.AWAITING_APPROVAL)])
        return [
            TaskRow(
                id=t.id,
                type=t.type,
                repository=t.repository or "",
                trigger=f"{t.trigger_source.value}:{t.triggered_by}" if t.triggered_by else t.trigger_source.value,
                trigger_ref=t.trigger_ref or "",
                status=t.status,
                stage=stages.get(t.id, ""),
                created_at=t.created_at,
                started_at=t.started_at,
                finished_at=t.finished_at,
                updated_at=t.updated_at,
            )
            for t in tasks
        ]

    def _stages(self, task_ids: list[str]) -> dict[str, str]:
        return self.core.board.live_stages(task_ids)
