"""Periodic and delayed work on APScheduler: lease sweeps, retry wake-ups, clean-up hooks, cron pipelines.

APScheduler is imported when a scheduler is made or a cron expression read: the store and the core import
this module, and a one-shot command (`dockhand run test`, the TUI) runs no scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from core.errors import ValidationError

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)

_SCHEDULE_PREFIX = "schedule:"


def parse_cron(expression: str) -> CronTrigger:
    """A five-field crontab expression (minute hour day month weekday), in UTC."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(expression, timezone=UTC)
    except ValueError as exc:
        raise ValidationError(f"invalid cron expression {expression!r}: {exc}") from None


class Scheduler:
    def __init__(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def every(self, name: str, seconds: float, fn: Callable[[], object]) -> None:
        """Run `fn` every `seconds` (clean-ups, sweeps); a later call with the same name replaces it."""
        from apscheduler.triggers.interval import IntervalTrigger

        self._scheduler.add_job(fn, IntervalTrigger(seconds=seconds), id=name, name=name, replace_existing=True)

    def run_soon(self, name: str) -> None:
        """Bring an interval job's next run forward to now (new work arrived); unknown names are ignored."""
        job = self._scheduler.get_job(name)
        if job is not None and job.next_run_time is not None:
            job.modify(next_run_time=datetime.now(UTC))

    def at(self, when: datetime, fn: Callable[[], object], *, name: str | None = None) -> None:
        """Run `fn` once at `when` (e.g. wake the workers when a retry becomes due)."""
        from apscheduler.triggers.date import DateTrigger

        self._scheduler.add_job(
            fn,
            DateTrigger(run_date=when),
            id=name,
            name=name,
            replace_existing=name is not None,
            misfire_grace_time=None,
        )

    def set_cron_jobs(self, jobs: dict[str, tuple[str, Callable[[datetime], object]]]) -> None:
        """Make the cron jobs exactly `jobs` (name → (cron, fn(fire_time))), leaving other jobs alone."""
        wanted = {_SCHEDULE_PREFIX + name: spec for name, spec in jobs.items()}
        for job in self._scheduler.get_jobs():
            if job.id.startswith(_SCHEDULE_PREFIX) and job.id not in wanted:
                job.remove()
        for job_id, (cron, fn) in wanted.items():
            existing = self._scheduler.get_job(job_id)
            if existing is not None and existing.kwargs.get("cron") == cron:
                continue
            self._scheduler.add_job(
                _fire,
                parse_cron(cron),
                id=job_id,
                name=job_id,
                replace_existing=True,
                kwargs={"cron": cron, "fn": fn, "trigger_name": job_id},
            )

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]


def _fire(*, cron: str, fn: Callable[[datetime], object], trigger_name: str) -> None:
    # Round to the minute so every process computes the same fire time (and so the same dedup key).
    fire_time = datetime.now(UTC).replace(second=0, microsecond=0)
    log.info("%s (%s) fired at %s", trigger_name, cron, fire_time.isoformat())
    fn(fire_time)
