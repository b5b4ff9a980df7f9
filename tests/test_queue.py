"""Contract tests of the durable queue, run on every store backend."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from core.errors import InvalidTransitionError, NotFoundError, ValidationError
from core.models import TaskEvent, utcnow
from core.process_identity import ProcessLiveness, process_identity
from core.service import Core
from core.specs import TaskSubmission
from core.states import EventKind, TaskPriority, TaskStatus, TaskType
from core.store.queue_types import TaskFilter
from tests.support.store import database


def custom(command: str = "true", **fields: object) -> TaskSubmission:
    return TaskSubmission(type=TaskType.CUSTOM, payload={"command": command}, **fields)  # type: ignore[arg-type]


def test_claims_follow_priority_then_age(core: Core) -> None:
    low = core.submit(custom(priority=TaskPriority.LOW)).task
    medium = core.submit(custom()).task
    urgent = core.submit(custom(priority=TaskPriority.URGENT)).task
    medium2 = core.submit(custom()).task
    order = [core.queue.claim("w").task.id for _ in range(4)]  # type: ignore[union-attr]
    assert order == [urgent.id, medium.id, medium2.id, low.id]
    assert core.queue.claim("w") is None


def test_a_task_is_not_claimed_before_its_run_after(core: Core) -> None:
    later = core.submit(custom(run_after=utcnow() + timedelta(seconds=30))).task
    assert core.queue.claim("w") is None
    assert core.task(later.id).status is TaskStatus.PENDING


def test_per_repository_limit_holds(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(per_repo_limit=2)
    for _ in range(3):
        core.submit(custom(repository="acme/api"))
    other = core.submit(custom(repository="acme/web")).task
    first, second = core.queue.claim("w"), core.queue.claim("w")
    assert first and second and {first.task.repository, second.task.repository} == {"acme/api"}
    third = core.queue.claim("w")
    assert third is not None and third.task.id == other.id, "the third acme/api task must wait"
    assert core.queue.claim("w") is None
    core.queue.finish(first, TaskStatus.SUCCEEDED)
    fourth = core.queue.claim("w")
    assert fourth is not None and fourth.task.repository == "acme/api"


def test_dedup_key_returns_the_existing_task(core: Core) -> None:
    a = core.submit(custom(dedup_key="delivery-1"))
    b = core.submit(custom("echo other", dedup_key="delivery-1"))
    assert a.created and not b.created and a.task.id == b.task.id


def test_a_second_request_for_an_issue_being_resolved_returns_the_live_task(core: Core) -> None:
    def resolve(number: int, dedup: str) -> TaskSubmission:
        return TaskSubmission(
            type=TaskType.ISSUE_RESOLUTION, repository="acme/api", payload={"issue_number": number}, dedup_key=dedup
        )

    first = core.queue.submit(resolve(12, "mention-1"))
    again = core.queue.submit(resolve(12, "mention-2"))  # another person, another delivery: the same work
    assert first.created and not again.created and again.already_live and again.task.id == first.task.id
    other = core.queue.submit(resolve(13, "mention-3"))
    assert other.created and not other.already_live
    core.cancel(first.task.id, by="test")  # once the first is over, the issue can be tried again
    retry = core.queue.submit(resolve(12, "mention-4"))
    assert retry.created and retry.task.id != first.task.id
    redelivered = core.queue.submit(resolve(12, "mention-4"))  # the same delivery again: a plain duplicate
    assert not redelivered.created and not redelivered.already_live


def test_invalid_submissions_are_refused_with_the_reason(core: Core) -> None:
    with pytest.raises(ValidationError, match="command"):
        core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={}))
    with pytest.raises(ValidationError, match="repository"):
        core.queue.submit(TaskSubmission(type=TaskType.ISSUE_RESOLUTION, payload={"issue_number": 3}))


def test_cancel_pending_is_immediate_and_final(core: Core) -> None:
    task = core.submit(custom()).task
    assert core.cancel(task.id).status is TaskStatus.CANCELLED
    assert core.queue.claim("w") is None
    with pytest.raises(InvalidTransitionError):
        core.cancel(task.id)
    with pytest.raises(NotFoundError):
        core.cancel("nosuchtask")


def test_cancel_running_is_seen_on_heartbeat(core: Core) -> None:
    task = core.submit(custom()).task
    claim = core.queue.claim("w")
    assert claim is not None
    assert core.cancel(task.id).status is TaskStatus.RUNNING
    reply = core.queue.heartbeat({task.id: claim.token})
    assert reply.cancel_requested == {task.id} and not reply.lost


def test_heartbeat_extends_the_lease(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(lease_seconds=5)
    task = core.submit(custom()).task
    claim = core.queue.claim("w")
    assert claim is not None
    before = core.task(task.id).lease_expires_at
    time.sleep(0.05)
    core.queue.heartbeat({task.id: claim.token})
    after = core.task(task.id).lease_expires_at
    assert before is not None and after is not None and after > before


def test_an_expired_lease_is_taken_over_at_once_without_charging_a_retry(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(lease_seconds=1, retry_backoff_seconds=30, max_retries=0)
    task = core.submit(custom()).task
    first = core.queue.claim("dead-worker")
    assert first is not None
    assert core.queue.sweep_expired() == [], "the lease still stands"
    time.sleep(1.1)
    [decision] = core.queue.sweep_expired()
    assert decision.status is TaskStatus.PENDING and decision.run_after is not None
    taken = core.task(task.id)
    assert taken.retry_count == 0 and taken.status is TaskStatus.PENDING, "a dead worker is not the task's failure"
    assert taken.run_after <= utcnow(), "no retry backoff"
    [event] = [e for e in core.journal.events(task.id) if e.kind is EventKind.TAKEN_OVER]
    assert "lease expired: worker dead-worker" in event.message and event.data["takeover"] == 1

    # The dead worker's token no longer works once the task moved on.
    assert not core.queue.finish(first, TaskStatus.SUCCEEDED)
    assert core.queue.heartbeat({task.id: first.token}).lost == {task.id}
    second = core.queue.claim("w2")
    assert second is not None and second.task.attempt == 2
    assert core.queue.finish(second, TaskStatus.SUCCEEDED)
    assert core.task(task.id).status is TaskStatus.SUCCEEDED


def test_a_task_whose_worker_keeps_dying_fails_after_its_takeovers(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(lease_seconds=1, max_retries=5, max_takeovers=2)
    task = core.submit(custom()).task
    for attempt in (1, 2, 3):
        claim = core.queue.claim(f"doomed-{attempt}")
        assert claim is not None and claim.task.attempt == attempt
        time.sleep(1.05)
        [decision] = core.queue.sweep_expired()
        assert decision.status is (TaskStatus.PENDING if attempt < 3 else TaskStatus.FAILED)
    final = core.task(task.id)
    assert final.status is TaskStatus.FAILED and final.retry_count == 0
    assert "died on each of its last 3 attempts" in (final.error or "")
    assert "DOCKHAND_MAX_TAKEOVERS=2" in (final.error or "")
    kinds = [e.kind for e in core.journal.events(task.id)]
    assert kinds.count(EventKind.TAKEN_OVER) == 2 and kinds[-1] is EventKind.FINISHED


def test_a_lease_renewed_after_the_sweep_looked_stays_with_its_worker(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(lease_seconds=1)
    task = core.submit(custom()).task
    claim = core.queue.claim("slow-worker")
    assert claim is not None
    time.sleep(1.1)
    assert core.queue.heartbeat({task.id: claim.token}).lost == frozenset(), "late, but nobody took it yet"
    assert core.queue.sweep_expired() == []
    assert core.task(task.id).status is TaskStatus.RUNNING


def test_a_worker_known_dead_is_recovered_before_its_lease_expires(core: Core) -> None:
    liveness = core.liveness
    here = process_identity()
    # A process that held its lock and then died (as after kill -9): the kernel dropped its lock.
    held_then_died = subprocess.run(
        [sys.executable, "-c", HOLD_AND_EXIT, str(liveness.directory), "gone-host:4242:1"], check=True
    )
    assert held_then_died.returncode == 0 and (liveness.directory / "gone-host:4242:1.lock").exists()
    liveness.hold(here)
    try:
        assert liveness.known_dead("gone-host:4242:1/w0")
        assert liveness.known_dead("gone-host:4242:1/w1"), "each of its tasks is recognised, not only the first"
        assert not liveness.known_dead(here + "/w0"), "this process is alive"
        assert not liveness.known_dead("elsewhere:7:1/w0"), "no lock file here: the lease decides"
        assert not liveness.known_dead(None)

        task = core.submit(custom()).task
        alive = core.submit(custom()).task
        other = ProcessLiveness(liveness.directory)  # as another process sharing the data directory
        subprocess.run([sys.executable, "-c", HOLD_AND_EXIT, str(liveness.directory), "gone-host:4243:1"], check=True)
        assert core.queue.claim("gone-host:4243:1/w0", task_id=task.id) is not None
        assert core.queue.claim(here + "/w0", task_id=alive.id) is not None
        assert core.queue.sweep_expired() == [], "without the check, the lease stands"
        [decision] = core.queue.sweep_expired(dead=other.known_dead)
        assert decision.task_id == task.id and decision.status is TaskStatus.PENDING
        assert "is no longer running" in (core.task(task.id).error or "")
        assert core.task(task.id).retry_count == 0, "a takeover, not a retry"
        assert core.task(alive.id).status is TaskStatus.RUNNING
        assert core.queue.running_attempts() == {alive.id: 1}
    finally:
        liveness.release(here)


HOLD_AND_EXIT = """
import sys
from pathlib import Path
from core.process_identity import ProcessLiveness
ProcessLiveness(Path(sys.argv[1])).hold(sys.argv[2])
"""


def test_backoff_doubles_and_is_capped(core_factory) -> None:  # type: ignore[no-untyped-def]
    policy = core_factory(retry_backoff_seconds=10, retry_backoff_max_seconds=35).queue.policy
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [10, 20, 35, 35]


def test_release_puts_a_task_back_without_counting_a_retry(core: Core) -> None:
    task = core.submit(custom()).task
    claim = core.queue.claim("w")
    assert claim is not None and core.queue.release(claim, "shutting down")
    again = core.queue.claim("w")
    assert again is not None and again.task.id == task.id
    assert again.task.retry_count == 0 and again.task.attempt == 2


def test_every_state_change_is_an_event(core: Core) -> None:
    task = core.submit(custom()).task
    claim = core.queue.claim("w")
    assert claim is not None
    core.queue.finish(claim, TaskStatus.SUCCEEDED, result={"ok": True})
    with database(core).read() as session:
        kinds = [e.kind for e in session.exec(select(TaskEvent).where(TaskEvent.task_id == task.id)).all()]
    assert kinds == [EventKind.CREATED, EventKind.CLAIMED, EventKind.FINISHED]


def test_threads_never_claim_the_same_task_over_a_burst(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(per_repo_limit=1000)
    total = 1000
    for i in range(total):
        core.queue.submit(custom(f"echo {i}", repository=f"acme/r{i % 7}"))
    claimed: Counter[str] = Counter()
    lock = threading.Lock()

    def drain(name: str) -> None:
        while (claim := core.queue.claim(name)) is not None:
            with lock:
                claimed[claim.task.id] += 1
            assert core.queue.finish(claim, TaskStatus.SUCCEEDED)

    threads = [threading.Thread(target=drain, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert len(claimed) == total
    assert max(claimed.values()) == 1, [tid for tid, n in claimed.items() if n > 1][:5]
    assert core.queue.counts_by_status()[TaskStatus.SUCCEEDED] == total


def test_cancellation_wins_over_retry_release_and_sweep(core_factory) -> None:  # type: ignore[no-untyped-def]
    core = core_factory(lease_seconds=1, max_retries=5)
    ids = [core.submit(custom()).task.id for _ in range(3)]
    claims = [core.queue.claim("w") for _ in ids]
    assert all(claims)
    for task_id in ids:
        core.cancel(task_id)
    a, b, _ = claims
    assert a is not None and b is not None
    core.queue.retry_or_fail(a, "transient error")
    core.queue.release(b, "shutting down")
    time.sleep(1.1)
    core.queue.sweep_expired()  # the third one's worker "died"
    assert [core.task(t).status for t in ids] == [TaskStatus.CANCELLED] * 3
    assert all(core.task(t).retry_count == 0 for t in ids)


def test_a_full_subscriber_keeps_the_newest_events(core: Core) -> None:
    import threading as _threading

    from core.events import TaskEventRecord

    gate = _threading.Event()
    got: list[TaskEventRecord] = []

    def slow(event: TaskEventRecord) -> None:
        gate.wait(10)
        got.append(event)

    sub = core.bus.subscribe(slow, name="slow", maxsize=2)
    task = core.submit(custom()).task  # CREATED: taken by the handler, which blocks
    time.sleep(0.1)
    claim = core.queue.claim("w")  # CLAIMED
    assert claim is not None
    core.cancel(task.id)  # CANCEL_REQUESTED
    core.queue.finish(claim, TaskStatus.CANCELLED)  # FINISHED
    gate.set()
    wait_for_events = time.monotonic() + 5
    while len(got) < 3 and time.monotonic() < wait_for_events:
        time.sleep(0.02)
    assert [e.kind for e in got] == [EventKind.CREATED, EventKind.CANCEL_REQUESTED, EventKind.FINISHED]
    assert sub.dropped == 1


def test_tasks_are_found_by_fields_of_their_payload_and_result(core: Core) -> None:
    """Compared in the database (SQLite's json_extract, PostgreSQL's ->>), with the value's type."""
    first = core.submit(custom("make test")).task
    second = core.submit(custom("make lint")).task
    for run_key in ("abc", "def"):
        claim = core.queue.claim("w")
        assert claim is not None
        pull = {"branch": f"b-{run_key}", "pull_number": 7 if run_key == "abc" else 8}
        core.queue.finish(claim, TaskStatus.SUCCEEDED, result={"run_key": run_key, "projects": 2, "pull_request": pull})

    def found(**equals: object) -> list[str]:
        return [t.id for t in core.tasks(TaskFilter(**equals))]  # type: ignore[arg-type]

    assert found(payload_equals={"command": "make lint"}) == [second.id]
    assert found(payload_equals={"command": "make"}) == []
    assert found(result_equals={"run_key": "abc"}) == [first.id]
    assert found(result_equals={"run_key": "abc", "projects": 2}) == [first.id]
    assert found(result_equals={"run_key": "abc", "projects": 3}) == []
    assert found(result_equals={"run_key": "nope"}) == []
    assert found(result_equals={"pull_request.pull_number": 8}) == [second.id]
    assert found(result_equals={"pull_request.branch": "b-abc"}) == [first.id]


def test_concurrent_claims_keep_the_per_repository_limit(core_factory) -> None:  # type: ignore[no-untyped-def]
    """Eight threads claim at once (on PostgreSQL each locks a different candidate row): never more than the
    limit of one repository's tasks run together, and every task runs once."""
    core = core_factory(per_repo_limit=2)
    total = 60
    for i in range(total):
        core.queue.submit(custom(f"echo {i}", repository="acme/api" if i % 3 else "acme/web"))
    lock = threading.Lock()
    running: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    claimed: Counter[str] = Counter()

    errors: list[BaseException] = []

    def drain(name: str) -> None:
        try:
            claim_until_done(name)
        except BaseException as exc:  # a thread's failure fails the test
            errors.append(exc)

    def claim_until_done(name: str) -> None:
        deadline = time.monotonic() + 120
        while core.queue.counts_by_status()[TaskStatus.SUCCEEDED] < total and time.monotonic() < deadline:
            claim = core.queue.claim(name)
            if claim is None:
                time.sleep(0.005)
                continue
            repository = claim.task.repository or ""
            with lock:
                claimed[claim.task.id] += 1
                running[repository] += 1
                peak[repository] = max(peak[repository], running[repository])
            time.sleep(0.01)
            with lock:
                running[repository] -= 1
            assert core.queue.finish(claim, TaskStatus.SUCCEEDED)

    threads = [threading.Thread(target=drain, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    assert errors == []
    assert core.queue.counts_by_status()[TaskStatus.SUCCEEDED] == total
    assert len(claimed) == total and max(claimed.values()) == 1
    assert peak["acme/api"] == 2 and peak["acme/web"] <= 2, peak
