"""Slack end to end: real signed requests (shaped like tests/fixtures/slack) to the Bolt app over HTTP,
the real slack_sdk against the fake Slack Web API, and the issue-resolution machinery behind it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa

from bot.http.app import create_app
from bot.slack.app import SlackBot
from bot.slack.client import slack_client
from bot.slack.messages import APPROVE, REJECT, VIEW_DIFF
from core.service import Core
from core.states import StageStatus, TaskStatus, TaskType, TriggerSource
from core.store.queue_types import TaskFilter
from tests.conftest import FIXTURES as REPO_FIXTURES
from tests.support.fake_slack import FakeSlack, running_fake_slack, signed_headers
from tests.support.server import serve_in_thread
from tests.support.store import database
from tests.support.waiting import wait_for

SECRET = "slack-signing-secret"
FIXTURES = REPO_FIXTURES / "slack"
CHANNEL, ALICE, BOB = "C111", "U111", "W111"


@dataclass
class SlackWorld:
    core: Core
    slack: FakeSlack
    http: httpx.Client

    def post(
        self, body: str, content_type: str, *, timestamp: int | None = None, secret: str = SECRET, **headers: str
    ) -> httpx.Response:
        signed = signed_headers(body, secret, content_type, timestamp=timestamp)
        return self.http.post("/slack/events", content=body.encode(), headers={**signed, **headers})

    def command(
        self, text: str, *, user: str = ALICE, trigger: str = "1.2.abc", channel: str = CHANNEL, **kw: Any
    ) -> httpx.Response:
        fields = json.loads((FIXTURES / "slash_command.json").read_text())
        fields.update(
            command="/agent",
            text=text,
            user_id=user,
            user_name="alice" if user == ALICE else "someone",
            channel_id=channel,
            trigger_id=trigger,
            response_url=self.slack.response_url(f"cmd-{trigger}"),
        )
        return self.post(urlencode(fields), "application/x-www-form-urlencoded", **kw)

    def click(self, action_id: str, task_id: str, *, user: str = ALICE) -> httpx.Response:
        payload = json.loads((FIXTURES / "block_actions_button.json").read_text())
        payload["user"].update(id=user, username="alice" if user == ALICE else "bob", name="x")
        payload["channel"]["id"] = payload["container"]["channel_id"] = CHANNEL
        payload["response_url"] = self.slack.response_url(f"click-{time.monotonic_ns()}")
        payload["actions"][0].update(action_id=action_id, value=task_id, block_id=f"approval-{task_id}")
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def mention(self, text: str, event_id: str, **headers: str) -> httpx.Response:
        body = json.loads((FIXTURES / "app_mention.json").read_text())
        body["event_id"] = event_id
        body["event"].update(text=f"<@U222> {text}", user=ALICE, channel=CHANNEL)
        return self.post(json.dumps(body), "application/json", **headers)

    def answers(self, trigger: str) -> list[str]:
        """What the command with this trigger was answered through its response_url."""
        return [str(r.get("text", "")) for r in self.slack.responses_to(f"cmd-{trigger}")]

    def answer(self, text: str, *, trigger: str, **kw: Any) -> str:
        """Send a command and wait for its (private) answer."""
        ack = self.command(text, trigger=trigger, **kw)
        assert ack.status_code == 200 and not ack.content, ack.content  # acknowledged at once, answered later
        return wait_for(lambda: self.answers(trigger), what=f"the answer to {text!r}")[-1]

    def ephemeral_to(self, user: str) -> list[str]:
        return [str(e.get("text", "")) for e in self.slack.ephemeral if e["user"] == user]


@contextmanager
def slack_world(core: Core) -> Iterator[SlackWorld]:
    with running_fake_slack() as (slack, url):
        settings = core.settings.model_copy(update={"slack_api_url": f"{url}/api/"})
        core.settings = settings
        bot = SlackBot(core, slack_client(settings))
        bot.subscribe()
        with serve_in_thread(create_app(core, api_token="t", slack=bot)) as base, httpx.Client(base_url=base) as http:
            yield SlackWorld(core=core, slack=slack, http=http)
        assert slack.errors == []


@pytest.fixture
def world(core_factory: Callable[..., Core]) -> Iterator[SlackWorld]:
    core = core_factory(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_default_owner="acme",
        slack_update_seconds=0,
    )
    with slack_world(core) as made:
        yield made


def test_a_command_is_acknowledged_at_once_and_a_bad_one_gets_usage(world: SlackWorld) -> None:
    started = time.monotonic()
    answer = world.command("deploy everything")
    assert answer.status_code == 200 and time.monotonic() - started < 3
    reply = answer.json()
    assert reply["response_type"] == "ephemeral" and "I don't know the command `deploy`" in reply["text"]
    assert "/agent <command>" in reply["text"]
    assert world.command("help").json()["text"].startswith("Usage:")
    assert world.core.tasks(TaskFilter()) == []


def test_acknowledgements_never_wait_behind_the_work_of_earlier_commands(world: SlackWorld) -> None:
    """While the store keeps every command's work waiting, later commands are still acknowledged within
    Slack's 3 s (none queues behind what earlier ones do after their acknowledgement), and the work is done
    once the store lets it."""
    db = database(world.core)
    triggers = [f"9.9.{i}" for i in range(8)]
    with db.write() as session:  # SQLite: its write lock, held; PostgreSQL: no insert into task meanwhile
        session.execute(sa.text("SELECT 1" if db.is_sqlite else "LOCK TABLE task IN EXCLUSIVE MODE"))
        answers = []
        for trigger in triggers:
            started = time.monotonic()
            answers.append((world.command("test calc", trigger=trigger), time.monotonic() - started))
    assert [(a.status_code, a.text) for a, _ in answers] == [(200, "")] * len(triggers)
    assert max(seconds for _, seconds in answers) < 3
    tasks = wait_for(lambda: len(world.core.tasks(TaskFilter())) == len(triggers) and world.core.tasks(TaskFilter()))
    assert {t.dedup_key for t in tasks} == {f"slack:command:{trigger}" for trigger in triggers}
    wait_for(lambda: all(world.answers(trigger) for trigger in triggers), what="every answer")


def test_requests_without_a_valid_signature_or_too_old_are_refused(world: SlackWorld) -> None:
    assert world.command("status", secret="wrong").status_code == 401
    assert world.command("status", timestamp=int(time.time()) - 6 * 60).status_code == 401
    assert world.core.tasks(TaskFilter()) == []


def test_hostile_requests_are_4xx_before_anything_parses_them(world: SlackWorld) -> None:
    unsigned = [
        ("{not json", "application/json"), ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        ("\x00\xff", "text/plain"), ("", "application/json"),
    ]  # fmt: skip
    for body, kind in unsigned:
        answer = world.http.post("/slack/events", content=body.encode(), headers={"Content-Type": kind})
        assert answer.status_code == 401, (body, answer.status_code)
        answer = world.http.post(
            "/slack/events", content=body.encode(),
            headers={"Content-Type": kind, "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"},
        )  # fmt: skip
        assert answer.status_code == 401, (body, answer.status_code)
    # Signed, but not what Slack sends: refused as malformed, never a 500.
    for body, kind in [
        ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ("payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        ("[]", "application/json"),
    ]:
        status = world.post(body, kind).status_code
        assert 400 <= status < 500 or status == 200, (body, status)
    # Slack's window: 300 s old is inside it, 301 s is not (each sent early in a second of the server's clock,
    # so that second is still the same when the server looks).
    challenge = json.dumps({"type": "url_verification", "challenge": "c", "token": "t"})
    assert world.post(challenge, "application/json", timestamp=_early_in_a_second() - 300).status_code == 200
    assert world.post(challenge, "application/json", timestamp=_early_in_a_second() - 301).status_code == 401


def test_slacks_own_signed_example_is_checked_with_the_configured_secret(core_factory: Callable[..., Core]) -> None:
    example = json.loads((FIXTURES / "slash_command.signature.json").read_text())
    form = (FIXTURES / example["body_file"]).read_text()
    core = core_factory(slack_bot_token="xoxb-test", slack_signing_secret=example["signing_secret"])
    with slack_world(core) as world:
        # Correctly signed, in 2018: far outside the 5-minute window.
        replayed = world.http.post(
            "/slack/events",
            content=form.encode(),
            headers={"Content-Type": example["content_type"], **example["headers"]},
        )
        assert replayed.status_code == 401
        # The same body signed now with the same secret passes the check; no listener handles its command.
        fresh = world.post(form, example["content_type"], secret=example["signing_secret"])
        assert fresh.status_code == 404
        assert world.core.tasks(TaskFilter()) == []


def test_a_test_command_starts_a_task_with_one_parent_message(world: SlackWorld) -> None:
    assert "On it" in world.answer("test calc@main", trigger="9.9.test")
    (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the task")
    assert task.type is TaskType.TEST_PIPELINE and task.repository == "acme/calc" and task.payload["ref"] == "main"
    assert task.trigger_source is TriggerSource.SLACK and task.triggered_by == ALICE
    parents = wait_for(lambda: [m for m in world.slack.messages.values() if "thread_ts" not in m], what="parent")
    assert len(parents) == 1 and "acme/calc" in json.dumps(parents[0]["blocks"]) and task.id in parents[0]["text"]
    # Slack retries nothing for slash commands, but the same request twice still makes one task.
    world.command("test calc@main", trigger="9.9.test")
    time.sleep(0.5)
    assert len(world.core.tasks(TaskFilter())) == 1


def test_a_channel_the_bot_cannot_post_in_gets_no_task_running(world: SlackWorld) -> None:
    reply = world.answer("test calc", trigger="4.4.n", channel="C999")
    assert "Not started" in reply and "channel_not_found" in reply
    (task,) = world.core.tasks(TaskFilter())
    assert task.status is TaskStatus.CANCELLED
    world.slack.errors.clear()  # the refused post is recorded by the fake as a breach; it was meant


def test_a_retried_mention_makes_one_task(world: SlackWorld) -> None:
    assert world.mention("test acme/calc", "Ev-42").status_code == 200
    assert (
        world.mention(
            "test acme/calc", "Ev-42", **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        ).status_code
        == 200
    )
    wait_for(lambda: world.core.tasks(TaskFilter()), what="the task")
    time.sleep(0.5)
    (task,) = world.core.tasks(TaskFilter())
    assert task.dedup_key == "slack:event:Ev-42"


def test_a_second_resolve_of_the_same_issue_answers_already_on_it(world: SlackWorld) -> None:
    from core.pipeline import Pipeline

    world.core.registry.register(TaskType.ISSUE_RESOLUTION, Pipeline(name="issue-resolution", stages=()))
    assert "On it" in world.answer("resolve calc#12", trigger="7.7.a")
    (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the task")
    again = world.answer("resolve acme/calc#12", trigger="7.7.b")
    assert again.startswith(f"Already on it: task {task.id} is") and f"<#{CHANNEL}>" in again
    assert len(world.core.tasks(TaskFilter())) == 1


def test_a_request_no_task_can_be_is_answered_and_audited(world: SlackWorld) -> None:
    """Parsed, but not a valid task (issue 0, a ref past its limit): a reply saying why, an audit entry, no task."""
    zero = world.answer("resolve calc#0", trigger="8.8.a")
    assert zero.startswith("Not started: invalid request: issue_number") and world.core.tasks(TaskFilter()) == []
    long_ref = world.answer(f"test calc@{'x' * 300}", trigger="8.8.b")
    assert long_ref.startswith("Not started: invalid request: ref")
    refused = [(e.action, e.outcome, e.target) for e in world.core.audit.recent()]
    assert refused == [("submit", "refused", "acme/calc"), ("submit", "refused", "acme/calc#0")]


def test_a_change_asked_in_words_starts_a_change_task(world: SlackWorld) -> None:
    from core.pipeline import Pipeline

    world.core.registry.register(TaskType.CHANGE, Pipeline(name="change", stages=()))
    assert "On it" in world.answer('do calc "add a --json flag to the report"', trigger="9.9.a")
    (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the task")
    assert (task.type, task.repository, task.trigger_ref) == (TaskType.CHANGE, "acme/calc", "acme/calc")
    assert task.payload["request"] == "add a --json flag to the report" and task.triggered_by == ALICE


def mention_in_thread(world: SlackWorld, text: str, event_id: str) -> list[Any]:
    """Bob reports a bug in a channel, Alice adds to it in the thread, the bot posts there, then Alice asks the
    bot in the same thread; the change task that starts."""
    from core.pipeline import Pipeline

    world.core.registry.register(TaskType.CHANGE, Pipeline(name="change", stages=()))
    parent = world.slack.add_message(CHANNEL, "calc crashes on negative numbers", user=BOB)
    world.slack.add_message(CHANNEL, "seen it: `add(-1, 2)` raises", user=ALICE, thread_ts=parent)
    noise = world.slack.add_message(CHANNEL, "a bot's progress note", user="U222", thread_ts=parent)
    world.slack.messages[(CHANNEL, noise)]["bot_id"] = world.slack.bot_id
    asked = world.slack.add_message(CHANNEL, f"<@U222> {text}", user=ALICE, thread_ts=parent)
    body = json.loads((FIXTURES / "app_mention.json").read_text())
    body["event_id"] = event_id
    body["event"].update(text=f"<@U222> {text}", user=ALICE, channel=CHANNEL, ts=asked, thread_ts=parent)
    assert world.post(json.dumps(body), "application/json").status_code == 200
    return wait_for(lambda: world.core.tasks(TaskFilter()), what="the change task")


def test_a_request_made_in_a_thread_takes_the_threads_messages_as_context(world: SlackWorld) -> None:
    (task,) = mention_in_thread(world, "in calc: fix what Bob found", "Ev0THREAD1")
    assert task.type is TaskType.CHANGE and task.payload["request"] == "fix what Bob found"
    assert task.payload["thread"] == [
        {"author": BOB, "text": "calc crashes on negative numbers"},
        {"author": ALICE, "text": "seen it: `add(-1, 2)` raises"},
    ], "people's messages, oldest first; not the bot's, not the request itself"
    assert str(task.payload["requested_in"]).startswith(f"https://dockhand-test.slack.invalid/archives/{CHANNEL}/p")
    replies = [args for method, args in world.slack.calls if method == "conversations.replies"]
    assert len(replies) == 1 and replies[0]["channel"] == CHANNEL, "one page was enough"


def test_without_the_history_scopes_a_threads_request_comes_alone(world: SlackWorld) -> None:
    world.slack.scopes = [s for s in world.slack.scopes if not s.endswith(":history")]
    (task,) = mention_in_thread(world, "in calc: fix what Bob found", "Ev0THREAD2")
    assert task.payload["request"] == "fix what Bob found" and task.payload["thread"] == []


def test_a_channels_repository_makes_a_mention_with_what_to_change_enough(world: SlackWorld) -> None:
    from core.pipeline import Pipeline

    world.core.registry.register(TaskType.CHANGE, Pipeline(name="change", stages=()))
    assert "has no repository" in world.answer("channel-repo", trigger="6.6.a")
    assert "now works on acme/calc" in world.answer("channel-repo calc", trigger="6.6.b")
    assert "works on acme/calc" in world.answer("channel-repo", trigger="6.6.c")
    assert world.mention("handle negative numbers too", "Ev0CHANREPO").status_code == 200
    (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the change task")
    assert (task.type, task.repository, task.payload["request"]) == (
        TaskType.CHANGE,
        "acme/calc",
        "handle negative numbers too",
    )
    assert "no longer has a repository" in world.answer("channel-repo --clear", trigger="6.6.d")
    assert world.core.channels.get(CHANNEL) is None


def test_a_mention_in_a_tasks_thread_is_a_follow_up_on_its_pull_request(world: SlackWorld) -> None:
    from bot.slack.threads import THREAD, unplace
    from core.pipeline import Pipeline

    world.core.registry.register(TaskType.CHANGE, Pipeline(name="change", stages=()))
    assert "On it" in world.answer('do calc "add a --json flag"', trigger="5.5.a")
    (first,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the first step")
    channel, parent = unplace(wait_for(lambda: world.core.notifications.get(first.id, THREAD), what="its thread"))

    def mention_in_its_thread(text: str, event_id: str) -> None:
        body = json.loads((FIXTURES / "app_mention.json").read_text())
        body["event_id"] = event_id
        asked = world.slack.add_message(channel, f"<@U222> {text}", user=ALICE, thread_ts=parent)
        body["event"].update(text=f"<@U222> {text}", user=ALICE, channel=channel, ts=asked, thread_ts=parent)
        assert world.post(json.dumps(body), "application/json").status_code == 200

    mention_in_its_thread("also sort the keys", "Ev0FOLLOW1")  # the first step is still pending: it waits
    (waiting,) = wait_for(lambda: [t for t in world.core.tasks(TaskFilter()) if t.id != first.id], what="follow-up")
    assert (waiting.type, waiting.repository, waiting.waits_for) == (TaskType.CHANGE, "acme/calc", first.id)
    assert waiting.payload["request"] == "also sort the keys" and waiting.payload["continues"] == first.id
    assert world.core.queue.claim("w", task_id=waiting.id) is None, "not claimed while the step it continues works"
    from core.views import TaskView

    assert TaskView.of(waiting).waits_for == first.id, "the API and `dockhand task` say what it waits for"
    claim = world.core.queue.claim("w", task_id=first.id)
    assert claim is not None
    pull = {"branch": "dockhand/change-x", "commit": "c0ffee", "pull_number": 7, "pull_url": "https://x/pull/7"}
    world.core.queue.finish(claim, TaskStatus.SUCCEEDED, result={"pull_request": pull})
    claimed = world.core.queue.claim("w", task_id=waiting.id)
    assert claimed is not None, "claimed once the step it continues has ended"
    world.core.queue.finish(claimed, TaskStatus.SUCCEEDED, result={"pull_request": pull})

    # The follow-up's message is a reply in the conversation's thread, and so are its posts; its last word says
    # what the conversation has cost (the fake refuses a reply's ts as a thread).
    own = wait_for(lambda: world.core.notifications.get(waiting.id, THREAD), what="the follow-up's message")
    assert world.slack.messages[unplace(own)]["thread_ts"] == parent
    wait_for(
        lambda: [m for m in world.slack.messages.values() if "This conversation so far" in m.get("text", "")],
        what="the follow-up's last word",
    )
    assert all(m.get("thread_ts") in (None, parent) for m in world.slack.messages.values())

    mention_in_its_thread("and drop the debug print", "Ev0FOLLOW2")  # builds on the newest step of the thread
    (newest,) = wait_for(
        lambda: [t for t in world.core.tasks(TaskFilter()) if t.id not in (first.id, waiting.id)], what="the next"
    )
    assert newest.payload["continues"] == waiting.id

    # `@dockhand stop` in the thread: the live step is cancelled and the conversation is marked stopped.
    from core.conversation import stopped_by

    mention_in_its_thread("stop", "Ev0STOP")
    wait_for(lambda: world.core.task(newest.id).status is TaskStatus.CANCELLED, what="the live step cancelled")
    assert stopped_by(world.core.notifications, first) == f"Slack {ALICE}"
    wait_for(lambda: any("is stopped" in text for text in world.ephemeral_to(ALICE)), what="the answer")


def step_with_a_pull_request(world: SlackWorld, trigger: str, commit: str) -> tuple[Any, str, str]:
    """A change asked in Slack that has pushed `commit` to its pull request: the task, its channel and thread."""
    from bot.slack.threads import THREAD, unplace
    from core.pipeline import Pipeline

    world.core.registry.register(TaskType.CHANGE, Pipeline(name="change", stages=()))
    assert "On it" in world.answer('do calc "add a --json flag"', trigger=trigger)
    (first,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the first step")
    channel, parent = unplace(wait_for(lambda: world.core.notifications.get(first.id, THREAD), what="its thread"))
    claim = world.core.queue.claim("w", task_id=first.id)
    assert claim is not None
    pull = {"branch": "dockhand/change-x", "commit": commit, "pull_number": 7, "pull_url": "https://x/pull/7"}
    world.core.queue.finish(claim, TaskStatus.SUCCEEDED, result={"pull_request": pull})
    return world.core.task(first.id), channel, parent


def test_a_ci_failure_is_shown_in_the_thread_with_a_fix_it_button(world: SlackWorld) -> None:
    """CI failed on the PR and no fix started on its own: the thread says so with Fix it; pressing it starts the
    follow-up (for whoever may ask for changes), once."""
    from bot.slack.messages import FIX_CI
    from bot.slack.threads import THREAD, unplace
    from core.states import EventKind

    head = "a" * 40
    first, channel, parent = step_with_a_pull_request(world, "5.6.a", head)
    failure = {"head_sha": head, "checks": ["lint"], "summary": "E501 line too long", "log": "", "url": None}
    world.core.journal.note(first.id, EventKind.CI_FAILED, "CI failed", {"ci": failure, "why_not": "fix_ci is off"})

    def fix_it_message() -> list[dict[str, Any]]:
        return [m for m in world.slack.messages.values() if FIX_CI in json.dumps(m.get("blocks", []))]

    (message,) = wait_for(fix_it_message, what="the report with its button")
    assert message["thread_ts"] == parent and "E501 line too long" in json.dumps(message["blocks"])
    assert world.click(FIX_CI, first.id).status_code == 200
    (fix,) = wait_for(lambda: [t for t in world.core.tasks(TaskFilter()) if t.id != first.id], what="the fix")
    assert fix.payload["continues"] == first.id and fix.payload["ci"]["checks"] == ["lint"]
    assert fix.triggered_by == ALICE and fix.trigger_source is TriggerSource.SLACK
    assert world.click(FIX_CI, first.id).status_code == 200  # pressed twice: one fix
    wait_for(lambda: any("Already fixing it" in t for t in world.ephemeral_to(ALICE)), what="the second press")
    assert len(world.core.tasks(TaskFilter())) == 2
    assert channel == CHANNEL
    fix_message = wait_for(lambda: world.core.notifications.get(fix.id, THREAD), what="the fix's message")
    assert world.slack.messages[unplace(fix_message)]["thread_ts"] == parent


def test_a_follow_up_started_on_github_joins_the_conversations_slack_thread(world: SlackWorld) -> None:
    from bot.slack.threads import THREAD, unplace
    from core.specs import TaskSubmission

    first, _, parent = step_with_a_pull_request(world, "5.7.a", "b" * 40)
    asked = {"request": "Address the review.", "continues": first.id}
    review = TaskSubmission(
        type=TaskType.CHANGE, repository="acme/calc", trigger_source=TriggerSource.GITHUB, payload=asked
    )
    follow_up = world.core.submit(review).task
    own = wait_for(lambda: world.core.notifications.get(follow_up.id, THREAD), what="its message in the thread")
    assert world.slack.messages[unplace(own)]["thread_ts"] == parent


def test_a_bots_mention_starts_nothing(world: SlackWorld) -> None:
    body = json.loads((FIXTURES / "app_mention.json").read_text())
    body["event_id"] = "Ev0BOT"
    body["event"].update(text="<@U222> test calc", user="U0OTHERBOT", channel=CHANNEL, bot_id="B0OTHER")
    assert world.post(json.dumps(body), "application/json").status_code == 200
    world.answer("status", trigger="4.4.a")  # handled after the mention: the mention is done by now
    assert world.core.tasks(TaskFilter()) == [] and world.slack.ephemeral == []


def test_asking_for_a_change_in_words_is_limited_like_resolve(core_factory: Callable[..., Core]) -> None:
    core = core_factory(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_default_owner="acme",
        slack_command_access={"resolve": [BOB]},
    )
    with slack_world(core) as world:
        for text in ('do calc "add a flag"', "channel-repo calc"):
            refused = world.answer(text, user=ALICE, trigger=f"3.3.{len(text)}")
            assert refused.startswith("Sorry") and "limited" in refused, text
        assert world.core.tasks(TaskFilter()) == [] and world.core.channels.get(CHANNEL) is None
        # Asked in a thread by someone who may not: refused, and the thread is never read for them.
        parent = world.slack.add_message(CHANNEL, "calc crashes", user=BOB)
        asked = world.slack.add_message(CHANNEL, "<@U222> in calc: fix it", user=ALICE, thread_ts=parent)
        body = json.loads((FIXTURES / "app_mention.json").read_text())
        body["event_id"] = "Ev0NOTALLOWED"
        body["event"].update(text="<@U222> in calc: fix it", user=ALICE, channel=CHANNEL, ts=asked, thread_ts=parent)
        assert world.post(json.dumps(body), "application/json").status_code == 200
        wait_for(lambda: any(t.startswith("Sorry") for t in world.ephemeral_to(ALICE)), what="the refusal")
        assert world.slack.calls_to("conversations.replies") == [] and world.core.tasks(TaskFilter()) == []


def test_status_and_cancel(world: SlackWorld) -> None:
    world.command("test calc", trigger="1.1.a")
    (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the task")
    status = world.answer("status", trigger="1.1.s")
    assert task.id in status and "pending" in status
    assert "cancelled" in world.answer(f"cancel {task.id}", trigger="1.1.b")
    assert world.core.task(task.id).status is TaskStatus.CANCELLED


def test_who_may_run_what_is_configurable(core_factory: Callable[..., Core]) -> None:
    core = core_factory(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_default_owner="acme",
        slack_command_access={"test": ["S0QA"]},
        slack_repositories=["acme/*"],
    )
    with slack_world(core) as world:
        world.slack.usergroups["S0QA"] = [BOB]
        refused = world.answer("test calc", user=ALICE, trigger="2.2.a")
        assert refused.startswith("Sorry") and "limited" in refused
        other = world.answer("test elsewhere/x", user=BOB, trigger="2.2.o")
        assert "not set up to work on elsewhere/x" in other
        assert "On it" in world.answer("test calc", user=BOB, trigger="2.2.b")
        (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="BOB's task")
        assert task.id in world.answer("status", user=ALICE, trigger="2.2.s")  # status is open to all
        # A task on a repository Slack may not touch is neither shown nor cancellable from Slack.
        from core.specs import TaskSubmission

        outside = world.core.submit(
            TaskSubmission(type=TaskType.TEST_PIPELINE, repository="elsewhere/x", payload={})
        ).task
        assert outside.id not in world.answer("status", user=ALICE, trigger="2.2.t")
        assert "not set up to work on elsewhere/x" in world.answer(f"cancel {outside.id}", user=BOB, trigger="2.2.c")
        assert world.core.task(outside.id).status is TaskStatus.PENDING


def test_progress_is_coalesced_into_few_thread_posts(core_factory: Callable[..., Core]) -> None:
    from core.pipeline import Pipeline, PipelineRegistry, Stage, StageContext

    def quick(ctx: StageContext) -> None:
        time.sleep(0.05)

    registry = PipelineRegistry()
    registry.register(
        TaskType.TEST_PIPELINE, Pipeline(name="many", stages=tuple(Stage(f"s{i}", quick) for i in range(12)))
    )
    core = core_factory(
        registry=registry,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_default_owner="acme",
        slack_update_seconds=1.0,
    )
    with slack_world(core) as world:
        world.command("test calc", trigger="3.3.c")
        (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the task")
        assert world.core.run_now(task.id).status is TaskStatus.SUCCEEDED
        (parent_ts,) = [ts for (ch, ts), m in world.slack.messages.items() if "thread_ts" not in m]
        thread = wait_for(
            lambda: (t := world.slack.thread(CHANNEL, parent_ts)) and "succeeded" in t[-1]["text"] and t,
            what="the final post",
        )
        stage_lines = sum(m["text"].count("✅") for m in thread)
        assert stage_lines == 12, thread  # every stage is reported…
        assert len(thread) <= 5, thread  # …in a few posts, not twelve
        parent = world.slack.messages[(CHANNEL, parent_ts)]
        assert "succeeded" in json.dumps(parent["blocks"]) and parent["edits"] >= 2


# --- the whole way: command → agent → approval buttons → PR -------------------------------------------


@pytest.fixture
def resolution(
    tmp_path: Path, core_factory: Callable[..., Core], sandbox_image: str
) -> Iterator[tuple[SlackWorld, Any]]:
    from pydantic import SecretStr

    from tests.test_issue_resolution import fixing_script, issue_world

    with issue_world(tmp_path, core_factory, sandbox_image) as issue:
        issue.model.script = fixing_script()
        issue.core.settings = issue.core.settings.model_copy(
            update={
                "slack_bot_token": SecretStr("xoxb-test"),
                "slack_signing_secret": SecretStr(SECRET),
                "slack_default_owner": "acme",
                "slack_update_seconds": 0.0,
            }
        )
        with slack_world(issue.core) as made:
            yield made, issue


@pytest.mark.slow
def test_resolve_from_slack_with_approval_buttons(resolution: tuple[SlackWorld, Any]) -> None:
    world, issue = resolution
    answer = world.command("resolve calc#12 --budget 3", trigger="7.7.r")
    assert answer.status_code == 200
    (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the task")
    assert task.payload["budget_usd"] == 3.0
    assert world.core.run_now(task.id).status is TaskStatus.AWAITING_APPROVAL
    (parent_ts,) = [ts for (ch, ts), m in world.slack.messages.items() if "thread_ts" not in m]

    def approval_message() -> dict[str, Any] | None:
        for message in world.slack.thread(CHANNEL, parent_ts):
            if APPROVE in json.dumps(message.get("blocks", [])):
                return message
        return None

    asking = wait_for(approval_message, what="the approval buttons")
    shown = json.dumps(asking["blocks"])
    assert REJECT in shown and VIEW_DIFF in shown and "calc.py" in shown and "tests: passed" in shown
    assert "$" in json.dumps(world.slack.messages[(CHANNEL, parent_ts)]["blocks"])  # the running cost

    # Someone who is neither an approver nor the requester: refused, privately; nothing changes.
    world.click(APPROVE, task.id, user=BOB)
    wait_for(lambda: world.ephemeral_to(BOB), what="the refusal")
    assert "Sorry" in world.ephemeral_to(BOB)[0]
    assert world.core.task(task.id).status is TaskStatus.AWAITING_APPROVAL

    world.click(VIEW_DIFF, task.id)
    wait_for(lambda: any("a + b" in t for t in world.ephemeral_to(ALICE)), what="the diff")

    world.click(APPROVE, task.id)
    wait_for(lambda: world.core.task(task.id).status is TaskStatus.PENDING, what="the approval")
    world.click(APPROVE, task.id)  # a double click is harmless
    wait_for(lambda: any("already decided" in t for t in world.ephemeral_to(ALICE)), what="the second click's answer")
    asked_at = (CHANNEL, asking["ts"])
    decided = wait_for(
        lambda: (
            "Approved by alice" in json.dumps(world.slack.messages[asked_at]["blocks"])
            and world.slack.messages[asked_at]
        ),
        what="the decision shown on the approval message",
    )
    assert not [b for b in decided["blocks"] if b["type"] == "actions"]  # no buttons left to press

    done = world.core.run_now(task.id)
    assert done.status is TaskStatus.SUCCEEDED, done.error
    (opened,) = issue.github.pulls.values()
    assert "approved by alice (Slack U111)" in opened["body"]
    final = wait_for(
        lambda: (t := world.slack.thread(CHANNEL, parent_ts)) and "pull/" in t[-1]["text"] and t[-1], what="the result"
    )
    assert "Opened" in final["text"]
    stages = {s.name: s.status for s in world.core.stages.list(task.id)}
    assert stages["publish"] is StageStatus.SUCCEEDED


def test_text_from_outside_cannot_ping_or_link_in_a_thread(core_factory: Callable[..., Core]) -> None:
    from core.errors import StageFailedError
    from core.pipeline import Pipeline, PipelineRegistry, Stage, StageContext

    def hostile(ctx: StageContext) -> None:
        raise StageFailedError("clone failed: <!channel> see <https://evil.example|docs>")

    registry = PipelineRegistry()
    registry.register(TaskType.TEST_PIPELINE, Pipeline(name="hostile", stages=(Stage("checkout", hostile),)))
    core = core_factory(
        registry=registry, slack_bot_token="xoxb-test", slack_signing_secret=SECRET, slack_default_owner="acme"
    )
    with slack_world(core) as world:
        world.command("test calc", trigger="5.5.h")
        (task,) = wait_for(lambda: world.core.tasks(TaskFilter()), what="the task")
        assert world.core.run_now(task.id).status is TaskStatus.FAILED
        (parent_ts,) = [ts for (ch, ts), m in world.slack.messages.items() if "thread_ts" not in m]
        thread = wait_for(
            lambda: [m["text"] for m in world.slack.thread(CHANNEL, parent_ts) if "channel" in m["text"]],
            what="the failure in the thread",
        )
        posted = "\n".join(thread)
        assert "<!channel>" not in posted and "<https://evil.example" not in posted
        assert "&lt;!channel&gt;" in posted


def test_while_slacks_web_api_is_down_a_command_is_a_503_with_one_clear_log_line(
    core_factory: Callable[..., Core], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support.processes import free_port

    core = core_factory(
        slack_bot_token="xoxb-test",
        slack_signing_secret=SECRET,
        slack_api_url=f"http://127.0.0.1:{free_port()}/api/",  # nothing listens there
    )
    bot = SlackBot(core, slack_client(core.settings))
    with serve_in_thread(create_app(core, api_token="t", slack=bot)) as base, httpx.Client(base_url=base) as http:
        fields = json.loads((FIXTURES / "slash_command.json").read_text())
        fields.update(command="/agent", text="status")
        body = urlencode(fields)
        headers = signed_headers(body, SECRET, "application/x-www-form-urlencoded")
        with caplog.at_level("WARNING"):
            answer = http.post("/slack/events", content=body.encode(), headers=headers)
    assert answer.status_code == 503 and "unreachable" in answer.text
    ours = [r for r in caplog.records if r.name.startswith("bot.")]
    assert len(ours) == 1 and "is Slack's Web API reachable?" in ours[0].getMessage(), [r.getMessage() for r in ours]
    assert not any(r.exc_info for r in ours), "no traceback for an outage"


def _early_in_a_second() -> int:
    """The current second, once at most half of it has gone by."""
    while time.time() % 1 > 0.5:
        time.sleep(0.05)
    return int(time.time())
