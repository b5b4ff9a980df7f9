"""The modal dialogs: a yes/no question, and the change a task wants to publish with the decision."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, RichLog, Static

from core.models import Task
from core.results import result_of
from tui.format import diff_line, result_text

NO_DIFF = "(the change is not on this host)"


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

    def __init__(self, task: Task, diff: str, *, approve: bool, attempt: int | None = None) -> None:
        super().__init__()
        self.task_ = task
        self.diff = diff
        self.approve = approve
        self.attempt = attempt  # approving another of its attempts than the one offered

    def compose(self) -> ComposeResult:
        result = result_of(self.task_)
        draft = result.pull_request_draft
        verb = "Approve" if self.approve else "Reject"
        title = f"{verb} task {self.task_.id}: {draft.title if draft else ''}"
        if self.attempt is not None:
            verb, title = (
                "Publish",
                f"Publish attempt {self.attempt} of task {self.task_.id} instead of the one offered",
            )
        with Vertical(id="dialog"):
            yield Static(Text(title, style="bold"))
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
