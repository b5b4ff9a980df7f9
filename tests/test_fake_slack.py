"""The fake Slack Web API, driven by the real `slack_sdk` clients over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from tests.support.fake_slack import FakeSlack, block_kit_errors, running_fake_slack

TOKEN = "xoxb-test"


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, WebClient]]:
    with running_fake_slack() as (fake, url):
        yield fake, WebClient(token=TOKEN, base_url=f"{url}/api/")


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(action_id: str, label: str = "Approve", value: str = "run-1") -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": label}, "value": value}


def refusal(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    return str(caught.value.response["error"])


def test_post_reply_and_update_round_trip(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, client = slack
    blocks = [section("Running the tests…"), {"type": "actions", "elements": [button("cancel")]}]
    parent = client.chat_postMessage(channel="C111", text="Running the tests", blocks=blocks)
    reply = client.chat_postMessage(channel="C111", text="3 passed", thread_ts=parent["ts"])
    updated = client.chat_update(channel="C111", ts=parent["ts"], text="Done", blocks=[section("Done: 3 passed")])

    assert parent["channel"] == "C111" and parent["message"]["bot_id"] == fake.bot_id
    assert float(reply["ts"]) > float(parent["ts"]) and reply["message"]["thread_ts"] == parent["ts"]
    assert updated["ts"] == parent["ts"] and updated["text"] == "Done"
    stored = fake.messages[("C111", parent["ts"])]
    assert stored["text"] == "Done" and stored["blocks"] == [section("Done: 3 passed")]
    assert stored["edits"] == 1 and stored["reply_count"] == 1
    assert [m["text"] for m in fake.thread("C111", parent["ts"])] == ["3 passed"]
    assert fake.calls_to("chat.postMessage")[0]["blocks"] == blocks  # the SDK sent them as JSON, not a string
    assert client.auth_test()["user_id"] == fake.bot_user_id
    assert fake.errors == []


def test_a_missing_or_wrong_token_is_refused(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, client = slack
    wrong = WebClient(token="xoxb-wrong", base_url=client.base_url)
    none = WebClient(base_url=client.base_url)
    assert refusal(lambda: wrong.chat_postMessage(channel="C111", text="hi")) == "invalid_auth"
    assert refusal(lambda: none.auth_test()) == "not_authed"
    assert fake.messages == {}


def test_unknown_channels_and_messages(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, client = slack
    theirs = fake.add_message("C111", "a human said this")
    assert refusal(lambda: client.chat_postMessage(channel="C999", text="hi")) == "channel_not_found"
    assert refusal(lambda: client.chat_update(channel="C111", ts="1.000001", text="x")) == "message_not_found"
    assert refusal(lambda: client.chat_update(channel="C111", ts=theirs, text="x")) == "cant_update_message"
    assert refusal(lambda: client.conversations_info(channel="C999")) == "channel_not_found"
    assert client.conversations_info(channel="C222")["channel"]["id"] == "C222"
    with pytest.warns(UserWarning, match="top-level `text` argument is missing"):
        assert refusal(lambda: client.chat_postMessage(channel="C111")) == "no_text"
    assert refusal(lambda: client.chat_postMessage(channel="C111", text="x" * 40_001)) == "msg_too_long"


@pytest.mark.parametrize(
    ("blocks", "why"),
    [
        ([{"type": "actions", "elements": [button("go", label="x" * 76)]}], "1 to 75 characters"),
        ([{"type": "actions", "elements": [button("go")]}, {"type": "actions", "elements": [button("go")]}], "unique"),
        ([{"type": "actions", "elements": [button(f"b{i}") for i in range(26)]}], "1 to 25 elements"),
        ([{"type": "actions", "elements": [button("go", value="v" * 2001)]}], "at most 2000"),
        ([section("x" * 3001)], "1 to 3000 characters"),
        ([section("ok")] * 51, "no more than 50"),
        ([{"type": "carousel"}], "block type"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "headers are plain_text"}}], "plain_text text object"),
    ],
    ids=["long-label", "same-action-id", "26-elements", "long-value", "long-section", "51-blocks", "type", "header"],
)
def test_invalid_blocks_are_refused(slack: tuple[FakeSlack, WebClient], blocks: list[Any], why: str) -> None:
    fake, client = slack
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C111", text="fallback", blocks=blocks)
    assert caught.value.response["error"] == "invalid_blocks"
    assert why in caught.value.response["response_metadata"]["messages"][0]
    assert fake.messages == {} and len(fake.errors) == 1


def test_valid_blocks_pass_the_checks() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Test run"}},
        section("*3 passed*"),
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "took 2s"}]},
        {"type": "actions", "elements": [button(f"b{i}", label="x" * 75, value="v" * 2000) for i in range(25)]},
    ]
    assert block_kit_errors(blocks) == []


def test_form_encoded_blocks_arrive_as_a_json_string(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, client = slack
    ok = client.api_call("chat.postMessage", params={"channel": "C111", "text": "hi", "blocks": '[{"type":"divider"}]'})
    assert fake.messages[("C111", ok["ts"])]["blocks"] == [{"type": "divider"}]
    bad = {"channel": "C111", "text": "hi", "blocks": "[{not json"}
    assert refusal(lambda: client.api_call("chat.postMessage", params=bad)) == "invalid_blocks_format"


def test_thread_ts_must_name_a_parent(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, client = slack
    client.chat_postMessage(channel="C111", text="lost", thread_ts="1600000000.000100")  # Slack says ok, and hides it
    assert fake.errors and "names no message" in fake.errors[0]
    parent = fake.add_message("C111", "deploy please")
    bad_ts: Any = float(parent)
    assert refusal(lambda: client.chat_postMessage(channel="C111", text="x", thread_ts=bad_ts)) == "invalid_thread_ts"


def test_ephemeral_messages(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, client = slack
    answer = client.chat_postEphemeral(channel="C111", user="U111", text="only you can see this")
    assert fake.ephemeral == [
        {"channel": "C111", "user": "U111", "message_ts": answer["message_ts"], "text": "only you can see this"}
    ]
    assert refusal(lambda: client.chat_postEphemeral(channel="C111", user="U999", text="x")) == "user_not_in_channel"


def test_rate_limit_answers_429_with_retry_after(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, client = slack
    fake.rate_limit("chat.postMessage")
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C111", text="hi")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "1"
    assert caught.value.response["error"] == "ratelimited"
    assert client.chat_postMessage(channel="C111", text="hi")["ok"]  # only the armed call was limited


def test_the_sdk_retry_handler_retries_a_429(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, client = slack
    fake.rate_limit("chat.postMessage", retry_after=0)  # the handler sleeps Retry-After + up to 1s of jitter
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    assert client.chat_postMessage(channel="C111", text="hi")["ok"]
    assert len(fake.calls_to("chat.postMessage")) == 2 and len(fake.messages) == 1


def test_response_url_posts_are_recorded(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, _ = slack
    hook = WebhookClient(fake.response_url("click-1"))
    answer = hook.send(text="Approved", replace_original=True, blocks=[section("Approved by <@U111>")])
    assert answer.status_code == 200 and answer.body == '{"ok":true}'
    assert fake.responses_to("click-1") == [
        {"text": "Approved", "replace_original": True, "blocks": [section("Approved by <@U111>")]}
    ]
    for _ in range(4):
        assert hook.send(text="again").status_code == 200
    assert hook.send(text="sixth").status_code == 404  # Slack allows five posts per response_url
    assert fake.errors == ["response_url 'click-1' used more than 5 times"]


def test_response_url_bodies_are_checked(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, _ = slack
    hook = WebhookClient(fake.response_url("cmd"))
    assert hook.send_dict({"text": "x", "replace_original": "true"}).status_code == 400
    assert hook.send(text="x", blocks=[{"type": "carousel"}]).status_code == 400
    stray = WebhookClient(fake.base_url + "/response/never-issued")
    assert stray.send(text="x").status_code == 404
    assert fake.responses == [] and len(fake.errors) == 3


def test_usergroups_and_users(slack: tuple[FakeSlack, WebClient]) -> None:
    fake, client = slack
    fake.usergroups["S0MAINT"] = ["U111", "W111"]
    fake.add_user("U333", "carol", is_admin=True)
    assert client.usergroups_users_list(usergroup="S0MAINT")["users"] == ["U111", "W111"]
    assert refusal(lambda: client.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"
    assert client.users_info(user="U333")["user"]["is_admin"] is True
    assert refusal(lambda: client.users_info(user="U999")) == "user_not_found"
    assert fake.calls_to("users.info")[0] == {"user": "U333"}
    assert fake.errors == []
