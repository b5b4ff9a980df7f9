"""Processes on one database (each a `Core` with a store of its own, as separate processes have): new work wakes
an idle worker in another process at once, and exactly one process leads the periodic jobs, handing the lead on
when it goes. On SQLite (one machine) every process leads and workers poll."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType
from core.store.queue_types import TaskFilter
from tests.support.waiting import wait_for


def on_postgres(core: Core) -> None:
    if core.settings.effective_database_url.startswith("sqlite"):
        assert core.fleet.leads(), "on SQLite every process leads"
        pytest.skip("the fleet speaks across processes on PostgreSQL only")


def test_work_submitted_elsewhere_wakes_an_idle_worker_at_once(core_factory: Callable[..., Core]) -> None:
    """The worker polls once a minute: only the announcement can bring it to the task within seconds."""
    worker = core_factory(poll_interval_seconds=60.0)
    on_postgres(worker)
    service = core_factory()
    worker.start(workers=1, scheduler=False)
    time.sleep(0.5)  # the worker has looked once and sleeps; its listener is connected
    began = time.monotonic()
    task_id = service.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task.id
    wait_for(lambda: worker.task(task_id).status is TaskStatus.SUCCEEDED, timeout=20.0, what="the task")
    assert time.monotonic() - began < 20.0


def test_one_process_leads_and_another_takes_over_when_it_goes(core_factory: Callable[..., Core]) -> None:
    first, second, third = core_factory(), core_factory(), core_factory()
    on_postgres(first)
    assert [first.fleet.leads(), second.fleet.leads(), third.fleet.leads()] == [True, False, False]
    assert first.fleet.leads() and not second.fleet.leads()  # asking again changes nothing
    first.stop()  # its connection closes: the lead is free
    assert [second.fleet.leads(), third.fleet.leads()] == [True, False]


def test_a_cron_tick_is_fired_by_the_leading_process_only(core_factory: Callable[..., Core]) -> None:
    leader, other = core_factory(), core_factory()
    on_postgres(leader)
    submission = TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})
    leader.schedules.add("nightly", "0 3 * * *", submission)
    assert leader.fleet.leads() and not other.fleet.leads()
    tick = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    other._schedule_firer("nightly")(tick)
    assert leader.tasks(TaskFilter()) == [], "a process that does not lead fires nothing"
    leader._schedule_firer("nightly")(tick)
    (fired,) = leader.tasks(TaskFilter())
    assert fired.type is TaskType.CUSTOM


def test_every_worker_process_is_on_the_roster_while_it_runs(core_factory: Callable[..., Core]) -> None:
    """`/status` (and the TUI) list the worker processes of every machine on the database; `run_now` is none."""
    from core.views import status_view

    worker, service = core_factory(), core_factory()
    service.run_now(service.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "true"})).task.id)
    assert service.status().fleet == []
    worker.start(workers=2, scheduler=False)
    (seen,) = wait_for(lambda: service.status().fleet, what="the worker on the roster")
    assert (seen.threads, seen.host) == (2, worker.pool.process_id.split(":")[0] if worker.pool else "")
    shown = status_view(service.status())["fleet"]
    assert [(w["host"], w["threads"], w["running"]) for w in shown] == [(seen.host, 2, 0)]
    worker.stop()
    assert service.status().fleet == []


def test_who_leads_can_be_seen_from_any_process(core_factory: Callable[..., Core]) -> None:
    first, second = core_factory(), core_factory()
    on_postgres(first)
    assert second.fleet.leader() is None
    assert first.fleet.leads()
    from core.process_identity import process_identity

    assert second.fleet.leader() == process_identity()[:54]  # one process here: the name says which


def test_someone_elses_advisory_lock_is_not_taken_for_the_leader_and_a_closed_fleet_never_leads(
    core_factory: Callable[..., Core],
) -> None:
    import sqlalchemy as sa

    from core.store.fleet import _LEADER_LOCK_KEY
    from tests.support.store import database

    core = core_factory()
    on_postgres(core)
    with database(core).engine.connect() as other:  # another program's two-key lock with the same low word
        other.execute(sa.text("SELECT pg_advisory_lock(7, :key)"), {"key": _LEADER_LOCK_KEY})
        assert core.fleet.leader() is None
        core.fleet.close()
        assert not core.fleet.leads(), "a fleet that was closed does not take the lead again"
        other.execute(sa.text("SELECT pg_advisory_unlock_all()"))
