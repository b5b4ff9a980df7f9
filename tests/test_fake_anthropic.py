"""The fake Anthropic Messages API, driven by the real `anthropic` SDK over loopback HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest

from tests.support.fake_anthropic import (
    Fail,
    FakeAnthropic,
    Reply,
    overloaded,
    prompt_tokens,
    rate_limited,
    running_fake_anthropic,
    text,
    tool_results,
    tool_use,
)

MODEL = "claude-sonnet-5-5"
KEY = "sk-ant-test"
TOOLS: list[Any] = [
    {"type": "bash_20250124", "name": "bash"},
    {"type": "text_editor_20250728", "name": "str_replace_based_edit_tool"},
    {
        "name": "open_pull_request",
        "description": "Open a pull request from the sandbox's branch.",
        "input_schema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]},
    },
]
ASK: list[Any] = [{"role": "user", "content": "What is in the repository?"}]


@pytest.fixture
def api() -> Iterator[tuple[FakeAnthropic, str]]:
    with running_fake_anthropic() as (fake, url):
        yield fake, url
    assert fake.errors == []


def client(url: str, *, key: str | None = KEY, max_retries: int = 0, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=max_retries, timeout=10, **options)


def usage(message: anthropic.types.Message) -> tuple[int, int, int]:
    u = message.usage
    return u.input_tokens, u.cache_creation_input_tokens or 0, u.cache_read_input_tokens or 0


def test_plain_reply_has_the_real_shape(api: tuple[FakeAnthropic, str]) -> None:
    fake, url = api
    fake.script.append(Reply([text("A README and a src/ folder.")]))
    raw = client(url).messages.with_raw_response.create(model=MODEL, max_tokens=64, system="Be brief.", messages=ASK)
    payload = raw.http_response.json()
    assert set(payload) == {"id", "type", "role", "model", "content", "stop_reason", "stop_sequence", "usage"}
    assert payload["id"].startswith("msg_") and payload["type"] == "message" and payload["role"] == "assistant"
    assert payload["model"] == MODEL and payload["stop_reason"] == "end_turn" and payload["stop_sequence"] is None
    assert payload["content"] == [{"type": "text", "text": "A README and a src/ folder."}]
    assert set(payload["usage"]) == {
        "input_tokens",
        "output_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    }
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "A README and a src/ folder."
    assert usage(message) == (prompt_tokens(fake.requests[0]), 0, 0)
    assert message.usage.output_tokens == 7  # ceil(27 characters / 4)
    assert fake.requests == [{"model": MODEL, "max_tokens": 64, "system": "Be brief.", "messages": ASK}]


def test_tool_use_round_trip(api: tuple[FakeAnthropic, str]) -> None:
    fake, url = api
    fake.script += [
        Reply([text("Let me look."), tool_use("bash", {"command": "ls"})]),
        lambda body: Reply([text(f"I see: {tool_results(body)[0]['content']}")]),
    ]
    sdk = client(url)
    first = sdk.messages.create(model=MODEL, max_tokens=256, tools=TOOLS, messages=ASK)
    assert first.stop_reason == "tool_use"
    call = first.content[1]
    assert call.type == "tool_use" and call.name == "bash" and call.input == {"command": "ls"}
    assert call.id.startswith("toolu_")
    answer = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "README.md"}]}
    conversation: list[Any] = [*ASK, {"role": "assistant", "content": first.content}, answer]
    second = sdk.messages.create(model=MODEL, max_tokens=256, tools=TOOLS, messages=conversation)
    assert second.stop_reason == "end_turn"
    assert second.content[0].type == "text" and second.content[0].text == "I see: README.md"
    assert fake.requests[1]["messages"][1]["content"][1]["id"] == call.id


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ([{"type": "tool_result", "tool_use_id": "toolu_01bogus", "content": "x"}], "unexpected `tool_use_id`"),
        ("Never mind the tool.", "`tool_use` ids were found without `tool_result` blocks immediately after"),
    ],
)
def test_tool_results_must_answer_the_previous_tool_uses(
    api: tuple[FakeAnthropic, str], answer: Any, complaint: str
) -> None:
    fake, url = api
    fake.script += [Reply([tool_use("bash", {"command": "ls"})]), Reply([text("unreachable")])]
    sdk = client(url)
    first = sdk.messages.create(model=MODEL, max_tokens=256, tools=TOOLS, messages=ASK)
    conversation = [*ASK, {"role": "assistant", "content": first.content}, {"role": "user", "content": answer}]
    with pytest.raises(anthropic.BadRequestError) as err:
        sdk.messages.create(model=MODEL, max_tokens=256, tools=TOOLS, messages=conversation)
    assert err.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert complaint in err.value.body["error"]["message"]  # type: ignore[index]
    assert len(fake.script) == 1  # a refused request consumes no step
    assert len(fake.errors) == 1 and complaint in fake.errors[0]
    fake.errors.clear()


@pytest.mark.parametrize(
    ("request_", "complaint"),
    [
        ({"messages": [*ASK, {"role": "user", "content": "again"}]}, "roles must alternate"),
        ({"messages": [{"role": "assistant", "content": "Hi"}]}, "roles must alternate"),
        ({"messages": []}, "at least one message"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"tools": [{"name": "grep", "description": "no schema"}]}, "input_schema"),
        ({"tools": [{"type": "text_editor_20250728", "name": "editor"}]}, "str_replace_based_edit_tool"),
        ({"tools": [{"type": "bash_20990101", "name": "bash"}]}, "unknown tool type"),
        ({"tools": [TOOLS[0], TOOLS[0]]}, "unique"),
        (
            {
                "system": [
                    {"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(5)
                ]
            },
            "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        ),
    ],
)
def test_malformed_requests_are_refused(
    api: tuple[FakeAnthropic, str], request_: dict[str, Any], complaint: str
) -> None:
    fake, url = api
    fake.script.append(Reply([text("unreachable")]))
    with pytest.raises(anthropic.BadRequestError) as err:
        client(url).messages.create(**{"model": MODEL, "max_tokens": 64, "messages": ASK, **request_})
    assert complaint in err.value.message
    assert len(fake.script) == 1 and len(fake.errors) == 1
    fake.errors.clear()


def test_wrong_key_is_an_authentication_error(api: tuple[FakeAnthropic, str]) -> None:
    fake, url = api
    with pytest.raises(anthropic.AuthenticationError) as err:
        client(url, key="sk-ant-wrong", max_retries=2).messages.create(model=MODEL, max_tokens=64, messages=ASK)
    assert err.value.status_code == 401
    assert err.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": err.value.request_id,
    }
    assert fake.requests == [] and fake.errors == ["401 authentication_error: invalid x-api-key"]
    fake.errors.clear()


def test_key_in_x_api_key_header_and_version_header_required(
    api: tuple[FakeAnthropic, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, url = api
    fake.script.append(Reply([text("hello")]))
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    by_header = client(url, key=None, default_headers={"x-api-key": KEY})
    assert by_header.messages.create(model=MODEL, max_tokens=64, messages=ASK).content[0].type == "text"
    body = {"model": MODEL, "max_tokens": 64, "messages": ASK}
    unversioned = httpx.post(f"{url}/v1/messages", json=body, headers={"x-api-key": KEY})
    assert unversioned.status_code == 400
    assert unversioned.json()["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    fake.errors.clear()


@pytest.mark.parametrize(
    ("failure", "error", "least_wait"),
    [
        (rate_limited(retry_after=1), anthropic.RateLimitError, 0.9),
        (overloaded(), anthropic.OverloadedError, 0.0),
        (Fail(500, "api_error", "Internal server error"), anthropic.InternalServerError, 0.0),
    ],
)
def test_transient_failures_are_retried_by_the_sdk(
    api: tuple[FakeAnthropic, str], failure: Fail, error: type[anthropic.APIStatusError], least_wait: float
) -> None:
    fake, url = api
    fake.script += [failure, Reply([text("made it")])]
    with pytest.raises(error) as err:
        client(url, max_retries=0).messages.create(model=MODEL, max_tokens=64, messages=ASK)
    assert err.value.status_code == failure.status
    assert err.value.body["error"] == {"type": failure.error_type, "message": failure.message}  # type: ignore[index]

    fake.script.insert(0, failure)
    started = time.monotonic()
    message = client(url, max_retries=2).messages.create(model=MODEL, max_tokens=64, messages=ASK)
    assert time.monotonic() - started >= least_wait  # the SDK honours retry-after
    assert message.content[0].type == "text" and message.content[0].text == "made it"
    assert len(fake.requests) == 3 and fake.script == []


def test_streaming_reconstructs_the_same_message(api: tuple[FakeAnthropic, str]) -> None:
    fake, url = api
    content = [
        text("Looking at the repository, then listing it in full detail."),
        tool_use("bash", {"command": "ls -la", "restart": False}, id="toolu_01fixed"),
    ]
    fake.script += [Reply(content), Reply(content), Reply(content)]
    sdk = client(url)
    plain = sdk.messages.create(model=MODEL, max_tokens=256, tools=TOOLS, messages=ASK)
    with sdk.messages.stream(model=MODEL, max_tokens=256, tools=TOOLS, messages=ASK) as stream:
        streamed_text = "".join(stream.text_stream)
        streamed = stream.get_final_message()
    assert streamed_text == content[0]["text"]
    assert streamed.model_dump(exclude={"id"}, exclude_none=True) == plain.model_dump(exclude={"id"}, exclude_none=True)
    assert streamed.usage.input_tokens == plain.usage.input_tokens > 0

    events = list(sdk.messages.create(model=MODEL, max_tokens=256, tools=TOOLS, messages=ASK, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 2
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    pieces = [d.partial_json for d in deltas if d.type == "input_json_delta"]
    assert len(pieces) > 1 and json.loads("".join(pieces)) == content[1]["input"]
    assert "".join(d.text for d in deltas if d.type == "text_delta") == content[0]["text"]
    assert fake.requests[1]["stream"] is True and "stream" not in fake.requests[0]


LONG_SYSTEM = "You are dockhand, a careful bot. " * 100


def cached_request(question: str, *history: Any, cache_system: bool = True) -> dict[str, Any]:
    system: dict[str, Any] = {"type": "text", "text": LONG_SYSTEM}
    if cache_system:
        system["cache_control"] = {"type": "ephemeral"}
    return {
        "model": MODEL,
        "max_tokens": 64,
        "tools": TOOLS,
        "system": [system],
        "messages": [*history, {"role": "user", "content": question}],
    }


def test_prompt_caching_bills_reads_writes_and_the_rest(api: tuple[FakeAnthropic, str]) -> None:
    fake, url = api
    fake.script += [Reply([text(f"answer {i}")]) for i in range(6)]
    sdk = client(url)
    prefix = prompt_tokens({"tools": TOOLS, "system": LONG_SYSTEM, "messages": []})
    assert prefix > 800

    first = sdk.messages.create(**cached_request("Summarise the README."))
    assert usage(first) == (prompt_tokens(fake.requests[0]) - prefix, prefix, 0)

    second = sdk.messages.create(**cached_request("Now list the open issues, please."))
    uncached = prompt_tokens(fake.requests[1]) - prefix
    assert usage(second) == (uncached, 0, prefix)
    assert second.usage.input_tokens < prompt_tokens(fake.requests[1]) / 10

    # A breakpoint at the end of the conversation: the earlier cached prefix is read, the rest written.
    history = [{"role": "user", "content": "Summarise the README."}, {"role": "assistant", "content": "answer 0"}]
    turn = cached_request("And the licence?", *history)
    turn["messages"][-1]["content"] = [
        {"type": "text", "text": "And the licence?", "cache_control": {"type": "ephemeral"}}
    ]
    third = sdk.messages.create(**turn)
    assert usage(third) == (0, prompt_tokens(turn) - prefix, prefix)

    # Streamed requests are billed the same way: that whole conversation is now cached.
    with sdk.messages.stream(**turn) as stream:
        assert usage(stream.get_final_message()) == (0, 0, prompt_tokens(turn))

    # Changing anything before the breakpoint (here the tools) misses the cache.
    changed = cached_request("Summarise the README.") | {"tools": TOOLS[:2]}
    fourth = sdk.messages.create(**changed)
    assert usage(fourth)[2] == 0 and usage(fourth)[1] > 0

    # Caches belong to a model.
    other_model = sdk.messages.create(**cached_request("Summarise the README.") | {"model": "claude-haiku-5-5"})
    assert usage(other_model) == (usage(first)[0], prefix, 0)
    assert fake.script == []


def test_cache_is_looked_up_only_20_blocks_back_from_a_breakpoint(api: tuple[FakeAnthropic, str]) -> None:
    fake, url = api
    fake.script += [Reply([text("ok")]) for _ in range(3)]
    sdk = client(url)
    sdk.messages.create(**cached_request("Summarise the README."))  # caches tools + system
    prefix = prompt_tokens({"tools": TOOLS, "system": LONG_SYSTEM, "messages": []})

    def far(blocks: int) -> dict[str, Any]:
        request = cached_request("unused", cache_system=False)
        notes: list[dict[str, Any]] = [{"type": "text", "text": f"note {i}"} for i in range(blocks)]
        notes[-1]["cache_control"] = {"type": "ephemeral"}
        request["messages"][-1]["content"] = notes
        return request

    # The system prompt is the 4th block: a breakpoint on block 24 misses it, one on block 23 finds it.
    assert usage(sdk.messages.create(**far(20)))[2] == 0
    assert usage(sdk.messages.create(**far(19)))[2] == prefix


def test_without_cache_control_nothing_is_cached(api: tuple[FakeAnthropic, str]) -> None:
    fake, url = api
    fake.script += [Reply([text("ok")]) for _ in range(3)]
    sdk = client(url)
    plain = cached_request("Summarise the README.", cache_system=False)
    total = prompt_tokens(plain)
    assert usage(sdk.messages.create(**plain)) == (total, 0, 0)
    assert usage(sdk.messages.create(**plain)) == (total, 0, 0)
    marked = sdk.messages.create(**cached_request("Summarise the README."))
    assert usage(marked)[2] == 0 and usage(marked)[1] > 0  # the first breakpoint writes, reads nothing


def test_automatic_caching_and_minimum_cacheable_length() -> None:
    with running_fake_anthropic(FakeAnthropic(min_cacheable_tokens=100_000)) as (fake, url):
        fake.script += [Reply([text("ok")]) for _ in range(4)]
        sdk = client(url)
        short = cached_request("Summarise the README.")
        assert usage(sdk.messages.create(**short))[1:] == (0, 0)
        assert usage(sdk.messages.create(**short))[1:] == (0, 0)
        fake.min_cacheable_tokens = 0
        automatic = cached_request("Summarise the README.", cache_system=False)
        total = prompt_tokens(automatic)
        assert usage(sdk.messages.create(**automatic, extra_body={"cache_control": {"type": "ephemeral"}})) == (
            0,
            total,
            0,
        )
        assert usage(sdk.messages.create(**automatic, extra_body={"cache_control": {"type": "ephemeral"}})) == (
            0,
            0,
            total,
        )
    assert fake.errors == []


def test_exhausted_script_is_an_error_not_retried(api: tuple[FakeAnthropic, str]) -> None:
    fake, url = api
    fake.script.append(Reply([text("only one")]))
    sdk = client(url, max_retries=2)
    sdk.messages.create(model=MODEL, max_tokens=64, messages=ASK)
    with pytest.raises(anthropic.InternalServerError) as err:
        sdk.messages.create(model=MODEL, max_tokens=64, messages=ASK)
    assert "script is exhausted" in err.value.message
    assert len(fake.requests) == 2  # x-should-retry: false stops the SDK retrying the fake's own failure
    assert len(fake.errors) == 1 and "script is exhausted (request 2 has no step)" in fake.errors[0]
    fake.errors.clear()


def test_script_calling_a_tool_not_offered_is_an_error(api: tuple[FakeAnthropic, str]) -> None:
    fake, url = api
    fake.script.append(Reply([tool_use("rm_rf", {})]))
    with pytest.raises(anthropic.InternalServerError):
        client(url).messages.create(model=MODEL, max_tokens=64, tools=TOOLS, messages=ASK)
    assert len(fake.errors) == 1 and "'rm_rf'" in fake.errors[0]
    fake.errors.clear()


def test_api_failures_are_described_by_the_model_client() -> None:
    from core.model_provider import api_failure
    from tests.support.processes import free_port

    with running_fake_anthropic() as (_, url), pytest.raises(anthropic.APIStatusError) as refused:
        client(url, key="sk-ant-wrong").messages.create(model=MODEL, max_tokens=8, messages=ASK)
    assert api_failure(refused.value) == "the Anthropic API answered 401 (authentication_error): invalid x-api-key"
    with pytest.raises(anthropic.APIConnectionError) as unreachable:
        client(f"http://127.0.0.1:{free_port()}").messages.create(model=MODEL, max_tokens=8, messages=ASK)
    assert (api_failure(unreachable.value) or "").startswith("cannot reach the Anthropic API")
    assert api_failure(ValueError("not the API")) is None
