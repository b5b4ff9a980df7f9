"""A conversation: work that opened a pull request (an issue's resolution, or a change asked for in words) and the
follow-ups that continue it on the same branch and pull request ("also handle negatives", a review, a red CI).

Each follow-up is a `change` task whose spec names the step it `continues`; the queue does not claim it before
that step has ended (`Task.waits_for`). The chain is read from the store, so a follow-up asked days later, or
handled by another worker, finds its conversation the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.errors import ValidationError
from core.intake.trigger import Actor, Trigger, spec_of
from core.models import Task
from core.results import agent_of, result_of
from core.specs import ChangeSpec, CiFailure
from core.states import EventKind, TaskStatus, TaskType, TriggerSource
from core.store.interface import EventJournal, NotificationStore, TaskStore
from core.store.queue_types import TaskFilter

CONTINUED_TYPES = (TaskType.ISSUE_RESOLUTION, TaskType.CHANGE)
MAX_STEPS = 200  # a bound on walking a chain (a loop in stored data must not hang a request)
STOPPED = "conversation-stopped"  # a mark on a conversation's first step (who stopped it): no automatic follow-ups
FIX_CI_REQUEST = "Make the failing CI checks pass."


def continued_id(task: Task) -> str | None:
    """The step a follow-up continues (None for a conversation's first step)."""
    if task.type is not TaskType.CHANGE:
        return None
    found = task.payload.get("continues")
    return found if isinstance(found, str) else None


def leads_on(task: Task) -> bool:
    """Whether a follow-up may build on this step: it still works (a new follow-up waits for it), or it ended
    with its commits on the pull request. A failed or cancelled step is a dead end: the next builds on the one
    before it."""
    if not task.status.is_final:
        return True
    return task.status is TaskStatus.SUCCEEDED and result_of(task).pull_request is not None


def latest_step(tasks: TaskStore, step: Task) -> Task:
    """The newest step of `step`'s conversation that a new follow-up builds on (`step` itself when none)."""
    current = step
    for _ in range(MAX_STEPS):
        after = _steps_after(tasks, current, limit=20)
        nxt = next((task for task in after if leads_on(task)), None)
        if nxt is None:
            return current
        current = nxt
    return current


def _steps_after(tasks: TaskStore, step: Task, *, limit: int) -> list[Task]:
    """The follow-ups that continue `step` directly, newest first."""
    return tasks.list(
        TaskFilter(types=(TaskType.CHANGE,), repository=step.repository, payload_equals={"continues": step.id},
                   limit=limit)
    )  # fmt: skip


def steps_before(tasks: TaskStore, step: Task) -> list[Task]:
    """`step` and the steps it continues, back to the first, oldest first."""
    chain = [step]
    while (earlier := continued_id(chain[-1])) is not None and len(chain) < MAX_STEPS:
        try:
            chain.append(tasks.get(earlier))
        except LookupError:
            break
    return chain[::-1]


def all_steps(tasks: TaskStore, first: Task) -> list[Task]:
    """Every task of the conversation `first` starts, failed and cancelled ones included, oldest first."""
    found, frontier = [first], [first]
    while frontier and len(found) < MAX_STEPS:
        step = frontier.pop()
        after = _steps_after(tasks, step, limit=MAX_STEPS)
        new = [task for task in after if all(task.id != seen.id for seen in found)]
        found += new
        frontier += new
    return sorted(found, key=lambda task: task.created_at)


def standing_step(find: Callable[[str], Task | None], task_id: str) -> Task | None:
    """What a follow-up asked to continue `task_id` builds on once that step has ended: the step itself when it
    opened or added to the pull request, else (it failed, was cancelled or rejected) the step before it."""
    for _ in range(MAX_STEPS):
        task = find(task_id)
        if task is None:
            return None
        if leads_on(task) or (earlier := continued_id(task)) is None:
            return task
        task_id = earlier
    return None


@dataclass(frozen=True, kw_only=True)
class Spending:
    """What a conversation's steps have cost the model so far."""

    steps: int
    cost_usd: float

    def describe(self) -> str:
        return f"${self.cost_usd:.2f} over {self.steps} step{'s' if self.steps != 1 else ''}"


def spending(chain: list[Task]) -> Spending:
    """What these steps cost (pass `all_steps` to count the failed and cancelled ones too)."""
    total = 0.0
    for task in chain:
        figures = agent_of(task)
        total += figures.cost_usd if figures is not None else 0.0
    return Spending(steps=len(chain), cost_usd=total)


def stop(notifications: NotificationStore, first: Task, by: str) -> bool:
    """End a conversation: no follow-up starts on its own any more (a person may still ask for one). False when
    it was stopped already."""
    return notifications.remember(first.id, STOPPED, by[:200] or "someone")


def stopped_by(notifications: NotificationStore, first: Task) -> str | None:
    return notifications.get(first.id, STOPPED)


def reported_ci_failure(journal: EventJournal, step: Task) -> CiFailure | None:
    """The newest CI failure reported on a step (its data kept with the `CI_FAILED` event), if any."""
    for event in reversed(journal.events(step.id)):
        if event.kind is EventKind.CI_FAILED:
            return CiFailure.model_validate(event.data.get("ci") or {})
    return None


def ci_fix_trigger(
    step: Task,
    failure: CiFailure,
    *,
    actor: Actor,
    source: TriggerSource,
    dedup_key: str,
    ref: str | None,
    reply_to: str | None = None,
) -> Trigger:
    """A follow-up on `step` that makes its failing checks pass (raises ValidationError if it cannot be one)."""
    if step.repository is None:
        raise ValidationError(f"task {step.id} has no repository")
    spec = spec_of(ChangeSpec, request=FIX_CI_REQUEST, continues=step.id, ci=failure)
    return Trigger(
        source=source,
        actor=actor,
        spec=spec,
        repository=step.repository,
        ref=ref,
        dedup_key=dedup_key,
        reply_to=reply_to,
    )
