"""GitHub payloads into typed triggers, on every real example in tests/fixtures — no I/O."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.github.events import (
    Asked,
    Command,
    Ignored,
    InstallationChanged,
    IssueOpened,
    Mention,
    PayloadError,
    PullRequestChanged,
    Pushed,
    TriggerRules,
    parse_event,
)
from tests.conftest import FIXTURES as REPO_FIXTURES

FIXTURES = REPO_FIXTURES / "github-webhooks"
ALL = sorted(p for p in FIXTURES.glob("*/*.json"))


def load(event: str, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((FIXTURES / event / name).read_text())


@pytest.mark.parametrize("path", ALL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_parses_to_a_trigger(path: Path) -> None:
    trigger = parse_event(path.parent.name, json.loads(path.read_text()), TriggerRules())
    assert trigger is not None


def test_issues() -> None:
    rules = TriggerRules(trigger_label="bug")
    labeled = parse_event("issues", load("issues", "labeled.payload.json"), rules)
    assert (
        isinstance(labeled, IssueOpened) and labeled.number == 1 and labeled.repo.full_name == "Codertocat/Hello-World"
    )
    assert isinstance(parse_event("issues", load("issues", "labeled.payload.json"), TriggerRules()), Ignored)
    opened = parse_event("issues", load("issues", "opened.payload.json"), TriggerRules())
    assert isinstance(opened, Ignored) and "label" in opened.reason
    assert isinstance(parse_event("issues", load("issues", "edited.payload.json"), rules), Ignored)


def test_mentions_become_commands_and_bots_never_do() -> None:
    payload = load("issue_comment", "created.payload.json")
    assert isinstance(parse_event("issue_comment", payload, TriggerRules()), Ignored), "no mention in the example"
    payload["comment"]["body"] = "Thanks!\n@dockhand fix this please"
    mention = parse_event("issue_comment", payload, TriggerRules())
    assert isinstance(mention, Mention) and mention.command is Command.FIX and mention.argument == "this please"
    assert mention.actor.association == payload["comment"]["author_association"] and not mention.on_pull_request
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/x/y/pulls/1"}
    payload["comment"]["body"] = "@DockHand review"
    review = parse_event("issue_comment", payload, TriggerRules())
    assert isinstance(review, Mention) and review.command is Command.REVIEW and review.on_pull_request
    payload["comment"]["body"] = "email me at someone@dockhand fix"  # not a mention
    assert isinstance(parse_event("issue_comment", payload, TriggerRules()), Ignored)
    payload["comment"]["body"] = "@dockhand fix it"
    payload["comment"]["user"]["type"] = "Bot"
    assert "bot" in parse_event("issue_comment", payload, TriggerRules()).reason  # type: ignore[union-attr]
    payload["comment"]["user"]["type"] = "User"
    payload["comment"]["user"]["login"] = "dockhand-app"
    ignored = parse_event("issue_comment", payload, TriggerRules(bot_logins=frozenset({"dockhand-app"})))
    assert isinstance(ignored, Ignored)
    assert isinstance(
        parse_event("issue_comment", load("issue_comment", "edited.payload.json"), TriggerRules()), Ignored
    )


def test_a_mention_with_words_that_are_no_command_is_a_request() -> None:
    payload = load("issue_comment", "created.payload.json")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/x/y/pulls/1"}
    payload["comment"]["body"] = "Looks good.\n@dockhand also handle negatives\nlike add(-1, 2)"
    asked = parse_event("issue_comment", payload, TriggerRules())
    assert isinstance(asked, Asked) and asked.on_pull_request
    assert asked.request == "also handle negatives\nlike add(-1, 2)", "from the mention to the comment's end"
    payload["comment"]["body"] = "@dockhand also rename `parse_num` to `parse_number`"
    renamed = parse_event("issue_comment", payload, TriggerRules())
    assert isinstance(renamed, Asked) and renamed.request == "also rename `parse_num` to `parse_number`"
    payload["comment"]["body"] = "@dockhand approve once you also handle negatives"
    assert isinstance(parse_event("issue_comment", payload, TriggerRules()), Asked), "words after it: no approval"
    payload["comment"]["body"] = "see `@dockhand also this` in the docs"  # inside code: an example
    assert isinstance(parse_event("issue_comment", payload, TriggerRules()), Ignored)
    payload["comment"]["body"] = "@dockhand also handle negatives"
    payload["comment"]["user"]["type"] = "Bot"
    assert isinstance(parse_event("issue_comment", payload, TriggerRules()), Ignored), "bots never ask"


def test_pull_requests() -> None:
    opened = parse_event("pull_request", load("pull_request", "opened.payload.json"), TriggerRules())
    assert isinstance(opened, PullRequestChanged) and opened.head_sha and opened.base_ref == "master"
    sync = parse_event("pull_request", load("pull_request", "synchronize.payload.json"), TriggerRules())
    assert isinstance(sync, PullRequestChanged) and sync.action == "synchronize"
    assert isinstance(parse_event("pull_request", load("pull_request", "closed.payload.json"), TriggerRules()), Ignored)
    off = parse_event("pull_request", load("pull_request", "opened.payload.json"), TriggerRules(reviews_enabled=False))
    assert isinstance(off, Ignored)
    draft = load("pull_request", "opened.payload.json")
    draft["pull_request"]["draft"] = True
    assert parse_event("pull_request", draft, TriggerRules()).reason == "draft pull request"  # type: ignore[union-attr]
    assert isinstance(
        parse_event("pull_request", load("pull_request", "opened.with-null-body.json"), TriggerRules()),
        PullRequestChanged,
    )


def test_pushes() -> None:
    branch = parse_event("push", load("push", "with-new-branch.payload.json"), TriggerRules())
    assert isinstance(branch, Pushed) and branch.branch == "master" and len(branch.after) == 40
    tag = parse_event("push", load("push", "payload.json"), TriggerRules())
    assert isinstance(tag, Ignored) and "not a branch" in tag.reason
    other = parse_event("push", load("push", "with-new-branch.payload.json"), TriggerRules(push_branches=("main",)))
    assert isinstance(other, Ignored)


def test_installations() -> None:
    created = parse_event("installation", load("installation", "created.payload.json"), TriggerRules())
    assert isinstance(created, InstallationChanged) and created.added == ("Codertocat/Hello-World",)
    added = parse_event(
        "installation_repositories", load("installation_repositories", "added.payload.json"), TriggerRules()
    )
    assert isinstance(added, InstallationChanged) and added.added == ("Codertocat/Space",)


def test_unknown_events_are_ignored_and_broken_payloads_are_payload_errors() -> None:
    assert isinstance(parse_event("check_run", load("check_run", "created.payload.json"), TriggerRules()), Ignored)
    with pytest.raises(PayloadError):
        parse_event("issues", {"action": "opened"}, TriggerRules())
    with pytest.raises(PayloadError):
        parse_event("push", {"ref": "refs/heads/main"}, TriggerRules())


@pytest.mark.parametrize(
    "event,fixture,path,value",
    [
        ("issues", "opened.payload.json", ("installation",), "x"),
        ("issues", "opened.payload.json", ("issue", "number"), float("inf")),
        ("issues", "opened.payload.json", ("issue", "number"), "1"),
        ("issues", "opened.payload.json", ("issue", "labels"), {"name": "dockhand"}),
        ("issues", "opened.payload.json", ("repository",), "Codertocat/Hello-World"),
        ("issues", "opened.payload.json", ("sender", "login"), 7),
        ("issue_comment", "created.payload.json", ("comment", "body"), ["@dockhand fix"]),
        ("issue_comment", "created.payload.json", ("comment", "id"), 1e300),
        ("pull_request", "opened.payload.json", ("pull_request", "head"), None),
        ("pull_request", "opened.payload.json", ("pull_request", "draft"), "false"),
        ("push", "with-new-branch.payload.json", ("deleted",), 0),
        ("push", "with-new-branch.payload.json", ("ref",), ["refs/heads/main"]),
        ("installation", "created.payload.json", ("installation", "id"), -1),
    ],
)
def test_fields_of_the_wrong_json_type_are_malformed_not_half_read(
    event: str, fixture: str, path: tuple[str, ...], value: object
) -> None:
    payload = load(event, fixture)
    holder = payload
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    with pytest.raises(PayloadError, match=rf"^malformed {event} payload: {re.escape('.'.join(path))}"):
        parse_event(event, payload, TriggerRules())


def test_payloads_that_are_not_objects_are_malformed() -> None:
    for payload in (None, [], "x", 1):
        with pytest.raises(PayloadError, match="malformed issues payload"):
            parse_event("issues", payload, TriggerRules())


def test_repository_config_is_parsed_strictly() -> None:
    from core.errors import ValidationError
    from core.repo_config import RepositoryConfig, parse_repository_config

    config = parse_repository_config(
        '[github]\nreviews = false\nbranches = ["main", "release/*"]\n[[project]]\npath = "."\n'
    )
    assert config == RepositoryConfig(reviews=False, branches=("main", "release/*"))
    assert parse_repository_config("") == RepositoryConfig()
    for bad, message in [
        ("[github]\nreview = false\n", "review"),
        ("[github]\ntests = 'maybe'\n", "tests"),
        ("github = 1\n", "github: Input should be a valid dictionary"),
        ("[github\n", "not valid TOML"),
    ]:
        with pytest.raises(ValidationError, match=message):
            parse_repository_config(bad)


def test_repository_config_overrides_only_what_it_sets() -> None:
    from core.repo_config import RepositoryConfig

    base = TriggerRules(trigger_label="dockhand", push_branches=("main",), reviews_enabled=True)
    changed = base.for_repository(RepositoryConfig(reviews=False, trigger_label="fix-me"))
    assert changed.reviews_enabled is False and changed.trigger_label == "fix-me"
    assert changed.push_branches == ("main",) and changed.tests_enabled is True


@pytest.mark.parametrize(
    "body",
    [
        "don't @dockhand approve yet",
        "> @dockhand approve",
        "```\n@dockhand approve\n```",
        "Use `@dockhand approve` when ready",
    ],
)
def test_a_command_must_start_a_line_outside_quotes_and_code(body: str) -> None:
    payload = json.loads((FIXTURES / "issue_comment" / "created.payload.json").read_text())
    payload["comment"]["body"] = body
    assert isinstance(parse_event("issue_comment", payload, TriggerRules()), Ignored)
