"""GitHub webhook payloads into typed triggers: pure functions, no I/O.

`parse_event(name, payload, rules)` returns one trigger (or `Ignored` with the reason). Who may
trigger (collaborator permission) and what becomes a task are decided later, by the caller.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from core.repo_config import RepositoryConfig


class Command(StrEnum):
    FIX = "fix"
    RESOLVE = "resolve"
    REVIEW = "review"
    TEST = "test"
    CANCEL = "cancel"
    APPROVE = "approve"


@dataclass(frozen=True, kw_only=True)
class Actor:
    login: str
    is_bot: bool
    association: str = "NONE"  # author_association: OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, NONE…


@dataclass(frozen=True, kw_only=True)
class Repo:
    full_name: str
    default_branch: str
    clone_url: str
    installation_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class IssueOpened:
    """An issue opened, or labeled with the trigger label: resolve it."""

    repo: Repo
    number: int
    title: str
    body: str
    labels: tuple[str, ...]
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class Mention:
    """`@dockhand <command> …` in a new comment on an issue or a pull request."""

    repo: Repo
    number: int
    on_pull_request: bool
    command: Command
    argument: str
    comment_id: int
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class PullRequestChanged:
    repo: Repo
    number: int
    action: str
    title: str
    body: str
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class Pushed:
    repo: Repo
    branch: str
    before: str
    after: str
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class InstallationChanged:
    installation_id: int
    account: str
    action: str
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Ignored:
    reason: str


Trigger = IssueOpened | Mention | PullRequestChanged | Pushed | InstallationChanged | Ignored


@dataclass(frozen=True, kw_only=True)
class TriggerRules:
    """The parts of configuration that decide what an event means."""

    bot_name: str = "dockhand"
    trigger_label: str = "dockhand"
    push_branches: tuple[str, ...] = ()  # empty: the repository's default branch
    reviews_enabled: bool = True
    tests_enabled: bool = True
    bot_logins: frozenset[str] = field(default_factory=frozenset)  # our own App's bot login(s)

    def for_repository(self, config: RepositoryConfig) -> TriggerRules:
        """These rules with a repository's own `.dockhand.toml` laid over them."""
        return replace(
            self,
            trigger_label=config.trigger_label if config.trigger_label is not None else self.trigger_label,
            push_branches=config.branches if config.branches is not None else self.push_branches,
            reviews_enabled=config.reviews if config.reviews is not None else self.reviews_enabled,
            tests_enabled=config.tests if config.tests is not None else self.tests_enabled,
        )


def depends_on_repository_config(name: str, payload: Mapping[str, Any]) -> bool:
    """Whether a repository's `.dockhand.toml` could change what this event means (so it is worth reading)."""
    action = payload.get("action")
    if name == "issues":
        return action in ("opened", "labeled")
    if name == "pull_request":
        pull = payload.get("pull_request")
        return action in _PR_ACTIONS and not (isinstance(pull, Mapping) and pull.get("draft"))
    if name == "push":
        return str(payload.get("ref", "")).startswith("refs/heads/") and not payload.get("deleted")
    return False


class PayloadError(ValueError):
    """A payload without the fields its event always has."""


def parse_event(name: str, payload: Mapping[str, Any], rules: TriggerRules) -> Trigger:
    try:
        handler = _HANDLERS.get(name)
        if handler is None:
            return Ignored(reason=f"{name} events are not handled")
        return handler(payload, rules)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, PayloadError):
            raise
        raise PayloadError(f"{name} payload is missing or has a malformed {exc}") from None


def _actor(user: Mapping[str, Any], association: str = "NONE") -> Actor:
    login = str(user["login"])
    return Actor(login=login, is_bot=user.get("type") == "Bot" or login.endswith("[bot]"), association=association)


def _repo(payload: Mapping[str, Any]) -> Repo:
    repo = payload["repository"]
    installation = payload.get("installation") or {}
    return Repo(
        full_name=str(repo["full_name"]),
        default_branch=str(repo.get("default_branch") or "main"),
        clone_url=str(repo.get("clone_url") or f"https://github.com/{repo['full_name']}.git"),
        installation_id=int(installation["id"]) if installation.get("id") is not None else None,
    )


def _issues(payload: Mapping[str, Any], rules: TriggerRules) -> Trigger:
    action = payload["action"]
    issue = payload["issue"]
    labels = tuple(str(label["name"]) for label in issue.get("labels") or [])
    if action == "labeled":
        if str(payload["label"]["name"]).lower() != rules.trigger_label.lower():
            return Ignored(reason=f"label {payload['label']['name']!r} is not the trigger label")
    elif action != "opened":
        return Ignored(reason=f"issues/{action} is not handled")
    elif rules.trigger_label.lower() not in (label.lower() for label in labels):
        return Ignored(reason=f"new issue without the {rules.trigger_label!r} label")
    return IssueOpened(
        repo=_repo(payload),
        number=int(issue["number"]),
        title=str(issue["title"]),
        body=str(issue.get("body") or ""),
        labels=labels,
        actor=_actor(payload["sender"], str(issue.get("author_association", "NONE"))),
    )


def mention_pattern(bot_name: str) -> re.Pattern[str]:
    """`@bot command …` at the start of a line: "don't @bot approve yet" or a quoted `> @bot approve` is no command."""
    commands = "|".join(c.value for c in Command)
    return re.compile(
        rf"^[ \t]*@{re.escape(bot_name)}(?:\[bot\])?[ \t]+({commands})\b[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE
    )


_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)


def _issue_comment(payload: Mapping[str, Any], rules: TriggerRules) -> Trigger:
    if payload["action"] != "created":
        return Ignored(reason=f"issue_comment/{payload['action']} is not handled")
    comment, issue = payload["comment"], payload["issue"]
    actor = _actor(comment["user"], str(comment.get("author_association", "NONE")))
    if actor.is_bot or actor.login in rules.bot_logins:
        return Ignored(reason=f"comment by bot {actor.login}")  # never answer bots, ourselves included
    text = _CODE.sub("", str(comment.get("body") or ""))  # a command inside code is an example, not a request
    match = mention_pattern(rules.bot_name).search(text)
    if match is None:
        return Ignored(reason="comment does not mention the bot with a command")
    return Mention(
        repo=_repo(payload),
        number=int(issue["number"]),
        on_pull_request="pull_request" in issue,
        command=Command(match[1].lower()),
        argument=match[2].strip()[:500],
        comment_id=int(comment["id"]),
        actor=actor,
    )


_PR_ACTIONS = {"opened", "synchronize", "reopened", "ready_for_review"}


def _pull_request(payload: Mapping[str, Any], rules: TriggerRules) -> Trigger:
    action, pr = payload["action"], payload["pull_request"]
    if action not in _PR_ACTIONS:
        return Ignored(reason=f"pull_request/{action} is not handled")
    if not rules.reviews_enabled:
        return Ignored(reason="PR reviews are off for this repository")
    if pr.get("draft"):
        return Ignored(reason="draft pull request")
    return PullRequestChanged(
        repo=_repo(payload), number=int(pr["number"]), action=action, title=str(pr["title"]),
        body=str(pr.get("body") or ""), head_sha=str(pr["head"]["sha"]), head_ref=str(pr["head"]["ref"]),
        base_ref=str(pr["base"]["ref"]), base_sha=str(pr["base"]["sha"]),
        actor=_actor(payload["sender"], str(pr.get("author_association", "NONE"))),
    )  # fmt: skip


def _push(payload: Mapping[str, Any], rules: TriggerRules) -> Trigger:
    ref = str(payload["ref"])
    if not ref.startswith("refs/heads/"):
        return Ignored(reason=f"push to {ref} (not a branch)")
    if payload.get("deleted"):
        return Ignored(reason="branch deleted")
    repo = _repo(payload)
    if not rules.tests_enabled:
        return Ignored(reason="tests on push are off for this repository")
    branch = ref.removeprefix("refs/heads/")
    wanted = rules.push_branches or (repo.default_branch,)
    if not any(fnmatch.fnmatchcase(branch, pattern) for pattern in wanted):
        return Ignored(reason=f"push to {branch}, not one of {', '.join(wanted)}")
    return Pushed(
        repo=repo,
        branch=branch,
        before=str(payload["before"]),
        after=str(payload["after"]),
        actor=_actor(payload["sender"]),
    )


def _installation(payload: Mapping[str, Any], rules: TriggerRules) -> Trigger:
    installation = payload["installation"]
    return InstallationChanged(
        installation_id=int(installation["id"]), account=str(installation["account"]["login"]),
        action=str(payload["action"]),
        added=tuple(str(r["full_name"])
                    for r in payload.get("repositories") or payload.get("repositories_added") or []),
        removed=tuple(str(r["full_name"]) for r in payload.get("repositories_removed") or []),
    )  # fmt: skip


_HANDLERS: dict[str, Callable[[Mapping[str, Any], TriggerRules], Trigger]] = {
    "issues": _issues,
    "issue_comment": _issue_comment,
    "pull_request": _pull_request,
    "push": _push,
    "installation": _installation,
    "installation_repositories": _installation,
}


HANDLED_EVENTS = frozenset(_HANDLERS)
