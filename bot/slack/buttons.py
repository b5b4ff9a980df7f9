"""What Slack's buttons do: Approve / Reject / View diff on a task waiting for approval, and Fix it under a CI failure
on a conversation's pull request. Whoever presses is checked like anyone asking for the same thing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.slack.access import SlackAccess
from bot.slack.commands import Verb
from bot.slack.messages import APPROVE, PICK_ATTEMPT, VIEW_ATTEMPT_DIFF, diff_text
from bot.slack.threads import unplace
from bot.slack.verbs import Requester
from core.artifacts import stored_diff
from core.conversation import ci_fix_trigger, latest_step, reported_ci_failure
from core.errors import DockhandError, InvalidTransitionError, NotFoundError, ValidationError
from core.intake.authorise import Decision
from core.intake.chain import Admission
from core.intake.trigger import Actor
from core.models import Task
from core.results import result_of
from core.service import Core
from core.states import TaskStatus, TriggerSource
from core.store.audit import AuditAction


class Buttons:
    def __init__(
        self,
        core: Core,
        access: SlackAccess,
        *,
        tell: Callable[[Requester, str], None],
        announce: Callable[..., str | None],
        thread_of: Callable[[Task], str | None],
    ) -> None:
        """`announce` posts a new task's message; `thread_of` finds a conversation's Slack thread."""
        self.core = core
        self.access = access
        self.tell = tell
        self.announce = announce
        self.thread_of = thread_of

    def _pressed(self, body: dict[str, Any], action: dict[str, Any]) -> tuple[Requester, Task, Decision] | None:
        """Who pressed a task's button, the task, and whether they may decide on it (None: no such task)."""
        user = body.get("user") or {}
        who = Requester(
            user=str(user.get("id", "")),
            channel=str((body.get("channel") or {}).get("id", "")),
            name=str(user.get("username") or user.get("name") or user.get("id", "")),
        )
        try:
            task = self.core.task(str(action.get("value", "")))
        except NotFoundError:
            self.tell(who, "That task no longer exists.")
            return None
        return who, task, self.access.may_decide(who.user, who.channel, requester=_slack_requester(task))

    def on_decision(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        pressed = self._pressed(body, action)
        if pressed is None:
            return
        who, task, decision = pressed
        task_id = task.id
        action_id = str(action.get("action_id", ""))
        attempt = int(action_id.removeprefix(PICK_ATTEMPT)) if action_id.startswith(PICK_ATTEMPT) else None
        approving = action_id == APPROVE or attempt is not None
        if not decision.allowed:
            action_name = AuditAction.APPROVE if approving else AuditAction.REJECT
            self.core.intake.refuse(
                source=TriggerSource.SLACK,
                actor=who.user,
                action=action_name,
                target=task_id,
                reason=decision.reason,
                task_id=task_id,
            )
            self.tell(who, f"Sorry, {decision.reason}.")
            return
        by = f"{who.name} (Slack {who.user})" if who.name != who.user else f"Slack {who.user}"
        try:
            if approving:
                self.core.approve(task_id, by=by, source=TriggerSource.SLACK, attempt=attempt)
            else:
                self.core.reject(task_id, by=by, source=TriggerSource.SLACK)
        except ValidationError as exc:
            self.tell(who, f"Not possible: {exc}.")
        except InvalidTransitionError as exc:
            # A double click, someone else was quicker, or the approval expired: say so, change nothing.
            current = self.core.task(task_id)
            if current.status is TaskStatus.AWAITING_APPROVAL:
                self.tell(who, f"Not possible: {exc}.")
            else:
                self.tell(who, f"Task {task_id} is already decided ({current.status.value}).")

    def on_view_diff(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        pressed = self._pressed(body, action)
        if pressed is None:
            return
        who, task, decision = pressed
        if not decision.allowed:  # the diff may be of a private repository: only those who decide see it
            self.tell(who, f"Sorry, {decision.reason}.")
            return
        action_id = str(action.get("action_id", ""))
        attempt = int(action_id.removeprefix(VIEW_ATTEMPT_DIFF)) if action_id.startswith(VIEW_ATTEMPT_DIFF) else None
        try:
            self.tell(who, diff_text(stored_diff(self.core.artifacts, task.id, attempt)))
        except DockhandError as exc:
            self.tell(who, f"The change cannot be shown: {exc}.")

    def on_fix_ci(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Fix it: a follow-up that makes the failing checks pass, asked by whoever pressed (if they may ask for a
        change), on the step whose commit failed — unless newer work has been pushed since."""
        ack()
        pressed = self._pressed(body, action)
        if pressed is None:
            return
        who, task, _ = pressed
        decision = self.access.may_run(Verb.DO, who.user, who.channel)
        if not decision.allowed:
            self.core.intake.refuse(source=TriggerSource.SLACK, actor=who.user, action=AuditAction.SUBMIT,
                                    target=task.id, reason=decision.reason, task_id=task.id)  # fmt: skip
            self.tell(who, f"Sorry, {decision.reason}.")
            return
        failure = reported_ci_failure(self.core.journal, task)
        if failure is None:
            self.tell(who, f"Task {task.id} has no CI failure to fix.")
            return
        newest = latest_step(self.core.queue, task)
        pushed = result_of(newest).pull_request
        if (newest.payload.get("ci") or {}).get("head_sha") == failure.head_sha and newest.id != task.id:
            self.tell(who, f"Already fixing it: task {newest.id} is {newest.status.value.replace('_', ' ')}.")
            return
        if newest.id != task.id or pushed is None or pushed.commit != failure.head_sha:
            self.tell(who, "Newer work is on the pull request since: its CI is checked again when it finishes.")
            return
        pressed_at = action.get("action_ts") or body.get("trigger_id")  # a press: its retry is the same request
        try:
            trigger = ci_fix_trigger(
                task,
                failure,
                actor=Actor(id=who.user),
                source=TriggerSource.SLACK,
                dedup_key=f"slack:fix-ci:{task.id}:{failure.head_sha}:{pressed_at}",
                ref=task.trigger_ref,
                reply_to=who.channel,
            )
        except ValidationError as exc:
            self.tell(who, f"Not started: {exc}")
            return
        outcome = self.core.intake.handle(trigger, self.access)
        if outcome.admission is Admission.STARTED and outcome.task is not None:
            thread = self.thread_of(task)
            channel, thread_ts = unplace(thread) if thread else (who.channel, None)
            said = self.announce(outcome.task, channel, in_thread=thread_ts)
            if said:
                self.tell(who, said)
        elif outcome.admission is Admission.DUPLICATE and outcome.task is not None:
            self.tell(who, f"Already fixing it: task {outcome.task.id}.")
        else:
            self.tell(who, f"Not started: {outcome.reason}")


def _slack_requester(task: Task) -> str | None:
    """Who started a task from Slack (their user ID); None for tasks started elsewhere."""
    return task.triggered_by if task.trigger_source is TriggerSource.SLACK else None
