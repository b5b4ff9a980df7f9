"""The task board: every task, filtered, sorted and searched, with its actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Select, Static

from core.states import TaskStatus, TaskType
from tui.board import PAGE, Board, Counts, Filter, TaskRow
from tui.format import ago, status_text
from tui.screens.base import COMMON_KEYS, TASK_ACTION_KEYS, TASK_ACTIONS, DockhandScreen, allowed_actions

SORTS = ("newest", "status", "repository", "duration")
SEARCH_DELAY = 0.25
# More rows than a terminal shows: painted first, the rest of the page added once they are on screen (the table
# measures every row it holds before its first paint).
FIRST_PAINT_ROWS = 100
_ROW_ACTIONS = frozenset({"open", "approve", "reject", "cancel", "retry"})


class BoardChanged(Message):
    """What a poll read: the rows that changed, and the header's counts."""

    def __init__(
        self, *, rows: list[TaskRow], counts: Counts | None, seen_until: datetime | None, generation: int
    ) -> None:
        super().__init__()
        self.rows = rows
        self.counts = counts  # None: the read failed
        self.seen_until = seen_until  # where the next read starts
        self.generation = generation


class MainScreen(DockhandScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", show=True),
        *TASK_ACTION_KEYS,
        Binding("o", "sort", "Sort"),
        Binding("slash", "search", "Search"),
        Binding("escape", "clear", "Clear filters"),
        Binding("u", "audit", "Audit"),
        Binding("s", "schedules", "Schedules"),
        Binding("x", "sandboxes", "Sandboxes"),
        Binding("w", "workers", "Workers"),
        *COMMON_KEYS,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = Filter()
        self.rows: Board = Board()
        self.sort_index = 0
        self._shown: dict[tuple[str, str], str] = {}
        self._search_timer: Any = None
        self._generation = 0  # which reload the rows on screen came from
        self._reading = False  # a poll's read is under way
        self._filling = False  # the rest of a reloaded page is still to be added

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
        self._generation += 1
        self.rows = self.tui.board.load(self.filter)
        table = self.query_one(DataTable)
        table.clear()
        self._shown.clear()
        rows = list(self.rows.rows.values())
        # Newest first is the page's own order, so its first rows are the first on screen; another sort needs
        # them all to know which come first.
        first = FIRST_PAINT_ROWS if SORTS[self.sort_index] == "newest" else len(rows)
        self._add_rows(rows[:first])
        self._sort()
        self._counts()
        self._filling = len(rows) > first
        if self._filling:
            self.call_after_refresh(self._add_rest, rows[first:], self._generation)

    def _add_rest(self, rows: list[TaskRow], generation: int) -> None:
        """The page's other rows, after its first ones were painted (unless a reload replaced the page)."""
        if generation != self._generation:
            return
        selected = self._selected()
        self._add_rows(rows)
        self._sort()
        self._keep_cursor(selected)
        self._filling = False

    def _add_rows(self, rows: list[TaskRow]) -> None:
        table = self.query_one(DataTable)
        now = self.tui.clock()
        for row in rows:
            table.add_row(*self._cells(row, now), key=row.id)

    def poll(self) -> None:
        """Read what changed in a worker thread (the store may be slow: the screen never waits for it); the
        rows come back as a `BoardChanged` message. One read at a time, on a copy of the board: the screen
        changes its rows while the read runs."""
        if self._reading or self._filling:  # changes are placed among all the page's rows
            return
        self._reading = True
        snapshot = Board(rows=dict(self.rows.rows), seen_until=self.rows.seen_until)
        self._fetch(snapshot, self.filter, self._generation)

    @work(thread=True, group="board-poll", exit_on_error=False)
    def _fetch(self, board: Board, flt: Filter, generation: int) -> None:
        try:
            rows = self.tui.board.changes(board, flt)
            counts = self.tui.board.counts(self.tui.clock())
        except Exception as exc:  # the store away for a moment: say so, and read again at the next poll
            self.post_message(BoardChanged(rows=[], counts=None, seen_until=None, generation=generation))
            self.app.call_from_thread(self.notify, f"cannot read the store: {exc}", severity="error")
            return
        self.post_message(BoardChanged(rows=rows, counts=counts, seen_until=board.seen_until, generation=generation))

    def on_board_changed(self, message: BoardChanged) -> None:
        """New rows added, changed ones updated, nothing reloaded (rows read for a filter since replaced
        are dropped: the reload read afresh)."""
        self._reading = False
        if message.generation != self._generation or message.counts is None:
            return
        self.rows.seen_until = message.seen_until
        table = self.query_one(DataTable)
        now = self.tui.clock()
        selected = self._selected()
        added = removed = False
        for row in message.rows:
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
        for row in self.rows.rows.values():  # the clocks, where their text changed: every age ticks, and the
            self._set_if_changed(row.id, "age", ago((now - row.created_at).total_seconds()))  # duration of
            if not row.status.is_final:  # what is still going
                self._set_if_changed(row.id, "duration", self._duration(row, now))
        if added:
            self._trim()
            self._sort()
        if added or removed:
            self._keep_cursor(selected)
        self._show_counts(message.counts)

    def _set_if_changed(self, row_id: str, column: str, text: str) -> None:
        key = (row_id, column)
        if self._shown.get(key) != text:
            self._shown[key] = text
            self.query_one(DataTable).update_cell(row_id, column, Text(text))

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
        # Text, not str: a str cell is parsed as markup (the first paint's largest cost, and `[main]` is no markup).
        # The id stays a str: sorting by creation time looks rows up by it.
        return (
            row.id,
            Text(row.type.value),
            Text(row.repository),
            Text(row.trigger),
            status_text(row.status),
            Text(row.stage),
            Text(ago((now - row.created_at).total_seconds())),
            Text(self._duration(row, now)),
        )

    @staticmethod
    def _duration(row: TaskRow, now: datetime) -> str:
        took = row.duration(now)
        return "" if took is None else ago(took)

    def _counts(self) -> None:
        self._show_counts(self.tui.board.counts(self.tui.clock()))

    def _show_counts(self, counts: Counts) -> None:
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
            table.sort("repository", key=lambda text: str(text))
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
        """Row actions only while the table has the focus (a key meant for a filter never acts on a task), and a
        task's actions only when its status allows them (the others are not offered)."""
        if action in _ROW_ACTIONS and not isinstance(self.focused, DataTable):
            return False
        if action in TASK_ACTIONS:
            return action in allowed_actions(self._selected_status())
        return True

    def _selected_status(self) -> TaskStatus | None:
        row = self.rows.rows.get(self._selected() or "")
        return row.status if row is not None else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.refresh_bindings()  # the footer offers what the highlighted task allows

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return str(key) if key is not None else None

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self._open(str(event.row_key.value))

    def action_open(self) -> None:
        task_id = self._selected()
        if task_id:
            self._open(task_id)

    # The other screens are imported when first opened: the first rows do not wait for their modules.
    def _open(self, task_id: str) -> None:
        from tui.screens.task import TaskScreen

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

    def action_schedules(self) -> None:
        from tui.screens.schedules import SchedulesScreen

        self.app.push_screen(SchedulesScreen())

    def action_sandboxes(self) -> None:
        from tui.screens.sandboxes import SandboxesScreen

        self.app.push_screen(SandboxesScreen())

    def action_workers(self) -> None:
        from tui.screens.workers import WorkersScreen

        self.app.push_screen(WorkersScreen())

    def action_audit(self) -> None:
        from tui.screens.audit import AuditScreen

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
