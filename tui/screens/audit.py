"""The audit trail: who triggered, approved, refused or cancelled what."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from tui.screens.base import COMMON_KEYS, DockhandScreen


class AuditScreen(DockhandScreen):
    """Who triggered, approved, rejected or cancelled what, and every refusal — newest first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        *COMMON_KEYS,
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
