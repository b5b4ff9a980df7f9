"""The worker processes of every machine on the database: host, PID, threads, the tasks they run, when last heard."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from tui.format import ago
from tui.screens.base import COMMON_KEYS, DockhandScreen


class WorkersScreen(DockhandScreen):
    """From the roster each worker process keeps with its heartbeat (the last minute's)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        *COMMON_KEYS,
    ]

    def compose(self) -> ComposeResult:
        yield Static("Worker processes (dockhand serve, dockhand worker) on every machine", id="counts")
        yield DataTable(id="workers", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("Host", "PID", "Threads", "Running", "Up", "Last heartbeat"):
            table.add_column(label, key=label.lower().replace(" ", "_"))
        now = self.tui.clock()
        workers = self.tui.core.store.workers.alive()
        if leader := self.tui.core.fleet.leader():
            self.query_one("#counts", Static).update(f"Worker processes on every machine; {leader} leads the fleet")
        for worker in workers:
            table.add_row(
                worker.host,
                str(worker.pid),
                str(worker.threads),
                str(worker.running),
                ago((now - worker.started_at).total_seconds()),
                f"{ago((now - worker.seen_at).total_seconds())} ago",
                key=worker.id,
            )
        if not workers:
            self.query_one("#counts", Static).update(
                "No worker process has been heard from in the last minute: tasks wait until one runs"
            )
        table.focus()
