"""Who may start work from GitHub: people with write access, never bots (ourselves included)."""

from __future__ import annotations

from collections.abc import Callable

from bot.github.events import MAYBE_WRITERS, Actor
from core.intake.authorise import Decision
from core.intake.trigger import Trigger

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


def may_trigger(actor: Actor, repository: str, permission_of: Callable[[str, str], str]) -> Decision:
    """Checks the collaborator permission through the API only for plausible writers."""
    if actor.is_bot:
        return Decision(allowed=False, reason=f"{actor.login} is a bot")
    if actor.association not in MAYBE_WRITERS:
        return Decision(allowed=False, reason=f"@{actor.login} needs write access to {repository}")
    permission = permission_of(repository, actor.login)
    if permission not in WRITE_PERMISSIONS:
        return Decision(allowed=False, reason=f"@{actor.login} needs write access to {repository} (has {permission})")
    return Decision(allowed=True, reason=f"@{actor.login} has {permission} access")


class WritePermission:
    """The intake's authoriser for work asked for on GitHub by a person (an issue, a mention)."""

    def __init__(self, actor: Actor, permission_of: Callable[[str, str], str]) -> None:
        self.actor = actor
        self.permission_of = permission_of

    def decide(self, trigger: Trigger) -> Decision:
        return may_trigger(self.actor, trigger.repository or "", self.permission_of)
