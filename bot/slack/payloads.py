"""The Slack requests dockhand handles, as strict pydantic models of the fields it (and Bolt) reads.

A signed request is checked against its model before Bolt dispatches it: `"user": "x"` where Slack
sends an object, or an action list that is not a list, is a 400 naming the field, never a listener
that fails half-way (which Bolt would answer with a 500).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from core.specs import describe_errors

_ID = Field(min_length=1, max_length=100)


class SlackPayloadError(ValueError):
    """A signed Slack request whose fields are missing or of the wrong type."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class SlashCommand(_Part):
    """A slash command's form fields."""

    command: str = Field(max_length=100)
    text: str = Field(default="", max_length=10_000)
    user_id: str = _ID
    channel_id: str = _ID
    user_name: str = Field(default="", max_length=200)
    trigger_id: str = Field(default="", max_length=200)
    response_url: str | None = Field(default=None, max_length=2000)
    team_id: str | None = Field(default=None, max_length=100)


class User(_Part):
    id: str = _ID
    username: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    team_id: str | None = Field(default=None, max_length=100)


class Channel(_Part):
    id: str = _ID


class Team(_Part):
    id: str = _ID


class Action(_Part):
    action_id: str = Field(max_length=255)
    value: str = Field(default="", max_length=2000)
    block_id: str | None = Field(default=None, max_length=255)


class BlockActions(_Part):
    """A button press."""

    type: Literal["block_actions"]
    user: User
    channel: Channel | None = None
    team: Team | None = None
    actions: list[Action] = Field(min_length=1, max_length=25)
    response_url: str | None = Field(default=None, max_length=2000)
    container: dict[str, Any] | None = None


class Event(_Part):
    type: str = Field(max_length=100)
    user: str | None = Field(default=None, max_length=100)
    channel: str | None = Field(default=None, max_length=100)
    text: str = Field(default="", max_length=40_000)
    ts: str | None = Field(default=None, max_length=50)
    thread_ts: str | None = Field(default=None, max_length=50)


class EventCallback(_Part):
    """An Events API delivery (dockhand handles `app_mention`)."""

    type: Literal["event_callback"]
    event_id: str | None = Field(default=None, max_length=100)
    team_id: str | None = Field(default=None, max_length=100)
    api_app_id: str | None = Field(default=None, max_length=100)
    event: Event


class UrlVerification(_Part):
    type: Literal["url_verification"]
    challenge: str = Field(max_length=1000)


def check_shape(body: object) -> None:
    """Refuse (`SlackPayloadError`) a parsed request body that is none of the kinds dockhand handles, or
    one of them with a field missing or of the wrong type."""
    if not isinstance(body, dict):
        raise SlackPayloadError("malformed Slack request: not an object")
    if "ssl_check" in body:
        return  # Slack's certificate check of a slash command URL: Bolt answers it
    model: type[_Part]
    if "command" in body:
        model = SlashCommand
    else:
        kinds: dict[str, type[_Part]] = {
            "block_actions": BlockActions,
            "event_callback": EventCallback,
            "url_verification": UrlVerification,
        }
        kind = body.get("type")
        found = kinds.get(kind) if isinstance(kind, str) else None
        if found is None:
            raise SlackPayloadError(f"unsupported Slack request type {str(kind)[:50]!r}")
        model = found
    try:
        model.model_validate(body)
    except PydanticValidationError as exc:
        raise SlackPayloadError(f"malformed Slack request: {describe_errors(exc)[:500]}") from None
