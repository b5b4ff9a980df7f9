"""`dockhand tui`: a Textual monitor of live tasks, their stages and logs, with approve, reject, cancel, retry.

It reads the same store as `dockhand serve` (polling incrementally: changed tasks by `updated_at`, new
log lines by id) and acts through `Core`, so what it does takes effect in the running service: an
approval queues the task for the service's workers, a cancel is seen on their next heartbeat.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from datetime import datetime

from textual.app import App

from core.artifacts import stored_diff
from core.errors import DockhandError
from core.models import utcnow
from core.service import Core
from core.states import TaskStatus, TriggerSource
from tui.board import TaskBoard
from tui.format import shown
from tui.screens.dialogs import NO_DIFF, ConfirmScreen, DiffScreen
from tui.screens.main import MainScreen

Clock = Callable[[], datetime]


class DockhandTui(App[None]):
    TITLE = "dockhand"
    CSS_PATH = "dockhand.tcss"

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
    def decide(self, task_id: str, approve: bool, attempt: int | None = None) -> None:
        """Show the change, then approve or reject it through the core (`attempt`: approve that one of the task's
        attempts instead of the one offered)."""
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
                    self.core.approve(task_id, by=f"{self.user} (TUI)", source=TriggerSource.TUI, attempt=attempt)
                else:
                    self.core.reject(task_id, by=f"{self.user} (TUI)", source=TriggerSource.TUI)
            except DockhandError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"task {task_id} {'approved' if approve else 'rejected'}")

        try:
            diff = self.core.redactor.text(stored_diff(self.core.artifacts, task_id, attempt) or NO_DIFF)
        except DockhandError as exc:  # a damaged artifact: said, and nothing decided without seeing the change
            self.notify(str(exc), severity="error")
            return
        self.push_screen(DiffScreen(shown(self.core, task), diff, approve=approve, attempt=attempt), chosen)

    def cancel_task(self, task_id: str) -> None:
        """Ask first, then cancel through the core."""

        def chosen(confirmed: bool | None) -> None:
            if not confirmed:
                return
            try:
                task = self.core.cancel(task_id, by=f"{self.user} (TUI)", source=TriggerSource.TUI)
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


def _whoami() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "tui"
