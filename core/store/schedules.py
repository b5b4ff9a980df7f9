"""Scheduled pipelines: named cron entries that submit a task when they fire."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, select

from core.errors import NotFoundError, ValidationError
from core.models import Schedule
from core.scheduler import parse_cron
from core.specs import TaskSubmission
from core.states import TriggerSource
from core.store.database import Database


class ScheduleBook:
    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, name: str, cron: str, submission: TaskSubmission) -> Schedule:
        parse_cron(cron)
        submission.validated_spec()
        row = Schedule(
            name=name,
            cron=cron,
            type=submission.type,
            priority=submission.priority,
            repository=submission.repository,
            payload=submission.payload,
        )
        try:
            with self.db.write() as session:
                session.add(row)
        except sa.exc.IntegrityError:
            raise ValidationError(f"a schedule named {name!r} already exists") from None
        return row

    def remove(self, name: str) -> None:
        with self.db.write() as session:
            row = session.exec(select(Schedule).where(Schedule.name == name)).first()
            if row is None:
                raise NotFoundError(f"no schedule {name!r}")
            session.delete(row)

    def list(self, *, enabled_only: bool = False) -> list[Schedule]:
        query = select(Schedule).order_by(col(Schedule.name))
        if enabled_only:
            query = query.where(col(Schedule.enabled).is_(True))
        with self.db.read() as session:
            return list(session.exec(query).all())


def submission_for(schedule: Schedule, fire_time: datetime) -> TaskSubmission:
    """The task a schedule submits at `fire_time`; the dedup key makes each firing run once across processes."""
    return TaskSubmission(
        type=schedule.type,
        priority=schedule.priority,
        repository=schedule.repository,
        payload=schedule.payload,
        trigger_source=TriggerSource.SCHEDULE,
        triggered_by=f"schedule:{schedule.name}",
        dedup_key=f"schedule:{schedule.name}:{fire_time:%Y%m%dT%H%M}",
    )
