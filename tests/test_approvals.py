"""Approval gates on both store backends: a task parks at its gate, holds no worker, and resumes after it
when approved — or ends when rejected, cancelled or left too long."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlmodel import select

from core.errors import ApprovalRequired, InvalidTransitionError
from core.models import Approval, utcnow
from core.pipeline import Pipeline, PipelineRegistry, Stage, StageContext
from core.service import Core
from core.specs import TaskSubmission
from core.states import ApprovalStatus, EventKind, StageStatus, TaskStatus, TaskType
from tests.support.store import database

RAN: list[tuple[str, str, int]] = []


def gated_registry() -> PipelineRegistry:
    def before(ctx: StageContext) -> None:
        RAN.append((ctx.task.id, "before", ctx.task.attempt))
        ctx.result["found"] = 42

    def gate(ctx: StageContext) -> None:
        RAN.append((ctx.task.id, "gate", ctx.task.attempt))
        raise ApprovalRequired("push 1 file?", expires_in_seconds=600)

    def after(ctx: StageContext) -> None:
        RAN.append((ctx.task.id, "after", ctx.task.attempt))
        ctx.result["published_with"] = ctx.result["found"]

    registry = PipelineRegistry()
    stages = (Stage("before", before), Stage("gate", gate), Stage("after", after))
    registry.register(TaskType.CUSTOM, Pipeline(name="gated", stages=stages))
    return registry


@pytest.fixture
def core(core_factory: Callable[..., Core]) -> Core:
    return core_factory(registry=gated_registry())


def parked(core: Core) -> str:
    task_id = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "x"}, max_retries=0)).task.id
    task = core.run_now(task_id)
    assert task.status is TaskStatus.AWAITING_APPROVAL
    assert task.worker_id is None and task.claim_token is None and task.lease_expires_at is None
    assert (task.result or {})["found"] == 42
    assert core.queue.claim("w") is None, "a waiting task is not work"
    return task_id


def test_approval_resumes_after_the_gate_with_what_the_run_found(core: Core) -> None:
    task_id = parked(core)
    (approval,) = core.approvals.of(task_id)
    assert (approval.status, approval.action, approval.summary) == (ApprovalStatus.PENDING, "gate", "push 1 file?")
    assert approval.expires_at is not None
    core.approve(task_id, by="bob")
    assert core.task(task_id).status is TaskStatus.PENDING
    task = core.run_now(task_id)
    assert task.status is TaskStatus.SUCCEEDED, task.error
    assert (task.result or {})["published_with"] == 42
    assert (task.result or {})["approval"]["by"] == "bob"
    steps = [(step, attempt) for tid, step, attempt in RAN if tid == task_id]
    assert steps == [("before", 1), ("gate", 1), ("after", 2)], "nothing before the gate ran twice"
    stages = core.stages.list(task_id)
    assert [(s.name, s.status) for s in stages] == [
        ("before", StageStatus.SUCCEEDED),
        ("gate", StageStatus.SUCCEEDED),
        ("after", StageStatus.SUCCEEDED),
    ]
    kinds = [e.kind for e in core.journal.events(task_id)]
    assert kinds.count(EventKind.APPROVAL_REQUESTED) == 1 and kinds.count(EventKind.APPROVAL_DECIDED) == 1
    with pytest.raises(InvalidTransitionError):
        core.approve(task_id, by="bob")


def test_rejection_and_cancellation_end_a_waiting_task(core: Core) -> None:
    rejected, cancelled = parked(core), parked(core)
    core.reject(rejected, by="carol", reason="wrong fix")
    task = core.task(rejected)
    assert task.status is TaskStatus.CANCELLED and task.error == "rejected by carol: wrong fix"
    core.cancel(cancelled, by="dave")
    assert core.task(cancelled).status is TaskStatus.CANCELLED
    assert core.approvals.of(cancelled)[0].status is ApprovalStatus.REJECTED
    assert core.approvals.of(cancelled)[0].decided_by == "dave"
    for task_id in (rejected, cancelled):
        with pytest.raises(InvalidTransitionError):
            core.approve(task_id, by="bob")
    assert not [step for tid, step, _ in RAN if tid in (rejected, cancelled) and step == "after"]


def test_an_undecided_approval_expires(core: Core) -> None:
    task_id = parked(core)
    assert core.approvals.expire() == []
    assert core.approvals.expire(utcnow() + timedelta(seconds=601)) == [task_id]
    task = core.task(task_id)
    assert task.status is TaskStatus.FAILED and "expired" in (task.error or "")
    assert core.approvals.of(task_id)[0].status is ApprovalStatus.EXPIRED
    assert core.approvals.expire(utcnow() + timedelta(days=1)) == []
    with pytest.raises(InvalidTransitionError):
        core.reject(task_id, by="late")


def test_only_a_waiting_task_can_be_decided(core: Core) -> None:
    task_id = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "x"})).task.id
    with pytest.raises(InvalidTransitionError, match="not waiting for approval"):
        core.approve(task_id, by="bob")


def test_the_stages_show_how_a_waiting_task_ended(core: Core) -> None:
    for end, gate in (
        (lambda t: core.reject(t, by="x"), StageStatus.CANCELLED),
        (lambda t: core.cancel(t), StageStatus.CANCELLED),
    ):
        task_id = parked(core)
        end(task_id)
        assert [s.status for s in core.stages.list(task_id)] == [StageStatus.SUCCEEDED, gate, StageStatus.SKIPPED]
    task_id = parked(core)
    core.approvals.expire(utcnow() + timedelta(seconds=601))
    assert [s.status for s in core.stages.list(task_id)] == [
        StageStatus.SUCCEEDED,
        StageStatus.FAILED,
        StageStatus.SKIPPED,
    ]


def test_an_approval_past_its_deadline_is_refused_even_before_the_expiry_job(core_factory: Callable[..., Core]) -> None:
    core = core_factory(registry=gated_registry())
    task_id = parked(core)
    with database(core).write() as session:
        (row,) = session.exec(select(Approval).where(Approval.task_id == task_id)).all()
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    with pytest.raises(InvalidTransitionError, match="expired"):
        core.approve(task_id, by="late")
    assert core.task(task_id).status is TaskStatus.AWAITING_APPROVAL  # the expiry job ends it


def test_a_cancel_during_an_irreversible_stage_does_not_hide_that_it_happened(
    core_factory: Callable[..., Core],
) -> None:
    published: list[str] = []

    def publish(ctx: StageContext) -> None:
        ctx.cancel.cancel("cancelled by someone, too late")  # arrives while the push is under way
        published.append(ctx.task.id)

    def after(ctx: StageContext) -> None:
        published.append("after")

    registry = PipelineRegistry()
    stages = (Stage("publish", publish, irreversible=True), Stage("after", after))
    registry.register(TaskType.CUSTOM, Pipeline(name="p", stages=stages))
    core = core_factory(registry=registry)
    task_id = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "x"}, max_retries=0)).task.id
    task = core.run_now(task_id)
    assert published == [task_id]  # the stage after it did not run…
    assert [s.status for s in core.stages.list(task_id)] == [StageStatus.SUCCEEDED, StageStatus.SKIPPED]
    assert task.status is TaskStatus.CANCELLED  # …the task stopped, and its record says publish succeeded


def test_a_cancel_during_the_last_irreversible_stage_leaves_the_task_succeeded(
    core_factory: Callable[..., Core],
) -> None:
    def publish(ctx: StageContext) -> None:
        ctx.cancel.cancel("too late")
        ctx.result["pull_request"] = "opened"

    registry = PipelineRegistry()
    registry.register(TaskType.CUSTOM, Pipeline(name="p", stages=(Stage("publish", publish, irreversible=True),)))
    core = core_factory(registry=registry)
    task_id = core.submit(TaskSubmission(type=TaskType.CUSTOM, payload={"command": "x"}, max_retries=0)).task.id
    task = core.run_now(task_id)
    assert task.status is TaskStatus.SUCCEEDED and (task.result or {})["pull_request"] == "opened"


def test_the_api_approves_another_attempt_only_by_a_number_it_has(core: Core) -> None:
    import httpx

    from bot.http.app import create_app
    from tests.support.server import serve_in_thread

    task_id = parked(core)
    headers = {"Authorization": "Bearer t"}
    with serve_in_thread(create_app(core, api_token="t")) as base, httpx.Client(base_url=base, headers=headers) as http:
        for bad in ("2", 0, True, 2.0):
            answer = http.post(f"/task/{task_id}/approve", json={"attempt": bad})
            assert answer.status_code == 422 and "attempt must be" in answer.text, bad
        refused = http.post(f"/task/{task_id}/approve", json={"attempt": 2})
        assert refused.status_code == 422 and "ran one attempt" in refused.text
        assert core.task(task_id).status is TaskStatus.AWAITING_APPROVAL
        assert http.post(f"/task/{task_id}/approve").status_code == 202
    (approval,) = core.approvals.of(task_id)
    assert (approval.status, approval.choice) == (ApprovalStatus.APPROVED, None)
