"""The TUI driven with Textual's pilot over a real store filled through the core, plus SVG snapshots."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from textual.widgets import Button, DataTable, Log, RichLog, Select, Static

from core.errors import ApprovalRequired
from core.pipeline import Pipeline, PipelineRegistry, Stage, StageContext, artifact_store
from core.pipelines import custom
from core.service import Core
from core.specs import TaskSubmission
from core.states import LogStream, TaskStatus, TaskType
from core.store.queue_types import TaskFilter
from tui.app import DockhandTui
from tui.screens.dialogs import DiffScreen
from tui.screens.main import FIRST_PAINT_ROWS, MainScreen
from tui.screens.task import TaskScreen
from tui.screens.workers import WorkersScreen

DIFF = (
    "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-    return a - b\n+    return a + b\n"
)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def registry() -> PipelineRegistry:
    """`custom` as shipped (commands on the host in tests); `test-pipeline` stands in for a gated pipeline."""

    def work(ctx: StageContext) -> None:
        for i in range(3):
            ctx.log.write(f"working {i}")
        ctx.result["change"] = {"files": 1, "insertions": 1, "deletions": 1}
        artifact_store(ctx).put(ctx.task.id, "change.diff", DIFF.encode())

    def gate(ctx: StageContext) -> None:
        raise ApprovalRequired("calc.py +1 -1", expires_in_seconds=3600)

    made = PipelineRegistry()
    made.register(TaskType.CUSTOM, custom.pipeline())
    made.register(
        TaskType.TEST_PIPELINE,
        Pipeline(name="gated", stages=(Stage("work", work), Stage("approval", gate), Stage("publish", lambda c: None))),
    )
    return made


def submit(core: Core, task_type: TaskType = TaskType.CUSTOM, **payload: Any) -> str:
    if task_type is TaskType.CUSTOM:
        payload = payload or {"command": "echo hi"}
    return core.submit(
        TaskSubmission(type=task_type, payload=payload, repository="acme/calc", triggered_by="alice", max_retries=0)
    ).task.id


@pytest.fixture
def core(core_factory: Callable[..., Core]) -> Core:
    return core_factory(registry=registry())


@pytest.fixture
def filled(core: Core) -> dict[str, str]:
    ids = {
        "ok": submit(core, command="echo done"),
        "broken": submit(core, command="echo oops >&2; exit 3"),
        "gated": submit(core, TaskType.TEST_PIPELINE),
        "queued": submit(core, command="sleep 1"),
    }
    for key in ("ok", "broken", "gated"):
        core.run_now(ids[key])
    assert core.task(ids["gated"]).status is TaskStatus.AWAITING_APPROVAL
    return ids


def table_ids(app: DockhandTui) -> list[str]:
    table = app.screen.query_one(DataTable)
    return [str(table.coordinate_to_cell_key((row, 0)).row_key.value) for row in range(table.row_count)]


async def until(pilot: Any, probe: Callable[[], object], *, timeout: float = 10.0) -> None:
    """Let the app run until `probe()` holds (its pollers read the store in threads: how soon depends on load)."""
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {probe}"
        await pilot.pause(0.05)


def select_row(app: DockhandTui, task_id: str) -> None:
    table = app.screen.query_one(DataTable)
    table.move_cursor(row=table.get_row_index(task_id))


@pytest.mark.anyio
async def test_main_screen_lists_counts_filters_and_follows_new_tasks(core: Core, filled: dict[str, str]) -> None:
    app = DockhandTui(core, poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert set(table_ids(app)) == set(filled.values())
        counts = str(app.screen.query_one("#counts", Static).render())
        assert "queued 1" in counts and "awaiting approval 1" in counts and "failed (24 h) 1" in counts
        # A task submitted elsewhere (the service, the CLI) appears without a reload.
        late = submit(core, command="echo late")
        await until(pilot, lambda: late in table_ids(app))
        assert len(table_ids(app)) == 5
        # Filters: status…
        app.screen.query_one("#status", Select).value = TaskStatus.FAILED
        await pilot.pause()
        assert table_ids(app) == [filled["broken"]]
        # …and free-text search, typed.
        app.screen.query_one("#status", Select).clear()
        await pilot.press("slash", *filled["gated"][:6])
        await until(pilot, lambda: table_ids(app) == [filled["gated"]])  # the search waits for typing to pause
        await pilot.press("escape")
        await pilot.pause()
        assert len(table_ids(app)) == 5
        # A task that changes status elsewhere is updated in place.
        core.cancel(late, by="someone")
        await until(pilot, lambda: str(app.screen.query_one(DataTable).get_row(late)[4]) == "cancelled")


@pytest.mark.anyio
async def test_approve_shows_the_diff_first_and_reaches_the_core(core: Core, filled: dict[str, str]) -> None:
    app = DockhandTui(core, poll_seconds=0.1, user="carol")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        select_row(app, filled["gated"])
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        assert "return a + b" in "\n".join(line.text for line in app.screen.query_one(RichLog).lines)
        assert str(app.screen.query_one("#decide", Button).label) == "Approve (y)"
        await pilot.press("escape")  # changed my mind: nothing happens
        await pilot.pause()
        assert core.task(filled["gated"]).status is TaskStatus.AWAITING_APPROVAL
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
    assert core.task(filled["gated"]).status is TaskStatus.PENDING
    (approval,) = core.approvals.of(filled["gated"])
    assert approval.decided_by == "carol (TUI)"


@pytest.mark.anyio
async def test_reject_cancel_and_retry_reach_the_core(core: Core, filled: dict[str, str]) -> None:
    app = DockhandTui(core, poll_seconds=0.1, user="carol")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        select_row(app, filled["gated"])
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        select_row(app, filled["queued"])
        await pilot.press("c")
        await pilot.pause()
        await pilot.press("y")  # cancelling asks first
        await pilot.pause()
        select_row(app, filled["broken"])
        await pilot.press("t")
        await until(pilot, lambda: len(table_ids(app)) == 5)  # the retry is a new task, on screen
    assert core.task(filled["gated"]).status is TaskStatus.CANCELLED
    assert "rejected by carol (TUI)" in (core.task(filled["gated"]).error or "")
    assert core.task(filled["queued"]).status is TaskStatus.CANCELLED
    again = [t for t in core.tasks(TaskFilter()) if t.triggered_by == "carol (TUI)"]
    assert len(again) == 1 and again[0].payload == core.task(filled["broken"]).payload


@pytest.mark.anyio
async def test_the_cursor_stays_on_its_task_and_filters_never_act(core: Core, filled: dict[str, str]) -> None:
    app = DockhandTui(core, poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        select_row(app, filled["queued"])
        for _ in range(3):  # newer tasks arrive above it
            submit(core, command="echo more")
        await until(pilot, lambda: len(table_ids(app)) == 7)
        table = app.screen.query_one(DataTable)
        assert str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value) == filled["queued"]
        # With a filter focused, the action keys are not actions.
        app.screen.query_one("#status", Select).focus()
        await pilot.press("c", "t", "a")
        await pilot.pause(0.3)
        assert isinstance(app.screen, MainScreen)
        assert core.task(filled["queued"]).status is TaskStatus.PENDING and len(table_ids(app)) == 7


@pytest.mark.anyio
async def test_task_screen_follows_the_log_and_searches_it(core: Core, filled: dict[str, str]) -> None:
    task_id = filled["queued"]
    core.logs.append(task_id, [(LogStream.STDOUT, f"line {i}") for i in range(20_000)])
    app = DockhandTui(core, poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        select_row(app, task_id)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskScreen)
        log = app.screen.query_one(Log)
        assert log.lines[-1] == "line 19999" and len(log.lines) <= 5000  # opened at the end, bounded
        core.logs.append(task_id, [(LogStream.STDOUT, "a new line"), (LogStream.STDERR, "and an error")])
        await until(pilot, lambda: log.lines[-2:] == ["a new line", "and an error"])
        await pilot.press("slash", *"line 123", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        matches = str(app.screen.query_one("#matches", Static).render())
        assert "111 lines match 'line 123'" in matches and "line 12399" in matches  # the whole log, not the window
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


@pytest.mark.anyio
async def test_task_screen_shows_stages_and_result(core: Core, filled: dict[str, str]) -> None:
    app = DockhandTui(core, poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        app.push_screen(TaskScreen(filled["gated"]))
        await pilot.pause()
        stages = str(app.screen.query_one("#stages", Static).render())
        assert "✔ work" in stages and "✋ approval" in stages and "· publish" in stages
        result = str(app.screen.query_one("#result", Static).render())
        assert "change: 1 files, +1 -1" in result
        app.push_screen(TaskScreen(filled["broken"]))
        await pilot.pause()
        assert "exited with code 3" in str(app.screen.query_one("#result", Static).render())


# --- snapshots ------------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def fixed(core: Core, monkeypatch: pytest.MonkeyPatch) -> Core:
    """Stable IDs and times, so the screens render the same on every run."""
    ids = (f"{n:012x}" for n in itertools.count(0xA1))
    times = (NOW - timedelta(minutes=m) for m in itertools.count(50, -7))
    monkeypatch.setattr("core.store.queue.new_task_id", lambda: next(ids))
    monkeypatch.setattr("core.store.queue.utcnow", lambda: next(times))
    monkeypatch.setattr("core.store.audit.utcnow", lambda: NOW)
    for command in ("make test", "echo deploy", "pytest -x"):
        submit(core, command=command)
    submit(core, TaskType.TEST_PIPELINE)
    core.logs.append("0000000000a1", [(LogStream.STDOUT, f"collected {i} items") for i in range(30)])
    return core


def test_snapshot_main_screen(fixed: Core, snap_compare: Any) -> None:
    assert snap_compare(DockhandTui(fixed, clock=lambda: NOW, poll_seconds=60, user="t"), terminal_size=(120, 24))


def test_snapshot_task_screen(fixed: Core, snap_compare: Any) -> None:
    async def open_first(pilot: Any) -> None:
        await pilot.pause()
        pilot.app.push_screen(TaskScreen("0000000000a1"))
        await pilot.pause()

    app = DockhandTui(fixed, clock=lambda: NOW, poll_seconds=60, user="t")
    assert snap_compare(app, terminal_size=(120, 24), run_before=open_first)


def test_snapshot_diff_dialog(fixed: Core, snap_compare: Any) -> None:
    task = fixed.tasks(TaskFilter(limit=1))[0]
    diff = (
        "diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n"
        " def add(a, b):\n-    return a - b\n+    return a + b\n"
    )

    async def open_dialog(pilot: Any) -> None:
        await pilot.pause()
        pilot.app.push_screen(DiffScreen(task, diff, approve=True))
        await pilot.pause()

    app = DockhandTui(fixed, clock=lambda: NOW, poll_seconds=60, user="t")
    assert snap_compare(app, terminal_size=(120, 24), run_before=open_dialog)


@pytest.mark.anyio
async def test_vim_keys_move_through_the_board_and_question_mark_shows_the_keys(
    core: Core, filled: dict[str, str]
) -> None:
    app = DockhandTui(core, poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        table.focus()
        start = table.cursor_row
        await pilot.press("j")
        assert table.cursor_row == start + 1
        await pilot.press("k")
        assert table.cursor_row == start
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel"), "the key map is shown"


@pytest.mark.anyio
async def test_a_slow_store_does_not_freeze_the_screen(core: Core, filled: dict[str, str]) -> None:
    """Polls read the store in a worker thread: keys are handled while a read waits."""
    app = DockhandTui(core, poll_seconds=0.05)
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        original = app.board.changes

        def slow(board: Any, flt: Any) -> Any:
            entered.set()
            release.wait(5)
            finished.set()
            return original(board, flt)

        app.board.changes = slow  # type: ignore[method-assign]
        for _ in range(100):
            if entered.is_set():
                break
            await pilot.pause(0.05)
        assert entered.is_set(), "a poll ran"
        table = app.screen.query_one(DataTable)
        table.focus()
        start = table.cursor_row
        await pilot.press("j")
        moved, blocked = table.cursor_row == start + 1, not finished.is_set()
        release.set()
        assert moved and blocked, "the key was handled while the store was still being read"


@pytest.mark.anyio
async def test_only_the_actions_a_tasks_status_allows_are_offered(core: Core, filled: dict[str, str]) -> None:
    app = DockhandTui(core, poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        app.screen.query_one(DataTable).focus()

        def offered() -> set[str]:
            return {
                b.binding.action
                for b in app.screen.active_bindings.values()
                if app.screen.check_action(b.binding.action, ())
            } & {"approve", "reject", "cancel", "retry"}

        select_row(app, filled["queued"])
        await pilot.pause()
        assert offered() == {"cancel"}
        await pilot.press("a")  # not offered: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and core.task(filled["queued"]).status is TaskStatus.PENDING
        select_row(app, filled["gated"])
        await pilot.pause()
        assert offered() == {"approve", "reject", "cancel"}
        select_row(app, filled["broken"])
        await pilot.pause()
        assert offered() == {"retry"}


@pytest.mark.anyio
async def test_the_age_of_a_finished_task_keeps_ticking(core: Core, filled: dict[str, str]) -> None:
    now = [core.task(filled["ok"]).created_at + timedelta(minutes=2)]
    app = DockhandTui(core, clock=lambda: now[0], poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        assert str(table.get_cell(filled["ok"], "age")) == "2m"
        now[0] += timedelta(hours=3)
        await until(pilot, lambda: str(table.get_cell(filled["ok"], "age")) == "3.0h")


@pytest.mark.anyio
async def test_the_schedules_view_lists_each_with_its_next_run(core: Core) -> None:
    from core.specs import TaskSubmission
    from tui.screens.schedules import SchedulesScreen

    core.schedules.add(
        "nightly", "0 3 * * *", TaskSubmission(type=TaskType.CUSTOM, payload={"command": "echo nightly"})
    )
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    app = DockhandTui(core, clock=lambda: now, poll_seconds=60)
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SchedulesScreen)
        row = [str(cell) for cell in app.screen.query_one(DataTable).get_row("nightly")]
        assert row == ["nightly", "0 3 * * *", "custom", "-", "yes", "2026-12-07 03:00"]


@pytest.fixture
def audited(fixed: Core) -> Core:
    from core.specs import TaskSubmission
    from core.store.audit import AuditAction, AuditOutcome, AuditRecord

    fixed.audit.record(
        AuditRecord(actor="alice", source="slack", action=AuditAction.APPROVE, target="0000000000a1",
                    outcome=AuditOutcome.DONE)
    )  # fmt: skip
    fixed.audit.record(
        AuditRecord(actor="mallory", source="github", action=AuditAction.TRIGGER, target="acme/api#7",
                    outcome=AuditOutcome.REFUSED, detail="not a collaborator")
    )  # fmt: skip
    fixed.schedules.add("nightly", "0 3 * * *", TaskSubmission(type=TaskType.CUSTOM, payload={"command": "make"}))
    return fixed


@pytest.fixture
def with_sandboxes(fixed: Core, monkeypatch: pytest.MonkeyPatch) -> Core:
    from core.states import SandboxState

    monkeypatch.setattr("core.store.sandboxes.utcnow", lambda: NOW - timedelta(minutes=5))
    fixed.sandbox_records.record(
        "test-0000000000a1-1", container_id="c1", image="dockhand-sandbox:1", state=SandboxState.RUNNING
    )
    fixed.sandbox_records.record("scratch", container_id="c2", image="dockhand-sandbox:1", state=SandboxState.STOPPED)
    return fixed


def test_the_sandboxes_view_names_each_sandboxs_task_attempt(with_sandboxes: Core, snap_compare: Any) -> None:
    async def open_screen(pilot: Any) -> None:
        await pilot.pause()
        await pilot.press("x")
        await pilot.pause()
        table = pilot.app.screen.query_one(DataTable)
        rows = [[str(cell) for cell in table.get_row(key)] for key in ("scratch", "test-0000000000a1-1")]
        assert rows == [
            ["scratch", "-", "stopped", "dockhand-sandbox:1", "5m", "5m ago"],
            ["test-0000000000a1-1", "0000000000a1 (attempt 1)", "running", "dockhand-sandbox:1", "5m", "5m ago"],
        ]

    app = DockhandTui(with_sandboxes, clock=lambda: NOW, poll_seconds=60, user="t")
    assert snap_compare(app, terminal_size=(120, 24), run_before=open_screen)


@pytest.mark.parametrize("key", ["u", "s"], ids=["audit", "schedules"])
def test_snapshot_audit_and_schedules_screens(audited: Core, snap_compare: Any, key: str) -> None:
    async def open_screen(pilot: Any) -> None:
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()

    app = DockhandTui(audited, clock=lambda: NOW, poll_seconds=60, user="t")
    assert snap_compare(app, terminal_size=(120, 24), run_before=open_screen)


@pytest.mark.anyio
async def test_p_on_a_task_with_attempts_publishes_another_one(core_factory: Callable[..., Core]) -> None:
    """A resolution that ran attempts offers `p`: each press shows the next other attempt's diff, y approves it."""

    def attempts(ctx: StageContext) -> None:
        ready = {"status": "ready", "tests": "passed", "insertions": 1, "deletions": 1}
        ctx.result["attempts"] = [{"number": n, **ready} for n in (1, 2, 3)]
        ctx.result["picked"] = {"attempt": 1, "reason": "attempt 1 (tests passed)"}
        for n in (1, 2, 3):
            diff = DIFF.replace("a + b", f"a + b  # attempt {n}")
            artifact_store(ctx).put(ctx.task.id, f"attempt-{n}/change.diff", diff.encode())

    def gate(ctx: StageContext) -> None:
        raise ApprovalRequired("attempts", expires_in_seconds=3600)

    made = PipelineRegistry()
    made.register(
        TaskType.ISSUE_RESOLUTION,
        Pipeline(name="tried", stages=(Stage("agent", attempts), Stage("approval", gate), Stage("publish", print))),
    )
    core = core_factory(registry=made)
    task_id = submit(core, TaskType.ISSUE_RESOLUTION, issue_number=12)
    assert core.run_now(task_id).status is TaskStatus.AWAITING_APPROVAL
    app = DockhandTui(core, poll_seconds=0.1, user="carol")
    async with app.run_test(size=(140, 40)) as pilot:
        app.push_screen(TaskScreen(task_id))
        screen = app.screen
        assert isinstance(screen, TaskScreen)
        await until(pilot, lambda: screen.others == [2, 3])
        shown_result = str(screen.query_one("#result", Static).render())
        assert "attempt  status" in shown_result and "1 *" in shown_result and "evidence: attempts: 3" in shown_result
        shown = []
        for _ in range(2):  # 2, then 3
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, DiffScreen))
            shown.append("\n".join(line.text for line in app.screen.query_one(RichLog).lines))
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is screen)
        assert "# attempt 2" in shown[0] and "# attempt 3" in shown[1]
        await pilot.press("p")  # 2 again
        await until(pilot, lambda: isinstance(app.screen, DiffScreen))
        assert str(app.screen.query_one("#decide", Button).label) == "Publish (y)"
        await pilot.press("y")
        await until(pilot, lambda: core.task(task_id).status is TaskStatus.PENDING)
    (approval,) = core.approvals.of(task_id)
    assert (approval.decided_by, approval.choice) == ("carol (TUI)", 2)


@pytest.mark.anyio
async def test_w_lists_the_worker_processes(core: Core) -> None:
    core.start(workers=1, scheduler=False)
    app = DockhandTui(core, poll_seconds=0.1, user="carol")
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: core.store.workers.alive())
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, WorkersScreen))
        table = app.screen.query_one(DataTable)
        assert table.row_count == 1
        assert table.get_row_at(0)[2] == "1"  # its one thread


@pytest.mark.anyio
async def test_a_long_page_is_painted_first_in_part_then_whole_in_the_same_order(core: Core) -> None:
    """More tasks than one screen: the first rows come first, the rest follow, newest first as the store says."""
    ids = [submit(core, command=f"echo {i}") for i in range(FIRST_PAINT_ROWS + 30)]
    newest_first = [t.id for t in core.tasks(TaskFilter(limit=len(ids)))]
    assert sorted(newest_first) == sorted(ids)
    app = DockhandTui(core, poll_seconds=0.1)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: len(table_ids(app)) == len(ids))
        assert table_ids(app) == newest_first
        late = submit(core, command="echo late")  # polls go on once the page is whole
        await until(pilot, lambda: table_ids(app)[:1] == [late])
        await pilot.press("o")  # another sort orders the whole page
        await pilot.pause()
        assert len(table_ids(app)) == len(ids) + 1
