"""The conversation a request was made in: a Slack thread's earlier messages, read with `conversations.replies`
(the `channels:history` / `groups:history` scopes), for the agent to read as untrusted context."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

THREAD_PAGES = 5  # of 200 messages: a thread read for context
THREAD_MESSAGES = 30  # the newest this many messages of it are kept
THREAD_MESSAGE_CHARS = 4000
THREAD_CHARS = 20_000


def thread_context(client: WebClient, channel: str, parent_ts: str, asked_ts: str) -> list[tuple[str, str]]:
    """The earlier messages of the thread a request was made in (people's, not bots'; the request itself
    left out), newest last, bounded in number and length. Slack unreachable, or the history scopes not
    granted: the request comes alone (and the log says why)."""
    found: list[tuple[str, str]] = []
    cursor = None
    try:
        for _ in range(THREAD_PAGES):
            answer = client.conversations_replies(channel=channel, ts=parent_ts, limit=200, cursor=cursor)
            for message in answer.get("messages") or []:
                text = str(message.get("text") or "").strip() if isinstance(message, dict) else ""
                if not text or message.get("ts") == asked_ts or message.get("bot_id") or message.get("subtype"):
                    continue
                text = text.replace("\x00", "")[:THREAD_MESSAGE_CHARS]
                found.append((str(message.get("user") or "someone")[:200], text))
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not answer.get("has_more") or not cursor:
                break
    except (SlackApiError, OSError) as exc:
        error = exc.response.get("error") if isinstance(exc, SlackApiError) and exc.response else exc
        log.warning("Slack: the thread %s in %s could not be read for context: %s", parent_ts, channel, error)
        return []
    kept: list[tuple[str, str]] = []
    total = 0
    for author, text in reversed(found[-THREAD_MESSAGES:]):  # the newest first, until the budget is spent
        total += len(text)
        if total > THREAD_CHARS:
            break
        kept.append((author, text))
    return kept[::-1]


def permalink(client: WebClient, channel: str, ts: str) -> str | None:
    """A link to a message (where a request was asked, for the pull request's body); None when Slack says no."""
    try:
        link = client.chat_getPermalink(channel=channel, message_ts=ts).get("permalink")
    except (SlackApiError, OSError) as exc:
        log.warning("Slack: no link to message %s in %s: %s", ts, channel, exc)
        return None
    return str(link) if isinstance(link, str) and link.startswith("https://") and len(link) <= 2000 else None
