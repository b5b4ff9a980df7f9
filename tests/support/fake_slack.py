"""A small fake of Slack's Web API on loopback, for driving the real `slack_sdk.WebClient` in tests.

Point the client at it with `WebClient(token="xoxb-test", base_url=f"{url}/api/")`. Every method is
`POST /api/<method>`, answered as Slack does: HTTP 200 with `{"ok": true, ...}` or `{"ok": false,
"error": "<code>"}` — a missing token is `not_authed`, a wrong one `invalid_auth`. Arguments arrive the
way the SDK sends them: a JSON body for the `chat.*` methods (blocks as a list), a form-encoded body for
the rest (any `blocks` there is a JSON string). The token is taken from `Authorization: Bearer …` or,
as Slack also allows, a `token` form field, never from a JSON body.

Block Kit is held to Slack's published limits (`block_kit_errors`); a breach is refused with
`invalid_blocks` (or `invalid_blocks_format` for blocks that are not a JSON array) and recorded in
`errors`, which tests assert stays empty. So is what Slack would accept but silently lose: a reply whose
`thread_ts` names no message (Slack answers ok and the reply never shows) or names a reply rather than
a parent. `rate_limit()` arms HTTP 429 answers with `Retry-After`, which `slack_sdk`'s
`RateLimitErrorRetryHandler` honours.

`response_url(name)` hands out a URL on the fake for rewriting `response_url` in interaction payloads;
what is posted there (JSON, as `slack_sdk.webhook.WebhookClient` sends it) lands in `responses`. Slack
allows five posts per response URL; the fake refuses a sixth.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeAlias
from urllib.parse import parse_qsl

from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.server import serve_in_thread

Args: TypeAlias = dict[str, Any]

MAX_TEXT = 40_000
MAX_BLOCKS = 50
MAX_ATTACHMENTS = 100
RESPONSE_URL_USES = 5
_TS = re.compile(r"^\d+\.\d+$")
# Methods whose documented content types include application/json; the rest read form fields only.
_JSON_METHODS = {"chat.postMessage", "chat.update", "chat.postEphemeral"}

# --- Block Kit ----------------------------------------------------------------------------------

_BLOCK_TYPES = {"section", "actions", "context", "divider", "header", "rich_text", "image", "input", "markdown"}


def _text_object(obj: Any, where: str, limit: int, *, plain_only: bool = False) -> list[str]:
    kinds = {"plain_text"} if plain_only else {"plain_text", "mrkdwn"}
    if not isinstance(obj, dict) or obj.get("type") not in kinds or not isinstance(obj.get("text"), str):
        return [f"must be a {' or '.join(sorted(kinds))} text object [json-pointer:{where}]"]
    if not 1 <= len(obj["text"]) <= limit:
        return [f"text must be 1 to {limit} characters [json-pointer:{where}/text]"]
    return []


def _element(element: Any, where: str, action_ids: set[str]) -> list[str]:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"element must be an object with a type [json-pointer:{where}]"]
    errors: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None:
        if not isinstance(action_id, str) or not 1 <= len(action_id) <= 255:
            errors.append(f"action_id must be 1 to 255 characters [json-pointer:{where}/action_id]")
        elif action_id in action_ids:
            errors.append(f"action_id {action_id!r} is not unique in the message [json-pointer:{where}/action_id]")
        else:
            action_ids.add(action_id)
    if element["type"] == "button":
        errors += _text_object(element.get("text"), f"{where}/text", 75, plain_only=True)
        for key, limit in (("value", 2000), ("url", 3000)):
            if key in element and (not isinstance(element[key], str) or len(element[key]) > limit):
                errors.append(f"{key} must be a string of at most {limit} characters [json-pointer:{where}/{key}]")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"style must be primary or danger [json-pointer:{where}/style]")
    return errors


def _block(block: Any, where: str, action_ids: set[str]) -> list[str]:
    if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
        return [f"unknown or missing block type [json-pointer:{where}/type]"]
    kind, errors = block["type"], []
    if kind == "section":
        if "text" not in block and "fields" not in block:
            errors.append(f"section needs text or fields [json-pointer:{where}]")
        if "text" in block:
            errors += _text_object(block["text"], f"{where}/text", 3000)
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            errors.append(f"fields must be a list of at most 10 [json-pointer:{where}/fields]")
        else:
            for i, item in enumerate(fields):
                errors += _text_object(item, f"{where}/fields/{i}", 2000)
        if "accessory" in block:
            errors += _element(block["accessory"], f"{where}/accessory", action_ids)
    elif kind == "header":
        errors += _text_object(block.get("text"), f"{where}/text", 150, plain_only=True)
    elif kind in ("actions", "context"):
        limit = 25 if kind == "actions" else 10
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= limit:
            return [f"{kind} needs 1 to {limit} elements [json-pointer:{where}/elements]"]
        for i, element in enumerate(elements):
            if kind == "actions":
                errors += _element(element, f"{where}/elements/{i}", action_ids)
            elif not (isinstance(element, dict) and element.get("type") == "image"):
                errors += _text_object(element, f"{where}/elements/{i}", 3000)
    elif kind == "image":
        if not isinstance(block.get("alt_text"), str) or not 1 <= len(block["alt_text"]) <= 2000:
            errors.append(f"alt_text must be 1 to 2000 characters [json-pointer:{where}/alt_text]")
        if "slack_file" not in block and (
            not isinstance(block.get("image_url"), str) or len(block["image_url"]) > 3000
        ):
            errors.append(f"image_url (at most 3000 characters) or slack_file is required [json-pointer:{where}]")
    elif kind == "input":
        errors += _text_object(block.get("label"), f"{where}/label", 2000, plain_only=True)
        errors += _element(block.get("element"), f"{where}/element", action_ids)
    elif kind == "rich_text":
        if not isinstance(block.get("elements"), list):
            errors.append(f"rich_text needs elements [json-pointer:{where}/elements]")
    elif kind == "markdown" and (not isinstance(block.get("text"), str) or len(block["text"]) > 12_000):
        errors.append(f"markdown text must be at most 12000 characters [json-pointer:{where}/text]")
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or not 1 <= len(block_id) <= 255):
        errors.append(f"block_id must be 1 to 255 characters [json-pointer:{where}/block_id]")
    return errors


def block_kit_errors(blocks: Any) -> list[str]:
    """What Slack would refuse in a message's `blocks` array, one line each; empty when acceptable."""
    if not isinstance(blocks, list):
        return ["blocks must be an array [json-pointer:/blocks]"]
    if len(blocks) > MAX_BLOCKS:
        return [f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]"]
    errors: list[str] = []
    action_ids: set[str] = set()
    block_ids = [b.get("block_id") for b in blocks if isinstance(b, dict) and b.get("block_id") is not None]
    if len(block_ids) != len(set(block_ids)):
        errors.append("block_id values must be unique in the message [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        errors += _block(block, f"/blocks/{i}", action_ids)
    return errors


# --- the fake -----------------------------------------------------------------------------------


class Refused(Exception):
    """Slack's answer `{"ok": false, "error": code, ...}`; `breach` goes to `FakeSlack.errors` too."""

    def __init__(self, code: str, breach: str | None = None, **extra: Any) -> None:
        super().__init__(code)
        self.code, self.breach, self.extra = code, breach, extra


def user_record(user_id: str, name: str, *, is_bot: bool = False, **extra: Any) -> dict[str, Any]:
    """A `users.info` user object with the fields bots usually read."""
    return {
        "id": user_id,
        "team_id": "T111",
        "name": name,
        "real_name": name.title(),
        "deleted": False,
        "is_bot": is_bot,
        "is_admin": False,
        "tz": "Europe/London",
        "profile": {"real_name": name.title(), "display_name": name},
        **extra,
    }


def _default_users() -> dict[str, dict[str, Any]]:
    return {
        "U111": user_record("U111", "alice"),
        "U222": user_record("U222", "dockhand", is_bot=True),
        "W111": user_record("W111", "bob"),
    }


@dataclass
class FakeSlack:
    """The fake workspace's state, and what it was asked. The bot (ids as in `tests/fixtures/slack`)
    is the only author any bot token posts as."""

    bot_tokens: set[str] = field(default_factory=lambda: {"xoxb-test"})
    # What Slack sends back in the `x-oauth-scopes` header of every Web API answer: the token's scopes.
    scopes: list[str] = field(
        default_factory=lambda: [
            "app_mentions:read",
            "channels:history",
            "chat:write",
            "commands",
            "groups:history",
            "usergroups:read",
            "users:read",
        ]
    )
    channels: set[str] = field(default_factory=lambda: {"C111", "C222"})
    users: dict[str, dict[str, Any]] = field(default_factory=_default_users)
    usergroups: dict[str, list[str]] = field(default_factory=dict)  # group id → member user ids
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (channel, ts) → message
    ephemeral: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, Args]] = field(default_factory=list)  # (method, parsed arguments), token removed
    errors: list[str] = field(default_factory=list)
    rate_limit_next: dict[str, list[int]] = field(default_factory=dict)  # method → Retry-After per 429 to send
    responses: list[dict[str, Any]] = field(default_factory=list)  # {"name": …, "body": …} per response_url post
    base_url: str = "http://slack.invalid"  # set to the server's address once it runs
    team_id: str = "T111"
    bot_user_id: str = "U222"
    bot_id: str = "B111"
    app_id: str = "A111"
    _ticks: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _response_names: dict[str, int] = field(default_factory=dict)  # name → posts so far

    # --- for tests --------------------------------------------------------------------------
    def next_ts(self) -> str:
        """Unique and increasing, shaped like Slack's: "1700000000.000100"."""
        micros = next(self._ticks) * 100
        return f"{1_700_000_000 + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def add_message(self, channel: str, text: str, *, user: str = "U111", thread_ts: str | None = None) -> str:
        """A message someone else posted (the bot may reply to it but not update it); returns its ts."""
        ts = self.next_ts()
        self.messages[(channel, ts)] = {"type": "message", "ts": ts, "user": user, "text": text, "edits": 0}
        if thread_ts:
            self.messages[(channel, ts)]["thread_ts"] = thread_ts
        return ts

    def add_user(self, user_id: str, name: str, **extra: Any) -> None:
        self.users[user_id] = user_record(user_id, name, **extra)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 and `Retry-After: retry_after`."""
        self.rate_limit_next.setdefault(method, []).extend([retry_after] * times)

    def response_url(self, name: str) -> str:
        """A response_url on the fake; posts to it are recorded in `responses` under `name`."""
        self._response_names.setdefault(name, 0)
        return f"{self.base_url}/response/{name}"

    def responses_to(self, name: str) -> list[dict[str, Any]]:
        return [r["body"] for r in self.responses if r["name"] == name]

    def calls_to(self, method: str) -> list[Args]:
        return [args for m, args in self.calls if m == method]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The replies under a parent message, oldest first."""
        replies = [m for (c, t), m in self.messages.items() if c == channel and m.get("thread_ts") == ts and t != ts]
        return sorted(replies, key=lambda m: float(m["ts"]))

    def view(self, message: dict[str, Any]) -> dict[str, Any]:
        """A stored message as Slack shows it (without the fake's bookkeeping)."""
        return {k: v for k, v in message.items() if k not in ("edits", "channel")}

    # --- checks shared by the methods -------------------------------------------------------
    def content(self, args: Args, *, required: bool = True) -> dict[str, Any]:
        """The message content in `args` — text, blocks, attachments — checked as Slack checks it."""
        out: dict[str, Any] = {}
        if "markdown_text" in args and ("text" in args or "blocks" in args):
            raise Refused("markdown_text_conflict")
        text = args.get("text", args.get("markdown_text"))
        if text is not None:
            out["text"] = str(text)
            if len(out["text"]) > (12_000 if "markdown_text" in args else MAX_TEXT):
                raise Refused("msg_too_long")
        for key in ("blocks", "attachments"):
            value = args.get(key)
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except ValueError:
                    raise Refused(f"invalid_{key}_format", f"{key} is not valid JSON: {value[:80]!r}") from None
            if value is not None:
                if not isinstance(value, list):
                    raise Refused(f"invalid_{key}_format", f"{key} is not a JSON array")
                out[key] = value
        if "blocks" in out and (problems := block_kit_errors(out["blocks"])):
            raise Refused(
                "invalid_blocks",
                "; ".join(problems),
                errors=problems,
                response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
            )
        if len(out.get("attachments", [])) > MAX_ATTACHMENTS:
            raise Refused("too_many_attachments")
        if required and not (out.get("text") or out.get("blocks") or out.get("attachments")):
            raise Refused("no_text")
        return out

    def channel(self, args: Args) -> str:
        channel = args.get("channel")
        if channel not in self.channels:
            raise Refused("channel_not_found")
        return str(channel)

    def thread_parent(self, channel: str, thread_ts: Any) -> str:
        ts = str(thread_ts)
        if not isinstance(thread_ts, str) or not _TS.match(ts):
            # Slack accepts a number here but then threads the reply nowhere; refuse it loudly instead.
            raise Refused("invalid_thread_ts", f"thread_ts {thread_ts!r} is not a ts string like '1700000000.000100'")
        parent = self.messages.get((channel, ts))
        if parent is None:
            self.errors.append(f"thread_ts {ts} names no message in {channel}: Slack would accept and hide the reply")
        elif parent.get("thread_ts", ts) != ts:
            self.errors.append(f"thread_ts {ts} in {channel} is a reply; Slack wants the parent's ts")
        return ts


# --- the methods: (fake, args) -> the fields of an ok answer ------------------------------------


def _auth_test(fake: FakeSlack, args: Args) -> dict[str, Any]:
    return {
        "url": "https://dockhand-test.slack.invalid/",
        "team": "Dockhand Test",
        "user": fake.users.get(fake.bot_user_id, {}).get("name", "dockhand"),
        "team_id": fake.team_id,
        "user_id": fake.bot_user_id,
        "bot_id": fake.bot_id,
        "is_enterprise_install": False,
    }


def _post_message(fake: FakeSlack, args: Args) -> dict[str, Any]:
    channel = fake.channel(args)
    content = fake.content(args)
    thread_ts = fake.thread_parent(channel, args["thread_ts"]) if args.get("thread_ts") else None
    ts = fake.next_ts()
    message: dict[str, Any] = {
        "type": "message",
        "ts": ts,
        "user": fake.bot_user_id,
        "bot_id": fake.bot_id,
        "app_id": fake.app_id,
    }
    message |= {"team": fake.team_id, "text": content.get("text", ""), "edits": 0, "channel": channel}
    message |= {k: content[k] for k in ("blocks", "attachments") if k in content}
    if thread_ts:
        message["thread_ts"] = thread_ts
        if parent := fake.messages.get((channel, thread_ts)):
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = ts
    fake.messages[(channel, ts)] = message
    return {"channel": channel, "ts": ts, "message": fake.view(message)}


def _update(fake: FakeSlack, args: Args) -> dict[str, Any]:
    channel = fake.channel(args)
    message = fake.messages.get((channel, str(args.get("ts"))))
    if message is None:
        raise Refused("message_not_found")
    if message.get("bot_id") != fake.bot_id:
        raise Refused("cant_update_message")
    content = fake.content(args)
    # Fields left out keep their old values, as Slack documents for blocks and attachments.
    message.update(content)
    message["edits"] += 1
    message["edited"] = {"user": fake.bot_user_id, "ts": fake.next_ts()}
    return {"channel": channel, "ts": message["ts"], "text": message["text"], "message": fake.view(message)}


def _post_ephemeral(fake: FakeSlack, args: Args) -> dict[str, Any]:
    channel = fake.channel(args)
    if args.get("user") not in fake.users:
        raise Refused("user_not_in_channel")
    content = fake.content(args)
    message_ts = fake.next_ts()
    fake.ephemeral.append({"channel": channel, "user": args["user"], "message_ts": message_ts, **content})
    if args.get("thread_ts"):
        fake.ephemeral[-1]["thread_ts"] = fake.thread_parent(channel, args["thread_ts"])
    return {"message_ts": message_ts}


def _usergroup_users(fake: FakeSlack, args: Args) -> dict[str, Any]:
    members = fake.usergroups.get(str(args.get("usergroup")))
    if members is None:
        raise Refused("no_such_subteam")
    return {"users": list(members)}


def _user_info(fake: FakeSlack, args: Args) -> dict[str, Any]:
    user = fake.users.get(str(args.get("user")))
    if user is None:
        raise Refused("user_not_found")
    return {"user": user}


def _conversation_info(fake: FakeSlack, args: Args) -> dict[str, Any]:
    channel = fake.channel(args)
    name = f"channel-{channel.lower()}"
    return {
        "channel": {"id": channel, "name": name, "is_channel": True, "is_private": False, "is_archived": False}
        | {"is_member": True, "created": 1_700_000_000}
    }


def _replies(fake: FakeSlack, args: Args) -> dict[str, Any]:
    """A thread, oldest first: its parent, then the replies; paged by `limit` and `cursor` as Slack does."""
    channel = fake.channel(args)
    needed = "groups:history" if channel.startswith("G") else "channels:history"
    if needed not in fake.scopes:
        raise Refused("missing_scope", needed=needed, provided=",".join(fake.scopes))
    ts = str(args.get("ts") or "")
    parent = fake.messages.get((channel, ts))
    if not _TS.match(ts) or parent is None:
        raise Refused("thread_not_found")
    thread = sorted(
        (m for (c, _), m in fake.messages.items() if c == channel and (m["ts"] == ts or m.get("thread_ts") == ts)),
        key=lambda m: m["ts"],
    )
    try:
        limit = min(int(args.get("limit") or 1000), 1000)
        start = int(args.get("cursor") or 0)
    except ValueError:
        raise Refused("invalid_arguments") from None
    page = thread[start : start + limit]
    more = start + limit < len(thread)
    return {
        "messages": [fake.view(m) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def _permalink(fake: FakeSlack, args: Args) -> dict[str, Any]:
    channel = fake.channel(args)
    ts = str(args.get("message_ts") or "")
    if (channel, ts) not in fake.messages:
        raise Refused("message_not_found")
    return {
        "channel": channel,
        "permalink": f"https://dockhand-test.slack.invalid/archives/{channel}/p{ts.replace('.', '')}",
    }


METHODS: dict[str, Callable[[FakeSlack, Args], dict[str, Any]]] = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "chat.postEphemeral": _post_ephemeral,
    "usergroups.users.list": _usergroup_users,
    "users.info": _user_info,
    "conversations.info": _conversation_info,
    "conversations.replies": _replies,
    "chat.getPermalink": _permalink,
}


# --- the wire -----------------------------------------------------------------------------------


def _parse(method: str, request: Request, raw: bytes, fake: FakeSlack) -> tuple[Args, list[str]]:
    """The call's arguments (query string, then body) and any warnings Slack would add."""
    args: Args = dict(request.query_params)
    content_type = request.headers.get("content-type", "")
    warnings: list[str] = []
    if content_type.startswith("application/json"):
        if "charset" not in content_type:
            warnings.append("missing_charset")
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            fake.errors.append(f"{method}: the JSON body does not parse")
            body = {}
        if method in _JSON_METHODS and isinstance(body, dict):
            args |= {k: v for k, v in body.items() if k != "token"}
        else:
            fake.errors.append(f"{method} got a JSON body, which it ignores; send form fields")
    elif content_type.startswith("application/x-www-form-urlencoded"):
        args |= dict(parse_qsl(raw.decode(), keep_blank_values=True))
    elif raw:
        fake.errors.append(f"{method}: the fake does not read {content_type or 'untyped'} bodies")
    return args, warnings


def _app(fake: FakeSlack) -> Starlette:
    async def api(request: Request) -> JSONResponse:
        method = request.path_params["method"]
        args, warnings = _parse(method, request, await request.body(), fake)
        form_token = args.pop("token", None)
        fake.calls.append((method, args))
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token if scheme.lower() == "bearer" else (form_token or "")
        if not token:
            return JSONResponse({"ok": False, "error": "not_authed"})
        if token not in fake.bot_tokens:
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if queue := fake.rate_limit_next.get(method):
            retry_after = queue.pop(0)
            return JSONResponse({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(retry_after)})
        handler = METHODS.get(method)
        if handler is None:
            fake.errors.append(f"the fake does not implement {method}")
            return JSONResponse({"ok": False, "error": "unknown_method"})
        try:
            answer: dict[str, Any] = {"ok": True, **handler(fake, args)}
        except Refused as refusal:
            if refusal.breach:
                fake.errors.append(f"{method}: {refusal.code}: {refusal.breach}")
            answer = {"ok": False, "error": refusal.code, **refusal.extra}
        if warnings:
            answer |= {"warning": ",".join(warnings), "response_metadata": {"warnings": warnings}}
        return JSONResponse(answer, headers={"x-oauth-scopes": ",".join(fake.scopes)})

    async def respond(request: Request) -> JSONResponse:
        name = request.path_params["name"]
        if name not in fake._response_names:
            fake.errors.append(f"response_url {name!r} was never handed out")
            return JSONResponse({"ok": False, "error": "expired_url"}, 404)
        # Slack documents the five-post limit but not its error codes; "expired_url"/"used_url" are guesses.
        fake._response_names[name] += 1
        if fake._response_names[name] > RESPONSE_URL_USES:
            fake.errors.append(f"response_url {name!r} used more than {RESPONSE_URL_USES} times")
            return JSONResponse({"ok": False, "error": "used_url"}, 404)
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise Refused("invalid_payload", "a response_url body must be a JSON object")
            for flag in ("replace_original", "delete_original"):
                if flag in body and not isinstance(body[flag], bool):
                    raise Refused("invalid_payload", f"{flag} must be a JSON boolean, not {body[flag]!r}")
            if body.get("response_type", "ephemeral") not in ("ephemeral", "in_channel"):
                raise Refused("invalid_payload", f"response_type {body['response_type']!r}")
            fake.content(body, required=not body.get("delete_original"))
        except ValueError:
            fake.errors.append(f"response_url {name!r}: body is not JSON")
            return JSONResponse({"ok": False, "error": "invalid_payload"}, 400)
        except Refused as refusal:
            fake.errors.append(f"response_url {name!r}: {refusal.code}: {refusal.breach or ''}")
            return JSONResponse({"ok": False, "error": refusal.code}, 400)
        fake.responses.append({"name": name, "body": body})
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/api/{method}", api, methods=["POST", "GET"]),
            Route("/response/{name}", respond, methods=["POST"]),
        ]
    )


@contextmanager
def running_fake_slack(fake: FakeSlack | None = None) -> Iterator[tuple[FakeSlack, str]]:
    """Serve `fake` (a fresh one by default) on 127.0.0.1; yields it and its base URL."""
    fake = fake or FakeSlack()
    with serve_in_thread(_app(fake)) as url:
        fake.base_url = url
        yield fake, url


def signed_headers(body: str, secret: str, content_type: str, *, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and its v0 signature of the body."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }
