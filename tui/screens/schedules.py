"""The schedules: which pipelines run on a cron schedule, and when each runs next."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from core.errors import DockhandError
from core.scheduler import parse_cron
from tui.screens.base import COMMON_KEYS, DockhandScreen


class SchedulesScreen(DockhandScreen):
    """Every schedule (`dockhand schedule add`), enabled or not, with its next run in UTC."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        *COMMON_KEYS,
    ]

    def compose(self) -> ComposeResult:
        yield Static("Schedules (times in UTC)", id="counts")
        yield DataTable(id="schedules", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label in ("Name", "Cron", "Type", "Repository", "Enabled", "Next run"):
            table.add_column(label, key=label.lower().replace(" ", "_"))
        now = self.tui.clock()
        for schedule in self.tui.core.schedules.list():
            try:
                upcoming = parse_cron(schedule.cron).get_next_fire_time(None, now)
                next_run = upcoming.strftime("%Y-%m-%d %H:%M") if upcoming and schedule.enabled else "-"
            except DockhandError:
                next_run = "invalid cron"
            table.add_row(
                schedule.name,
                schedule.cron,
                schedule.type.value,
                schedule.repository or "-",
                Text("yes", style="green") if schedule.enabled else Text("no", style="dim"),
                next_run,
                key=schedule.name,
            )
        if not self.tui.core.schedules.list():
            self.query_one("#counts", Static).update("No schedules: `dockhand schedule add NAME CRON …` makes one")
        table.focus()
