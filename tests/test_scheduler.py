"""APScheduler-driven work: delayed wake-ups, periodic sweeps, cron schedules."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import ValidationError
from core.models import utcnow
from core.scheduler import parse_cron
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType, TriggerSource
from core.store.queue_types import TaskFilter
from core.store.schedules import submission_for
from tests.support.waiting import wait_for


def test_a_delayed_task_runs_when_due_without_waiting_for_a_poll(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(poll_interval_seconds=30)  # idle workers would not look again for 30 s
    core.start(workers=1)
    time.sleep(0.2)  # let the worker go idle
    due = utcnow() + timedelta(seconds=1)
    task = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"}, run_after=due)).task
    wait_for(lambda: core.task(task.id).status is TaskStatus.SUCCEEDED, timeout=10, what="the delayed task")
    started = core.task(task.id).started_at
    assert started is not None and due <= started < due + timedelta(seconds=3)


def test_the_sweep_runs_periodically(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(lease_seconds=1, sweep_interval_seconds=0.3, max_takeovers=0)
    task = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task
    assert core.queue.claim("a-worker-that-dies") is not None
    core.start(workers=0)  # scheduler only
    wait_for(lambda: core.task(task.id).status is TaskStatus.FAILED, timeout=10, what="the sweep to fail the task")


def test_schedules_become_cron_jobs_and_fire_once_per_time(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory()
    sub = TaskSubmission(type=TaskType.CUSTOM, payload={"command": "echo nightly"})
    core.schedules.add("nightly", "0 3 * * *", sub)
    core.start(workers=0)
    assert "schedule:nightly" in core.scheduler.job_ids()

    fire_time = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
    [schedule] = core.schedules.list()
    first = core.submit(submission_for(schedule, fire_time))
    second = core_factory().submit(submission_for(schedule, fire_time))  # another process, same firing
    assert first.created and not second.created
    task = core.task(first.task.id)
    assert task.trigger_source is TriggerSource.SCHEDULE and task.triggered_by == "schedule:nightly"

    core.schedules.remove("nightly")
    core.sync_schedules()
    assert "schedule:nightly" not in core.scheduler.job_ids()
    assert len(core.tasks(TaskFilter())) == 1


def test_bad_cron_is_refused() -> None:
    with pytest.raises(ValidationError, match="cron"):
        parse_cron("61 * * * *")
