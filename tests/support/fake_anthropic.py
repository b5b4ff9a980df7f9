"""A small fake of Anthropic's Messages API on loopback, for driving the real `anthropic` SDK in tests.

Tests script the model: `FakeAnthropic.script` holds one step per request, consumed in order — a
`Reply` (content blocks and a stop reason), a `Fail` (an error in Anthropic's JSON shape), or a
callable that reads the request body and returns either. Every request is first held to the parts
of the real contract a client can get wrong (key, `anthropic-version`, required fields, alternating
roles, tool_use/tool_result pairing, tool definitions, at most four cache breakpoints); a breach is
answered 400/401 in the real service's words and recorded in `errors`, which tests assert stays empty.

Usage is deterministic. Each prompt block (a tool, a system block, a message content block) costs
ceil(len(its JSON without `cache_control`) / 4) tokens. Prompt caching is emulated: the prefix
(tools → system → messages) ending at each `cache_control` breakpoint is remembered per model; a
later request reads the longest remembered prefix found within the 20 blocks up to one of its
breakpoints (`cache_read_input_tokens`), writes from there to its last breakpoint
(`cache_creation_input_tokens`) and is billed `input_tokens` only for the blocks after that — so the
three always add up to `prompt_tokens(body)`. Entries never expire.

The `anthropic` SDK 2.x sends `api_key` as `Authorization: Bearer …`, not `x-api-key`; both are
accepted. The fake's own failures (script exhausted, script broken) are 500s carrying
`x-should-retry: false`, so the SDK surfaces them at once instead of retrying them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import string
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.server import serve_in_thread

Body: TypeAlias = dict[str, Any]
Block: TypeAlias = dict[str, Any]

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
# Anthropic-defined tools carry no input_schema; each type must go by the one name the model knows.
ANTHROPIC_DEFINED_TOOLS = {
    "bash_20250124": "bash",
    "text_editor_20250124": "str_replace_editor",
    "text_editor_20250429": "str_replace_based_edit_tool",
    "text_editor_20250728": "str_replace_based_edit_tool",
}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_NO_RETRY = {"x-should-retry": "false"}


# --- the script ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One assistant turn. `content` may be a function of the request body. Without a `stop_reason`
    the real invariant is kept: "tool_use" when the content calls a tool, else "end_turn"."""

    content: list[Block] | Callable[[Body], list[Block]]
    stop_reason: str | None = None


@dataclass(frozen=True)
class Fail:
    """An error answer: `{"type": "error", "error": {"type": error_type, "message": message}}`."""

    status: int
    error_type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


Step: TypeAlias = Reply | Fail | Callable[[Body], Reply | Fail]


def text(value: str) -> Block:
    return {"type": "text", "text": value}


def tool_use(name: str, input: dict[str, Any], id: str | None = None) -> Block:
    """A tool call; the fake assigns a `toolu_…` id when none is given."""
    return {"type": "tool_use", "name": name, "input": input} | ({"id": id} if id else {})


def rate_limited(retry_after: int = 1) -> Fail:
    message = "Number of request tokens has exceeded your per-minute rate limit"
    return Fail(429, "rate_limit_error", message, {"retry-after": str(retry_after)})


def overloaded() -> Fail:
    return Fail(529, "overloaded_error", "Overloaded")


def tool_results(body: Body) -> list[Block]:
    """The tool_result blocks of the request's last message, for steps that answer what a tool said."""
    content = body["messages"][-1]["content"]
    return [b for b in content if b.get("type") == "tool_result"] if isinstance(content, list) else []


# --- the fake -----------------------------------------------------------------------------------


@dataclass
class FakeAnthropic:
    """The fake's script and cache, and what it was asked."""

    api_keys: set[str] = field(default_factory=lambda: {"sk-ant-test"})
    models: list[str] = field(default_factory=lambda: ["claude-sonnet-5-5", "claude-haiku-4-5"])
    vertex_tokens: set[str] = field(default_factory=lambda: {"ya29.vertex-test"})
    vertex_calls: list[str] = field(default_factory=list)  # project/region/model of each Vertex request
    script: list[Step] = field(default_factory=list)
    requests: list[Body] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    min_cacheable_tokens: int = 0
    """A breakpoint's prefix shorter than this is not cached (real models want 1,024 to 4,096)."""
    _cached: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take_step(self, body: Body) -> Reply | Fail | None:
        with self._lock:  # requests of several conversations at once each take their own step
            if not self.script:
                return None
            step = self.script.pop(0)
        return step if isinstance(step, Reply | Fail) else step(body)

    def bill(self, body: Body) -> dict[str, int]:
        """Input usage for a validated request; remembers the prefixes at its breakpoints."""
        with self._lock:
            return self._bill(body)

    def _bill(self, body: Body) -> dict[str, int]:
        blocks = prompt_blocks(body)
        running = hashlib.sha256(body["model"].encode())
        digests, totals = [""], [0]
        for block in blocks:
            running.update(block.key.encode() + b"\x00")
            digests.append(running.hexdigest())
            totals.append(totals[-1] + block.tokens)
        marks = [i for i, block in enumerate(blocks, 1) if block.breakpoint]
        window = {p for m in marks for p in range(max(1, m - LOOKBACK_BLOCKS + 1), m + 1)}
        read = max((p for p in window if digests[p] in self._cached), default=0)
        written = [m for m in marks if totals[m] >= self.min_cacheable_tokens]
        end = max([read, *written])
        self._cached.update(digests[m] for m in written)
        return {
            "input_tokens": totals[-1] - totals[end],
            "cache_creation_input_tokens": totals[end] - totals[read],
            "cache_read_input_tokens": totals[read],
        }


@dataclass(frozen=True)
class PromptBlock:
    key: str  # what identifies the block within a prefix: where it sits and what it says
    tokens: int
    breakpoint: bool


def tokens(value: str) -> int:
    return math.ceil(len(value) / 4)


def prompt_blocks(body: Body) -> list[PromptBlock]:
    """The prompt in cache order — tools, then system, then messages — one entry per block."""

    def entry(place: str, block: Block) -> PromptBlock:
        bare = json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)
        return PromptBlock(f"{place}:{bare}", tokens(bare), bool(block.get("cache_control")))

    system = body.get("system") or []
    out = [entry("tool", tool) for tool in body.get("tools") or []]
    out += [entry("system", b) for b in ([text(system)] if isinstance(system, str) else system)]
    for message in body["messages"]:
        content = message["content"]
        out += [entry(message["role"], b) for b in ([text(content)] if isinstance(content, str) else content)]
    if body.get("cache_control") and out:  # automatic caching: a breakpoint on the last block
        out[-1] = replace(out[-1], breakpoint=True)
    return out


def prompt_tokens(body: Body) -> int:
    return sum(block.tokens for block in prompt_blocks(body))


def output_tokens(content: list[Block]) -> int:
    sizes = [tokens(b["text"]) if b["type"] == "text" else tokens(b["name"] + json.dumps(b["input"])) for b in content]
    return max(1, sum(sizes))


# --- the contract -------------------------------------------------------------------------------


def check_request(body: Body) -> str | None:
    """What the real service would refuse in this body, in its words; None when it is acceptable."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if "max_tokens" not in body:
        return "max_tokens: Field required"
    if not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool):
        return "max_tokens: Input should be a valid integer"
    if body["max_tokens"] < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    if not isinstance(body.get("stream", False), bool):
        return "stream: Input should be a valid boolean"
    problem = _check_tools(body.get("tools")) or _check_system(body.get("system")) or _check_messages(body)
    if problem:
        return problem
    found = sum(block.breakpoint for block in prompt_blocks(body))
    if found > MAX_BREAKPOINTS:
        return f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {found}."
    return None


def _check_tools(tools: Any) -> str | None:
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "tools: Input should be a valid list"
    names: set[str] = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            return f"tools.{i}.name: Field required"
        name, kind = tool["name"], tool.get("type") or "custom"
        if kind == "custom":
            if not _TOOL_NAME.match(name):
                return f"tools.{i}.custom.name: String should match pattern '{_TOOL_NAME.pattern}'"
            schema = tool.get("input_schema")
            if not isinstance(schema, dict):
                return f"tools.{i}.custom.input_schema: Field required"
            if schema.get("type") != "object":
                return f"tools.{i}.custom.input_schema.type: Input should be 'object'"
        elif kind in ANTHROPIC_DEFINED_TOOLS:
            if name != ANTHROPIC_DEFINED_TOOLS[kind]:
                return f"tools.{i}.{kind}.name: Input should be '{ANTHROPIC_DEFINED_TOOLS[kind]}'"
        else:
            return f"tools.{i}.type: unknown tool type '{kind}'"
        if name in names:
            return "tools: Tool names must be unique."
        names.add(name)
    return None


def _check_system(system: Any) -> str | None:
    if system is None or isinstance(system, str):
        return None
    if not isinstance(system, list):
        return "system: Input should be a valid string or list of text blocks"
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            return f"system.{i}: Input should be a text block"
    return None


def _blocks(message: Body, kind: str) -> list[Block]:
    content = message["content"]
    return [b for b in content if b["type"] == kind] if isinstance(content, list) else []


def _check_messages(body: Body) -> str | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if message["role"] != ("user" if i % 2 == 0 else "assistant"):
            return f'messages.{i}: roles must alternate between "user" and "assistant", starting with "user"'
        content = message.get("content")
        typed = isinstance(content, str) or (
            isinstance(content, list) and all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in content)
        )
        if not typed:
            return f"messages.{i}.content: Input should be a valid string or list of content blocks"
        if not content and (message["role"] == "user" or i < len(messages) - 1):
            return (
                f"messages.{i}: all messages must have non-empty content except for the optional final assistant "
                "message"
            )
    seen: set[Any] = set()
    for i, message in enumerate(messages):
        for block in _blocks(message, "tool_use"):
            if message["role"] != "assistant":
                return f"messages.{i}: `tool_use` blocks can only be in `assistant` messages"
            if block.get("id") in seen:
                return f"messages.{i}: `tool_use` ids must be unique"
            seen.add(block.get("id"))
    for i, message in enumerate(messages):
        offered = {b.get("id") for b in _blocks(messages[i - 1], "tool_use")} if i else set()
        for j, block in enumerate(message["content"] if isinstance(message["content"], list) else []):
            if block["type"] == "tool_result" and block.get("tool_use_id") not in offered:
                return (
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` "
                    "block in the previous message."
                )
    for i, message in enumerate(messages[:-1]):
        answered = {b.get("tool_use_id") for b in _blocks(messages[i + 1], "tool_result")}
        missing = [b.get("id") for b in _blocks(message, "tool_use") if b.get("id") not in answered]
        if missing:
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(map(str, missing))}. Each `tool_use` block must have a corresponding `tool_result` "
                "block in the next message."
            )
    return None


# --- the wire -----------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return prefix + "01" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(22))


def error_response(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Response:
    request_id = new_id("req_")
    payload = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    return JSONResponse(payload, status_code=status, headers={"request-id": request_id, **(headers or {})})


def sse_events(message: Body) -> Iterator[str]:
    """The event sequence the real service streams for `message`."""

    def event(kind: str, **data: Any) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    def pieces(value: str) -> list[str]:
        return [value[i : i + 16] for i in range(0, len(value), 16)]

    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": usage | {"output_tokens": 1}}
    yield event("message_start", message=start)
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield event("content_block_start", index=index, content_block={"type": "text", "text": ""})
            deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"])]
        else:
            yield event("content_block_start", index=index, content_block={**block, "input": {}})
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(json.dumps(block["input"]))]
        if index == 0:
            yield event("ping")
        for delta in deltas:
            yield event("content_block_delta", index=index, delta=delta)
        yield event("content_block_stop", index=index)
    yield event("message_delta", delta={"stop_reason": message["stop_reason"], "stop_sequence": None}, usage=usage)
    yield event("message_stop")


def _app(fake: FakeAnthropic) -> Starlette:
    def refuse(status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> Response:
        fake.errors.append(f"{status} {error_type}: {message}")
        return error_response(status, error_type, message, headers)

    def refuse_key(request: Request) -> Response | None:
        """The API key check of every first-party route (x-api-key, or a bearer token)."""
        authorization = request.headers.get("authorization", "")
        key = (request.headers.get("x-api-key") or authorization.removeprefix("Bearer ")).strip()
        if not key:
            return refuse(401, "authentication_error", "x-api-key header is required")
        if key not in fake.api_keys:
            return refuse(401, "authentication_error", "invalid x-api-key")
        return None

    async def json_object(request: Request) -> Body | Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return refuse(400, "invalid_request_error", "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return refuse(400, "invalid_request_error", "The request body must be a JSON object.")
        return body

    async def messages(request: Request) -> Response:
        if refused := refuse_key(request):
            return refused
        body = await json_object(request)
        if isinstance(body, Response):
            return body
        if not request.headers.get("anthropic-version"):
            fake.requests.append(body)
            return refuse(400, "invalid_request_error", "anthropic-version: header is required")
        return await run_in_threadpool(answer, body)  # a step may take its time, as a model does, without
        # holding up the requests of other conversations

    async def vertex(request: Request) -> Response:
        """Vertex AI's publisher endpoint: `…/publishers/anthropic/models/{model}:rawPredict` (or
        `:streamRawPredict`), a Google bearer token, `anthropic_version` in the body (the SDK sets it) and no
        `model` there (it is in the path)."""
        match = re.fullmatch(
            r"/v1/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/publishers/anthropic/models/"
            r"(?P<model>[^/:]+):(?P<verb>rawPredict|streamRawPredict)",
            request.url.path,
        )
        if match is None:
            return refuse(404, "not_found_error", f"Not found: {request.url.path}")
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if token not in fake.vertex_tokens:
            return refuse(401, "authentication_error", "Request had invalid authentication credentials.")
        body = await json_object(request)
        if isinstance(body, Response):
            return body
        if "model" in body or not isinstance(body.get("anthropic_version"), str):
            return refuse(400, "invalid_request_error", "Vertex wants anthropic_version in the body, and no model")
        if (match["verb"] == "streamRawPredict") != bool(body.get("stream")):
            return refuse(400, "invalid_request_error", "stream must match the endpoint")
        fake.vertex_calls.append(f"{match['project']}/{match['region']}/{match['model']}")
        body = {k: v for k, v in body.items() if k != "anthropic_version"} | {"model": match["model"]}
        return await run_in_threadpool(answer, body)

    def answer(body: Body) -> Response:
        fake.requests.append(body)
        problem = check_request(body)
        if problem:
            return refuse(400, "invalid_request_error", problem)
        try:
            step = fake.take_step(body)
            content, problem = _resolve(step, body) if isinstance(step, Reply) else ([], None)
        except Exception as exc:  # a broken step is the test's bug: surface it, recorded, not as a crash
            return refuse(500, "api_error", f"fake Anthropic: a scripted step raised {exc!r}", _NO_RETRY)
        if step is None:
            message = f"fake Anthropic: the script is exhausted (request {len(fake.requests)} has no step)"
            return refuse(500, "api_error", message, _NO_RETRY)
        if isinstance(step, Fail):
            return error_response(step.status, step.error_type, step.message, step.headers)
        if problem:
            return refuse(500, "api_error", f"fake Anthropic: {problem}", _NO_RETRY)
        tool_called = any(b["type"] == "tool_use" for b in content)
        reply = {
            "id": new_id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": step.stop_reason or ("tool_use" if tool_called else "end_turn"),
            "stop_sequence": None,
            "usage": fake.bill(body) | {"output_tokens": output_tokens(content)},
        }
        headers = {"request-id": new_id("req_")}
        if body.get("stream"):
            return StreamingResponse(sse_events(reply), media_type="text/event-stream", headers=headers)
        return JSONResponse(reply, headers=headers)

    async def models(request: Request) -> Response:
        """`GET /v1/models`: the Models API's list page (no tokens spent)."""
        if refused := refuse_key(request):
            return refused
        if not request.headers.get("anthropic-version"):
            return refuse(400, "invalid_request_error", "anthropic-version: header is required")
        data = [
            {"type": "model", "id": model, "display_name": model, "created_at": "2026-01-01T00:00:00Z"}
            for model in fake.models
        ]
        ids = [model["id"] for model in data]
        page = {
            "data": data,
            "has_more": False,
            "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None,
        }
        return JSONResponse(page, headers={"request-id": new_id("req_")})

    async def not_found(request: Request) -> Response:
        return refuse(404, "not_found_error", f"Not found: {request.method} {request.url.path}")

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/v1/projects/{rest:path}", vertex, methods=["POST"]),
            Route("/{path:path}", not_found, methods=methods),
        ]
    )


def _resolve(reply: Reply, body: Body) -> tuple[list[Block], str | None]:
    """The reply's content with ids filled in, or what is wrong with it."""
    content = [dict(b) for b in (reply.content(body) if callable(reply.content) else reply.content)]
    offered = {tool["name"] for tool in body.get("tools") or []}
    for block in content:
        if block.get("type") == "tool_use":
            if block.get("name") not in offered:
                return [], f"the script calls tool {block.get('name')!r}, but the request offers {sorted(offered)}"
            block.setdefault("id", new_id("toolu_"))
        elif block.get("type") != "text":
            return [], f"the fake cannot send a {block.get('type')!r} block"
    return content, None


@contextmanager
def running_fake_anthropic(fake: FakeAnthropic | None = None) -> Iterator[tuple[FakeAnthropic, str]]:
    fake = fake or FakeAnthropic()
    with serve_in_thread(_app(fake)) as url:
        yield fake, url
