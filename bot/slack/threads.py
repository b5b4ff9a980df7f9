"""Progress of Slack-started tasks: one parent message, kept up to date, and the details in its thread.

An event-bus subscriber (its own thread and bounded queue, so Slack being slow never stalls a task).
Stage lines are coalesced: at most one thread post per task every `slack_update_seconds`, flushed at
once when the task waits for approval or ends. The WebClient's rate-limit handler honours 429
Retry-After. Where the parent message is (channel and ts) is stored, so any process can update it.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.messages import approval_blocks, ci_failed_blocks, escape, parent_blocks, parent_text, result_text
from core.conversation import all_steps, continued_id, spending, steps_before
from core.events import TaskEventRecord
from core.models import Task
from core.service import Core
from core.states import EventKind, StageStatus, TaskStatus, TriggerSource

log = logging.getLogger(__name__)

THREAD = "slack-thread"
ROOT = "slack-root"  # a follow-up's message is a reply in its conversation's thread: where its thread posts go
APPROVAL = "slack-approval"
RESULT = "slack-result"
_PARENT_NOW = {
    EventKind.CLAIMED,
    EventKind.RETRY_SCHEDULED,
    EventKind.CANCEL_REQUESTED,
    EventKind.APPROVAL_REQUESTED,
    EventKind.APPROVAL_DECIDED,
    EventKind.FINISHED,
}
_STAGE_MARK = {StageStatus.SUCCEEDED: "✅", StageStatus.FAILED: "❌", StageStatus.CANCELLED: "🚫"}


def place(channel: str, ts: str) -> str:
    return f"{channel}:{ts}"


def unplace(external_id: str) -> tuple[str, str]:
    channel, _, ts = external_id.partition(":")
    return channel, ts


class SlackThreads:
    def __init__(self, core: Core, client: WebClient, *, web_url: str, interval: float) -> None:
        self.core = core
        self.client = client
        self.web_url = web_url
        self.interval = interval
        self._lock = threading.Lock()
        self._lines: dict[str, list[str]] = {}
        self._last_post: dict[str, float] = {}
        self._parent_dirty: set[str] = set()
        self._timers: dict[str, threading.Timer] = {}
        self._posting: dict[str, threading.Lock] = {}

    def __call__(self, event: TaskEventRecord) -> None:
        if event.kind is EventKind.CI_FAILED:
            self._ci_failed(event)
            return
        if event.kind is EventKind.CREATED:
            self._join_conversation(event.task_id)
        where = self.core.notifications.get(event.task_id, THREAD)
        if where is None:
            return  # not a Slack task
        task_id = event.task_id
        if event.kind is EventKind.STAGE_FINISHED:
            status = StageStatus(event.data.get("stage_status", "succeeded"))
            took = event.data.get("duration_seconds")
            line = f"{_STAGE_MARK.get(status, '•')} {event.stage}" + (f" ({took:.1f}s)" if took else "")
            if status is StageStatus.FAILED and event.message:
                line += f": {escape(event.message.split(': ', 1)[-1][:500])}"
            self._add(task_id, line)
        elif event.kind is EventKind.RETRY_SCHEDULED:
            self._add(task_id, f"🔁 {escape(event.message[:500])}")
        if event.kind in _PARENT_NOW:
            self._flush(task_id)
            task = self.core.task(task_id)
            self._update_parent(task, where)
            if event.kind is EventKind.APPROVAL_REQUESTED:
                self._ask_for_approval(task, where, str(event.data.get("summary", "")))
            elif event.kind is EventKind.APPROVAL_DECIDED:
                self._show_decision(task, event)
            elif event.kind is EventKind.FINISHED:
                self._post_result(task, where)
        elif event.kind in (EventKind.PROGRESS, EventKind.STAGE_STARTED):
            with self._lock:
                self._parent_dirty.add(task_id)
            self._schedule(task_id)
        else:
            self._schedule(task_id)

    def catch_up(self, task_id: str, where: str) -> None:
        """Bring a just-posted parent message up to date (the task may have moved before it was posted)."""
        task = self.core.task(task_id)
        if task.status is not TaskStatus.PENDING:
            self._update_parent(task, where)
        if task.status is TaskStatus.AWAITING_APPROVAL:
            approvals = self.core.approvals.of(task_id)
            self._ask_for_approval(task, where, approvals[-1].summary if approvals else "")
        if task.status.is_final:
            self._post_result(task, where)

    def _post_result(self, task: Task, where: str) -> None:
        """The thread's last word, once (several processes, or the catch-up, may see the end); a follow-up's
        says what the whole conversation has cost so far."""
        with self._lock:
            self._last_post.pop(task.id, None)
        if self.core.notifications.remember(task.id, RESULT, where):
            text = result_text(task)
            if continued_id(task) is not None:
                first = steps_before(self.core.queue, task)[0]
                text += f"\nThis conversation so far: {spending(all_steps(self.core.queue, first)).describe()}."
            self._post(where, text, task.id)
        with self._lock:
            self._posting.pop(task.id, None)

    # --- coalescing ---------------------------------------------------------------------------
    def _add(self, task_id: str, line: str) -> None:
        with self._lock:
            self._lines.setdefault(task_id, []).append(line)

    def _schedule(self, task_id: str) -> None:
        """Flush now if the last post is long enough ago, else once it is."""
        with self._lock:
            wait = self.interval - (time.monotonic() - self._last_post.get(task_id, 0.0))
            if task_id in self._timers:
                return
            if wait > 0:
                timer = threading.Timer(wait, self._flush, args=(task_id,))
                timer.daemon = True
                self._timers[task_id] = timer
                timer.start()
                return
        self._flush(task_id)

    def _flush(self, task_id: str) -> None:
        with self._lock:
            timer = self._timers.pop(task_id, None)
            if timer is not None:
                timer.cancel()
            lines = self._lines.pop(task_id, [])
            dirty = task_id in self._parent_dirty
            self._parent_dirty.discard(task_id)
            if lines or dirty:
                self._last_post[task_id] = time.monotonic()
        where = self.core.notifications.get(task_id, THREAD)
        if where is None:
            return
        if lines:
            self._post(where, "\n".join(lines), task_id)
        if dirty:
            self._update_parent(self.core.task(task_id), where)

    # --- Slack calls --------------------------------------------------------------------------
    def _update_parent(self, task: Task, where: str) -> None:
        channel, ts = unplace(where)
        stages = self.core.stages.list(task.id)
        self._call(
            "update the task message",
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=parent_text(task), blocks=parent_blocks(task, stages, self.web_url)
            ),
        )

    def conversation_thread(self, task: Task) -> str | None:
        """Where a conversation is followed in Slack: the thread of its first step that has one."""
        places = (self.core.notifications.get(step.id, THREAD) for step in steps_before(self.core.queue, task))
        return next((found for found in places if found is not None), None)

    def _join_conversation(self, task_id: str) -> None:
        """A follow-up started on GitHub (a review, a CI fix) in a conversation followed in Slack: its message goes
        in that thread too (one started from Slack is announced by whoever started it)."""
        task = self.core.task(task_id)
        if task.trigger_source is TriggerSource.SLACK or continued_id(task) is None:
            return
        root = self.conversation_thread(task)
        if root is None:
            return
        channel, ts = unplace(root)
        self._call("post the follow-up's message", lambda: self.post_task_message(task, channel, in_thread=ts))

    def post_task_message(self, task: Task, channel: str, *, in_thread: str | None = None) -> None:
        """A task's one message (in a conversation's thread when `in_thread` is its ts), remembered so that every
        process updates it; raises what Slack answered when it cannot be posted."""
        posted = self.client.chat_postMessage(
            channel=channel,
            thread_ts=in_thread,
            text=parent_text(task),
            blocks=parent_blocks(task, self.core.stages.list(task.id), self.web_url),
        )
        if in_thread:
            self.core.notifications.remember(task.id, ROOT, place(channel, in_thread))
        where = place(channel, str(posted["ts"]))
        if self.core.notifications.remember(task.id, THREAD, where):
            # Events from before this point (a quick worker) found no message to update: catch up once.
            self.catch_up(task.id, where)

    def _ci_failed(self, event: TaskEventRecord) -> None:
        """CI failed on a step's pull request and no fix started on its own: said in the conversation's thread
        (the first step's that has one), with a button to start the fix."""
        task = self.core.task(event.task_id)
        where = self.conversation_thread(task)
        if where is None:
            return
        channel, ts = unplace(where)
        failure = event.data.get("ci") or {}
        blocks = ci_failed_blocks(
            task, list(failure.get("checks") or []), str(failure.get("summary") or ""), str(event.data.get("why_not"))
        )
        self._call(
            "report the CI failure",
            lambda: self.client.chat_postMessage(channel=channel, thread_ts=ts, text=event.message, blocks=blocks),
        )

    def _post(self, where: str, text: str, task_id: str | None = None) -> None:
        channel, ts = unplace(self._replies_to(task_id, where))
        with self._post_lock(task_id or where):  # the timer's batch and the final word stay in order
            self._call(
                "post to the thread", lambda: self.client.chat_postMessage(channel=channel, thread_ts=ts, text=text)
            )

    def _post_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._posting.setdefault(key, threading.Lock())

    def _replies_to(self, task_id: str | None, where: str) -> str:
        """Where a task's thread posts go: its message's thread, or for a follow-up whose message is itself a reply,
        the conversation's thread (Slack threads one level deep)."""
        root = self.core.notifications.get(task_id, ROOT) if task_id else None
        return root or where

    def _ask_for_approval(self, task: Task, where: str, summary: str) -> None:
        if self.core.notifications.get(task.id, APPROVAL) is not None:
            return  # already asked (this event was seen by another process too)
        channel, ts = unplace(self._replies_to(task.id, where))
        response = self._call(
            "ask for approval",
            lambda: self.client.chat_postMessage(
                channel=channel,
                thread_ts=ts,
                text=f"Task {task.id} is ready to publish: approve or reject",
                blocks=approval_blocks(task, summary),
            ),
        )
        if response is not None:
            self.core.notifications.remember(task.id, APPROVAL, place(channel, str(response["ts"])))

    def _show_decision(self, task: Task, event: TaskEventRecord) -> None:
        where = self.core.notifications.get(task.id, APPROVAL)
        if where is None:
            return
        channel, ts = unplace(where)
        approved = bool(event.data.get("approved"))
        by = escape(str(event.data.get("by") or ""))
        if approved:
            decided = f":white_check_mark: Approved by {by}"
            if event.data.get("choice"):
                decided += f", who picked attempt {int(event.data['choice'])}"
        elif by:
            decided = f":no_entry_sign: Rejected by {by}" + (
                f": {escape(str(event.data['reason']))}" if event.data.get("reason") else ""
            )
        else:
            decided = f":hourglass: {escape(event.message)}"
        approvals = self.core.approvals.of(task.id)
        summary = approvals[-1].summary if approvals else ""
        self._call(
            "show the decision",
            lambda: self.client.chat_update(
                channel=channel, ts=ts, text=decided, blocks=approval_blocks(task, summary, decided=decided)
            ),
        )

    @staticmethod
    def _call(what: str, fn):  # type: ignore[no-untyped-def]
        try:
            return fn()
        except SlackApiError as exc:
            log.warning("Slack: could not %s: %s", what, exc.response.get("error") if exc.response else exc)
            return None
        except OSError as exc:  # Slack unreachable (urllib's URLError, timeouts): one line, no traceback
            log.warning("Slack: could not %s: cannot reach Slack: %s", what, getattr(exc, "reason", exc))
            return None
