"""GitHub webhook payloads into typed triggers: pure functions, no I/O.

`parse_event(name, payload, rules)` returns one trigger (or `Ignored` with the reason): the payload is
first read into its typed model (`bot.github.payloads`), so a malformed one is a `PayloadError` naming
the field. Who may trigger (collaborator permission) and what becomes a task are decided later, by the
caller.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from bot.github.payloads import (
    MODELS,
    CheckRunEvent,
    CheckSuiteEvent,
    EventPayload,
    InstallationEvent,
    IssueCommentEvent,
    IssuesEvent,
    PayloadError,
    PullRequestEvent,
    PullRequestReviewEvent,
    PushEvent,
    User,
    WorkflowRunEvent,
    _RepositoryEvent,
    read_payload,
)
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
class Asked:
    """`@dockhand <words that are no command>` in a new comment: a follow-up on the work dockhand did there."""

    repo: Repo
    number: int
    on_pull_request: bool
    request: str
    comment_id: int
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class Reviewed:
    """A person's review of a pull request from one of dockhand's branches: a follow-up that addresses it."""

    repo: Repo
    number: int
    review_id: int
    body: str
    actor: Actor


@dataclass(frozen=True, kw_only=True)
class ChecksFailed:
    """CI completed with a failure on one of dockhand's branches (a check run, a check suite or a workflow run)."""

    repo: Repo
    branch: str
    head_sha: str
    what: str  # "check run lint", "workflow run CI"…
    url: str
    summary: str
    actor: Actor
    pull_numbers: tuple[int, ...]  # the pull requests of this repository the commit is the head of
    app_id: int | None  # the GitHub App that ran the check (dockhand's own are not CI failures to fix)


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


Interpreted = (
    IssueOpened
    | Mention
    | Asked
    | Reviewed
    | ChecksFailed
    | PullRequestChanged
    | Pushed
    | InstallationChanged
    | Ignored
)
StartsWork = IssueOpened | Mention | Asked | Reviewed | PullRequestChanged | Pushed
STEERING = frozenset({Command.CANCEL, Command.APPROVE})  # commands that act on tasks rather than start one


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


def depends_on_repository_config(event: EventPayload) -> bool:
    """Whether a repository's `.dockhand.toml` could change what this event means (so it is worth reading)."""
    if isinstance(event, IssuesEvent):
        return event.action in ("opened", "labeled")
    if isinstance(event, PullRequestEvent):
        return event.action in _PR_ACTIONS and not event.pull_request.draft
    if isinstance(event, PushEvent):
        return event.ref.startswith("refs/heads/") and not event.deleted
    return False


def parse_event(name: str, payload: object, rules: TriggerRules) -> Interpreted:
    """What a delivery means: `PayloadError` when a handled event's payload is malformed."""
    if name not in MODELS:
        return Ignored(reason=f"{name} events are not handled")
    return interpret(read_payload(name, payload), rules)


def interpret(event: EventPayload, rules: TriggerRules) -> Interpreted:
    if isinstance(event, IssuesEvent):
        return _issues(event, rules)
    if isinstance(event, IssueCommentEvent):
        return _issue_comment(event, rules)
    if isinstance(event, PullRequestEvent):
        return _pull_request(event, rules)
    if isinstance(event, PushEvent):
        return _push(event, rules)
    if isinstance(event, PullRequestReviewEvent):
        return _review(event, rules)
    if isinstance(event, CheckRunEvent | CheckSuiteEvent | WorkflowRunEvent):
        return _checks(event)
    return _installation(event)


def _actor(user: User, association: str = "NONE") -> Actor:
    return Actor(login=user.login, is_bot=user.type == "Bot" or user.login.endswith("[bot]"), association=association)


def _repo(event: _RepositoryEvent) -> Repo:
    repo = event.repository
    return Repo(
        full_name=repo.full_name,
        default_branch=repo.default_branch or "main",
        clone_url=repo.clone_url or f"https://github.com/{repo.full_name}.git",
        installation_id=event.installation.id if event.installation is not None else None,
    )


def _issues(event: IssuesEvent, rules: TriggerRules) -> Interpreted:
    issue = event.issue
    labels = tuple(label.name for label in issue.labels or [])
    if event.action == "labeled":
        if event.label is None:
            raise PayloadError("malformed issues payload: label: missing on a labeled event")
        if event.label.name.lower() != rules.trigger_label.lower():
            return Ignored(reason=f"label {event.label.name!r} is not the trigger label")
    elif event.action != "opened":
        return Ignored(reason=f"issues/{event.action} is not handled")
    elif rules.trigger_label.lower() not in (label.lower() for label in labels):
        return Ignored(reason=f"new issue without the {rules.trigger_label!r} label")
    return IssueOpened(
        repo=_repo(event),
        number=issue.number,
        title=issue.title,
        body=issue.body or "",
        labels=labels,
        actor=_actor(event.sender, issue.author_association),
    )


def mention_pattern(bot_name: str) -> re.Pattern[str]:
    """`@bot command …` at the start of a line: "don't @bot approve yet" or a quoted `> @bot approve` is no command."""
    commands = "|".join(c.value for c in Command)
    return re.compile(
        rf"^[ \t]*@{re.escape(bot_name)}(?:\[bot\])?[ \t]+({commands})\b[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE
    )


def _free_mention(bot_name: str) -> re.Pattern[str]:
    """`@bot` at the start of a line followed by words: a request in words (what follows, to the comment's end)."""
    return re.compile(rf"^[ \t]*@{re.escape(bot_name)}(?:\[bot\])?[ \t]+(\S)", re.IGNORECASE | re.MULTILINE)


def _request_in_words(body: str, bot_name: str) -> str | None:
    """What follows the first `@bot` that starts a line outside code, to the comment's end, code included."""
    code = [(m.start(), m.end()) for m in _CODE.finditer(body)]
    for found in _free_mention(bot_name).finditer(body):
        if not any(start <= found.start() < end for start, end in code):
            return body[found.start(1) :].strip()
    return None


_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)


def _issue_comment(event: IssueCommentEvent, rules: TriggerRules) -> Interpreted:
    if event.action != "created":
        return Ignored(reason=f"issue_comment/{event.action} is not handled")
    comment = event.comment
    actor = _actor(comment.user, comment.author_association)
    if actor.is_bot or actor.login in rules.bot_logins:
        return Ignored(reason=f"comment by bot {actor.login}")  # never answer bots, ourselves included
    body = comment.body or ""
    text = _CODE.sub("", body)  # a command inside code is an example, not a request
    match = mention_pattern(rules.bot_name).search(text)
    if match is not None and Command(match[1].lower()) in STEERING and match[2].strip(" .!"):
        match = None  # "@dockhand approve once you also…" is a request in words, never an approval
    if match is None:
        request = _request_in_words(body, rules.bot_name)
        if request is None:
            return Ignored(reason="comment does not mention the bot with a command")
        return Asked(
            repo=_repo(event),
            number=event.issue.number,
            on_pull_request=event.issue.pull_request is not None,
            request=request[:20_000],
            comment_id=comment.id,
            actor=actor,
        )
    return Mention(
        repo=_repo(event),
        number=event.issue.number,
        on_pull_request=event.issue.pull_request is not None,
        command=Command(match[1].lower()),
        argument=match[2].strip()[:500],
        comment_id=comment.id,
        actor=actor,
    )


_PR_ACTIONS = {"opened", "synchronize", "reopened", "ready_for_review"}


def _pull_request(event: PullRequestEvent, rules: TriggerRules) -> Interpreted:
    action, pr = event.action, event.pull_request
    if action not in _PR_ACTIONS:
        return Ignored(reason=f"pull_request/{action} is not handled")
    if not rules.reviews_enabled:
        return Ignored(reason="PR reviews are off for this repository")
    if pr.draft:
        return Ignored(reason="draft pull request")
    return PullRequestChanged(
        repo=_repo(event), number=pr.number, action=action, title=pr.title, body=pr.body or "",
        head_sha=pr.head.sha, head_ref=pr.head.ref, base_ref=pr.base.ref, base_sha=pr.base.sha,
        actor=_actor(event.sender, pr.author_association),
    )  # fmt: skip


def _push(event: PushEvent, rules: TriggerRules) -> Interpreted:
    if not event.ref.startswith("refs/heads/"):
        return Ignored(reason=f"push to {event.ref} (not a branch)")
    if event.deleted:
        return Ignored(reason="branch deleted")
    repo = _repo(event)
    if not rules.tests_enabled:
        return Ignored(reason="tests on push are off for this repository")
    branch = event.ref.removeprefix("refs/heads/")
    wanted = rules.push_branches or (repo.default_branch,)
    if not any(fnmatch.fnmatchcase(branch, pattern) for pattern in wanted):
        return Ignored(reason=f"push to {branch}, not one of {', '.join(wanted)}")
    return Pushed(repo=repo, branch=branch, before=event.before, after=event.after, actor=_actor(event.sender))


def _review(event: PullRequestReviewEvent, rules: TriggerRules) -> Interpreted:
    review, pull = event.review, event.pull_request
    actor = _actor(review.user, review.author_association)
    if event.action != "submitted":
        return Ignored(reason=f"pull_request_review/{event.action} is not handled")
    if actor.is_bot or actor.login in rules.bot_logins:
        return Ignored(reason=f"review by bot {actor.login}")
    if review.author_association not in MAYBE_WRITERS:  # quietly: anyone may review a public repository's PR
        return Ignored(reason=f"review by {actor.login} ({review.author_association}), who cannot ask for changes")
    if review.state.lower() not in ("commented", "changes_requested"):
        return Ignored(reason=f"a review that is {review.state.lower()} asks for no change")
    if not pull.head.ref.startswith(BRANCH_PREFIX):
        return Ignored(reason=f"review of a pull request from {pull.head.ref}, not one of {rules.bot_name}'s branches")
    return Reviewed(repo=_repo(event), number=pull.number, review_id=review.id, body=review.body or "", actor=actor)


def _checks(event: CheckRunEvent | CheckSuiteEvent | WorkflowRunEvent) -> Interpreted:
    """A completed, failed check run / check suite / workflow run on one of dockhand's branches."""
    if isinstance(event, CheckRunEvent):
        run = event.check_run
        branch = run.check_suite.head_branch if run.check_suite else None
        output = run.output
        summary = "\n".join(p for p in (output.title, output.summary) if p) if output else ""
        what, sha, conclusion, url = f"check run {run.name}", run.head_sha, run.conclusion, run.html_url
        pulls, app = run.pull_requests, run.app
    elif isinstance(event, CheckSuiteEvent):
        suite = event.check_suite
        what, sha, conclusion, url, summary = f"check suite {suite.id}", suite.head_sha, suite.conclusion, None, ""
        branch, pulls, app = suite.head_branch, suite.pull_requests, suite.app
    else:
        flow = event.workflow_run
        what, sha, conclusion, url, summary = (
            f"workflow run {flow.name or flow.id}",
            flow.head_sha,
            flow.conclusion,
            flow.html_url,
            "",
        )
        branch, pulls, app = flow.head_branch, flow.pull_requests, None
        if flow.head_repository is not None and flow.head_repository.full_name != event.repository.full_name:
            return Ignored(reason=f"{what} of a fork ({flow.head_repository.full_name})")
    if event.action != "completed":
        return Ignored(reason=f"{what}: {event.action} is not handled")
    if conclusion not in ("failure", "timed_out"):
        return Ignored(reason=f"{what} ended {conclusion}")
    if not branch or not branch.startswith(BRANCH_PREFIX):
        return Ignored(reason=f"{what} on {branch or 'no branch'}, not one of dockhand's branches")
    return ChecksFailed(
        repo=_repo(event), branch=branch, head_sha=sha, what=what, url=url or "", summary=summary[:4000],
        actor=_actor(event.sender), pull_numbers=tuple(p.number for p in pulls), app_id=app.id if app else None,
    )  # fmt: skip


def _installation(event: InstallationEvent) -> Interpreted:
    added = event.repositories or event.repositories_added or []
    return InstallationChanged(
        installation_id=event.installation.id,
        account=event.installation.account.login,
        action=event.action,
        added=tuple(r.full_name for r in added),
        removed=tuple(r.full_name for r in event.repositories_removed or []),
    )


HANDLED_EVENTS = frozenset(MODELS)
# author_association is a cheap first filter: only these can have write access at all.
MAYBE_WRITERS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
BRANCH_PREFIX = "dockhand/"  # every branch dockhand pushes (`core.forge.branch_name`)
