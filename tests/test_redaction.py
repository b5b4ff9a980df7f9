"""No secret is shown to anyone: a command that prints credentials leaves none in the log table, the API,
Slack or GitHub."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

from bot.github.intake import github_client_factory
from bot.github.progress import ProgressComments
from bot.http.app import create_app
from bot.slack.app import SlackBot
from bot.slack.client import slack_client
from bot.slack.threads import THREAD, place
from core.redaction import Redactor
from core.service import Core
from core.specs import TaskSubmission
from core.states import TaskStatus, TaskType, TriggerSource
from tests.support.fake_github import FakeGitHub, running_fake_github
from tests.support.fake_slack import running_fake_slack
from tests.support.server import serve_in_thread
from tests.support.waiting import wait_for

ANTHROPIC_KEY = "sk-ant-api03-" + "Q" * 40
SLACK_SECRET = "slack-signing-secret-value"
STRANGER_TOKEN = "ghp_" + "Z" * 36  # not dockhand's: caught by its shape


def test_known_values_and_token_shapes_are_replaced() -> None:
    redact = Redactor(["a-known-secret-value", "short"])
    text = (
        f"key={ANTHROPIC_KEY} gh={STRANGER_TOKEN} slack=xoxb-1234567890-abcdefghij value=a-known-secret-value "
        "short stays -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----"
    )
    shown = redact.text(text)
    for secret in (ANTHROPIC_KEY, STRANGER_TOKEN, "xoxb-1234567890", "a-known-secret-value", "b3BlbnNzaA"):
        assert secret not in shown
    assert "short stays" in shown  # too short to be a secret worth hiding (it would hide ordinary words)
    assert redact.value({"a": [f"x {STRANGER_TOKEN}"], "n": 3}) == {"a": ["x [redacted GitHub token]"], "n": 3}


def test_a_printed_secret_reaches_no_log_api_slack_or_github(core_factory: Callable[..., Core]) -> None:
    github = FakeGitHub()
    github.add_repo("acme/calc")
    github.issues[("acme/calc", 5)] = {"title": "x", "body": "", "user": {"login": "alice"}}
    with running_fake_github(github) as (_, github_url), running_fake_slack() as (slack, slack_url):
        core = core_factory(
            github_token="ghp_fake_token",
            github_api_url=github_url,
            anthropic_api_key=ANTHROPIC_KEY,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SLACK_SECRET,
            slack_api_url=f"{slack_url}/api/",
        )
        SlackBot(core, slack_client(core.settings)).subscribe()
        core.bus.subscribe(ProgressComments(core, github_client_factory(core.settings)), name="progress")
        leak = f"echo anthropic={ANTHROPIC_KEY}; echo signing={SLACK_SECRET}; echo other={STRANGER_TOKEN}"
        task = core.submit(
            TaskSubmission(
                type=TaskType.CUSTOM,
                payload={"command": f"{leak}; echo {ANTHROPIC_KEY} >&2; exit 3"},
                repository="acme/calc",
                trigger_source=TriggerSource.GITHUB,
                trigger_ref="acme/calc#5",
                max_retries=0,
            )
        ).task
        parent = slack_client(core.settings).chat_postMessage(channel="C111", text="task")
        core.notifications.remember(task.id, THREAD, place("C111", str(parent["ts"])))
        assert core.run_now(task.id).status is TaskStatus.FAILED
        wait_for(lambda: any("failed" in c["body"] for c in github.comments.values()), what="the GitHub comment")
        wait_for(lambda: len(slack.thread("C111", str(parent["ts"]))) >= 1, what="the Slack thread")
        with serve_in_thread(create_app(core, api_token="t")) as base:
            headers = {"Authorization": "Bearer t"}
            api = httpx.get(f"{base}/task/{task.id}", headers=headers).text
            api += httpx.get(f"{base}/task/{task.id}/logs", headers=headers).text
        logs = "\n".join(line.line for line in core.logs.tail(task.id, limit=1000))
        assert "[redacted" in logs  # the lines are there, their secrets are not
        seen = {
            "log table": logs,
            "task error": core.task(task.id).error or "",
            "API": api,
            "GitHub": json.dumps(github.requests),
            "Slack": json.dumps(slack.calls),
        }
        for where, text in seen.items():
            for secret in (ANTHROPIC_KEY, SLACK_SECRET, STRANGER_TOKEN):
                assert secret not in text, f"{secret[:8]}… reached the {where}"
        assert slack.errors == [] and github.contract_errors == []


def test_a_tasks_own_environment_values_are_hidden_in_its_output(core_factory: Callable[..., Core]) -> None:
    core = core_factory()
    task = core.submit(
        TaskSubmission(
            type=TaskType.CUSTOM,
            payload={"command": "echo deploying with $DEPLOY_KEY; exit 1", "env": {"DEPLOY_KEY": "d3ploy-k3y-value"}},
            trigger_source=TriggerSource.CLI,
            max_retries=0,
        )
    ).task
    core.run_now(task.id)
    logs = "\n".join(line.line for line in core.logs.tail(task.id))
    assert "deploying with [redacted]" in logs and "d3ploy-k3y-value" not in logs


def test_multi_line_keys_are_hidden_line_by_line() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(f"{c * 64}" for c in "ABCD") + "\n-----END PRIVATE KEY-----\n"
    redact = Redactor([pem])
    assert redact.text("AAAA" * 16) == "[redacted]" and redact.text("key line: " + "C" * 64) == "key line: [redacted]"


def test_slack_credentials_in_call_parameters_are_not_redacted() -> None:
    from bot.slack.client import RedactingWebClient

    with running_fake_slack() as (_, url):
        client = RedactingWebClient(base_url=f"{url}/api/")
        client.redactor = Redactor(["xoxb-test"])
        answer = client.api_call("auth.test", params={"token": "xoxb-test"})  # as Socket Mode sends its token
        assert answer["ok"] is True


def test_every_token_shape_passes_the_quick_scan_that_lets_plain_text_skip_the_patterns() -> None:
    """Redaction only runs the patterns on text the quick scan flags: each pattern's matches must be flagged."""
    from core.secret_scan import MAY_HOLD_A_TOKEN, PATTERNS

    samples = {
        "GitHub token": ["ghp_" + "a" * 36, "gho_" + "b" * 40, "github_pat_" + "c" * 30],
        "Slack token": ["xoxb-1234567890-abc", "xoxp-" + "d" * 20],
        "Slack app token": ["xapp-1-A0123456789-xyz"],
        "Anthropic API key": [ANTHROPIC_KEY],
        "OpenAI API key": ["sk-" + "e" * 40, "sk-proj-" + "f" * 40],
        "AWS access key id": ["AKIA" + "G" * 16, "ASIA" + "H" * 16],
        "Google API key": ["AIza" + "i" * 35],
        "private key": ["-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----"],
    }
    assert set(samples) == set(PATTERNS), "a new pattern needs samples here (and perhaps a literal in the scan)"
    for kind, tokens in samples.items():
        for token in tokens:
            match = PATTERNS[kind].search(f"x {token} y")
            assert match is not None, (kind, token)
            assert MAY_HOLD_A_TOKEN.search(match.group(0)), f"the quick scan misses a {kind}: {token}"
            assert f"[redacted {kind}]" in Redactor([]).text(f"x {token} y")
    assert Redactor([]).text("plain output, nothing to hide") == "plain output, nothing to hide"
