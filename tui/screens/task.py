"""One task: its summary, stages, result and live log, searchable."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Input, Log, Static

from core.attempt_choice import other_attempts
from core.errors import DockhandError
from core.states import TaskStatus
from tui.format import STAGE_MARK, ago, log_text, result_text, shown, status_text
from tui.screens.base import COMMON_KEYS, TASK_ACTION_KEYS, TASK_ACTIONS, DockhandScreen, allowed_actions

LOG_WINDOW = 5000  # lines kept on screen; a longer log is opened at its end and searched in the store
LOG_BATCH = 5000  # new lines fetched per poll at most


class TaskActivity(Message):
    """What a poll read: new log lines (id, text as shown) and how far the log and the events were read."""

    def __init__(self, *, lines: list[tuple[int, str]], after_log: int, after_event: int) -> None:
        super().__init__()
        self.lines = lines
        self.after_log = after_log
        self.after_event = after_event


class TaskScreen(DockhandScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        *TASK_ACTION_KEYS,
        Binding("p", "pick_attempt", "Pick attempt"),
        Binding("f", "follow", "Follow log"),
        Binding("slash", "search", "Search log"),
        *COMMON_KEYS,
    ]

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        self.status: TaskStatus | None = None
        self.after_log = 0
        self.after_event = 0
        self._reading = False  # a poll's read is under way
        self.others: list[int] = []  # attempts a person may publish instead of the one offered
        self.picks = 0  # how often another attempt was offered (the next press offers the next one)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="detail"):
            yield Static(id="summary")
            yield Static(id="stages")
            yield Static(id="result")
        yield Input(placeholder="search the whole log (Enter)", id="log-search")
        yield Static(id="matches")
        yield Log(id="log", max_lines=LOG_WINDOW, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        lines = self.tui.core.logs.last(self.task_id, LOG_WINDOW)
        if lines:
            self.after_log = lines[-1].id
        self.query_one(Log).write_lines([self._text(line) for line in lines])
        self.refresh_detail()
        self.set_interval(min(self.tui.poll_seconds, 0.5), self.poll)

    def poll(self) -> None:
        """Read new log lines and events in a worker thread; they come back as a `TaskActivity` message."""
        if self._reading:
            return
        self._reading = True
        self._fetch(self.after_log, self.after_event)

    @work(thread=True, group="task-poll", exit_on_error=False)
    def _fetch(self, after_log: int, after_event: int) -> None:
        try:
            lines = self.tui.core.logs.tail(self.task_id, after_id=after_log, limit=LOG_BATCH)
            events = self.tui.core.journal.events(self.task_id, after_id=after_event)
        except Exception:  # the store away for a moment: read again at the next poll
            lines, events = [], []
        self.post_message(TaskActivity(lines=[(line.id, self._text(line)) for line in lines],
                                       after_log=lines[-1].id if lines else after_log,
                                       after_event=events[-1].id if events else after_event))  # fmt: skip

    def on_task_activity(self, message: TaskActivity) -> None:
        self._reading = False
        fresh = [text for line_id, text in message.lines if line_id > self.after_log]  # reads may overlap
        if fresh:
            self.query_one(Log).write_lines(fresh)
        self.after_log = max(self.after_log, message.after_log)
        if message.after_event > self.after_event:
            self.after_event = message.after_event
            self.refresh_detail()

    def _text(self, line: Any) -> str:
        # Lines stored before redaction existed (or before a secret was known) are hidden on screen too.
        return self.tui.core.redactor.text(log_text(line))

    def refresh_detail(self) -> None:
        try:
            task = shown(self.tui.core, self.tui.core.task(self.task_id))
        except DockhandError as exc:
            self.query_one("#summary", Static).update(str(exc))
            return
        now = self.tui.clock()
        header = Text.assemble(
            (f"{task.type.value} ", "bold"),
            f"{task.id} · {task.trigger_ref or task.repository or ''} · ",
            status_text(task.status),
            f" · by {task.trigger_source.value}:{task.triggered_by or '-'} · attempt {task.attempt}",
            f" · {ago((now - task.created_at).total_seconds())} ago",
            f" · waits for {task.waits_for}" if task.waits_for and task.status is TaskStatus.PENDING else "",
        )
        self.query_one("#summary", Static).update(header)
        stages = self.tui.core.stages.list(self.task_id)
        timeline = Text()
        for stage in stages:
            took = f" {stage.duration_seconds:.1f}s" if stage.duration_seconds is not None else ""
            timeline.append(f"{STAGE_MARK[stage.status]} {stage.name}{took}   ")
        self.query_one("#stages", Static).update(timeline)
        self.query_one("#result", Static).update(result_text(task))
        others = other_attempts(task) if task.status is TaskStatus.AWAITING_APPROVAL else []
        if task.status is not self.status or others != self.others:
            self.status, self.others = task.status, others
            self.refresh_bindings()  # the footer offers what the task's status allows

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "pick_attempt":
            return bool(self.others)
        return action in allowed_actions(self.status) if action in TASK_ACTIONS else True

    def action_follow(self) -> None:
        log = self.query_one(Log)
        log.auto_scroll = not log.auto_scroll
        if log.auto_scroll:
            log.scroll_end(animate=False)
        self.notify("following the log" if log.auto_scroll else "not following the log")

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.add_class("shown")
        box.focus()

    @on(Input.Submitted, "#log-search")
    def _search(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        self.query_one("#matches", Static).update(Text(f"searching for {text!r}…" if text else ""))
        self.query_one(Log).focus()
        if text:  # a search through a million lines takes a moment: off the UI's thread
            self.run_worker(lambda: self._run_search(text), thread=True, exclusive=True, group="log-search")

    def _run_search(self, text: str) -> None:
        matches = self.tui.core.logs.search(self.task_id, text)
        shown = "\n".join(f"{m.id:>9}  {m.line[:200]}" for m in matches[:50])
        summary = f"{len(matches)}{'+' if len(matches) >= 500 else ''} lines match {text!r}"
        self.app.call_from_thread(self.query_one("#matches", Static).update, Text(f"{summary}\n{shown}"))

    def action_approve(self) -> None:
        self.tui.decide(self.task_id, approve=True)

    def action_reject(self) -> None:
        self.tui.decide(self.task_id, approve=False)

    def action_pick_attempt(self) -> None:
        """Publish another of the task's attempts: each press offers the next one there is."""
        others = self.others
        if not others:
            return
        self.picks += 1
        self.tui.decide(self.task_id, approve=True, attempt=others[(self.picks - 1) % len(others)])

    def action_cancel(self) -> None:
        self.tui.cancel_task(self.task_id)

    def action_retry(self) -> None:
        self.tui.retry_task(self.task_id)
