"""What every screen of the app shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.binding import Binding, BindingType
from textual.screen import Screen

from core.states import TaskStatus

if TYPE_CHECKING:
    from tui.app import DockhandTui


# The keys of a task's actions, on the board (its selected row) and on a task's own screen.
TASK_ACTION_KEYS: list[BindingType] = [
    Binding("a", "approve", "Approve"),
    Binding("x", "reject", "Reject"),
    Binding("c", "cancel", "Cancel"),
    Binding("t", "retry", "Retry"),
]
# Every screen: the key map, and vim's keys for moving up and down.
COMMON_KEYS: list[BindingType] = [
    Binding("question_mark", "app.show_help_panel", "Keys"),
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
    Binding("q", "app.quit", "Quit"),
]


TASK_ACTIONS = frozenset({"approve", "reject", "cancel", "retry"})


def allowed_actions(status: TaskStatus | None) -> frozenset[str]:
    """What a task in this status lets one do: decide while it waits, cancel until it ends, retry after."""
    if status is None:
        return frozenset()
    if status is TaskStatus.AWAITING_APPROVAL:
        return frozenset({"approve", "reject", "cancel"})
    return frozenset({"retry"}) if status.is_final else frozenset({"cancel"})


class DockhandScreen(Screen[None]):
    """A screen of the dockhand app, with typed access to it (its core, clock and actions)."""

    @property
    def tui(self) -> DockhandTui:
        from tui.app import DockhandTui  # the app imports the screens: looked up when first used

        assert isinstance(self.app, DockhandTui)
        return self.app

    # vim's j and k: passed to whatever has the focus (a table, a log), if it moves
    def action_cursor_down(self) -> None:
        self._pass_to_focused("cursor_down")

    def action_cursor_up(self) -> None:
        self._pass_to_focused("cursor_up")

    def _pass_to_focused(self, action: str) -> None:
        handler = getattr(self.focused, f"action_{action}", None)
        if callable(handler):
            handler()
