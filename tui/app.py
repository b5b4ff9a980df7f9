"""`dockhand tui`: a Textual monitor of live tasks, their stages and logs, with approve, reject, cancel, retry.

It reads the same store as `dockhand serve` (polling incrementally: changed tasks by `updated_at`, new
log lines by id) and acts through `Core`, so what it does takes effect in the running service: an
approval queues the task for the service's workers, a cancel is seen on their next heartbeat.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Input, Log, RichLog, Select, Static

from core.errors import DockhandError
from core.models import Task, utcnow
from core.pipelines.issue_resolution import stored_diff
from core.service import Core
from core.states import StageStatus, TaskStatus, TaskType
from tui.board import PAGE, Board, Filter, TaskBoard, TaskRow

Clock = Callable[[], datetime]
NO_DIFF = "(the change is not on this host)"
LOG_WINDOW = 5000  # lines kept on screen; a longer log is opened at its end and searched in the store
LOG_BATCH = 5000  # new lines fetched per poll at most

STATUS_STYLE = {
    TaskStatus.PENDING: "yellow",
    TaskStatus.RUNNING: "bold cyan",
    TaskStatus.AWAITING_APPROVAL: "bold magenta",
    TaskStatus.SUCCEEDED: "green",
    TaskStatus.FAILED: "bold red",
    TaskStatus.CANCELLED: "dim",
}
STAGE_MARK = {
    StageStatus.PENDING: "·",
    StageStatus.RUNNING: "▶",
    StageStatus.SUCCEEDED: "✔",
    StageStatus.FAILED: "✘",
    StageStatus.SKIPPED: "↷",
    StageStatus.CANCELLED: "⊘",
    StageStatus.WAITING: "✋",
}
SORTS = ("newest", "status", "repository", "duration")
SEARCH_DELAY = 0.25
_ROW_ACTIONS = frozenset({"open", "approve", "reject", "cancel", "retry"})


def ago(seconds: float) -> str:
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def status_text(status: TaskStatus) -> Text:
    return Text(status.value, style=STATUS_STYLE[status])


class DockhandTui(App[None]):
    TITLE = "dockhand"
    CSS = """
    #counts { height: 1; padding: 0 1; background: $boost; }
    #banner { height: auto; padding: 0 1; color: $warning; }
    #filters { height: 3; }
    #filters Input { width: 1fr; }
    #filters Select { width: 24; }
    #tasks { height: 1fr; }
    #summary, #stages, #result { height: auto; padding: 0 1; }
    #detail { height: auto; max-height: 50%; }
    #log { height: 1fr; border: round $primary; }
    #log-search { display: none; }
    #log-search.shown { display: block; }
    #matches { height: auto; max-height: 10; padding: 0 1; }
    DiffScreen, ConfirmScreen { align: center middle; }
    #confirm-dialog { width: 60; height: 9; border: thick $error; background: $surface; padding: 1 2; }
    #dialog { width: 90%; height: 85%; border: thick $primary; background: $surface; padding: 0 1; }
    #diff { height: 1fr; }
    #buttons { height: 3; align-horizontal: right; }
    """

    def __init__(
        self,
        core: Core,
        *,
        clock: Clock = utcnow,
        poll_seconds: float = 1.0,
        notice: str = "",
        user: str | None = None,
    ) -> None:
        super().__init__()
        self.core = core
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.notice = notice
        self.user = user or _whoami()
        self.board = TaskBoard(core)

    def on_mount(self) -> None:
        self.push_screen(MainScreen())

    # --- actions shared by both screens ----------------------------------------------------------
    def decide(self, task_id: str, approve: bool) -> None:
        """Show the change, then approve or reject it through the core."""
        try:
            task = self.core.task(task_id)
        except DockhandError as exc:
            self.notify(str(exc), severity="error")
            return
        if task.status is not TaskStatus.AWAITING_APPROVAL:
            self.notify(f"task {task_id} is {task.status.value}, not waiting for approval", severity="warning")
            return

        def chosen(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                if approve:
                    self.core.approve(task_id, by=f"{self.user} (TUI)", source="tui")
                else:
                    self.core.reject(task_id, by=f"{self.user} (TUI)", source="tui")
            except DockhandError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"task {task_id} {'approved' if approve else 'rejected'}")

        diff = self.core.redactor.text(stored_diff(self.core.settings.artifacts_dir, task_id) or NO_DIFF)
        self.push_screen(DiffScreen(shown(self.core, task), diff, approve=approve), chosen)

    def cancel_task(self, task_id: str) -> None:
        """Ask first, then cancel through the core."""

        def chosen(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                task = self.core.cancel(task_id, by=f"{self.user} (TUI)", source="tui")
            except DockhandError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"task {task_id} {'cancelled' if task.status is TaskStatus.CANCELLED else 'stopping'}")

        self.push_screen(ConfirmScreen(f"Cancel task {task_id}?"), chosen)

    def retry_task(self, task_id: str) -> None:
        try:
            task = self.core.retry(task_id, by=f"{self.user} (TUI)")
        except DockhandError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"task {task_id} queued again as {task.id}")


class DockhandScreen(Screen[None]):
    """A screen of the dockhand app, with typed access to it (its core, clock and actions)."""

    @property
    def tui(self) -> DockhandTui:
        assert isinstance(self.app, DockhandTui)
        return self.app


class MainScreen(DockhandScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        Binding("a", "approve", "Approve"),
        Binding("x", "reject", "Reject"),
        Binding("c", "cancel", "Cancel"),
        Binding("t", "retry", "Retry"),
        Binding("o", "sort", "Sort"),
        Binding("slash", "search", "Search"),
        Binding("escape", "clear", "Clear filters"),
        Binding("u", "audit", "Audit"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = Filter()
        self.rows: Board = Board()
        self.sort_index = 0
        self._shown: dict[tuple[str, str], str] = {}
        self._search_timer: Any = None

    def compose(self) -> ComposeResult:
        yield Static(id="counts")
        if self.tui.notice:
            yield Static(self.tui.notice, id="banner")
        with Horizontal(id="filters"):
            yield Input(placeholder="search: id, repository, issue", id="search")
            yield Select([(s.value, s) for s in TaskStatus], prompt="any status", id="status")
            yield Select([(t.value, t) for t in TaskType], prompt="any type", id="type")
            yield Input(placeholder="repository", id="repository")
        yield DataTable(id="tasks", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("ID", "Type", "Repository", "Trigger", "Status", "Stage", "Age", "Duration"):
            table.add_column(label, key=label.lower())
        self.reload()
        self.set_interval(self.tui.poll_seconds, self.poll)
        table.focus()

    # --- data ---------------------------------------------------------------------------------
    def reload(self) -> None:
        """The first page for the current filter (on start and when the filter changes)."""
        self.rows = self.tui.board.load(self.filter)
        table = self.query_one(DataTable)
        table.clear()
        self._shown.clear()
        now = self.tui.clock()
        for row in self.rows.rows.values():
            table.add_row(*self._cells(row, now), key=row.id)
        self._sort()
        self._counts()

    def poll(self) -> None:
        """What changed since the last poll: new rows added, changed ones updated, nothing reloaded."""
        table = self.query_one(DataTable)
        now = self.tui.clock()
        selected = self._selected()
        added = removed = False
        for row in self.tui.board.changes(self.rows, self.filter):
            present = self.rows.rows.get(row.id)
            if not self.filter.matches(row):
                if present is not None:
                    del self.rows.rows[row.id]
                    table.remove_row(row.id)
                    removed = True
                continue
            if present == row:
                continue  # seen again in the overlap window, unchanged
            self.rows.rows[row.id] = row
            if present is not None:
                for key, value in zip(_COLUMNS, self._cells(row, now), strict=True):
                    table.update_cell(row.id, key, value)
            else:
                table.add_row(*self._cells(row, now), key=row.id)
                added = True
        for row in self.rows.rows.values():  # the clocks of what is still going, where the text changed
            if not row.status.is_final:
                self._set_if_changed(row.id, "age", ago((now - row.created_at).total_seconds()))
                self._set_if_changed(row.id, "duration", self._duration(row, now))
        if added:
            self._trim()
            self._sort()
        if added or removed:
            self._keep_cursor(selected)
        self._counts()

    def _set_if_changed(self, row_id: str, column: str, text: str) -> None:
        key = (row_id, column)
        if self._shown.get(key) != text:
            self._shown[key] = text
            self.query_one(DataTable).update_cell(row_id, column, text)

    def _trim(self) -> None:
        """Keep the table to two pages: the oldest finished rows go (the filter brings them back)."""
        extra = len(self.rows.rows) - 2 * PAGE
        if extra <= 0:
            return
        table = self.query_one(DataTable)
        oldest = sorted((r for r in self.rows.rows.values() if r.status.is_final), key=lambda r: r.created_at)
        for row in oldest[:extra]:
            del self.rows.rows[row.id]
            table.remove_row(row.id)

    def _keep_cursor(self, task_id: str | None) -> None:
        """After rows moved, the cursor stays on the task it was on (actions must not hit another one)."""
        if task_id is not None and task_id in self.rows.rows:
            table = self.query_one(DataTable)
            table.move_cursor(row=table.get_row_index(task_id), animate=False)

    def _cells(self, row: TaskRow, now: datetime) -> tuple[Any, ...]:
        return (
            row.id,
            row.type.value,
            row.repository,
            row.trigger,
            status_text(row.status),
            row.stage,
            ago((now - row.created_at).total_seconds()),
            self._duration(row, now),
        )

    @staticmethod
    def _duration(row: TaskRow, now: datetime) -> str:
        took = row.duration(now)
        return "" if took is None else ago(took)

    def _counts(self) -> None:
        counts = self.tui.board.counts(self.tui.clock())
        text = (
            f"running {counts.running} · queued {counts.queued} · awaiting approval {counts.awaiting_approval} · "
            f"failed (24 h) {counts.failed_24h} · sandboxes {counts.sandboxes} · sorted by {SORTS[self.sort_index]}"
        )
        self.query_one("#counts", Static).update(text)

    def _sort(self) -> None:
        table = self.query_one(DataTable)
        rows = self.rows.rows
        by = SORTS[self.sort_index]
        if by == "newest":
            table.sort("id", key=lambda task_id: rows[task_id].created_at, reverse=True)
        elif by == "status":
            table.sort("status", key=lambda text: str(text))
        elif by == "repository":
            table.sort("repository")
        else:
            now = self.tui.clock()
            table.sort("id", key=lambda task_id: rows[task_id].duration(now) or 0.0, reverse=True)

    # --- filters ------------------------------------------------------------------------------
    @on(Input.Changed, "#search")
    def _search_changed(self, event: Input.Changed) -> None:
        # Typing is debounced: the store is asked once the typing pauses, not on every key.
        if self._search_timer is not None:
            self._search_timer.stop()
        text = event.value.strip()
        self._search_timer = self.set_timer(SEARCH_DELAY, lambda: self._set_filter(search=text))

    @on(Input.Changed, "#repository")
    def _repository_changed(self, event: Input.Changed) -> None:
        self._set_filter(repository=event.value.strip())

    @on(Select.Changed, "#status")
    def _status_changed(self, event: Select.Changed) -> None:
        value = event.value
        self._set_filter(statuses=(value,) if isinstance(value, TaskStatus) else ())

    @on(Select.Changed, "#type")
    def _type_changed(self, event: Select.Changed) -> None:
        value = event.value
        self._set_filter(types=(value,) if isinstance(value, TaskType) else ())

    def _set_filter(self, **changes: Any) -> None:
        updated = Filter(**{**self.filter.__dict__, **changes})
        if updated != self.filter:
            self.filter = updated
            self.reload()

    @on(Input.Submitted)
    def _back_to_table(self) -> None:
        self.query_one(DataTable).focus()

    # --- actions ------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Row actions only while the table has the focus: a key meant for a filter never acts on a task."""
        if action in _ROW_ACTIONS:
            return isinstance(self.focused, DataTable)
        return True

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(TaskScreen(str(event.row_key.value)))

    def action_open(self) -> None:
        task_id = self._selected()
        if task_id:
            self.app.push_screen(TaskScreen(task_id))

    def action_approve(self) -> None:
        if task_id := self._selected():
            self.tui.decide(task_id, approve=True)

    def action_reject(self) -> None:
        if task_id := self._selected():
            self.tui.decide(task_id, approve=False)

    def action_cancel(self) -> None:
        if task_id := self._selected():
            self.tui.cancel_task(task_id)

    def action_retry(self) -> None:
        if task_id := self._selected():
            self.tui.retry_task(task_id)

    def action_sort(self) -> None:
        selected = self._selected()
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self._sort()
        self._keep_cursor(selected)
        self._counts()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_audit(self) -> None:
        self.app.push_screen(AuditScreen())

    def action_clear(self) -> None:
        self.query_one("#search", Input).value = ""
        self.query_one("#repository", Input).value = ""
        self.query_one("#status", Select).clear()
        self.query_one("#type", Select).clear()
        self.filter = Filter()
        self.reload()
        self.query_one(DataTable).focus()


_COLUMNS = ("id", "type", "repository", "trigger", "status", "stage", "age", "duration")


class TaskScreen(DockhandScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("a", "approve", "Approve"),
        Binding("x", "reject", "Reject"),
        Binding("c", "cancel", "Cancel"),
        Binding("t", "retry", "Retry"),
        Binding("f", "follow", "Follow log"),
        Binding("slash", "search", "Search log"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, task_id: str) -> None:
        super().__init__()
        self.task_id = task_id
        self.after_log = 0
        self.after_event = 0

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
        lines = self.tui.core.logs.tail(self.task_id, after_id=self.after_log, limit=LOG_BATCH)
        if lines:
            self.after_log = lines[-1].id
            self.query_one(Log).write_lines([self._text(line) for line in lines])
        events = self.tui.core.journal.events(self.task_id, after_id=self.after_event)
        if events:
            self.after_event = events[-1].id
            self.refresh_detail()

    def _text(self, line: Any) -> str:
        # Lines stored before redaction existed (or before a secret was known) are hidden on screen too.
        return self.tui.core.redactor.text(_log_text(line))

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
        )
        self.query_one("#summary", Static).update(header)
        stages = self.tui.core.stages.list(self.task_id)
        timeline = Text()
        for stage in stages:
            took = f" {stage.duration_seconds:.1f}s" if stage.duration_seconds is not None else ""
            timeline.append(f"{STAGE_MARK[stage.status]} {stage.name}{took}   ")
        self.query_one("#stages", Static).update(timeline)
        self.query_one("#result", Static).update(result_text(task))

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

    def action_cancel(self) -> None:
        self.tui.cancel_task(self.task_id)

    def action_retry(self) -> None:
        self.tui.retry_task(self.task_id)


class AuditScreen(DockhandScreen):
    """Who triggered, approved, rejected or cancelled what, and every refusal — newest first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("Audit trail (newest first)", id="counts")
        yield DataTable(id="audit", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("When", "Who", "From", "Action", "Target", "Outcome", "Detail"):
            table.add_column(label, key=label.lower())
        for entry in self.tui.core.audit.recent(500):
            outcome = Text(entry.outcome, style="green" if entry.outcome == "done" else "bold red")
            table.add_row(
                entry.at.strftime("%Y-%m-%d %H:%M:%S"),
                entry.actor,
                entry.source,
                entry.action,
                entry.target,
                outcome,
                entry.detail[:80],
            )
        table.focus()


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "yes", "Yes"), Binding("escape,n", "no", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(self.question)
            with Horizontal(id="buttons"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def action_no(self) -> None:
        self.dismiss(False)


class DiffScreen(ModalScreen[bool]):
    """The change a task wants to publish, and the decision."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("y", "confirm", "Confirm"),
    ]

    def __init__(self, task: Task, diff: str, *, approve: bool) -> None:
        super().__init__()
        self.task_ = task
        self.diff = diff
        self.approve = approve

    def compose(self) -> ComposeResult:
        draft = (self.task_.result or {}).get("pull_request_draft") or {}
        verb = "Approve" if self.approve else "Reject"
        with Vertical(id="dialog"):
            yield Static(Text(f"{verb} task {self.task_.id}: {draft.get('title', '')}", style="bold"))
            yield Static(result_text(self.task_))
            yield RichLog(id="diff", highlight=False, markup=False, wrap=False)
            with Horizontal(id="buttons"):
                yield Button(f"{verb} (y)", id="decide", variant="success" if self.approve else "error")
                yield Button("Back (esc)", id="back")

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        for line in self.diff.splitlines() or ["(empty change)"]:
            log.write(diff_line(line))
        self.query_one("#back", Button).focus()

    @on(Button.Pressed, "#decide")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        self.dismiss(False)


_DIFF_STYLES = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"), ("diff ", "bold"))


def diff_line(line: str) -> Text:
    """A line of a unified diff, coloured as `git diff` colours it."""
    style = next((style for prefix, style in _DIFF_STYLES if line.startswith(prefix)), "")
    return Text(line, style=style)


def result_text(task: Task) -> Text:
    """The result for people: tests, coverage, the change, the PR, tokens and cost, or the error."""
    result = task.result or {}
    text = Text()
    tests = result.get("tests") or (result if result.get("projects") else {})
    for project in tests.get("projects") or []:
        totals = project.get("totals") or {}
        cov = project.get("coverage_percent")
        text.append(
            f"tests {project['language']} {project['root']}: {project['status']}, {totals.get('passed', 0)} passed, "
            f"{totals.get('failed', 0)} failed" + (f", coverage {cov:.1f}%" if cov is not None else "") + "\n"
        )
    change = result.get("change")
    if change:
        text.append(f"change: {change['files']} files, +{change['insertions']} -{change['deletions']}\n")
    agent = result.get("agent") or (task.metrics or {}).get("agent")
    if agent:
        usage = agent.get("usage") or {}
        text.append(
            f"agent: {agent.get('turns', 0)} turns, ${agent.get('cost_usd', 0):.4f}; tokens in "
            f"{usage.get('input_tokens', 0)}, out {usage.get('output_tokens', 0)}, cache read "
            f"{usage.get('cache_read_input_tokens', 0)}, cache write {usage.get('cache_creation_input_tokens', 0)}\n"
        )
    pull = result.get("pull_request")
    if pull:
        text.append(f"PR: {pull['pull_url']} ({pull['branch']})\n", style="bold green")
    review = result.get("review")
    if review:
        text.append(f"review posted: {review['comments']} line comments, {review['in_body']} in its body\n")
    if task.error and task.status is not TaskStatus.SUCCEEDED:
        text.append(f"error: {task.error[:1000]}\n", style="red")
    return text


def shown(core: Core, task: Task) -> Task:
    """A task as the screen shows it: its error and result with secrets redacted (a copy; the store is untouched)."""
    copy = task.model_copy()
    copy.error = core.redactor.text(task.error) if task.error else task.error
    copy.result = core.redactor.value(task.result) if task.result else task.result
    return copy


def _log_text(line: Any) -> str:
    return line.line if line.stream.value in ("stdout", "stderr") else f"[{line.stream.value}] {line.line}"


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "tui"
