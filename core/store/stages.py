"""Persistence of pipeline stages: one row per stage per attempt, with status, timings and error."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import col, select, update

from core.models import Task, TaskStage, utcnow
from core.states import EventKind, StageStatus, TaskStatus
from core.store.journal import Journal


class StageRecorder:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def plan(self, task_id: str, attempt: int, names: Sequence[str]) -> None:
        with self.journal.transaction() as txn:
            txn.session.add_all(
                TaskStage(task_id=task_id, attempt=attempt, position=i, name=name) for i, name in enumerate(names)
            )

    def start(self, task_id: str, attempt: int, position: int) -> None:
        with self.journal.transaction() as txn:
            stage = self._get(txn.session, task_id, attempt, position)
            stage.status = StageStatus.RUNNING
            stage.started_at = utcnow()
            txn.emit(
                task_id,
                EventKind.STAGE_STARTED,
                status=TaskStatus.RUNNING,
                stage=stage.name,
                message=f"{stage.name} started",
            )

    def finish(self, task_id: str, attempt: int, position: int, status: StageStatus, error: str | None = None) -> None:
        with self.journal.transaction() as txn:
            stage = self._get(txn.session, task_id, attempt, position)
            now = utcnow()
            stage.status = status
            stage.finished_at = now
            stage.error = error
            if stage.started_at is not None:
                stage.duration_seconds = round((now - stage.started_at).total_seconds(), 6)
            txn.emit(
                task_id,
                EventKind.STAGE_FINISHED,
                status=TaskStatus.RUNNING,
                stage=stage.name,
                message=f"{stage.name} {status.value}" + (f": {error}" if error else ""),
                data={"stage_status": status.value, "duration_seconds": stage.duration_seconds},
            )

    def carry_over(self, task_id: str, attempt: int, through_position: int) -> None:
        """A resumed attempt: the stages up to the approved gate keep the outcome of the attempt that ran them."""
        with self.journal.transaction() as txn:
            earlier = {
                row.position: row
                for row in txn.session.exec(
                    select(TaskStage)
                    .where(
                        TaskStage.task_id == task_id,
                        TaskStage.attempt < attempt,
                        col(TaskStage.position) <= through_position,
                        col(TaskStage.status).in_((StageStatus.SUCCEEDED, StageStatus.WAITING)),
                    )
                    .order_by(col(TaskStage.attempt))
                ).all()
            }
            for position in range(through_position + 1):
                stage = self._get(txn.session, task_id, attempt, position)
                before = earlier.get(position)
                stage.status = StageStatus.SUCCEEDED
                if before is not None:
                    stage.started_at, stage.duration_seconds = before.started_at, before.duration_seconds
                    stage.finished_at = utcnow() if before.status is StageStatus.WAITING else before.finished_at
                txn.session.add(stage)

    def progress(self, task_id: str, message: str, data: dict[str, Any]) -> None:
        with self.journal.transaction() as txn:
            txn.emit(task_id, EventKind.PROGRESS, status=TaskStatus.RUNNING, message=message, data=data)

    def skip_rest(self, task_id: str, attempt: int, after_position: int) -> None:
        with self.journal.transaction() as txn:
            txn.session.execute(
                update(TaskStage)
                .where(
                    col(TaskStage.task_id) == task_id,
                    col(TaskStage.attempt) == attempt,
                    col(TaskStage.position) > after_position,
                    col(TaskStage.status) == StageStatus.PENDING,
                )
                .values(status=StageStatus.SKIPPED)
            )

    def list(self, task_id: str, attempt: int | None = None) -> list[TaskStage]:
        """Stages of one attempt (default: the task's latest)."""
        with self.journal.db.read() as session:
            if attempt is None:
                attempt = session.exec(select(Task.attempt).where(Task.id == task_id)).first() or 0
            return list(
                session.exec(
                    select(TaskStage)
                    .where(TaskStage.task_id == task_id, TaskStage.attempt == attempt)
                    .order_by(col(TaskStage.position))
                ).all()
            )

    @staticmethod
    def _get(session, task_id: str, attempt: int, position: int) -> TaskStage:  # type: ignore[no-untyped-def]
        stage = session.exec(
            select(TaskStage).where(
                TaskStage.task_id == task_id, TaskStage.attempt == attempt, TaskStage.position == position
            )
        ).one()
        return stage
