"""Who may do what from Slack, and on which repositories.

Principals are Slack IDs: users (`U…`, `W…`), user groups (`S…`, members looked up through the API and
cached) and channels (`C…`, `G…`, `D…`: anyone in that channel), or `*` for everyone in the workspace.

- `DOCKHAND_SLACK_ALLOWED`: who may run commands at all (empty: everyone in the workspace).
- `DOCKHAND_SLACK_COMMAND_ACCESS`: per command, e.g. `{"resolve": ["S0DEVS"], "cancel": ["U0LEAD"]}`;
  a command listed here is open to those principals only.
- `DOCKHAND_SLACK_APPROVERS`: who may press Approve/Reject (empty: only whoever started the task).
- `DOCKHAND_SLACK_REPOSITORIES`: repositories Slack may name (globs like `acme/*`; empty: any).
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections.abc import Callable, Iterable

from bot.slack.commands import VERB_OF_TASK, Verb
from core.intake.authorise import ALLOWED, Decision, refused
from core.intake.trigger import Trigger
from core.settings import Settings

log = logging.getLogger(__name__)

EVERYONE = "*"
GROUP_CACHE_SECONDS = 300.0
FAILED_GROUP_SECONDS = 30.0
ALWAYS_OPEN = frozenset({Verb.HELP, Verb.STATUS})

GroupMembers = Callable[[str], set[str]]


class SlackAccess:
    def __init__(self, settings: Settings, members_of: GroupMembers) -> None:
        self.allowed = tuple(settings.slack_allowed)
        self.command_access = {Verb(k): tuple(v) for k, v in settings.slack_command_access.items()}
        self.approvers = tuple(settings.slack_approvers)
        self.repositories = tuple(settings.slack_repositories)
        self._members_of = members_of
        self._groups: dict[str, tuple[float, set[str]]] = {}
        self._lock = threading.Lock()

    def decide(self, trigger: Trigger) -> Decision:
        """The intake's authoriser: may this person, in this channel, start this task on this repository?"""
        decision = self.may_run(VERB_OF_TASK[trigger.task_type], trigger.actor.id, trigger.reply_to or "")
        if decision.allowed and trigger.repository is not None and not self.repository_allowed(trigger.repository):
            return refused(f"dockhand is not set up to work on {trigger.repository} from Slack")
        return decision

    def may_run(self, verb: Verb, user: str, channel: str) -> Decision:
        if verb in ALWAYS_OPEN:
            return ALLOWED
        if self.allowed and not self._matches(self.allowed, user, channel):
            return refused("you are not on dockhand's list of Slack users")
        # Asking for a change in words is as much as asking to resolve an issue (the agent writes code), and
        # choosing a channel's repository decides where such requests go: both default to resolve's list.
        wanted = self.command_access.get(verb)
        if wanted is None and verb in (Verb.DO, Verb.CHANNEL_REPO):
            wanted = self.command_access.get(Verb.RESOLVE)
        if wanted is None and verb is Verb.STOP:  # ending a conversation stops its work: as cancel
            wanted = self.command_access.get(Verb.CANCEL)
        if wanted is not None and not self._matches(wanted, user, channel):
            return refused(f"`{verb.value}` is limited to some people or channels")
        return ALLOWED

    def may_decide(self, user: str, channel: str, requester: str | None) -> Decision:
        """Approve or reject: a configured approver, or (with none configured) whoever started the task."""
        if self.approvers:
            if self._matches(self.approvers, user, channel):
                return ALLOWED
            return refused("only dockhand's approvers can decide on a change")
        if requester is not None and user == requester:
            return ALLOWED
        return refused("only the person who started this task can decide on it")

    def repository_allowed(self, repository: str) -> bool:
        return not self.repositories or any(fnmatch.fnmatchcase(repository, p) for p in self.repositories)

    def _matches(self, principals: Iterable[str], user: str, channel: str) -> bool:
        for principal in principals:
            if principal in (EVERYONE, user, channel):
                return True
            if principal.startswith("S") and user in self._group(principal):
                return True
        return False

    def _group(self, group: str) -> set[str]:
        with self._lock:
            cached = self._groups.get(group)
            if cached is not None and time.monotonic() - cached[0] < GROUP_CACHE_SECONDS:
                return cached[1]
        try:
            members = self._members_of(group)
        except Exception as exc:  # Slack unreachable: nobody is let in through this group for a while
            log.warning("cannot read the members of Slack user group %s: %s", group, exc)
            members = set()
            with self._lock:  # remembered briefly, so each request does not wait for Slack again
                self._groups[group] = (time.monotonic() - GROUP_CACHE_SECONDS + FAILED_GROUP_SECONDS, members)
            return members
        with self._lock:
            self._groups[group] = (time.monotonic(), members)
        return members
