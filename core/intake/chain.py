"""The chain every trigger passes, as small steps (bolt-python's middleware is the model): each step gets the
trigger and the rest of the chain, and either answers itself or hands on.

    audit → dedupe → authorise → rate-limit → route

- audit: whatever the chain answered goes into the audit trail, in this one place (a duplicate excepted:
  it is the same request again).
- dedupe: a trigger whose request was already turned into a task (a redelivered webhook, a retried Slack
  request) gets that task back before anyone is asked anything; the queue checks the key again, atomically.
- authorise: the front end's `Authoriser` decides; a refusal goes no further.
- rate-limit: the queue's admission limits (per repository and per minute, counted under its lock) and a
  request it cannot take become an outcome the front end words, never an exception.
- route: the task is stored (or the live task already doing this work is returned).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.errors import DockhandError, RateLimitedError
from core.intake.authorise import Authoriser
from core.intake.trigger import Trigger
from core.models import Task
from core.states import TriggerSource
from core.store.audit import AuditAction, AuditOutcome, AuditRecord
from core.store.interface import AuditTrail, TaskStore
from core.store.queue_types import SubmitResult


class Admission(StrEnum):
    STARTED = "started"
    DUPLICATE = "duplicate"  # the same request again: its task
    ALREADY_LIVE = "already-live"  # other work, the same job: the task already doing it
    REFUSED = "refused"
    RATE_LIMITED = "rate-limited"
    NOT_STARTED = "not-started"  # the request itself cannot be run (invalid, nothing runs its type…)


@dataclass(frozen=True, kw_only=True)
class IntakeOutcome:
    admission: Admission
    task: Task | None = None
    reason: str = ""
    error: DockhandError | None = None  # what the queue raised, for callers that want the exception back

    def submit_result(self) -> SubmitResult:
        """The outcome as the queue's result; raises the refusal's error when there is no task."""
        if self.task is None:
            raise self.error or DockhandError(self.reason)
        return SubmitResult(
            task=self.task,
            created=self.admission is Admission.STARTED,
            already_live=self.admission is Admission.ALREADY_LIVE,
        )


Next = Callable[[Trigger], IntakeOutcome]
Step = Callable[[Trigger, Authoriser, Next], IntakeOutcome]
Route = Callable[[Trigger], SubmitResult]  # stores the task; raises DockhandError when it cannot


class Intake:
    def __init__(self, tasks: TaskStore, audit: AuditTrail, route: Route) -> None:
        self.tasks = tasks
        self.audit = audit
        self.route = route
        self.steps: Sequence[Step] = (self._audit, self._dedupe, self._authorise, self._rate_limit)

    def handle(self, trigger: Trigger, authoriser: Authoriser) -> IntakeOutcome:
        def at(position: int) -> Next:
            if position == len(self.steps):
                return self._route
            step = self.steps[position]
            return lambda t: step(t, authoriser, at(position + 1))

        return at(0)(trigger)

    def refuse(
        self,
        *,
        source: TriggerSource,
        actor: str,
        action: AuditAction,
        target: str,
        reason: str,
        task_id: str | None = None,
    ) -> None:
        """Record a refusal the front end made before a trigger existed (a Slack `status` its user may not ask)."""
        self.audit.record(
            AuditRecord(
                actor=actor,
                source=source.value,
                action=action,
                target=target,
                outcome=AuditOutcome.REFUSED,
                detail=reason,
                task_id=task_id,
            )
        )

    # --- steps ------------------------------------------------------------------------------------
    def _audit(self, trigger: Trigger, _authoriser: Authoriser, next: Next) -> IntakeOutcome:
        outcome = next(trigger)
        recorded = _AUDITED.get(outcome.admission)
        if recorded is not None:
            action, result = recorded
            detail = trigger.task_type.value if outcome.admission is Admission.STARTED else outcome.reason
            self.audit.record(
                AuditRecord(
                    actor=trigger.actor.id,
                    source=trigger.source.value,
                    action=action,
                    target=trigger.target,
                    outcome=result,
                    detail=detail,
                    task_id=outcome.task.id if outcome.admission is Admission.STARTED and outcome.task else None,
                )
            )
        return outcome

    def _dedupe(self, trigger: Trigger, _authoriser: Authoriser, next: Next) -> IntakeOutcome:
        if trigger.dedup_key is not None:
            existing = self.tasks.find_by_dedup_key(trigger.dedup_key)
            if existing is not None:
                return IntakeOutcome(admission=Admission.DUPLICATE, task=existing, reason="the same request again")
        return next(trigger)

    def _authorise(self, trigger: Trigger, authoriser: Authoriser, next: Next) -> IntakeOutcome:
        decision = authoriser.decide(trigger)
        if not decision.allowed:
            return IntakeOutcome(admission=Admission.REFUSED, reason=decision.reason)
        return next(trigger)

    def _rate_limit(self, trigger: Trigger, _authoriser: Authoriser, next: Next) -> IntakeOutcome:
        try:
            return next(trigger)
        except RateLimitedError as exc:
            return IntakeOutcome(admission=Admission.RATE_LIMITED, reason=str(exc), error=exc)
        except DockhandError as exc:
            return IntakeOutcome(admission=Admission.NOT_STARTED, reason=str(exc), error=exc)

    def _route(self, trigger: Trigger) -> IntakeOutcome:
        result = self.route(trigger)
        if result.already_live:
            return IntakeOutcome(admission=Admission.ALREADY_LIVE, task=result.task, reason="already on it")
        if not result.created:
            return IntakeOutcome(admission=Admission.DUPLICATE, task=result.task, reason="the same request again")
        return IntakeOutcome(admission=Admission.STARTED, task=result.task)


# What the audit trail says of each answer (a duplicate is not a new request: not recorded again).
_AUDITED = {
    Admission.STARTED: (AuditAction.SUBMIT, AuditOutcome.DONE),
    Admission.REFUSED: (AuditAction.TRIGGER, AuditOutcome.REFUSED),
    Admission.RATE_LIMITED: (AuditAction.SUBMIT, AuditOutcome.RATE_LIMITED),
    Admission.NOT_STARTED: (AuditAction.SUBMIT, AuditOutcome.REFUSED),
}
