"""The sandboxes dockhand knows of: which task attempt each belongs to, its state, image and last use."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from core.states import SandboxState
from tui.format import ago
from tui.screens.base import COMMON_KEYS, DockhandScreen

_STATE_STYLE = {SandboxState.RUNNING: "green", SandboxState.CREATING: "yellow", SandboxState.STOPPED: "dim"}


class SandboxesScreen(DockhandScreen):
    """From the store's index of sandboxes (the TUI does not need the Docker engine): `dockhand sandbox
    destroy ID` removes one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        *COMMON_KEYS,
    ]

    def compose(self) -> ComposeResult:
        yield Static("Sandboxes (`dockhand sandbox destroy ID` removes one)", id="counts")
        yield DataTable(id="sandboxes", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("ID", "Task", "State", "Image", "Age", "Last used"):
            table.add_column(label, key=label.lower().replace(" ", "_"))
        now = self.tui.clock()
        sandboxes = self.tui.core.sandbox_records.all()
        for sandbox in sandboxes:
            table.add_row(
                sandbox.id,
                _task_of(sandbox.id),
                Text(sandbox.state.value, style=_STATE_STYLE.get(sandbox.state, "")),
                sandbox.image or "-",
                ago((now - sandbox.created_at).total_seconds()),
                f"{ago((now - sandbox.last_used_at).total_seconds())} ago",
                key=sandbox.id,
            )
        if not sandboxes:
            self.query_one("#counts", Static).update("No sandboxes: one is made for each task attempt that needs one")
        table.focus()


def _task_of(sandbox_id: str) -> str:
    """The task a sandbox was made for: its ID is `<kind>-<task>-<attempt>`."""
    parts = sandbox_id.rsplit("-", 2)
    return f"{parts[1]} (attempt {parts[2]})" if len(parts) == 3 and parts[2].isdigit() else "-"
