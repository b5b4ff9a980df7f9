"""What people type in Slack → typed commands, or a reason with the usage."""

from __future__ import annotations

import pytest

from bot.slack.commands import (
    USAGE,
    Cancel,
    ChannelRepo,
    CommandError,
    Do,
    Help,
    Resolve,
    Review,
    Status,
    Test,
    parse_command,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("resolve acme/calc#12", Resolve(repository="acme/calc", number=12)),
        ("fix calc#12 --budget 5", Resolve(repository="acme/calc", number=12, budget_usd=5.0)),
        ("resolve --budget=$2.5 calc#3", Resolve(repository="acme/calc", number=3, budget_usd=2.5)),
        ("<@U0LAN0Z89> resolve other/x#1", Resolve(repository="other/x", number=1)),
        (
            "resolve <https://github.com/acme/calc/issues/7|acme/calc#7>",
            Resolve(repository="acme/calc", number=7),
        ),
        ("review <https://github.com/acme/calc/pull/34>", Review(repository="acme/calc", number=34)),
        ("REVIEW calc#34 --budget 1", Review(repository="acme/calc", number=34, budget_usd=1.0)),
        ('do acme/calc "add a --json flag"', Do(repository="acme/calc", request="add a --json flag")),
        ("do acme/calc don't crash on -1", Do(repository="acme/calc", request="don't crash on -1")),
        (
            "<@U0LAN0Z89> in calc: sort the output\nby name",
            Do(repository="acme/calc", request="sort the output\nby name"),
        ),
        (
            "do --budget 3 acme/calc make it faster",
            Do(repository="acme/calc", request="make it faster", budget_usd=3.0),
        ),
        ("channel-repo calc", ChannelRepo(repository="acme/calc")),
        ("channel-repo", ChannelRepo()),
        ("channel-repo --clear", ChannelRepo(clear=True)),
        ("test calc", Test(repository="acme/calc")),
        ("test acme/calc@release/2.0", Test(repository="acme/calc", ref="release/2.0")),
        ("status", Status()),
        ("status 0123456789ab", Status(task_id="0123456789ab")),
        ("cancel 0123456789ab", Cancel(task_id="0123456789ab")),
        ("", Help()),
        ("help", Help()),
        ("<@U0LAN0Z89>", Help()),
    ],
)
def test_commands(text: str, expected: object) -> None:
    assert parse_command(text, default_owner="acme") == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("deploy prod", "I don't know the command `deploy`"),
        ("resolve calc", "needs the issue number"),
        ("review calc", "needs the pull request number"),
        ("resolve calc#1 calc#2", "takes one argument"),
        ("resolve calc#1 --budget", "needs an amount"),
        ("resolve calc#1 --budget lots", "not an amount"),
        ("resolve calc#1 --budget 0", "between $0"),
        ("resolve calc#1 --budget 100000", "between $0"),
        ("test calc --budget 3", "goes with resolve and review"),
        ("resolve calc#1 --force", "I don't know the option"),
        ("test calc#3", "not an issue number"),
        ("do calc", "takes a repository and what to change"),
        ("do acme/calc#3 fix it", "is an issue"),
        ('do calc ""', "what should change"),
        ("channel-repo calc#3", "not an issue"),
        ("channel-repo a/b c/d", "one repository"),
        ("cancel", "takes one argument"),
        ("cancel ../../etc", "not a task ID"),
        ("resolve 'calc#1", "could not read"),
        ("resolve ../x#1", "is not a repository"),
    ],
)
def test_bad_requests_say_why_and_how(text: str, reason: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse_command(text, default_owner="acme")
    assert reason in caught.value.reason
    assert str(caught.value).endswith(USAGE)


def test_without_a_default_owner_the_owner_is_needed() -> None:
    with pytest.raises(CommandError, match="needs its owner"):
        parse_command("resolve calc#12")
    assert parse_command("resolve acme/calc#12") == Resolve(repository="acme/calc", number=12)


def test_in_a_channel_with_a_repository_words_that_are_no_command_are_a_change_to_it() -> None:
    here = {"default_owner": "acme", "channel_repository": "acme/calc"}
    assert parse_command("<@U0LAN0Z89> don't crash on -1", **here) == Do(
        repository="acme/calc", request="don't crash on -1"
    )
    assert parse_command("status", **here) == Status(), "commands stay commands"
    assert parse_command("do other/x make it so", **here) == Do(repository="other/x", request="make it so")
    with pytest.raises(CommandError, match="I don't know the command `add`"):
        parse_command("add a flag", default_owner="acme")
    # "in"/"do" followed by plain words name no repository: in a channel (or thread) with one, they are a request
    assert parse_command("in the parser, handle negatives", **here) == Do(
        repository="acme/calc", request="in the parser, handle negatives"
    )
    with pytest.raises(CommandError, match="takes a repository"):
        parse_command("do the same for floats", default_owner="acme")
