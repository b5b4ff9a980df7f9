"""Who may start what: one `Decision`, one `Authoriser` protocol; each front end brings its own policy
(Slack's allow-lists, GitHub's collaborator permission). Callers that already proved who they are (the API
token holder, a user of this machine, a schedule) are `TRUSTED`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from core.intake.trigger import Trigger


@dataclass(frozen=True, kw_only=True)
class Decision:
    allowed: bool
    reason: str = ""  # why not, said to the person who asked: "you are not on dockhand's list of Slack users"


ALLOWED = Decision(allowed=True)


def refused(reason: str) -> Decision:
    return Decision(allowed=False, reason=reason)


class Authoriser(Protocol):
    def decide(self, trigger: Trigger) -> Decision: ...


class Trusted:
    def decide(self, trigger: Trigger) -> Decision:
        return ALLOWED


TRUSTED = Trusted()
