"""What people type to the bot in Slack (`/agent …` or an @-mention) → typed commands. Pure: no I/O.

    resolve repo#12 [--budget 5] [--attempts 3]   fix an issue (alias: fix); several attempts: the best is offered
    do repo "what to change"         a change described in words (alias: `in repo: what to change`)
    review repo#34 [--budget 5]      review a pull request
    test repo[@ref]                  run the test pipeline
    status [task]                    what is running, or one task
    channel-repo [repo | --clear]    this channel's repository: then `@dockhand <what to change>` is enough
    cancel task                      stop a task
    stop [task]                      end a task's conversation (in its thread, the task is known)
    help

`repo` may be `owner/repo`, or just `repo` when a default owner is configured; a GitHub link that
Slack turned into `<https://github.com/owner/repo/issues/12|…>` works too.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from core.errors import DockhandError
from core.intake.trigger import Actor, Trigger, spec_of
from core.repo_ref import RepoRef
from core.specs import ChangeSpec, IssueResolutionSpec, PRReviewSpec, Spec, TestPipelineSpec
from core.states import TaskType, TriggerSource

USAGE = """Usage: `/agent <command>` (or mention me with the same words)
• `resolve repo#12 [--budget 5] [--attempts 3]` — fix issue 12 (owner/repo#12 works too); with several attempts \
at once, the best is offered
• `do repo "what to change"` — make a change described in words (or mention me: `in repo: what to change`)
• `review repo#34 [--budget 5]` — review pull request 34
• `test repo[@ref]` — run the tests (a branch, tag or commit after @)
• `status [task]` — what is running, or one task
• `channel-repo [repo | --clear]` — this channel's repository: then mentioning me with what to change is enough
• `cancel task` — stop a task
• `stop [task]` — end a pull request's conversation: its running step stops and nothing more starts on its own \
(mention me with `stop` in the task's thread)
• `help` — this text"""

MAX_BUDGET_USD = 1000.0
MAX_ATTEMPTS = 10  # what a task may ask; DOCKHAND_AGENT_ATTEMPTS_MAX caps what runs
_MENTION = re.compile(r"^<@[A-Z0-9]+(?:\|[^>]*)?>\s*")
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_GITHUB_URL = re.compile(r"^https?://[^/]+/(?P<repo>[^/]+/[^/#?]+)/(?:issues|pull)/(?P<number>\d+)")
_TASK_ID = re.compile(r"^[0-9a-f]{6,32}$")


class Verb(StrEnum):
    RESOLVE = "resolve"
    DO = "do"
    REVIEW = "review"
    TEST = "test"
    STATUS = "status"
    CANCEL = "cancel"
    STOP = "stop"
    CHANNEL_REPO = "channel-repo"
    HELP = "help"


_ALIASES = {"fix": Verb.RESOLVE, "in": Verb.DO}
# `do [--budget 5] repo what to change` / `in repo: what to change`: everything after the repository is the
# request, as written (quotes around it are dropped; apostrophes and dashes in it are just text).
_REQUEST = re.compile(
    r"^(?:do|in)\s+(?:--budget[= ](?P<budget>\S+)\s+)?(?P<repo>[^\s:]+)(?P<colon>:?)\s+(?P<request>\S.*)$", re.S | re.I
)


class CommandError(DockhandError):
    """A request that does not parse; the message says why, followed by the usage."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}\n\n{USAGE}")
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class Resolve:
    verb = Verb.RESOLVE
    repository: str
    number: int
    budget_usd: float | None = None
    attempts: int | None = None


@dataclass(frozen=True, kw_only=True)
class Review:
    verb = Verb.REVIEW
    repository: str
    number: int
    budget_usd: float | None = None


@dataclass(frozen=True, kw_only=True)
class Do:
    verb = Verb.DO
    repository: str
    request: str
    budget_usd: float | None = None
    continues: str | None = None  # a follow-up: the task whose branch and pull request it adds to


@dataclass(frozen=True, kw_only=True)
class ChannelRepo:
    """Show (repository None), set or clear the channel's repository."""

    verb = Verb.CHANNEL_REPO
    repository: str | None = None
    clear: bool = False


@dataclass(frozen=True, kw_only=True)
class Test:
    __test__ = False  # not a pytest class
    verb = Verb.TEST
    repository: str
    ref: str | None = None


@dataclass(frozen=True, kw_only=True)
class Status:
    verb = Verb.STATUS
    task_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Cancel:
    verb = Verb.CANCEL
    task_id: str


@dataclass(frozen=True, kw_only=True)
class Stop:
    """End the conversation a task is part of (None: the task of the thread it was said in)."""

    verb = Verb.STOP
    task_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Help:
    verb = Verb.HELP


Command = Resolve | Review | Do | Test | Status | Cancel | Stop | ChannelRepo | Help
StartsWork = Resolve | Review | Do | Test
VERB_OF_TASK = {
    TaskType.ISSUE_RESOLUTION: Verb.RESOLVE,
    TaskType.CHANGE: Verb.DO,
    TaskType.PR_REVIEW: Verb.REVIEW,
    TaskType.TEST_PIPELINE: Verb.TEST,
}


def trigger_of(
    command: StartsWork,
    *,
    user: str,
    channel: str,
    dedup_key: str,
    thread: Sequence[tuple[str, str]] = (),
    requested_in: str | None = None,
) -> Trigger:
    """The task a command asks for, asked by `user` in `channel` (where the answer goes); raises
    `core.errors.ValidationError` for a request no task can be (an issue number 0, a ref too long…). `thread`:
    the earlier messages (author, text) of the thread a `do` was asked in, its context; `requested_in`: a
    link to where it was asked."""
    spec: Spec
    if isinstance(command, Test):
        spec, ref = spec_of(TestPipelineSpec, ref=command.ref), command.repository
    elif isinstance(command, Do):
        messages = [{"author": author, "text": text} for author, text in thread]
        spec = spec_of(
            ChangeSpec,
            request=command.request,
            budget_usd=command.budget_usd,
            thread=messages,
            requested_in=requested_in,
            continues=command.continues,
        )
        ref = command.repository
    elif isinstance(command, Resolve):
        spec = spec_of(
            IssueResolutionSpec, issue_number=command.number, budget_usd=command.budget_usd, attempts=command.attempts
        )
        ref = f"{command.repository}#{command.number}"
    else:
        spec = spec_of(PRReviewSpec, pr_number=command.number, budget_usd=command.budget_usd)
        ref = f"{command.repository}#{command.number}"
    return Trigger(
        source=TriggerSource.SLACK,
        actor=Actor(id=user),
        spec=spec,
        repository=command.repository,
        ref=ref,
        dedup_key=dedup_key,
        reply_to=channel,
    )


def parse_command(text: str, *, default_owner: str | None = None, channel_repository: str | None = None) -> Command:
    """A command from the text of a slash command or a mention (the mention itself is skipped). In a channel
    with a repository of its own, words that are no command are a change to it: `@dockhand add a --json flag`."""
    text = _MENTION.sub("", text.strip())
    text = _LINK.sub(lambda m: _unlink(m[1], m[2]), text)
    if (request := _REQUEST.match(text)) and _names_a_repository(request):
        return _change(request, default_owner)
    opening = text.split(maxsplit=1)[0].lower() if text.split() else ""
    if channel_repository is not None and opening and (not _is_verb(opening) or opening in ("do", "in")):
        return Do(repository=channel_repository, request=text.strip())  # free text: not read as shell words
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise CommandError(f"I could not read that: {exc}") from None
    if not words:
        return Help()
    first = words[0].lower()
    try:
        verb = _ALIASES.get(first) or Verb(first)
    except ValueError:
        raise CommandError(f"I don't know the command `{words[0]}`.") from None
    if verb is Verb.CHANNEL_REPO:
        return _channel_repo(words[1:], default_owner)
    args, options = _options(words[1:])
    if verb is Verb.HELP:
        return Help()
    if options.budget is not None and verb not in (Verb.RESOLVE, Verb.REVIEW):
        raise CommandError(f"`--budget` goes with resolve and review, not {verb.value}.")
    if options.attempts is not None and verb is not Verb.RESOLVE:
        raise CommandError(f"`--attempts` goes with resolve, not {verb.value}.")
    if verb in (Verb.RESOLVE, Verb.REVIEW):
        ref = _numbered(_one(args, verb, "repo#12"), default_owner, verb)
        assert ref.owner is not None and ref.number is not None
        if verb is Verb.REVIEW:
            return Review(repository=ref.full_name, number=ref.number, budget_usd=options.budget)
        budget, attempts = options.budget, options.attempts
        return Resolve(repository=ref.full_name, number=ref.number, budget_usd=budget, attempts=attempts)
    if verb is Verb.DO:
        raise CommandError('`do` takes a repository and what to change: `do repo "add a --json flag"`.')
    if verb is Verb.TEST:
        target = _one(args, verb, "repo[@ref]")
        name, _, ref_name = target.partition("@")
        repo = _repository(name, default_owner)
        if repo.number is not None:
            raise CommandError("`test` takes a repository and an optional @ref, not an issue number.")
        return Test(repository=repo.full_name, ref=ref_name or None)
    if verb in (Verb.STATUS, Verb.STOP):
        if len(args) > 1:
            raise CommandError(f"`{verb.value}` takes at most one task ID.")
        task_id = _task_id(args[0]) if args else None
        return Status(task_id=task_id) if verb is Verb.STATUS else Stop(task_id=task_id)
    return Cancel(task_id=_task_id(_one(args, verb, "task")))


def _names_a_repository(found: re.Match[str]) -> bool:
    """`do acme/calc …`, `in calc: …` and `do calc "…"` name a repository; "in the parser, handle…" or
    "do the same for floats" are plain words."""
    return "/" in found["repo"] or bool(found["colon"]) or found["request"][:1] in "\"'“"


def _is_verb(word: str) -> bool:
    return word in _ALIASES or word in Verb._value2member_map_


def _channel_repo(args: list[str], default_owner: str | None) -> ChannelRepo:
    if not args:
        return ChannelRepo()
    if len(args) != 1:
        raise CommandError("`channel-repo` takes one repository, or `--clear`.")
    if args[0] in ("--clear", "none"):
        return ChannelRepo(clear=True)
    repo = _repository(args[0], default_owner)
    if repo.number is not None:
        raise CommandError("`channel-repo` takes a repository, not an issue.")
    return ChannelRepo(repository=repo.full_name)


def _change(found: re.Match[str], default_owner: str | None) -> Do:
    repo = _repository(found["repo"], default_owner)
    if repo.number is not None:
        raise CommandError(f"`{found['repo']}` is an issue: `resolve {found['repo']}` fixes it.")
    request = found["request"].strip()
    if len(request) >= 2 and request[0] == request[-1] and request[0] in "\"'“”":
        request = request[1:-1].strip()
    if not request:
        raise CommandError('what should change? `do repo "add a --json flag"`')
    budget = _dollars(found["budget"]) if found["budget"] else None
    return Do(repository=repo.full_name, request=request, budget_usd=budget)


def _unlink(target: str, label: str | None) -> str:
    """Slack's `<url|label>` markup: a GitHub issue/PR link as owner/repo#N, anything else as its label."""
    found = _GITHUB_URL.match(target)
    if found:
        return f"{found['repo']}#{found['number']}"
    return label or target


@dataclass(frozen=True)
class Options:
    budget: float | None = None
    attempts: int | None = None


_OPTION_EXAMPLES = {
    "--budget": "an amount in dollars, e.g. `--budget 5`",
    "--attempts": "a number, e.g. `--attempts 3`",
}


def _options(words: list[str]) -> tuple[list[str], Options]:
    rest, found = [], Options()
    i = 0
    while i < len(words):
        word = words[i]
        name, has_value, value = word.partition("=")
        if name in _OPTION_EXAMPLES:
            if not has_value:
                if i + 1 >= len(words):
                    raise CommandError(f"`{name}` needs {_OPTION_EXAMPLES[name]}.")
                value, i = words[i + 1], i + 1
            i += 1
            if name == "--budget":
                found = replace(found, budget=_dollars(value))
            else:
                found = replace(found, attempts=_attempts(value))
            continue
        if word.startswith("--"):
            raise CommandError(f"I don't know the option `{word}`.")
        rest.append(word)
        i += 1
    return rest, found


def _attempts(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_ATTEMPTS:
        raise CommandError(f"`{value}` is not a number of attempts (1 to {MAX_ATTEMPTS}).")
    return int(value)


def _dollars(value: str) -> float:
    try:
        amount = float(value.removeprefix("$"))
    except ValueError:
        raise CommandError(f"`{value}` is not an amount in dollars.") from None
    if not 0 < amount <= MAX_BUDGET_USD:
        raise CommandError(f"a budget is between $0 and ${MAX_BUDGET_USD:.0f}.")
    return amount


def _one(args: list[str], verb: Verb, what: str) -> str:
    if len(args) != 1:
        raise CommandError(f"`{verb.value}` takes one argument: `{verb.value} {what}`.")
    return args[0]


def _repository(text: str, default_owner: str | None) -> RepoRef:
    try:
        ref = RepoRef.parse(text, default_owner=default_owner)
    except DockhandError:
        raise CommandError(f"`{text}` is not a repository (owner/repo).") from None
    if ref.owner is None:
        raise CommandError(f"`{text}` needs its owner: `owner/{ref.name}` (no default owner is configured).")
    return ref


def _numbered(text: str, default_owner: str | None, verb: Verb) -> RepoRef:
    ref = _repository(text, default_owner)
    if ref.number is None:
        what = "issue" if verb is Verb.RESOLVE else "pull request"
        raise CommandError(f"`{text}` needs the {what} number: `{ref.full_name}#12`.")
    return ref


def _task_id(text: str) -> str:
    if not _TASK_ID.match(text):
        raise CommandError(f"`{text}` is not a task ID.")
    return text
